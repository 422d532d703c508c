"""Quantization: the paper's float16 variant, and post-training TFLite conversions for the edge.

Two different things are called "quantization" here, and they answer different questions.

1. float16 as in the paper (variant ``float16``)
   Arı & Çamlı (2022) train and save the model in half precision: Keras'
   ``backend.set_floatx("float16")`` before the model is built, so every layer creates its
   variables in float16 and computes in float16, and ``save_weights`` writes float16 arrays,
   about half the bytes of the float32 file. `float16_scope` sets that for the duration of a
   build; `build_float16_classifier` builds the same architecture as
   `models.build_classifier` and copies the float32 initial weights (the base weights file
   and the seeded Glorot head are float32) into it, rounded with ``astype(float16)``, so the
   float16 variant starts from exactly the original's starting point.

   What is not float16: BatchNormalization. Keras raises the gamma/beta/moving statistics of
   a float16 BatchNormalization layer to float32 and normalises in float32 (the variance
   overflows float16 easily, and the fused kernel takes float32 scale and offset with float16
   inputs). Those are ~3 % of MobileNetV2's parameters, so its float16 weights file is 0.54
   of the float32 one rather than 0.50 (measured here); any Keras model built under
   set_floatx("float16") has the same.

   Training in float16 needs a larger Adam epsilon (`float16_optimizer`): Adam's second moment
   v is updated by g²·(1-β₂) with 1-β₂ ≈ 1e-3, which underflows float16 (smallest subnormal
   6e-8) for every |g| below ~8e-3, i.e. for most weights. The step m·α/(√v + ε) then divides
   by ε alone, and the default ε = 1e-7 (itself below float16's smallest normal 6.1e-5,
   stored as the subnormal 1.2e-7) turns it into a jump of many units: measured here, a
   MobileNetV2 on digits went NaN in its first epoch, and a small conv net's loss jumps from
   2.9 to 11 in one step (tests/test_quantization.py). With ε = 1e-4 the step is bounded by
   α·|m|/1e-4 and training tracks float32.
   Also keep in mind that a float16 weight of magnitude w only moves in steps of ~w/1024:
   learning rates far below 1e-3 lose most of their updates to rounding.

   Where the device has no fast float16 (any CPU), ``float16.training: auto`` trains the
   float16 variant in float32 and rounds the trained weights to float16 (`to_float16`): the
   file and the measured inference are float16, as deployed, and the ``precision`` column says
   "float16 (trained in float32)". On a GPU with tensor cores it trains in float16, as the
   paper did. ``float16`` or ``float32`` force either.

   Keras mixed precision is something else: the ``mixed_float16`` policy keeps float32
   variables (and a float32 master copy that the optimizer updates, with loss scaling) and
   only computes in float16. It speeds up GPUs with tensor cores and halves activation memory,
   but the saved file is float32, the same size as the original, so it is not the paper's
   variant and is not used here.

   Speed depends on hardware having fast float16 arithmetic: the paper found float16 25 %
   faster on a V100 (tensor cores) and 30 % slower on a P100. On CPUs TensorFlow mostly
   emulates half precision (convert to float32, compute, round back), which is slower. On the
   CPU this was written on (Xeon Sapphire Rapids, AVX512-FP16 + AMX, 2 threads, oneDNN),
   measured here with MobileNetV2, batch 16, float16 vs float32:
   - inference at 96×96: 0.06 s vs 0.08 s (float16 ~25 % faster: oneDNN runs some forward
     convolutions natively in float16); at 224×224: 0.49-0.70 s vs 0.27-0.38 s (~1.8×
     slower); ResNet50 at 128×128: ~1.3-1.5× slower;
   - training is far worse: the weight gradient of a convolution (Conv2DBackpropFilter) has
     no fast float16 kernel (a 1×1 convolution's took 7.8 s vs 0.008 s), so one training step
     of 16 images took 36-45 s vs 0.3 s (MobileNetV2, 96×96) and 20-40 s vs 0.4 s (ResNet50,
     32×32). Fine-tuning only the dense head (Top-1) is unaffected; training whole networks in
     float16 on a CPU is impractical.

   The final softmax stays float16 (not forced to float32 as the mixed-precision guide
   advises): the loss never takes log of a float16 probability, since Keras' sparse
   cross-entropy uses the logits cached by the softmax (checked: a probability that rounds
   to 0 still gives its true loss, 30, not a clipped 16), and probabilities sum to 1 within
   float16 resolution (~1e-3). Training measured stable with it, and the float16 graph stays
   identical to the original's.

2. TFLite (variants ``tflite-float16``, ``tflite-dynamic``, ``tflite-int8``; beyond the paper)
   Post-training conversion of the trained float32 Keras model for edge deployment
   (`convert_to_tflite`):
   - ``float16``: weights stored in float16 (half the file), dequantized to float32 when the
     interpreter loads them; the arithmetic is float32 on a CPU.
   - ``dynamic``: dynamic-range quantization, weights stored int8 (a quarter of the file);
     activations are quantized on the fly inside the kernels that support it, float32 elsewhere.
   - ``int8``: full-integer quantization, weights and activations int8 with only int8 builtin
     kernels (``TFLITE_BUILTINS_INT8``: conversion fails rather than silently keeping a float
     op). Activation ranges are calibrated on a representative dataset drawn from the training
     images, never the test split. Input and output stay float32 (the interpreter quantizes
     at the input and dequantizes at the output), so the same preprocessed batches feed every
     variant, and the output probabilities have a resolution of 1/256.
   `TFLitePredictor` holds one interpreter (``num_threads`` = the job's threads) and runs any
   batch size by resizing its input tensor, which costs well under a millisecond once
   allocated; so the workflow's timed repeats measure inference, not interpreter
   construction. `tflite_predict` is the one-call form.
   The interpreter is LiteRT's (``ai_edge_litert``, pinned in the lock): TensorFlow 2.21 still
   ships ``tf.lite.Interpreter`` but marks it deprecated in favour of it. The converter stays
   TensorFlow's.
"""
from __future__ import annotations

