"""Rank one dataset's variants by OpScore (MIN/MAX rows, normalised columns, Pareto front)."""
import pandas as pd

from opscore.decide.ranking import write_table
from opscore.decide.score import rank_table
from opscore.job import start_job
from opscore.measure.costs import speedups

start_job(snakemake)
params = snakemake.params
table = rank_table(speedups(pd.read_parquet(snakemake.input[0])), time_basis=params.time_basis, metric=params.metric,
                   time_statistic=params.time_statistic)
write_table(table, snakemake.output.parquet, snakemake.output.csv, snakemake.output.markdown)
print(table.to_string())
