"""Accuracy-aware structured filter pruning (opscore.compression.filters): L1 ranking, exact removal,
the sensitivity-ordered search under a budget, residual graphs, quantized layers pruned. Small models
on scikit-learn's 8×8 digits keep this file fast (the trained CNN: tests/conftest.py)."""
import numpy as np
import pandas as pd
import pytest

from conftest import accordion, small_cnn
from opscore.compression import evaluation, filters, weight_quantization
from opscore.models import graph, quantized_layer
from opscore.models.graph import PruningError
from opscore.tf import keras


def filter_count(model, name):
    return model.get_layer(name).filters


def test_l1_norms_rank_filters():
    layer = keras.layers.Conv2D(3, 2)
    layer.build((None, 4, 4, 2))
    kernel = np.zeros((2, 2, 2, 3), "float32")
    kernel[..., 0] = 1.0
    kernel[0, 0, 0, 1] = -5.0
    layer.set_weights([kernel, np.zeros(3, "float32")])
    np.testing.assert_allclose(filters.filter_l1_norms(layer), [8.0, 5.0, 0.0])


def test_removing_dead_filters_is_exact(trained_cnn, digits):
    """Zeroed filters have the smallest L1 norm; cutting them out (conv, BN, next conv's input
    channels, Dense rows after Flatten) must leave every prediction unchanged."""
    model = graph.copy_model(trained_cnn)
    kernel, bias = model.get_layer("c1").get_weights()
    kernel[..., [3, 11]] = 0
    bias[[3, 11]] = 0
    model.get_layer("c1").set_weights([kernel, bias])
    gamma, beta, mean, var = model.get_layer("c1_bn").get_weights()
    gamma[[3, 11]] = 0
    beta[[3, 11]] = 0
    model.get_layer("c1_bn").set_weights([gamma, beta, mean, var])
    kernel, bias = model.get_layer("c3").get_weights()
    dead = [0, 7, 30]
    kernel[..., dead] = 0
    bias[dead] = 0
    model.get_layer("c3").set_weights([kernel, bias])
    expected = model.predict(digits["x_val"], verbose=0)

    pruned = filters.prune_filters(model, {"c1": 2, "c3": 3})
    assert filter_count(pruned, "c1") == 14 and filter_count(pruned, "c3") == 29
    assert pruned.get_layer("c2").get_weights()[0].shape == (3, 3, 14, 16)
    assert pruned.get_layer("c1_bn").get_weights()[2].shape == (14,)
    assert pruned.get_layer("fc1").get_weights()[0].shape == (4 * 4 * 29, 32)
    kept = [i for i in range(32) if i not in dead]
    np.testing.assert_array_equal(pruned.get_layer("c3").get_weights()[0], kernel[..., kept])
    np.testing.assert_allclose(pruned.predict(digits["x_val"], verbose=0), expected, atol=1e-5)
    removed = (3 * 3 * 1 + 1 + 4) * 2 + 3 * 3 * 16 * 2 + (3 * 3 * 16 + 1) * 3 + 4 * 4 * 3 * 32
    assert trained_cnn.count_params() - pruned.count_params() == removed
    # the input model is untouched
    assert filter_count(model, "c1") == 16 and model.get_layer("fc1").get_weights()[0].shape == (512, 32)


def test_pruned_model_is_smaller_on_disk_and_runs(trained_cnn, digits, tmp_path):
    pruned = filters.prune_filters(trained_cnn, {"c1": 8, "c2": 8, "c3": 24})
    rates = evaluation.compression_rate(trained_cnn, pruned)
    assert pruned.count_params() < trained_cnn.count_params()
    assert rates["params_ratio"] > 3 and rates["bytes_ratio"] > 1.8  # HDF5 overhead is ~10 kB
    assert pruned.predict(digits["x_val"][:7], verbose=0).shape == (7, 10)
    graph.save_model(trained_cnn, tmp_path / "original.h5")
    graph.save_model(pruned, tmp_path / "pruned.h5")
    assert (tmp_path / "pruned.h5").stat().st_size < 0.6 * (tmp_path / "original.h5").stat().st_size
    back = graph.load_model(tmp_path / "pruned.h5")
    np.testing.assert_allclose(back.predict(digits["x_val"][:7], verbose=0),
                               pruned.predict(digits["x_val"][:7], verbose=0), atol=1e-6)


