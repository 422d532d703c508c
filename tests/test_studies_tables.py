"""Tests for opscore.report.studies: the paper's sensitivity tables, figures and study registry."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import pandas as pd
import pytest

from opscore.report import studies
from opscore.report.studies import common, figures, pruning, tables
from opscore.report.studies.files import write_study

SVG_NS = "{http://www.w3.org/2000/svg}"


def _row(model="ResNet50", variant="original", unfreeze="all", split="70-30", seed=0, dataset="cifar10", **values):
    base = dict(
        dataset=dataset, model=model, variant=variant, unfreeze=unfreeze, split=split, seed=seed,
        accuracy=0.8, precision_macro=0.7, recall_macro=0.6, f1_macro=0.65, auc_ovr=0.9, top5_accuracy=0.99,
        n_test=100, train_time_s=100.0, first_epoch_s=12.0, epochs=10, prep_time_s=0.0, inference_time_s=2.0,
        inference_median_s=0.2, inference_ms_per_image=2.0, repeats=10, size_bytes=98_000_000,
        size_compressed_bytes=90_000_000, size_mb=98.0, size_compressed_mb=90.0, params=1000, nonzero_params=1000,
        param_bytes=4000,
        layers=177, precision="float32", device="cpu", row="variant",
    )
    base.update(values)
    return base


def _full_table() -> pd.DataFrame:
    """Two models, quantized, clustered, three depths and three splits (out of order on purpose)."""
    rows = []
    for model, size, acc in [("VGG16", 528.0, 0.70), ("ResNet50", 98.0, 0.80)]:
        for split in ["90-10", "official", "70-30"]:
            for unfreeze, bump in [("all", 0.05), ("10", 0.02), ("1", 0.0)]:
                rows.append(_row(model, "original", unfreeze, split, accuracy=acc + bump, size_mb=size,
                                 size_compressed_mb=size * 0.9, train_time_s=float({"90-10": 90, "official": 83,
                                                                                    "70-30": 70}[split]),
                                 inference_time_s=float({"90-10": 1, "official": 1.7, "70-30": 3}[split])))
        rows.append(_row(model, "float16", accuracy=acc - 0.01, size_mb=size / 2, size_compressed_mb=size * 0.4,
                         precision="float16", inference_time_s=4.0, train_time_s=150.0))
        rows.append(_row(model, "tflite-int8", accuracy=acc - 0.03, size_mb=size / 4, size_compressed_mb=size * 0.2,
                         precision="int8", inference_time_s=1.0, prep_time_s=5.0, layers=80))
        for k in (512, 16, 4):
            rows.append(_row(model, f"cluster-k{k}", accuracy=acc - 0.1 / math.log2(k), size_mb=size,
                             size_compressed_mb=size * (0.1 + 0.02 * math.log2(k)), prep_time_s=float(k)))
        # 4x fewer filters' parameters; magnitude pruning keeps the shapes and zeroes half
        rows.append(_row(model, "prune-filters-b2", accuracy=acc + 0.05 - 0.01, params=250, nonzero_params=250,
                         size_mb=size / 4, size_compressed_mb=size * 0.9 / 4, prep_time_s=30.0, param_bytes=1000))
        rows.append(_row(model, "prune-magnitude-s50", accuracy=acc + 0.05 - 0.02, nonzero_params=500,
                         size_mb=size, size_compressed_mb=size * 0.45, prep_time_s=20.0))
    rows.append(dict(dataset="cifar10", model="MAX", variant="MAX", accuracy=1.0, size_mb=9999.0, row="MAX"))
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def full() -> pd.DataFrame:
    return _full_table()


def _data_rows(spec: dict) -> list[dict]:
    rows = []
    for values in spec.get("datasets", {}).values():
        rows.extend(values)
    return rows


def _find(spec, key):
    """All values of ``key`` anywhere in a nested chart spec."""
    found = []
    if isinstance(spec, dict):
        for k, v in spec.items():
            if k == key:
                found.append(v)
            found.extend(_find(v, key))
    elif isinstance(spec, list):
        for v in spec:
            found.extend(_find(v, key))
    return found


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------


def test_helpers_parse_names():
    assert [common.model_family(m) for m in ["ResNet50", "ResNet101", "VGG16", "VGG19", "EfficientNetB0",
                                           "MobileNetV2", "ResNet50V2", "AlexNet", "A2E"]] == [
        "ResNet", "ResNet", "VGG", "VGG", "EfficientNet", "MobileNet", "ResNet", "AlexNet", "A2E"]
    assert common.cluster_k("cluster-k512") == 512 and common.cluster_k("original") is None
    assert common.cluster_k("cluster-k16-x") is None and common.cluster_k("prune-magnitude-s50+cluster-k16") is None
    assert sorted(["all", "10", "2", 1.0], key=common.depth_key) == [1.0, "2", "10", "all"]
    assert common.split_percent("70-30") == (70.0, 30.0)
    assert all(math.isnan(v) for v in common.split_percent("official"))


# --------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------


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


def test_fig4_ranks_per_dataset():
    table = pd.DataFrame([
        _row("A", dataset="d1", accuracy=0.5), _row("B", dataset="d1", accuracy=0.9),
        _row("A", dataset="d2", accuracy=0.7),
    ])
    t4 = tables.accuracy_table(table)
    assert list(zip(t4["dataset"], t4["model"], t4["rank"], strict=True)) == [("d1", "B", 1), ("d1", "A", 2), ("d2", "A", 1)]
    spec = figures.accuracy_figure(table).to_dict()
    assert len(spec["vconcat"]) == 2


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


def test_fig5_figure_encodes_depth_order_and_families(full):
    spec = figures.unfreeze_sweep_figure(full[full["split"] == "70-30"]).to_dict()
    xs = [x for x in _find(spec, "x") if isinstance(x, dict) and x.get("field") == "unfreeze"]
    assert xs and all(x["sort"] == ["1", "10", "all"] for x in xs)
    assert {"family"} == {e["field"] for e in _find(spec, "strokeDash")}
    assert "facet" not in spec  # one split: one plot
    faceted = figures.unfreeze_sweep_figure(full).to_dict()
    assert faceted["facet"]["field"] == "panel" and faceted["facet"]["sort"] == ["official", "70-30", "90-10"]


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


# --------------------------------------------------------------------------------------
# Empty input, no-data figures, availability
# --------------------------------------------------------------------------------------

# Spelled out here, not read from the module's constants: a column dropped, renamed or moved there
# is a change of the published tables, which these tests are to notice.
IDS = ["dataset", "model", "variant", "unfreeze", "split"]
EXPECTED_COLUMNS = {
    "table1_quantized_size": ["dataset", "model", "variant", "precision", "original_layers", "layers",
                              "original_size_mb", "size_mb", "size_ratio", "original_size_compressed_mb",
                              "size_compressed_mb", "compressed_ratio", "runs"],
    "table2_classification": [*IDS, "accuracy", "precision_macro", "recall_macro", "f1_macro", "runs"],
    "fig4_accuracy": ["dataset", "rank", "model", "variant", "unfreeze", "accuracy", "runs"],
    "fig5_unfreeze_sweep": ["dataset", "model", "family", "split", "unfreeze", "depth_rank", "accuracy", "runs"],
    "fig8_table7_cluster_count": ["dataset", "model", "variant", "k", "accuracy", "size_mb", "size_compressed_mb",
                                  "compressed_ratio", "prep_time_s", "train_time_s", "runs"],
    "table3_split_time": ["dataset", "model", "unfreeze", "split", "train_percent", "test_percent", "n_test",
                          "train_time_s", "first_epoch_s", "inference_time_s", "inference_ms_per_image", "runs"],
    "table4_variant_time": [*IDS, "train_time_s", "prep_time_s", "inference_time_s", "inference_ms_per_image",
                            "train_time_ratio", "inference_time_ratio", "runs"],
    "compression": [*IDS, "original_params", "params", "nonzero_params", "original_size_mb", "size_mb",
                    "size_compressed_mb", "original_param_bytes", "param_bytes", "params_ratio", "nonzero_ratio",
                    "bytes_ratio", "compressed_ratio", "bits_ratio", "params_reduction", "original_accuracy",
                    "accuracy", "accuracy_drop", "runs"],
}
PRUNING_COLUMNS = [*IDS, "seed", "method", "order", "budget", "step", "round", "action", "layer", "filters_before",
                   "removed", "filters_after", "params", "accuracy", "drop", "accepted"]


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


def test_figures_without_their_rows_say_no_data():
    table = pd.DataFrame([_row("A", variant="float16")])  # no original, no clusters
    assert _data_rows(figures.cluster_count_figure(table).to_dict()) == [{"message": common.NO_DATA_TEXT}]
    assert _data_rows(figures.unfreeze_sweep_figure(table).to_dict()) == [{"message": common.NO_DATA_TEXT}]
    assert len(tables.cluster_count_table(table)) == 0 and len(tables.unfreeze_sweep_table(table)) == 0


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


def available_studies(table):
    """The measurement-table studies a table has data for (registry order)."""
    return [key for key, study in studies.STUDIES.items()
            if study.source == "measurements" and study.has_data(study.table(table))]


def test_which_studies_have_data(full):
    assert available_studies(full) == list(EXPECTED_COLUMNS)
    minimal = pd.DataFrame([_row("ResNet50"), _row("VGG16", unfreeze="2")])  # one depth per model
    base = ["table2_classification", "fig4_accuracy", "table4_variant_time"]
    assert available_studies(minimal) == base
    more = pd.concat([minimal, pd.DataFrame([
        _row("VGG16", "float16", unfreeze="2"),
        _row("ResNet50", "cluster-k32"),
        _row("ResNet50", unfreeze="10"),
        _row("VGG16", unfreeze="2", split="official"),
        _row("VGG16", "prune-filters-b2", unfreeze="2", params=400),
    ])])
    assert available_studies(more) == list(EXPECTED_COLUMNS)
    # A second depth or split of a non-original variant is no sweep / no split study.
    pruned = _row("ResNet50", "prune-magnitude-s50", unfreeze="10", split="official")
    other = pd.concat([minimal, pd.DataFrame([pruned])])
    assert available_studies(other) == base


# --------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------


def _svg_texts(path) -> str:
    root = ET.parse(path).getroot()
    assert root.tag == f"{SVG_NS}svg"
    return " ".join(t.text or "" for t in root.iter(f"{SVG_NS}text"))


@pytest.mark.parametrize("key", list(EXPECTED_COLUMNS))
def test_write_study_svg_for_each_figure(full, tmp_path, key):
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


# --------------------------------------------------------------------------------------
# Figures of Tables 1-4
# --------------------------------------------------------------------------------------


def _encodings(spec: dict, channel: str) -> set[str]:
    return {e.get("field") for e in _find(spec, channel) if isinstance(e, dict) and "field" in e}


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


# --------------------------------------------------------------------------------------
# Pruning sensitivity
# --------------------------------------------------------------------------------------


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
