"""Pruning: magnitude (tfmot), accuracy-aware structured filter pruning, quantized dense layers,
out-of-order layer removal. Small models on scikit-learn's 8×8 digits keep this file fast."""
import numpy as np
import pytest

from opscore.compression import (
    evaluation,
    filters,
    layer_removal,
    magnitude,
    weight_quantization,
)
from opscore.models import graph, quantized_layer
from opscore.models.graph import PruningError
from opscore.tf import keras

# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def digits(digits_dataset):
    ds = digits_dataset
    x = ds["x_train"].astype("float32") / 255.0
    y = ds["y_train"]
    return {"x_train": x[:1200], "y_train": y[:1200], "x_val": x[1200:], "y_val": y[1200:]}


@pytest.fixture(scope="module")
def evaluate(digits):
    return evaluation.accuracy_evaluator(digits["x_val"], digits["y_val"])


def small_cnn(seed=0):
    """A plain chain: conv-bn-relu ×2, pool, conv-relu, flatten, dense, softmax head."""
    init = lambda k: keras.initializers.GlorotUniform(seed=seed * 10 + k)  # noqa: E731
    L = keras.layers
    inputs = keras.Input((8, 8, 1), name="input")
    x = L.Conv2D(16, 3, padding="same", kernel_initializer=init(1), name="c1")(inputs)
    x = L.BatchNormalization(name="c1_bn")(x)
    x = L.ReLU(name="c1_relu")(x)
    x = L.Conv2D(16, 3, padding="same", kernel_initializer=init(2), name="c2")(x)
    x = L.BatchNormalization(name="c2_bn")(x)
    x = L.ReLU(name="c2_relu")(x)
    x = L.MaxPooling2D(2, name="pool")(x)
    x = L.Conv2D(32, 3, padding="same", activation="relu", kernel_initializer=init(3), name="c3")(x)
    x = L.Flatten(name="flatten")(x)
    x = L.Dense(32, activation="relu", kernel_initializer=init(4), name="fc1")(x)
    outputs = L.Dense(10, activation="softmax", kernel_initializer=init(5), name="head_dense")(x)
    return keras.Model(inputs, outputs, name="small_cnn")


@pytest.fixture(scope="module")
def trained_cnn(digits):
    keras.utils.set_random_seed(0)
    model = small_cnn()
    model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy")
    model.fit(digits["x_train"], digits["y_train"], epochs=4, batch_size=64, verbose=0)
    return model


def test_evaluator_takes_arrays_or_a_batched_pipeline(digits, trained_cnn, evaluate):
    from opscore.tf import tf

    batches = tf.data.Dataset.from_tensor_slices((digits["x_val"], digits["y_val"])).batch(50)
    accuracy = evaluation.accuracy_evaluator(batches, digits["y_val"])(trained_cnn)
    assert accuracy == pytest.approx(evaluate(trained_cnn)) and accuracy > 0.5


def filter_count(model, name):
    return model.get_layer(name).filters


# ----------------------------------------------------------------------------- structured filter pruning


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


# ----------------------------------------------------------------------------- accuracy-aware search


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


# ----------------------------------------------------------------------------- quantized dense layers


@pytest.mark.parametrize("mode,dtype,shrink", [("int8", np.int8, 1.5), ("float16", np.float16, 1.25)])
def test_quantized_dense_shrinks_file_keeps_predictions(trained_cnn, digits, mode, dtype, shrink):
    quantized = weight_quantization.quantize_dense(trained_cnn, mode)
    layer = quantized.get_layer("fc1")
    assert isinstance(layer, quantized_layer.QuantizedDense) and layer.get_weights()[0].dtype == dtype
    assert not quantized.trainable_weights or all("fc1" not in w.name for w in quantized.trainable_weights)
    rates = evaluation.compression_rate(trained_cnn, quantized)
    assert rates["params_ratio"] == pytest.approx(1.0, abs=0.01)
    assert rates["bytes_ratio"] > shrink  # fc1+head: 16.7k of the 24k weights (+ ~10 kB HDF5 overhead)
    before = trained_cnn.predict(digits["x_val"], verbose=0)
    after = quantized.predict(digits["x_val"], verbose=0)
    assert np.mean(before.argmax(1) == after.argmax(1)) > 0.98
    np.testing.assert_allclose(after, before, atol=0.05)


def test_filter_pruning_after_quantization_slices_int8_rows(trained_cnn, digits):
    quantized = weight_quantization.quantize_dense(trained_cnn, "int8")
    pruned = filters.prune_filters(quantized, {"c3": 8})
    assert pruned.get_layer("fc1").get_weights()[0].shape == (4 * 4 * 24, 32)
    assert pruned.get_layer("fc1").get_weights()[0].dtype == np.int8
    assert pruned.predict(digits["x_val"][:2], verbose=0).shape == (2, 10)


# ----------------------------------------------------------------------------- magnitude pruning


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


# ----------------------------------------------------------------------------- out-of-order layer removal


