"""Rank one dataset's variants by OpScore (MIN/MAX rows, normalised columns, Pareto front)."""
import pandas as pd

from opscore.costs import speedups
from opscore.job import redirect_output
from opscore.ranking import write_table
from opscore.score import rank_table

redirect_output(snakemake.log[0])
params = snakemake.params
table = rank_table(speedups(pd.read_parquet(snakemake.input[0])), time_basis=params.time_basis, metric=params.metric,
                   time_statistic=params.time_statistic)
write_table(table, snakemake.output.parquet, snakemake.output.csv, snakemake.output.markdown)
print(table.to_string())
