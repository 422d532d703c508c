"""Draw one figure of one dataset as SVG and offline HTML."""
import pandas as pd

from opscore import plots
from opscore.job import redirect_output

redirect_output(snakemake.log[0])
figure, table = snakemake.wildcards.figure, pd.read_parquet(snakemake.input[0])
if figure == "curves":
    chart = plots.training_curves(table, title=snakemake.wildcards.dataset)
else:  # the ranking's quality metric on the axis
    draw = {"bubble": plots.bubble_chart, "accuracy": plots.accuracy_bars}[figure]
    chart = draw(table, title=snakemake.wildcards.dataset, metric=snakemake.params.metric)
plots.save_chart(chart, snakemake.output.svg)
plots.save_chart(chart, snakemake.output.html)
