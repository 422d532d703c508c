"""One study of one dataset (registry: opscore.report.studies): its table as CSV and Markdown, its figure
as SVG and HTML."""
import pandas as pd

from opscore.job import start_job
from opscore.report.studies.files import write_study

start_job(snakemake)
sources = [pd.read_parquet(path) for path in snakemake.input]
source = pd.concat(sources, ignore_index=True) if sources else None  # no pruned variant: no steps
out = snakemake.output
table = write_study(snakemake.wildcards.study, source, out.csv, out.markdown, out.svg, out.html)
print(table.to_string())
