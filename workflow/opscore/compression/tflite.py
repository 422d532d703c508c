"""Post-training TFLite conversion (float16, dynamic-range int8, full int8) for edge deployment; the
flatbuffers run in LiteRT (opscore.runtimes.litert). Notes: docs/compression.md."""
from __future__ import annotations

import itertools
import warnings

import numpy as np
import pandas as pd

TFLITE_MODES = ("float16", "dynamic", "int8")
#: training batches full-integer conversion calibrates its activation ranges on
REPRESENTATIVE_BATCHES = 8
# The baseline conversion (no optimization), for comparing sizes; not a workflow variant.
_CONVERSIONS = ("float32",) + TFLITE_MODES


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


def make(model, variant, job):
    """The ``tflite-float16|dynamic|int8`` variant (registry: opscore.kinds.registry): the flatbuffer's
    bytes, full int8 calibrated on batches of the train split."""
    mode = variant.options["mode"]
    representative = job.calibration(REPRESENTATIVE_BATCHES) if mode == "int8" else None
    flatbuffer = convert_to_tflite(model, mode, representative)
    return flatbuffer, {"representative_images": sum(len(batch) for batch in representative or [])}, pd.DataFrame()
