"""How a measurement was taken: the timed passes summed up, and the run's context (device, threads,
library versions)."""
from __future__ import annotations

import os
import platform
from pathlib import Path

import numpy as np


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

    # read from the installed packages: importing TensorFlow (~5 CPU-s) or tfmot (1.4 s) only to
    # ask would load them into a job that runs a LiteRT or ONNX model without them
    return {"tf_version": version("tensorflow"), "keras_version": version("tf-keras"),
            "tfmot_version": version("tensorflow-model-optimization"),
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
