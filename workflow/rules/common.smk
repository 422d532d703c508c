# The experiment grid, the artifact paths and every input function, in one place.
import os
import sys
from itertools import product
from pathlib import Path

# The library is importable by this file and by every job (local or Slurm) through PYTHONPATH.
LIBRARY = str(Path(workflow.basedir) / "workflow")
sys.path.insert(0, LIBRARY)
# (Written, not read: nothing to assert with `envvars:`.)
os.environ.update(PYTHONPATH=os.pathsep.join(p for p in (LIBRARY, os.environ.get("PYTHONPATH")) if p))

from snakemake.settings.types import DeploymentMethod

from opscore import config as settings
from opscore.data import DATASET_ARCHIVES
from opscore.models import SCRATCH_MODELS
from opscore.sensitivity import STUDIES
from opscore.variants import NAME_PATTERN as VARIANT_PATTERN, parse_variant

# Defaults filled in and cross-key checks made by the library (opscore/config.py), in place so
# that rules, scripts and the report all see the completed config.
config.update(settings.complete(config))
settings.check(config)
VARIANTS = config["variants"]
CLUSTERING = config["clustering"]
PRUNING = config["pruning"]


def dataset_models(dataset):
    return settings.dataset_models(config, dataset)


def dataset_metric(wildcards):
    return settings.dataset_metric(config, wildcards.dataset)


STUDY_KEYS = list(STUDIES)
STUDY_FIGURES = [key for key, (_, figure) in STUDIES.items() if figure is not None]
USE_CONDA = DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method


def conda_env(name):
    """The rule's conda env (envs/NAME.yaml) under `--sdm conda`; none otherwise, so that plain
    runs and `snakemake --archive` work without conda (the pinned venv is the environment)."""
    path = str(Path(workflow.basedir) / "envs" / f"{name}.yaml")
    return lambda wildcards: path if USE_CONDA else None


DOWNLOADS = config["download_dir"]
WEIGHTS = config["weights_dir"]

# ---- artifact paths: each wildcard names what the file holds --------------------------
DATA = "results/data/{dataset}/{split}/seed-{seed}.npz"
RUN = "{dataset}/{split}/seed-{seed}/{model}/{variant}/unfreeze-{unfreeze}"
CHECKPOINT = f"results/models/{RUN}/weights.h5"
TFLITE = f"results/models/{RUN}/model.tflite"
DERIVED_MODEL = f"results/models/{RUN}/model.h5"
PREPARATION = f"results/models/{RUN}/preparation.json"
CLUSTERED_BASE = "results/bases/{model}/{variant}.h5"
CLUSTERED_BASE_INFO = "results/bases/{model}/{variant}.json"
HISTORY = f"results/models/{RUN}/history.parquet"
METRICS = f"results/measurements/{RUN}/metrics.parquet"
TIMINGS = f"results/measurements/{RUN}/timings.parquet"
LATENCY = f"results/measurements/{RUN}/latency.parquet"
BASELINE = "results/measurements/{dataset}/{split}/seed-{seed}/random-baseline.parquet"
TABLES = "results/tables/{dataset}"
SCORES = "results/scores/{dataset}"
FIGURES = "results/figures/{dataset}"
STUDIES_DIR = "results/studies/{dataset}"
LOGS = "results/logs"

wildcard_constraints:
    dataset="[^/]+",
    split="official|[0-9]+-[0-9]+",
    seed="[0-9]+",
    model="[^/]+",
    variant=VARIANT_PATTERN,
    unfreeze="all|[0-9]+",


# ---- the grid ---------------------------------------------------------------------------
def experiments(dataset=None):
    """One dict per trained variant: dataset, split, seed, model, variant, unfreeze."""
    grid = []
    for name, options in config["datasets"].items():
        if dataset is not None and name != dataset:
            continue
        for split, seed, (model, model_options), (variant, variant_options) in product(
            options["splits"], config["seeds"], config["models"].items(), VARIANTS.items()
        ):
            if model not in variant_options["models"] or model not in dataset_models(name):
                continue
            for unfreeze in variant_options["unfreeze"] or model_options["unfreeze"]:
                grid.append(dict(dataset=name, split=split, seed=seed, model=model, variant=variant,
                                 unfreeze=str(unfreeze)))
    return grid


def dataset_runs(dataset):
    """(split, seed) pairs of one dataset, for its baselines."""
    options = config["datasets"][dataset]
    return [dict(dataset=dataset, split=s, seed=seed) for s, seed in product(options["splits"], config["seeds"])]


