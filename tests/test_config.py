"""opscore.config: the defaults complete() fills in, the experiment grid the rules are planned from,
and the checks across keys: each wrong config is a ValueError naming the key and the fix. Fast (no
Snakemake, no TensorFlow): configs made from tests/configs/tiny.yaml, checked in the test process
as the Snakefile checks them (conftest.check_config: the schema, then complete and check)."""
import copy

import pandas as pd
import pytest
from conftest import check_config, test_config

from opscore import config as settings

#: what the tiny config with a keras.applications model (:func:`tiny`) becomes: its own values, and
#: every default of a key it leaves out, spelled out
TINY_COMPLETED = {
    "weights": "none",
    "input_size": 32,
    "seeds": [0],
    "training": {"epochs": 2, "batch_size": 64, "learning_rate": 0.001, "batchnorm_momentum": None},
    "measure": {"repeats": 2, "unstable_cv": 0.10,
                "loadgen": {"min_queries": 20, "min_seconds": 0.05, "offline_seconds": 0.05, "batch": 32},
                "max_wait_share": 0.05, "max_workers": 8, "processes": 1, "max_inputs": 1024, "seed": 0},
    "score": {"time_basis": "inference", "time_statistic": "median", "metric": "accuracy"},
    "float16": {"training": "auto"},
    "select": {},
    "clustering": {"init": "linear", "method": "auto", "iterations": 0, "order": "before-training"},
    "fine_tuning": {"epochs": 2, "learning_rate": None, "held_out": 0.1},
    "pruning": {"filter_ratio": 0.5, "schedule": "polynomial", "on_rejection": "skip", "rounds": 1},
    "download_dir": "resources/downloads",
    "weights_dir": "resources/weights",
    "datasets": {"digits": {"splits": ["70-30"]}},
    "models": {"MobileNetV2": {"unfreeze": ["all"]}},
    "variants": {"original": {"models": ["MobileNetV2"], "unfreeze": None}},
}


def tiny(**changes) -> dict:
    """A fresh tiny config with MobileNetV2 (a keras.applications model: the checks of input sizes,
    weights and filters need one) and some top-level keys replaced."""
    return {**test_config("tiny"), "models": {"MobileNetV2": {"unfreeze": ["all"]}}, **changes}


# --- complete: the defaults ---------------------------------------------------------------------

def test_complete_fills_in_every_default_and_keeps_what_the_config_gives():
    assert settings.complete(tiny()) == TINY_COMPLETED


def test_the_smallest_config_gets_every_default():
    config = {"datasets": {"digits": {"splits": ["70-30"]}}, "models": {"MobileNetV2": None}, "variants": ["original"]}
    completed = settings.complete(config)
    assert completed == {**TINY_COMPLETED, "weights": "imagenet",
                         "training": {"epochs": 10, "batch_size": 128, "learning_rate": 0.001,
                                      "batchnorm_momentum": None},
                         "measure": {**TINY_COMPLETED["measure"], "repeats": 10, "processes": 3,
                                     "loadgen": {"min_queries": 100, "min_seconds": 0.25, "offline_seconds": 0.25,
                                                 "batch": 32}},
                         "models": {"MobileNetV2": {"unfreeze": [1]}}}


def test_a_nested_setting_given_keeps_its_sections_other_defaults():
    completed = settings.complete(tiny(pruning={"rounds": 3}, measure={"loadgen": {"batch": 8}}))
    assert completed["pruning"] == {**TINY_COMPLETED["pruning"], "rounds": 3}
    assert completed["measure"]["loadgen"] == {"min_queries": 100, "min_seconds": 0.25, "offline_seconds": 0.25,
                                               "batch": 8}
    assert completed["measure"]["repeats"] == 10


def test_completed_configs_share_no_defaults():
    """Changing one completed config (the Snakefile completes the config in place) changes neither
    the defaults nor the next config completed."""
    before = copy.deepcopy(settings.DEFAULTS)
    first = settings.complete(tiny())
    first["clustering"]["order"] = "after-training"
    first["select"]["max_memory_mb"] = 100
    first["pruning"]["rounds"] = 9
    assert settings.DEFAULTS == before
    assert settings.complete(tiny()) == TINY_COMPLETED


