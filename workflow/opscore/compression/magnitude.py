"""Magnitude pruning (unstructured) with tfmot's ``prune_low_magnitude``: the smallest kernel
weights are masked while the model is fine-tuned; tensors keep their shape, so only the zeros
(and the compressed size) grow. The baseline the structured methods are judged against."""
from __future__ import annotations

import time
from typing import Iterable

import numpy as np
import pandas as pd

from opscore.models.graph import PruningError, copy_model
from opscore.models.quantized_layer import QuantizedDense
from opscore.models.training import compile_classifier
from opscore.tf import keras, tf


def _prunable_for_magnitude(layer) -> bool:
    L = keras.layers
    return isinstance(layer, (L.Dense, L.Conv1D, L.Conv2D, L.Conv3D, L.DepthwiseConv2D, L.SeparableConv2D)) \
        and not isinstance(layer, QuantizedDense)


def _kernel(layer):
    for attribute in ("kernel", "depthwise_kernel"):
        if getattr(layer, attribute, None) is not None:
            return np.asarray(getattr(layer, attribute).numpy())
    return None


def kernel_sparsity(model, layers: Iterable[str] | None = None) -> dict:
    """Fraction of exactly-zero kernel weights over Dense/convolution layers (all, or ``layers``)."""
    names = set(layers) if layers is not None else None
    zeros = total = 0
    for layer in model.layers:
        if names is not None and layer.name not in names:
            continue
        if not _prunable_for_magnitude(layer):
            continue
        kernel = _kernel(layer)
        if kernel is None:
            continue
        zeros += int(kernel.size - np.count_nonzero(kernel))
        total += int(kernel.size)
    return {"sparsity": zeros / total if total else 0.0, "kernel_weights": total, "kernel_zeros": zeros}


def _steps_per_epoch(train_data, steps_per_epoch, batch_size):
    if steps_per_epoch:
        return int(steps_per_epoch)
    if isinstance(train_data, tf.data.Dataset):
        cardinality = int(train_data.cardinality())
        if cardinality < 0:
            raise PruningError("the training dataset has unknown or infinite length; pass steps_per_epoch.")
        return cardinality
    x = train_data[0]
    return int(np.ceil(len(x) / batch_size))


