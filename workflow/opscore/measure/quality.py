"""Measuring a trained variant: classification metrics, its predictions, the requests a benchmark
sends it, size, and the run context. Timing is opscore.benchmark's (every variant of a dataset
in one job, each in a process holding only its runtime)."""
from __future__ import annotations

import os
import platform
import tempfile
import warnings
import zlib
from pathlib import Path

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


def timing_summary(seconds: list[float], n_images: int, unstable_cv: float) -> dict:
    """Timed passes over the test split (one per benchmark round) summed up so that one stall cannot
    move the score.

    ``inference_time_s`` is the median pass x R: the paper's unit (R passes over the test
    split) on a statistic a single slow repeat leaves alone. The total, fastest and median
    repeat are kept beside it (the scorer's ``time_statistic`` picks among them), with the
    spread: ``inference_cv`` (sample standard deviation / mean of the repeats) and
    ``timing_unstable`` (cv above ``unstable_cv``)."""
    seconds = np.asarray(seconds, dtype=float)
    median = float(np.median(seconds))
    cv = float(np.std(seconds, ddof=1) / np.mean(seconds)) if len(seconds) > 1 else 0.0
    return {
        "inference_time_s": median * len(seconds),
        "inference_total_s": float(seconds.sum()),
        "inference_median_s": median,
        "inference_min_s": float(seconds.min()),
        "inference_cv": cv,
        "timing_unstable": bool(cv > unstable_cv),
        "inference_ms_per_image": 1000.0 * median / n_images,
        "repeats": int(len(seconds)),
    }


#: zlib's default level, gzip's. Measured on AlexNet's 17.5 MB weights file: magnitude-pruned (half
#: the weights zero), level 9 took 6.4 s instead of 0.9 s for 2.0 % fewer bytes; dense, 0.63 s
#: instead of 0.62 s for 281 fewer bytes (0.002 %)
DEFLATE_LEVEL = 6


def file_size(path: str | Path) -> dict:
    """Raw bytes and deflate-compressed bytes (zlib, :data:`DEFLATE_LEVEL`) of a deployable file."""
    raw = Path(path).read_bytes()
    compressed = len(zlib.compress(raw, DEFLATE_LEVEL))
    return {"size_bytes": len(raw), "size_compressed_bytes": compressed,
            "size_mb": len(raw) / 1e6, "size_compressed_mb": compressed / 1e6}


def weights_size(model) -> dict:
    """Size of the deployable weights-only file (no optimizer state), parameter counts."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "weights.h5"
        model.save_weights(str(path))
        sizes = file_size(path)
    values = [value for layer in _leaf_layers(model) for value in _parameter_values(layer)]
    sizes["params"] = int(sum(v.size for v in values))
    sizes["nonzero_params"] = int(sum(np.count_nonzero(v) for v in values))
    return sizes


def keras_kernels(model) -> list[np.ndarray]:
    """The kernels (weight matrices and convolution filters, as the model computes with them) of
    every layer that has one: what pruning zeroes and clustering shares."""
    return [values[0] for layer in _leaf_layers(model) if (values := _parameter_values(layer))
            and np.ndim(values[0]) >= 2]


def kernel_statistics(kernels: list[np.ndarray]) -> dict:
    """What a row shows of the kernels a variant deploys: the share of nonzero weights, and the
    distinct values per kernel (mean and largest), which say whether a chain's later step kept an
    earlier one's zeros and shared values."""
    if not kernels:
        return {"kernel_nonzero_share": np.nan, "kernel_distinct_values": np.nan, "kernel_distinct_values_max": np.nan}
    distinct = [len(np.unique(kernel)) for kernel in kernels]
    return {"kernel_nonzero_share": sum(np.count_nonzero(k) for k in kernels) / sum(k.size for k in kernels),
            "kernel_distinct_values": float(np.mean(distinct)), "kernel_distinct_values_max": int(max(distinct))}


def parameter_count(model) -> int:
    """The model's parameters as it computes with them (see :func:`_parameter_values`)."""
    return int(sum(value.size for layer in _leaf_layers(model) for value in _parameter_values(layer)))


def _leaf_layers(model) -> list:
    return [leaf for layer in model.layers for leaf in (_leaf_layers(layer) if hasattr(layer, "layers") else [layer])]


def _parameter_values(layer) -> list:
    """A layer's parameters as the model computes with them: a layer that stores its weights
    packed or scaled (``parameter_values()``, e.g. QuantizedDense) counts its logical kernel and
    bias, not its bytes or scales, so parameter counts compare across storages (Lee et al.'s unit)."""
    if hasattr(layer, "parameter_values"):
        return layer.parameter_values()
    return [np.asarray(w) for w in layer.get_weights()]


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def library_versions() -> dict:
    """The versions of the libraries a quality number depends on (TensorFlow, Keras, tfmot,
    scikit-learn, numpy)."""
    from importlib.metadata import version

    import sklearn

    from opscore.tf import keras, tf

    return {"tf_version": tf.__version__, "keras_version": keras.__version__,
            "tfmot_version": version("tensorflow-model-optimization"),  # importing tfmot takes 1.4 s
            "sklearn_version": sklearn.__version__, "numpy_version": np.__version__}


def runtime_context() -> dict:
    """Where and how a TensorFlow timing was taken (benchmarks): threads, device, library versions."""
    from opscore.tf import tf

    gpus = tf.config.list_physical_devices("GPU")
    device = ("GPU: " + ", ".join(tf.config.experimental.get_device_details(g).get("device_name", g.name)
                                  for g in gpus)) if gpus else f"CPU: {cpu_name()}"
    return {"device": device, "cpu_count": os.cpu_count(),
            "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
            "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
            **library_versions(), "python_version": platform.python_version(), "hostname": platform.node()}


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
