"""Which variant to ship: constraints that exclude the best OpScore, none feasible, the closest."""
import json

import pandas as pd
import pytest

from opscore.decide.score import rank_table
from opscore.decide.selection import select, to_markdown, write_selection


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


def predictions_of(table, right: dict, n: int = 540):
    """Test predictions per variant of ``table``: variant -> indices of the examples it gets wrong."""
    import numpy as np

    rows = []
    y = np.arange(n) % 10
    for _, row in table[table["row"] == "variant"].iterrows():
        predicted = y.copy()
        predicted[right[row["variant"]]] = (y[right[row["variant"]]] + 1) % 10
        rows.append(pd.DataFrame({"example": np.arange(n), "y_true": y, "predicted": predicted,
                                  **{c: row[c] for c in ("dataset", "model", "variant", "unfreeze", "split", "seed")}}))
    return pd.concat(rows, ignore_index=True)


def default_run_pair(**columns):
    """The default run's EfficientNetB0: tflite-dynamic 515 of 540 right, float16 516 (one image more)."""
    base = {"dataset": "digits", "model": "EfficientNetB0", "variant": ["tflite-dynamic", "float16"], "unfreeze": "all",
            "split": "70-30", "seed": 0, "accuracy": [515 / 540, 516 / 540], "n_test": 540, "n_classes": 10,
            "inference_time_s": [0.05, 0.4], "inference_cv": [0.05, 0.05], "size_mb": [4.56, 8.8],
            "train_time_s": 10.0, "latency_p90_ms": [0.5, 4.0], "accuracy_ci_low": [0.93, 0.93],
            "accuracy_ci_high": [0.97, 0.97]}
    return rank_table(pd.DataFrame({**base, **columns}))


def test_a_one_image_gap_is_said_to_be_no_quality_difference():
    table = default_run_pair()
    wrong = {"tflite-dynamic": list(range(25)), "float16": list(range(24))}
    selection = select(table, {"min_metric": 0.9}, predictions_of(table, wrong))
    assert selection["recommended"]["variant"] == "tflite-dynamic"
    reason = selection["reasons"][1]
    assert reason.startswith("EfficientNetB0/float16/all: accuracy 0.9556 vs 0.9537: 1 of 540 examples")
    assert "p = 1 (McNemar exact): no quality difference; it wins on time and size" in reason
    assert selection["tied"] is None  # 8x apart in time: not a tie
    assert reason in to_markdown(selection)


def test_a_runner_up_within_quality_and_time_uncertainty_is_named_as_tied():
    table = default_run_pair(inference_time_s=[0.40, 0.41], size_mb=[4.56, 4.60])
    selection = select(table, {}, predictions_of(table, {"tflite-dynamic": list(range(25)), "float16": list(range(24))}))
    # float16 leads by its one image, 2 % slower: within both uncertainties
    assert selection["tied"]["variants"] == ["EfficientNetB0/float16/all", "EfficientNetB0/tflite-dynamic/all"]
    assert "TIED" in to_markdown(selection)
    # a significant quality gap is no tie, however close the times
    far = select(table, {}, predictions_of(table, {"tflite-dynamic": list(range(25)), "float16": list(range(80))}))
    assert far["tied"] is None and "a significant quality difference" in far["reasons"][1]


def test_an_interval_across_the_floor_is_borderline():
    selection = select(default_run_pair(), {"min_metric": 0.95})
    assert selection["borderline"] == ["EfficientNetB0/tflite-dynamic/all", "EfficientNetB0/float16/all"]
    assert select(default_run_pair(), {"min_metric": 0.9})["borderline"] == []


def test_contended_rows_and_whether_they_could_change_the_recommendation():
    table = default_run_pair(contended=[True, True], inference_min_s=[0.004, 0.002], repeats=10,
                             inference_time_s=[0.05, 0.4])
    flagged = {f["variant"]: f["could_change_recommendation"] for f in select(table, {})["contended"]}
    # the recommendation's lead stands (contention only slows); float16 at its fastest round (0.02 s)
    # would score better
    assert flagged == {"EfficientNetB0/tflite-dynamic/all": False, "EfficientNetB0/float16/all": True}
    slow = default_run_pair(contended=[False, True], inference_min_s=[0.004, 0.035], repeats=10)
    assert select(slow, {})["contended"][0]["could_change_recommendation"] is False


