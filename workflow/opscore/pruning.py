"""Pruning and layer optimisations: smaller, faster variants of a trained Keras classifier.

The story, after Lee et al., "Efficient Layer Optimizations for Deep Neural Networks"
------------------------------------------------------------------------------------
Lee et al. shrink trained networks layer by layer while watching accuracy: with
*accuracy-aware structured filter pruning* plus quantization of the fully connected layers,
AlexNet's parameters became up to 47.28× and VGG16's up to 35.21× smaller; with the
*accordion autoencoder* (A2E, :mod:`opscore.scratch_models`) model complexity fell by
85.1 % (credit-card fraud) and 94.5 % (MNIST) for 4.9 % / 13.6 % performance drops. Those
figures are the paper's anchors, not something this module promises: what a variant reaches
here is measured on your data and ranked by OpScore with accuracy, time and size together.

Three techniques, all pure functions over Keras models (the input model is never changed;
a new model is returned), all driven by an ``evaluate_fn(model) -> accuracy`` callback so the
workflow decides which held-out data measures the damage (use a validation split carved from
the training data, not the test split that OpScore reports):

1. **Magnitude pruning** (:func:`prune_magnitude`) — unstructured: TensorFlow Model
   Optimization's ``prune_low_magnitude`` masks the smallest-magnitude kernel weights of Dense
   and convolution layers while the model is fine-tuned (``UpdatePruningStep`` advances the
   schedule), either with a polynomial ramp from 0 to the target sparsity (Zhu & Gupta 2017,
   "To prune, or not to prune") or at a constant sparsity from the first step; then
   ``strip_pruning`` removes the wrappers. The tensors keep their shape: parameter count and
   the raw weights file do **not** shrink, only the zeros grow (see ``nonzero_params`` and the
   deflate-compressed size in :func:`opscore.measure.weights_size`), and dense kernels run no
   faster. It is the baseline the structured methods are judged against.

2. **Accuracy-aware structured filter pruning** (:func:`accuracy_aware_filter_pruning`), the
   paper's main technique. Filters are ranked inside a layer by the L1 norm of their kernels
   (:func:`filter_l1_norms`, Li et al. 2017, "Pruning Filters for Efficient ConvNets"). Each
   convolution's *sensitivity* is measured alone (:func:`layer_sensitivity`): remove a fixed
   ``ratio`` of its smallest filters, evaluate, record the accuracy drop. Layers are then pruned
   from the least to the most sensitive (``order="sensitivity"``; ``"input-to-output"`` is the
   naive order for comparison), each step optionally fine-tuned, until the next step would
   push the accuracy drop (against the original model) beyond ``budget``. Pruning is
   *physical* (:func:`prune_filters`): the model is rebuilt with fewer filters and the weights
   sliced — the convolution's kernel and bias, its BatchNormalization's four vectors, the next
   convolution's input channels, or after ``Flatten`` the matching rows of the next Dense
   kernel — so parameters, the saved file and inference time all fall. With ``quantize`` the
   fully connected layers are stored quantized as well (:func:`quantize_dense`, see below),
   and that step counts against the same budget.

3. **Out-of-order layer pruning** (:func:`out_of_order_layer_removal`): whole layers are
   removed — a Dense or convolution layer with the BatchNorm/activation/dropout layers that
   follow it (a *block*), or two adjacent blocks together — when the run's input and output
   shapes match so the rest of the network is unchanged (e.g. VGG's 3×3 256→256 convolutions,
   AlexNet's conv5 and fc2, a fold of the A2E accordion: 256→64→256 collapses to 256).
   :func:`layer_removal_sensitivity` measures each candidate's accuracy drop; they are removed
   in that order — not input-to-output, hence the name — until the budget is reached.

Quantization of the fully connected layers
------------------------------------------
:func:`quantize_dense` replaces every ``Dense`` layer by :class:`QuantizedDense`, which stores
its kernel as **int8 with one float32 scale per output unit** (symmetric: ``scale = max|w| /
127``, ``w ≈ q · scale``; error at most half a step, ≤ 0.4 % of the column's largest weight)
or, with ``mode="float16"``, as float16. Biases stay float32. The variables really have these
dtypes, so the HDF5 weights file holds 1 (or 2) bytes per dense weight instead of 4: on
AlexNet, where the dense layers hold ~70 % of the parameters, the file shrinks ~2×, and
combined with filter pruning much more. The kernel is dequantized to float32 inside ``call``
(one cast and multiply per batch), so inference stays on ordinary float32 kernels on any CPU.
Quantized layers are inference artifacts: their weights are not trainable.

Graphs that are not plain chains
--------------------------------
Filter pruning follows each pruned layer's channels through channel-wise layers
(BatchNormalization, activations, pooling, dropout, padding, depthwise convolutions with
multiplier 1, Flatten) to the layers that consume them. A convolution inside a residual block
(whose output reaches the next convolution) can be pruned; one whose channels reach a merge
layer (``Add``, ``Concatenate``, ...) cannot, because the other branch keeps its width —
:class:`PruningError` then names the convolution, the merge layer and why.
:func:`layer_sensitivity` lists such layers with ``prunable=False`` and the reason.
Nested models (a model used as a layer) must be flattened first; Sequential models are
returned as functional models.

Saving
------
A pruned model no longer matches the architecture its builder makes, so weights alone cannot
be loaded into ``build_classifier(...)``: save the whole model with :func:`save_model` (HDF5
with the architecture, no optimizer state) and read it with :func:`load_model`.
"""
from __future__ import annotations

