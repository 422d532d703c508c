"""Graph surgery shared by the structural techniques: read a functional model's layer graph from
its config, rebuild an edited config, copy weights across, and save/load whole rebuilt models.
Why config surgery (not cloning): docs/compression.md."""
from __future__ import annotations

import copy
import warnings
from pathlib import Path
from typing import Callable

from opscore.job import atomic_path
from opscore.models.quantized_layer import CUSTOM_OBJECTS, QuantizedDense
from opscore.tf import keras

EvaluateFn = Callable[[object], float]


class PruningError(ValueError):
    """A model or plan that cannot be pruned as asked; the message says which layer and why."""



_CONV_TYPES = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)
_TRANSPOSED = (keras.layers.Conv1DTranspose, keras.layers.Conv2DTranspose, keras.layers.Conv3DTranspose)


def is_conv(layer) -> bool:
    """A plain convolution (kernel [..., in, out]); not depthwise, separable or transposed."""
    return isinstance(layer, _CONV_TYPES) and not isinstance(layer, _TRANSPOSED) and type(layer) in (
        keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)


def is_dense(layer) -> bool:
    return type(layer) is keras.layers.Dense or isinstance(layer, QuantizedDense)


def stateless_channelwise():
    L = keras.layers
    return (L.Activation, L.ReLU, L.LeakyReLU, L.ELU, L.ThresholdedReLU, L.Dropout, L.SpatialDropout1D,
            L.SpatialDropout2D, L.SpatialDropout3D, L.GaussianNoise, L.GaussianDropout, L.AlphaDropout,
            L.ActivityRegularization, L.MaxPooling1D, L.MaxPooling2D, L.MaxPooling3D, L.AveragePooling1D,
            L.AveragePooling2D, L.AveragePooling3D, L.GlobalAveragePooling1D, L.GlobalAveragePooling2D,
            L.GlobalAveragePooling3D, L.GlobalMaxPooling1D, L.GlobalMaxPooling2D, L.GlobalMaxPooling3D,
            L.ZeroPadding1D, L.ZeroPadding2D, L.ZeroPadding3D, L.Cropping1D, L.Cropping2D, L.Cropping3D,
            L.UpSampling1D, L.UpSampling2D, L.UpSampling3D)


def weighted_channelwise():
    L = keras.layers
    return (L.BatchNormalization, L.LayerNormalization, L.PReLU)


def satellites():
    """Layers that belong to the weighted layer before them when whole layers are removed."""
    L = keras.layers
    return (L.BatchNormalization, L.LayerNormalization, L.Activation, L.ReLU, L.LeakyReLU, L.ELU, L.PReLU,
            L.ThresholdedReLU, L.Dropout, L.SpatialDropout1D, L.SpatialDropout2D, L.SpatialDropout3D,
            L.GaussianNoise, L.GaussianDropout, L.AlphaDropout)


def _functional(model):
    """The model as a functional graph (Sequential is wrapped); nested models are refused."""
    nested = [layer.name for layer in model.layers if isinstance(layer, keras.Model)]
    if nested:
        raise PruningError(f"{model.name} contains nested model(s) {', '.join(nested)}; build the classifier flat "
                           "(one functional graph, like opscore.models.applications.build_classifier) before pruning.")
    if isinstance(model, keras.Sequential):
        if not model.built or not model.inputs:
            raise PruningError(f"Sequential model {model.name} has no defined input; give its first layer an "
                               "input_shape (or call it once) before pruning.")
        return keras.Model(model.inputs, model.outputs, name=model.name)
    if not getattr(model, "_is_graph_network", False):
        raise PruningError(f"{model.name} is a subclassed model; pruning needs a functional or Sequential model.")
    return model


class Graph:
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


def build_from_config(config) -> object:
    config = copy.deepcopy(config)
    for entry in config["layers"]:
        entry.pop("build_config", None)  # layers rebuild from the new shapes, not the recorded ones
    return keras.Model.from_config(config, custom_objects=CUSTOM_OBJECTS)


def copy_model(model):
    """An independent copy (same architecture and weights, new variables); Sequential → functional."""
    graph = Graph(model)
    new = build_from_config(graph.config)
    new.set_weights(graph.model.get_weights())
    return new



def save_model(model, path: str | Path) -> None:
    """The whole model (architecture + weights, no optimizer) as HDF5, written atomically."""
    with atomic_path(path, suffix=".h5") as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "HDF5 is legacy": chosen on purpose (one file)
        model.save(tmp, include_optimizer=False, save_format="h5")


def load_model(path: str | Path):
    """Read a model written by :func:`save_model` (QuantizedDense included), uncompiled."""
    return keras.models.load_model(str(path), custom_objects=CUSTOM_OBJECTS, compile=False)