# ---- input functions --------------------------------------------------------------------
def dataset_sources(wildcards):
    """What preparing a dataset reads: its downloaded archives, its image folder, or nothing."""
    options = config["datasets"][wildcards.dataset]
    if "path" in options:
        return [options["path"]]
    return [f"{DOWNLOADS}/{a.filename}" for a in DATASET_ARCHIVES.get(wildcards.dataset, [])]


def archive_of(wildcards):
    for archives in DATASET_ARCHIVES.values():
        for archive in archives:
            if archive.filename == wildcards.archive:
                return archive
    raise ValueError(f"no known archive named {wildcards.archive!r}")


def base_weights(wildcards):
    """The pretrained base, an artifact of its own: downloaded ImageNet weights or a user file."""
    if wildcards.model in SCRATCH_MODELS:
        return []
    if config["weights"] == "imagenet":
        return f"{WEIGHTS}/{wildcards.model}-imagenet-notop.h5"
    if config["weights"] == "none":
        return []
    return config["weights"]


def is_trained(variant_name):
    """Made by the train rule; else derived from the trained original of the same run."""
    variant = parse_variant(variant_name)
    if variant.kind == "cluster":
        return CLUSTERING["order"] == "before-training"
    return variant.trained


def learning_rate(wildcards):
    """The model's own learning rate if it sets one, else training.learning_rate."""
    return config["models"][wildcards.model].get("learning_rate", config["training"]["learning_rate"])


def original_of(wildcards):
    return {**wildcards, "variant": "original"}


def train_inputs(wildcards):
    variant = parse_variant(wildcards.variant)
    inputs = {"data": DATA.format(**wildcards), "base_weights": base_weights(wildcards)}
    if variant.kind == "cluster":
        inputs["base_weights"] = CLUSTERED_BASE.format(**wildcards)
    if variant.kind == "transfer":
        inputs["donor"] = CHECKPOINT.format(**{**wildcards, "model": variant.options["donor"], "variant": "original"})
    return inputs


def evaluate_inputs(wildcards):
    """The deployable artifact of a variant, the history that timed its training, and what
    recorded its preparation (clustering, pruning, conversion)."""
    variant = parse_variant(wildcards.variant)
    inputs = {"data": DATA.format(**wildcards)}
    if is_trained(wildcards.variant):
        inputs["artifact"] = CHECKPOINT.format(**wildcards)
        inputs["history"] = HISTORY.format(**wildcards)
        if variant.kind == "cluster":
            inputs["preparation"] = CLUSTERED_BASE_INFO.format(**wildcards)
    else:
        inputs["artifact"] = (TFLITE if variant.kind == "tflite" else DERIVED_MODEL).format(**wildcards)
        inputs["history"] = HISTORY.format(**original_of(wildcards))
        inputs["preparation"] = PREPARATION.format(**wildcards)
    return inputs


def figure_input(wildcards):
    """What a figure draws: the training histories (curves) or the ranking."""
    if wildcards.figure == "curves":
        return f"{TABLES}/histories.parquet".format(**wildcards)
    return f"{SCORES}/ranking.parquet".format(**wildcards)


def pruning_steps_of(dataset):
    """The per-step tables of a dataset's filter- and layer-pruned variants."""
    return [f"results/models/{RUN}/preparation.parquet".format(**run) for run in experiments(dataset)
            if parse_variant(run["variant"]).kind in ("prune-filters", "prune-layers")]


def measurements_of(dataset):
    runs = experiments(dataset)
    return {
        "metrics": [METRICS.format(**run) for run in runs],
        "histories": [HISTORY.format(**run) for run in runs if is_trained(run["variant"])],
        "baselines": [BASELINE.format(**run) for run in dataset_runs(dataset)],
    }


def all_outputs():
    targets = []
    for dataset in config["datasets"]:
        targets += [f"{SCORES.format(dataset=dataset)}/ranking.{ext}" for ext in ("parquet", "csv", "md")]
        targets += [f"{SCORES.format(dataset=dataset)}/selection.{ext}" for ext in ("json", "md")]
        targets += [f"{FIGURES.format(dataset=dataset)}/{name}.{ext}"
                    for name in ("bubble", "curves", "accuracy", "pareto") for ext in ("svg", "html")]
        studies = STUDIES_DIR.format(dataset=dataset)
        targets += [f"{studies}/{key}.{ext}" for key in STUDY_KEYS for ext in ("csv", "md")]
        targets += [f"{studies}/{key}.{ext}" for key in STUDY_FIGURES for ext in ("svg", "html")]
        targets += [f"{studies}/pruning_sensitivity.{ext}" for ext in ("csv", "md", "svg", "html")]
    return targets
