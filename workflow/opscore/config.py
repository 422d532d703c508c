"""The workflow's configuration in one place: its defaults, the checks the JSON schema cannot
express, and the variant grid the rules are planned from.

The schema (``workflow/schemas/config.schema.yaml``) checks types and names; this module
fills in every key a config may leave out (only ``datasets``, ``models`` and ``variants`` are
required) and then checks what spans several keys, with the fix in each message. It imports
no TensorFlow, so Snakemake can use it while parsing.
"""
from __future__ import annotations

import copy
import re
from itertools import product

from opscore.data import DataError
from opscore.data.datasets import BUILTIN_DATASETS, has_official_split
from opscore.data.splits import parse_split
from opscore.data.tables import check_table_header, is_csv_path
from opscore.kinds.registry import parse_variant
from opscore.measure.quality import METRICS
from opscore.models.applications import (
    APPLICATIONS,
    DENSE_MODELS,
    MIN_APPLICATION_INPUT,
    SCRATCH_MODELS,
    weighted_layer_count,
)

#: every optional key and its value when a config leaves it out
DEFAULTS = {
    "weights": "imagenet",
    "input_size": 32,
    "seeds": [0],
    "training": {"epochs": 10, "batch_size": 128, "learning_rate": 0.001, "batchnorm_momentum": None},
    "measure": {"repeats": 10, "unstable_cv": 0.10,
                "loadgen": {"min_queries": 100, "min_seconds": 0.25, "offline_seconds": 0.25, "batch": 32},
                "max_wait_share": 0.05, "max_workers": 8, "processes": 3, "max_inputs": 1024, "seed": 0},
    "score": {"time_basis": "inference", "time_statistic": "median", "metric": "accuracy"},
    "float16": {"training": "auto"},
    "select": {},
    "clustering": {"init": "linear", "method": "auto", "iterations": 0, "order": "before-training"},
    "fine_tuning": {"epochs": 2, "learning_rate": None, "held_out": 0.1},
    "pruning": {"filter_ratio": 0.5, "schedule": "polynomial", "on_rejection": "skip", "rounds": 1},
    "download_dir": "resources/downloads",
    "weights_dir": "resources/weights",
}


#: keys a config may still carry from an earlier opscore, and what replaced them
RENAMED = {("select", "max_peak_rss_mb"): "select.max_memory_mb: the peak memory of the variant deployed alone "
                                          "(its runtime and model), not of the process that measured it",
           ("measure", "latency"): "measure.loadgen: {min_queries, min_seconds, offline_seconds, batch}, "
                                   "MLPerf LoadGen's settings",
           # every derived kind that fine-tunes reads one section, not pruning's
           ("pruning", "fine_tune_epochs"): "fine_tuning.epochs (every derived kind that fine-tunes reads it)",
           ("pruning", "fine_tune_learning_rate"): "fine_tuning.learning_rate (every derived kind that fine-tunes "
                                                   "reads it)",
           ("pruning", "held_out"): "fine_tuning.held_out (the share of the train split every derivation is judged "
                                    "on)"}


def _merged(defaults: dict, given: dict) -> dict:
    out = copy.deepcopy(defaults)
    for key, value in given.items():
        out[key] = _merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def complete(config: dict) -> dict:
    """The config with every default filled in, each model with its unfreeze depths (the dense
    head, ``[1]``, for a pretrained base; ``[all]`` for a model trained from scratch) and each
    variant as ``{models, unfreeze}``."""
    config = _merged(DEFAULTS, dict(config))
    scratch = config["weights"] == "none"
    config["models"] = {
        name: {"unfreeze": ["all"] if scratch or name in SCRATCH_MODELS else [1], **(options or {})}
        for name, options in config["models"].items()
    }
    spec = config["variants"]
    if isinstance(spec, list):
        spec = {name: None for name in spec}
    config["variants"] = {name: {"models": (options or {}).get("models", list(config["models"])),
                                 "unfreeze": (options or {}).get("unfreeze")} for name, options in spec.items()}
    return config


