"""Lee et al.'s step table (opscore.report.studies.pruning): steps in order, the figure, no data."""
from __future__ import annotations

import pandas as pd
import pytest

from conftest import IDS, _data_rows, _encodings, _find, _svg_texts
from opscore.report.studies import common, pruning


PRUNING_COLUMNS = [*IDS, "seed", "method", "order", "budget", "step", "round", "action", "layer", "filters_before",
                   "removed", "filters_after", "params", "accuracy", "drop", "accepted"]


def _steps() -> pd.DataFrame:
    """preparation.parquet tables of one run, concatenated: two filter-pruning orders, a layer
    removal and a clustering table (ignored); rows deliberately out of step order."""
    ids = dict(model="VGG16", dataset="cifar10", unfreeze="all", split="70-30", seed=0)
    rows = []
    for variant, tried in [("prune-filters-b2-io", [("conv1", 0.03), ("conv2", 0.01), ("conv3", 0.001)]),
                           ("prune-filters-b2", [("conv3", 0.001), ("conv2", 0.01), ("conv1", 0.03)])]:
        for step, (layer, drop) in enumerate(tried, 1):
            rows.append(dict(step=step, round=1, action="prune-filters", layer=layer, filters_before=64, removed=16,
                             filters_after=48, accuracy=0.9 - drop, drop=drop, accepted=drop <= 0.02,
                             params=1000 - step, variant=variant, **ids))
    rows.append(dict(step=1, candidate="block5_conv3", params=900, accuracy=0.895, drop=0.005, accepted=True,
                     variant="prune-layers-b1", **ids))
    rows.append(dict(step=2, candidate="fc1+dropout", params=800, accuracy=0.8, drop=0.1, accepted=False,
                     variant="prune-layers-b1", **ids))
    rows.append(dict(layer="dense", distinct_values=16, variant="cluster-k16", **ids))
    rows.append(dict(layer="dense", sparsity=0.5, variant="prune-magnitude-s50", **ids))
    return pd.DataFrame(rows).iloc[::-1].reset_index(drop=True)


def test_pruning_table_keeps_step_order():
    table = pruning.pruning_sensitivity_table(_steps())
    assert list(table.columns) == PRUNING_COLUMNS
    assert list(table["variant"].drop_duplicates()) == ["prune-filters-b2", "prune-filters-b2-io", "prune-layers-b1"]
    sens_order = table[table["variant"] == "prune-filters-b2"]
    assert list(sens_order["layer"]) == ["conv3", "conv2", "conv1"] and list(sens_order["step"]) == [1, 2, 3]
    assert list(table[table["variant"] == "prune-filters-b2-io"]["layer"]) == ["conv1", "conv2", "conv3"]
    assert set(sens_order["order"]) == {"sensitivity"}
    assert set(table[table["variant"] == "prune-filters-b2-io"]["order"]) == {"input-to-output"}
    layers = table[table["method"] == "prune-layers"]
    assert list(layers["layer"]) == ["block5_conv3", "fc1+dropout"] and set(layers["action"]) == {"remove-layers"}
    assert table["accepted"].dtype == bool
    assert list(sens_order["accepted"]) == [True, True, False]
    assert table["budget"].tolist() == pytest.approx([0.02] * 6 + [0.01] * 2)


def test_pruning_figure_bars_in_order_coloured_by_accepted(tmp_path):
    from opscore.report import plots

    chart = pruning.pruning_sensitivity_figure(_steps())
    spec = chart.to_dict()
    assert {"drop"} <= _encodings(spec, "y")
    colors = [c for c in _find(spec, "color") if isinstance(c, dict) and c.get("field") == "status"]
    assert colors and colors[0]["scale"]["domain"] == ["accepted", "rejected"]
    xs = [x for x in _find(spec, "x") if isinstance(x, dict) and x.get("field") == "label"]
    assert xs and xs[0]["sort"] == {"field": "step", "op": "min"}
    rows = _data_rows(spec)
    io = [(r["label"], r["status"]) for r in rows if r["variant"] == "prune-filters-b2-io"]
    assert io == [("1. conv1", "rejected"), ("2. conv2", "accepted"), ("3. conv3", "accepted")]
    assert all(r["status"] == ("accepted" if r["accepted"] else "rejected") for r in rows)
    # Both orders of the same settings side by side in one row; prune-layers in its own row.
    assert len(spec["vconcat"]) == 2 and len(spec["vconcat"][0]["hconcat"]) == 2
    plots.save_chart(chart, tmp_path / "pruning.svg")
    texts = _svg_texts(tmp_path / "pruning.svg")
    assert "3. conv1" in texts and "input-to-output" in texts and common.NO_DATA_TEXT not in texts


@pytest.mark.parametrize("steps", [pd.DataFrame(), None, pd.DataFrame([dict(layer="d", distinct_values=4,
                                                                            variant="cluster-k4", model="A")])],
                         ids=["bare", "none", "no-pruning"])
def test_pruning_empty_gives_no_data(steps, tmp_path):
    from opscore.report import plots

    table = pruning.pruning_sensitivity_table(steps)
    assert len(table) == 0 and list(table.columns) == PRUNING_COLUMNS
    chart = pruning.pruning_sensitivity_figure(steps)
    assert _data_rows(chart.to_dict()) == [{"message": common.NO_DATA_TEXT}]
    plots.save_chart(chart, tmp_path / "empty.svg")
    assert common.NO_DATA_TEXT in _svg_texts(tmp_path / "empty.svg")
