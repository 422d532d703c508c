"""float16 as in the paper (opscore.compression.float16): weights, file size, training, the float16
variant of a float32 training; small models on real digits (tests/conftest.py: digits32)."""
import numpy as np
import pytest

from conftest import small_convnet
from opscore.compression import float16
from opscore.models import applications as models
from opscore.tf import keras, tf


@pytest.fixture(scope="module")
def digits(digits32):
    return digits32


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
    models.unfreeze_top(model, 1)  # the head trained on the frozen base, as the paper's runs do
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train[:256], y_train[:256], epochs=1, batch_size=64, verbose=0)  # trained, not well
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
