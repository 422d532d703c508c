"""Tests for opscore.decide.score: hand-computed OpScores, floors, time bases, ranking, MIN/MAX rows,
normalisation, Pareto front, errors (the ranking written out and its CLI: tests/test_ranking.py)."""
import math

import numpy as np
import pandas as pd
import pytest

from conftest import LOG2, variants
from opscore.decide.ranking import to_markdown
from opscore.decide.score import (
    bytes_to_mb,
    floored_error,
    opscore,
    pareto_front,
    rank_table,
    rank_tables_by,
    variant_rows,
)


# A: log10(0.1) + log10(10) + log10(2)  = -1 + 1 + 0.30103 =  0.30103
# B: log10(0.01) + log10(0.1) + log10(10) = -2 - 1 + 1     = -2
# C: log10(0.5) + log10(1) + log10(1)   = -0.30103
EXPECTED = {"A": LOG2, "B": -2.0, "C": -LOG2}


# ----------------------------------------------------------------------------- opscore()
@pytest.mark.parametrize("acc, t, size, expected", [
    (0.9, 10.0, 2.0, LOG2),
    (0.99, 0.1, 10.0, -2.0),
    (0.5, 1.0, 1.0, -LOG2),
    (0.0, 100.0, 1000.0, 0.0 + 2.0 + 3.0),
])
def test_opscore_scalar_hand_values(acc, t, size, expected):
    got = opscore(acc, t, size)
    assert isinstance(got, float)
    assert got == pytest.approx(expected, abs=1e-12)


def test_opscore_vectorised_numpy_and_series():
    acc = np.array([0.9, 0.99, 0.5])
    t = np.array([10.0, 0.1, 1.0])
    s = np.array([2.0, 10.0, 1.0])
    got = opscore(acc, t, s)
    assert isinstance(got, np.ndarray)
    np.testing.assert_allclose(got, [LOG2, -2.0, -LOG2], atol=1e-12)
    # Broadcasting a scalar size.
    np.testing.assert_allclose(opscore(acc, t, 1.0), [LOG2 - LOG2, -3.0, -LOG2], atol=1e-12)
    ser = opscore(pd.Series(acc, index=["x", "y", "z"]), pd.Series(t, index=["x", "y", "z"]), s)
    assert isinstance(ser, pd.Series)
    assert list(ser.index) == ["x", "y", "z"]
    assert ser["y"] == pytest.approx(-2.0)


def test_floor_at_one_over_n_test_and_flag():
    # Perfect accuracy with n_test = 1000: error floored to 1e-3 -> log10 = -3.
    assert opscore(1.0, 10.0, 2.0, n_test=1000) == pytest.approx(-3 + 1 + LOG2)
    error, floored = floored_error([1.0, 0.9995, 0.999, 0.9], n_test=1000)
    np.testing.assert_allclose(error, [1e-3, 1e-3, 1e-3, 0.1], rtol=1e-9)
    # 0.999 = 999/1000 is exactly one error: representable, not floored.
    assert floored.tolist() == [True, True, False, False]
    # Per-row n_test; unknown (NaN) n_test only matters for accuracy 1.0.
    # Exactly one error of two (err == floor) is not floored.
    error, floored = floored_error([0.5], n_test=2)
    assert error.tolist() == [0.5] and floored.tolist() == [False]
    error, floored = floored_error([1.0, 1.0, 0.9], n_test=[10, 100, np.nan])
    np.testing.assert_allclose(error, [0.1, 0.01, 0.1])
    assert floored.tolist() == [True, True, False]


def test_perfect_accuracy_without_n_test_is_an_error():
    with pytest.raises(ValueError, match="n_test"):
        opscore(1.0, 10.0, 2.0)
    with pytest.raises(ValueError, match="n_test"):
        rank_table(variants(accuracy=[0.9, 1.0, 0.5]))


def test_rank_table_floor_from_column_and_argument():
    # n_test column: B gets 1/50 -> log10(0.02); argument ignored where the column has a value.
    t = rank_table(variants(accuracy=[0.9, 1.0, 0.5], n_test=[50, 50, 50]), n_test=10)
    real = t[t["row"] == "variant"].set_index("model")
    assert real.loc["B", "log10_error"] == pytest.approx(math.log10(0.02))
    assert real.loc["B", "opscore"] == pytest.approx(math.log10(0.02) - 1 + 1)
    assert bool(real.loc["B", "error_floored"])
    assert not real.loc["A", "error_floored"] and not real.loc["C", "error_floored"]
    # No column: argument used.
    t = rank_table(variants(accuracy=[0.9, 1.0, 0.5]), n_test=10)
    real = t[t["row"] == "variant"].set_index("model")
    assert real.loc["B", "log10_error"] == pytest.approx(-1.0)
    assert bool(real.loc["B", "error_floored"])
    # Column with a gap: argument fills it.
    t = rank_table(variants(accuracy=[0.9, 1.0, 0.5], n_test=[50, np.nan, 50]), n_test=10)
    assert t.set_index("model").loc["B", "log10_error"] == pytest.approx(-1.0)


