"""Weight clustering: 1-D k-means (ours) and the tfmot path under one contract."""
import tracemalloc

import numpy as np
import pytest

from opscore.compression import clustering
from opscore.compression.clustering import CENTROID_INITS, ClusteringError, cluster_model, kmeans_1d
from opscore.tf import keras


def blobs(seed=0, n=600):
    rng = np.random.default_rng(seed)
    means = np.array([-1.0, 0.0, 2.0])
    values = np.concatenate([m + rng.normal(0, 0.01, n) for m in means])
    return rng.permutation(values).astype(np.float32), means


# ------------------------------------------------------------------------------ kmeans_1d

@pytest.mark.parametrize("init", ["linear", "kmeans++", "density"])
def test_well_separated_blobs_are_found_exactly(init):
    values, means = blobs()
    centroids, labels = kmeans_1d(values, 3, init=init, iterations=50, seed=1)
    assert np.all(np.diff(centroids) > 0)
    for j, mean in enumerate(means):
        members = values[labels == j].astype(np.float64)
        assert members.size == 600
        assert np.abs(members - mean).max() < 0.1  # each blob is one cluster
        assert centroids[j] == pytest.approx(members.mean(), abs=1e-9)  # Lloyd fixed point


@pytest.mark.parametrize("init", CENTROID_INITS)
@pytest.mark.parametrize("k", [2, 7, 64])
def test_at_most_k_distinct_values_and_nearest_labels(init, k):
    values = np.random.default_rng(3).normal(0, 0.05, (20, 30, 4)).astype(np.float32)
    centroids, labels = kmeans_1d(values, k, init=init, iterations=5, seed=0)
    assert labels.shape == values.shape and labels.dtype == np.int32
    assert len(centroids) <= k and np.all(np.diff(centroids) >= 0)
    assert np.unique(centroids[labels]).size <= k
    brute = np.abs(values.reshape(-1, 1).astype(np.float64) - centroids).min(axis=1)
    np.testing.assert_allclose(np.abs(values.ravel() - centroids[labels.ravel()]), brute, atol=1e-12)


@pytest.mark.parametrize("init", CENTROID_INITS)
def test_k_at_least_distinct_values_is_lossless(init):
    rng = np.random.default_rng(4)
    values = rng.choice(rng.normal(size=50).astype(np.float32), size=(40, 25))
    distinct = np.unique(values).size
    for k in (distinct, distinct + 100):
        centroids, labels = kmeans_1d(values, k, init=init)
        assert len(centroids) == distinct
        np.testing.assert_array_equal(centroids.astype(np.float32)[labels], values)


@pytest.mark.parametrize("init", CENTROID_INITS)
def test_every_init_is_seeded(init):
    values = np.random.default_rng(5).standard_t(3, 5000)
    a = kmeans_1d(values, 40, init=init, iterations=3, seed=11)
    b = kmeans_1d(values, 40, init=init, iterations=3, seed=11)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    if init in ("random", "kmeans++"):
        assert not np.array_equal(a[0], kmeans_1d(values, 40, init=init, iterations=3, seed=12)[0])


def test_initialisations_follow_their_definitions():
    values = np.random.default_rng(6).normal(size=1001)
    lo, hi = values.min(), values.max()
    linear, _ = kmeans_1d(values, 5, init="linear", iterations=0)
    np.testing.assert_allclose(linear, np.linspace(lo, hi, 5))
    density, _ = kmeans_1d(values, 4, init="density", iterations=0)
    np.testing.assert_allclose(density, np.quantile(values, [0.125, 0.375, 0.625, 0.875]))
    random, _ = kmeans_1d(values, 50, init="random", iterations=0, seed=2)
    assert lo <= random.min() and random.max() <= hi and not np.allclose(np.diff(random), np.diff(random)[0])


def test_kmeans_plus_plus_samples_by_squared_distance():
    # 5000 values in a tight blob and 10 far outliers: D^2 seeding takes (nearly) every
    # outlier; uniform seeding would take about 11 * 10/5010 of them.
    rng = np.random.default_rng(7)
    values = np.concatenate([rng.normal(0, 1e-3, 5000), 100 + np.arange(10.0)])
    hits = []
    for seed in range(5):
        centroids, _ = kmeans_1d(values, 11, init="kmeans++", iterations=0, seed=seed)
        assert np.isin(centroids, values).all()  # seeds are data points
        hits.append(np.count_nonzero(centroids >= 100))
    assert min(hits) >= 9


