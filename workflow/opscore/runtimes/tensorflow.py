"""TensorFlow with Keras 2 (tf_keras): a variant's weights file or whole model file loaded into the
architecture its kind builds, and invoked as a server would (a traced function of the batch, no
Keras predict loop). Loading needs opscore's model builders and custom layers, nothing else."""
from __future__ import annotations

import numpy as np

from opscore.tf import tf

NAME = "tensorflow"


def version() -> str:
    return tf.__version__


def load_keras_model(artifact: str, model):
    """The Keras model of ``artifact``: a weights file (trained kinds) loaded into the architecture
    its kind builds (the kind's ``load_classifier`` hook, else the classifier); a whole model file
    (derived kinds: pruning may change the architecture) loaded as it is."""
    from opscore.kinds.registry import TrainingJob, parse_variant
    from opscore.models.applications import build_classifier
    from opscore.models.graph import load_model

    if not artifact.endswith("weights.h5"):
        return load_model(artifact)
    job = TrainingJob(model.model, model.n_classes, model.input_size, sample_shape=tuple(model.sample_shape))
    hook = getattr(parse_variant(model.variant).spec.implementation(), "load_classifier", None)
    keras_model = hook(job) if hook else build_classifier(job.model_name, job.n_classes, job.input_size,
                                                          sample_shape=job.sample_shape)
    keras_model.load_weights(artifact)
    return keras_model


class Session:
    """A Keras model open in TensorFlow, answering batches through one traced function."""

    def __init__(self, keras_model):
        self.keras_model = keras_model
        self.input_dtype = keras_model.inputs[0].dtype.name
        self.layers = len(keras_model.layers)
        self.execution_provider = "GPU" if tf.config.list_physical_devices("GPU") else "CPU"
        self._serve = tf.function(lambda x: keras_model(x, training=False), reduce_retracing=True)

    def predict(self, batch: np.ndarray) -> np.ndarray:
        return self._serve(batch.astype(self.input_dtype, copy=False)).numpy()

    def kernels(self) -> list[np.ndarray]:
        from opscore.measure.sizes import keras_kernels

        return keras_kernels(self.keras_model)

    def threads(self) -> dict:
        return {"intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
                "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads()}


def open_session(artifact: str, model, threads: int) -> Session:
    from opscore.models.training import use_threads

    use_threads(threads)
    return Session(load_keras_model(artifact, model))
