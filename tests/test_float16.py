"""float16 as in the paper (weights, file size, training) and the TFLite conversions
(accuracy against the Keras model, sizes, batch handling), on small models and real digits."""
import numpy as np
import pytest

from opscore.compression import float16, tflite
from opscore.models import applications as models
from opscore.runtimes.litert import TFLitePredictor
from opscore.tf import keras, tf

N_TRAIN = 1400


@pytest.fixture(scope="module")
def digits():
    """scikit-learn's 1,797 8x8 digits, zero-padded to 32x32, grey to RGB, scaled to [-1, 1]."""
    from sklearn.datasets import load_digits

    data = load_digits()
    images = np.pad(data.images, ((0, 0), (12, 12), (12, 12)))[..., None].repeat(3, axis=-1)
    x = (images / 8.0 - 1.0).astype("float32")
    y = data.target.astype("int64")
    order = np.random.default_rng(0).permutation(len(y))
    x, y = x[order], y[order]
    return x[:N_TRAIN], y[:N_TRAIN], x[N_TRAIN:], y[N_TRAIN:]


def small_convnet(n_classes=10, width=16):
    """Conv-BN-ReLU blocks, a dense softmax head: quick to train, big enough that its weights
    (~70 k) and not the flatbuffer's bookkeeping dominate the TFLite file size."""
    return keras.Sequential([
        keras.Input((32, 32, 3)),
        keras.layers.Conv2D(width, 3, use_bias=False), keras.layers.BatchNormalization(momentum=0.9),
        keras.layers.ReLU(), keras.layers.MaxPool2D(),
        keras.layers.Conv2D(2 * width, 3, use_bias=False), keras.layers.BatchNormalization(momentum=0.9),
        keras.layers.ReLU(), keras.layers.MaxPool2D(),
        keras.layers.Flatten(), keras.layers.Dense(n_classes, activation="softmax"),
    ])


# --- float16, as in the paper -------------------------------------------------------------------

def test_float16_scope_sets_and_restores_floatx_even_after_an_error():
    keras.backend.set_floatx("float64")
    try:
        with pytest.raises(RuntimeError, match="boom"):
            with float16.float16_scope():
                assert keras.backend.floatx() == "float16"
                assert keras.layers.Dense(2).dtype == "float16"
                raise RuntimeError("boom")
        assert keras.backend.floatx() == "float64"
    finally:
        keras.backend.set_floatx("float32")
    with float16.float16_scope():
        pass
    assert keras.backend.floatx() == "float32"


def test_float16_classifier_has_float16_weights_from_the_base_file_and_half_the_file(tmp_path):
    base = models.build_base("MobileNetV2", 32)  # stands in for a staged float32 base weights file
    base.save_weights(str(tmp_path / "base.h5"))
    model = float16.build_float16_classifier("MobileNetV2", 4, 32, base_weights=str(tmp_path / "base.h5"),
                                                  seed=3)
    original = models.build_classifier("MobileNetV2", 4, 32, base_weights=str(tmp_path / "base.h5"), seed=3)
    assert keras.backend.floatx() == "float32"

    batchnorm = {id(w) for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)
                 for w in layer.weights}
    assert batchnorm
    for weight in model.weights:  # Keras keeps BatchNormalization parameters in float32
        assert weight.dtype == (tf.float32 if id(weight) in batchnorm else tf.float16), weight.name
    float16_share = sum(w.shape.num_elements() for w in model.weights if w.dtype == tf.float16) / model.count_params()
    assert float16_share > 0.95

    # the base comes from the file, the head is the original's seeded Glorot init, both rounded
    kernel = model.get_layer("Conv1").kernel.numpy()
    np.testing.assert_array_equal(kernel, base.get_layer("Conv1").get_weights()[0].astype("float16"))
    np.testing.assert_array_equal(model.get_layer("head_dense").kernel.numpy(),
                                  original.get_layer("head_dense").get_weights()[0].astype("float16"))

    probabilities = model.predict(np.zeros((2, 32, 32, 3), "float32"), verbose=0)
    assert probabilities.dtype == np.float16
    np.testing.assert_allclose(probabilities.astype("float32").sum(axis=1), 1.0, atol=2e-3)

    model.save_weights(str(tmp_path / "float16.h5"))
    original.save_weights(str(tmp_path / "float32.h5"))
    ratio = (tmp_path / "float16.h5").stat().st_size / (tmp_path / "float32.h5").stat().st_size
    assert 0.45 <= ratio <= 0.6

    # a saved float16 variant loads back into a freshly built float16 classifier
    with float16.float16_scope():
        again = models.build_classifier("MobileNetV2", 4, 32, seed=9)
    again.load_weights(str(tmp_path / "float16.h5"))
    np.testing.assert_array_equal(again.get_layer("head_dense").kernel.numpy(),
                                  model.get_layer("head_dense").kernel.numpy())


def _float16_training_losses(digits, optimizer, steps=6):
    x_train, y_train, _, _ = digits
    keras.utils.set_random_seed(0)
    with float16.float16_scope():
        model = small_convnet(width=8)
    model.compile(optimizer, "sparse_categorical_crossentropy")
    x, y = x_train[:32], y_train[:32]
    losses = [float(model.train_on_batch(x, y)) for _ in range(steps)]
    assert all(w.dtype == tf.float16 for w in model.layers[0].weights)
    return losses