import copy
import os
import tempfile
import time
import warnings
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import pandas as pd

from opscore.measure import classification_metrics
from opscore.score import METRICS
from opscore.tf import keras, tf

__all__ = [
    "PruningError",
    "QuantizedDense",
    "CUSTOM_OBJECTS",
    "prune_magnitude",
    "kernel_sparsity",
    "filter_l1_norms",
    "prunable_filter_layers",
    "prune_filters",
    "layer_sensitivity",
    "accuracy_aware_filter_pruning",
    "quantize_dense",
    "removal_candidates",
    "layer_removal_sensitivity",
    "remove_layers",
    "out_of_order_layer_removal",
    "compression_rate",
    "accuracy_evaluator",
    "fine_tuner",
    "copy_model",
    "save_model",
    "load_model",
]

EvaluateFn = Callable[[object], float]


class PruningError(ValueError):
    """A model or plan that cannot be pruned as asked; the message says which layer and why."""


# ======================================================================================
# Quantized dense layer
# ======================================================================================


@keras.saving.register_keras_serializable(package="opscore")
class QuantizedDense(keras.layers.Layer):
    """A Dense layer whose kernel is stored as int8 (+ a float32 scale per unit) or float16.

    Build it from a trained Dense layer with :func:`quantize_dense`; on its own it starts
    with zero weights. Weights are not trainable.
    """

    STORAGE = ("int8", "float16")

    def __init__(self, units: int, activation=None, use_bias: bool = True, storage: str = "int8", **kwargs):
        kwargs["trainable"] = False
        super().__init__(**kwargs)
        if storage not in self.STORAGE:
            raise ValueError(f"QuantizedDense storage must be one of {self.STORAGE}, got {storage!r}")
        self.units = int(units)
        self.activation = keras.activations.get(activation)
        self.use_bias = bool(use_bias)
        self.storage = storage
        self.scale = None
        self.bias = None

    def build(self, input_shape):
        in_dim = int(input_shape[-1])
        self.kernel_q = self.add_weight("kernel_q", (in_dim, self.units), dtype=self.storage,
                                        initializer="zeros", trainable=False)
        if self.storage == "int8":
            self.scale = self.add_weight("scale", (self.units,), dtype="float32", initializer="ones",
                                         trainable=False)
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.units,), dtype="float32", initializer="zeros",
                                        trainable=False)
        super().build(input_shape)

    def dequantized_kernel(self):
        kernel = tf.cast(self.kernel_q, self.compute_dtype)
        if self.scale is not None:
            kernel = kernel * tf.cast(self.scale, self.compute_dtype)
        return kernel

    def call(self, inputs):
        kernel = self.dequantized_kernel()
        if inputs.shape.rank == 2:
            outputs = tf.matmul(inputs, kernel)
        else:
            outputs = tf.tensordot(inputs, kernel, [[inputs.shape.rank - 1], [0]])
        if self.bias is not None:
            outputs = outputs + tf.cast(self.bias, self.compute_dtype)
        return self.activation(outputs)

    def compute_output_shape(self, input_shape):
        return tf.TensorShape(input_shape)[:-1].concatenate([self.units])

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, activation=keras.activations.serialize(self.activation),
                      use_bias=self.use_bias, storage=self.storage)
        config.pop("trainable", None)
        return config

    @staticmethod
    def quantize(kernel: np.ndarray, storage: str = "int8") -> list[np.ndarray]:
        """Kernel → [kernel_q] (float16) or [kernel_q, scale] (int8, symmetric per output unit)."""
        kernel = np.asarray(kernel, np.float32)
        if storage == "float16":
            return [kernel.astype(np.float16)]
        scale = np.abs(kernel).max(axis=0) / 127.0
        scale = np.where(scale > 0, scale, 1.0).astype(np.float32)
        q = np.clip(np.rint(kernel / scale), -127, 127).astype(np.int8)
        return [q, scale]


#: What :func:`load_model` and every rebuild pass to Keras (QuantizedDense is also registered
#: as "opscore>QuantizedDense", so plain keras.models.load_model works once this module is imported).
CUSTOM_OBJECTS = {"QuantizedDense": QuantizedDense, "opscore>QuantizedDense": QuantizedDense}


# ======================================================================================
# Model graph utilities (config surgery + weight transfer)
# ======================================================================================

_CONV_TYPES = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)
_TRANSPOSED = (keras.layers.Conv1DTranspose, keras.layers.Conv2DTranspose, keras.layers.Conv3DTranspose)


def _is_conv(layer) -> bool:
    """A plain convolution (kernel [..., in, out]); not depthwise, separable or transposed."""
    return isinstance(layer, _CONV_TYPES) and not isinstance(layer, _TRANSPOSED) and type(layer) in (
        keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)


def _is_dense(layer) -> bool:
    return type(layer) is keras.layers.Dense or isinstance(layer, QuantizedDense)


def _stateless_channelwise():
    L = keras.layers
    return (L.Activation, L.ReLU, L.LeakyReLU, L.ELU, L.ThresholdedReLU, L.Dropout, L.SpatialDropout1D,
            L.SpatialDropout2D, L.SpatialDropout3D, L.GaussianNoise, L.GaussianDropout, L.AlphaDropout,
            L.ActivityRegularization, L.MaxPooling1D, L.MaxPooling2D, L.MaxPooling3D, L.AveragePooling1D,
            L.AveragePooling2D, L.AveragePooling3D, L.GlobalAveragePooling1D, L.GlobalAveragePooling2D,
            L.GlobalAveragePooling3D, L.GlobalMaxPooling1D, L.GlobalMaxPooling2D, L.GlobalMaxPooling3D,
            L.ZeroPadding1D, L.ZeroPadding2D, L.ZeroPadding3D, L.Cropping1D, L.Cropping2D, L.Cropping3D,
            L.UpSampling1D, L.UpSampling2D, L.UpSampling3D)