def prune_magnitude(model, train_data, target_sparsity: float, epochs: int, learning_rate: float,
                    schedule: str = "polynomial", initial_sparsity: float = 0.0, frequency: int | None = None,
                    layers: Iterable[str] | None = None, prune_head: bool = False, validation_data=None,
                    steps_per_epoch: int | None = None, batch_size: int = 32, verbose: int = 0):
    """Unstructured magnitude pruning while fine-tuning; returns ``(stripped_model, info)``.

    ``train_data`` is a batched ``tf.data.Dataset`` of (inputs, int labels) — e.g.
    :func:`opscore.models.training.make_pipeline` — or an ``(x, y)`` tuple (batched by ``batch_size``).
    Dense and convolution kernels (all but the model's output layer, or exactly the layers named
    in ``layers``) are pruned; the classifier head (few weights, each one decisive) is left
    dense unless ``prune_head=True``:
    ``schedule="polynomial"`` ramps sparsity from ``initial_sparsity`` to ``target_sparsity``
    over the whole fine-tuning (tfmot PolynomialDecay, cubic), ending on the target at a mask
    update inside the last epoch; ``"constant"`` holds ``target_sparsity`` from the first step
    (ConstantSparsity). The model is compiled with Adam(``learning_rate``) and sparse
    categorical cross-entropy. ``info`` holds the sparsity reached (zeros over the pruned
    kernels, counted on the stripped model), params, nonzero params, the schedule's steps and
    the per-epoch history. The input model is not modified.
    """
    import tensorflow_model_optimization as tfmot

    if not 0.0 <= target_sparsity < 1.0:
        raise PruningError(f"target_sparsity must be in [0, 1), got {target_sparsity}")
    if schedule not in ("polynomial", "constant"):
        raise PruningError(f"schedule must be 'polynomial' or 'constant', got {schedule!r}")
    steps = _steps_per_epoch(train_data, steps_per_epoch, batch_size)
    total = max(1, steps * int(epochs))
    if frequency is None:
        frequency = max(1, min(100, (total - 1) // 10))
    frequency = max(1, min(int(frequency), max(1, total - 1)))
    if schedule == "polynomial" and total >= 2 and initial_sparsity != target_sparsity:
        # The pruning step runs 1..total; end on a step that is a multiple of the frequency,
        # so the last mask update uses exactly the target sparsity.
        end_step = frequency * ((total - 1) // frequency)
        pruning_schedule = tfmot.sparsity.keras.PolynomialDecay(
            initial_sparsity=initial_sparsity, final_sparsity=target_sparsity, begin_step=0,
            end_step=end_step, frequency=frequency)
    else:
        schedule, end_step = "constant", -1
        pruning_schedule = tfmot.sparsity.keras.ConstantSparsity(target_sparsity, begin_step=0,
                                                                 frequency=frequency)

    source = copy_model(model)
    wanted = set(layers) if layers is not None else None
    if wanted is not None:
        unknown = wanted - {layer.name for layer in source.layers}
        if unknown:
            raise PruningError(f"no layer(s) {', '.join(sorted(unknown))} in {source.name}")
    pruned_names: list[str] = []
    heads = set() if prune_head or wanted is not None else set(source.output_names)

    def wrap(layer):
        if _prunable_for_magnitude(layer) and (wanted is None or layer.name in wanted) and layer.name not in heads:
            pruned_names.append(layer.name)
            return tfmot.sparsity.keras.prune_low_magnitude(layer, pruning_schedule=pruning_schedule)
        return layer

    wrapped = keras.models.clone_model(source, clone_function=wrap)
    if not pruned_names:
        raise PruningError(f"{source.name} has no Dense or convolution layer to prune"
                           + (f" among {sorted(wanted)}" if wanted else ""))
    compile_classifier(wrapped, learning_rate)
    fit_kwargs = {}
    if isinstance(train_data, tf.data.Dataset):
        fit_args = (train_data,)
    else:
        fit_args = tuple(train_data[:2])
        fit_kwargs["batch_size"] = batch_size
    start = time.perf_counter()
    history = wrapped.fit(*fit_args, epochs=int(epochs), steps_per_epoch=steps_per_epoch,
                          validation_data=validation_data, verbose=verbose,
                          callbacks=[tfmot.sparsity.keras.UpdatePruningStep()], **fit_kwargs)
    seconds = time.perf_counter() - start
    stripped = tfmot.sparsity.keras.strip_pruning(wrapped)
    reached = kernel_sparsity(stripped, pruned_names)
    values = [np.asarray(w) for w in stripped.get_weights()]
    params = int(sum(v.size for v in values))
    nonzero = int(sum(np.count_nonzero(v) for v in values))
    info = {
        "target_sparsity": float(target_sparsity),
        "sparsity": reached["sparsity"],
        "kernel_weights": reached["kernel_weights"],
        "kernel_zeros": reached["kernel_zeros"],
        "params": params,
        "nonzero_params": nonzero,
        "model_sparsity": 1.0 - nonzero / params if params else 0.0,
        "schedule": schedule,
        "frequency": frequency,
        "end_step": end_step,
        "steps": total,
        "pruned_layers": pruned_names,
        "prune_seconds": seconds,
        "history": pd.DataFrame(history.history).assign(epoch=lambda h: np.arange(1, len(h) + 1)),
    }
    return stripped, info


def make(model, variant, job):
    """The ``prune-magnitude-s<S>[-constant]`` variant (registry entry in opscore.kinds.registry)."""
    derived, info = prune_magnitude(
        model, job.fit_data, target_sparsity=variant.options["sparsity"] / 100,
        epochs=max(1, job.epochs), learning_rate=job.learning_rate,
        schedule="constant" if variant.options.get("schedule") else job.settings["schedule"])
    layers = pd.DataFrame(kernel_sparsity(derived).items(), columns=["layer", "sparsity"])
    return derived, {key: value for key, value in info.items() if key != "history"}, layers
