"""Per-layer sensitivity of a dataset's pruned variants, in the order each pruning tried them (Lee et al.)."""
import pandas as pd

from opscore import plots
from opscore.job import redirect_output
from opscore.sensitivity import NO_DATA_TEXT, PRUNING_STUDY

redirect_output(snakemake.log[0])
table_fn, figure_fn = PRUNING_STUDY
steps = pd.concat([pd.read_parquet(path) for path in snakemake.input], ignore_index=True) if snakemake.input else None
table = table_fn(steps)
table.to_csv(snakemake.output.csv, index=False)
with open(snakemake.output.markdown, "w") as handle:
    handle.write(table.to_markdown(index=False) if len(table) else NO_DATA_TEXT + "\n")
chart = figure_fn(steps, title=snakemake.wildcards.dataset)
plots.save_chart(chart, snakemake.output.svg)
plots.save_chart(chart, snakemake.output.html)
print(table.to_string())
