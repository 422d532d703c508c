"""Settings whose validity is known at planning are checked then, naming the key: unsafe dataset and
model names, keys that moved, cluster K, unfreeze depths against the model's layers with weights, a table's header,
label column and classes."""
import re

import numpy as np
import pandas as pd
import pytest
from conftest import check_config, test_config
from conftest import run_snakemake as snakemake

from opscore.data import DataError
from opscore.data.splits import split_dataset

TINY = test_config("tiny")
#: the tiny config with a keras.applications model: clustering and deep unfreeze depths need one
MOBILENET = {**TINY, "models": {"MobileNetV2": {"unfreeze": ["all"]}}}


def a2e_config(**changes) -> dict:
    return {**TINY, "models": {"A2E": {"unfreeze": ["all"]}}, **changes}


def write_table(path, labels) -> str:
    rng = np.random.default_rng(0)
    pd.DataFrame({"x1": rng.normal(size=len(labels)), "x2": rng.normal(size=len(labels)),
                  "Class": labels}).to_csv(path, index=False)
    return str(path)


def table_config(path, **options) -> dict:
    return a2e_config(datasets={"t": {"path": path, "label": "Class", "splits": ["70-30"], **options}})


@pytest.mark.parametrize("name", ["..", "a/b", "/tmp/x", "../x", ".hidden", "a b"])
def test_unsafe_dataset_names_are_refused_naming_the_key(name):
    config = {**TINY, "datasets": {name: {"splits": ["70-30"], "path": "x.csv", "label": "y"}}}
    with pytest.raises(ValueError, match=rf"config datasets: the name '{re.escape(name)}' is not allowed"):
        check_config(config)


def test_safe_names_pass():
    config = {**TINY, "datasets": {"digits": {"splits": ["70-30"]}}}
    check_config(config)  # letters, digits, '-', '_', '.' not first: allowed


@pytest.mark.parametrize("name", ["..", "a/b", "/tmp/x"])
def test_snakemake_dry_run_stops_on_an_unsafe_dataset_name(tmp_path, name):
    config = {**TINY, "datasets": {name: {"splits": ["70-30"], "path": str(tmp_path / "t.csv"), "label": "y"}}}
    result = snakemake(tmp_path, config, "-n")
    assert result.returncode != 0
    assert f"config datasets: the name '{name}' is not allowed" in result.stdout + result.stderr
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize("config, message", [
    ({**MOBILENET, "variants": ["original", "cluster-k1"]}, "config variants.cluster-k1: tfmot clustering needs k >= 2"),
    (a2e_config(models={"A2E": {"unfreeze": [99]}}), "config models.A2E.unfreeze: unfreeze depth 99 out of range"),
])
def test_snakemake_dry_run_stops_on_settings_known_wrong(tmp_path, config, message):
    result = snakemake(tmp_path, config, "-n")
    assert result.returncode != 0 and message in result.stdout + result.stderr


@pytest.mark.parametrize("old, new, value", [("fine_tune_epochs", "epochs", 1),
                                             ("fine_tune_learning_rate", "learning_rate", 0.01),
                                             ("held_out", "held_out", 0.2)])
def test_fine_tuning_keys_moved_out_of_pruning_are_errors_naming_the_new_key(old, new, value):
    """Every derived kind that fine-tunes reads fine_tuning:, so the keys pruning: had say where they went."""
    with pytest.raises(ValueError, match=rf"config pruning.{old} was renamed: use fine_tuning.{new} "):
        check_config({**TINY, "pruning": {old: value}})
    check_config({**TINY, "fine_tuning": {new: value}})


def test_cluster_k1_is_refused_before_training():
    with pytest.raises(ValueError, match=r"config variants.cluster-k1: tfmot clustering needs k >= 2"):
        check_config({**MOBILENET, "variants": ["original", "cluster-k1"], "clustering": {"order": "after-training"}})
    check_config({**MOBILENET, "variants": ["original", "cluster-k2"], "clustering": {"order": "after-training"}})


def test_unfreeze_beyond_the_layers_with_weights_is_refused():
    with pytest.raises(ValueError, match=r"config models.A2E.unfreeze: unfreeze depth 99 out of range: A2E has 5 "
                                         r"layers with weights; use 1..5 or all"):
        check_config(a2e_config(models={"A2E": {"unfreeze": [99]}}))
    check_config(a2e_config(models={"A2E": {"unfreeze": [5]}}))
    with pytest.raises(ValueError, match=r"config variants.original.unfreeze: unfreeze depth 500 .* MobileNetV2 has"):
        check_config({**MOBILENET, "variants": {"original": {"unfreeze": [500]}}})


def test_a2e_on_a_table_counts_its_normalization(tmp_path):
    path = write_table(tmp_path / "t.csv", [0, 1] * 20)
    check_config(table_config(path) | {"models": {"A2E": {"unfreeze": [6]}}})
    with pytest.raises(ValueError, match=r"depth 7 out of range: A2E has 6 layers with weights on a table"):
        check_config(table_config(path) | {"models": {"A2E": {"unfreeze": [7]}}})


def test_layer_counts_are_the_built_models():
    """The static counts are what the classifiers have (a pretrained one and both scratch models)."""
    from opscore.models.applications import build_classifier, weighted_layer_count, weighted_layers

    assert len(weighted_layers(build_classifier("MobileNetV2", 10, 32))) == weighted_layer_count("MobileNetV2")
    assert len(weighted_layers(build_classifier("AlexNet", 10, 16))) == weighted_layer_count("AlexNet")
    assert len(weighted_layers(build_classifier("A2E", 10, 32, sample_shape=(8, 8, 1)))) == weighted_layer_count("A2E")
    table = build_classifier("A2E", 2, 32, sample_shape=(30,))
    assert len(weighted_layers(table)) == weighted_layer_count("A2E", table=True)


@pytest.mark.parametrize("labels, options, message", [
    ([0, 1] * 20, {"label": "Klass"}, r"has no label column 'Klass'; its columns are: x1, x2, Class"),
    ([0, 1] * 20, {"features": ["x1", "x9"]}, r"has no feature column\(s\) x9"),
    ([1] * 40, {}, r"the label column 'Class' has a single class \('1'\)"),
    ([0] * 39 + [1], {}, r"cannot make a stratified 70-30 split of 't' .*least populated class.*enough rows"),
    ([0, 1, None] * 10, {}, r"the label column 'Class' is empty on line\(s\) \[4, 7, 10, 13, 16\]"),
])
def test_a_tables_header_and_labels_are_checked_at_planning(tmp_path, labels, options, message):
    path = write_table(tmp_path / "t.csv", labels)
    with pytest.raises(ValueError, match=rf"config datasets.t: .*t.csv.*{message}|config datasets.t: {message}"):
        check_config(table_config(path, **options))


def test_a_stratified_split_of_a_table_speaks_of_rows():
    table = {"x_train": np.zeros((10, 3), np.float32), "y_train": np.array([0] * 9 + [1]),
             "x_test": np.zeros((0, 3), np.float32), "y_test": np.zeros(0, np.int64), "name": "t"}
    with pytest.raises(DataError, match="every class needs enough rows for both sides"):
        split_dataset(table, "70-30", 0)


def test_every_application_has_a_layer_count():
    from opscore.models.applications import APPLICATION_WEIGHTED_LAYERS, APPLICATIONS

    assert sorted(APPLICATION_WEIGHTED_LAYERS) == sorted(APPLICATIONS)