@pytest.mark.parametrize("weights, models, unfreeze", [
    ("imagenet", {"MobileNetV2": None}, {"MobileNetV2": [1]}),  # a pretrained base: the dense head
    ("none", {"MobileNetV2": None}, {"MobileNetV2": ["all"]}),  # no pretrained weights: every layer
    ("imagenet", {"AlexNet": None, "A2E": {}}, {"AlexNet": ["all"], "A2E": ["all"]}),  # trained from scratch
    ("imagenet", {"MobileNetV2": {"unfreeze": [3, "all"]}}, {"MobileNetV2": [3, "all"]}),  # given: kept
    ("none", {"AlexNet": {"unfreeze": [2]}}, {"AlexNet": [2]}),
])
def test_each_models_default_unfreeze_depths(weights, models, unfreeze):
    completed = settings.complete(tiny(weights=weights, models=models))
    assert completed["models"] == {name: {"unfreeze": depths} for name, depths in unfreeze.items()}


def test_a_models_other_options_are_kept():
    completed = settings.complete(tiny(models={"MobileNetV2": {"learning_rate": 0.01}}))
    assert completed["models"] == {"MobileNetV2": {"unfreeze": ["all"], "learning_rate": 0.01}}


@pytest.mark.parametrize("variants", [["original", "float16"], {"original": None, "float16": {}}])
def test_variants_run_on_every_model_by_default(variants):
    completed = settings.complete(tiny(models={"MobileNetV2": None, "AlexNet": None}, variants=variants))
    assert completed["variants"] == {"original": {"models": ["MobileNetV2", "AlexNet"], "unfreeze": None},
                                     "float16": {"models": ["MobileNetV2", "AlexNet"], "unfreeze": None}}


def test_a_variant_keeps_its_models_and_unfreeze_depths():
    completed = settings.complete(tiny(models={"MobileNetV2": None, "AlexNet": None},
                                       variants={"cluster-k4": {"models": ["MobileNetV2"], "unfreeze": [2]}}))
    assert completed["variants"] == {"cluster-k4": {"models": ["MobileNetV2"], "unfreeze": [2]}}


# --- the grid ------------------------------------------------------------------------------------

def grid_config() -> dict:
    """Two datasets (the first restricted to AlexNet, with its own metric), two models, two seeds,
    a variant restricted to one model with its own depths."""
    return settings.complete(tiny(
        datasets={"digits": {"splits": ["70-30", "80-20"], "models": ["AlexNet"], "metric": "f1_macro"},
                  "mnist": {"splits": ["official"]}},
        models={"MobileNetV2": {"unfreeze": [1, 2]}, "AlexNet": None},
        variants={"original": None, "cluster-k4": {"models": ["MobileNetV2"], "unfreeze": ["all"]}},
        seeds=[0, 1]))


def run(dataset, split, seed, model, variant, unfreeze) -> dict:
    return dict(dataset=dataset, split=split, seed=seed, model=model, variant=variant, unfreeze=unfreeze)


def test_the_grid_of_one_dataset_split_and_seed():
    assert settings.experiments(grid_config(), "mnist", "official", "1") == [  # a seed matches as text too
        run("mnist", "official", 1, "MobileNetV2", "original", "1"),
        run("mnist", "official", 1, "MobileNetV2", "original", "2"),
        run("mnist", "official", 1, "MobileNetV2", "cluster-k4", "all"),  # the variant's depths, not the model's
        run("mnist", "official", 1, "AlexNet", "original", "all"),  # cluster-k4 is not for AlexNet
    ]


def test_a_datasets_models_restrict_its_grid():
    assert settings.experiments(grid_config(), "digits", seed=0) == [
        run("digits", "70-30", 0, "AlexNet", "original", "all"),
        run("digits", "80-20", 0, "AlexNet", "original", "all"),
    ]