import contextlib
import itertools
import warnings

import numpy as np

from opscore.models import build_classifier

TFLITE_MODES = ("float16", "dynamic", "int8")
# The baseline conversion (no optimization), for comparing sizes; not a workflow variant.
_CONVERSIONS = ("float32",) + TFLITE_MODES
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
                             seed: int = 0, features: int | None = None):
    """`models.build_classifier` in float16 (BatchNormalization parameters stay float32, as
    Keras makes them), starting from the float32 classifier's initial weights rounded to
    float16. Its input layer is float16 too; float32 inputs are cast on the way in."""
    reference = build_classifier(name, n_classes, input_size, base_weights=base_weights, seed=seed, features=features)
    with float16_scope():
        model = build_classifier(name, n_classes, input_size, seed=seed, features=features)
    model.set_weights([value.astype(variable.dtype.as_numpy_dtype)
                       for value, variable in zip(reference.get_weights(), model.weights)])
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


def float16_precision_label(trained_in: str) -> str:
    """The ``precision`` column of a float16 variant: what it stores and what it was trained in."""
    return f"float16 (trained in {trained_in})"


def to_float16(model, name: str, n_classes: int, input_size: int, features: int | None = None):
    """A float32 classifier's trained weights rounded into the float16 classifier of the same
    architecture: the float16 variant of a model trained in float32."""
    with float16_scope():
        half = build_classifier(name, n_classes, input_size, features=features)
    half.set_weights([value.astype(variable.dtype.as_numpy_dtype)
                      for value, variable in zip(model.get_weights(), half.weights)])
    return half


def float16_optimizer(learning_rate: float):
    """Adam for float16 variables: epsilon 1e-4 instead of 1e-7 (see the module docstring)."""
    from opscore.tf import keras

    if not 0 < float(np.float16(learning_rate)) < np.inf:
        raise ValueError(f"learning rate {learning_rate} is not representable in float16 "
                         f"(it must lie between ~6e-8 and 65504)")
    return keras.optimizers.Adam(learning_rate, epsilon=FLOAT16_ADAM_EPSILON)


def convert_to_tflite(model, mode: str, representative_batches=None) -> bytes:
    """Convert a trained float32 Keras model to a TFLite flatbuffer.

    `mode` is one of TFLITE_MODES (or "float32", the unoptimized baseline).
    `representative_batches` (int8 only, ignored otherwise): an iterable of model-ready float32
    numpy batches from the training split (NHWC images, or (N, F) feature rows for a model that
    takes feature vectors), used to calibrate activation ranges; it is read once. Input and
    output of every mode are float32.
    """
    from opscore.tf import tf

    if mode not in _CONVERSIONS:
        raise ValueError(f"unknown TFLite mode {mode!r}; known: {', '.join(TFLITE_MODES)} (and float32)")
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if mode != "float32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode == "float16":
        converter.target_spec.supported_types = [tf.float16]
    elif mode == "int8":
        converter.representative_dataset = _representative_dataset(representative_batches, model.input_shape)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        # inference_input_type / inference_output_type stay float32 on purpose (module docstring).
        if len(model.input_shape) == 2:
            return _int8_after_float_standardization(converter)
    with warnings.catch_warnings():
        # int8 with float32 input/output is intended: no input statistics are needed.
        warnings.filterwarnings("ignore", message="Statistics for quantized inputs were expected")
        return converter.convert()


