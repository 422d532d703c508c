"""Quantization-aware training (opscore.compression.qat): a small network trained on real digits,
fine-tuned with int8 simulated and converted to an int8 flatbuffer that LiteRT runs; a model with
no layer tfmot can quantize is not applicable."""
import numpy as np
import pytest

from opscore.compression import qat, tflite, weight_quantization
from opscore.kinds.registry import DerivationJob, NotApplicable, parse_variant
from opscore.models.scratch import build_a2e
from opscore.runtimes.litert import TFLitePredictor
from opscore.tf import keras, tf


@pytest.fixture(scope="module")
def digits(digits_dataset):
    """load_digits' 8x8 images scaled to [0, 1]: 1,400 to train on, the rest to judge."""
    x = digits_dataset["x_train"].astype("float32") / 255.0
    y = digits_dataset["y_train"]
    return x[:1400], y[:1400], x[1400:], y[1400:]


@pytest.fixture(scope="module")
def trained(digits):
    """Conv-BN-ReLU, conv-ReLU, pool, two dense layers (~36 k weights, so that they and not the
    flatbuffer's bookkeeping make its size): one epoch of Adam on the digits."""
    keras.utils.set_random_seed(0)
    L = keras.layers
    model = keras.Sequential([keras.Input((8, 8, 1)), L.Conv2D(32, 3, use_bias=False), L.BatchNormalization(momentum=0.9),
                              L.ReLU(), L.Conv2D(64, 3, activation="relu"),
                              L.MaxPooling2D(), L.Flatten(), L.Dense(64, activation="relu"),
                              L.Dense(10, activation="softmax")])
    model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy")
    model.fit(digits[0], digits[1], epochs=1, batch_size=32, verbose=0)
    return model


def job(digits) -> DerivationJob:
    fit_data = tf.data.Dataset.from_tensor_slices(digits[:2]).shuffle(1400, seed=0).batch(32)
    return DerivationJob(fit_data, held_out=None, fine_tune=None, epochs=0, learning_rate=1e-3, seed=0, settings={})


def accuracy(predictor, x, y) -> float:
    return float(np.mean(predictor.predict([x]).argmax(axis=1) == y))


def test_quantization_aware_training_leaves_an_int8_flatbuffer_as_accurate_as_the_model(trained, digits):
    variant = parse_variant("qat-int8")
    original_accuracy = float(np.mean(trained.predict(digits[2], verbose=0).argmax(axis=1) == digits[3]))
    flatbuffer, info, _ = variant.spec.implementation().make(trained, variant, job(digits))
    # the convolutions and dense layers have 8-bit schemes; batch norm is folded into the convolution
    assert info["qat_scope"] == "whole model" and info["qat_layers"] == 4 and info["qat_epochs"] == 1
    predictor = TFLitePredictor(flatbuffer, threads=1)
    # int8 inside (weights and activations), float32 at the edges
    assert {"QUANTIZE", "DEQUANTIZE", "CONV_2D", "FULLY_CONNECTED"} <= set(predictor.op_names)
    kernels = [d for d in predictor.interpreter.get_tensor_details() if len(d["shape"]) >= 2 and d["dtype"] == np.int8]
    assert len(kernels) >= 4
    # a quarter of the float32 file (bookkeeping aside), within a point of the float model after one more epoch
    assert len(flatbuffer) < 0.35 * len(tflite.convert_to_tflite(trained, "float32"))
    assert accuracy(predictor, digits[2], digits[3]) >= original_accuracy - 0.01
    assert variant.precision() == "int8 (quantization-aware training)" and variant.spec.runtime == "litert"


def test_where_the_whole_model_is_not_supported_the_supported_layers_are_trained(digits):
    """A2E stored with int8 dense layers (opscore's own layer) but for its float head: only the
    head is annotated; with none left, quantization-aware training is not applicable."""
    a2e = build_a2e(10, (64,))
    mixed = weight_quantization.quantize_dense(a2e, "int8", layers=[layer.name for layer in a2e.layers[2:-1]])
    _, info = qat.quantization_aware(mixed)
    assert info["qat_scope"] == "supported layers" and info["qat_layers"] == 1
    assert "QuantizedDense" in info["whole_model_error"]
    with pytest.raises(NotApplicable, match="no 8-bit quantization scheme for any layer with weights .*QuantizedDense"):
        qat.quantization_aware(weight_quantization.quantize_dense(a2e, "int8"))


def test_after_pruning_quantization_aware_training_keeps_the_zeros(trained, digits):
    """A chain's QAT step (prune-magnitude-s50+qat-int8) trains with tfmot's pruning-preserving scheme:
    the int8 kernels LiteRT runs are as sparse as the pruned model's."""
    from opscore.compression import magnitude
    from opscore.measure.sizes import keras_kernels, kernel_statistics

    pruned, _ = magnitude.prune_magnitude(trained, digits[:2], target_sparsity=0.5, epochs=1, learning_rate=1e-3)
    flatbuffer, info, _ = qat.make(pruned, parse_variant("prune-magnitude-s50+qat-int8"), job(digits))
    assert info["qat_preserves"] == "zeros"
    sparse = kernel_statistics(keras_kernels(pruned))["kernel_nonzero_share"]
    kernels = TFLitePredictor(flatbuffer, threads=1).kernels()
    assert {kernel.dtype for kernel in kernels} == {np.dtype("int8")} and sparse < 0.65
    assert kernel_statistics(kernels)["kernel_nonzero_share"] == pytest.approx(sparse, abs=0.01)
