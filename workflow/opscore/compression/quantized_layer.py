"""QuantizedDense: a Dense layer stored int8 (one float32 scale per unit) or float16, dequantized
to float32 inside ``call`` so inference runs on ordinary kernels; the layer every rebuilt graph
must know (``CUSTOM_OBJECTS``)."""
from __future__ import annotations

import numpy as np

from opscore.tf import keras, tf


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

