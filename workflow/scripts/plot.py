"""Draw one figure of one dataset as SVG and offline HTML."""
import pandas as pd

from opscore.job import start_job
from opscore.report import plots
from opscore.report.pareto_plots import pareto_plots

start_job(snakemake)
figure, table, dataset = snakemake.wildcards.figure, pd.read_parquet(snakemake.input[0]), snakemake.wildcards.dataset
metric = snakemake.params.metric  # the ranking's quality metric on the axes
if figure == "curves":
    chart = plots.training_curves(table, title=dataset)
elif figure == "bubble":
    chart = plots.bubble_chart(table, title=dataset, metric=metric, constraints=snakemake.params.constraints)
elif figure == "pareto":
    chart = pareto_plots(table, title=dataset, metric=metric)
else:
    chart = plots.accuracy_bars(table, title=dataset, metric=metric)
plots.save_chart(chart, snakemake.output.svg)
plots.save_chart(chart, snakemake.output.html)