# ----------------------------------------------------------------------------- time bases
def test_time_basis_inference_train_total():
    df = variants()
    inf = rank_table(df).set_index("model")
    assert (inf.loc[["A", "B", "C"], "time_basis"] == "inference").all()
    for m, exp in EXPECTED.items():
        assert inf.loc[m, "opscore"] == pytest.approx(exp)
    assert inf.loc["A", "time_s"] == 10.0

    train = rank_table(df, time_basis="train").set_index("model")
    assert train.loc["A", "time_s"] == 100.0
    # A: -1 + log10(100) + log10(2) = 1.30103
    assert train.loc["A", "opscore"] == pytest.approx(1 + LOG2)
    assert (train.loc[["A", "B", "C"], "time_basis"] == "train").all()

    total = rank_table(df, time_basis="total").set_index("model")
    assert total.loc["B", "time_s"] == pytest.approx(1000.1)
    # C: log10(0.5) + log10(11) + 0
    assert total.loc["C", "opscore"] == pytest.approx(-LOG2 + math.log10(11))


def test_prep_time_counts_for_train_and_total_not_inference():
    df = variants(prep_time_s=[0.0, np.nan, 90.0])  # NaN prep counts as 0
    inf = rank_table(df).set_index("model")
    assert inf.loc["C", "time_s"] == 1.0
    train = rank_table(df, time_basis="train").set_index("model")
    assert train.loc["C", "time_s"] == 100.0  # 10 + 90
    assert train.loc["C", "opscore"] == pytest.approx(-LOG2 + 2.0)
    assert train.loc["B", "time_s"] == 1000.0
    total = rank_table(df, time_basis="total").set_index("model")
    assert total.loc["C", "time_s"] == 101.0  # 10 + 1 + 90
    assert total.loc["A", "time_s"] == 110.0


# ----------------------------------------------------------------------------- ranking
def test_ranking_order_and_rank_column():
    t = rank_table(variants())
    real = t[t["row"] == "variant"]
    assert real["model"].tolist() == ["B", "C", "A"]  # -2 < -0.301 < 0.301
    assert real["rank"].tolist() == [1, 2, 3]
    assert real["opscore"].is_monotonic_increasing
    assert t["row"].tolist() == ["variant"] * 3 + ["MIN", "MAX"]
    # Every input column is kept, with its values.
    for c in variants().columns:
        assert c in t.columns
    assert real.set_index("model").loc["A", "train_time_s"] == 100.0


def test_rank_ties_share_the_smaller_rank():
    df = variants(accuracy=[0.9, 0.9, 0.5], inference_time_s=[10.0, 10.0, 1.0], size_mb=[2.0, 2.0, 1.0])
    real = rank_table(df).query("row == 'variant'")
    assert real["model"].tolist() == ["C", "A", "B"]  # stable for the tie
    assert real["rank"].tolist() == [1, 2, 2]


def test_min_max_reference_rows_exact():
    t = rank_table(variants(seed=[1, 2, 3], measured=pd.to_datetime(["2022-01-01"] * 3)))
    ref = t[t["row"].isin(["MIN", "MAX"])].set_index("row")
    mn, mx = ref.loc["MIN"], ref.loc["MAX"]
    # Best per column (not a real row): max accuracy, min time, min size, min logs; the
    # fictitious MIN model is scored on those values (not the best real OpScore, -2).
    assert mn["accuracy"] == 0.99 and mx["accuracy"] == 0.5
    assert mn["time_s"] == 0.1 and mx["time_s"] == 10.0
    assert mn["size_mb"] == 1.0 and mx["size_mb"] == 10.0
    assert mn["log10_error"] == pytest.approx(-2.0) and mx["log10_error"] == pytest.approx(-LOG2)
    assert mn["log10_time"] == pytest.approx(-1.0) and mx["log10_time"] == pytest.approx(1.0)
    assert mn["log10_size"] == pytest.approx(0.0) and mx["log10_size"] == pytest.approx(1.0)
    assert mn["opscore"] == pytest.approx(-3.0) and mx["opscore"] == pytest.approx(2 - LOG2)
    assert mn["train_time_s"] == 10.0 and mx["train_time_s"] == 1000.0
    assert mn["accuracy_norm"] == 1.0 and mx["accuracy_norm"] == 0.0
    assert mn["opscore_norm"] == 0.0 and mx["opscore_norm"] == 1.0
    # Identifying text -> MIN/MAX; rank, pareto, flags and non-metric numbers -> NA.
    assert mn["model"] == "MIN" and mx["model"] == "MAX"
    assert mn["variant"] == "MIN" and mx["variant"] == "MAX"
    assert mn["time_basis"] == "inference"
    for c in ("rank", "pareto", "error_floored", "seed", "measured"):
        assert pd.isna(mn[c]) and pd.isna(mx[c]), c
    # Integer input stays integer for the real rows.
    assert t.loc[t["row"] == "variant", "seed"].tolist() == [2, 3, 1]


