"""How sure a quality number is: 95 % intervals over the test examples, and two variants compared on
the same examples.

A test split is a sample: 0.9556 against 0.9537 on 540 images is one image. Intervals: Wilson's
score interval for accuracy (a proportion), a seeded percentile bootstrap over the test examples
for the other metrics (balanced accuracy, macro precision/recall/F1, AUC). Paired comparisons:
McNemar's exact test on the examples one variant gets right and the other wrong (accuracy, and
top-1 correctness where the probabilities needed for a paired AUC are not kept), a paired
bootstrap of the metric's difference otherwise. Notes: docs/measurement.md.
"""
from __future__ import annotations

from statistics import NormalDist

import numpy as np

#: the two-sided 95 % normal quantile (the standard library's: scipy.stats, imported only where a
#: paired test needs it, costs every job that draws or selects a second of start-up)
Z95 = NormalDist().inv_cdf(0.975)
LEVEL = 0.95
RESAMPLES = 1000
#: resamples drawn at once (memory: this many x test examples indices)
_CHUNK = 100
LABEL_METRICS = ("accuracy", "balanced_accuracy", "precision_macro", "recall_macro", "f1_macro")


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson's score interval of a proportion (successes of n)."""
    if n <= 0:
        return float("nan"), float("nan")
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


def label_metrics(y_true: np.ndarray, predicted: np.ndarray, n_classes: int, indices: np.ndarray) -> dict:
    """The label metrics of every resample (rows of ``indices``) at once, from confusion matrices,
    with scikit-learn's conventions (macro means over every class, a class with no prediction or
    no example scoring 0; balanced accuracy over the classes present)."""
    b, k = len(indices), n_classes
    cells = (np.arange(b)[:, None] * k * k + y_true[indices] * k + predicted[indices]).ravel()
    confusion = np.bincount(cells, minlength=b * k * k).reshape(b, k, k).astype(float)
    hits = np.einsum("bii->bi", confusion)
    support, guessed = confusion.sum(axis=2), confusion.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        recall = np.where(support > 0, hits / support, 0.0)
        precision = np.where(guessed > 0, hits / guessed, 0.0)
        f1 = np.where(support + guessed > 0, 2 * hits / (support + guessed), 0.0)
        present = support > 0
        balanced = (recall * present).sum(axis=1) / present.sum(axis=1)
    return {"accuracy": hits.sum(axis=1) / indices.shape[1], "balanced_accuracy": balanced,
            "precision_macro": precision.mean(axis=1), "recall_macro": recall.mean(axis=1), "f1_macro": f1.mean(axis=1)}


def _resamples(n: int, count: int, seed: int):
    rng = np.random.default_rng(seed)
    for start in range(0, count, _CHUNK):
        yield rng.integers(0, n, size=(min(_CHUNK, count - start), n))


def _counts(indices: np.ndarray, n: int) -> np.ndarray:
    """How often each example is drawn in each resample (rows of ``indices``)."""
    b = len(indices)
    return np.bincount((np.arange(b)[:, None] * n + indices).ravel(), minlength=b * n).reshape(b, n).astype(float)