def _weighted_channelwise():
    L = keras.layers
    return (L.BatchNormalization, L.LayerNormalization, L.PReLU)


def _satellites():
    """Layers that belong to the weighted layer before them when whole layers are removed."""
    L = keras.layers
    return (L.BatchNormalization, L.LayerNormalization, L.Activation, L.ReLU, L.LeakyReLU, L.ELU, L.PReLU,
            L.ThresholdedReLU, L.Dropout, L.SpatialDropout1D, L.SpatialDropout2D, L.SpatialDropout3D,
            L.GaussianNoise, L.GaussianDropout, L.AlphaDropout)


def _functional(model):
    """The model as a functional graph (Sequential is wrapped); nested models are refused."""
    nested = [layer.name for layer in model.layers if isinstance(layer, keras.Model)]
    if nested:
        raise PruningError(f"{model.name} contains nested model(s) {', '.join(nested)}; build the classifier "
                           "flat (one functional graph, like opscore.models.build_classifier) before pruning.")
    if isinstance(model, keras.Sequential):
        if not model.built or not model.inputs:
            raise PruningError(f"Sequential model {model.name} has no defined input; give its first layer an "
                               "input_shape (or call it once) before pruning.")
        return keras.Model(model.inputs, model.outputs, name=model.name)
    if not getattr(model, "_is_graph_network", False):
        raise PruningError(f"{model.name} is a subclassed model; pruning needs a functional or Sequential model.")
    return model


class _Graph:
    """Layer connections read from a functional model's config."""

    def __init__(self, model):
        self.model = _functional(model)
        self.config = self.model.get_config()
        self.order = [entry["name"] for entry in self.config["layers"]]
        self.entries = {entry["name"]: entry for entry in self.config["layers"]}
        self.inbound: dict[str, list[str]] = {}
        self.shared: set[str] = set()
        for entry in self.config["layers"]:
            nodes = entry.get("inbound_nodes") or []
            if len(nodes) > 1:
                self.shared.add(entry["name"])
            self.inbound[entry["name"]] = [ref[0] for ref in nodes[0]] if nodes else []
        self.consumers: dict[str, list[str]] = {name: [] for name in self.order}
        for name in self.order:
            for source in self.inbound[name]:
                self.consumers[source].append(name)
        self.outputs = [ref[0] for ref in self.config["output_layers"]]

    def layer(self, name):
        return self.model.get_layer(name)


def _build_from_config(config) -> object:
    config = copy.deepcopy(config)
    for entry in config["layers"]:
        entry.pop("build_config", None)  # layers rebuild from the new shapes, not the recorded ones
    return keras.Model.from_config(config, custom_objects=CUSTOM_OBJECTS)


def copy_model(model):
    """An independent copy (same architecture and weights, new variables); Sequential → functional."""
    graph = _Graph(model)
    new = _build_from_config(graph.config)
    new.set_weights(graph.model.get_weights())
    return new


def _count_params(model) -> int:
    return int(sum(np.asarray(w).size for w in model.get_weights()))


# ======================================================================================
# 1. Magnitude pruning (tfmot)
# ======================================================================================


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
    :func:`opscore.training.make_pipeline` — or an ``(x, y)`` tuple (batched by ``batch_size``).
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
    wrapped.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy",
                    metrics=["accuracy"])
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


# ======================================================================================
# 2. Structured filter pruning
# ======================================================================================


def filter_l1_norms(layer) -> np.ndarray:
    """L1 norm of each output filter (convolution) or unit (Dense): sum of |kernel| over the
    other axes. Small norm = small contribution (Li et al. 2017)."""
    if isinstance(layer, QuantizedDense):
        kernel = np.asarray(layer.dequantized_kernel().numpy())
    elif _is_conv(layer) or _is_dense(layer):
        kernel = np.asarray(layer.kernel.numpy())
    else:
        raise PruningError(f"layer {layer.name!r} ({type(layer).__name__}) has no filters to rank; "
                           "filter pruning works on Conv1D/Conv2D/Conv3D (and Dense units)")
    return np.abs(kernel).reshape(-1, kernel.shape[-1]).sum(axis=0)


def _width(layer) -> int:
    return int(layer.filters if _is_conv(layer) else layer.units)


def _keep_smallest_removed(layer, n_remove: int) -> np.ndarray:
    """Indices of the filters kept when the ``n_remove`` smallest-L1 filters go (sorted)."""
    norms = filter_l1_norms(layer)
    order = np.argsort(norms, kind="stable")  # ties: lower index removed first, deterministic
    return np.sort(order[int(n_remove):])


class _Keep:
    """Channels kept on a tensor's last axis (indices into the original), and who pruned them."""

    def __init__(self, indices: np.ndarray, size: int, source: str):
        self.indices = np.asarray(indices, np.int64)
        self.size = int(size)
        self.source = source