def dataset_models(config: dict, dataset: str) -> list[str]:
    """The models that run on a dataset: its own ``models:`` list, or every configured model."""
    return config["datasets"][dataset].get("models", list(config["models"]))


def dataset_metric(config: dict, dataset: str) -> str:
    """The quality metric a dataset is scored and pruned on: its own, else ``score.metric``."""
    return config["datasets"][dataset].get("metric", config["score"]["metric"])


def experiments(config: dict, dataset: str | None = None, split: str | None = None,
                seed: int | str | None = None) -> list[dict]:
    """The experiment grid: one dict of wildcards (dataset, split, seed, model, variant, unfreeze)
    per variant the completed config plans, for one dataset or all, and within it for one split
    and seed or all (a seed matches as text too: wildcards are strings)."""
    grid = []
    for name, options in config["datasets"].items():
        if dataset is not None and name != dataset:
            continue
        splits = [s for s in options["splits"] if split is None or s == split]
        seeds = [s for s in config["seeds"] if seed is None or str(s) == str(seed)]
        for split_, seed_, (model, model_options), (variant, variant_options) in product(
                splits, seeds, config["models"].items(), config["variants"].items()):
            if model not in variant_options["models"] or model not in dataset_models(config, name):
                continue
            for unfreeze in variant_options["unfreeze"] or model_options["unfreeze"]:
                grid.append(dict(dataset=name, split=split_, seed=seed_, model=model, variant=variant,
                                 unfreeze=str(unfreeze)))
    return grid


def dataset_runs(config: dict, dataset: str) -> list[dict]:
    """The (split, seed) runs of one dataset, for its random baselines."""
    options = config["datasets"][dataset]
    return [dict(dataset=dataset, split=split, seed=seed) for split, seed in product(options["splits"], config["seeds"])]


#: dataset and model names become path parts: letters, digits, '-', '_', '.', not starting with a dot
SAFE_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")


def check_name(key: str, name: str) -> None:
    """Raise ValueError naming ``key`` unless ``name`` is safe as one path part (no '/', no '..',
    no leading dot): dataset and model names are directories under results/."""
    if not SAFE_NAME.fullmatch(str(name)):
        raise ValueError(f"config {key}: the name {name!r} is not allowed; names are path parts under results/: "
                         "letters, digits, '-', '_' and '.', not starting with a dot (e.g. my-table_v2)")


def check(config: dict) -> None:
    """Raise ValueError, naming the key and the fix, for what the schema cannot see."""
    for (section, key), replacement in RENAMED.items():
        if key in (config.get(section) or {}):
            raise ValueError(f"config {section}.{key} was renamed: use {replacement}")
    for name in config["datasets"]:
        check_name("datasets", name)
    for name in config["models"]:
        check_name("models", name)
    for name, options in config["datasets"].items():
        _check_dataset(config, name, options)
    for name in config["models"]:
        if name not in APPLICATIONS and name not in SCRATCH_MODELS:
            raise ValueError(f"config models: unknown model {name!r}. Known: {', '.join(APPLICATIONS)}; "
                             f"trained from scratch: {', '.join(SCRATCH_MODELS)}")
    applications = [name for name in config["models"] if name in APPLICATIONS]
    if applications and config["input_size"] < MIN_APPLICATION_INPUT:
        raise ValueError(f"config input_size: {config['input_size']} is below the {MIN_APPLICATION_INPUT} pixels "
                         f"keras.applications models need ({', '.join(applications)}); the models trained from "
                         f"scratch take 8 and up")
    for name, options in config["variants"].items():
        _check_variant(config, name, options)
    _check_unfreeze_depths(config)


