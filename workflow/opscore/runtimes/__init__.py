"""Runtimes: what a deployed variant is loaded into and invoked with, apart from how it was made.

A kind names its runtime in the registry (``Kind.runtime``); measuring opens an artifact through
that runtime's module alone, so a process that measures a TFLite flatbuffer imports LiteRT and
never TensorFlow. Every runtime module has ``NAME``, ``version()`` and ``open_session(artifact,
model, threads) -> Session`` (``model``: :class:`ModelInfo`); a session answers ``predict(batch)``
with class probabilities, gives its ``kernels()`` as stored, and says ``input_dtype``, ``layers``,
``execution_provider`` (the device it computes on) and ``threads()``. A new runtime is one module
here and one entry in :data:`RUNTIMES`.
"""
from __future__ import annotations

import importlib
import sys
from dataclasses import asdict, dataclass

#: runtime name (``Kind.runtime``) -> the module that loads and invokes it
RUNTIMES = {"litert": "opscore.runtimes.litert", "tensorflow": "opscore.runtimes.tensorflow",
            "onnxruntime": "opscore.runtimes.onnx"}
#: the libraries whose presence in a process says which runtimes it holds
RUNTIME_LIBRARIES = ("tensorflow", "tf_keras", "keras", "ai_edge_litert", "onnxruntime", "torch", "jax")


def loaded_runtime_libraries() -> list[str]:
    """The runtime libraries this process has imported: what its memory and time include."""
    return sorted(name for name in RUNTIME_LIBRARIES if name in sys.modules)


@dataclass(frozen=True)
class ModelInfo:
    """What opening an artifact needs besides the file: the variant and model names and the shape
    of the data (classes, input size, one example's shape)."""

    variant: str
    model: str
    n_classes: int
    input_size: int | None
    sample_shape: tuple[int, ...]

    def to_dict(self) -> dict:
        return {**asdict(self), "sample_shape": list(self.sample_shape)}

    @classmethod
    def from_dict(cls, values: dict) -> "ModelInfo":
        return cls(**{**values, "sample_shape": tuple(values["sample_shape"])})


def runtime_module(name: str):
    """The module of runtime ``name`` (imported now: it imports its runtime library)."""
    if name not in RUNTIMES:
        raise ValueError(f"unknown runtime {name!r}; known: {', '.join(RUNTIMES)}")
    return importlib.import_module(RUNTIMES[name])