def _channel_flow(graph: _Graph, out_keep: dict[str, np.ndarray]) -> tuple[dict, dict]:
    """Propagate pruned output channels through the graph.

    Returns (in_keep, out) — for each layer, the _Keep of its (single) input and of its output
    (None where nothing changed). Raises PruningError where channels cannot be followed.
    """
    out: dict[str, _Keep | None] = {}
    in_keep: dict[str, _Keep | None] = {}
    stateless = _stateless_channelwise()
    weighted = _weighted_channelwise()
    for name in graph.order:
        layer = graph.layer(name)
        sources = [out.get(s) for s in graph.inbound[name]]
        pruned_inputs = [k for k in sources if k is not None]
        keep_in = pruned_inputs[0] if pruned_inputs else None
        in_keep[name] = keep_in
        if keep_in is not None and name in graph.shared:
            raise PruningError(f"cannot prune {keep_in.source!r}: its channels reach {name!r}, a layer used "
                               "more than once in the graph (shared weights).")
        if keep_in is not None and len(sources) > 1:
            kind = type(layer).__name__
            raise PruningError(
                f"cannot prune {keep_in.source!r}: its channels reach {name!r} ({kind}), which merges "
                f"{len(sources)} branches (a residual or skip connection); the other branch keeps its "
                f"{keep_in.size} channels, so the shapes would no longer match. Prune only convolutions whose "
                "output reaches the next convolution or Dense layer through BatchNorm, activation, pooling, "
                "dropout or Flatten layers (e.g. the first convolutions inside a residual block).")
        if name in out_keep:
            if _is_conv(layer) and layer.groups != 1:
                raise PruningError(f"cannot prune {name!r}: grouped convolutions (groups={layer.groups}) "
                                   "are not supported.")
            if keep_in is not None and _is_conv(layer) and layer.groups != 1:
                raise PruningError(f"cannot prune {keep_in.source!r}: {name!r} is a grouped convolution.")
            out[name] = _Keep(out_keep[name], _width(layer), name)
            continue
        if keep_in is None:
            out[name] = None
            continue
        if _is_conv(layer):
            if layer.groups != 1:
                raise PruningError(f"cannot prune {keep_in.source!r}: its channels reach grouped convolution "
                                   f"{name!r} (groups={layer.groups}), which is not supported.")
            out[name] = None
        elif _is_dense(layer):
            out[name] = None
        elif isinstance(layer, keras.layers.DepthwiseConv2D):
            if layer.depth_multiplier != 1:
                raise PruningError(f"cannot prune {keep_in.source!r}: depthwise convolution {name!r} has "
                                   f"depth_multiplier {layer.depth_multiplier}; only 1 is supported.")
            out[name] = keep_in
        elif isinstance(layer, keras.layers.Flatten):
            if getattr(layer, "data_format", "channels_last") != "channels_last":
                raise PruningError(f"cannot prune {keep_in.source!r}: Flatten {name!r} is channels_first.")
            shape = layer.input_shape
            positions = int(np.prod(shape[1:-1])) if len(shape) > 2 else 1
            flat = (np.arange(positions)[:, None] * keep_in.size + keep_in.indices[None, :]).ravel()
            out[name] = _Keep(flat, positions * keep_in.size, keep_in.source)
        elif isinstance(layer, weighted):
            axis = getattr(layer, "axis", [-1])
            axis = list(axis) if isinstance(axis, (list, tuple)) else [axis]
            rank = len(layer.input_shape)
            if any(a not in (-1, rank - 1) for a in axis) and not isinstance(layer, keras.layers.PReLU):
                raise PruningError(f"cannot prune {keep_in.source!r}: {name!r} ({type(layer).__name__}) "
                                   f"normalises over axis {axis}, not the channel axis.")
            out[name] = keep_in
        elif isinstance(layer, stateless):
            out[name] = keep_in
        else:
            raise PruningError(
                f"cannot prune {keep_in.source!r}: its channels reach {name!r} ({type(layer).__name__}), which "
                "filter pruning cannot follow (supported between the pruned layer and its consumer: "
                "BatchNorm, activations, pooling, dropout, padding, depthwise convolutions, Flatten; consumers: "
                "Conv1D/2D/3D and Dense).")
    for name in graph.outputs:
        if out.get(name) is not None:
            raise PruningError(f"cannot prune {out[name].source!r}: its channels reach the model output "
                               f"{name!r}, whose width is fixed (the classes).")
    return in_keep, out


def _sliced_weights(layer, keep_in: _Keep | None, keep_out: _Keep | None) -> list[np.ndarray]:
    weights = [np.asarray(w) for w in layer.get_weights()]
    if keep_in is None and keep_out is None:
        return weights
    i = keep_in.indices if keep_in is not None else slice(None)
    o = keep_out.indices if keep_out is not None else slice(None)
    if _is_conv(layer):
        kernel = weights[0][..., i, :][..., o]
        return [kernel] + ([weights[1][o]] if layer.use_bias else [])
    if isinstance(layer, QuantizedDense):
        new = [weights[0][i, :][:, o]]
        rest = weights[1:]
        return new + [w[o] for w in rest]
    if _is_dense(layer):
        kernel = weights[0][i, :][:, o]
        return [kernel] + ([weights[1][o]] if layer.use_bias else [])
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        kernel = weights[0][:, :, keep_in.indices, :]
        return [kernel] + ([weights[1][keep_in.indices]] if layer.use_bias else [])
    # channel-wise layers with per-channel vectors (BatchNorm, LayerNorm, PReLU)
    size = keep_in.size
    return [w[..., keep_in.indices] if w.ndim and w.shape[-1] == size else w for w in weights]