def weighted_auc(y_true: np.ndarray, probabilities: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """scikit-learn's ``roc_auc_score`` (binary: the second class's probability; more classes:
    one-vs-rest, macro) for every row of example ``weights`` (bootstrap counts) at once, from the
    Mann-Whitney statistic over tied score groups; NaN where a class is absent from a resample."""
    classes = [1] if probabilities.shape[1] == 2 else range(probabilities.shape[1])
    aucs = []
    for c in classes:
        order = np.argsort(probabilities[:, c], kind="stable")
        scores, positive = probabilities[order, c], (y_true[order] == c)
        starts = np.flatnonzero(np.r_[True, scores[1:] != scores[:-1]])  # tied scores form one group
        w = weights[:, order]
        pos, neg = np.add.reduceat(w * positive, starts, axis=1), np.add.reduceat(w * ~positive, starts, axis=1)
        below = np.cumsum(neg, axis=1) - neg
        with np.errstate(divide="ignore", invalid="ignore"):
            aucs.append((pos * (below + 0.5 * neg)).sum(axis=1) / (pos.sum(axis=1) * neg.sum(axis=1)))
    return np.mean(aucs, axis=0)


def intervals(y_true: np.ndarray, probabilities: np.ndarray, seed: int = 0, resamples: int = RESAMPLES) -> dict:
    """``{metric}_ci_low`` / ``{metric}_ci_high`` (95 %) for accuracy (Wilson), the label metrics
    and AUC (``auc_ovr``; percentile bootstrap, seeded)."""
    y_true, probabilities = np.asarray(y_true), np.asarray(probabilities)
    predicted, n, k = probabilities.argmax(axis=1), len(y_true), probabilities.shape[1]
    draws = {name: [] for name in LABEL_METRICS}
    for indices in _resamples(n, resamples, seed):
        for name, values in label_metrics(y_true, predicted, k, indices).items():
            draws[name].append(values)
    tail = 100 * (1 - LEVEL) / 2
    out = {}
    for name in LABEL_METRICS[1:]:
        low, high = np.nanpercentile(np.concatenate(draws[name]), [tail, 100 - tail])
        out[f"{name}_ci_low"], out[f"{name}_ci_high"] = float(low), float(high)
    out["accuracy_ci_low"], out["accuracy_ci_high"] = wilson(int((predicted == y_true).sum()), n)
    aucs = np.concatenate([weighted_auc(y_true, probabilities, _counts(indices, n))
                           for indices in _resamples(n, resamples, seed + 1)])
    low, high = np.nanpercentile(aucs, [tail, 100 - tail]) if np.isfinite(aucs).any() else (np.nan, np.nan)
    out["auc_ovr_ci_low"], out["auc_ovr_ci_high"] = float(low), float(high)
    return out


def mcnemar(correct_a: np.ndarray, correct_b: np.ndarray) -> dict:
    """McNemar's exact test: of the examples exactly one variant gets right, is the split 50-50?"""
    from scipy import stats

    correct_a, correct_b = np.asarray(correct_a, bool), np.asarray(correct_b, bool)
    only_a, only_b = int((correct_a & ~correct_b).sum()), int((~correct_a & correct_b).sum())
    p = 1.0 if only_a + only_b == 0 else float(stats.binomtest(min(only_a, only_b), only_a + only_b, 0.5).pvalue)
    return {"only_a": only_a, "only_b": only_b, "p_value": min(1.0, p), "method": "McNemar exact"}


def paired_bootstrap(y_true, predicted_a, predicted_b, n_classes: int, metric: str, seed: int = 0,
                     resamples: int = RESAMPLES) -> dict:
    """The difference a - b of a label metric on the same resamples: its 95 % interval and a
    two-sided bootstrap p-value (twice the smaller share of differences on either side of 0)."""
    y_true, predicted_a, predicted_b = (np.asarray(v) for v in (y_true, predicted_a, predicted_b))
    differences = np.concatenate([label_metrics(y_true, predicted_a, n_classes, i)[metric]
                                  - label_metrics(y_true, predicted_b, n_classes, i)[metric]
                                  for i in _resamples(len(y_true), resamples, seed)])
    tail = 100 * (1 - LEVEL) / 2
    low, high = np.nanpercentile(differences, [tail, 100 - tail])
    p = 2 * min(np.mean(differences <= 0), np.mean(differences >= 0))
    return {"ci_low": float(low), "ci_high": float(high), "p_value": float(min(1.0, p)), "method": "paired bootstrap"}


def compare(y_true, predicted_a, predicted_b, n_classes: int, metric: str, seed: int = 0) -> dict:
    """Variant a against b on the same test examples, in ``metric`` (a key of opscore.measure.quality.METRICS):
    the examples they disagree on, the p-value and its method, and ``significant`` (p < 0.05)."""
    correct_a, correct_b = np.asarray(predicted_a) == y_true, np.asarray(predicted_b) == y_true
    result = {"n": int(len(y_true)), "differ": int((np.asarray(predicted_a) != np.asarray(predicted_b)).sum())}
    if metric in ("accuracy", "auc"):
        test = mcnemar(correct_a, correct_b)
        if metric == "auc":
            test["method"] = "McNemar exact on top-1 correctness"
    else:
        test = paired_bootstrap(y_true, predicted_a, predicted_b, n_classes, metric, seed)
    return {**result, **test, "significant": bool(test["p_value"] < 1 - LEVEL)}
