"""The studies' registry (opscore.report.studies): stable keys and columns, empty input, which studies have data."""
from __future__ import annotations

import pandas as pd
import pytest

from conftest import EXPECTED_COLUMNS, available_studies, _chain_row, _data_rows, _row
from opscore.report import studies
from opscore.report.studies import common, pruning


def test_registry_keys_are_stable():
    assert list(studies.STUDIES) == [*EXPECTED_COLUMNS, "pruning_sensitivity"]
    assert set(common.TITLES) == set(studies.STUDIES) == set(common.FIGURE_TITLES)
    assert [key for key, study in studies.STUDIES.items() if study.source != "measurements"] == ["pruning_sensitivity"]
    assert studies.STUDIES["pruning_sensitivity"].table is pruning.pruning_sensitivity_table


@pytest.mark.parametrize("empty", [pd.DataFrame(), pd.DataFrame(columns=list(_row()))], ids=["bare", "columns"])
def test_empty_input_gives_empty_tables_and_no_data_charts(empty):
    for key in EXPECTED_COLUMNS:
        study = studies.STUDIES[key]
        result = study.table(empty)
        assert len(result) == 0, key
        assert list(result.columns) == EXPECTED_COLUMNS[key], key
        assert _data_rows(study.figure(empty).to_dict()) == [{"message": common.NO_DATA_TEXT}], key
    assert available_studies(empty) == []


def test_which_studies_have_data(full):
    chain = _chain_row()
    assert available_studies(full) == [key for key in EXPECTED_COLUMNS if key != "chain_steps"]
    assert available_studies(pd.concat([full, pd.DataFrame([chain])])) == list(EXPECTED_COLUMNS)
    minimal = pd.DataFrame([_row("ResNet50"), _row("VGG16", unfreeze="2")])  # one depth per model
    base = ["table2_classification", "fig4_accuracy", "table4_variant_time"]
    assert available_studies(minimal) == base
    more = pd.concat([minimal, pd.DataFrame([
        _row("VGG16", "float16", unfreeze="2"),
        _row("ResNet50", "cluster-k32"),
        _row("ResNet50", unfreeze="10"),
        _row("VGG16", unfreeze="2", split="official"),
        _row("VGG16", "prune-filters-b2", unfreeze="2", params=400),
        chain,
    ])])
    assert available_studies(more) == list(EXPECTED_COLUMNS)
    # A second depth or split of a non-original variant is no sweep / no split study.
    pruned = _row("ResNet50", "prune-magnitude-s50", unfreeze="10", split="official")
    other = pd.concat([minimal, pd.DataFrame([pruned])])
    assert available_studies(other) == base
