"""Which variant to ship: constraints that exclude the best OpScore, none feasible, the closest."""
import json

import pandas as pd
import pytest

from opscore.score import rank_table
from opscore.selection import select, to_markdown, write_selection


def ranked(**columns):
    base = {
        "dataset": "digits", "model": ["VGG16", "VGG16", "EfficientNetB0", "ResNet50"],
        "variant": ["original", "prune-filters-b2", "tflite-dynamic", "original"], "unfreeze": "all",
        "accuracy": [0.97, 0.96, 0.80, 0.95], "inference_time_s": [2.0, 0.5, 0.3, 3.0],
        "size_mb": [58.9, 14.8, 4.1, 94.0], "train_time_s": 10.0,
        "latency_p90_ms": [12.0, 4.0, 2.0, 30.0], "deploy_peak_rss_mb": [1500.0, 1200.0, 700.0, 2100.0],
    }
    return rank_table(pd.DataFrame({**base, **columns}))


def test_without_constraints_the_best_opscore_is_recommended():
    table = ranked()
    selection = select(table, {})
    best = table[table["row"] == "variant"].iloc[0]
    assert selection["recommended"]["variant"] == best["variant"] == "tflite-dynamic"
    assert selection["feasible"] == 4 and selection["rejected"] == []


def test_constraints_that_exclude_the_best_opscore():
    selection = select(ranked(), {"min_metric": 0.9, "max_latency_ms": 20})
    # tflite-dynamic has the best OpScore but only 0.80 accuracy; ResNet50 is too slow
    assert selection["recommended"]["model"] == "VGG16"
    assert selection["recommended"]["variant"] == "prune-filters-b2"
    assert selection["runner_up"]["variant"] == "original"
    rejected = {r["variant"]: r["breaks"] for r in selection["rejected"]}
    assert [b["constraint"] for b in rejected["EfficientNetB0/tflite-dynamic/all"]] == ["min_metric"]
    assert [b["constraint"] for b in rejected["ResNet50/original/all"]] == ["max_latency_ms"]
    assert rejected["ResNet50/original/all"][0]["relative_miss"] == pytest.approx(0.5)
    markdown = to_markdown(selection)
    assert "Recommended: VGG16 / prune-filters-b2" in markdown and "accuracy 0.8 (needs >= 0.9" in markdown


def test_none_feasible_names_the_closest_and_by_how_much(tmp_path):
    selection = select(ranked(), {"max_size_mb": 4.0, "max_memory_mb": 600})
    assert selection["recommended"] is None and selection["runner_up"] is None
    closest = selection["closest"]
    assert (closest["model"], closest["variant"]) == ("EfficientNetB0", "tflite-dynamic")
    assert {b["constraint"] for b in closest["breaks"]} == {"max_size_mb", "max_memory_mb"}
    assert "No variant meets every constraint" in to_markdown(selection)
    write_selection(selection, tmp_path / "s.json", tmp_path / "s.md")
    assert json.loads((tmp_path / "s.json").read_text())["recommended"] is None


def test_the_floor_is_on_the_rankings_metric():
    table = ranked(f1_macro=[0.5, 0.9, 0.95, 0.6])
    table = rank_table(table, metric="f1_macro")
    selection = select(table, {"min_metric": 0.85})
    assert selection["metric"] == "f1_macro"
    assert {selection["recommended"]["variant"], selection["runner_up"]["variant"]} == {"tflite-dynamic",
                                                                                         "prune-filters-b2"}
    with pytest.raises(ValueError, match="unknown select constraint"):
        select(table, {"max_watts": 3})
