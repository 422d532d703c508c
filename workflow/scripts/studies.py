"""The paper's sensitivity studies of one dataset: every table (CSV + Markdown) and figure (SVG + HTML)."""
from pathlib import Path

import pandas as pd

from opscore import sensitivity
from opscore.job import redirect_output

redirect_output(snakemake.log[0])
measurements = pd.read_parquet(snakemake.input[0])
directory = Path(snakemake.params.directory)
for key, (_, figure) in sensitivity.STUDIES.items():
    figure_paths = {"svg_path": directory / f"{key}.svg", "html_path": directory / f"{key}.html"} if figure else {}
    table = sensitivity.write_study(measurements, key, directory / f"{key}.csv", **figure_paths)
    print(f"== {key}: {len(table)} rows\n{table.to_string()}\n")
