"""Open a variant's artifact the way it deploys (through its kind's runtime, opscore.runtimes) behind
the interface that evaluating its quality uses: predict over batches, file sizes, shape."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from opscore.kinds.registry import TrainingJob, Variant
from opscore.measure.sizes import file_size, kernel_statistics, weights_size
from opscore.runtimes import ModelInfo, runtime_module


@dataclass
class Deployable:
    """What evaluating needs of any variant: predict over batches, its file sizes, its shape."""

    predict: object  # callable(batches of (inputs, labels)) -> class probabilities
    sizes: dict
    layers: int
    runtime: str
    runtime_version: str
    keras_model: object = None  # the Keras model it runs (None for a TFLite flatbuffer)


def load_deployable(variant: Variant, artifact: str, job: TrainingJob, threads: int) -> Deployable:
    """The artifact opened in the runtime its kind deploys on (``Kind.runtime``). Sizes: the file
    itself for a flatbuffer; for a Keras model its weights as a weights-only file (no optimizer
    state), with parameter counts; for both, its kernels' nonzero share and distinct values."""
    runtime = runtime_module(variant.spec.runtime)
    model = ModelInfo(variant.name, job.model_name, job.n_classes, job.input_size, tuple(job.sample_shape))
    session = runtime.open_session(artifact, model, threads)
    keras_model = getattr(session, "keras_model", None)
    sizes = weights_size(keras_model) if keras_model is not None else file_size(artifact)
    sizes.update(kernel_statistics(session.kernels()))

    def predict(batches) -> np.ndarray:
        return np.concatenate([session.predict(np.asarray(x)) for x, _ in batches]).astype(np.float32, copy=False)

    return Deployable(predict, sizes, session.layers, runtime.NAME, runtime.version(), keras_model)
