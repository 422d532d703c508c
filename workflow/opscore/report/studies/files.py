"""Writing a study: its table as CSV and Markdown, its figure as SVG and HTML, each atomically."""
from __future__ import annotations

import pandas as pd

from opscore.job import write_atomic
from opscore.report import plots
from opscore.report.studies import STUDIES
from opscore.report.studies.common import NO_DATA_TEXT, TITLES, with_dataset


def write_study(key: str, source: pd.DataFrame | None, csv_path, md_path=None, svg_path=None, html_path=None,
                title: str | None = None) -> pd.DataFrame:
    """Write study ``key`` of its source table (``None``: nothing to read, e.g. no pruned variant):
    the table as CSV and Markdown, the figure (a "no data" chart when empty) as SVG and HTML.
    Returns the study table."""
    if key not in STUDIES:
        raise ValueError(f"unknown study {key!r}; known: {', '.join(STUDIES)}")
    study = STUDIES[key]
    result = study.table(source)
    write_atomic(csv_path, result.to_csv(index=False))
    if md_path is not None:
        markdown = _markdown(result, with_dataset(TITLES[key], result))
        if not study.has_data(result):
            markdown += f"\n*For this study a run needs {study.needs}.*\n"
        write_atomic(md_path, markdown)
    if svg_path is not None or html_path is not None:
        chart = study.figure(source, title=title)
        for path in (svg_path, html_path):
            if path is not None:
                plots.save_chart(chart, path)
    return result


def _markdown(result: pd.DataFrame, title: str) -> str:
    if len(result) and "k" in result.columns:  # Table 7: the original is the K = none row
        result = result.assign(k=result["k"].astype("object").where(result["k"].notna(), "none"))
    body = result.to_markdown(index=False, floatfmt=".4g") if len(result) else f"*{NO_DATA_TEXT}*"
    return f"### {title}\n\n{body}\n"