def test_a_few_float16_training_steps_reduce_the_loss(digits):
    losses = _float16_training_losses(digits, float16.float16_optimizer(1e-3))
    assert np.isfinite(losses).all(), losses
    assert losses[-1] < 0.85 * losses[0], losses


def test_adam_default_epsilon_is_what_breaks_float16_training(digits):
    """The same steps with Adam's default epsilon (1e-7): the second moment underflows in
    float16 and the steps explode. If this ever trains fine, the epsilon fix is moot."""
    losses = _float16_training_losses(digits, keras.optimizers.Adam(1e-3))
    assert not (np.isfinite(losses).all() and losses[-1] < 0.85 * losses[0]), losses


def test_float16_optimizer_rejects_a_learning_rate_that_underflows():
    assert float16.float16_optimizer(1e-3).epsilon >= 1e-4
    with pytest.raises(ValueError, match="float16"):
        float16.float16_optimizer(1e-9)


# --- TFLite --------------------------------------------------------------------------------------

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


@pytest.mark.slow  # trains MobileNetV2 for an epoch (mostly tracing its training step)
def test_float16_variant_of_a_float32_training_is_the_trained_model_rounded(digits, tmp_path):
    """float16 trained in float32 (what a CPU does): store and run the float16 weights; the
    float16 model predicts what the float32 one does, from a file about half the size."""
    # auto follows the device this test runs on: float16 on a GPU with tensor cores, else float32
    expected = "float16" if float16.has_fast_float16() else "float32"
    assert float16.float16_training_precision("auto") == expected
    assert float16.float16_training_precision("float32") == "float32"
    assert float16.float16_training_precision("float16") == "float16"
    with pytest.raises(ValueError, match="float16.training"):
        float16.float16_training_precision("bfloat16")
    x_train, y_train, x_test, y_test = digits
    keras.utils.set_random_seed(0)
    model = models.build_classifier("MobileNetV2", 10, 32, seed=0)
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=1, batch_size=64, verbose=0)  # a trained model, not a good one
    half = float16.to_float16(model, "MobileNetV2", 10, 32)
    assert half.get_layer("head_dense").kernel.dtype == tf.float16
    full_accuracy = np.mean(model.predict(x_test, verbose=0).argmax(1) == y_test)
    half_accuracy = np.mean(half.predict(x_test.astype("float16"), verbose=0).argmax(1) == y_test)
    assert abs(full_accuracy - half_accuracy) <= 0.02
    model.save_weights(str(tmp_path / "float32.h5"))
    half.save_weights(str(tmp_path / "float16.h5"))
    assert 0.45 <= (tmp_path / "float16.h5").stat().st_size / (tmp_path / "float32.h5").stat().st_size <= 0.6


def test_float16_trained_in_float32_reuses_the_originals_training_and_float16_trains(tmp_path):
    import pandas as pd

    from opscore.kinds.registry import TrainingJob

    original = models.build_classifier("A2E", 3, 32, seed=5, sample_shape=(6,))
    original.save_weights(str(tmp_path / "weights.h5"))
    history = pd.DataFrame({"epoch": [1, 2], "loss": [0.9, 0.5], "trained_in": "float32"})
    history.to_parquet(tmp_path / "history.parquet")
    inputs = {"original": str(tmp_path / "weights.h5"), "original_history": str(tmp_path / "history.parquet")}

    def job(training):
        return TrainingJob("A2E", 3, 32, (6,), seed=0, settings={"training": training}, inputs=inputs)

    model, history = float16.reuse_training(job("float32"))
    for taken, trained in zip(model.get_weights(), original.get_weights(), strict=True):
        np.testing.assert_array_equal(taken, trained)  # seed 0 would have built other initial weights
    assert list(history["loss"]) == [0.9, 0.5] and (history["trained_in"] == "float32").all()
    # auto takes the original's training where the device has no fast float16, trains in float16 where it has
    assert (float16.reuse_training(job("auto")) is None) == float16.has_fast_float16()
    assert float16.reuse_training(job("float16")) is None
    built = float16.build(job("float16"))
    assert built.trained_in == "float16" and built.model.get_layer("head_dense").kernel.dtype == tf.float16


@pytest.mark.parametrize(("capabilities", "fast"), [
    ([], False),  # a CPU: no GPU listed
    ([(6, 0)], False),  # a P100: float16 without tensor cores (the paper measured it 30 % slower)
    ([(7, 0)], True),  # a V100: tensor cores
    ([(6, 1), (8, 0)], True),  # any GPU with tensor cores among the listed ones
])
def test_fast_float16_is_read_from_the_devices_compute_capability(monkeypatch, capabilities, fast):
    """has_fast_float16 reads what TensorFlow lists; the devices here are stand-ins, so the rule is
    tested on every kind whatever this machine has (the tests above follow the real device)."""
    gpus = [f"GPU:{i}" for i in range(len(capabilities))]
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: gpus if kind == "GPU" else [])
    monkeypatch.setattr(tf.config.experimental, "get_device_details",
                        lambda gpu: {"compute_capability": capabilities[gpus.index(gpu)]})
    assert float16.has_fast_float16() is fast
    assert float16.float16_training_precision("auto") == ("float16" if fast else "float32")
