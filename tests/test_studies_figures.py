"""The studies' figures (opscore.report.studies.figures): what each chart encodes, and no-data charts."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from conftest import _data_rows, _encodings, _find, _row
from opscore.report.studies import common, figures, tables


def test_fig4_ranks_per_dataset():
    table = pd.DataFrame([
        _row("A", dataset="d1", accuracy=0.5), _row("B", dataset="d1", accuracy=0.9),
        _row("A", dataset="d2", accuracy=0.7),
    ])
    t4 = tables.accuracy_table(table)
    assert list(zip(t4["dataset"], t4["model"], t4["rank"], strict=True)) == [("d1", "B", 1), ("d1", "A", 2), ("d2", "A", 1)]
    spec = figures.accuracy_figure(table).to_dict()
    assert len(spec["vconcat"]) == 2


def test_fig5_figure_encodes_depth_order_and_families(full):
    spec = figures.unfreeze_sweep_figure(full[full["split"] == "70-30"]).to_dict()
    xs = [x for x in _find(spec, "x") if isinstance(x, dict) and x.get("field") == "unfreeze"]
    assert xs and all(x["sort"] == ["1", "10", "all"] for x in xs)
    assert {"family"} == {e["field"] for e in _find(spec, "strokeDash")}
    assert "facet" not in spec  # one split: one plot
    faceted = figures.unfreeze_sweep_figure(full).to_dict()
    assert faceted["facet"]["field"] == "panel" and faceted["facet"]["sort"] == ["official", "70-30", "90-10"]


def test_fig8_log2_axis_and_reference(full):
    spec = figures.cluster_count_figure(full).to_dict()
    xs = [x for x in _find(spec, "x") if isinstance(x, dict) and x.get("field") == "k"]
    assert xs and xs[0]["scale"]["type"] == "log" and xs[0]["scale"]["base"] == 2
    assert xs[0]["axis"]["values"] == [4, 16, 512]
    assert "rule" in [m if isinstance(m, str) else m.get("type") for m in _find(spec, "mark")]
    rows = _data_rows(spec)
    originals = [r for r in rows if r["is_original"]]
    assert originals and all(r["k"] is None or (isinstance(r["k"], float) and math.isnan(r["k"])) for r in originals)
    assert sorted({r["k"] for r in rows if not r["is_original"]}) == [4, 16, 512]


def test_figures_without_their_rows_say_no_data():
    table = pd.DataFrame([_row("A", variant="float16")])  # no original, no clusters
    assert _data_rows(figures.cluster_count_figure(table).to_dict()) == [{"message": common.NO_DATA_TEXT}]
    assert _data_rows(figures.unfreeze_sweep_figure(table).to_dict()) == [{"message": common.NO_DATA_TEXT}]
    assert len(tables.cluster_count_table(table)) == 0 and len(tables.unfreeze_sweep_table(table)) == 0


def test_table1_figure_raw_and_compressed_per_variant(full):
    spec = figures.quantized_size_figure(full).to_dict()
    assert _encodings(spec, "y") == {"size_mb"} and _encodings(spec, "xOffset") == {"measure"}
    assert spec["facet"]["column"]["field"] == "panel"  # one panel per model
    xs = [x for x in _find(spec, "x") if isinstance(x, dict) and x.get("field") == "variant"]
    assert xs[0]["sort"] == ["original", "float16", "tflite-int8"]
    rows = _data_rows(spec)
    got = {(r["model"], r["variant"], r["measure"]): r["size_mb"] for r in rows}
    assert len(rows) == len(got) == 2 * 3 * 2  # models x (original + 2 quantized) x (raw, compressed)
    assert got[("VGG16", "original", "raw")] == pytest.approx(528.0)
    assert got[("VGG16", "float16", "compressed")] == pytest.approx(528 * 0.4)
    assert spec["title"]["text"].endswith("— cifar10")


def test_table2_figure_grouped_metrics(full):
    spec = figures.classification_figure(full[full["split"] == "70-30"]).to_dict()
    assert _encodings(spec, "xOffset") == {"metric"} and _encodings(spec, "y") == {"value"}
    rows = _data_rows(spec)
    assert {r["metric"] for r in rows} == {"precision", "recall", "F1"}
    one = {r["metric"]: r["value"] for r in rows
           if (r["model"], r["variant"], r["unfreeze"]) == ("VGG16", "float16", "all")}
    assert one == pytest.approx({"precision": 0.7, "recall": 0.6, "F1": 0.65})
    assert spec["facet"]["row"]["sort"] == ["unfreeze 1", "unfreeze 10", "unfreeze all"]
    assert "column" not in spec["facet"]  # one split: no split panels


def test_table3_figure_time_vs_train_share(full):
    spec = figures.split_time_figure(full).to_dict()
    assert _encodings(spec, "x") == {"train_percent"} and _encodings(spec, "y") == {"seconds"}
    assert _encodings(spec, "color") == {"model"}
    assert spec["facet"]["column"]["sort"] == list(figures.TIME_MEASURES)
    assert spec["resolve"]["scale"]["y"] == "independent"
    rows = _data_rows(spec)
    assert sorted({r["train_percent"] for r in rows}) == [70, 90]  # "official" has no share
    vgg = {(r["measure"], r["train_percent"]): r["seconds"] for r in rows
           if r["model"] == "VGG16" and r["unfreeze"] == "all"}
    assert vgg == pytest.approx({("training time (s)", 70): 70, ("training time (s)", 90): 90,
                                 ("test time (s)", 70): 3, ("test time (s)", 90): 1})
    only_named = full[full["split"] == "official"]
    assert _data_rows(figures.split_time_figure(only_named).to_dict()) == [{"message": common.NO_DATA_TEXT}]


def test_table4_figure_times_per_variant_and_model(full):
    run = full[(full["split"] == "70-30") & (full["unfreeze"] == "all")]
    spec = figures.variant_time_figure(run).to_dict()
    assert _encodings(spec, "xOffset") == {"model"} and _encodings(spec, "color") == {"model"}
    xs = [x for x in _find(spec, "x") if isinstance(x, dict) and x.get("field") == "variant"]
    assert xs[0]["sort"][0] == "original"
    rows = _data_rows(spec)
    got = {(r["model"], r["variant"], r["measure"]): r["seconds"] for r in rows}
    assert got[("ResNet50", "float16", "training time (s)")] == pytest.approx(150)
    assert got[("ResNet50", "float16", "test time (s)")] == pytest.approx(4)
    assert "subtitle" not in spec["title"]  # one depth and split: nothing averaged
    assert figures.variant_time_figure(full).to_dict()["title"]["subtitle"] == "mean over unfreeze depths and splits"
