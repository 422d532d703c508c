"""Quality with its uncertainty (opscore.uncertainty): intervals that hold the estimate and narrow
with more test examples, the same conventions as scikit-learn's metrics, paired comparisons."""
import numpy as np
import pytest

from opscore import uncertainty
from opscore.measure import classification_metrics


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
