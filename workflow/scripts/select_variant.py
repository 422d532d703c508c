"""Pick the variant to ship for one dataset: best OpScore among those meeting `select:`, with the
quality differences tested on the same test examples and every flag."""
import pandas as pd

from opscore.decide.selection import select, to_markdown, write_selection
from opscore.job import start_job

start_job(snakemake)
selection = select(pd.read_parquet(snakemake.input.ranking), snakemake.params.constraints,
                   pd.read_parquet(snakemake.input.predictions))
write_selection(selection, snakemake.output.json, snakemake.output.markdown)
print(to_markdown(selection))
