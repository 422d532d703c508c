"""Models trained from scratch, selectable by name like ``keras.applications``.
AlexNet (for 32x32 inputs) and the accordion autoencoder A2E (Lee et al.); design notes: docs/models.md."""
from __future__ import annotations

from typing import Callable

import numpy as np

__all__ = ["SCRATCH_MODELS", "DENSE_MODELS", "ScratchModelError", "build", "build_alexnet", "build_a2e",
           "adapt_normalization", "preprocess", "preprocess_function", "is_scratch_model"]


class ScratchModelError(ValueError):
    """A user-facing problem with a scratch model name or its options."""


def preprocess(images):
    """Scale pixel values 0..255 to float32 0..1 (numpy in → numpy out, tensor in → tensor out)."""
    if isinstance(images, np.ndarray) or np.isscalar(images):
        return np.asarray(images, np.float32) / np.float32(255.0)
    from opscore.tf import tf

    return tf.cast(images, tf.float32) / 255.0


def _seeded(seed: int) -> Callable[[], object]:
    """A fresh seeded GlorotUniform initialiser per call (seed, seed+1, ...)."""
    from opscore.tf import keras

    counter = iter(range(10**6))
    return lambda: keras.initializers.GlorotUniform(seed=seed * 1000 + next(counter))


def _as_shape(input_shape) -> tuple[int, ...]:
    if isinstance(input_shape, (int, np.integer)):
        return (int(input_shape),)
    return tuple(int(d) for d in input_shape)


#: A2E's input normalization; adapt_normalization finds it by this name, so no other model's
#: Normalization layer (EfficientNet's ImageNet statistics) is ever refitted.
NORMALIZATION_LAYER = "a2e_normalize"

#: AlexNet's convolutions for 32×32 inputs: (filters, max-pool after it).
ALEXNET_CONVS = ((64, True), (192, True), (384, False), (256, False), (256, True))


def build_alexnet(n_classes: int, input_shape=(32, 32, 3), seed: int = 0, width: float = 1.0,
                  dense_units: int = 1024, dropout: float = 0.5, name: str = "AlexNet"):
    """AlexNet for small images: 5 × (Conv3×3 → BN → ReLU [→ MaxPool]), Flatten,
    2 × (Dense → Dropout), softmax ``head_dense``. ``width`` scales every conv width."""
    from opscore.tf import keras

    input_shape = _as_shape(input_shape)
    if len(input_shape) != 3:
        raise ScratchModelError(f"AlexNet needs images (height, width, channels), got input shape {input_shape}")
    if min(input_shape[:2]) < 8:
        raise ScratchModelError(f"AlexNet pools three times; inputs must be at least 8×8, got {input_shape}")
    init = _seeded(seed)
    inputs = keras.Input(input_shape, name="input")
    x = inputs
    for index, (filters, pool) in enumerate(ALEXNET_CONVS, start=1):
        x = keras.layers.Conv2D(max(1, round(filters * width)), 3, padding="same", kernel_initializer=init(),
                                name=f"conv{index}")(x)
        x = keras.layers.BatchNormalization(name=f"conv{index}_bn")(x)
        x = keras.layers.Activation("relu", name=f"conv{index}_relu")(x)
        if pool:
            x = keras.layers.MaxPooling2D(2, name=f"pool{index}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    for index in (1, 2):
        x = keras.layers.Dense(dense_units, activation="relu", kernel_initializer=init(), name=f"fc{index}")(x)
        x = keras.layers.Dropout(dropout, seed=seed + index, name=f"fc{index}_dropout")(x)
    outputs = keras.layers.Dense(n_classes, activation="softmax", kernel_initializer=init(), name="head_dense")(x)
    return keras.Model(inputs, outputs, name=name)


def build_a2e(n_classes: int, input_shape, seed: int = 0, accordion=(256, 64, 256, 64), dropout: float = 0.0,
              normalize: bool = False, name: str = "A2E"):
    """The accordion autoencoder classifier: [Normalization] → Flatten → Dense(accordion[i], ReLU)… →
    softmax ``head_dense``. ``normalize`` adds a Normalization layer (identity until
    :func:`adapt_normalization`) so raw tabular columns (amounts, times) reach the dense layers
    standardised."""
    from opscore.tf import keras

    input_shape = _as_shape(input_shape)
    accordion = [int(units) for units in accordion]
    if not accordion or min(accordion) < 1:
        raise ScratchModelError(f"A2E needs at least one dense layer width >= 1, got {accordion}")
    init = _seeded(seed)
    # Raw table columns (a fraud table's Time reaches 172,792, its variance ~1e9) overflow float16
    # (max 65,504): in a float16 A2E the input and its standardisation stay float32, as Keras keeps
    # batch normalization, and the dense layers after them compute in float16.
    inputs = keras.Input(input_shape, name="input", dtype="float32" if normalize else None)
    x = inputs
    if normalize:
        x = keras.layers.Normalization(axis=-1, name=NORMALIZATION_LAYER, dtype="float32")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    for index, units in enumerate(accordion, start=1):
        x = keras.layers.Dense(units, activation="relu", kernel_initializer=init(), name=f"fold{index}")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, seed=seed + index, name=f"fold{index}_dropout")(x)
    outputs = keras.layers.Dense(n_classes, activation="softmax", kernel_initializer=init(), name="head_dense")(x)
    return keras.Model(inputs, outputs, name=name)


#: name → builder(n_classes, input_shape, seed, **options)
SCRATCH_MODELS: dict[str, Callable] = {"AlexNet": build_alexnet, "A2E": build_a2e}
#: the dense-only models: they take tabular feature vectors (built with ``normalize=True`` for
#: them) and images at their native shape (digits 8x8x1 = 64 values, MNIST 784), never resized to
#: RGB; they have no convolution filters to prune
DENSE_MODELS = ("A2E",)


def adapt_normalization(model, x) -> int:
    """Learn the feature mean/variance of A2E's input normalization from ``x`` (the training
    split); returns 1 if the model has that layer, else 0. Only A2E's own layer is touched
    (EfficientNet's Normalization holds ImageNet statistics). The statistics are weights: they
    travel with the weights file and reload with it."""
    layers = [layer for layer in model.layers if layer.name == NORMALIZATION_LAYER]
    for layer in layers:
        layer.adapt(np.asarray(x, np.float32))
    return len(layers)


def is_scratch_model(name: str) -> bool:
    return name in SCRATCH_MODELS


def build(name: str, n_classes: int, input_shape, seed: int = 0, **options):
    """Build scratch model ``name`` as a full softmax classifier (last layer ``head_dense``).

    ``options`` go to the builder (AlexNet: width, dense_units, dropout; A2E: accordion,
    dropout, normalize).
    """
    if name not in SCRATCH_MODELS:
        raise ScratchModelError(f"unknown scratch model {name!r}; known: {', '.join(SCRATCH_MODELS)}")
    try:
        return SCRATCH_MODELS[name](n_classes, input_shape, seed=seed, **options)
    except TypeError as error:  # an unknown option
        raise ScratchModelError(f"bad options for {name}: {error}") from error


def preprocess_function(name: str):
    """The input scaling for scratch model ``name`` (always :func:`preprocess`)."""
    if name not in SCRATCH_MODELS:
        raise ScratchModelError(f"unknown scratch model {name!r}; known: {', '.join(SCRATCH_MODELS)}")
    return preprocess
