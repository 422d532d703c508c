"""Quantization of the fully connected layers: every Dense layer becomes a QuantizedDense whose
kernel is stored int8 (+ per-unit scale) or float16, so the weights file really shrinks."""
from __future__ import annotations

import copy
from typing import Iterable

import pandas as pd

from opscore.compression.graph import Graph, PruningError, build_from_config
from opscore.compression.quantized_layer import QuantizedDense
from opscore.tf import keras
from opscore.variants import DENSE_QUANTIZATION


def quantize_dense(model, mode: str = "int8", layers: Iterable[str] | None = None):
    """A copy of ``model`` whose Dense layers (all, or ``layers``) are :class:`QuantizedDense`:
    kernels stored int8 + per-unit float32 scale ("int8") or float16 ("float16"), so the saved
    weights really shrink (4× or 2× for those kernels); biases stay float32."""
    if mode not in QuantizedDense.STORAGE:
        raise PruningError(f"quantization mode must be one of {QuantizedDense.STORAGE}, got {mode!r}")
    graph = Graph(model)
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
    new = build_from_config(config)
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




def make(model, variant, job):
    """The ``quantize-q8|q16`` variant: the dense layers quantized alone (registry entry in opscore.variants)."""
    return quantize_dense(model, DENSE_QUANTIZATION[variant.options["dense"]]), {}, pd.DataFrame()
