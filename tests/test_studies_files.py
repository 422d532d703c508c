"""Writing a study (opscore.report.studies.files): an SVG for each figure, tables, errors."""
from __future__ import annotations

import pandas as pd
import pytest

from conftest import EXPECTED_COLUMNS, _chain_row, _svg_texts
from opscore.report import studies
from opscore.report.studies import common
from opscore.report.studies.files import write_study


@pytest.mark.parametrize("key", list(EXPECTED_COLUMNS))
def test_write_study_svg_for_each_figure(full, tmp_path, key):
    full = pd.concat([full, pd.DataFrame([_chain_row()])])  # every study has data
    result = write_study(key, full, tmp_path / f"{key}.csv", tmp_path / f"{key}.md", tmp_path / f"{key}.svg")
    assert len(result) > 0
    assert pd.read_csv(tmp_path / f"{key}.csv").shape == result.shape
    assert (tmp_path / f"{key}.md").read_text().startswith(f"### {common.TITLES[key]} — cifar10")
    texts = _svg_texts(tmp_path / f"{key}.svg")
    assert "ResNet50" in texts and common.NO_DATA_TEXT not in texts

    write_study(key, pd.DataFrame(), tmp_path / "empty" / f"{key}.csv", tmp_path / "empty" / f"{key}.md",
                        tmp_path / "empty" / f"{key}.svg")
    assert common.NO_DATA_TEXT in _svg_texts(tmp_path / "empty" / f"{key}.svg")
    empty = pd.read_csv(tmp_path / "empty" / f"{key}.csv")
    assert len(empty) == 0 and list(empty.columns) == EXPECTED_COLUMNS[key]
    empty_markdown = (tmp_path / "empty" / f"{key}.md").read_text()
    assert common.NO_DATA_TEXT in empty_markdown and studies.STUDIES[key].needs in empty_markdown


def test_write_study_tables_and_errors(full, tmp_path):
    for key in EXPECTED_COLUMNS:  # the tables alone, without a figure
        write_study(key, full, tmp_path / f"{key}.csv", tmp_path / f"{key}.md")
        assert (tmp_path / f"{key}.csv").exists() and (tmp_path / f"{key}.md").exists()
    assert "| VGG16" in (tmp_path / "table1_quantized_size.md").read_text()
    with pytest.raises(ValueError, match="unknown study"):
        write_study("table9", full, tmp_path / "x.csv")