def _rebuild_pruned(graph: _Graph, out_keep: dict[str, np.ndarray]):
    in_keep, out = _channel_flow(graph, out_keep)
    config = copy.deepcopy(graph.config)
    for entry in config["layers"]:
        name = entry["name"]
        if name in out_keep:
            key = "filters" if _is_conv(graph.layer(name)) else "units"
            entry["config"][key] = int(len(out_keep[name]))
    config["name"] = graph.config["name"]
    new = _build_from_config(config)
    for name in graph.order:
        old = graph.layer(name)
        if not old.weights:
            continue
        keep_out = out[name] if name in out_keep else None
        new.get_layer(name).set_weights(_sliced_weights(old, in_keep[name], keep_out))
    return new


def _check_plan(graph: _Graph, plan: dict[str, int]) -> dict[str, np.ndarray]:
    out_keep = {}
    for name, n_remove in plan.items():
        try:
            layer = graph.layer(name)
        except ValueError:
            raise PruningError(f"no layer {name!r} in {graph.model.name}") from None
        if not (_is_conv(layer) or _is_dense(layer)):
            raise PruningError(f"layer {name!r} is a {type(layer).__name__}; filter pruning removes filters of "
                               "Conv1D/Conv2D/Conv3D layers (or units of Dense layers)")
        if name in graph.outputs:
            raise PruningError(f"layer {name!r} is a model output (the classifier head); its units are the "
                               "classes and cannot be pruned")
        width = _width(layer)
        n_remove = int(n_remove)
        if not 0 <= n_remove < width:
            raise PruningError(f"cannot remove {n_remove} of the {width} filters of {name!r}: at least one "
                               "must stay (and the count cannot be negative)")
        if n_remove:
            out_keep[name] = _keep_smallest_removed(layer, n_remove)
    return out_keep


def prune_filters(model, plan: dict[str, int]):
    """A physically smaller copy of ``model``: for each ``layer → n`` in ``plan``, the ``n`` filters
    (or Dense units) with the smallest L1 norm are removed, and every layer downstream that
    read them (BatchNorm, the next convolution's input channels, Dense rows after Flatten)
    is sliced to match. Raises PruningError naming the layer that makes a plan impossible."""
    graph = _Graph(model)
    out_keep = _check_plan(graph, plan)
    if not out_keep:
        return copy_model(model)
    return _rebuild_pruned(graph, out_keep)


def _n_remove(width: int, ratio: float) -> int:
    return int(min(width - 1, max(1, round(ratio * width))))


def prunable_filter_layers(model) -> dict[str, str | None]:
    """Every convolution of ``model`` → None if its filters can be pruned, else the reason."""
    graph = _Graph(model)
    result = {}
    for name in graph.order:
        layer = graph.layer(name)
        if not _is_conv(layer):
            continue
        if _width(layer) < 2:
            result[name] = "has a single filter"
            continue
        try:
            _channel_flow(graph, {name: np.arange(1, _width(layer))})
            result[name] = None
        except PruningError as error:
            result[name] = str(error)
    return result


def layer_sensitivity(model, evaluate_fn: EvaluateFn, ratio: float = 0.5, layers: Iterable[str] | None = None,
                      baseline: float | None = None) -> pd.DataFrame:
    """Each convolution's sensitivity: remove ``ratio`` of its filters (smallest L1) alone and
    measure ``evaluate_fn``. Columns: layer, position (in the graph), filters, pruned (count),
    accuracy, drop (baseline − accuracy), prunable, reason. Rows in graph order; layers that
    cannot be pruned (e.g. feeding a residual Add) have NaN accuracy and the reason.
    ``attrs["baseline_accuracy"]`` holds the unpruned accuracy."""
    if not 0 < ratio < 1:
        raise PruningError(f"ratio must be between 0 and 1, got {ratio}")
    graph = _Graph(model)
    baseline = float(evaluate_fn(model)) if baseline is None else float(baseline)
    status = prunable_filter_layers(model)
    names = list(status) if layers is None else list(layers)
    rows = []
    for name in names:
        if name not in status:
            raise PruningError(f"{name!r} is not a convolution of {graph.model.name}; "
                               f"convolutions: {', '.join(status)}")
        layer = graph.layer(name)
        width = _width(layer)
        row = {"layer": name, "position": graph.order.index(name), "filters": width,
               "pruned": _n_remove(width, ratio) if width > 1 else 0,
               "accuracy": np.nan, "drop": np.nan, "prunable": status[name] is None, "reason": status[name] or ""}
        if status[name] is None:
            accuracy = float(evaluate_fn(prune_filters(graph.model, {name: row["pruned"]})))
            row.update(accuracy=accuracy, drop=baseline - accuracy)
        rows.append(row)
    frame = pd.DataFrame(rows, columns=["layer", "position", "filters", "pruned", "accuracy", "drop", "prunable",
                                        "reason"])
    frame.attrs["baseline_accuracy"] = baseline
    frame.attrs["ratio"] = ratio
    return frame


def _order_layers(sensitivity: pd.DataFrame, order: str) -> list[str]:
    usable = sensitivity[sensitivity["prunable"]]
    if order == "sensitivity":
        # least sensitive first; equal drops keep graph order (stable sort)
        return usable.sort_values(["drop", "position"], kind="stable")["layer"].tolist()
    if order == "input-to-output":
        return usable.sort_values("position", kind="stable")["layer"].tolist()
    raise PruningError(f"order must be 'sensitivity' or 'input-to-output', got {order!r}")


