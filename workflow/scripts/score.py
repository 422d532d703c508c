"""Rank one dataset's variants by OpScore (MIN/MAX rows, normalised columns, Pareto front)."""
import pandas as pd

from opscore.costs import speedups
from opscore.job import start_job
from opscore.ranking import write_table
from opscore.score import rank_table

start_job(snakemake)
params = snakemake.params
table = rank_table(speedups(pd.read_parquet(snakemake.input[0])), time_basis=params.time_basis, metric=params.metric,
                   time_statistic=params.time_statistic)
write_table(table, snakemake.output.parquet, snakemake.output.csv, snakemake.output.markdown)
print(table.to_string())