def test_the_whole_grid():
    grid = settings.experiments(grid_config())
    assert len(grid) == 2 * 2 * 1 + 2 * 4  # digits: splits x seeds x AlexNet original; mnist: seeds x 4
    assert grid[:2] == [run("digits", "70-30", 0, "AlexNet", "original", "all"),
                        run("digits", "70-30", 1, "AlexNet", "original", "all")]
    assert grid[4] == run("mnist", "official", 0, "MobileNetV2", "original", "1")
    assert settings.experiments(grid_config(), seed=2) == []


def test_dataset_runs_models_and_metric():
    config = grid_config()
    assert settings.dataset_runs(config, "digits") == [
        dict(dataset="digits", split="70-30", seed=0), dict(dataset="digits", split="70-30", seed=1),
        dict(dataset="digits", split="80-20", seed=0), dict(dataset="digits", split="80-20", seed=1)]
    assert settings.dataset_runs(config, "mnist") == [dict(dataset="mnist", split="official", seed=0),
                                                      dict(dataset="mnist", split="official", seed=1)]
    assert settings.dataset_models(config, "digits") == ["AlexNet"]
    assert settings.dataset_models(config, "mnist") == ["MobileNetV2", "AlexNet"]
    assert settings.dataset_metric(config, "digits") == "f1_macro"
    assert settings.dataset_metric(config, "mnist") == "accuracy"
    config["score"]["metric"] = "balanced_accuracy"
    assert settings.dataset_metric(config, "mnist") == "balanced_accuracy"


# --- check: what is refused, naming the key and the fix -------------------------------------------

TABLE = {"path": "tables/t.csv", "label": "Class", "splits": ["70-30"]}  # not there yet: only its options checked

