"""Classifier construction, the unfreeze semantics and the weights download contract."""
import numpy as np
import pytest

from opscore.models import applications as models
from opscore.tf import keras


@pytest.fixture(scope="module")
def small_classifier():
    return models.build_classifier("MobileNetV2", n_classes=4, input_size=32, seed=3)


def test_known_applications_match_installed_keras():
    installed = {name for name in dir(keras.applications) if name[0].isupper()}
    assert set(models.APPLICATIONS) == installed


def test_unknown_model_lists_the_known_ones():
    with pytest.raises(models.ModelError, match="ResNet50.*VGG16|VGG16.*ResNet50") as error:
        models.build_base("ResNet5O", 32)
    assert "ResNet5O" in str(error.value)


def test_tabular_rows_go_to_a2e_only_and_through_the_pipeline_unchanged():
    from opscore.models.training import make_pipeline

    model = models.build_classifier("A2E", n_classes=2, input_size=32, sample_shape=(5,))
    assert model.input_shape == (None, 5) and model.layers[1].name == "a2e_normalize"
    with pytest.raises(models.ModelError, match="table of 5 features.*A2E"):
        models.build_classifier("MobileNetV2", n_classes=2, input_size=32, sample_shape=(5,))
    rows = np.array([[1e4, -3.5, 0.0, 2.0, 7.0]] * 3, np.float32)
    batch, labels = next(iter(make_pipeline(rows, np.array([0, 1, 0]), models.preprocess_function("A2E"),
                                            input_size=32, batch_size=4)))
    np.testing.assert_array_equal(batch.numpy(), rows)  # no /255, resize or grey->RGB for tabular rows
    assert model.predict(batch, verbose=0).shape == (3, 2)


def test_head_is_softmax_dense_with_seeded_glorot_init(small_classifier):
    head = small_classifier.get_layer("head_dense")
    assert head.units == 4 and head.activation.__name__ == "softmax"
    assert isinstance(head.kernel_initializer, keras.initializers.GlorotUniform)
    again = models.build_classifier("MobileNetV2", n_classes=4, input_size=32, seed=3)
    np.testing.assert_array_equal(head.get_weights()[0], again.get_layer("head_dense").get_weights()[0])
    probabilities = small_classifier.predict(np.zeros((2, 32, 32, 3), "float32"), verbose=0)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_top1_unfreezes_only_the_dense_head(small_classifier):
    assert models.unfreeze_top(small_classifier, 1) == 1
    trainable = [layer.name for layer in small_classifier.layers if layer.trainable and layer.weights]
    assert trainable == ["head_dense"]
    assert len(small_classifier.trainable_weights) == 2  # kernel and bias


def test_topn_counts_weighted_layers_from_the_output(small_classifier):
    models.unfreeze_top(small_classifier, 3)
    weighted = models.weighted_layers(small_classifier)
    assert [layer.trainable for layer in weighted[:4]] == [True, True, True, False]
    assert not any(layer.trainable for layer in weighted[3:])
    # the pooling layer has no weights and does not count
    assert small_classifier.get_layer("head_pool") not in weighted


def test_frozen_batchnorm_runs_in_inference_mode(small_classifier):
    models.unfreeze_top(small_classifier, 1)
    bn = next(layer for layer in small_classifier.layers if isinstance(layer, keras.layers.BatchNormalization))
    before = [w.copy() for w in bn.get_weights()]
    small_classifier.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy")
    small_classifier.fit(np.random.default_rng(0).random((8, 32, 32, 3), dtype="float32") * 5,
                         np.arange(8) % 4, epochs=1, verbose=0)
    for b, a in zip(before, bn.get_weights(), strict=True):
        np.testing.assert_array_equal(b, a)  # moving mean/variance untouched


def test_all_and_out_of_range_depths(small_classifier):
    n = len(models.weighted_layers(small_classifier))
    assert models.unfreeze_top(small_classifier, "all") == n
    assert all(layer.trainable for layer in models.weighted_layers(small_classifier))
    with pytest.raises(models.ModelError, match="out of range"):
        models.unfreeze_top(small_classifier, n + 1)