def _check_dataset(config: dict, name: str, options: dict) -> None:
    if name not in BUILTIN_DATASETS and "path" not in options:
        raise ValueError(
            f"config datasets: unknown dataset {name!r}. Known: {', '.join(BUILTIN_DATASETS)}; "
            "or give `path:`, an image folder (train/CLASS/*, test/CLASS/*) or a CSV table (with `label:`).")
    if "official" in options["splits"] and not has_official_split(name, options):
        raise ValueError(f"config datasets.{name}: {options.get('path', name)} has no official split; use a ratio "
                         "like \"70-30\".")
    unknown = sorted(set(options.get("models", [])) - set(config["models"]))
    if unknown:
        raise ValueError(f"config datasets.{name}.models: {unknown} not in config models")
    if options.get("metric", "accuracy") not in METRICS:
        raise ValueError(f"config datasets.{name}.metric: {options['metric']!r}; known: {', '.join(METRICS)}")
    table = is_csv_path(options.get("path", ""))
    if not table and ("label" in options or "features" in options):
        raise ValueError(f"config datasets.{name}: `label`/`features` are for CSV tables, and "
                         f"{options.get('path', name)!r} is not one (.csv or .csv.gz).")
    if table:
        if "label" not in options:
            raise ValueError(f"config datasets.{name}: the CSV table {options['path']} needs `label:`, "
                             "the name of its label column (e.g. label: Class).")
        image_models = sorted(set(dataset_models(config, name)) - set(DENSE_MODELS))
        if image_models:
            raise ValueError(f"config datasets.{name}: a CSV table feeds feature vectors, which "
                             f"{image_models} cannot take; list the models for it with "
                             f"`models: [{', '.join(DENSE_MODELS)}]`.")
        try:  # the header and the label column only: cheap, and what the prepare job would refuse
            check_table_header(options["path"], options["label"], options.get("features"), options["splits"], name)
        except DataError as error:
            raise ValueError(f"config datasets.{name}: {error}") from None
    for split in options["splits"]:
        try:
            parse_split(split)
        except DataError as error:
            raise ValueError(f"config datasets.{name}.splits: {error}") from None


def _check_variant(config: dict, name: str, options: dict) -> None:
    variant = parse_variant(name)  # raises with the known forms, or naming the step a chain cannot take
    unknown = set(options["models"]) - set(config["models"])
    if unknown:
        raise ValueError(f"config variants.{name}.models: {sorted(unknown)} not in config models")
    steps = variant.steps or (variant,)
    for step in steps:  # a chain's later steps are derived: only its first may be trained
        _check_step(name, step, options["models"], trained=step is steps[0] and step.is_trained(config))


def _check_step(name: str, step, models: list[str], trained: bool) -> None:
    scratch = sorted(set(models) & set(SCRATCH_MODELS))
    if step.kind == "cluster" and trained and scratch:
        raise ValueError(f"config variants.{name}: {scratch} have no pretrained base to cluster before "
                         "training; restrict the variant with `models:` or set clustering.order: after-training")
    dense_only = sorted(set(models) & set(DENSE_MODELS))
    if step.kind == "prune-filters" and dense_only:
        raise ValueError(f"config variants.{name}: {dense_only} have no convolution filters to prune; "
                         "restrict the variant with `models:` (prune-layers and prune-magnitude work on them)")
    if step.kind == "transfer" and step.options["donor"] not in (*APPLICATIONS, *SCRATCH_MODELS):
        raise ValueError(f"config variants: donor {step.options['donor']!r} of {name} is not a known model")
    if step.kind == "cluster" and step.options["k"] < 2:
        raise ValueError(f"config variants.{name}: tfmot clustering needs k >= 2 (one shared value per kernel "
                         "would erase it); use cluster-k2 or more")


def _check_unfreeze_depths(config: dict) -> None:
    """Every unfreeze depth within the model's layers with weights (counted without building it:
    opscore.models.applications.weighted_layer_count), per dataset, since a table adds A2E's Normalization."""
    for run in experiments(config):
        if run["unfreeze"] == "all":
            continue
        table = is_csv_path(config["datasets"][run["dataset"]].get("path", ""))
        count = weighted_layer_count(run["model"], table=table)
        if count is not None and int(run["unfreeze"]) > count:
            where = (f"variants.{run['variant']}.unfreeze" if config["variants"][run["variant"]]["unfreeze"]
                     else f"models.{run['model']}.unfreeze")
            raise ValueError(f"config {where}: unfreeze depth {run['unfreeze']} out of range: {run['model']} has "
                             f"{count} layers with weights{' on a table' if table else ''}; use 1..{count} or all")
