"""Low-bit weight storage: Dense layers become QuantizedDense and Conv2D layers QuantizedConv2D,
their kernels stored int8/int4/int2 (+ a float32 scale per unit or filter, 4 and 2 bits packed) or
float16, so the weights file really shrinks; biases stay float32."""
from __future__ import annotations

import copy
from typing import Iterable

import pandas as pd

from opscore.kinds.registry import CONV_QUANTIZATION, DENSE_QUANTIZATION
from opscore.models.graph import Graph, PruningError, build_from_config
from opscore.models.quantized_layer import QuantizedConv2D, QuantizedDense, QuantizedKernel
from opscore.tf import keras


def _dense_entry(old: dict) -> dict:
    return {"units": old["units"]}


def _conv_entry(old: dict) -> dict:
    return {key: old[key] for key in ("filters", "kernel_size", "strides", "padding", "dilation_rate")}


def _is_plain_conv2d(layer) -> bool:
    return (type(layer) is keras.layers.Conv2D and layer.groups == 1 and layer.data_format == "channels_last")


#: what each quantized layer replaces, and the config keys it keeps
_TARGETS = {
    QuantizedDense: (lambda layer: type(layer) is keras.layers.Dense, _dense_entry),
    QuantizedConv2D: (_is_plain_conv2d, _conv_entry),
}


def quantize_layers(model, mode: str, quantized: type[QuantizedKernel], layers: Iterable[str] | None = None):
    """A copy of ``model`` whose layers of the kind ``quantized`` replaces (all, or ``layers``)
    store their kernels as ``mode`` ("int8", "int4", "int2" or "float16")."""
    if mode not in QuantizedKernel.STORAGE:
        raise PruningError(f"quantization mode must be one of {QuantizedKernel.STORAGE}, got {mode!r}")
    selects, entry_of = _TARGETS[quantized]
    graph = Graph(model)
    names = [n for n in graph.order if selects(graph.layer(n))]
    if layers is not None:
        wanted = list(layers)
        bad = [n for n in wanted if n not in names]
        if bad:
            raise PruningError(f"not layer(s) {quantized.__name__} can replace in {graph.model.name}: {', '.join(bad)}")
        names = wanted
    config = copy.deepcopy(graph.config)
    for entry in config["layers"]:
        if entry["name"] in names:
            old = entry["config"]
            entry.update(class_name=quantized.__name__, module=None, registered_name=f"opscore>{quantized.__name__}")
            entry["config"] = {"name": old["name"], "dtype": old.get("dtype", "float32"), **entry_of(old),
                               "activation": old["activation"], "use_bias": old["use_bias"], "storage": mode}
    new = build_from_config(config)
    for name in graph.order:
        old = graph.layer(name)
        if not old.weights:
            continue
        if name in names:
            kernel, *bias = old.get_weights()
            new.get_layer(name).set_weights(quantized.quantize(kernel, mode) + bias)
        else:
            new.get_layer(name).set_weights(old.get_weights())
    return new


def quantize_dense(model, mode: str = "int8", layers: Iterable[str] | None = None):
    """The Dense layers (all, or ``layers``) stored as ``mode`` (:func:`quantize_layers`)."""
    return quantize_layers(model, mode, QuantizedDense, layers)


def quantize_convolutions(model, mode: str = "int8", layers: Iterable[str] | None = None):
    """The Conv2D layers (all, or ``layers``) stored as ``mode``, one scale per filter."""
    return quantize_layers(model, mode, QuantizedConv2D, layers)


def make(model, variant, job):
    """The ``quantize-q8|q4|q2|q16[-c8|-c4|-c2]`` variant: dense (and convolution) kernels stored at
    low bit, nothing else changed (registry entry in opscore.kinds.registry)."""
    model = quantize_dense(model, DENSE_QUANTIZATION[variant.options["dense"]])
    if variant.options.get("conv"):
        model = quantize_convolutions(model, CONV_QUANTIZATION[variant.options["conv"]])
    return model, {}, pd.DataFrame()