def accuracy_aware_filter_pruning(model, evaluate_fn: EvaluateFn, budget: float, ratio: float = 0.5,
                                  order: str = "sensitivity", fine_tune_fn: Callable | None = None,
                                  rounds: int = 1, quantize: str | None = None,
                                  layers: Iterable[str] | None = None, sensitivity: pd.DataFrame | None = None,
                                  stop_at_first_rejection: bool = True):
    """Lee et al.'s accuracy-aware structured pruning; returns ``(model, report)``.

    1. ``baseline = evaluate_fn(model)``; the sensitivity of every prunable convolution
       (:func:`layer_sensitivity` with ``ratio``; pass ``sensitivity`` to reuse a table).
    2. With ``quantize`` ("int8" or "float16") the Dense layers are quantized first
       (:func:`quantize_dense`); kept only if the drop stays within ``budget``.
    3. Layers in ``order`` — "sensitivity" (least sensitive first) or "input-to-output" — each
       lose ``ratio`` of their *current* filters (smallest L1 norm); the candidate is passed
       to ``fine_tune_fn(model) -> model`` if given, then evaluated. A step is accepted while
       ``baseline − accuracy <= budget`` (cumulative, against the original model); the first
       rejected step ends the search (or, with ``stop_at_first_rejection=False``, that layer is
       skipped). ``rounds`` > 1 repeats the pass over the layers.

    ``budget`` is in the units of ``evaluate_fn`` (accuracy 0..1: 0.02 = two points).
    The report has one row per tried step: step, round, action, layer, filters_before, removed,
    filters_after, accuracy, drop, accepted, params. ``report.attrs`` carries
    ``baseline_accuracy``, ``sensitivity`` (the table), ``order`` (layers in the order used) and
    ``plan`` (layer → total filters removed, accepted steps only).
    """
    if budget < 0:
        raise PruningError(f"budget must be >= 0, got {budget}")
    if not 0 < ratio < 1:
        raise PruningError(f"ratio must be between 0 and 1, got {ratio}")
    baseline = float(evaluate_fn(model))
    if sensitivity is None:
        sensitivity = layer_sensitivity(model, evaluate_fn, ratio, layers=layers, baseline=baseline)
    if not sensitivity["prunable"].astype(bool).any():
        reasons = "; ".join(f"{row.layer}: {row.reason}" for row in sensitivity.itertuples())
        raise PruningError(f"{model.name} has no convolution whose filters can be pruned"
                           + (f" ({reasons})" if reasons else "")
                           + "; filter pruning is for CNNs: use prune-layers or prune-magnitude for dense networks (A2E)")
    ordered = _order_layers(sensitivity, order)
    current = copy_model(model)
    rows: list[dict] = []
    plan: dict[str, int] = {}

    def record(**row):
        rows.append({"step": len(rows) + 1, **row})

    if quantize:
        candidate = quantize_dense(current, quantize)
        accuracy = float(evaluate_fn(candidate))
        accepted = baseline - accuracy <= budget
        record(round=0, action=f"quantize-dense-{quantize}", layer="", filters_before=np.nan, removed=0,
               filters_after=np.nan, accuracy=accuracy, drop=baseline - accuracy, accepted=accepted,
               params=_count_params(candidate))
        if accepted:
            current = candidate
    stop = False
    for round_index in range(1, int(rounds) + 1):
        for name in ordered:
            width = _width(current.get_layer(name))
            if width < 2:
                continue
            n = _n_remove(width, ratio)
            candidate = prune_filters(current, {name: n})
            if fine_tune_fn is not None:
                candidate = fine_tune_fn(candidate) or candidate
            accuracy = float(evaluate_fn(candidate))
            accepted = baseline - accuracy <= budget
            record(round=round_index, action="prune-filters", layer=name, filters_before=width, removed=n,
                   filters_after=width - n, accuracy=accuracy, drop=baseline - accuracy, accepted=accepted,
                   params=_count_params(candidate))
            if accepted:
                current = candidate
                plan[name] = plan.get(name, 0) + n
            elif stop_at_first_rejection:
                stop = True
                break
        if stop:
            break
    columns = ["step", "round", "action", "layer", "filters_before", "removed", "filters_after", "accuracy",
               "drop", "accepted", "params"]
    report = pd.DataFrame(rows, columns=columns)
    report.attrs.update(baseline_accuracy=baseline, sensitivity=sensitivity, order=ordered, plan=plan,
                        budget=budget, ratio=ratio)
    return current, report


# ======================================================================================
# Quantization of the fully connected layers
# ======================================================================================


