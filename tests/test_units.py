"""Dense-unit pruning (opscore.compression.units, the prune-units kind): hidden dense layers made
physically smaller, searched in sensitivity order, together with filters."""
import numpy as np
import pytest

from conftest import accordion
from opscore.compression import filters, weight_quantization
from opscore.models import graph
from opscore.models.graph import PruningError
from opscore.tf import keras


def unit_count(model, name):
    return model.get_layer(name).units


def test_unit_pruning_makes_dense_layers_physically_smaller(digits, tmp_path):
    model = accordion()
    pruned = filters.prune_filters(model, {"fold1": 24, "fold3": 40})
    assert (unit_count(pruned, "fold1"), unit_count(pruned, "fold3")) == (24, 8)
    assert pruned.get_layer("fold2").get_weights()[0].shape == (24, 16)  # the successor's inputs shrink with it
    assert pruned.get_layer("fold4").get_weights()[0].shape == (8, 16)
    assert unit_count(pruned, "head_dense") == 10  # the classes stay
    assert pruned.count_params() == model.count_params() - (64 * 24 + 24) - 24 * 16 - (16 * 40 + 40) - 40 * 16
    graph.save_model(model, tmp_path / "original.h5")
    graph.save_model(pruned, tmp_path / "pruned.h5")
    assert (tmp_path / "pruned.h5").stat().st_size < (tmp_path / "original.h5").stat().st_size
    back = graph.load_model(tmp_path / "pruned.h5")
    np.testing.assert_allclose(back.predict(digits["x_val"][:4], verbose=0), pruned.predict(digits["x_val"][:4], verbose=0),
                               rtol=1e-6)
    with pytest.raises(PruningError, match="head_dense.*classes"):
        filters.prune_filters(model, {"head_dense": 2})


def test_unit_search_prunes_hidden_dense_layers_in_sensitivity_order():
    widths = {"fold1": 48, "fold2": 16, "fold3": 48, "fold4": 16}
    costs = {"fold1": 0.0001, "fold2": 0.01, "fold3": 0.0001, "fold4": 0.0005}  # half a layer: .0024 .08 .0024 .004

    def evaluate(model):
        return 0.9 - sum(cost * (widths[name] - unit_count(model, name)) for name, cost in costs.items())

    table = filters.layer_sensitivity(accordion(), evaluate, ratio=0.5, targets=("units",))
    assert table["layer"].tolist() == ["fold1", "fold2", "fold3", "fold4"]  # hidden layers only, not the head
    pruned, report = filters.accuracy_aware_filter_pruning(accordion(), evaluate, budget=0.01, ratio=0.5,
                                                           targets=("units",), stop_at_first_rejection=False)
    assert report.attrs["order"] == ["fold1", "fold3", "fold4", "fold2"]  # least sensitive first, ties in graph order
    assert report["action"].unique().tolist() == ["prune-units"]
    assert report["accepted"].tolist() == [True, True, True, False]  # fold2 (0.08) breaks the budget
    assert (unit_count(pruned, "fold1"), unit_count(pruned, "fold2")) == (24, 16)


def test_filters_and_units_are_searched_together(trained_cnn, evaluate):
    table = filters.layer_sensitivity(trained_cnn, evaluate, ratio=0.5, targets=("filters", "units"))
    assert table["layer"].tolist() == ["c1", "c2", "c3", "fc1"]  # convolutions and the hidden dense layer
    pruned, report = filters.accuracy_aware_filter_pruning(trained_cnn, evaluate, budget=0.05, ratio=0.5,
                                                           targets=("filters", "units"))
    assert set(report["action"]) <= {"prune-filters", "prune-units"}
    assert report.attrs["order"] == table[table["prunable"]].sort_values(["drop", "position"],
                                                                        kind="stable")["layer"].tolist()
    accepted = report[report["accepted"]]
    assert len(accepted) > 0, report  # the budget lets some step through: the search did prune
    assert pruned.count_params() < trained_cnn.count_params()
    def width(model, layer):
        return model.get_layer(layer).get_weights()[0].shape[-1]

    for layer in accepted["layer"]:  # each accepted layer is narrower than it was
        assert width(pruned, layer) < width(trained_cnn, layer), layer


def test_a_cnn_without_hidden_dense_layers_has_no_units_to_prune():
    L = keras.layers
    inputs = keras.Input((8, 8, 1))
    x = L.GlobalAveragePooling2D()(L.Conv2D(4, 3, name="conv")(inputs))
    head_only = keras.Model(inputs, L.Dense(10, activation="softmax", name="head_dense")(x))
    with pytest.raises(PruningError, match="no hidden Dense layer"):
        filters.accuracy_aware_filter_pruning(head_only, lambda model: 0.5, budget=0.02, targets=("units",))


def test_pruning_a_packed_dense_layer_keeps_its_storage(trained_cnn, digits):
    quantized = weight_quantization.quantize_dense(trained_cnn, "int4")
    pruned = filters.prune_filters(quantized, {"fc1": 16})
    layer = pruned.get_layer("fc1")
    assert layer.storage == "int4" and layer.units == 16
    assert pruned.predict(digits["x_val"][:2], verbose=0).shape == (2, 10)
