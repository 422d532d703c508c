"""Quantization-aware training (``qat-int8``): the trained model's int8 rounding simulated while it is
fine-tuned (tfmot's fake-quantization of weights and activations), then converted to an int8
TFLite flatbuffer run by LiteRT, as ``tflite-int8`` is after training. The int8 ranges are the
ones learned in training (no calibration). Where tfmot cannot take the whole model (a layer it has
no 8-bit scheme for), the layers it supports are annotated and the others stay float32; a model
with no layer with weights it supports (opscore's own low-bit layers, say) is not applicable."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from opscore.kinds.registry import NotApplicable
from opscore.measure.sizes import keras_kernels
from opscore.models.graph import copy_model
from opscore.models.training import compile_classifier
from opscore.tf import keras, tf

#: at most this many distinct values in every kernel: clustered by an earlier step
_CLUSTERED_VALUES = 256


def _supported(layer) -> bool:
    from tensorflow_model_optimization.python.core.quantization.keras.default_8bit import (
        default_8bit_quantize_registry as registry,
    )

    return registry.Default8BitQuantizeRegistry().supports(layer)


def _preserving_scheme(model):
    """The tfmot scheme that keeps what an earlier step of a chain made: shared values (clustering:
    cluster-preserving QAT, zeros too when there are any) or zeros (pruning: pruning-preserving
    QAT); else the default 8-bit scheme. Returns (scheme, what it preserves)."""
    import tensorflow_model_optimization as tfmot

    kernels = keras_kernels(model)
    sparse = any(np.count_nonzero(kernel) < 0.9 * kernel.size for kernel in kernels)
    clustered = bool(kernels) and all(len(np.unique(kernel)) <= _CLUSTERED_VALUES for kernel in kernels)
    combine = tfmot.experimental.combine
    if clustered:
        return combine.Default8BitClusterPreserveQuantizeScheme(preserve_sparsity=sparse), \
            "shared values" + (" and zeros" if sparse else "")
    if sparse:
        return combine.Default8BitPrunePreserveQuantizeScheme(), "zeros"
    return tfmot.quantization.keras.default_8bit.Default8BitQuantizeScheme(), "nothing"


def quantization_aware(model):
    """``model`` wrapped for quantization-aware training (a copy; ``model`` is not changed): tfmot's
    ``quantize_model`` where it takes the whole model, else the supported layers annotated and the
    model quantized around them. Returns ``(wrapped, info)``; raises NotApplicable when no layer
    is supported."""
    import tensorflow_model_optimization as tfmot

    quantization = tfmot.quantization.keras
    source = copy_model(model)
    supported = [layer.name for layer in source.layers if _supported(layer)]
    weighted = [layer for layer in source.layers if layer.weights]
    quantized = [layer.name for layer in weighted if layer.name in supported]
    if not quantized:
        raise NotApplicable(f"tfmot has no 8-bit quantization scheme for any layer with weights of {model.name} "
                            f"({', '.join(sorted({type(layer).__name__ for layer in weighted}))})")
    info = {"qat_layers": len(quantized), "qat_layer_share": len(quantized) / len(weighted)}
    scheme, info["qat_preserves"] = _preserving_scheme(source)
    try:
        with quantization.quantize_scope():
            wrapped = quantization.quantize_apply(quantization.quantize_annotate_model(source), scheme)
        return wrapped, {**info, "qat_scope": "whole model"}
    except (ValueError, RuntimeError, TypeError) as error:
        whole_model_error = " ".join(str(error).split())[:300]

    def annotate(layer):
        clone = layer.__class__.from_config(layer.get_config())
        return quantization.quantize_annotate_layer(clone) if layer.name in supported else clone

    annotated = keras.models.clone_model(source, clone_function=annotate)
    annotated.set_weights(source.get_weights())
    try:
        with quantization.quantize_scope():
            wrapped = quantization.quantize_apply(annotated, scheme)
    except (ValueError, RuntimeError, TypeError) as error:
        raise NotApplicable(f"tfmot cannot quantize {model.name} for training: {' '.join(str(error).split())[:300]}"
                            ) from error
    return wrapped, {**info, "qat_scope": "supported layers", "whole_model_error": whole_model_error}


def to_tflite(wrapped) -> bytes:
    """The quantization-aware model as a TFLite flatbuffer: int8 wherever training simulated it
    (with the ranges it learned), float32 input and output."""
    converter = tf.lite.TFLiteConverter.from_keras_model(wrapped)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    with warnings.catch_warnings():
        # float32 input and output are intended: the input's int8 range is the one training learned
        warnings.filterwarnings("ignore", message="Statistics for quantized inputs were expected")
        return converter.convert()


def make(model, variant, job):
    """The ``qat-int8`` variant (registry: opscore.kinds.registry): the trained model fine-tuned
    quantization-aware (``fine_tuning.epochs``, at least one, at ``fine_tuning.learning_rate``) on
    the fit split, then converted to int8."""
    wrapped, info = quantization_aware(model)
    compile_classifier(wrapped, job.learning_rate)
    epochs = max(1, job.epochs)
    history = wrapped.fit(job.fit_data, epochs=epochs, verbose=0)
    flatbuffer = to_tflite(wrapped)
    info.update(qat_epochs=epochs, qat_final_loss=float(history.history["loss"][-1]))
    return flatbuffer, info, pd.DataFrame()