def test_min_max_rows_score_the_papers_table_5():
    """Arı & Çamlı, Table 5 (CIFAR-10): MIN = (0.93, 6.06 s, 8.1 MB) scores 0.54 and MAX =
    (0.21, 34 s, 180 MB) 3.68; each extreme sits in a different real row, as in the paper."""
    paper = pd.DataFrame({
        "model": ["VGG16", "ResNet50", "EfficientNetB0", "VGG19"],
        "accuracy": [0.93, 0.85, 0.21, 0.60],
        "inference_time_s": [20.0, 6.06, 34.0, 15.0],
        "size_mb": [60.0, 180.0, 8.1, 80.0],
        "train_time_s": [1.0, 1.0, 1.0, 1.0],
    })
    ref = rank_table(paper).set_index("row")
    assert round(ref.loc["MIN", "opscore"], 2) == 0.54
    assert round(ref.loc["MAX", "opscore"], 2) == 3.68
    real = ref.loc["variant"]
    assert (real["opscore"] > 0.54).all() and (real["opscore"] < 3.68).all()
    assert real["opscore_norm"].between(0, 1, inclusive="neither").all()
    assert ref.loc["MIN", "opscore_norm"] == 0.0 and ref.loc["MAX", "opscore_norm"] == 1.0


def test_normalised_columns():
    t = rank_table(variants()).set_index("model")
    # accuracy 0.9, 0.99, 0.5 -> (x - 0.5) / 0.49
    assert t.loc["A", "accuracy_norm"] == pytest.approx(0.4 / 0.49)
    assert t.loc["B", "accuracy_norm"] == pytest.approx(1.0)
    assert t.loc["C", "accuracy_norm"] == pytest.approx(0.0)
    # time 10, 0.1, 1 -> (x - 0.1) / 9.9
    assert t.loc["C", "time_s_norm"] == pytest.approx(0.9 / 9.9)
    assert t.loc["A", "time_s_norm"] == pytest.approx(1.0)
    # size 2, 10, 1 -> (x - 1) / 9
    assert t.loc["A", "size_mb_norm"] == pytest.approx(1 / 9)
    # opscore 0.30103, -2, -0.30103 between the MIN model (-3) and the MAX model (2 - 0.30103)
    assert t.loc["C", "opscore_norm"] == pytest.approx((3 - LOG2) / (5 - LOG2))
    assert t.loc["B", "opscore_norm"] == pytest.approx(1 / (5 - LOG2))


def test_constant_column_normalises_to_zero():
    t = rank_table(variants(size_mb=[3.0, 3.0, 3.0]))
    assert (t["size_mb_norm"] == 0.0).all()
    assert t.loc[t["row"] == "MIN", "size_mb"].item() == 3.0


# ----------------------------------------------------------------------------- Pareto
def test_pareto_front_dominated_and_tie():
    df = pd.DataFrame({
        "name": ["A", "A2", "B", "C", "E", "F"],
        "accuracy":         [0.90, 0.90, 0.80, 0.95, 0.90, 0.70],
        "inference_time_s": [10.0, 10.0, 20.0, 30.0, 10.0, 1.0],
        "size_mb":          [2.0,  2.0,  3.0,  5.0,  3.0,  9.0],
    }, index=list("pqrstu"))
    front = pareto_front(df)
    assert front.dtype == bool
    assert list(front.index) == list("pqrstu")
    # A and A2 identical: both on the front. B worse than A everywhere: dominated.
    # C most accurate: front. E equals A except larger: dominated. F fastest: front.
    assert front.tolist() == [True, True, False, True, False, True]
    # Custom objectives: only size matters -> A and A2 (2 MB) tie on the front.
    only_size = pareto_front(df, maximise=[], minimise=["size_mb"])
    assert only_size.tolist() == [True, True, False, False, False, False]


def test_rank_table_pareto_uses_chosen_time_basis():
    # Inference basis: nobody dominates anybody in the base table.
    t = rank_table(variants()).set_index("model")
    assert t.loc[["A", "B", "C"], "pareto"].tolist() == [True, True, True]
    # D: same accuracy and size as A; slower at inference (20 vs 10 s), faster to train (50 vs 100 s).
    d = pd.DataFrame({"model": ["D"], "variant": ["d"], "accuracy": [0.9], "train_time_s": [50.0],
                      "inference_time_s": [20.0], "size_mb": [2.0]})
    df = pd.concat([variants(), d], ignore_index=True)
    inf = rank_table(df).set_index("model")
    assert inf.loc["A", "pareto"] and not inf.loc["D", "pareto"]
    train = rank_table(df, time_basis="train").set_index("model")
    assert not train.loc["A", "pareto"] and train.loc["D", "pareto"]


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize("col, value, pattern", [
    ("inference_time_s", 0.0, "time_s.*model=B"),
    ("inference_time_s", -1.0, "time_s.*model=B"),
    ("size_mb", 0.0, "size_mb.*model=B"),
    ("size_mb", np.nan, "size_mb.*model=B"),
    ("accuracy", 1.5, "accuracy.*model=B"),
])
def test_bad_values_name_the_row(col, value, pattern):
    df = variants()
    df.loc[1, col] = value
    with pytest.raises(ValueError, match=pattern):
        rank_table(df)