BAD_CONFIGS = [
    (dict(datasets={"cifar11": {"splits": ["70-30"]}}),
     "config datasets: unknown dataset 'cifar11'. Known: digits, cifar10, cifar100, mnist; or give `path:`, an image "
     "folder (train/CLASS/*, test/CLASS/*) or a CSV table (with `label:`)."),
    (dict(datasets={"digits": {"splits": ["70-30", "official"]}}),
     'config datasets.digits: digits has no official split; use a ratio like "70-30".'),
    (dict(models={"A2E": None}, datasets={"t": {**TABLE, "splits": ["official"]}}),
     'config datasets.t: tables/t.csv has no official split; use a ratio like "70-30".'),
    (dict(datasets={"digits": {"splits": ["70-30"], "models": ["MobileNetV2", "ResNet50"]}}),
     "config datasets.digits.models: ['ResNet50'] not in config models"),
    (dict(datasets={"digits": {"splits": ["70-30"], "label": "Class"}}),
     "config datasets.digits: `label`/`features` are for CSV tables, and 'digits' is not one (.csv or .csv.gz)."),
    (dict(datasets={"flowers": {"splits": ["70-30"], "path": "data/flowers", "features": ["x1"]}}),
     "config datasets.flowers: `label`/`features` are for CSV tables, and 'data/flowers' is not one "
     "(.csv or .csv.gz)."),
    (dict(models={"A2E": None}, datasets={"t": {"path": "tables/t.csv.gz", "splits": ["70-30"]}}),
     "config datasets.t: the CSV table tables/t.csv.gz needs `label:`, the name of its label column "
     "(e.g. label: Class)."),
    (dict(models={"A2E": None, "AlexNet": None, "MobileNetV2": None}, datasets={"t": TABLE}),
     "config datasets.t: a CSV table feeds feature vectors, which ['AlexNet', 'MobileNetV2'] cannot take; list the "
     "models for it with `models: [A2E]`."),
    (dict(datasets={"digits": {"splits": ["70-20"]}}),
     "config datasets.digits.splits: invalid split '70-20': both parts must be positive and sum to 100; use "
     "'official' or TRAIN-TEST percentages summing to 100, such as '70-30' or '80-20'"),
    (dict(models={"A2E": None}, datasets={"../t": TABLE}),  # a path part under results/
     "config datasets: the name '../t' is not allowed; names are path parts under results/"),
    (dict(models={"my/model": None}),
     "config models: the name 'my/model' is not allowed; names are path parts under results/: letters, digits, "
     "'-', '_' and '.', not starting with a dot (e.g. my-table_v2)"),
    (dict(models={"MobileNetV2": None, "ResNet5O": None}),
     "config models: unknown model 'ResNet5O'. Known: ConvNeXtBase, ConvNeXtLarge, ConvNeXtSmall, "),
    (dict(models={"ResNet5O": None}), ", VGG16, VGG19, Xception; trained from scratch: AlexNet, A2E"),
    (dict(models={"MobileNetV2": None, "AlexNet": None, "ResNet50": None}, input_size=16),
     "config input_size: 16 is below the 32 pixels keras.applications models need (MobileNetV2, ResNet50); the "
     "models trained from scratch take 8 and up"),
    (dict(variants={"original": None, "float16": {"models": ["MobileNetV2", "ResNet50", "AlexNet"]}}),
     "config variants.float16.models: ['AlexNet', 'ResNet50'] not in config models"),
    (dict(models={"MobileNetV2": None, "AlexNet": None}, variants=["original", "cluster-k2"]),
     "config variants.cluster-k2: ['AlexNet'] have no pretrained base to cluster before training; restrict the "
     "variant with `models:` or set clustering.order: after-training"),
    (dict(models={"MobileNetV2": None, "A2E": None}, variants=["prune-filters-b2"]),
     "config variants.prune-filters-b2: ['A2E'] have no convolution filters to prune; restrict the variant with "
     "`models:` (prune-layers and prune-magnitude work on them)"),
    (dict(variants=["original", "transfer-ResNet5O-top2"]),
     "config variants: donor 'ResNet5O' of transfer-ResNet5O-top2 is not a known model"),
    (dict(variants=["cluster-k1"]),
     "config variants.cluster-k1: tfmot clustering needs k >= 2 (one shared value per kernel would erase it); use "
     "cluster-k2 or more"),
    (dict(models={"AlexNet": {"unfreeze": ["all", 14]}}),  # the first depth, all, skipped, not the end
     "config models.AlexNet.unfreeze: unfreeze depth 14 out of range: AlexNet has 13 layers with weights; use 1..13 "
     "or all"),
    (dict(models={"AlexNet": None}, variants={"original": {"unfreeze": [13, 14]}}),
     "config variants.original.unfreeze: unfreeze depth 14 out of range: AlexNet has 13 layers with weights; use "
     "1..13 or all"),
    (dict(models={"A2E": {"unfreeze": [7]}}, datasets={"t": {**TABLE, "models": ["A2E"]}}),
     "config models.A2E.unfreeze: unfreeze depth 7 out of range: A2E has 6 layers with weights on a table; use "
     "1..6 or all"),
]


@pytest.mark.parametrize("changes, message", BAD_CONFIGS, ids=[message.split(":")[0] for _, message in BAD_CONFIGS])
def test_a_wrong_config_is_refused_naming_the_key_and_the_fix(changes, message):
    config = tiny(**changes)
    with pytest.raises(ValueError) as error:
        check_config(config)
    assert message in str(error.value), str(error.value)


@pytest.mark.parametrize("changes, message", [
    # the schema refuses an unknown metric first; the library refuses it too, for a config not validated
    (dict(datasets={"digits": {"splits": ["70-30"], "metric": "top5"}}),
     "config datasets.digits.metric: 'top5'; known: accuracy, balanced_accuracy, f1_macro, recall_macro, "
     "precision_macro, auc"),
    (dict(select={"max_peak_rss_mb": 600}),
     "config select.max_peak_rss_mb was renamed: use select.max_memory_mb: the peak memory of the variant deployed "
     "alone"),
    (dict(measure={"latency": {"queries": 100}}),
     "config measure.latency was renamed: use measure.loadgen: {min_queries, min_seconds, offline_seconds, batch}, "
     "MLPerf LoadGen's settings"),
])
def test_the_library_refuses_what_the_schema_lets_through_or_cannot_see(changes, message):
    with pytest.raises(ValueError) as error:
        settings.check(settings.complete(tiny(**changes)))
    assert message in str(error.value), str(error.value)