def test_bad_plans_name_the_problem(trained_cnn):
    with pytest.raises(PruningError, match="at least one"):
        filters.prune_filters(trained_cnn, {"c1": 16})
    with pytest.raises(PruningError, match="head_dense.*classes"):
        filters.prune_filters(trained_cnn, {"head_dense": 1})
    with pytest.raises(PruningError, match="no layer 'c9'"):
        filters.prune_filters(trained_cnn, {"c9": 1})
    with pytest.raises(PruningError, match="c1_bn.*BatchNormalization"):
        filters.prune_filters(trained_cnn, {"c1_bn": 1})


@pytest.mark.parametrize("on_rejection, pruned", [("stop", ["c1"]), ("skip", ["c1", "c3"])])
def test_a_rejected_step_ends_the_search_or_skips_the_layer(trained_cnn, on_rejection, pruned):
    def evaluate(model):  # pruning c2 always breaks the budget, the others never do
        return 0.0 if filter_count(model, "c2") < 16 else 0.9

    model, report = filters.accuracy_aware_filter_pruning(
        trained_cnn, evaluate, budget=0.05, order="input-to-output", stop_at_first_rejection=on_rejection == "stop")
    assert sorted(report.attrs["plan"]) == pruned
    assert report["layer"].tolist() == ["c1", "c2", "c3"][: len(report)]
    assert filter_count(model, "c2") == 16 and (filter_count(model, "c3") < 32) == (on_rejection == "skip")


def test_a_rejected_step_is_halved_until_accepted_or_one_unit_is_rejected():
    """on_rejection: halve. The fake held-out accuracy falls off a cliff once a layer is narrower
    than its floor, so a step is accepted exactly when it keeps the floor: fold1 (48, floor 37) is
    halved 24 -> 12 -> 6 (accepted, 42), next round 21 -> 10 -> 5 (accepted, 37), then down to a
    rejected 1-unit step; fold2 (16, floor 16) has nothing to give: 8 -> 4 -> 2 -> 1, all rejected,
    and it is never tried again; fold3 (no floor) halves each round; fold4 (16, floor 15) gives one
    unit in round 1 and none in round 2, and is left alone in round 3."""
    floors = {"fold1": 37, "fold2": 16, "fold3": 0, "fold4": 15}

    def evaluate(model):
        return 0.9 if all(model.get_layer(name).units >= floor for name, floor in floors.items()) else 0.1

    model, report = filters.accuracy_aware_filter_pruning(
        accordion(), evaluate, budget=0.05, ratio=0.5, order="input-to-output", rounds=3, targets=("units",),
        stop_at_first_rejection=True, halve_rejected=True)  # halving overrides stopping
    steps = list(report[["round", "layer", "filters_before", "removed", "accepted"]].itertuples(index=False,
                                                                                                 name=None))
    assert steps == [
        (1, "fold1", 48, 24, False), (1, "fold1", 48, 12, False), (1, "fold1", 48, 6, True),
        (1, "fold2", 16, 8, False), (1, "fold2", 16, 4, False), (1, "fold2", 16, 2, False), (1, "fold2", 16, 1, False),
        (1, "fold3", 48, 24, True),
        (1, "fold4", 16, 8, False), (1, "fold4", 16, 4, False), (1, "fold4", 16, 2, False), (1, "fold4", 16, 1, True),
        (2, "fold1", 42, 21, False), (2, "fold1", 42, 10, False), (2, "fold1", 42, 5, True),
        (2, "fold3", 24, 12, True),
        (2, "fold4", 15, 8, False), (2, "fold4", 15, 4, False), (2, "fold4", 15, 2, False), (2, "fold4", 15, 1, False),
        (3, "fold1", 37, 18, False), (3, "fold1", 37, 9, False), (3, "fold1", 37, 4, False), (3, "fold1", 37, 2, False),
        (3, "fold1", 37, 1, False),
        (3, "fold3", 12, 6, True),
    ]
    assert (report["filters_after"] == report["filters_before"] - report["removed"]).all()
    assert [model.get_layer(f"fold{i}").units for i in range(1, 5)] == [37, 16, 6, 15]
    assert report.attrs["plan"] == {"fold1": 11, "fold3": 42, "fold4": 1}  # accepted steps only
    assert report.loc[report["accepted"], "params"].is_monotonic_decreasing
    assert report["params"].iloc[-1] == model.count_params()


