"""Layers whose kernel is stored at 8, 4 or 2 bits (symmetric, one float32 scale per output unit or
filter; 4 and 2 bits packed several to a byte, so the file really shrinks) or as float16, and
restored to float32 inside ``call`` so inference runs on ordinary kernels: QuantizedDense and
QuantizedConv2D, the layers every rebuilt graph must know (``CUSTOM_OBJECTS``)."""
from __future__ import annotations

import numpy as np

from opscore.tf import keras, tf


class QuantizedKernel(keras.layers.Layer):
    """The storage shared by the quantized layers: ``kernel_q`` (int8, packed uint8 or float16),
    ``scale`` (float32, one per output channel, the kernel's last axis) and an optional bias.

    Subclasses say the kernel's shape (``kernel_shape``) and how it is applied (``apply``).
    Weights are not trainable; on its own a layer starts with zero weights: build it from a
    trained one with opscore.compression.weight_quantization.
    """

    STORAGE = ("int8", "int4", "int2", "float16")
    #: bits per stored kernel value
    BITS = {"int8": 8, "int4": 4, "int2": 2, "float16": 16}
    #: largest |q| of the symmetric integer grids: w ≈ q · scale, q in [-LEVELS, LEVELS]
    LEVELS = {"int8": 127, "int4": 7, "int2": 1}

    def __init__(self, activation=None, use_bias: bool = True, storage: str = "int8", **kwargs):
        kwargs["trainable"] = False
        super().__init__(**kwargs)
        if storage not in self.STORAGE:
            raise ValueError(f"{type(self).__name__} storage must be one of {self.STORAGE}, got {storage!r}")
        self.activation = keras.activations.get(activation)
        self.use_bias = bool(use_bias)
        self.storage = storage
        self.scale = None
        self.bias = None

    @property
    def packed(self) -> bool:
        return self.storage in ("int4", "int2")

    def kernel_shape(self, input_shape) -> tuple[int, ...]:
        raise NotImplementedError

    def apply(self, inputs, kernel):
        raise NotImplementedError

    def build(self, input_shape):
        self.kernel_dims = tuple(int(n) for n in self.kernel_shape(input_shape))
        n_values = int(np.prod(self.kernel_dims))
        shape = (_packed_length(n_values, self.BITS[self.storage]),) if self.packed else self.kernel_dims
        dtype = "uint8" if self.packed else self.storage
        self.kernel_q = self.add_weight("kernel_q", shape, dtype=dtype, initializer="zeros", trainable=False)
        if self.storage in self.LEVELS:
            self.scale = self.add_weight("scale", (self.kernel_dims[-1],), dtype="float32", initializer="ones",
                                         trainable=False)
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.kernel_dims[-1],), dtype="float32", initializer="zeros",
                                        trainable=False)
        super().build(input_shape)

    def dequantized_kernel(self):
        if self.packed:
            bits = self.BITS[self.storage]
            shifts = tf.constant([[bits * i for i in range(8 // bits)]], tf.int32)
            values = tf.bitwise.bitwise_and(tf.bitwise.right_shift(tf.cast(self.kernel_q, tf.int32)[:, None], shifts),
                                            (1 << bits) - 1)
            q = tf.reshape(values, [-1])[: int(np.prod(self.kernel_dims))] - self.LEVELS[self.storage]
            kernel = tf.reshape(tf.cast(q, self.compute_dtype), self.kernel_dims)
        else:
            kernel = tf.cast(self.kernel_q, self.compute_dtype)
        if self.scale is not None:
            kernel = kernel * tf.cast(self.scale, self.compute_dtype)
        return kernel

    def call(self, inputs):
        outputs = self.apply(inputs, self.dequantized_kernel())
        if self.bias is not None:
            outputs = outputs + tf.cast(self.bias, self.compute_dtype)
        return self.activation(outputs)

    def get_config(self):
        config = super().get_config()
        config.update(activation=keras.activations.serialize(self.activation), use_bias=self.use_bias,
                      storage=self.storage)
        config.pop("trainable", None)
        return config

    @classmethod
    def quantize(cls, kernel: np.ndarray, storage: str = "int8") -> list[np.ndarray]:
        """Kernel → [kernel_q] (float16) or [kernel_q, scale] (symmetric per output channel, the
        last axis: scale = max|w| / LEVELS, so the error is at most scale / 2; int4/int2 packed
        into uint8)."""
        kernel = np.asarray(kernel, np.float32)
        if storage == "float16":
            return [kernel.astype(np.float16)]
        levels = cls.LEVELS[storage]
        scale = np.abs(kernel).reshape(-1, kernel.shape[-1]).max(axis=0) / levels
        scale = np.where(scale > 0, scale, 1.0).astype(np.float32)
        q = np.clip(np.rint(kernel / scale), -levels, levels)
        if storage == "int8":
            return [q.astype(np.int8), scale]
        return [_pack((q + levels).astype(np.uint8).ravel(), cls.BITS[storage]), scale]

    def parameter_values(self) -> list[np.ndarray]:
        """The logical parameters (kernel, bias) for counting; the scales are storage overhead."""
        return [np.asarray(self.dequantized_kernel().numpy())] + ([np.asarray(self.bias.numpy())] if self.use_bias else [])


@keras.saving.register_keras_serializable(package="opscore")
class QuantizedDense(QuantizedKernel):
    """A Dense layer whose kernel (in, units) is stored quantized (one scale per unit)."""

    def __init__(self, units: int, activation=None, use_bias: bool = True, storage: str = "int8", **kwargs):
        super().__init__(activation=activation, use_bias=use_bias, storage=storage, **kwargs)
        self.units = int(units)

    def kernel_shape(self, input_shape):
        return (int(input_shape[-1]), self.units)

    def apply(self, inputs, kernel):
        if inputs.shape.rank == 2:
            return tf.matmul(inputs, kernel)
        return tf.tensordot(inputs, kernel, [[inputs.shape.rank - 1], [0]])

    def compute_output_shape(self, input_shape):
        return tf.TensorShape(input_shape)[:-1].concatenate([self.units])

    def get_config(self):
        return {**super().get_config(), "units": self.units}


@keras.saving.register_keras_serializable(package="opscore")
class QuantizedConv2D(QuantizedKernel):
    """A Conv2D (channels last, one group) whose kernel (kh, kw, in, filters) is stored quantized
    (one scale per filter)."""

    def __init__(self, filters: int, kernel_size, strides=(1, 1), padding: str = "valid", dilation_rate=(1, 1),
                 activation=None, use_bias: bool = True, storage: str = "int8", **kwargs):
        super().__init__(activation=activation, use_bias=use_bias, storage=storage, **kwargs)
        self.filters = int(filters)
        self.kernel_size = _pair(kernel_size)
        self.strides = _pair(strides)
        self.padding = padding.upper()
        self.dilation_rate = _pair(dilation_rate)

    def kernel_shape(self, input_shape):
        return (*self.kernel_size, int(input_shape[-1]), self.filters)

    def apply(self, inputs, kernel):
        return tf.nn.conv2d(inputs, kernel, strides=self.strides, padding=self.padding, dilations=self.dilation_rate)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "strides": self.strides, "padding": self.padding.lower(), "dilation_rate": self.dilation_rate}


def _pair(value) -> tuple[int, int]:
    return (int(value), int(value)) if isinstance(value, int) else tuple(int(v) for v in value)


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


#: What :func:`load_model` and every rebuild pass to Keras (the layers are also registered as
#: "opscore>…", so plain keras.models.load_model works once this module is imported).
CUSTOM_OBJECTS = {f"{prefix}{cls.__name__}": cls for cls in (QuantizedDense, QuantizedConv2D)
                  for prefix in ("", "opscore>")}