def test_other_errors():
    with pytest.raises(ValueError, match="time_s"):
        opscore(0.9, 0.0, 1.0)
    with pytest.raises(ValueError, match="size_mb"):
        opscore([0.9, 0.8], [1.0, 1.0], [1.0, -2.0])
    with pytest.raises(ValueError, match="time_basis"):
        rank_table(variants(), time_basis="wall")
    with pytest.raises(ValueError, match="train_time_s"):
        rank_table(variants().drop(columns="train_time_s"), time_basis="total")
    with pytest.raises(ValueError, match="size_mb"):
        rank_table(variants().drop(columns="size_mb"))
    with pytest.raises(ValueError, match="n_test must be positive"):
        opscore(0.9, 1.0, 1.0, n_test=0)
    with pytest.raises(ValueError, match="no rows"):
        rank_table(variants().iloc[:0])


# ----------------------------------------------------------------------------- sizes, groups, re-ranking
def test_size_in_mb_is_bytes_over_1e6():
    assert bytes_to_mb(2_500_000) == 2.5
    df = variants().drop(columns="size_mb")
    df["size_bytes"] = [2_000_000, 10_000_000, 1_000_000]
    t = rank_table(df).set_index("model")
    assert t.loc["A", "size_mb"] == 2.0
    assert t.loc["A", "opscore"] == pytest.approx(LOG2)


def test_rank_tables_by_dataset():
    d1 = variants(dataset="cifar10")
    d2 = variants(dataset="mnist", accuracy=[0.5, 0.9, 0.99])
    t = rank_tables_by(pd.concat([d1, d2], ignore_index=True))
    assert t["dataset"].tolist() == ["cifar10"] * 5 + ["mnist"] * 5
    assert t["row"].tolist() == (["variant"] * 3 + ["MIN", "MAX"]) * 2
    mnist = t[(t["dataset"] == "mnist") & (t["row"] == "variant")]
    # mnist A: log10(0.5)+1+log10(2) = 1; B: -1-1+1 = -1; C: -2+0+0 = -2
    assert mnist["model"].tolist() == ["C", "B", "A"]
    assert mnist["opscore"].tolist() == pytest.approx([-2.0, -1.0, 1.0])
    # the MIN model: error 0.01, 0.1 s, 1 MB
    assert t.loc[(t["dataset"] == "mnist") & (t["row"] == "MIN"), "opscore"].item() == pytest.approx(-3.0)
    with pytest.raises(ValueError, match="dataset"):
        rank_tables_by(variants())


def test_re_ranking_a_ranked_table_is_stable():
    t = rank_table(variants())
    again = rank_table(t, time_basis="train")
    assert again["row"].tolist() == ["variant"] * 3 + ["MIN", "MAX"]
    assert again.set_index("model").loc["A", "opscore"] == pytest.approx(1 + LOG2)


# ----------------------------------------------------------------------------- quality metric
def test_f1_macro_ranks_a_one_class_model_below_one_that_finds_the_positives():
    """~0.5 % positives: accuracy cannot tell a model that never flags one from one that
    finds them; macro F1 (and balanced accuracy) can, and the ranking follows it."""
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    from opscore.measure.quality import classification_metrics

    x, y = make_classification(n_samples=20000, n_features=12, n_informative=6, weights=[0.995],
                               flip_y=0, class_sep=2.0, random_state=0)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.3, stratify=y, random_state=0)
    finder = LogisticRegression(max_iter=1000, class_weight="balanced").fit(x_train, y_train)
    one_class = np.column_stack([np.ones(len(y_test)), np.zeros(len(y_test))])
    rows = []
    for model, probabilities in (("never-positive", one_class), ("finder", finder.predict_proba(x_test))):
        rows.append({"model": model, **classification_metrics(y_test, probabilities),
                     "inference_time_s": 1.0, "size_mb": 1.0, "train_time_s": 1.0})
    measured = pd.DataFrame(rows)
    assert measured.set_index("model").loc["never-positive", "accuracy"] > 0.99
    for metric in ("f1_macro", "balanced_accuracy", "recall_macro"):
        ranked = rank_table(measured, metric=metric).query("row == 'variant'")
        assert ranked["model"].tolist() == ["finder", "never-positive"], metric
        assert (ranked["metric"] == metric).all()
        assert f"{metric}_norm" in ranked.columns
    quality = rank_table(measured, metric="auc").set_index("row")
    assert quality.loc["MIN", "auc_ovr"] == measured["auc_ovr"].max()
    assert "f1_macro" in to_markdown(rank_table(measured, metric="f1_macro"))
    with pytest.raises(ValueError, match="metric must be one of"):
        rank_table(measured, metric="kappa")


# ----------------------------------------------------------------------------- time statistic
def stalled_variants():
    """Two variants of the same architecture: B has one stalled repeat (the default run's
    VGG16 cluster-k64: ~2.6 s a repeat, one of 10.3 s)."""
    return pd.DataFrame({
        "model": ["VGG16", "VGG16"], "variant": ["original", "cluster-k64"], "unfreeze": ["all", "all"],
        "accuracy": [0.95, 0.95], "size_mb": [58.9, 58.9], "train_time_s": [10.0, 10.0], "repeats": [10, 10],
        "inference_total_s": [26.0, 33.7], "inference_median_s": [2.6, 2.6], "inference_min_s": [2.5, 2.55],
        "inference_cv": [0.01, 0.9], "timing_unstable": [False, True], "inference_time_s": [26.0, 26.0],
    })


