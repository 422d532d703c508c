"""What a derivation is judged and fine-tuned with: the held-out quality callback (in the dataset's
metric), a fine-tuner, the compression rates in Lee et al.'s units, and the context a kind's
``make`` receives."""
from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from opscore.measure.quality import METRICS, classification_metrics
from opscore.measure.sizes import parameter_count
from opscore.models.graph import EvaluateFn
from opscore.models.training import compile_classifier
from opscore.tf import tf


def compression_rate(original, pruned) -> dict:
    """How much smaller ``pruned`` is: ``params_ratio`` and ``bytes_ratio`` (original / pruned, so
    47.28 means "47.28× smaller", the paper's unit), over all weights and the HDF5 weights file
    (:func:`opscore.measure.sizes.weights_size`), plus nonzero and deflate-compressed ratios (the
    ones magnitude pruning improves), and ``bits_ratio``: the bits the parameters are stored in
    (Lee et al.'s "parameter size": low-bit packed kernels count their bits)."""
    from opscore.measure.costs import parameter_bytes
    from opscore.measure.sizes import weights_size

    a, b = weights_size(original), weights_size(pruned)
    bits = 8 * parameter_bytes(original), 8 * parameter_bytes(pruned)
    return {
        "param_bits_original": bits[0], "param_bits_pruned": bits[1], "bits_ratio": bits[0] / bits[1],
        "params_original": a["params"], "params_pruned": b["params"],
        "params_ratio": a["params"] / b["params"],
        "nonzero_params_original": a["nonzero_params"], "nonzero_params_pruned": b["nonzero_params"],
        "nonzero_ratio": a["nonzero_params"] / max(1, b["nonzero_params"]),
        "bytes_original": a["size_bytes"], "bytes_pruned": b["size_bytes"],
        "bytes_ratio": a["size_bytes"] / b["size_bytes"],
        "compressed_bytes_ratio": a["size_compressed_bytes"] / b["size_compressed_bytes"],
    }


def accuracy_evaluator(x, y: np.ndarray, batch_size: int = 256, preprocess=None,
                       metric: str = "accuracy") -> EvaluateFn:
    """An ``evaluate_fn``: the quality of ``model`` on (x, y), top-1 accuracy or another metric
    of :data:`opscore.measure.quality.METRICS` (balanced accuracy, macro F1, ... for imbalanced data), so
    a pruning budget is judged on the metric the dataset is ranked by. ``x`` is an array
    (``preprocess`` applied once) or a batched ``tf.data.Dataset`` in the order of ``y``
    (e.g. :func:`opscore.models.training.make_pipeline`, which prepares images batch by batch)."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}; got {metric!r}")
    if not isinstance(x, tf.data.Dataset):
        x = np.asarray(preprocess(x) if preprocess is not None else x)
    y = np.asarray(y)

    def evaluate(model) -> float:
        predictions = model.predict(x, batch_size=None if isinstance(x, tf.data.Dataset) else batch_size, verbose=0)
        if metric == "accuracy":
            return float(np.mean(predictions.argmax(axis=-1) == y))
        return float(classification_metrics(y, predictions.astype("float64"))[METRICS[metric]])

    return evaluate


def fine_tuner(train_data, epochs: int = 1, learning_rate: float = 1e-4, batch_size: int = 32,
               verbose: int = 0) -> Callable:
    """A ``fine_tune_fn``: compile with Adam(``learning_rate``) and fit ``epochs`` on ``train_data``
    (a batched tf.data.Dataset or an (x, y) tuple); returns the same model, trained."""

    def fine_tune(model):
        compile_classifier(model, learning_rate)
        if isinstance(train_data, tf.data.Dataset):
            model.fit(train_data, epochs=epochs, verbose=verbose)
        else:
            model.fit(train_data[0], train_data[1], batch_size=batch_size, epochs=epochs, verbose=verbose)
        return model

    return fine_tune




class BudgetSearch:
    """The accept-or-reject loop both structured searches share (Lee et al.): each candidate is
    fine-tuned (if a fine-tuner is given), judged on the held-out metric, and kept while its drop
    against the original stays within ``budget``; every try is recorded, kept or not."""

    def __init__(self, current, evaluate_fn: EvaluateFn, baseline: float, budget: float,
                 fine_tune_fn: Callable | None = None):
        self.current, self.evaluate_fn, self.baseline, self.budget = current, evaluate_fn, baseline, budget
        self.fine_tune_fn = fine_tune_fn
        self.rows: list[dict] = []

    def try_step(self, model, fine_tune: bool = True, **row) -> bool:
        """Judge the candidate ``model``; keep it as ``current`` if within budget. ``row``: what the
        step did, for the report. Returns whether it was kept."""
        if fine_tune and self.fine_tune_fn is not None:
            model = self.fine_tune_fn(model) or model
        accuracy = float(self.evaluate_fn(model))
        accepted = self.baseline - accuracy <= self.budget
        self.rows.append({"step": len(self.rows) + 1, **row, "accuracy": accuracy, "drop": self.baseline - accuracy,
                          "accepted": accepted, "params": parameter_count(model)})
        if accepted:
            self.current = model
        return accepted

    def report(self, columns: list[str]) -> pd.DataFrame:
        """One row per try: step, ``columns``, accuracy, drop, accepted, params."""
        frame = pd.DataFrame(self.rows, columns=["step", *columns, "accuracy", "drop", "accepted", "params"])
        frame.attrs.update(baseline_accuracy=self.baseline, budget=self.budget)
        return frame
