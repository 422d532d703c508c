"""Weight clustering: every kernel of a model shares K values (1-D k-means per layer), before
transfer learning (the paper's order) or after it. tfmot's clustering keeps a K-wide tensor per
weight and runs out of memory at large K, so a sorted-values implementation does the same job
within a fixed memory budget; why and how much: docs/compression.md."""
from __future__ import annotations

import bisect
import math
import resource
import time

import numpy as np
import pandas as pd

CENTROID_INITS = ("linear", "kmeans++", "random", "density")
METHODS = ("auto", "tfmot", "sorted")

# Peak bytes of tfmot ~ (largest kernel x K x 4 bytes) x this factor: the subtraction and
# its abs are both (weights x K) float32 tensors alive at once, and kmeans++ seeding and the
# allocator add more. Measured by bench/clustering.py: ResNet50 at K=256 (largest kernel
# 3x3x512x512 -> 2.4 GB per weights x K tensor) peaked 9.2 GiB above the build-only baseline,
# i.e. a factor of ~4.1.
TFMOT_SAFETY_FACTOR = 4.5
DEFAULT_MEMORY_BUDGET = 2 * 1024**3

KERNEL_ATTRIBUTES = ("kernel", "depthwise_kernel", "pointwise_kernel")
# keras.layers classes (and their subclasses) whose KERNEL_ATTRIBUTES are clustered.
CLUSTERABLE_CLASSES = (
    "Dense", "Conv1D", "Conv2D", "Conv3D", "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose",
    "DepthwiseConv1D", "DepthwiseConv2D", "SeparableConv1D", "SeparableConv2D",
)


class ClusteringError(ValueError):
    """A user-facing problem with the clustering parameters."""


def _tfmot_init(init: str):
    import tensorflow_model_optimization as tfmot

    enum = tfmot.clustering.keras.CentroidInitialization
    return {
        "linear": enum.LINEAR,
        "kmeans++": enum.KMEANS_PLUS_PLUS,
        "random": enum.RANDOM,
        "density": enum.DENSITY_BASED,
    }[init]


def _check(k, init, method=None, iterations=0):
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ClusteringError(f"k must be a positive integer, got {k!r}")
    if init not in CENTROID_INITS:
        raise ClusteringError(f"unknown centroid initialisation {init!r}; known: {', '.join(CENTROID_INITS)}")
    if method is not None and method not in METHODS:
        raise ClusteringError(f"unknown clustering method {method!r}; known: {', '.join(METHODS)}")
    if isinstance(iterations, bool) or not isinstance(iterations, (int, np.integer)) or iterations < 0:
        raise ClusteringError(f"iterations must be a non-negative integer, got {iterations!r}")


# --------------------------------------------------------------------------------------------
# 1-D k-means on sorted values
# --------------------------------------------------------------------------------------------