def test_passes_end_when_one_accepts_nothing():
    """on_rejection: skip over three passes. Each layer keeps its floor: the first pass halves
    fold1, fold3 and fold4 and skips fold2; the second accepts nothing, so there is no third (it
    would start from the same model and try the same four steps)."""
    floors = {"fold1": 24, "fold2": 16, "fold3": 24, "fold4": 8}

    def evaluate(model):
        return 0.9 if all(model.get_layer(name).units >= floor for name, floor in floors.items()) else 0.1

    model, report = filters.accuracy_aware_filter_pruning(
        accordion(), evaluate, budget=0.05, ratio=0.5, order="input-to-output", rounds=3, targets=("units",),
        stop_at_first_rejection=False)
    steps = list(report[["round", "layer", "accepted"]].itertuples(index=False, name=None))
    assert steps == [(1, "fold1", True), (1, "fold2", False), (1, "fold3", True), (1, "fold4", True),
                     (2, "fold1", False), (2, "fold2", False), (2, "fold3", False), (2, "fold4", False)]
    assert [model.get_layer(f"fold{i}").units for i in range(1, 5)] == [24, 16, 24, 8]


def test_the_config_value_halve_reaches_the_search(monkeypatch):
    """pruning.on_rejection in a derive job's settings picks the search's behaviour."""
    from types import SimpleNamespace

    from opscore.compression import units

    seen = {}

    def search(model, evaluate_fn, **options):
        seen.update(options)
        return model, pd.DataFrame()

    monkeypatch.setattr(filters, "accuracy_aware_filter_pruning", search)
    for value, stop, halve in [("halve", False, True), ("skip", False, False), ("stop", True, False)]:
        job = SimpleNamespace(settings={"on_rejection": value, "filter_ratio": 0.5, "rounds": 2},
                              held_out=lambda model: 0.9, fine_tune=None)
        units.make("model", SimpleNamespace(options={"budget": 5}), job)
        assert (seen["stop_at_first_rejection"], seen["halve_rejected"], seen["targets"]) == (stop, halve, ("units",))


def test_filter_pruning_of_a_dense_network_says_what_to_use_instead():
    from opscore.models import scratch as scratch_models

    a2e = scratch_models.build("A2E", n_classes=2, input_shape=(4,), accordion=(8, 4))
    with pytest.raises(PruningError, match="no convolution.*prune-layers or prune-magnitude"):
        filters.accuracy_aware_filter_pruning(a2e, lambda model: 0.5, budget=0.02)


def residual_model():
    L = keras.layers
    inputs = keras.Input((8, 8, 1))
    c0 = L.Conv2D(8, 3, padding="same", name="c0")(inputs)
    x = L.Conv2D(8, 3, padding="same", name="c1")(c0)
    x = L.BatchNormalization(name="c1_bn")(x)
    x = L.ReLU(name="c1_relu")(x)
    x = L.Conv2D(8, 3, padding="same", name="c2")(x)
    x = L.Add(name="block_add")([c0, x])
    x = L.GlobalAveragePooling2D(name="gap")(x)
    outputs = L.Dense(10, activation="softmax", name="head_dense")(x)
    return keras.Model(inputs, outputs)


def test_residual_graphs_prune_inside_blocks_and_explain_the_rest(digits):
    model = residual_model()
    status = filters.prunable_filter_layers(model)
    assert status["c1"] is None
    assert "block_add" in status["c0"] and "block_add" in status["c2"]
    pruned = filters.prune_filters(model, {"c1": 3})
    assert filter_count(pruned, "c1") == 5 and pruned.get_layer("c2").get_weights()[0].shape == (3, 3, 5, 8)
    assert pruned.predict(digits["x_val"][:3], verbose=0).shape == (3, 10)
    with pytest.raises(PruningError, match=r"'c2'.*'block_add' \(Add\).*residual"):
        filters.prune_filters(model, {"c2": 1})
    table = filters.layer_sensitivity(model, lambda m: 0.5, ratio=0.5)
    assert table.set_index("layer")["prunable"].to_dict() == {"c0": False, "c1": True, "c2": False}
    assert table.loc[~table["prunable"], "accuracy"].isna().all()


