"""Draw one figure of one dataset as SVG and offline HTML."""
import pandas as pd

from opscore import plots
from opscore.job import redirect_output

redirect_output(snakemake.log[0])
draw = {"bubble": plots.bubble_chart, "accuracy": plots.accuracy_bars, "curves": plots.training_curves}
chart = draw[snakemake.wildcards.figure](pd.read_parquet(snakemake.input[0]), title=snakemake.wildcards.dataset)
plots.save_chart(chart, snakemake.output.svg)
plots.save_chart(chart, snakemake.output.html)