def _kmeans_plus_plus_sorted(x: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Standard kmeans++ seeding of the sorted 1-D array `x` (more than k distinct values).

    D^2 is kept per value; adding centroid c between sorted neighbours L < c < R can only
    lower D^2 for values in ((L+c)/2, (c+R)/2), a contiguous run of `x`, so only that run and
    the sums of the blocks it touches are recomputed. Sampling walks block sums, then one block.
    """
    n = x.size
    block = max(64, int(math.sqrt(n)))
    starts = np.arange(0, n, block)
    centroids = [float(x[rng.integers(n)])]
    d2 = np.square(x - centroids[0])
    block_sums = np.add.reduceat(d2, starts)
    while len(centroids) < k:
        cum = np.cumsum(block_sums)
        total = cum[-1]
        if not total > 0:  # cannot happen with > k distinct values; guard against rounding
            break
        r = rng.random() * total
        b = min(int(np.searchsorted(cum, r, side="right")), len(starts) - 1)
        lo_b = b * block
        inner = np.cumsum(d2[lo_b:lo_b + block])
        r -= cum[b - 1] if b else 0.0
        i = lo_b + min(int(np.searchsorted(inner, r, side="right")), inner.size - 1)
        if d2[i] == 0:  # rounding landed on a value that already is a centroid: nearest positive
            positive = np.flatnonzero(d2)
            i = int(positive[min(int(np.searchsorted(positive, i)), positive.size - 1)])
        c = float(x[i])
        pos = bisect.bisect_left(centroids, c)
        lo = int(np.searchsorted(x, (centroids[pos - 1] + c) / 2, side="left")) if pos > 0 else 0
        hi = int(np.searchsorted(x, (c + centroids[pos]) / 2, side="right")) if pos < len(centroids) else n
        centroids.insert(pos, c)
        if hi <= lo:
            continue
        np.minimum(d2[lo:hi], np.square(x[lo:hi] - c), out=d2[lo:hi])
        first, last = lo // block, (hi - 1) // block
        block_sums[first:last + 1] = np.add.reduceat(d2[first * block:(last + 1) * block], starts[first:last + 1] - first * block)
    return np.asarray(centroids, dtype=np.float64)


def _initial_centroids(x: np.ndarray, k: int, init: str, rng: np.random.Generator) -> np.ndarray:
    """k sorted initial centroids for the sorted array `x`."""
    lo, hi = float(x[0]), float(x[-1])
    if init == "linear":
        return np.linspace(lo, hi, k)
    if init == "random":
        return np.sort(rng.uniform(lo, hi, k))
    if init == "density":
        positions = (np.arange(k) + 0.5) / k * (x.size - 1)
        below = np.floor(positions).astype(np.int64)
        above = np.minimum(below + 1, x.size - 1)
        fraction = positions - below
        return x[below] * (1 - fraction) + x[above] * fraction
    return _kmeans_plus_plus_sorted(x, k, rng)


def _bounds(x: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Start index in sorted `x` of each centroid's cluster, plus the end: values below the
    midpoint between two neighbouring centroids go to the lower one, the rest up."""
    midpoints = (centroids[:-1] + centroids[1:]) / 2
    return np.concatenate(([0], np.searchsorted(x, midpoints, side="left"), [x.size]))


def kmeans_1d(values, k: int, init: str = "linear", iterations: int = 100, seed=0):
    """Lloyd's k-means of the 1-D values (any shape, flattened), memory independent of k.

    Returns ``(centroids, labels)``: at most k centroids sorted ascending (float64) and, shaped
    like `values`, the int32 index of each value's centroid (its nearest one). With at most k
    distinct values the result is exact: the centroids are those values. `iterations` caps the
    Lloyd steps after seeding (0 = seed and assign to the nearest centroid); they stop early
    once no assignment changes. An empty cluster keeps its previous centroid. `seed` feeds
    `np.random.default_rng` (kmeans++ and random initialisations).
    """
    _check(k, init, iterations=iterations)
    values = np.asarray(values)
    flat = values.reshape(-1).astype(np.float64)
    if flat.size == 0:
        return np.empty(0), np.empty(values.shape, np.int32)
    if not np.all(np.isfinite(flat)):
        raise ClusteringError("cannot cluster non-finite values (NaN or inf)")
    x = np.sort(flat)
    distinct = np.count_nonzero(x[1:] != x[:-1]) + 1
    if distinct <= k:
        centroids = x[np.concatenate(([True], x[1:] != x[:-1]))]
        labels = np.searchsorted(centroids, flat).astype(np.int32)
        return centroids, labels.reshape(values.shape)

    centroids = _initial_centroids(x, k, init, np.random.default_rng(seed))
    bounds = _bounds(x, centroids)
    if iterations:
        prefix = np.concatenate(([0.0], np.cumsum(x)))
        for _ in range(iterations):
            starts, ends = bounds[:-1], bounds[1:]
            counts = ends - starts
            full = counts > 0
            means = (prefix[ends[full]] - prefix[starts[full]]) / counts[full]
            # Rounding in the prefix sums must not push a mean out of its run: keeps order.
            centroids[full] = np.clip(means, x[starts[full]], x[ends[full] - 1])
            new_bounds = _bounds(x, centroids)
            if np.array_equal(new_bounds, bounds):
                break
            bounds = new_bounds
        del prefix
    del x
    midpoints = (centroids[:-1] + centroids[1:]) / 2
    labels = np.searchsorted(midpoints, flat, side="right").astype(np.int32)
    return centroids, labels.reshape(values.shape)


# --------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------

def _all_layers(model):
    from opscore.tf import keras

    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _all_layers(layer)
        else:
            yield layer


def _kernel_variables(layer) -> list:
    """(attribute name, variable) of the layer's clusterable kernels."""
    from opscore.tf import keras

    kinds = tuple(getattr(keras.layers, name) for name in CLUSTERABLE_CLASSES if hasattr(keras.layers, name))
    if not isinstance(layer, kinds) or not layer.built:
        return []
    return [(name, getattr(layer, name)) for name in KERNEL_ATTRIBUTES if getattr(layer, name, None) is not None]


def clusterable_layers(model) -> list:
    """Layers (nested models flattened, in model order) that own clusterable kernels: Dense and
    every convolution (Conv1D/2D/3D, transposes, DepthwiseConv, SeparableConv)."""
    return [layer for layer in _all_layers(model) if _kernel_variables(layer)]


def distinct_values_per_layer(model) -> dict:
    """Layer name -> number of distinct values in its clusterable kernel (the largest count when
    a layer has two kernels, as SeparableConv does; each kernel is clustered on its own)."""
    return {
        layer.name: max(np.unique(variable.numpy()).size for _, variable in _kernel_variables(layer))
        for layer in clusterable_layers(model)
    }


# The kernels tfmot 0.8.1's ClusteringRegistry clusters, by *exact* layer class (it refuses
# subclasses; DepthwiseConv2D maps to nothing). Kept static so that choosing a method needs no
# tfmot import (~5 s); tests/test_clustering.py checks it against the installed registry.
TFMOT_KERNELS = {
    "Conv1D": ("kernel",), "Conv1DTranspose": ("kernel",), "Conv2D": ("kernel",),
    "Conv2DTranspose": ("kernel",), "Conv3D": ("kernel",), "Conv3DTranspose": ("kernel",),
    "SeparableConv1D": ("pointwise_kernel",), "SeparableConv2D": ("pointwise_kernel",),
    "Dense": ("kernel",),
}


def _tfmot_kernel_names(layer) -> tuple:
    """The kernels tfmot clusters for this layer (by exact keras.layers class)."""
    from opscore.tf import keras

    name = type(layer).__name__
    return TFMOT_KERNELS.get(name, ()) if getattr(keras.layers, name, None) is type(layer) else ()


def estimated_tfmot_bytes(model, k: int) -> int:
    """tfmot's estimated peak for the assignment: largest kernel it clusters x k x 4 bytes x
    `TFMOT_SAFETY_FACTOR` (0 when it would cluster nothing)."""
    largest = 0
    for layer in clusterable_layers(model):
        for name in _tfmot_kernel_names(layer):
            largest = max(largest, int(np.prod(getattr(layer, name).shape)))
    return int(largest * k * 4 * TFMOT_SAFETY_FACTOR)


def _copy(model):
    """Same architecture, weights, names and trainable flags (clone_model alone loses the
    model's and the InputLayer's flags)."""
    from opscore.tf import keras

    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    clone.trainable = model.trainable
    for source, target in zip(_all_layers(model), _all_layers(clone), strict=True):
        target.trainable = source.trainable
    return clone


def _cluster_sorted_in_place(layers_and_names, k, init, iterations, seed) -> tuple[int, int]:
    """Cluster the given (layer, attribute) kernels in place; returns (kernels, weights)."""
    kernels = weights = 0
    for index, (layer, name) in enumerate(layers_and_names):
        variable = getattr(layer, name)
        value = variable.numpy()
        kept = value != 0  # an earlier pruning's zeros stay zeros, one of the k values (sparsity-preserving)
        clustered = np.zeros_like(value)
        if kept.any():
            wanted = k if kept.all() else max(1, k - 1)
            centroids, labels = kmeans_1d(value[kept], wanted, init=init, iterations=iterations, seed=[seed, index])
            clustered[kept] = centroids.astype(value.dtype)[labels]
        variable.assign(clustered)
        kernels += 1
        weights += value.size
    return kernels, weights


def _cluster_tfmot(model, k, init, seed, depthwise=True):
    """tfmot cluster_weights + strip_clustering on a throwaway copy, whose clustered kernels are
    then written into a faithful copy (tfmot's stripped layers lose the layer prefix of their
    weight names and the trainable flags). Kernels tfmot does not cluster go through ours
    (iterations=0, same init). Returns (clustered model, kernels by method, weights)."""
    import warnings

    import tensorflow_model_optimization as tfmot

    from opscore.tf import keras, tf

    if k < 2:
        raise ClusteringError("tfmot clustering needs k >= 2")
    work = _copy(model)
    # tfmot's registry reads *trainable* weights: a frozen layer would silently be skipped.
    work.trainable = True
    tf.random.set_seed(seed)
    centroid_init = _tfmot_init(init)
    wrapped = set()

    def wrap(layer):
        if isinstance(layer, keras.Model):
            return keras.models.clone_model(layer, clone_function=wrap)
        if _tfmot_kernel_names(layer) and _kernel_variables(layer):
            # a kernel with zeros (pruned before) keeps them: tfmot's sparsity-preserving clustering
            sparse = any(np.any(variable.numpy() == 0) for _, variable in _kernel_variables(layer))
            result = tfmot.clustering.keras.cluster_weights(
                layer, number_of_clusters=int(k), cluster_centroids_init=centroid_init, preserve_sparsity=sparse
            )
            if result is not layer:  # tfmot leaves a Conv2D with <= k weights as it is
                wrapped.add(layer.name)
            return result
        return layer

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have enough weights.*")
        stripped = tfmot.clustering.keras.strip_clustering(keras.models.clone_model(work, clone_function=wrap))
    values = {
        (layer.name, name): getattr(layer, name).numpy()
        for layer in _all_layers(stripped) if layer.name in wrapped
        for name in _tfmot_kernel_names(layer)
    }
    del work, stripped
    clustered = _copy(model)
    by_method = {"tfmot": 0, "sorted": 0}
    leftovers = []
    weights = 0
    layers = set()
    for layer, name in _selected_kernels(clustered, depthwise):
        variable = getattr(layer, name)
        weights += int(np.prod(variable.shape))
        layers.add(id(layer))
        if (layer.name, name) in values:
            variable.assign(values.pop((layer.name, name)))
            by_method["tfmot"] += 1
        else:
            leftovers.append((layer, name))
    by_method["sorted"], _ = _cluster_sorted_in_place(leftovers, k, init, 0, seed)
    return clustered, by_method, weights, len(layers)


def _selected_kernels(model, depthwise=True) -> list:
    """(layer, attribute) of the kernels to cluster; depthwise=False skips depthwise kernels."""
    return [
        (layer, name)
        for layer in clusterable_layers(model)
        for name, _ in _kernel_variables(layer)
        if depthwise or name != "depthwise_kernel"
    ]


def cluster_model(
    model,
    k: int,
    init: str = "linear",
    method: str = "auto",
    seed: int = 0,
    iterations: int = 0,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    inplace: bool = False,
    depthwise: bool = True,
):
    """Cluster every clusterable kernel of `model` to at most `k` distinct values.

    Returns ``(clustered_model, info)``. The clustered model has the input's architecture
    (layer names, classes, weight shapes, per-layer `trainable`); biases, BatchNormalization
    and every other non-kernel weight are copied unchanged. The input model is not modified,
    unless ``inplace=True`` with the sorted method, which clusters it in place and returns it
    (cheaper: no copy of the weights). ``depthwise=False`` leaves depthwise kernels
    (DepthwiseConv, the depthwise half of SeparableConv) unclustered, as tfmot alone would:
    that is the coverage of a tfmot-based study such as the paper's.

    method: "tfmot", "sorted" (ours) or "auto" (tfmot while `estimated_tfmot_bytes` fits in
    `memory_budget`, else ours; always ours when iterations > 0 or inplace). iterations: Lloyd
    steps after seeding, 0 = tfmot's semantics (seed, then nearest centroid); > 0 needs ours.

    info: method, k, init, iterations, seed, seconds (wall time of the whole clustering,
    copies included), layers (layers clustered), kernels, weights (clustered values), depthwise,
    kernels_by_method, estimated_tfmot_bytes, memory_budget, peak_rss_bytes (the process's
    high-water mark so far, from getrusage: an upper bound for this call's peak).
    """
    _check(k, init, method, iterations)
    start = time.perf_counter()
    estimate = estimated_tfmot_bytes(model, int(k))
    if method == "auto":
        method = "tfmot" if (estimate <= memory_budget and iterations == 0 and not inplace) else "sorted"
    if method == "tfmot" and iterations:
        raise ClusteringError("tfmot runs no Lloyd iterations (iterations must be 0); use method='sorted'")
    if method == "tfmot" and inplace:
        raise ClusteringError("tfmot clusters a copy; inplace=True needs method='sorted'")

    if method == "tfmot":
        clustered, by_method, weights, layers = _cluster_tfmot(model, int(k), init, seed, depthwise)
    else:
        clustered = model if inplace else _copy(model)
        pairs = _selected_kernels(clustered, depthwise)
        kernels, weights = _cluster_sorted_in_place(pairs, int(k), init, iterations, seed)
        by_method = {"tfmot": 0, "sorted": kernels}
        layers = len({id(layer) for layer, _ in pairs})
    seconds = time.perf_counter() - start
    info = {
        "method": method,
        "k": int(k),
        "init": init,
        "iterations": int(iterations),
        "seed": seed,
        "seconds": seconds,
        "layers": layers,
        "depthwise": bool(depthwise),
        "kernels": by_method["tfmot"] + by_method["sorted"],
        "weights": int(weights),
        "kernels_by_method": by_method,
        "estimated_tfmot_bytes": estimate,
        "memory_budget": int(memory_budget),
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }
    return clustered, info


def mean_abs_kernel_error(original, clustered) -> float:
    """Mean |w - w'| over all clusterable kernel values of two models of the same architecture."""
    total = count = 0.0
    for a, b in zip(clusterable_layers(original), clusterable_layers(clustered), strict=True):
        for (_, va), (_, vb) in zip(_kernel_variables(a), _kernel_variables(b), strict=True):
            x = va.numpy().astype(np.float64)
            total += float(np.abs(x - vb.numpy()).sum())
            count += x.size
    return total / count if count else 0.0


def make(model, variant, job):
    """The ``cluster-k<K>`` variant made after training (``clustering.order: after-training``);
    before training, the cluster_base rule clusters the base instead (registry: opscore.kinds.registry)."""
    settings = job.settings
    derived, info = cluster_model(model, variant.options["k"], init=settings["init"], method=settings["method"],
                                  iterations=settings["iterations"], seed=job.seed)
    layers = pd.DataFrame(distinct_values_per_layer(derived).items(), columns=["layer", "distinct_values"])
    return derived, info, layers