def _int8_after_float_standardization(converter) -> bytes:
    """Full int8 for a model of feature rows, its input standardization kept in float32.

    Raw table columns span very different scales (a fraud table's Time runs to 172,792 while
    its PCA components are ~1): one int8 scale for the whole input row rounds every small
    column to 0 (measured: A2E on the breast-cancer table agreed with Keras on 25 % of the rows).
    So the standardization's SUB and MUL (the only such ops of a dense feature model) run in
    float32 and the QUANTIZE comes after them, through TensorFlow Lite's selective quantization
    (QuantizationDebugger with denylisted ops; float fallback allowed for those two alone).
    Every dense layer is int8."""
    from opscore.tf import tf

    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8, tf.lite.OpsSet.TFLITE_BUILTINS]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Statistics for quantized inputs were expected")
        # the debugger runs TensorFlow's own (deprecated) interpreter to compare; measuring uses LiteRT
        warnings.filterwarnings("ignore", message=r"(?s).*tf\.lite\.Interpreter is deprecated")
        debugger = tf.lite.experimental.QuantizationDebugger(
            converter=converter, debug_dataset=converter.representative_dataset,
            debug_options=tf.lite.experimental.QuantizationDebugOptions(denylisted_ops=["SUB", "MUL"]))
        return debugger.get_nondebug_quantized_model()


def _representative_dataset(batches, input_shape):
    """The converter's calibration generator, after checking there is data of the right shape."""
    if batches is None:
        raise ValueError("int8 TFLite conversion needs representative_batches: preprocessed float32 "
                         "training images to calibrate the activation ranges")
    iterator = iter(batches)
    first = next(iterator, None)
    if first is None:
        raise ValueError("int8 TFLite conversion got an empty representative_batches")
    expected = tuple(input_shape[1:])
    if tuple(np.shape(first)[1:]) != expected:
        kind = "images (NHWC)" if len(expected) == 3 else "feature rows"
        raise ValueError(f"representative batches must be {kind} of shape (N, {', '.join(map(str, expected))}) "
                         f"like the model input, got a batch of shape {np.shape(first)}")

    def dataset():
        for batch in itertools.chain([first], iterator):
            yield [np.asarray(batch, dtype=np.float32)]

    return dataset


#: the runtime TFLite variants are measured with, recorded beside their timings
LITERT = "ai-edge-litert"


def litert_version() -> str:
    from importlib.metadata import version

    return version(LITERT)


class TFLitePredictor:
    """One LiteRT interpreter (``ai_edge_litert``, the maintained runtime that replaces the
    deprecated ``tf.lite.Interpreter``, the one a device runs), reused across calls:
    `predict(batches)` returns the class probabilities of all batches (float32 numpy arrays of
    any batch size), stacked."""

    def __init__(self, tflite_model: bytes, threads: int):
        from ai_edge_litert.interpreter import Interpreter

        self.interpreter = Interpreter(model_content=tflite_model, num_threads=threads)
        self.threads = threads
        inputs, outputs = self.interpreter.get_input_details(), self.interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1 or inputs[0]["dtype"] != np.float32:
            raise ValueError("expected a TFLite classifier with one float32 input and one output "
                             "(as convert_to_tflite makes)")
        self._input, self._output = inputs[0]["index"], outputs[0]["index"]
        # The model's operators, read before allocation applies the XNNPACK delegate (which
        # appends DELEGATE nodes). float16 files count a DEQUANTIZE per weight tensor.
        self.op_names = [op["op_name"] for op in self.interpreter._get_ops_details()]
        self.op_count = len(self.op_names)
        self.interpreter.allocate_tensors()
        self._shape = tuple(inputs[0]["shape"])

    def predict(self, batches) -> np.ndarray:
        interpreter = self.interpreter
        results = []
        for batch in batches:
            batch = np.ascontiguousarray(batch, dtype=np.float32)
            if batch.shape != self._shape:
                interpreter.resize_tensor_input(self._input, batch.shape)
                interpreter.allocate_tensors()
                self._shape = batch.shape
            interpreter.set_tensor(self._input, batch)
            interpreter.invoke()
            results.append(interpreter.get_tensor(self._output))  # a copy
        if not results:
            raise ValueError("no batches to predict")
        return np.concatenate(results).astype(np.float32, copy=False)


def tflite_predict(tflite_model: bytes, batches, threads: int) -> np.ndarray:
    """Class probabilities of `batches` from a TFLite flatbuffer (one interpreter per call;
    use TFLitePredictor to time repeated calls)."""
    return TFLitePredictor(tflite_model, threads).predict(batches)