def test_several_seeds_report_mean_and_spread():
    table = rank_table(pd.DataFrame({
        "dataset": "digits", "model": "A2E", "variant": "original", "unfreeze": "all", "split": "70-30",
        "seed": [0, 1, 2], "accuracy": [0.90, 0.92, 0.94], "inference_time_s": [1.0, 1.0, 1.0], "size_mb": 0.1,
        "train_time_s": 1.0}))
    (entry,) = select(table, {})["across_seeds"]
    assert entry["seeds"] == 3 and entry["accuracy_mean"] == pytest.approx(0.92)
    assert entry["accuracy_std"] == pytest.approx(0.02)
    assert "Across seeds" in to_markdown(select(table, {}))


def test_the_old_memory_constraint_is_an_error_naming_the_new_one():
    from conftest import check_config, test_config

    config = test_config("tiny")
    config["select"] = {"max_peak_rss_mb": 600}
    with pytest.raises(ValueError, match="select.max_peak_rss_mb was renamed: use select.max_memory_mb"):
        check_config(config)


def test_the_selection_in_markdown_word_for_word():
    """The numbers checked by hand: accuracy 0.8 is 11.1 % short of 0.9, p90 30 ms is 50 % over 20;
    OpScore of VGG16 prune-filters-b2 log10(0.04) + log10(0.5) + log10(14.8) = -0.529."""
    selection = select(ranked(), {"min_metric": 0.9, "max_latency_ms": 20})
    assert selection["closest"] is None  # there is a recommendation
    assert to_markdown(selection) == (
        "# Which variant to ship: digits\n\n"
        "Constraints: min_metric 0.9, max_latency_ms 20. Quality metric: accuracy. "
        "2 of 4 variants meet every constraint.\n\n"
        "**Recommended: VGG16 / prune-filters-b2 (unfreeze all): OpScore -0.529; accuracy 0.9600, p90 latency 4 ms, "
        "14.8 MB, memory deployed 1200 MB**\n\n"
        "- best OpScore (-0.529) among the 2 feasible variants (the paper's rule)\n\n"
        "Runner-up: VGG16 / original (unfreeze all): OpScore 0.548; accuracy 0.9700, p90 latency 12 ms, 58.9 MB, "
        "memory deployed 1500 MB.\n\n"
        "| rejected variant | breaks |\n| --- | --- |\n"
        "| EfficientNetB0/tflite-dynamic/all | accuracy 0.8 (needs >= 0.9, off by 11.1 %) |\n"
        "| ResNet50/original/all | latency_p90_ms 30 (needs <= 20, off by 50.0 %) |\n")


def test_none_feasible_in_markdown_word_for_word_with_an_unmeasured_value():
    selection = select(ranked(latency_p90_ms=[12.0, float("nan"), 2.0, 30.0]),
                       {"max_size_mb": 4.0, "max_latency_ms": 1.0})
    # the closest: its worst miss (p90 2 ms for 1: 100 %) is the smallest; unmeasured misses by inf
    assert selection["closest"]["variant"] == "tflite-dynamic"
    unmeasured = {r["variant"]: r["breaks"] for r in selection["rejected"]}["VGG16/prune-filters-b2/all"][1]
    assert unmeasured == {"constraint": "max_latency_ms", "column": "latency_p90_ms", "limit": 1.0, "value": None,
                          "relative_miss": float("inf")}
    assert to_markdown(selection) == (
        "# Which variant to ship: digits\n\n"
        "Constraints: max_size_mb 4, max_latency_ms 1. Quality metric: accuracy. "
        "0 of 4 variants meet every constraint.\n\n"
        "**No variant meets every constraint.**\n\n"
        "Closest: EfficientNetB0 / tflite-dynamic: size_mb 4.1 (needs <= 4, off by 2.5 %); "
        "latency_p90_ms 2 (needs <= 1, off by 100.0 %).\n\n"
        "| rejected variant | breaks |\n| --- | --- |\n"
        "| EfficientNetB0/tflite-dynamic/all | size_mb 4.1 (needs <= 4, off by 2.5 %); "
        "latency_p90_ms 2 (needs <= 1, off by 100.0 %) |\n"
        "| VGG16/prune-filters-b2/all | size_mb 14.8 (needs <= 4, off by 270.0 %); "
        "latency_p90_ms unmeasured (needs <= 1, off by inf %) |\n"
        "| VGG16/original/all | size_mb 58.9 (needs <= 4, off by 1372.5 %); "
        "latency_p90_ms 12 (needs <= 1, off by 1100.0 %) |\n"
        "| ResNet50/original/all | size_mb 94 (needs <= 4, off by 2250.0 %); "
        "latency_p90_ms 30 (needs <= 1, off by 2900.0 %) |\n")


