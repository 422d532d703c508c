"""The TFLite conversions (opscore.compression.tflite): accuracy against the Keras model, sizes, batch
handling, every mode on a feature-vector model; a small convnet on real digits (tests/conftest.py: digits32)."""
import numpy as np
import pytest

from conftest import small_convnet
from opscore.compression import tflite
from opscore.runtimes.litert import TFLitePredictor
from opscore.tf import keras


@pytest.fixture(scope="module")
def digits(digits32):
    return digits32


@pytest.fixture(scope="module")
def trained(digits):
    x_train, y_train, x_test, y_test = digits
    keras.utils.set_random_seed(0)
    model = small_convnet()
    model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, batch_size=64, epochs=5, verbose=0)
    reference = model.predict(x_test, verbose=0)
    assert (reference.argmax(axis=1) == y_test).mean() > 0.85  # else agreement means little
    return model, reference


@pytest.fixture(scope="module")
def tflite_models(trained, digits):
    model, _ = trained
    x_train = digits[0]
    representative = [x_train[start:start + 50] for start in range(0, 400, 50)]
    return {mode: tflite.convert_to_tflite(model, mode, representative if mode == "int8" else None)
            for mode in ("float32",) + tflite.TFLITE_MODES}


@pytest.mark.parametrize("mode, min_agreement, sum_tolerance",
                         [("float16", 0.9, 1e-4), ("dynamic", 0.9, 1e-4), ("int8", 0.8, 0.05)])
def test_tflite_mode_runs_and_agrees_with_keras(mode, min_agreement, sum_tolerance, tflite_models, trained, digits):
    _, reference = trained
    x_test = digits[2]
    probabilities = TFLitePredictor(tflite_models[mode], threads=1).predict(np.array_split(x_test, 4))
    assert probabilities.shape == reference.shape and probabilities.dtype == np.float32
    assert (probabilities >= 0).all()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=sum_tolerance)
    agreement = (probabilities.argmax(axis=1) == reference.argmax(axis=1)).mean()
    assert agreement >= min_agreement, f"{mode}: {agreement:.3f}"


def test_int8_is_integer_inside_with_float32_input_and_output(tflite_models):
    predictor = TFLitePredictor(tflite_models["int8"], threads=1)
    interpreter = predictor.interpreter
    assert interpreter.get_input_details()[0]["dtype"] == np.float32
    assert interpreter.get_output_details()[0]["dtype"] == np.float32
    float_tensors = [t["name"] for t in interpreter.get_tensor_details() if t["dtype"] == np.float32]
    assert len(float_tensors) == 2, float_tensors  # only the model's input and output
    ops = predictor.op_names
    assert ops[0] == "QUANTIZE" and ops[-1] == "DEQUANTIZE" and "CONV_2D" in ops


def test_tflite_files_shrink_from_float32_to_float16_to_int8(tflite_models):
    sizes = {mode: len(content) for mode, content in tflite_models.items()}
    assert sizes["int8"] < sizes["float16"] < sizes["float32"], sizes
    assert sizes["float16"] < 0.6 * sizes["float32"] and sizes["dynamic"] < 0.35 * sizes["float32"], sizes


def test_int8_without_representative_data_or_unknown_mode_raises(trained):
    model, _ = trained
    with pytest.raises(ValueError, match="representative"):
        tflite.convert_to_tflite(model, "int8")
    with pytest.raises(ValueError, match="empty"):
        tflite.convert_to_tflite(model, "int8", [])
    with pytest.raises(ValueError, match=r"\(7, 32, 3\)|shape"):
        tflite.convert_to_tflite(model, "int8", [np.zeros((2, 7, 32, 3), "float32")])
    with pytest.raises(ValueError, match="unknown TFLite mode"):
        tflite.convert_to_tflite(model, "int4")


def test_predictor_takes_any_batch_size_and_repeats_identically(tflite_models, digits):
    x_test = digits[2][:40]
    predictor = TFLitePredictor(tflite_models["dynamic"], threads=2)
    assert predictor.op_count == len(predictor.op_names) >= 5 and "DELEGATE" not in predictor.op_names
    whole = predictor.predict([x_test])
    sizes = [5, 1, 17, 5, 12]
    batches = np.split(x_test, np.cumsum(sizes)[:-1])
    pieces = predictor.predict(iter(batches))  # a one-shot iterable, like a tf.data pass
    assert pieces.shape == (40, 10)
    np.testing.assert_allclose(pieces, whole, atol=1e-5)
    np.testing.assert_array_equal(predictor.predict(batches), pieces)
    np.testing.assert_array_equal(TFLitePredictor(tflite_models["dynamic"], threads=1).predict(batches).argmax(1),
                                  pieces.argmax(1))


@pytest.mark.parametrize("mode", tflite.TFLITE_MODES)
def test_every_tflite_mode_converts_and_runs_a_feature_vector_model(mode):
    """A2E on a real table (breast cancer, 30 raw columns on scales 0.001..4000): TFLite takes
    (N, F) rows, int8 calibrated on them, and agrees with Keras."""
    from sklearn.datasets import load_breast_cancer

    from opscore.models.scratch import adapt_normalization, build_a2e

    x, y = load_breast_cancer(return_X_y=True)
    x = x.astype("float32")
    model = build_a2e(2, (x.shape[1],), normalize=True)
    adapt_normalization(model, x[:400])
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x[:400], y[:400], epochs=3, batch_size=32, verbose=0)
    representative = [x[start:start + 64] for start in range(0, 384, 64)]
    flatbuffer = tflite.convert_to_tflite(model, mode, representative)
    lite = TFLitePredictor(flatbuffer, threads=1).predict([x[400:]])
    keras_labels = model.predict(x[400:], verbose=0).argmax(1)
    assert lite.shape == (len(x) - 400, 2)
    assert np.mean(lite.argmax(1) == keras_labels) > 0.95
    if mode == "int8":  # every dense layer runs in int8; only the standardization stays float
        interpreter = TFLitePredictor(flatbuffer, threads=1).interpreter
        ops = [op["op_name"] for op in interpreter._get_ops_details()]
        assert ops.index("QUANTIZE") > ops.index("MUL") and ops.count("FULLY_CONNECTED") >= 2
        int8_matrices = [t for t in interpreter.get_tensor_details() if t["dtype"] == np.int8 and len(t["shape"]) == 2]
        assert len(int8_matrices) >= 5  # the five dense kernels at least