def test_empty_clusters_keep_their_centroid():
    values = np.array([0.0, 0.01, 0.02, 0.03, 0.97, 0.98, 0.99, 1.0])
    centroids, labels = kmeans_1d(values, 5, init="linear", iterations=20)
    np.testing.assert_allclose(centroids, [0.015, 0.25, 0.5, 0.75, 0.985])
    np.testing.assert_array_equal(labels, [0, 0, 0, 0, 4, 4, 4, 4])


def test_lloyd_lowers_the_error_and_stops_when_assignments_settle(monkeypatch):
    values = np.random.default_rng(8).normal(size=20000)
    def sse(result):
        return float(np.square(values - result[0][result[1]]).sum())
    seeded = sse(kmeans_1d(values, 16, init="random", iterations=0, seed=1))
    refined = sse(kmeans_1d(values, 16, init="random", iterations=50, seed=1))
    assert refined < 0.9 * seeded
    blob_values, _ = blobs()
    steps = []
    assign = clustering._bounds
    monkeypatch.setattr(clustering, "_bounds", lambda *a: steps.append(1) or assign(*a))
    kmeans_1d(blob_values, 3, init="linear", iterations=10**6)  # converges in a few steps
    assert 2 <= len(steps) <= 10  # the seeding's assignment, then Lloyd steps until none changes


def test_bad_arguments_are_refused():
    with pytest.raises(ClusteringError, match="initialisation"):
        kmeans_1d([1.0, 2.0], 2, init="kmeans")
    with pytest.raises(ClusteringError, match="positive integer"):
        kmeans_1d([1.0, 2.0], 0)
    with pytest.raises(ClusteringError, match="non-finite"):
        kmeans_1d([1.0, np.nan, 3.0], 2)


def test_memory_does_not_grow_with_k():
    values = np.random.default_rng(9).normal(0, 0.05, 1_000_000).astype(np.float32)
    peaks = {}
    for k in (16, 4096):
        tracemalloc.start()
        kmeans_1d(values, k, init="kmeans++", iterations=10)
        peaks[k] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peaks[4096] < 2 * peaks[16]
    assert peaks[4096] < 64 * values.size  # a few float64 copies, not values x k


# ------------------------------------------------------------------------------ models

