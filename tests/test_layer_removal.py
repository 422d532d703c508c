"""Out-of-order layer removal (opscore.compression.layer_removal): candidates, folding a
width-changing layer, the sensitivity-ordered search."""
import numpy as np
import pytest

from conftest import accordion, small_cnn
from opscore.compression import layer_removal
from opscore.models.graph import PruningError


def test_removal_candidates_keep_shapes_or_rebuild_the_next_dense_layer():
    table = layer_removal.removal_candidates(accordion()).set_index("candidate")
    # 64 → 48 → 16 → 48 → 16 → 10: equal-shape runs, and Dense runs whose next Dense layer can take
    # the new width with fewer parameters in all (fold2 alone would grow fold3 from 16 to 48 inputs)
    assert list(table.index) == ["fold1", "fold1+fold2", "fold2+fold3", "fold3", "fold3+fold4", "fold4"]
    assert table.loc["fold2+fold3", "removed"] == ["fold2", "fold2_dropout", "fold3", "fold3_dropout"]
    assert table.loc["fold2+fold3", "rebuilds"] == "" and table.loc["fold1", "rebuilds"] == "fold2"
    assert table.loc["fold1", "params"] == (64 * 48 + 48) + (48 * 16 + 16) - (64 * 16 + 16)
    cnn = layer_removal.removal_candidates(small_cnn())
    # c2: 16→16 channels, same padding; c1 and c3 change shape; fc1 (512→32) folds into the head (512→10)
    assert cnn["candidate"].tolist() == ["c2", "fc1"] and cnn["rebuilds"].tolist() == ["", "head_dense"]
    assert cnn.loc[cnn["candidate"] == "c2", "removed"].iloc[0] == ["c2", "c2_bn", "c2_relu"]
    with pytest.raises(PruningError, match=r"c1.*\(8, 8, 1\).*\(8, 8, 16\)"):
        layer_removal.remove_layers(small_cnn(), ["c1"])
    with pytest.raises(PruningError, match="head_dense.*output"):
        layer_removal.remove_layers(accordion(), ["head_dense"])


def test_removing_a_width_changing_layer_folds_it_into_the_next(digits):
    model = accordion()
    smaller = layer_removal.remove_layers(model, ["fold1"])
    assert [layer.name for layer in smaller.layers if layer.weights] == ["fold2", "fold3", "fold4", "head_dense"]
    kernel, bias = smaller.get_layer("fold2").get_weights()
    w1, b1 = model.get_layer("fold1").get_weights()
    w2, b2 = model.get_layer("fold2").get_weights()
    np.testing.assert_allclose(kernel, w1 @ w2, rtol=1e-5)  # the removed map composed in, as if linear
    np.testing.assert_allclose(bias, b1 @ w2 + b2, rtol=1e-5)
    assert smaller.count_params() == model.count_params() - ((64 * 48 + 48) + (48 * 16 + 16) - (64 * 16 + 16))
    assert smaller.predict(digits["x_val"][:3], verbose=0).shape == (3, 10)


def test_layer_removal_gives_smaller_model_that_runs(trained_cnn, digits):
    model = accordion()
    smaller = layer_removal.remove_layers(model, ["fold2+fold3"])
    assert [layer.name for layer in smaller.layers if layer.weights] == ["fold1", "fold4", "head_dense"]
    assert smaller.count_params() == model.count_params() - (48 * 16 + 16) - (16 * 48 + 48)
    np.testing.assert_array_equal(smaller.get_layer("fold4").get_weights()[0], model.get_layer("fold4").get_weights()[0])
    assert smaller.predict(digits["x_val"][:5], verbose=0).shape == (5, 10)
    no_c2 = layer_removal.remove_layers(trained_cnn, ["c2"])
    assert "c2_bn" not in [layer.name for layer in no_c2.layers]
    assert no_c2.count_params() < trained_cnn.count_params()
    assert no_c2.predict(digits["x_val"][:5], verbose=0).shape == (5, 10)


def test_layer_removal_follows_measured_sensitivity_and_goes_on_past_a_rejection():
    def evaluate(model):  # fold3 and fold4 can go one at a time, not both; fold1 costs a little
        names = {layer.name for layer in model.layers}
        return 0.9 - (0.01 if not {"fold3", "fold4"} & names else 0) - (0.001 if "fold1" not in names else 0)

    table = layer_removal.layer_removal_sensitivity(accordion(), evaluate, max_span=1)
    assert table["candidate"].tolist() == ["fold3", "fold4", "fold1"]  # least sensitive first (fold2 would grow fold3)
    np.testing.assert_allclose(table["drop"], [0, 0, 0.001], atol=1e-12)
    smaller, report = layer_removal.out_of_order_layer_removal(accordion(), evaluate, budget=0.005, max_span=1,
                                                               stop_at_first_rejection=False)
    assert report["candidate"].tolist() == ["fold3", "fold4", "fold1"]
    assert report["accepted"].tolist() == [True, False, True]  # one rejected candidate does not end the search
    assert report.attrs["removed"] == ["fold3", "fold1"]
    assert [layer.name for layer in smaller.layers if layer.weights] == ["fold2", "fold4", "head_dense"]
    assert smaller.get_layer("fold2").get_weights()[0].shape == (64, 16)  # rebuilt for fold1's input
    stopped, steps = layer_removal.out_of_order_layer_removal(accordion(), evaluate, budget=0.005, max_span=1,
                                                              stop_at_first_rejection=True)
    assert steps["accepted"].tolist() == [True, False] and steps.attrs["removed"] == ["fold3"]
    assert smaller.count_params() < stopped.count_params() < accordion().count_params()