def accordion(seed=0):
    L = keras.layers
    inputs = keras.Input((8, 8, 1))
    x = L.Flatten(name="flatten")(inputs)
    for i, units in enumerate((48, 16, 48, 16), start=1):
        x = L.Dense(units, activation="relu", name=f"fold{i}",
                    kernel_initializer=keras.initializers.GlorotUniform(seed=seed + i))(x)
        x = L.Dropout(0.1, name=f"fold{i}_dropout")(x)
    outputs = L.Dense(10, activation="softmax", name="head_dense")(x)
    return keras.Model(inputs, outputs)


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


def test_sequential_models_are_accepted(digits):
    model = keras.Sequential([keras.layers.Conv2D(6, 3, input_shape=(8, 8, 1), name="a"),
                              keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax", name="head")])
    pruned = filters.prune_filters(model, {"a": 2})
    assert filter_count(pruned, "a") == 4 and pruned.predict(digits["x_val"][:2], verbose=0).shape == (2, 10)


# ----------------------------------------------------------------------------- dense units (prune-units)


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


# ----------------------------------------------------------------------------- low-bit dense layers


@pytest.mark.parametrize("storage, bits", [("int8", 8), ("int4", 4), ("int2", 2)])
def test_packed_low_bit_kernels_round_trip_within_their_step(storage, bits, trained_cnn, digits, tmp_path):
    kernel = trained_cnn.get_layer("fc1").get_weights()[0]
    stored = quantized_layer.QuantizedDense.quantize(kernel, storage)
    assert stored[0].nbytes == -(-kernel.size * bits // 8)  # packed: bits per value, not bytes
    quantized = weight_quantization.quantize_dense(trained_cnn, storage)
    layer = quantized.get_layer("fc1")
    restored = layer.dequantized_kernel().numpy()
    scale = layer.get_weights()[1]
    assert np.all(np.abs(restored - kernel) <= scale / 2 + 1e-6)  # within half a quantization step
    levels = quantized_layer.QuantizedDense.LEVELS[storage]
    assert len(np.unique(np.round(restored / scale))) <= 2 * levels + 1
    graph.save_model(quantized, tmp_path / "q.h5")
    back = graph.load_model(tmp_path / "q.h5")
    np.testing.assert_array_equal(back.get_layer("fc1").dequantized_kernel().numpy(), restored)
    np.testing.assert_allclose(back.predict(digits["x_val"][:8], verbose=0),
                               quantized.predict(digits["x_val"][:8], verbose=0), rtol=1e-6)
    rates = evaluation.compression_rate(trained_cnn, quantized)
    assert rates["params_ratio"] == pytest.approx(1.0, abs=1e-6)  # same parameters, fewer bits
    assert rates["bits_ratio"] > 1


def test_lower_bits_make_smaller_files(trained_cnn, tmp_path):
    sizes = {}
    for storage in ("int8", "int4", "int2"):
        graph.save_model(weight_quantization.quantize_dense(trained_cnn, storage), tmp_path / f"{storage}.h5")
        sizes[storage] = (tmp_path / f"{storage}.h5").stat().st_size
    assert sizes["int2"] < sizes["int4"] < sizes["int8"]


def test_pruning_a_packed_dense_layer_keeps_its_storage(trained_cnn, digits):
    quantized = weight_quantization.quantize_dense(trained_cnn, "int4")
    pruned = filters.prune_filters(quantized, {"fc1": 16})
    layer = pruned.get_layer("fc1")
    assert layer.storage == "int4" and layer.units == 16
    assert pruned.predict(digits["x_val"][:2], verbose=0).shape == (2, 10)


# ----------------------------------------------------------------------------- low-bit convolutions


@pytest.mark.parametrize("storage", ["int8", "int4"])
def test_quantized_convolutions_round_trip_reload_and_predict(storage, trained_cnn, digits, evaluate, tmp_path):
    quantized = weight_quantization.quantize_convolutions(trained_cnn, storage)
    for name in ("c1", "c2", "c3"):
        layer = quantized.get_layer(name)
        assert isinstance(layer, quantized_layer.QuantizedConv2D) and layer.storage == storage
        kernel = trained_cnn.get_layer(name).get_weights()[0]
        scale = layer.get_weights()[1]
        assert scale.shape == (kernel.shape[-1],)  # one scale per filter
        assert np.all(np.abs(layer.dequantized_kernel().numpy() - kernel) <= scale / 2 + 1e-6)
    graph.save_model(quantized, tmp_path / "q.h5")
    back = graph.load_model(tmp_path / "q.h5")
    np.testing.assert_allclose(back.predict(digits["x_val"][:8], verbose=0),
                               quantized.predict(digits["x_val"][:8], verbose=0), rtol=1e-6)
    assert evaluate(trained_cnn) - evaluate(quantized) < (0.02 if storage == "int8" else 0.1)
    rates = evaluation.compression_rate(trained_cnn, quantized)
    assert rates["params_ratio"] == pytest.approx(1.0, abs=1e-6) and rates["bits_ratio"] > 1.2


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
