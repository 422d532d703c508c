"""QuantizedDense: a Dense layer whose kernel is stored at 8, 4 or 2 bits (symmetric, one float32
scale per unit; 4 and 2 bits packed several to a byte, so the file really shrinks) or as float16,
and restored to float32 inside ``call`` so inference runs on ordinary kernels; the layer every
rebuilt graph must know (``CUSTOM_OBJECTS``)."""
from __future__ import annotations

import numpy as np

from opscore.tf import keras, tf


@keras.saving.register_keras_serializable(package="opscore")
class QuantizedDense(keras.layers.Layer):
    """A Dense layer whose kernel is stored as int8/int4/int2 (+ a float32 scale per unit) or float16.

    Build it from a trained Dense layer with :func:`opscore.compression.dense_quantization.quantize_dense`;
    on its own it starts with zero weights. Weights are not trainable. int4 and int2 kernels are one
    flat uint8 vector, two or four values per byte, each stored as q + LEVELS (unsigned).
    """

    STORAGE = ("int8", "int4", "int2", "float16")
    #: bits per stored kernel value
    BITS = {"int8": 8, "int4": 4, "int2": 2, "float16": 16}
    #: largest |q| of the symmetric integer grids: w ≈ q · scale, q in [-LEVELS, LEVELS]
    LEVELS = {"int8": 127, "int4": 7, "int2": 1}

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

    @property
    def packed(self) -> bool:
        return self.storage in ("int4", "int2")

    def build(self, input_shape):
        self.in_dim = int(input_shape[-1])
        shape = (_packed_length(self.in_dim * self.units, self.BITS[self.storage]),) if self.packed \
            else (self.in_dim, self.units)
        dtype = "uint8" if self.packed else self.storage
        self.kernel_q = self.add_weight("kernel_q", shape, dtype=dtype, initializer="zeros", trainable=False)
        if self.storage in self.LEVELS:
            self.scale = self.add_weight("scale", (self.units,), dtype="float32", initializer="ones",
                                         trainable=False)
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.units,), dtype="float32", initializer="zeros",
                                        trainable=False)
        super().build(input_shape)

    def dequantized_kernel(self):
        if self.packed:
            bits = self.BITS[self.storage]
            shifts = tf.constant([[bits * i for i in range(8 // bits)]], tf.int32)
            values = tf.bitwise.bitwise_and(tf.bitwise.right_shift(tf.cast(self.kernel_q, tf.int32)[:, None], shifts),
                                            (1 << bits) - 1)
            q = tf.reshape(values, [-1])[: self.in_dim * self.units] - self.LEVELS[self.storage]
            kernel = tf.reshape(tf.cast(q, self.compute_dtype), (self.in_dim, self.units))
        else:
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

    @classmethod
    def quantize(cls, kernel: np.ndarray, storage: str = "int8") -> list[np.ndarray]:
        """Kernel → [kernel_q] (float16) or [kernel_q, scale] (symmetric per output unit: scale =
        max|w| / LEVELS, so the error is at most scale / 2; int4/int2 packed into uint8)."""
        kernel = np.asarray(kernel, np.float32)
        if storage == "float16":
            return [kernel.astype(np.float16)]
        levels = cls.LEVELS[storage]
        scale = np.abs(kernel).max(axis=0) / levels
        scale = np.where(scale > 0, scale, 1.0).astype(np.float32)
        q = np.clip(np.rint(kernel / scale), -levels, levels)
        if storage == "int8":
            return [q.astype(np.int8), scale]
        return [_pack((q + levels).astype(np.uint8).ravel(), cls.BITS[storage]), scale]

    def parameter_values(self) -> list[np.ndarray]:
        """The logical parameters (kernel, bias) for counting; the scales are storage overhead."""
        return [np.asarray(self.dequantized_kernel().numpy())] + ([np.asarray(self.bias.numpy())] if self.use_bias else [])


def _packed_length(n_values: int, bits: int) -> int:
    per_byte = 8 // bits
    return -(-n_values // per_byte)


def _pack(values: np.ndarray, bits: int) -> np.ndarray:
    """Unsigned values below 2**bits, ``8 // bits`` to a byte, the first in the lowest bits."""
    per_byte = 8 // bits
    padded = np.zeros(_packed_length(values.size, bits) * per_byte, np.uint8)
    padded[: values.size] = values
    groups = padded.reshape(-1, per_byte).astype(np.uint16)
    return sum(groups[:, i] << (bits * i) for i in range(per_byte)).astype(np.uint8)


#: What :func:`load_model` and every rebuild pass to Keras (QuantizedDense is also registered
#: as "opscore>QuantizedDense", so plain keras.models.load_model works once this module is imported).
CUSTOM_OBJECTS = {"QuantizedDense": QuantizedDense, "opscore>QuantizedDense": QuantizedDense}

