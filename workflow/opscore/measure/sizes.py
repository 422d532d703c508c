"""A variant's size: its deployable file raw and deflated, its weights' parameters (nonzero too) as the
model computes with them, and its kernels' statistics (nonzero share, distinct values)."""
from __future__ import annotations

import tempfile
import zlib
from pathlib import Path

import numpy as np


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


def step_sizes(made) -> dict:
    """What one step of a derivation made, as a variant's row measures it: a Keras model's
    weights file (raw and deflated MB), parameters, nonzero parameters and kernel statistics; a
    file's (flatbuffer, ONNX) raw and deflated MB. Recorded per step, so that a chain's record
    shows what each step kept of the one before it."""
    if isinstance(made, (str, Path)):
        sizes = file_size(made)
        return {key: sizes[key] for key in ("size_mb", "size_compressed_mb")}
    sizes = weights_size(made)
    return {**{key: sizes[key] for key in ("size_mb", "size_compressed_mb", "params", "nonzero_params")},
            **kernel_statistics(keras_kernels(made))}


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