def test_a_value_at_its_limit_meets_it():
    selection = select(ranked(), {"min_metric": 0.96, "max_size_mb": 14.8, "max_latency_ms": 4.0})
    assert selection["feasible"] == 1 and selection["recommended"]["variant"] == "prune-filters-b2"
    assert selection["runner_up"] is None  # one feasible variant: no runner-up
    assert "Runner-up" not in to_markdown(selection)


def test_a_missing_column_breaks_the_constraint_unmeasured_and_a_zero_limit_misses_by_inf():
    from opscore.decide.selection import breaches

    row = pd.Series({"accuracy": 0.9, "size_mb": 2.0})
    # None limits are skipped, not the end of the checks
    assert breaches(row, {"max_latency_ms": None, "max_size_mb": 1.0}, "accuracy") == [
        {"constraint": "max_size_mb", "column": "size_mb", "limit": 1.0, "value": 2.0, "relative_miss": 1.0}]
    assert breaches(row, {"max_latency_ms": 5.0}, "accuracy") == [
        {"constraint": "max_latency_ms", "column": "latency_p90_ms", "limit": 5.0, "value": None,
         "relative_miss": float("inf")}]
    assert breaches(row, {"max_size_mb": 0.0}, "accuracy")[0]["relative_miss"] == float("inf")
    assert breaches(row, {"min_metric": 0.95}, "accuracy")[0]["relative_miss"] == pytest.approx(0.05 / 0.95)
    assert breaches(row, {"min_metric": 0.9, "max_size_mb": 2.0}, "accuracy") == []


def test_the_selection_names_its_dataset_and_metric_and_shows_plain_values(tmp_path):
    import numpy as np

    table = rank_table(ranked(f1_macro=[0.5, 0.9, 0.95, 0.6], deploy_peak_rss_mb=[1500.0, np.nan, 700.0, 2100.0]),
                       metric="f1_macro")
    selection = select(table, {"min_metric": 0.85, "max_size_mb": 10})
    assert selection["dataset"] == "digits" and selection["metric"] == "f1_macro"
    best = selection["recommended"]
    assert best["variant"] == "tflite-dynamic" and best["f1_macro"] == 0.95  # the metric is shown
    assert type(best["accuracy"]) is float and type(best["rank"]) is int  # numpy scalars made plain
    closest = select(table, {"max_size_mb": 1})["closest"]
    assert closest["f1_macro"] == 0.95
    assert select(table, {"min_metric": 0.85})["runner_up"]["f1_macro"] == 0.9
    assert select(table, {"min_metric": 0.85})["runner_up"]["deploy_peak_rss_mb"] is None  # NaN shown as None
    # without metric and dataset columns: accuracy, and no dataset name
    bare = select(table.drop(columns=["metric", "dataset"]), {})
    assert bare["metric"] == "accuracy" and bare["dataset"] is None
    with pytest.raises(ValueError, match=r"known: min_metric, max_latency_ms, max_size_mb, max_memory_mb"):
        select(table, {"max_watts": 3})
    # JSON indented, numpy numbers written as numbers
    write_selection({**selection, "extra": np.float32(0.5)}, tmp_path / "s.json", tmp_path / "s.md")
    text = (tmp_path / "s.json").read_text()
    assert text.startswith('{\n  "dataset": "digits",\n  "metric": "f1_macro",\n') and json.loads(text)["extra"] == 0.5
    assert (tmp_path / "s.md").read_text() == to_markdown(selection)


def test_a_single_variant_without_latency_or_memory_columns():
    table = ranked().drop(columns=["latency_p90_ms", "deploy_peak_rss_mb"])
    table = table[table["row"] != "variant"].pipe(lambda refs: pd.concat([table.iloc[[0]], refs]))
    selection = select(table, {})
    assert selection["dataset"] == "digits" and selection["metric"] == "accuracy" and selection["variants"] == 1
    markdown = to_markdown(selection)
    assert "Constraints: none (best OpScore)." in markdown
    assert "p90 latency unmeasured" in markdown and "memory deployed unmeasured" in markdown  # not measured: said so