def test_time_statistic_median_total_and_min():
    df = stalled_variants()
    by = {stat: rank_table(df, time_statistic=stat).query("row == 'variant'").set_index("variant")
          for stat in ("median", "total", "min")}
    assert by["median"].loc["cluster-k64", "time_s"] == pytest.approx(26.0)
    assert by["total"].loc["cluster-k64", "time_s"] == pytest.approx(33.7)
    assert by["min"].loc["cluster-k64", "time_s"] == pytest.approx(25.5)
    assert (by["median"]["time_statistic"] == "median").all()
    # under the median the two share their score; under the total the stall decides
    assert by["median"]["opscore"].nunique() == 1
    assert by["total"].loc["cluster-k64", "opscore"] > by["total"].loc["original", "opscore"]
    with pytest.raises(ValueError, match="inference_median_s"):
        rank_table(df.drop(columns="inference_median_s"), time_statistic="median")


def test_times_within_noise_are_named():
    df = stalled_variants()
    df.loc[0, "inference_median_s"] = 2.7  # 4 % apart: inside B's 90 % spread
    ranked = rank_table(df, time_statistic="median").query("row == 'variant'").set_index("variant")
    assert ranked.loc["original", "time_ties"] == "VGG16/cluster-k64/all"
    assert ranked.loc["cluster-k64", "time_ties"] == "VGG16/original/all"
    note = to_markdown(rank_table(df, time_statistic="median"))
    assert "noise" in note and "UNSTABLE" in note
    quiet = df.assign(inference_cv=[0.001, 0.001])
    assert (rank_table(quiet, time_statistic="median").query("row == 'variant'")["time_ties"] == "").all()


# ----------------------------------------------------------------------------- what mutation testing asked for
def test_bytes_to_mb_keeps_the_type_it_is_given():
    assert bytes_to_mb(np.int64(1_500_000)) == 1.5 and type(bytes_to_mb(np.int64(1_500_000))) is float
    out = bytes_to_mb([1_000_000, 2_500_000])
    assert isinstance(out, np.ndarray) and out.dtype == float and out.tolist() == [1.0, 2.5]
    series = bytes_to_mb(pd.Series([3_000_000, 500_000], index=["a", "b"]))
    assert series.dtype == float and series.to_dict() == {"a": 3.0, "b": 0.5}


def test_bad_accuracies_are_named_five_at_most():
    with pytest.raises(ValueError) as error:
        floored_error([1.5, -0.1, 2.0, 3.0, 4.0, 5.0, 6.0, 0.5])
    assert str(error.value) == ("accuracy must be a fraction in [0, 1]; bad value at row 0, row 1, row 2, "
                                "row 3, row 4 (and 2 more)")
    with pytest.raises(ValueError) as error:
        floored_error([1.5, -0.1, 2.0, 3.0, 4.0, 0.5])
    assert str(error.value).endswith("bad value at row 0, row 1, row 2, row 3, row 4")  # exactly five: no "more"


def test_opscore_of_a_series_is_named_and_arrays_broadcast():
    got = opscore(pd.Series([0.9, 0.99], index=["x", "y"]), 10.0, 2.0)
    assert got.name == "opscore" and list(got.index) == ["x", "y"]
    grid = opscore(np.array([[0.9], [0.99]]), np.array([10.0, 0.1]), 2.0)
    assert grid.shape == (2, 2)
    np.testing.assert_allclose(grid, [[LOG2, -2 + LOG2], [-1 + LOG2, -3 + LOG2]])


def test_direction_of_columns():
    from opscore.decide.score import _direction

    higher = ("accuracy", "f1_macro", "auc_ovr", "balanced_accuracy", "accuracy_norm", "top5_accuracy",
              "flops_speedup")
    lower = ("opscore", "time_s", "size_mb", "size_bytes", "error", "loss", "flops", "param_bytes", "train_time_s",
             "top1_error", "val_loss", "latency_p90_ms", "peak_rss_mb", "log10_time", "size_mb_norm", "opscore_norm")
    neutral = ("params", "epochs", "model", "n_test", "normalised", "accuracy_drop")
    assert [_direction(c) for c in higher] == [1] * len(higher)
    assert [_direction(c) for c in lower] == [-1] * len(lower)
    assert [_direction(c) for c in neutral] == [0] * len(neutral)


def test_time_statistic_errors_name_what_is_wrong():
    from opscore.decide.score import apply_time_statistic

    with pytest.raises(ValueError) as error:
        apply_time_statistic(variants(), "mean")
    assert str(error.value) == "time statistic must be one of median, min, total; got 'mean'"
    with pytest.raises(ValueError) as error:
        apply_time_statistic(variants(), "min")
    assert str(error.value) == "time statistic 'min' needs column(s) inference_min_s, repeats"
    ints = apply_time_statistic(variants(inference_median_s=[2, 3, 4], repeats=[10, 10, 10]), "median")
    assert ints["inference_time_s"].tolist() == [20.0, 30.0, 40.0] and ints["inference_time_s"].dtype == float