def test_vgg16_with_head_is_a_prunable_chain():
    from opscore.models.applications import build_classifier

    model = build_classifier("VGG16", n_classes=4, input_size=32, seed=0)
    status = filters.prunable_filter_layers(model)
    assert len(status) == 13 and all(reason is None for reason in status.values())
    pruned = filters.prune_filters(model, {"block1_conv1": 32, "block3_conv2": 200, "block5_conv3": 256})
    assert filter_count(pruned, "block5_conv3") == 256
    assert pruned.get_layer("head_dense").get_weights()[0].shape == (256, 4)  # after global pooling
    assert pruned.count_params() < model.count_params() - 1_500_000
    assert pruned.predict(np.zeros((2, 32, 32, 3), "float32"), verbose=0).shape == (2, 4)


def synthetic_evaluator(costs, base=0.9):
    """'Accuracy' falls by costs[layer] per removed filter: known sensitivities, no training."""
    original = {"c1": 16, "c2": 16, "c3": 32}

    def evaluate(model):
        return base - sum(cost * (original[name] - filter_count(model, name)) for name, cost in costs.items())

    return evaluate


COSTS = {"c1": 0.01, "c2": 0.0005, "c3": 0.001}  # ratio 0.5 → drops 0.08, 0.004, 0.016


def test_sensitivity_table():
    table = filters.layer_sensitivity(small_cnn(), synthetic_evaluator(COSTS), ratio=0.5)
    assert table["layer"].tolist() == ["c1", "c2", "c3"]
    assert table["filters"].tolist() == [16, 16, 32] and table["pruned"].tolist() == [8, 8, 16]
    np.testing.assert_allclose(table["drop"], [0.08, 0.004, 0.016])
    assert table.attrs["baseline_accuracy"] == pytest.approx(0.9)


def test_sensitivity_order_is_what_prunes():
    model = small_cnn()
    evaluate = synthetic_evaluator(COSTS)
    pruned, report = filters.accuracy_aware_filter_pruning(model, evaluate, budget=0.03, ratio=0.5)
    assert report.attrs["order"] == ["c2", "c3", "c1"]  # least sensitive first
    assert report["layer"].tolist() == ["c2", "c3", "c1"]
    assert report["accepted"].tolist() == [True, True, False]
    assert report.attrs["plan"] == {"c2": 8, "c3": 16}
    assert (filter_count(pruned, "c1"), filter_count(pruned, "c2"), filter_count(pruned, "c3")) == (16, 8, 16)
    assert evaluate(model) - evaluate(pruned) <= 0.03

    naive, naive_report = filters.accuracy_aware_filter_pruning(model, evaluate, budget=0.03, ratio=0.5,
                                                                order="input-to-output")
    assert naive_report["layer"].tolist() == ["c1"]  # the sensitive c1 first: over budget, search ends
    assert naive_report.attrs["plan"] == {} and naive.count_params() == model.count_params()
    assert pruned.count_params() < naive.count_params()


def test_budget_stops_pruning():
    evaluate = synthetic_evaluator(COSTS)
    _, tight = filters.accuracy_aware_filter_pruning(small_cnn(), evaluate, budget=0.01, ratio=0.5)
    assert tight["layer"].tolist() == ["c2", "c3"] and tight["accepted"].tolist() == [True, False]
    assert tight.attrs["plan"] == {"c2": 8}
    _, loose = filters.accuracy_aware_filter_pruning(small_cnn(), evaluate, budget=0.5, ratio=0.5, rounds=2)
    assert loose["accepted"].all() and len(loose) == 6  # every layer, twice
    assert loose.attrs["plan"] == {"c2": 12, "c3": 24, "c1": 12}


def test_real_accuracy_search_respects_budget_and_quantizes(trained_cnn, evaluate):
    baseline = evaluate(trained_cnn)
    assert baseline > 0.8
    calls = []

    def fine_tune(model):
        calls.append(model.count_params())
        return model

    pruned, report = filters.accuracy_aware_filter_pruning(trained_cnn, evaluate, budget=0.03, ratio=0.25,
                                                           quantize="int8", fine_tune_fn=fine_tune)
    assert report["action"].iloc[0] == "quantize-dense-int8"
    assert len(calls) == (report["action"] == "prune-filters").sum()
    assert baseline - evaluate(pruned) <= 0.03 + 1e-9
    assert isinstance(pruned.get_layer("fc1"), quantized_layer.QuantizedDense)
    rates = evaluation.compression_rate(trained_cnn, pruned)
    assert rates["bytes_ratio"] > rates["params_ratio"] >= 1.0  # quantization shrinks bytes beyond params


