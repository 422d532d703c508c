"""Quality with its uncertainty (opscore.measure.uncertainty): intervals that hold the estimate and narrow
with more test examples, the same conventions as scikit-learn's metrics, paired comparisons."""
import numpy as np
import pytest

from opscore.measure import uncertainty
from opscore.measure.quality import classification_metrics


def predictions(n: int, n_classes: int = 10, right: float = 0.9, seed: int = 0):
    """Labels, and probabilities whose argmax is right on a share ``right`` of the examples."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, n)
    guess = np.where(rng.random(n) < right, y, (y + rng.integers(1, n_classes, n)) % n_classes)
    probabilities = rng.random((n, n_classes)) * 0.5
    probabilities[np.arange(n), guess] += 1.0
    return y, probabilities / probabilities.sum(axis=1, keepdims=True)


def test_wilson_matches_scipys_and_stays_inside_0_1():
    from scipy.stats import binomtest

    reference = binomtest(515, 540).proportion_ci(method="wilson")  # the default run's 0.9537
    assert uncertainty.wilson(515, 540) == pytest.approx((reference.low, reference.high), abs=1e-9)
    perfect, none = uncertainty.wilson(540, 540), uncertainty.wilson(0, 540)
    assert perfect[1] == pytest.approx(1.0) and perfect[1] <= 1.0 and perfect[0] > 0.99
    assert none[0] == pytest.approx(0.0) and none[0] >= 0.0 and none[1] < 0.01


def test_the_bootstrap_metrics_equal_scikit_learns_on_the_whole_split():
    y, probabilities = predictions(300, n_classes=4, right=0.7)
    predicted = probabilities.argmax(axis=1)
    predicted[predicted == 3] = 2  # a class never predicted: precision 0 by scikit-learn's convention
    one_hot = np.eye(4)[predicted]
    whole = uncertainty.label_metrics(y, predicted, 4, np.arange(300)[None, :])
    expected = classification_metrics(y, one_hot)
    for name in uncertainty.LABEL_METRICS:
        assert whole[name][0] == pytest.approx(expected[name]), name


@pytest.mark.parametrize("n_classes", [2, 5])
def test_the_bootstrap_auc_equals_scikit_learns_ties_included(n_classes):
    y, probabilities = predictions(400, n_classes=n_classes, right=0.6)
    rounded = np.round(probabilities, 1)  # quantized outputs (int8 TFLite): many tied scores
    rounded = rounded / rounded.sum(axis=1, keepdims=True)
    for p in (probabilities, rounded):
        assert uncertainty.weighted_auc(y, p, np.ones((1, 400)))[0] == pytest.approx(classification_metrics(y, p)["auc_ovr"])
    twice = np.r_[np.arange(400), np.arange(200)]  # a resample: the first half drawn twice
    expected = classification_metrics(y[twice], probabilities[twice])["auc_ovr"]
    counts = np.r_[np.full(200, 2.0), np.ones(200)][None, :]
    assert uncertainty.weighted_auc(y, probabilities, counts)[0] == pytest.approx(expected)


@pytest.mark.parametrize("n_classes", [2, 10])
def test_intervals_hold_the_estimate_and_narrow_with_more_test_rows(n_classes):
    widths = []
    for n in (200, 1800):
        y, probabilities = predictions(n, n_classes)
        point = classification_metrics(y, probabilities)
        ci = uncertainty.intervals(y, probabilities, seed=0)
        for column in ("accuracy", "balanced_accuracy", "precision_macro", "recall_macro", "f1_macro", "auc_ovr"):
            assert ci[f"{column}_ci_low"] <= point[column] <= ci[f"{column}_ci_high"], (n, column)
        widths.append({c: ci[f"{c}_ci_high"] - ci[f"{c}_ci_low"] for c in ("accuracy", "f1_macro", "auc_ovr")})
    for column, width in widths[0].items():  # 9x the rows: about a third of the width
        assert widths[1][column] < 0.5 * width, column


def test_the_bootstrap_is_seeded():
    y, probabilities = predictions(300)
    assert uncertainty.intervals(y, probabilities, seed=3) == uncertainty.intervals(y, probabilities, seed=3)
    assert uncertainty.intervals(y, probabilities, seed=3) != uncertainty.intervals(y, probabilities, seed=4)


def test_one_image_of_540_is_no_quality_difference():
    y, probabilities = predictions(540)
    a = probabilities.argmax(axis=1)
    b = a.copy()
    wrong = np.flatnonzero(a == y)[0]
    b[wrong] = (y[wrong] + 1) % 10  # b gets one image wrong that a gets right
    for metric in ("accuracy", "f1_macro"):
        result = uncertainty.compare(y, a, b, 10, metric)
        assert result["differ"] == 1 and not result["significant"], metric
    assert uncertainty.mcnemar(a == y, b == y) == {"only_a": 1, "only_b": 0, "p_value": 1.0,
                                                   "method": "McNemar exact"}


def test_a_real_difference_is_significant():
    y, probabilities = predictions(540, right=0.95)
    worse = probabilities.argmax(axis=1).copy()
    worse[:60] = (y[:60] + 1) % 10  # 60 more images wrong
    result = uncertainty.compare(y, probabilities.argmax(axis=1), worse, 10, "accuracy")
    assert result["significant"] and result["p_value"] < 1e-6 and result["only_b"] == 0
    bootstrap = uncertainty.compare(y, probabilities.argmax(axis=1), worse, 10, "f1_macro")
    assert bootstrap["significant"] and bootstrap["ci_low"] > 0


def test_wilson_at_the_edges_of_the_sample_size():
    from scipy.stats import binomtest

    assert all(np.isnan(uncertainty.wilson(0, 0)))  # no test example: no interval
    # the formula leaves [0, 1] by a rounding error here (1.0000000000000002 and -1.4e-17): clamped
    assert uncertainty.wilson(16, 16)[1] == 1.0 and uncertainty.wilson(0, 21)[0] == 0.0
    for successes, n in ((1, 1), (0, 1), (3, 10)):
        reference = binomtest(successes, n).proportion_ci(method="wilson")
        assert uncertainty.wilson(successes, n) == pytest.approx((reference.low, reference.high), abs=1e-9)


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
def test_label_metrics_of_a_resample_missing_classes_follow_scikit_learn():
    """Class 3 has one example, class 4 is predicted once but has none, class 5 is absent from both:
    recall, precision and F1 of 0 for the absent ones in the macro means over all six classes; balanced
    accuracy over the four classes present."""
    y = np.array([0, 0, 1, 1, 2, 2, 3])
    predicted = np.array([0, 4, 1, 0, 2, 2, 3])
    got = uncertainty.label_metrics(y, predicted, 6, np.arange(7)[None, :])
    expected = classification_metrics(y, np.eye(6)[predicted])
    for name in uncertainty.LABEL_METRICS:
        assert got[name][0] == pytest.approx(expected[name]), name
    # by hand: recall 1/2, 1/2, 1, 1, 0, 0; precision 1/2, 1, 1, 1, 0, 0; F1 1/2, 2/3, 1, 1, 0, 0
    assert got["accuracy"][0] == pytest.approx(5 / 7) and got["recall_macro"][0] == pytest.approx(3 / 6)
    assert got["precision_macro"][0] == pytest.approx(3.5 / 6) and got["f1_macro"][0] == pytest.approx((19 / 6) / 6)
    assert got["balanced_accuracy"][0] == pytest.approx(3 / 4)


def test_resamples_come_in_seeded_chunks_and_are_counted_per_example():
    chunks = list(uncertainty._resamples(7, 250, seed=5))
    assert [c.shape for c in chunks] == [(100, 7), (100, 7), (50, 7)]
    drawn = np.concatenate(chunks)
    assert drawn.min() == 0 and drawn.max() == 6  # every index drawn, none outside the split
    np.testing.assert_array_equal(drawn, np.concatenate(list(uncertainty._resamples(7, 250, seed=5))))
    counts = uncertainty._counts(np.array([[0, 0, 2], [1, 2, 2]]), 3)
    np.testing.assert_array_equal(counts, [[2, 0, 1], [0, 1, 2]])


def test_intervals_are_the_2_5_and_97_5_percentiles_of_the_seeded_resamples():
    """The definition, from the resamples (checked above) and the metrics of each (checked against
    scikit-learn above): label metrics on the seed's resamples, AUC on the next seed's."""
    y, probabilities = predictions(120, n_classes=3, right=0.7)
    got = uncertainty.intervals(y, probabilities, seed=2, resamples=150)
    predicted = probabilities.argmax(axis=1)
    draws = [uncertainty.label_metrics(y, predicted, 3, i) for i in uncertainty._resamples(120, 150, 2)]
    for name in uncertainty.LABEL_METRICS[1:]:
        low, high = np.percentile(np.concatenate([d[name] for d in draws]), [2.5, 97.5])
        assert (got[f"{name}_ci_low"], got[f"{name}_ci_high"]) == pytest.approx((low, high)), name
    aucs = np.concatenate([uncertainty.weighted_auc(y, probabilities, uncertainty._counts(i, 120))
                           for i in uncertainty._resamples(120, 150, 3)])
    assert (got["auc_ovr_ci_low"], got["auc_ovr_ci_high"]) == pytest.approx(tuple(np.percentile(aucs, [2.5, 97.5])))
    assert (got["accuracy_ci_low"], got["accuracy_ci_high"]) == uncertainty.wilson(int((predicted == y).sum()), 120)
    assert uncertainty.intervals(y, probabilities, resamples=150) == uncertainty.intervals(y, probabilities, seed=0,
                                                                                           resamples=150)


def test_the_binary_auc_is_the_second_columns_alone():
    # two scores that do not sum to one (e.g. two sigmoid outputs): scikit-learn's binary AUC reads the second
    y = np.array([0, 0, 1, 1, 0, 1])
    scores = np.array([[0.9, 0.2], [0.1, 0.3], [0.8, 0.7], [0.2, 0.6], [0.5, 0.1], [0.4, 0.9]])
    assert uncertainty.weighted_auc(y, scores, np.ones((1, 6)))[0] == 1.0  # second column: every 1 above every 0
    assert classification_metrics(y, scores)["auc_ovr"] == 1.0
    three = predictions(200, n_classes=3, right=0.6)  # three classes: one-vs-rest over each
    assert uncertainty.weighted_auc(*three, np.ones((1, 200)))[0] == pytest.approx(classification_metrics(*three)["auc_ovr"])


def test_mcnemar_by_hand():
    # 8 examples only a gets right, 2 only b: two-sided exact p = 2 (1 + 10 + 45) / 2^10 = 0.109375
    a = np.r_[np.ones(8), np.zeros(2), np.ones(5)]
    b = np.r_[np.zeros(8), np.ones(2), np.ones(5)]
    expected = {"only_a": 8, "only_b": 2, "p_value": pytest.approx(0.109375), "method": "McNemar exact"}
    assert uncertainty.mcnemar(a, b) == expected  # correctness as 0/1 floats, as read from a table
    assert uncertainty.mcnemar(a.astype(bool), b.astype(bool)) == expected
    assert uncertainty.mcnemar(a, a) == {"only_a": 0, "only_b": 0, "p_value": 1.0, "method": "McNemar exact"}


def test_compare_word_for_word():
    y = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2])
    a = y.copy()
    a[:2] = [1, 2]  # a wrong on 2
    b = y.copy()
    b[2:10] = (y[2:10] + 1) % 3  # b wrong on 8 others
    mcnemar = {"n": 15, "differ": 10, "only_a": 8, "only_b": 2, "p_value": pytest.approx(0.109375),
               "significant": False}
    assert uncertainty.compare(y, a, b, 3, "accuracy") == {**mcnemar, "method": "McNemar exact"}
    assert uncertainty.compare(y, a, b, 3, "auc") == {**mcnemar, "method": "McNemar exact on top-1 correctness"}
    for seed in (0, 3):
        boot = uncertainty.paired_bootstrap(y, a, b, 3, "f1_macro", seed=seed, resamples=1000)
        assert set(boot) == {"ci_low", "ci_high", "p_value", "method"} and boot["method"] == "paired bootstrap"
        assert uncertainty.compare(y, a, b, 3, "f1_macro", seed=seed) == {
            "n": 15, "differ": 10, **boot, "significant": boot["p_value"] < 0.05}
    assert uncertainty.compare(y, a, b, 3, "f1_macro") == uncertainty.compare(y, a, b, 3, "f1_macro", seed=0)


def test_paired_bootstrap_is_the_percentile_interval_of_the_paired_differences():
    y, probabilities = predictions(90, n_classes=3, right=0.8)
    a = probabilities.argmax(axis=1)
    b = a.copy()
    b[:6] = (y[:6] + 1) % 3  # b wrong on the first six
    got = uncertainty.paired_bootstrap(y, a, b, 3, "f1_macro", seed=4, resamples=200)
    differences = np.concatenate([uncertainty.label_metrics(y, a, 3, i)["f1_macro"]
                                  - uncertainty.label_metrics(y, b, 3, i)["f1_macro"]
                                  for i in uncertainty._resamples(90, 200, 4)])
    low, high = np.percentile(differences, [2.5, 97.5])
    p = 2 * min(np.mean(differences <= 0), np.mean(differences >= 0))
    assert 0 < p < 1 / 3  # a p-value the rule can get wrong (not clamped at 1, not 0)
    assert got == {"ci_low": pytest.approx(low), "ci_high": pytest.approx(high), "p_value": pytest.approx(p),
                   "method": "paired bootstrap"}
    assert uncertainty.paired_bootstrap(y, a, b, 3, "f1_macro", resamples=200) == uncertainty.paired_bootstrap(
        y, a, b, 3, "f1_macro", seed=0, resamples=200)
    assert uncertainty.paired_bootstrap(y, a, b, 3, "f1_macro", seed=4, resamples=200) == got  # seeded
    same = uncertainty.paired_bootstrap(y, a, a, 3, "f1_macro", resamples=200)  # no difference at all
    assert same == {"ci_low": 0.0, "ci_high": 0.0, "p_value": 1.0, "method": "paired bootstrap"}