def test_rank_tables_by_passes_every_option_to_each_group_in_order_of_appearance():
    rows = {"f1_macro": [0.8, 0.9, 0.4], "inference_min_s": [1.0, 0.01, 0.1], "repeats": 10}
    mnist = variants(dataset="mnist", split="70-30", **rows).assign(accuracy=[0.9, 1.0, 0.5])
    cifar = variants(dataset="cifar10", split=np.nan, **rows)  # a missing split is a group of its own
    options = {"time_basis": "train", "n_test": 100, "metric": "f1_macro", "time_statistic": "min"}
    got = rank_tables_by(pd.concat([mnist, cifar], ignore_index=True), by=["dataset", "split"], **options)
    expected = pd.concat([rank_table(part, context_columns=["dataset", "split"], **options) for part in (mnist, cifar)],
                         ignore_index=True)
    pd.testing.assert_frame_equal(got, expected)
    assert got["dataset"].tolist() == ["mnist"] * 5 + ["cifar10"] * 5  # not sorted by name
    assert (got["time_statistic"] == "min").all() and (got["metric"] == "f1_macro").all()
    with pytest.raises(ValueError) as error:
        rank_tables_by(variants(), by=["dataset", "seed"])
    assert str(error.value) == "rank_tables_by: missing grouping column(s) dataset, seed"
    with pytest.raises(ValueError) as error:
        rank_tables_by(variants(dataset="d").iloc[:0])
    assert str(error.value) == "rank_tables_by: no rows to rank"


def test_time_ties_at_the_edge_of_the_noise_and_only_on_the_inference_basis():
    from opscore.decide.score import time_ties

    # spreads 0.25 s for A (cv 25 %), 0 for the others; |A - B| = |A - C| = 0.25 (tie, at the edge),
    # |B - C| = 0.5; D's cv unknown counts as no spread
    table = pd.DataFrame({"model": ["A", "B", "C", "D"], "variant": "v", "unfreeze": "all",
                          "time_s": [1.0, 1.25, 0.75, 4.0], "inference_cv": [0.25, 0.0, 0.0, np.nan]},
                         index=[10, 11, 12, 13])
    ties = time_ties(table)
    assert ties.name == "time_ties" and list(ties.index) == [10, 11, 12, 13]
    assert ties.tolist() == ["B/v/all; C/v/all", "A/v/all", "A/v/all", ""]
    assert time_ties(table.assign(time_basis="inference")).tolist() == ties.tolist()
    for other in (table.assign(time_basis="latency"), table.drop(columns="inference_cv")):
        none = time_ties(other)
        assert none.tolist() == [""] * 4 and none.name == "time_ties" and list(none.index) == [10, 11, 12, 13]


def test_time_for_basis_latency_and_its_errors():
    from opscore.decide.score import time_for_basis

    table = pd.DataFrame({"latency_p90_ms": [2, 500], "train_time_s": [1.0, 2.0], "inference_time_s": [3.0, 4.0],
                          "prep_time_s": [np.nan, 0.5]}, index=["a", "b"])
    latency = time_for_basis(table, "latency")
    assert latency.name == "time_s" and latency.to_dict() == {"a": 0.002, "b": 0.5}
    total = time_for_basis(table, "total")
    assert total.name == "time_s" and total.to_dict() == {"a": 4.0, "b": 6.5}  # prep time NaN counts as 0
    with pytest.raises(ValueError) as error:
        time_for_basis(table.drop(columns="latency_p90_ms"), "latency")
    assert str(error.value) == "time basis 'latency' needs column(s) latency_p90_ms"
    with pytest.raises(ValueError) as error:
        time_for_basis(table.drop(columns=["train_time_s", "inference_time_s"]), "total")
    assert str(error.value) == "time basis 'total' needs column(s) train_time_s, inference_time_s"
    with pytest.raises(ValueError) as error:
        time_for_basis(table, "wall")
    assert str(error.value) == "time_basis must be one of inference, train, total, latency; got 'wall'"


def test_pareto_front_errors_and_empty_tables():
    front = pareto_front(pd.DataFrame({"accuracy": [0.9, 0.8], "inference_time_s": [1, 2], "size_mb": [1, 2]},
                                      index=["x", "y"]))
    assert front.name == "pareto" and front.to_dict() == {"x": True, "y": False}
    empty = pareto_front(pd.DataFrame({"accuracy": [], "inference_time_s": [], "size_mb": []}))
    assert empty.name == "pareto" and len(empty) == 0
    with pytest.raises(ValueError) as error:
        pareto_front(pd.DataFrame({"accuracy": [0.9]}))
    assert str(error.value) == "pareto_front: missing column(s) inference_time_s, size_mb"
    with pytest.raises(ValueError) as error:
        pareto_front(pd.DataFrame({"accuracy": [0.9]}), maximise=[], minimise=[])
    assert str(error.value) == "pareto_front: no columns to compare"
    with pytest.raises(ValueError) as error:
        pareto_front(pd.DataFrame({"accuracy": [0.9, np.nan], "inference_time_s": [1, 2], "size_mb": [1, 2]}))
    assert str(error.value) == "pareto_front: missing values in accuracy, inference_time_s, size_mb"


