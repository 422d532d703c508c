"""A variant's quality: the metrics (:data:`METRICS`, :func:`classification_metrics`), a random
baseline, its predictions, and the model-ready requests a benchmark sends it. Sizes: opscore.measure.sizes;
the run's context: opscore.measure.context; timing is opscore.benchmark's (every variant of a dataset
in one job, each in a process holding only its runtime)."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd


#: quality metric name (config ``score.metric``) -> the measurement column that holds it
METRICS = {"accuracy": "accuracy", "balanced_accuracy": "balanced_accuracy", "f1_macro": "f1_macro",
           "recall_macro": "recall_macro", "precision_macro": "precision_macro", "auc": "auc_ovr"}


def classification_metrics(y_true: np.ndarray, probabilities: np.ndarray) -> dict:
    """Accuracy, balanced accuracy, macro precision/recall/F1, one-vs-rest AUC and top-5
    accuracy (scikit-learn). Balanced accuracy and the macro means weigh every class alike, so
    on imbalanced data a model that never predicts the rare class scores ~0.5 on them.

    Two classes (e.g. fraud or not) are scored the binary way: AUC of the second class's
    probability, and top-k is top-1 (accuracy)."""
    # imported here: scikit-learn takes ~2 s to import, and the jobs that import this module for
    # sizes or the benchmark's requests (model_inputs, benchmark) never score
    from sklearn import metrics
    from sklearn.exceptions import UndefinedMetricWarning

    n_classes = probabilities.shape[1]
    labels = np.arange(n_classes)
    predicted = probabilities.argmax(axis=1)
    precision, recall, f1, _ = metrics.precision_recall_fscore_support(
        y_true, predicted, labels=labels, average="macro", zero_division=0)
    binary = n_classes == 2
    with warnings.catch_warnings():
        # AUC is undefined when the test split lacks a class; say so with NaN, not a crash.
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        try:
            auc = (metrics.roc_auc_score(y_true, probabilities[:, 1]) if binary else
                   metrics.roc_auc_score(y_true, probabilities, multi_class="ovr", labels=labels))
        except ValueError:
            auc = float("nan")
    # top-5, or top-(classes-1) for fewer than 6 classes, where top-5 would be trivially 1
    top_k = min(5, n_classes - 1)
    accuracy = metrics.accuracy_score(y_true, predicted)
    return {
        "accuracy": accuracy,
        "balanced_accuracy": metrics.balanced_accuracy_score(y_true, predicted),
        "precision_macro": precision,
        "recall_macro": recall,
        "f1_macro": f1,
        "auc_ovr": auc,
        "top5_accuracy": accuracy if binary else metrics.top_k_accuracy_score(y_true, probabilities, k=top_k,
                                                                              labels=labels),
        "n_test": int(len(y_true)),
        "n_classes": int(n_classes),
    }


def random_baseline(y_test: np.ndarray, n_classes: int, seed: int) -> dict:
    """A model that guesses: uniformly random class probabilities (accuracy ≈ 1/classes, AUC ≈ 0.5)."""
    probabilities = np.random.default_rng(seed).random((len(y_test), n_classes))
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    return classification_metrics(y_test, probabilities)


def predictions_frame(y_true: np.ndarray, probabilities: np.ndarray, identity: dict) -> pd.DataFrame:
    """Every test example's label and prediction (and, for two classes, the second class's
    probability, what a paired AUC needs), with what identifies the variant: the paired
    comparisons of opscore.measure.uncertainty read them."""
    frame = pd.DataFrame({"example": np.arange(len(y_true)), "y_true": np.asarray(y_true, dtype="int64"),
                          "predicted": probabilities.argmax(axis=1).astype("int64")})
    if probabilities.shape[1] == 2:
        frame["score"] = probabilities[:, 1].astype("float32")
    for key, value in identity.items():
        frame[key] = value
    return frame


def save_model_inputs(path, batches, n_test: int, max_inputs: int, **shape) -> int:
    """Write the first ``max_inputs`` model-ready inputs of ``batches`` (a batched dataset of
    (inputs, labels)) as ``x`` (float32), with ``n_test``, the size of the test split a timed pass
    covers, and ``shape`` (what building the model needs: n_classes, input_size, sample_shape) to
    ``path`` (.npz). Returns how many were kept."""
    from opscore.job import atomic_path

    kept, count = [], 0
    for inputs, _ in batches:
        kept.append(np.asarray(inputs, dtype=np.float32)[: max_inputs - count])
        count += len(kept[-1])
        if count >= max_inputs:
            break
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, x=np.concatenate(kept), n_test=np.array(n_test),
                 **{key: np.array(value) for key, value in shape.items()})
    return count
