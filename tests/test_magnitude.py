"""Magnitude pruning (opscore.compression.magnitude, tfmot): target sparsity, named layers only."""
import numpy as np
import pytest

from opscore.compression import magnitude
from opscore.models.graph import PruningError


@pytest.mark.parametrize("schedule,target", [("polynomial", 0.5), ("constant", 0.8)])
def test_magnitude_pruning_reaches_target_sparsity(trained_cnn, digits, schedule, target):
    nonzero_before = np.count_nonzero(trained_cnn.get_layer("fc1").get_weights()[0])
    train = (digits["x_train"][:640], digits["y_train"][:640])  # 10 steps per epoch
    pruned, info = magnitude.prune_magnitude(trained_cnn, train, target, epochs=2, learning_rate=1e-3,
                                           schedule=schedule, batch_size=64)
    assert info["steps"] == 20
    assert info["schedule"] == schedule
    assert abs(info["sparsity"] - target) < 0.01
    assert sorted(info["pruned_layers"]) == ["c1", "c2", "c3", "fc1"]  # the head stays dense
    kernel = pruned.get_layer("fc1").get_weights()[0]
    assert abs(1 - np.count_nonzero(kernel) / kernel.size - target) < 0.01  # counted independently
    assert np.count_nonzero(pruned.get_layer("head_dense").get_weights()[0]) == 320
    assert not any("prune_low_magnitude" in layer.name for layer in pruned.layers)  # stripped
    assert pruned.count_params() == trained_cnn.count_params()  # same shapes: only zeros grow
    assert info["nonzero_params"] < (1 - target + 0.05) * info["params"]
    assert len(info["history"]) == 2
    assert np.count_nonzero(trained_cnn.get_layer("fc1").get_weights()[0]) == nonzero_before  # input untouched


def test_magnitude_pruning_of_named_layers_only(trained_cnn, digits):
    train = (digits["x_train"][:512], digits["y_train"][:512])
    pruned, info = magnitude.prune_magnitude(trained_cnn, train, 0.7, epochs=1, learning_rate=1e-3, layers=["fc1"],
                                           batch_size=64)
    assert info["pruned_layers"] == ["fc1"] and abs(info["sparsity"] - 0.7) < 0.01
    assert np.count_nonzero(pruned.get_layer("c3").get_weights()[0]) == pruned.get_layer("c3").get_weights()[0].size
    with pytest.raises(PruningError, match="target_sparsity"):
        magnitude.prune_magnitude(trained_cnn, (digits["x_train"], digits["y_train"]), 1.0, 1, 1e-3)
