"""The paper's float16 variant: the classifier built, trained (on fast-float16 hardware) and saved
in half precision, or, where float16 arithmetic is emulated (CPUs), the original's float32 training
rounded (it is the same training: not repeated).
Why the Adam epsilon and the BatchNorm exception: docs/compression.md."""
from __future__ import annotations

import contextlib

import numpy as np

from opscore.kinds.registry import Built
from opscore.models.applications import build_classifier

# Smallest power of ten above float16's smallest normal number (6.1e-5): see the docstring.
FLOAT16_ADAM_EPSILON = 1e-4


@contextlib.contextmanager
def float16_scope():
    """Build layers with float16 variables and computation (Keras floatx), restoring the
    previous floatx on exit, also when the body raises."""
    from opscore.tf import keras

    previous = keras.backend.floatx()
    keras.backend.set_floatx("float16")
    try:
        yield
    finally:
        keras.backend.set_floatx(previous)


def build_float16_classifier(name: str, n_classes: int, input_size: int, base_weights: str | None = None,
                             seed: int = 0, sample_shape: tuple[int, ...] | None = None):
    """`models.build_classifier` in float16 (BatchNormalization parameters stay float32, as
    Keras makes them), starting from the float32 classifier's initial weights rounded to
    float16. Its input layer is float16 too; float32 inputs are cast on the way in."""
    reference = build_classifier(name, n_classes, input_size, base_weights=base_weights, seed=seed, sample_shape=sample_shape)
    with float16_scope():
        model = build_classifier(name, n_classes, input_size, seed=seed, sample_shape=sample_shape)
    model.set_weights([value.astype(variable.dtype.as_numpy_dtype)
                       for value, variable in zip(reference.get_weights(), model.weights, strict=True)])
    return model


#: ``float16.training`` in the config: where the float16 variant's training arithmetic runs
FLOAT16_TRAINING = ("auto", "float16", "float32")


def has_fast_float16() -> bool:
    """True on a GPU with tensor cores (compute capability 7.0 or newer: V100, T4, A100, ...),
    where float16 training is as fast or faster than float32; False on CPUs, where TensorFlow
    emulates it 50-100x slower (see the module docstring)."""
    from opscore.tf import tf

    for gpu in tf.config.list_physical_devices("GPU"):
        capability = tf.config.experimental.get_device_details(gpu).get("compute_capability", (0, 0))
        if tuple(capability) >= (7, 0):
            return True
    return False


def float16_training_precision(mode: str) -> str:
    """The precision the float16 variant is trained in: ``float16`` as the paper did where the
    device has fast float16 (``auto``) or when forced, else ``float32`` (the saved and measured
    weights are float16 either way: :func:`to_float16`)."""
    if mode not in FLOAT16_TRAINING:
        raise ValueError(f"float16.training must be one of {', '.join(FLOAT16_TRAINING)}; got {mode!r}")
    if mode == "auto":
        return "float16" if has_fast_float16() else "float32"
    return mode


def to_float16(model, name: str, n_classes: int, input_size: int, sample_shape: tuple[int, ...] | None = None):
    """A float32 classifier's trained weights rounded into the float16 classifier of the same
    architecture: the float16 variant of a model trained in float32."""
    with float16_scope():
        half = build_classifier(name, n_classes, input_size, sample_shape=sample_shape)
    half.set_weights([value.astype(variable.dtype.as_numpy_dtype)
                      for value, variable in zip(model.get_weights(), half.weights, strict=True)])
    return half


def float16_optimizer(learning_rate: float):
    """Adam for float16 variables: epsilon 1e-4 instead of 1e-7 (see the module docstring)."""
    from opscore.tf import keras

    if not 0 < float(np.float16(learning_rate)) < np.inf:
        raise ValueError(f"learning rate {learning_rate} is not representable in float16 "
                         f"(it must lie between ~6e-8 and 65504)")
    return keras.optimizers.Adam(learning_rate, epsilon=FLOAT16_ADAM_EPSILON)


def reuse_training(job):
    """Where the float16 variant trains in float32 (no fast float16 here, or forced), its training
    is the original's: same seed, data, settings and arithmetic. So the original's trained weights
    and epochs are taken instead of training again (``after_training`` rounds them); None where it
    trains in float16. The train rule lists the original's files as inputs for this."""
    trained_in = float16_training_precision(job.settings["training"])
    if trained_in == "float16":
        return None
    import pandas as pd

    print(f"float16 variant: trained in float32 (float16.training: {job.settings['training']}), that is the "
          "original's training: its weights are rounded to float16 and saved, its epochs recorded")
    model = build_classifier(job.model_name, job.n_classes, job.input_size, seed=job.seed,
                             sample_shape=job.sample_shape)
    model.load_weights(job.inputs["original"])
    return model, pd.read_parquet(job.inputs["original_history"]).assign(trained_in=trained_in)


def build(job) -> Built:
    """The float16 variant's training hook (registry: opscore.kinds.registry) where it trains in float16
    (on fast-float16 hardware, or forced): built in float16 with a float16-safe Adam."""
    print(f"float16 variant: trained in float16 (float16.training: {job.settings['training']}), saved in float16")
    model = build_float16_classifier(job.model_name, job.n_classes, job.input_size, base_weights=job.base_weights,
                                     seed=job.seed, sample_shape=job.sample_shape)
    # table rows stay float32 (scratch_models.build_a2e)
    return Built(model, float16_optimizer(job.learning_rate), "float16" if len(job.sample_shape) > 1 else "float32",
                 "float16")


def after_training(model, job, trained_in: str):
    """Saved in float16 either way: a model trained in float32 is rounded (:func:`to_float16`)."""
    if trained_in == "float32":
        return to_float16(model, job.model_name, job.n_classes, job.input_size, sample_shape=job.sample_shape)
    return model


def load_classifier(job):
    """The architecture the float16 weights file loads into, for measuring."""
    return build_float16_classifier(job.model_name, job.n_classes, job.input_size, sample_shape=job.sample_shape)