def test_text_where_a_number_belongs_is_refused_by_name():
    for args, name in ((("high", 10.0, 2.0), "accuracy"), ((0.9, "slow", 2.0), "time_s"),
                       ((0.9, 10.0, "big"), "size_mb"), (([0.9, 0.8], 10.0, 2.0, ["many", "few"]), "n_test")):
        with pytest.raises(ValueError) as error:
            opscore(*args)
        assert str(error.value).startswith(f"{name} must be numeric: "), args
    with pytest.raises(ValueError) as error:
        floored_error(["high"])
    assert str(error.value).startswith("accuracy must be numeric: ")
    with pytest.raises(ValueError) as error:
        floored_error([0.5], n_test="many")
    assert str(error.value).startswith("n_test must be numeric: ")


def test_errors_name_the_row_word_for_word():
    """By position and identity in a table, by index label for a Series, by position otherwise."""
    bad_size = variants()
    bad_size.loc[1, "size_mb"] = 0.0
    bad_time = variants()
    bad_time.loc[2, "inference_time_s"] = -1.0
    for table, message in (
            (bad_size, "size_mb must be positive and finite; bad value at row 1 (model=B, variant=pruned)"),
            (bad_time, "time_s must be positive and finite; bad value at row 2 (model=C, variant=clustered)"),
            (bad_size.drop(columns=["model", "variant"]), "size_mb must be positive and finite; bad value at row 1"),
            (variants().iloc[:0], "rank_table: no rows to rank"),
            (variants().drop(columns="size_mb"), "rank_table: missing column(s) size_mb")):
        with pytest.raises(ValueError) as error:
            rank_table(table)
        assert str(error.value) == message
    with pytest.raises(ValueError) as error:
        rank_table(variants().drop(columns="size_mb"), metric="f1_macro")
    assert str(error.value) == "rank_table: missing column(s) f1_macro, size_mb"
    with pytest.raises(ValueError) as error:
        rank_table(variants(), metric="watts")
    assert str(error.value) == ("metric must be one of accuracy, balanced_accuracy, f1_macro, recall_macro, "
                                "precision_macro, auc; got 'watts'")
    with pytest.raises(ValueError) as error:
        opscore(pd.Series([0.9, 0.9], index=["a", "b"]), pd.Series([1.0, 0.0], index=["a", "b"]), 2.0)
    assert str(error.value) == "time_s must be positive and finite; bad value at index 'b'"
    with pytest.raises(ValueError) as error:
        floored_error([0.5, 0.5, 0.5], n_test=[10, 0, 20])
    assert str(error.value) == "n_test must be positive; bad value at row 1"
    with pytest.raises(ValueError) as error:
        floored_error([0.5, 1.0])
    assert str(error.value) == ("accuracy is 1.0 (log10 error = -inf) and no n_test is known to floor the error at "
                                "1/n_test: row 1; add an n_test column or pass n_test")


def test_n_test_per_cell_of_a_broadcast_grid():
    # accuracy per row (1.0 and 0.9), time per column (10 s and 0.1 s), 2 MB; n_test per row: 100 floors the
    # perfect row at 1/100, 1000 leaves 0.9's error of 0.1 as it is
    grid = opscore(np.array([[1.0], [0.9]]), np.array([10.0, 0.1]), 2.0, n_test=np.array([[100], [1000]]))
    np.testing.assert_allclose(grid, [[-2 + 1 + LOG2, -2 - 1 + LOG2], [-1 + 1 + LOG2, -1 - 1 + LOG2]])


def test_ranked_table_columns_types_and_index():
    """Integer and flag columns stay integer and boolean, nullable so that the MIN/MAX rows hold NA; the
    ranked rows get a fresh index (no stray index column) and the reference rows are two whatever the columns."""
    given = variants(seed=[1, 2, 3], timing_unstable=[False, True, False], under_5_mb=[True, False, True],
                     measured=pd.to_datetime(["2022-01-01"] * 3)).set_axis([7, 8, 9])
    t = rank_table(given)
    assert list(t.columns) == [
        *given.columns, "metric", "time_basis", "time_s", "log10_error", "log10_time", "log10_size", "opscore",
        "error_floored", "pareto", "time_ties", "rank", "row", "accuracy_norm", "time_s_norm", "size_mb_norm",
        "opscore_norm"]
    assert list(t.index) == [0, 1, 2, 3, 4] and t["row"].tolist() == ["variant"] * 3 + ["MIN", "MAX"]
    assert t["seed"].dtype == "Int64" and t["rank"].dtype == "Int64"
    for flag in ("timing_unstable", "error_floored", "pareto"):
        assert t[flag].dtype == "boolean", flag
    assert t["timing_unstable"].iloc[:3].tolist() == [True, False, False]  # B, C, A
    assert t["timing_unstable"].iloc[3:].isna().all()
    assert t["under_5_mb"].iloc[3:].isna().all()  # a flag has no best or worst, whatever its name says
    real = variant_rows(t)
    assert list(real.columns) == list(t.columns) and list(real.index) == [0, 1, 2]
    assert real["model"].tolist() == ["B", "C", "A"]


def test_a_given_size_in_mb_wins_over_size_bytes():
    # size_bytes of 5 MB everywhere would give A log10(0.1) + 1 + log10(5); the given 2 MB are kept
    t = rank_table(variants(size_bytes=[5_000_000] * 3)).set_index("model")
    assert t.loc["A", "size_mb"] == 2.0 and t.loc["A", "opscore"] == pytest.approx(LOG2)