def test_base_weights_file_roundtrip(tmp_path):
    base = models.build_base("MobileNetV2", 32)
    path = tmp_path / "base.h5"
    base.save_weights(str(path))
    classifier = models.build_classifier("MobileNetV2", 3, 32, base_weights=str(path))
    np.testing.assert_array_equal(classifier.layers[1].get_weights()[0], base.layers[1].get_weights()[0])


def test_offline_imagenet_download_names_file_url_and_place(tmp_path, monkeypatch):
    import urllib.request

    def no_network(*args, **kwargs):
        raise OSError("network unreachable")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    monkeypatch.setattr(urllib.request, "urlretrieve", no_network)
    with pytest.raises(models.ModelError) as error:
        models.download_pretrained_base("MobileNetV2", 32, tmp_path / "w.h5", tmp_path / "keras")
    message = str(error.value)
    assert "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5" in message
    assert "https://" in message and str(tmp_path / "keras" / "models") in message
    assert not (tmp_path / "w.h5").exists()


def test_staged_imagenet_file_is_used_without_network(tmp_path, monkeypatch):
    """A file staged in the Keras cache is hash-checked and used offline."""
    import urllib.request

    staged_base = models.build_base("MobileNetV2", 32)
    cache = tmp_path / "keras" / "models"
    cache.mkdir(parents=True)
    fname = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5"
    staged_base.save_weights(str(cache / fname))

    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: (_ for _ in ()).throw(OSError("offline")))
    monkeypatch.setattr(urllib.request, "urlretrieve", lambda *a, **k: (_ for _ in ()).throw(OSError("offline")))
    # MobileNetV2 pins no file hash, so Keras trusts the cached file; the saved base must equal it.
    source = models.download_pretrained_base("MobileNetV2", 32, tmp_path / "w.h5", tmp_path / "keras")
    assert source["fname"] == fname
    loaded = models.build_base("MobileNetV2", 32, str(tmp_path / "w.h5"))
    # every weight the staged file's, not the first alone (nor a fresh random initialisation)
    for saved, staged in zip(loaded.get_weights(), staged_base.get_weights(), strict=True):
        np.testing.assert_array_equal(saved, staged)
    assert len(loaded.get_weights()) == len(staged_base.get_weights()) > 100


def test_dense_models_take_images_at_their_native_shape(digits_dataset):
    """A2E on digits sees 8x8x1 = 64 values (no upscaling, no RGB); MNIST would be 784."""
    from opscore.data.prepared import sample_shape
    from opscore.models.training import make_pipeline

    shape = sample_shape(digits_dataset)
    assert shape == (8, 8, 1)
    a2e = models.build_classifier("A2E", 10, input_size=32, sample_shape=shape)
    assert a2e.input_shape == (None, 8, 8, 1) and a2e.get_layer("fold1").get_weights()[0].shape[0] == 64
    assert models.build_classifier("A2E", 10, 32, sample_shape=(28, 28, 1)).get_layer("fold1").get_weights()[0].shape[0] == 784
    assert models.pipeline_size("A2E", 32) is None and models.pipeline_size("MobileNetV2", 32) == 32
    x, y = digits_dataset["x_train"][:10], digits_dataset["y_train"][:10]
    batch, _ = next(iter(make_pipeline(x, y, models.preprocess_function("A2E"), None, 10)))
    assert batch.shape == (10, 8, 8, 1) and float(batch.numpy().max()) <= 1.0
    assert a2e.predict(batch, verbose=0).shape == (10, 10)
    image_batch, _ = next(iter(make_pipeline(x, y, models.preprocess_function("MobileNetV2"), 32, 10)))
    assert image_batch.shape == (10, 32, 32, 3)  # the others: resized, RGB
    with pytest.raises(models.ModelError, match="sample_shape"):
        models.build_classifier("A2E", 10, 32)