def small_net():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((12, 12, 3))
    x = keras.layers.Conv2D(16, 3, padding="same", name="conv_a")(inputs)
    x = keras.layers.BatchNormalization(name="bn_a")(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.DepthwiseConv2D(3, padding="same", name="dw")(x)
    x = keras.layers.SeparableConv2D(24, 3, name="sep")(x)
    x = keras.layers.Conv2D(32, 3, name="conv_b")(x)
    x = keras.layers.BatchNormalization(name="bn_b")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(10, activation="softmax", name="head")(x)
    model = keras.Model(inputs, outputs, name="small")
    # Perturb BatchNorm statistics so "untouched" is not trivially ones and zeros.
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.set_weights([w + np.random.default_rng(1).normal(0, 0.1, w.shape).astype(w.dtype) + 1.0
                               for w in layer.get_weights()])
    model.get_layer("conv_a").trainable = False  # frozen layers must be clustered too
    return model


KERNELS = {"conv_a": 432, "dw": 144, "sep": 144 + 384, "conv_b": 6912, "head": 320}
K = 16


@pytest.fixture(scope="module")
def original():
    return small_net()


@pytest.fixture(scope="module")
def results(original):
    snapshot = [w.copy() for w in original.get_weights()]
    out = {}
    for method in ("tfmot", "sorted"):
        for init in ("linear", "kmeans++"):
            out[method, init] = cluster_model(original, K, init=init, method=method, seed=0)
    for before, after in zip(snapshot, original.get_weights(), strict=True):
        np.testing.assert_array_equal(before, after)  # the input model is not modified
    return out


def test_clusterable_layers_are_the_kernel_owners(original):
    assert [layer.name for layer in clustering.clusterable_layers(original)] == list(KERNELS)
    distinct = clustering.distinct_values_per_layer(original)
    assert set(distinct) == set(KERNELS)
    assert distinct["conv_b"] > 6900  # random init: (nearly) all distinct before clustering


PROBE = np.random.default_rng(2).normal(size=(4, 12, 12, 3)).astype("float32")


@pytest.fixture(scope="module")
def zeroed_error(original):
    """How far the predictions of the model with every clustered kernel set to zero are from the
    original's: what a clustering that loses the weights would give."""
    zeroed = keras.models.clone_model(original)
    zeroed.set_weights(original.get_weights())
    for layer in clustering.clusterable_layers(zeroed):
        for _, variable in clustering._kernel_variables(layer):
            variable.assign(np.zeros(variable.shape, variable.dtype.as_numpy_dtype))
    return np.abs(zeroed.predict(PROBE, verbose=0) - original.predict(PROBE, verbose=0)).max()


@pytest.mark.parametrize("method", ["tfmot", "sorted"])
@pytest.mark.parametrize("init", ["linear", "kmeans++"])
def test_cluster_model_contract(original, results, zeroed_error, method, init):
    clustered, info = results[method, init]
    assert info["method"] == method and info["k"] == K and info["init"] == init
    assert info["layers"] == len(KERNELS) and info["kernels"] == len(KERNELS) + 1  # sep has two
    assert info["weights"] == sum(KERNELS.values()) and info["seconds"] > 0
    assert info["peak_rss_bytes"] > 0
    if method == "tfmot":  # tfmot leaves depthwise kernels alone; ours completes the contract
        assert info["kernels_by_method"] == {"tfmot": 4, "sorted": 2}
    distinct = clustering.distinct_values_per_layer(clustered)
    assert all(count <= K for count in distinct.values()), distinct
    assert distinct["conv_b"] >= K // 2  # really clustered, not collapsed
    # Same architecture, same per-layer trainable.
    assert [(l.name, type(l)) for l in clustered.layers] == [(l.name, type(l)) for l in original.layers]
    assert [(w.name, w.shape) for w in clustered.weights] == [(w.name, w.shape) for w in original.weights]
    assert [l.trainable for l in clustered.layers] == [l.trainable for l in original.layers]
    # Biases and BatchNorm untouched; kernels changed.
    for before, after in zip(original.layers, clustered.layers, strict=True):
        kernels = {id(v) for _, v in clustering._kernel_variables(after)}
        for wa, wb in zip(before.weights, after.weights, strict=True):
            if id(wb) not in kernels:
                np.testing.assert_array_equal(wa.numpy(), wb.numpy(), err_msg=wa.name)
            else:
                assert not np.array_equal(wa.numpy(), wb.numpy()), wa.name
    predictions = clustered.predict(PROBE, verbose=0)
    assert np.isfinite(predictions).all()
    # 16 shared values per layer keep the predictions (largest difference measured 0.007), which a
    # model whose kernels are all zero does not (0.073, softmax outputs near 0.1)
    error = np.abs(predictions - original.predict(PROBE, verbose=0)).max()
    assert error < 0.02 and error < 0.25 * zeroed_error


def test_linear_init_gives_tfmots_clustering(original, results):
    # iterations=0 is tfmot's semantics (seed, then nearest): with the deterministic linear
    # init both implementations must agree value for value (ties at midpoints aside).
    ours, theirs = results["sorted", "linear"][0], results["tfmot", "linear"][0]
    for a, b in zip(clustering.clusterable_layers(ours), clustering.clusterable_layers(theirs), strict=True):
        for (_, va), (_, vb) in zip(clustering._kernel_variables(a), clustering._kernel_variables(b), strict=True):
            assert np.mean(np.isclose(va.numpy(), vb.numpy(), rtol=0, atol=1e-6)) > 0.995, a.name


def test_kmeans_plus_plus_error_is_comparable_to_tfmot(original, results):
    # tfmot uses greedy kmeans++ (2 + log k tries per centroid), ours the standard seeding:
    # allow ours to be at most 1.5x worse in mean |w - w'|.
    ours = clustering.mean_abs_kernel_error(original, results["sorted", "kmeans++"][0])
    theirs = clustering.mean_abs_kernel_error(original, results["tfmot", "kmeans++"][0])
    assert 0 < ours < 1.5 * theirs
    refined, _ = cluster_model(original, K, init="kmeans++", method="sorted", iterations=30)
    assert clustering.mean_abs_kernel_error(original, refined) < ours


def test_auto_picks_by_estimated_tfmot_memory(original):
    estimate = clustering.estimated_tfmot_bytes(original, K)
    assert estimate == int(6912 * K * 4 * clustering.TFMOT_SAFETY_FACTOR)  # conv_b is the largest
    _, info = cluster_model(original, K, method="auto", memory_budget=estimate - 1)
    assert info["method"] == "sorted" and info["estimated_tfmot_bytes"] == estimate
    _, info = cluster_model(original, K, method="auto", memory_budget=estimate)
    assert info["method"] == "tfmot"
    _, info = cluster_model(original, K, method="auto", iterations=3)
    assert info["method"] == "sorted"
    with pytest.raises(ClusteringError, match="iterations"):
        cluster_model(original, K, method="tfmot", iterations=3)
    with pytest.raises(ClusteringError, match="method"):
        cluster_model(original, K, method="kmeans")


def test_inplace_clusters_the_given_model():
    model = small_net()
    clustered, info = cluster_model(model, 8, method="sorted", inplace=True)
    assert clustered is model and info["method"] == "sorted"
    assert max(clustering.distinct_values_per_layer(model).values()) <= 8


def test_a_frozen_keras_application_is_fully_clustered():
    from opscore.models import applications as models

    base = models.build_base("MobileNetV2", 32)
    base.trainable = False
    clustered, info = cluster_model(base, 64, init="density", method="sorted")
    distinct = clustering.distinct_values_per_layer(clustered)
    assert len(distinct) == info["layers"] and len(distinct) > 50
    assert max(distinct.values()) <= 64
    assert not any(layer.trainable for layer in clustered.layers)


def test_static_tfmot_table_matches_the_installed_registry():
    from tensorflow_model_optimization.python.core.clustering.keras.clustering_registry import ClusteringRegistry

    installed = {
        cls.__name__: tuple(names)
        for cls, names in ClusteringRegistry._LAYERS_WEIGHTS_MAP.items()
        if set(names) & set(clustering.KERNEL_ATTRIBUTES) and cls.__name__ in clustering.CLUSTERABLE_CLASSES
    }
    assert installed == clustering.TFMOT_KERNELS
    assert ClusteringRegistry._LAYERS_WEIGHTS_MAP[keras.layers.DepthwiseConv2D] == []


@pytest.mark.parametrize("method", ["tfmot", "sorted"])
def test_depthwise_false_keeps_tfmots_coverage(original, method):
    clustered, info = cluster_model(original, K, method=method, depthwise=False)
    assert info["layers"] == len(KERNELS) - 1 and info["kernels"] == len(KERNELS) - 1
    if method == "tfmot":
        assert info["kernels_by_method"] == {"tfmot": 4, "sorted": 0}
    np.testing.assert_array_equal(clustered.get_layer("dw").depthwise_kernel.numpy(),
                                  original.get_layer("dw").depthwise_kernel.numpy())
    np.testing.assert_array_equal(clustered.get_layer("sep").depthwise_kernel.numpy(),
                                  original.get_layer("sep").depthwise_kernel.numpy())
    assert np.unique(clustered.get_layer("sep").pointwise_kernel.numpy()).size <= K


@pytest.mark.parametrize("method", ["tfmot", "sorted"])
def test_a_pruned_kernels_zeros_stay_zeros_among_the_k_values(original, method):
    """Clustering after magnitude pruning (a chain's later step) is sparsity-preserving: every zero
    of a kernel stays zero, and zero is one of its K values."""
    pruned = keras.models.clone_model(original)
    pruned.set_weights(original.get_weights())
    for layer in clustering.clusterable_layers(pruned):
        for _, variable in clustering._kernel_variables(layer):
            value = variable.numpy()
            variable.assign(np.where(np.abs(value) < np.median(np.abs(value)), 0, value))
    clustered, _ = cluster_model(pruned, K, method=method)
    for before, after in zip(clustering.clusterable_layers(pruned), clustering.clusterable_layers(clustered),
                             strict=True):
        for (_, a), (_, b) in zip(clustering._kernel_variables(before), clustering._kernel_variables(after),
                                  strict=True):
            zeros = a.numpy() == 0
            assert zeros.mean() >= 0.5 and (b.numpy()[zeros] == 0).all(), after.name
            assert len(np.unique(b.numpy())) <= K and (b.numpy()[~zeros] != 0).mean() > 0.9, after.name