def test_pareto_front_on_the_ranked_metric():
    # A is the more accurate, B has the better macro F1; same time and size: the metric decides who is dominated
    df = pd.DataFrame({"model": ["A", "B"], "accuracy": [0.9, 0.8], "f1_macro": [0.5, 0.7],
                       "inference_time_s": [1.0, 1.0], "size_mb": [1.0, 1.0]})
    for metric, front in (("f1_macro", {"A": False, "B": True}), ("accuracy", {"A": True, "B": False})):
        real = variant_rows(rank_table(df, metric=metric))
        assert dict(zip(real["model"], real["pareto"].tolist(), strict=True)) == front, metric


def test_time_for_basis_defaults_to_inference_and_an_unknown_spread_is_none():
    from opscore.decide.score import time_for_basis, time_ties

    table = pd.DataFrame({"train_time_s": [1.0, 2.0], "inference_time_s": [3.0, 4.0]})
    assert time_for_basis(table).tolist() == [3.0, 4.0]
    # D's cv unknown: its own spread counts as none, A's 25 % still covers the 0.2 s between them
    ties = time_ties(pd.DataFrame({"model": ["A", "D"], "variant": "v", "time_s": [1.0, 1.2],
                                   "inference_cv": [0.25, np.nan]}))
    assert ties.tolist() == ["D/v", "A/v"]


def test_many_tied_variants_keep_their_order_and_share_their_rank():
    # 18 variants, 1 s and 1 MB each, accuracy 0.9, 0.99, 0.5 in turn: OpScores -1, -2 and -0.301 six times each
    df = pd.DataFrame({"model": [f"m{i:02d}" for i in range(18)], "accuracy": [0.9, 0.99, 0.5] * 6,
                       "inference_time_s": 1.0, "size_mb": 1.0})
    real = variant_rows(rank_table(df))
    assert real["model"].tolist() == [f"m{i:02d}" for first in (1, 0, 2) for i in range(first, 18, 3)]
    assert real["rank"].tolist() == [1] * 6 + [7] * 6 + [13] * 6


def test_a_single_variant_is_its_own_min_and_max():
    t = rank_table(variants(inference_cv=[0.1, 0.1, 0.1]).iloc[:1]).set_index("row")
    assert t.loc["variant", "opscore"] == pytest.approx(LOG2) and t.loc["variant", "rank"] == 1
    assert bool(t.loc["variant", "pareto"]) and t.loc["variant", "time_ties"] == ""
    for row in ("MIN", "MAX"):
        assert t.loc[row, ["accuracy", "time_s", "size_mb"]].tolist() == [0.9, 10.0, 2.0]
        assert t.loc[row, "opscore"] == pytest.approx(LOG2)
    assert (t[["accuracy_norm", "time_s_norm", "size_mb_norm", "opscore_norm"]] == 0.0).all().all()


def test_the_interval_of_the_ranked_metric_is_carried_over():
    intervals = {"accuracy_ci_low": [0.85, 0.98, 0.45], "accuracy_ci_high": [0.95, 1.0, 0.55],
                 "f1_macro": [0.8, 0.9, 0.4], "f1_macro_ci_low": [0.7, 0.85, 0.3], "f1_macro_ci_high": [0.88, 0.95, 0.5]}
    by_accuracy = variant_rows(rank_table(variants(**intervals))).set_index("model")  # B, C, A
    assert by_accuracy.loc[["A", "B", "C"], "metric_ci_low"].tolist() == [0.85, 0.98, 0.45]
    assert by_accuracy.loc[["A", "B", "C"], "metric_ci_high"].tolist() == [0.95, 1.0, 0.55]
    by_f1 = variant_rows(rank_table(variants(**intervals), metric="f1_macro")).set_index("model")
    assert by_f1.loc[["A", "B", "C"], "metric_ci_low"].tolist() == [0.7, 0.85, 0.3]
    assert by_f1.loc[["A", "B", "C"], "metric_ci_high"].tolist() == [0.88, 0.95, 0.5]
    assert "metric_ci_low" not in rank_table(variants()).columns  # no interval measured, none shown


def test_a_variant_not_applicable_to_its_model_is_listed_last_with_its_reason_and_not_ranked():
    table = variants(not_applicable=[None, None, None])
    skipped = pd.DataFrame({"model": ["A"], "variant": ["qat"], "not_applicable": ["no layer it supports"],
                            "accuracy": [np.nan], "inference_time_s": [np.nan], "size_mb": [np.nan]})
    ranked = rank_table(pd.concat([table, skipped], ignore_index=True))
    assert list(ranked["row"]) == ["variant"] * 3 + ["MIN", "MAX", "not applicable"]
    last = ranked.iloc[-1]
    assert (last["variant"], last["not_applicable"]) == ("qat", "no layer it supports") and pd.isna(last["rank"])
    assert dict(zip(ranked["model"][:3], ranked["opscore"][:3], strict=True)) == pytest.approx(EXPECTED)
    assert list(variant_rows(ranked)["model"]) == ["B", "C", "A"]