def test_filter_pruning_after_quantization_slices_int8_rows(trained_cnn, digits):
    quantized = weight_quantization.quantize_dense(trained_cnn, "int8")
    pruned = filters.prune_filters(quantized, {"c3": 8})
    assert pruned.get_layer("fc1").get_weights()[0].shape == (4 * 4 * 24, 32)
    assert pruned.get_layer("fc1").get_weights()[0].dtype == np.int8
    assert pruned.predict(digits["x_val"][:2], verbose=0).shape == (2, 10)


def test_sequential_models_are_accepted(digits):
    model = keras.Sequential([keras.layers.Conv2D(6, 3, input_shape=(8, 8, 1), name="a"),
                              keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax", name="head")])
    pruned = filters.prune_filters(model, {"a": 2})
    assert filter_count(pruned, "a") == 4 and pruned.predict(digits["x_val"][:2], verbose=0).shape == (2, 10)


def test_filter_search_stores_the_pruned_convolutions_at_low_bit(trained_cnn, evaluate):
    pruned, report = filters.accuracy_aware_filter_pruning(trained_cnn, evaluate, budget=0.05, ratio=0.25,
                                                           quantize="int8", quantize_conv="int8")
    assert report["action"].iloc[0] == "quantize-dense-int8" and report["action"].iloc[-1] == "quantize-conv-int8"
    assert report["accepted"].iloc[-1]  # int8 filters cost far less than the budget
    assert isinstance(pruned.get_layer("c3"), quantized_layer.QuantizedConv2D)
    assert pruned.get_layer("c3").filters == 32 - report.attrs["plan"].get("c3", 0)
    rates = evaluation.compression_rate(trained_cnn, pruned)
    assert rates["bits_ratio"] > 3.5 * rates["params_ratio"]  # 32 -> 8 bits on nearly every parameter


def test_pruning_quantized_convolutions_says_to_prune_before_quantizing(trained_cnn, evaluate):
    quantized = weight_quantization.quantize_convolutions(trained_cnn, "int8")
    with pytest.raises(graph.PruningError, match=r"c1, c2, c3\) are stored quantized.*prune the filters first"):
        filters.accuracy_aware_filter_pruning(quantized, evaluate, budget=0.05, ratio=0.25)


def test_filter_pruning_variant_fine_tunes_each_step_for_real(trained_cnn, digits, evaluate):
    """The prune-filters kind as the derive rule runs it, with a real fine-tuner (one epoch of Adam on the
    training images after each step, not a stand-in that returns the model): every candidate is
    fine-tuned before it is judged, the fine-tuning moves the weights the pruning kept, and the result
    is smaller within the budget."""
    from opscore.compression.evaluation import fine_tuner
    from opscore.config import DEFAULTS
    from opscore.kinds.registry import DerivationJob, parse_variant

    tune = fine_tuner((digits["x_train"][:400], digits["y_train"][:400]), epochs=1, learning_rate=1e-3)
    tuned = []

    def counting_fine_tune(model):
        tuned.append(model.count_params())
        return tune(model)

    original = keras.models.clone_model(trained_cnn)
    original.set_weights(trained_cnn.get_weights())
    before = evaluate(original)
    job = DerivationJob((digits["x_train"], digits["y_train"]), evaluate, counting_fine_tune, 1, 1e-3, 0,
                        DEFAULTS["pruning"])
    variant = parse_variant("prune-filters-b5")
    pruned, info, steps = variant.spec.implementation().make(original, variant, job)
    assert len(tuned) == len(steps) > 0  # one fine-tuning per judged step
    assert steps["accepted"].any() and pruned.count_params() < trained_cnn.count_params()
    assert (steps.loc[steps["accepted"], "drop"] <= 0.05).all()
    assert evaluate(pruned) >= before - 0.05
    # the head keeps its shape, and its weights are the fine-tuned ones, not the trained model's
    head, trained_head = (m.get_layer("head_dense").get_weights()[1] for m in (pruned, trained_cnn))
    assert head.shape == trained_head.shape and not np.allclose(head, trained_head)
