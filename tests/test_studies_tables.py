"""The studies' tables (opscore.report.studies.tables): the paper's sensitivity tables on a made-up
measurement table (tests/conftest.py: full)."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from conftest import EXPECTED_COLUMNS, available_studies, _data_rows, _row
from opscore.report.studies import figures, tables
from opscore.report.studies.files import write_study


def test_table1_pairs_original_with_quantized(full):
    t1 = tables.quantized_size_table(full)
    assert list(t1.columns) == EXPECTED_COLUMNS["table1_quantized_size"]
    assert list(zip(t1["model"], t1["variant"], strict=True)) == [
        ("ResNet50", "float16"), ("ResNet50", "tflite-int8"), ("VGG16", "float16"), ("VGG16", "tflite-int8")]
    vgg16 = t1[(t1["model"] == "VGG16") & (t1["variant"] == "float16")].iloc[0]
    assert vgg16["original_size_mb"] == pytest.approx(528.0)
    assert vgg16["size_mb"] == pytest.approx(264.0)
    assert vgg16["size_ratio"] == pytest.approx(0.5)
    assert vgg16["compressed_ratio"] == pytest.approx((528 * 0.4) / (528 * 0.9))
    assert vgg16["precision"] == "float16"
    # The original's size is the mean over its 9 runs (depths x splits); layers of both sides kept.
    int8 = t1[(t1["model"] == "ResNet50") & (t1["variant"] == "tflite-int8")].iloc[0]
    assert (int8["original_layers"], int8["layers"], int8["size_ratio"]) == (177, 80, pytest.approx(0.25))


def test_table1_without_original_and_seed_mean():
    table = pd.DataFrame([
        _row("VGG16", "float16", seed=0, size_mb=10.0),
        _row("VGG16", "float16", seed=1, size_mb=12.0),
        _row("VGG16", "cluster-k8"),
    ])
    t1 = tables.quantized_size_table(table)
    assert len(t1) == 1 and t1["runs"].iloc[0] == 2 and t1["size_mb"].iloc[0] == pytest.approx(11.0)
    assert math.isnan(t1["original_size_mb"].iloc[0]) and math.isnan(t1["size_ratio"].iloc[0])
    assert "table1_quantized_size" not in available_studies(table)


def test_table2_metrics_per_variant_mean_over_seeds():
    table = pd.DataFrame([
        _row("VGG16", "float16", recall_macro=0.5, seed=0),
        _row("VGG16", "float16", recall_macro=0.7, seed=1),
        _row("VGG16", "original", recall_macro=0.9),
        _row("ResNet50", "original", f1_macro=0.42),
        dict(dataset="cifar10", model="MIN", variant="MIN", accuracy=0.0, row="MIN"),
    ])
    t2 = tables.classification_table(table)
    assert list(t2.columns) == EXPECTED_COLUMNS["table2_classification"]
    assert list(zip(t2["model"], t2["variant"], strict=True)) == [
        ("ResNet50", "original"), ("VGG16", "original"), ("VGG16", "float16")]
    f16 = t2[t2["variant"] == "float16"].iloc[0]
    assert f16["recall_macro"] == pytest.approx(0.6) and f16["runs"] == 2
    assert t2[t2["model"] == "ResNet50"]["f1_macro"].iloc[0] == pytest.approx(0.42)


def test_fig4_table_descending_with_rank(full):
    t4 = tables.accuracy_table(full)
    assert list(t4.columns) == EXPECTED_COLUMNS["fig4_accuracy"]
    assert t4["accuracy"].is_monotonic_decreasing
    assert list(t4["rank"]) == list(range(1, len(t4) + 1))
    best = t4.iloc[0]
    assert (best["model"], best["variant"], best["unfreeze"]) == ("ResNet50", "original", "all")
    assert best["accuracy"] == pytest.approx(0.85) and best["runs"] == 3  # three splits averaged


def test_fig5_ordered_by_depth_all_last(full):
    t5 = tables.unfreeze_sweep_table(full)
    assert list(t5.columns) == EXPECTED_COLUMNS["fig5_unfreeze_sweep"]
    one = t5[(t5["model"] == "ResNet50") & (t5["split"] == "70-30")]
    assert list(one["unfreeze"]) == ["1", "10", "all"]  # input order was all, 10, 1
    assert list(one["depth_rank"]) == [0, 1, 2]
    assert list(one["accuracy"]) == pytest.approx([0.80, 0.82, 0.85])
    assert set(t5["family"]) == {"ResNet", "VGG"}
    assert len(t5) == 2 * 3 * 3  # original variant only: models x splits x depths
    assert list(t5["split"].drop_duplicates()) == ["official", "70-30", "90-10"]


def test_table7_sorted_by_k_with_original_reference(full):
    t7 = tables.cluster_count_table(full)
    assert list(t7.columns) == EXPECTED_COLUMNS["fig8_table7_cluster_count"]
    vgg = t7[t7["model"] == "VGG16"]
    assert list(vgg["variant"]) == ["original", "cluster-k4", "cluster-k16", "cluster-k512"]
    assert vgg["k"].isna().tolist() == [True, False, False, False]
    assert list(vgg["k"].iloc[1:].astype(int)) == [4, 16, 512]
    assert list(vgg["size_compressed_mb"]) == pytest.approx([528 * 0.9, 528 * 0.14, 528 * 0.18, 528 * 0.28])
    assert list(vgg["prep_time_s"].iloc[1:]) == pytest.approx([4.0, 16.0, 512.0])
    assert vgg["runs"].iloc[0] == 9  # the original averaged over depths and splits
    assert set(t7["variant"]) == {"original", "cluster-k4", "cluster-k16", "cluster-k512"}


def test_table7_only_models_with_clusters_and_markdown_none(tmp_path):
    table = pd.DataFrame([_row("A"), _row("A", "cluster-k8", size_compressed_mb=9.0), _row("B")])
    t7 = tables.cluster_count_table(table)
    assert list(t7["model"]) == ["A", "A"]
    write_study("fig8_table7_cluster_count", table, tmp_path / "t7.csv", tmp_path / "t7.md")
    md = (tmp_path / "t7.md").read_text()
    assert "| none" in md and "Table 7" in md
    back = pd.read_csv(tmp_path / "t7.csv")
    assert list(back.columns) == EXPECTED_COLUMNS["fig8_table7_cluster_count"] and back["k"].isna().tolist() == [True, False]


def test_table3_split_ratio_vs_time(full):
    t3 = tables.split_time_table(full)
    assert list(t3.columns) == EXPECTED_COLUMNS["table3_split_time"]
    one = t3[(t3["model"] == "VGG16") & (t3["unfreeze"] == "all")]
    assert list(one["split"]) == ["official", "70-30", "90-10"]
    assert list(one["train_time_s"]) == pytest.approx([83, 70, 90])
    assert list(one["inference_time_s"]) == pytest.approx([1.7, 3, 1])
    assert math.isnan(one["train_percent"].iloc[0]) and list(one["train_percent"].iloc[1:]) == [70, 90]
    assert list(one["test_percent"].iloc[1:]) == [30, 10]
    assert len(t3) == 2 * 3 * 3  # original only


def test_table4_times_and_ratios(full):
    t4 = tables.variant_time_table(full)
    assert list(t4.columns) == EXPECTED_COLUMNS["table4_variant_time"]
    run = t4[(t4["model"] == "ResNet50") & (t4["unfreeze"] == "all") & (t4["split"] == "70-30")]
    assert list(run["variant"]) == ["original", "float16", "cluster-k4", "cluster-k16", "cluster-k512", "tflite-int8",
                                 "prune-magnitude-s50", "prune-filters-b2"]
    f16 = run[run["variant"] == "float16"].iloc[0]
    assert f16["train_time_ratio"] == pytest.approx(150 / 70) and f16["inference_time_ratio"] == pytest.approx(4 / 3)
    assert run[run["variant"] == "tflite-int8"]["prep_time_s"].iloc[0] == pytest.approx(5.0)
    assert t4[t4["variant"] == "original"]["train_time_ratio"].eq(1).all()
    # No original for that model, depth and split: the ratios are NaN.
    alone = tables.variant_time_table(pd.DataFrame([_row("A"), _row("A", "float16", split="official")]))
    assert alone.set_index("variant")["inference_time_ratio"].isna().to_dict() == {"original": False, "float16": True}


def test_compression_rates_against_the_original_of_the_same_run(full):
    rates = tables.compression_table(full).set_index(["model", "variant"])
    assert set(rates.index.get_level_values("variant")) == {"prune-filters-b2", "prune-magnitude-s50"}
    filters, magnitude = rates.loc[("VGG16", "prune-filters-b2")], rates.loc[("VGG16", "prune-magnitude-s50")]
    assert filters["params_ratio"] == pytest.approx(4.0) and filters["bytes_ratio"] == pytest.approx(4.0)
    assert filters["compressed_ratio"] == pytest.approx(4.0) and filters["accuracy_drop"] == pytest.approx(0.01)
    assert filters["params_reduction"] == pytest.approx(0.75) and filters["bits_ratio"] == pytest.approx(4.0)
    assert magnitude["params_ratio"] == pytest.approx(1.0) and magnitude["nonzero_ratio"] == pytest.approx(2.0)
    assert magnitude["compressed_ratio"] == pytest.approx(2.0) and magnitude["bytes_ratio"] == pytest.approx(1.0)
    assert rates["original_accuracy"].notna().all()  # every pruned row met its original (unfreeze all, 70-30)
    bars = _data_rows(figures.compression_figure(full).to_dict())
    assert len(bars) == 2 * 2 * 5 and {bar["measure"] for bar in bars} == {
        "parameters", "non-zero parameters", "file", "deflated file", "parameter storage (bits)"}