GOOD_CONFIGS = {
    "an image folder's official split": dict(datasets={"flowers": {"path": "data/flowers", "splits": ["official"]}}),
    "a dataset restricted to some models": dict(models={"MobileNetV2": None, "AlexNet": None},
                                                datasets={"digits": {"splits": ["70-30"], "models": ["AlexNet"]}}),
    "a name with a dot, a dash and an underscore": dict(models={"A2E": None}, datasets={"fraud-2024_v2.1": TABLE}),
    "a CSV table for A2E": dict(models={"A2E": {"unfreeze": [1, 6, "all"]}},
                                datasets={"t": {**TABLE, "features": ["x1", "x2"]}}),
    "a CSV table restricted to A2E beside images": dict(
        models={"A2E": None, "MobileNetV2": None},
        datasets={"t": {**TABLE, "models": ["A2E"]}, "digits": {"splits": ["70-30"]}}),
    "clustering a pretrained base before training": dict(variants=["original", "cluster-k2"]),
    "clustering restricted to a pretrained base": dict(models={"MobileNetV2": None, "AlexNet": None},
                                                       variants={"original": None,
                                                                 "cluster-k2": {"models": ["MobileNetV2"]}}),
    "clustering a scratch model after training": dict(models={"AlexNet": None}, variants=["original", "cluster-k2"],
                                                      clustering={"order": "after-training"}),
    "pruning filters of convolutional models": dict(models={"MobileNetV2": None, "AlexNet": None},
                                                    variants=["prune-filters-b2"]),
    "a rejected filter or unit step halved": dict(models={"AlexNet": None, "A2E": None},
                                                  variants={"prune-filters-b2": {"models": ["AlexNet"]},
                                                            "prune-units-b5": None},
                                                  pruning={"on_rejection": "halve", "rounds": 4}),
    "known transfer donors": dict(variants=["transfer-ResNet50-top2", "transfer-AlexNet-top1"]),
    "small inputs for scratch models alone": dict(models={"AlexNet": None, "A2E": None}, input_size=8),
    "every depth up to the layers with weights": dict(models={"AlexNet": {"unfreeze": [1, 13, "all"]}},
                                                      variants={"original": None, "float16": {"unfreeze": [13]}}),
}


@pytest.mark.parametrize("changes", GOOD_CONFIGS.values(), ids=GOOD_CONFIGS)
def test_a_valid_config_passes(changes):
    check_config(tiny(**changes))


@pytest.mark.parametrize("options, message", [
    ({"label": "Klass"}, "{path} has no label column 'Klass'; its columns are: x1, x2, Class. Set the dataset's "
                         "`label:` option to one of them."),
    ({"features": ["x1", "x9"]}, "{path} has no feature column(s) x9"),
    ({"splits": ["70-30", "99-1"]}, "cannot make a stratified 99-1 split of 'fraud' ("),  # a test side of 0.4 rows
])
def test_a_tables_header_is_read_at_planning(tmp_path, options, message):
    path = tmp_path / "fraud.csv"
    pd.DataFrame({"x1": range(40), "x2": range(40), "Class": [0] * 37 + [1] * 3}).to_csv(path, index=False)
    config = tiny(models={"A2E": None}, datasets={"fraud": {"path": str(path), "label": "Class", "splits": ["70-30"]}})
    check_config(copy.deepcopy(config))  # the table as it is: fine
    config["datasets"]["fraud"].update(options)
    with pytest.raises(ValueError) as error:
        check_config(config)
    assert str(error.value).startswith("config datasets.fraud: ")
    assert message.format(path=path) in str(error.value), str(error.value)
