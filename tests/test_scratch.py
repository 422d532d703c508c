"""Scratch models (AlexNet for 32×32, the A2E accordion classifier): structure, seeding, a training
step on real digits through the workflow's own input pipeline, and their fit with pruning."""
import numpy as np
import pytest

from opscore.compression import filters, layer_removal
from opscore.models import scratch as scratch_models
from opscore.models.applications import unfreeze_top
from opscore.models.training import make_pipeline
from opscore.tf import keras, tf


@pytest.fixture(scope="module")
def digits(digits_dataset):
    ds = digits_dataset
    return ds["x_train"][:64], ds["y_train"][:64]  # uint8 8×8×1, as prepared files hold them


@pytest.fixture(scope="module")
def alexnet():
    return scratch_models.build("AlexNet", n_classes=10, input_shape=(32, 32, 3), seed=0)


def train_one_step(model, dataset):
    model.compile(keras.optimizers.SGD(0.01), "sparse_categorical_crossentropy")
    before = [w.numpy().copy() for w in model.trainable_weights]
    history = model.fit(dataset, epochs=1, steps_per_epoch=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    changed = sum(not np.array_equal(b, w.numpy()) for b, w in zip(before, model.trainable_weights, strict=True))
    assert changed == len(before)  # every trainable tensor got a gradient


def test_registry_and_unknown_names():
    assert set(scratch_models.SCRATCH_MODELS) == {"AlexNet", "A2E"}
    assert scratch_models.is_scratch_model("A2E") and not scratch_models.is_scratch_model("VGG16")
    with pytest.raises(scratch_models.ScratchModelError, match="AlexNet, A2E"):
        scratch_models.build("LeNet", 10, (32, 32, 3))
    with pytest.raises(scratch_models.ScratchModelError, match="bad options"):
        scratch_models.build("A2E", 10, (8,), wings=3)
    with pytest.raises(scratch_models.ScratchModelError, match="images"):
        scratch_models.build("AlexNet", 10, (30,))


def test_preprocess_scales_to_unit_range():
    images = np.array([[0, 51, 255]], np.uint8)
    out = scratch_models.preprocess(images)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[0.0, 0.2, 1.0]])
    tensor = scratch_models.preprocess(tf.constant([[0.0, 255.0]]))
    assert tf.is_tensor(tensor)
    np.testing.assert_allclose(tensor.numpy(), [[0.0, 1.0]])
    assert scratch_models.preprocess_function("AlexNet") is scratch_models.preprocess


def test_alexnet_structure(alexnet):
    convs = [layer for layer in alexnet.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [c.filters for c in convs] == [64, 192, 384, 256, 256]
    assert sum(isinstance(layer, keras.layers.MaxPooling2D) for layer in alexnet.layers) == 3
    dense = [layer for layer in alexnet.layers if isinstance(layer, keras.layers.Dense)]
    assert [d.units for d in dense] == [1024, 1024, 10]
    assert sum(isinstance(layer, keras.layers.Dropout) for layer in alexnet.layers) == 2
    head = alexnet.get_layer("head_dense")
    assert head is alexnet.layers[-1] and head.activation.__name__ == "softmax"
    # dense layers hold most parameters, as in the original AlexNet
    assert sum(d.count_params() for d in dense) > 0.6 * alexnet.count_params()
    # a plain chain: every layer has one input and feeds at most one layer
    for layer in alexnet.layers[1:]:
        assert len(layer._inbound_nodes) == 1
        assert not isinstance(layer.input, (list, tuple))
    assert all(reason is None for reason in filters.prunable_filter_layers(alexnet).values())


def test_same_seed_same_weights():
    a = scratch_models.build("AlexNet", 10, (32, 32, 3), seed=3, width=0.25, dense_units=32)
    b = scratch_models.build("AlexNet", 10, (32, 32, 3), seed=3, width=0.25, dense_units=32)
    c = scratch_models.build("AlexNet", 10, (32, 32, 3), seed=4, width=0.25, dense_units=32)
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)
    assert not np.array_equal(a.get_layer("conv1").get_weights()[0], c.get_layer("conv1").get_weights()[0])
    assert a.get_layer("conv2").filters == 48


def test_alexnet_trains_a_step_on_digits(alexnet, digits):
    x, y = digits
    dataset = make_pipeline(x, y, scratch_models.preprocess, input_size=32, batch_size=16)
    batch = next(iter(dataset))[0].numpy()
    assert batch.shape == (16, 32, 32, 3) and 0.0 <= batch.min() and batch.max() <= 1.0
    train_one_step(alexnet, dataset)
    probabilities = alexnet.predict(batch, verbose=0)
    assert probabilities.shape == (16, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert unfreeze_top(alexnet, 1) == 1 and [w.name for w in alexnet.trainable_weights][0].startswith("head_dense")


def test_a2e_accordion_on_images(digits):
    model = scratch_models.build("A2E", n_classes=10, input_shape=(32, 32, 3), seed=0)
    widths = [layer.units for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert widths == [256, 64, 256, 64, 10]
    assert model.layers[-1].name == "head_dense"
    x, y = digits
    train_one_step(model, make_pipeline(x, y, scratch_models.preprocess, input_size=32, batch_size=16))
    # a fold of the accordion can be taken out by out-of-order layer removal
    assert "fold2+fold3" in layer_removal.removal_candidates(model)["candidate"].tolist()


def test_a2e_on_tabular_vectors_with_normalization(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(loc=[0.0, 1000.0, -5.0], scale=[1.0, 300.0, 0.1], size=(256, 3)).astype("float32")
    y = (x[:, 1] > 1000).astype("int64")
    build = lambda: scratch_models.build("A2E", n_classes=2, input_shape=(3,), seed=1, accordion=(16, 4, 16),
                                         normalize=True)
    model = build()
    assert scratch_models.adapt_normalization(model, x) == 1
    normalized = model.get_layer(scratch_models.NORMALIZATION_LAYER)(x).numpy()
    np.testing.assert_allclose(normalized.mean(axis=0), 0.0, atol=1e-3)
    np.testing.assert_allclose(normalized.std(axis=0), 1.0, atol=1e-2)
    train_one_step(model, tf.data.Dataset.from_tensor_slices((x, y)).batch(64))
    assert model.predict(x[:5], verbose=0).shape == (5, 2)
    # normalization statistics are weights: a fresh model given the weights file predicts the same
    model.save_weights(str(tmp_path / "a2e.h5"))
    reloaded = build()
    reloaded.load_weights(str(tmp_path / "a2e.h5"))
    np.testing.assert_allclose(reloaded.predict(x[:5], verbose=0), model.predict(x[:5], verbose=0), rtol=1e-5)