def quantize_dense(model, mode: str = "int8", layers: Iterable[str] | None = None):
    """A copy of ``model`` whose Dense layers (all, or ``layers``) are :class:`QuantizedDense`:
    kernels stored int8 + per-unit float32 scale ("int8") or float16 ("float16"), so the saved
    weights really shrink (4× or 2× for those kernels); biases stay float32."""
    if mode not in QuantizedDense.STORAGE:
        raise PruningError(f"quantization mode must be one of {QuantizedDense.STORAGE}, got {mode!r}")
    graph = _Graph(model)
    names = [n for n in graph.order if type(graph.layer(n)) is keras.layers.Dense]
    if layers is not None:
        wanted = list(layers)
        bad = [n for n in wanted if n not in names]
        if bad:
            raise PruningError(f"not Dense layer(s) of {graph.model.name}: {', '.join(bad)}")
        names = wanted
    config = copy.deepcopy(graph.config)
    for entry in config["layers"]:
        if entry["name"] in names:
            old = entry["config"]
            entry["class_name"] = "QuantizedDense"
            entry["module"] = None
            entry["registered_name"] = "opscore>QuantizedDense"
            entry["config"] = {"name": old["name"], "dtype": old.get("dtype", "float32"), "units": old["units"],
                               "activation": old["activation"], "use_bias": old["use_bias"], "storage": mode}
    new = _build_from_config(config)
    for name in graph.order:
        old = graph.layer(name)
        if not old.weights:
            continue
        if name in names:
            kernel, *bias = old.get_weights()
            new.get_layer(name).set_weights(QuantizedDense.quantize(kernel, mode) + bias)
        else:
            new.get_layer(name).set_weights(old.get_weights())
    return new


# ======================================================================================
# 3. Out-of-order layer removal
# ======================================================================================


def _shape(value) -> tuple:
    return tuple(value[1:]) if value is not None else ()


def _blocks(graph: _Graph) -> list[list[str]]:
    """Removable units: a weighted layer (Conv/Dense, not an output) + the satellite layers that
    follow it one by one (BatchNorm, activation, dropout); in graph order."""
    satellites = _satellites()
    blocks = []
    for name in graph.order:
        layer = graph.layer(name)
        if not (_is_conv(layer) or _is_dense(layer) or isinstance(layer, keras.layers.DepthwiseConv2D)):
            continue
        if name in graph.outputs or len(graph.inbound[name]) != 1 or name in graph.shared:
            continue
        block = [name]
        while True:
            consumers = graph.consumers[block[-1]]
            if len(consumers) != 1 or block[-1] in graph.outputs:
                break
            nxt = consumers[0]
            if not isinstance(graph.layer(nxt), satellites) or len(graph.inbound[nxt]) != 1:
                break
            block.append(nxt)
        if block[-1] in graph.outputs or not graph.consumers[block[-1]]:
            continue  # the block's output is the model's output
        blocks.append(block)
    return blocks


def _adjacent(graph: _Graph, first: list[str], second: list[str]) -> bool:
    return graph.consumers[first[-1]] == [second[0]]


def _run_shapes(graph: _Graph, run: list[list[str]]) -> tuple[tuple, tuple]:
    return _shape(graph.layer(run[0][0]).input_shape), _shape(graph.layer(run[-1][-1]).output_shape)


def removal_candidates(model, max_span: int = 2) -> pd.DataFrame:
    """What can be removed: runs of 1..``max_span`` adjacent blocks whose input shape equals
    their output shape. Columns: candidate ("a" or "a+b"), layers (weighted layers), removed
    (every layer that goes), position, params, input_shape, output_shape."""
    graph = _Graph(model)
    blocks = _blocks(graph)
    rows = []
    for start in range(len(blocks)):
        run = [blocks[start]]
        for span in range(1, max_span + 1):
            if span > 1:
                nxt = start + span - 1
                if nxt >= len(blocks) or not _adjacent(graph, run[-1], blocks[nxt]):
                    break
                run = run + [blocks[nxt]]
            shape_in, shape_out = _run_shapes(graph, run)
            if shape_in != shape_out:
                continue
            removed = [n for block in run for n in block]
            rows.append({
                "candidate": "+".join(block[0] for block in run), "layers": [block[0] for block in run],
                "removed": removed, "position": graph.order.index(run[0][0]),
                "params": int(sum(graph.layer(n).count_params() for n in removed)),
                "input_shape": shape_in, "output_shape": shape_out,
            })
    return pd.DataFrame(rows, columns=["candidate", "layers", "removed", "position", "params", "input_shape",
                                       "output_shape"])


def remove_layers(model, names: Iterable[str]):
    """A copy of ``model`` without the named weighted layers, each taken with the BatchNorm /
    activation / dropout layers that follow it. Every run of adjacent removed layers must
    have equal input and output shapes (so the next layer is unchanged); otherwise a
    PruningError names the run and its shapes. Names may be given as "a+b" candidates."""
    wanted = [part for name in names for part in str(name).split("+") if part]
    graph = _Graph(model)
    blocks = {block[0]: block for block in _blocks(graph)}
    for name in wanted:
        if name not in blocks:
            try:
                layer = graph.layer(name)
            except ValueError:
                raise PruningError(f"no layer {name!r} in {graph.model.name}") from None
            why = ("it is the model output" if name in graph.outputs else
                   f"it is a {type(layer).__name__}, not a Dense or convolution layer with one input")
            raise PruningError(f"cannot remove {name!r}: {why}")
    chosen = [blocks[n] for n in graph.order if n in wanted]
    if not chosen:
        return copy_model(model)
    runs: list[list[list[str]]] = []
    for block in chosen:
        if runs and _adjacent(graph, runs[-1][-1], block):
            runs[-1].append(block)
        else:
            runs.append([block])
    for run in runs:
        shape_in, shape_out = _run_shapes(graph, run)
        if shape_in != shape_out:
            label = "+".join(block[0] for block in run)
            raise PruningError(f"cannot remove {label}: its input has shape {shape_in} but its output {shape_out}; "
                               "the next layer would get the wrong shape. Remove layers (or adjacent groups) whose "
                               "input and output shapes match.")
    removed = {n for block in chosen for n in block}
    config = copy.deepcopy(graph.config)

    def resolve(ref):
        while ref[0] in removed:
            ref = list(graph.config["layers"][graph.order.index(ref[0])]["inbound_nodes"][0][0][:3]) + list(ref[3:])
        return ref

    config["layers"] = [entry for entry in config["layers"] if entry["name"] not in removed]
    for entry in config["layers"]:
        entry["inbound_nodes"] = [[resolve(list(ref)) for ref in node] for node in entry.get("inbound_nodes", [])]
    config["output_layers"] = [resolve(list(ref)) for ref in config["output_layers"]]
    new = _build_from_config(config)
    for layer in new.layers:
        if layer.weights:
            layer.set_weights(graph.layer(layer.name).get_weights())
    return new


def layer_removal_sensitivity(model, evaluate_fn: EvaluateFn, max_span: int = 2,
                              baseline: float | None = None) -> pd.DataFrame:
    """Accuracy after removing each candidate of :func:`removal_candidates` alone, sorted from the
    least to the most sensitive. Columns: candidate, layers, removed, position, params,
    accuracy, drop. ``attrs["baseline_accuracy"]`` holds the unpruned accuracy."""
    baseline = float(evaluate_fn(model)) if baseline is None else float(baseline)
    frame = removal_candidates(model, max_span)
    accuracies = [float(evaluate_fn(remove_layers(model, layers))) for layers in frame["layers"]]
    frame = frame.drop(columns=["input_shape", "output_shape"]).assign(
        accuracy=accuracies, drop=[baseline - a for a in accuracies])
    frame = frame.sort_values(["drop", "position"], kind="stable").reset_index(drop=True)
    frame.attrs["baseline_accuracy"] = baseline
    return frame


def out_of_order_layer_removal(model, evaluate_fn: EvaluateFn, budget: float, max_span: int = 2,
                               fine_tune_fn: Callable | None = None, sensitivity: pd.DataFrame | None = None,
                               stop_at_first_rejection: bool = True):
    """Remove whole layers in the order of their measured sensitivity until ``budget``;
    returns ``(model, report)``. Candidates overlapping an accepted removal, or no longer
    removable in the reduced model, are skipped. Report columns: step, candidate, params,
    accuracy, drop, accepted; ``attrs`` has baseline_accuracy, sensitivity, removed (layers)."""
    if budget < 0:
        raise PruningError(f"budget must be >= 0, got {budget}")
    baseline = float(evaluate_fn(model))
    if sensitivity is None:
        sensitivity = layer_removal_sensitivity(model, evaluate_fn, max_span, baseline=baseline)
    current = copy_model(model)
    gone: set[str] = set()
    removed_layers: list[str] = []
    rows = []
    for candidate in sensitivity.itertuples(index=False):
        if gone & set(candidate.removed):
            continue
        try:
            reduced = remove_layers(current, candidate.layers)
        except PruningError:
            continue
        if fine_tune_fn is not None:
            reduced = fine_tune_fn(reduced) or reduced
        accuracy = float(evaluate_fn(reduced))
        accepted = baseline - accuracy <= budget
        rows.append({"step": len(rows) + 1, "candidate": candidate.candidate, "params": _count_params(reduced),
                     "accuracy": accuracy, "drop": baseline - accuracy, "accepted": accepted})
        if accepted:
            current = reduced
            gone |= set(candidate.removed)
            removed_layers += list(candidate.layers)
        elif stop_at_first_rejection:
            break
    report = pd.DataFrame(rows, columns=["step", "candidate", "params", "accuracy", "drop", "accepted"])
    report.attrs.update(baseline_accuracy=baseline, sensitivity=sensitivity, removed=removed_layers, budget=budget)
    return current, report


# ======================================================================================
# Measuring, evaluating, fine-tuning, saving
# ======================================================================================


def compression_rate(original, pruned) -> dict:
    """How much smaller ``pruned`` is: ``params_ratio`` and ``bytes_ratio`` (original / pruned, so
    47.28 means "47.28× smaller", the paper's unit), over all weights and the HDF5 weights file
    (:func:`opscore.measure.weights_size`), plus nonzero and deflate-compressed ratios (the
    ones magnitude pruning improves)."""
    from opscore.measure import weights_size

    a, b = weights_size(original), weights_size(pruned)
    return {
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
    of :data:`opscore.score.METRICS` (balanced accuracy, macro F1, ... for imbalanced data), so
    a pruning budget is judged on the metric the dataset is ranked by. ``x`` is an array
    (``preprocess`` applied once) or a batched ``tf.data.Dataset`` in the order of ``y``
    (e.g. :func:`opscore.training.make_pipeline`, which prepares images batch by batch)."""
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
        model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        if isinstance(train_data, tf.data.Dataset):
            model.fit(train_data, epochs=epochs, verbose=verbose)
        else:
            model.fit(train_data[0], train_data[1], batch_size=batch_size, epochs=epochs, verbose=verbose)
        return model

    return fine_tune


def save_model(model, path: str | Path) -> None:
    """The whole model (architecture + weights, no optimizer) as HDF5, written atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".partial.h5", dir=path.parent)
    os.close(fd)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "HDF5 is legacy": chosen on purpose (one file)
            model.save(tmp, include_optimizer=False, save_format="h5")
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def load_model(path: str | Path):
    """Read a model written by :func:`save_model` (QuantizedDense included), uncompiled."""
    return keras.models.load_model(str(path), custom_objects=CUSTOM_OBJECTS, compile=False)
