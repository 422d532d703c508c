# The experiment grid, the artifact paths and every input function, in one place.
import copy
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
from opscore import integrity
from opscore.data.archives import DATASET_ARCHIVES
from opscore.data.splits import SPLIT_PATTERN
from opscore.kinds.registry import (
    ARTIFACT_FILES,
    KINDS,
    NAME_PATTERN,
    derived_artifacts,
    names_derived_into,
    parse_variant,
    trained_names,
)
from opscore.models.applications import SCRATCH_MODELS
from opscore.report.studies import STUDIES

# The config as given (config files and --config, before defaults): what the run records
# (rule record_run) and `./opscore archive` packs, so that the run can be continued elsewhere.
GIVEN_CONFIG = copy.deepcopy(dict(config))
CONFIG_FILES = [{"path": str(Path(p).resolve()), "text": Path(p).read_text()} for p in workflow.configfiles]
# Defaults filled in and cross-key checks made by the library (opscore/config.py), in place so
# that rules, scripts and the report all see the completed config.
config.update(settings.complete(config))
settings.check(config)
# A truncated artifact is named before any job runs, even when its timestamp says it is done
# (a size against its record: cheap; `./opscore verify` hashes them all).
if damaged_artifacts := integrity.size_mismatches():
    raise ValueError("\n".join(damaged_artifacts))
# A failing job's log ends with one line; `snakemake --verbose` adds the traceback above it.
if workflow.output_settings.verbose:
    os.environ.update(OPSCORE_VERBOSE="1")  # written for the jobs, not read here
CLUSTERING = config["clustering"]
# A rule names its conda env file under `--sdm conda`, and when Snakemake only reads the rules to
# lint them (its one mode with check_envvars off); otherwise none, so that plain runs and
# `snakemake --archive` work without conda (the pinned venv is the environment), and planning
# evaluates no conda function per job (docs/planning.md).
NAMES_CONDA_ENVS = (
    DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method or not workflow.check_envvars
)


def conda_env(name):
    """The rule's conda env file (envs/NAME.yaml), or None (see NAMES_CONDA_ENVS)."""
    return str(Path(workflow.basedir) / "envs" / f"{name}.yaml") if NAMES_CONDA_ENVS else None


# The interpreter of a rule's shell line into the library: the conda env's under `--sdm conda`, else
# the one running Snakemake (the pinned venv's), as for `script:` rules, whatever `python` is on PATH.
PYTHON = "python" if NAMES_CONDA_ENVS else sys.executable


DOWNLOADS = config["download_dir"]
WEIGHTS = config["weights_dir"]

# ---- artifact paths: each wildcard names what the file holds --------------------------
DATA = "results/data/{dataset}/{split}/seed-{seed}.npz"
RUN = "{dataset}/{split}/seed-{seed}/{model}/{variant}/unfreeze-{unfreeze}"
MODELS = f"results/models/{RUN}"
# every artifact type's file (opscore.kinds.registry.ARTIFACT_FILES): weights.h5, model.h5, model.tflite, model.onnx
ARTIFACT = {artifact: f"{MODELS}/{file}" for artifact, file in ARTIFACT_FILES.items()}
CHECKPOINT = ARTIFACT["weights"]
PREPARATION = f"{MODELS}/preparation.json"
PREPARATION_STEPS = f"{MODELS}/preparation.parquet"
HISTORY = f"{MODELS}/history.parquet"
# the trained original of a derived variant's run: a pattern, not a function (cheaper to plan)
ORIGINAL_CHECKPOINT = CHECKPOINT.replace("{variant}", "original")
CLUSTERED_BASE = "results/bases/{model}/{variant}.h5"
CLUSTERED_BASE_INFO = "results/bases/{model}/{variant}.json"
METRICS = f"results/measurements/{RUN}/metrics.parquet"
PREDICTIONS = f"results/measurements/{RUN}/predictions.parquet"
MODEL_INPUTS = "results/measurements/{dataset}/{split}/seed-{seed}/{model}/inputs.npz"
BENCHMARK = "results/measurements/{dataset}/benchmark"
# one (dataset, split, seed) run: what the per-dataset aggregates read instead of every variant's file
RUN_MEASUREMENTS = "results/measurements/{dataset}/{split}/seed-{seed}"
BENCHMARK_CANDIDATES = f"{RUN_MEASUREMENTS}/benchmark-candidates.json"
RUN_METRICS = f"{RUN_MEASUREMENTS}/metrics.parquet"
RUN_PREDICTIONS = f"{RUN_MEASUREMENTS}/predictions.parquet"
RUN_HISTORIES = f"{RUN_MEASUREMENTS}/histories.parquet"
BASELINE = "results/measurements/{dataset}/{split}/seed-{seed}/random-baseline.parquet"
TABLES = "results/tables/{dataset}"
SCORES = "results/scores/{dataset}"
FIGURES = "results/figures/{dataset}"
STUDY = "results/studies/{dataset}/{study}"
LOGS = "results/logs"
# where a dataset's results start: any of them existing means the dataset has begun (run_artifacts)
DATASET_RESULTS = ("results/data/{dataset}", "results/models/{dataset}", "results/measurements/{dataset}", TABLES)
RUN_RECORD = "results/run/run.yaml"
# the artifacts a kind's `inputs` (opscore.kinds.registry) may name
NAMED_ARTIFACTS = {"weights": CHECKPOINT, "history": HISTORY, "clustered_base": CLUSTERED_BASE}


wildcard_constraints:
    dataset="[^/]+",
    split=SPLIT_PATTERN,
    seed="[0-9]+",
    model="[^/]+",
    variant=NAME_PATTERN,
    unfreeze="all|[0-9]+",
    study="|".join(STUDIES),


# ---- input functions --------------------------------------------------------------------
def dataset_sources(wildcards):
    """What preparing a dataset reads: its downloaded archives, its image folder, or nothing."""
    options = config["datasets"][wildcards.dataset]
    if "path" in options:
        return [options["path"]]
    return [f"{DOWNLOADS}/{a.filename}" for a in DATASET_ARCHIVES.get(wildcards.dataset, [])]


def base_weights(wildcards):
    """The pretrained base, an artifact of its own: downloaded ImageNet weights or a user file."""
    if wildcards.model in SCRATCH_MODELS or config["weights"] == "none":
        return []
    if config["weights"] == "imagenet":
        return f"{WEIGHTS}/{wildcards.model}-imagenet-notop.h5"
    return config["weights"]


def learning_rate(wildcards):
    """The model's own learning rate if it sets one, else training.learning_rate."""
    return config["models"][wildcards.model].get("learning_rate", config["training"]["learning_rate"])


def dataset_options(wildcards):
    return config["datasets"][wildcards.dataset]


def dataset_metric(wildcards):
    return settings.dataset_metric(config, wildcards.dataset)


def kind_settings(wildcards):
    """The config section the variant's kind reads (registry: opscore.kinds.registry), or nothing."""
    section = parse_variant(wildcards.variant).spec.settings
    return config[section] if section else {}


def derive_inputs(wildcards):
    """What deriving a variant reads: the prepared data and the artifact it starts from: the
    trained original's weights, or a chain's prefix (whose job any chain sharing it shares), with
    the prefix's record of its steps when it was derived, or of its base's clustering when that
    was clustered before training."""
    inputs = {"data": DATA.format(**wildcards)}
    prefix = parse_variant(wildcards.variant).prefix
    if prefix is None:
        return {**inputs, "source": ORIGINAL_CHECKPOINT.format(**wildcards)}
    source = {**wildcards, "variant": prefix.name}
    inputs["source"] = ARTIFACT[prefix.artifact_type(config)].format(**source)
    if not prefix.is_trained(config):
        inputs["source_preparation"] = PREPARATION.format(**source)
    elif "base_weights" in prefix.spec.inputs(prefix.options):
        inputs["source_preparation"] = CLUSTERED_BASE_INFO.format(**source)  # clustered before training
    return inputs


def train_inputs(wildcards):
    """The prepared data, the pretrained base, and what the kind adds (a clustered base, a donor)."""
    variant = parse_variant(wildcards.variant)
    inputs = {"data": DATA.format(**wildcards), "base_weights": base_weights(wildcards)}
    for name, (artifact, overrides) in variant.spec.inputs(variant.options).items():
        inputs[name] = NAMED_ARTIFACTS[artifact].format(**{**wildcards, **overrides})
    return inputs


def evaluate_inputs(wildcards):
    """The deployable artifact of a variant, the history that timed its training (a derived
    variant's: the training it starts from, Variant.trained_variant), and what recorded its
    preparation (clustering, pruning, conversion; every step of a chain)."""
    variant = parse_variant(wildcards.variant)
    inputs = {"data": DATA.format(**wildcards), "artifact": f"{MODELS}/{variant.artifact(config)}".format(**wildcards)}
    if variant.is_trained(config):
        inputs["history"] = HISTORY.format(**wildcards)
        if "base_weights" in variant.spec.inputs(variant.options):
            inputs["preparation"] = CLUSTERED_BASE_INFO.format(**wildcards)
    else:
        inputs["history"] = HISTORY.format(**{**wildcards, "variant": variant.trained_variant(config)})
        inputs["preparation"] = PREPARATION.format(**wildcards)
    return inputs


def figure_input(wildcards):
    """What a figure draws: the training histories (curves) or the ranking."""
    if wildcards.figure == "curves":
        return f"{TABLES}/histories.parquet".format(**wildcards)
    return f"{SCORES}/ranking.parquet".format(**wildcards)


def study_inputs(wildcards):
    """A study's source: the measurement table, or the per-step tables of the pruned variants."""
    if STUDIES[wildcards.study].source == "measurements":
        return [f"{TABLES}/measurements.parquet".format(**wildcards)]
    return [
        PREPARATION_STEPS.format(**run)
        for run in settings.experiments(config, wildcards.dataset)
        if "pruning_sensitivity" in parse_variant(run["variant"]).spec.studies
    ]


def run_experiments(wildcards):
    """The variants of one (dataset, split, seed) run (opscore.config.experiments)."""
    return settings.experiments(config, wildcards.dataset, wildcards.split, wildcards.seed)


def artifact_of(run):
    return f"{MODELS}/{parse_variant(run['variant']).artifact(config)}".format(**run)


def benchmark_candidates_inputs(wildcards):
    """Every variant's deployable artifact of one run and its model's requests, in the run's order."""
    runs = run_experiments(wildcards)
    return {"artifacts": [artifact_of(run) for run in runs], "inputs": [MODEL_INPUTS.format(**run) for run in runs]}


def benchmark_inputs(wildcards):
    """The candidates of every (split, seed) run of the dataset: one manifest a run (its inputs are
    the run's artifacts), so the benchmark's fan-in is the runs, not the variants."""
    return [BENCHMARK_CANDIDATES.format(**run) for run in settings.dataset_runs(config, wildcards.dataset)]


def benchmark_memory(wildcards):
    """MB for the benchmark's worker processes alive at once (~1 GB for a TensorFlow one) and itself."""
    alive = min(len(settings.experiments(config, wildcards.dataset)), config["measure"]["max_workers"])
    return 1000 * (alive + 1)


def run_measurements_of(wildcards):
    """Every variant's quality and predictions of one run, and the histories of those trained."""
    runs = run_experiments(wildcards)
    return {
        "metrics": [METRICS.format(**run) for run in runs],
        "predictions": [PREDICTIONS.format(**run) for run in runs],
        "histories": [HISTORY.format(**run) for run in runs if parse_variant(run["variant"]).is_trained(config)],
    }


def measurements_of(wildcards):
    """The runs' tables of one dataset, its benchmark and its random baselines."""
    runs = settings.dataset_runs(config, wildcards.dataset)
    return {
        "metrics": [RUN_METRICS.format(**run) for run in runs],
        "benchmark": f"{BENCHMARK}/benchmark.parquet".format(**wildcards),
        "predictions": [RUN_PREDICTIONS.format(**run) for run in runs],
        "histories": [RUN_HISTORIES.format(**run) for run in runs],
        "baselines": [BASELINE.format(**run) for run in runs],
    }


class RunWildcards(dict):
    """One run of the grid as the input functions see wildcards (by name and by key)."""

    __getattr__ = dict.__getitem__


def run_artifacts():
    """The files of every run that has begun (results of its dataset exist) and are missing:
    measurements and what they were measured from (prepared data, model file, history,
    preparation, the model's benchmark requests), random baselines and benchmarks. Requested by
    name, a deleted or damaged artifact is remade with what depends on it, even without
    Snakemake's metadata (an unpacked archive has none). Files that exist need no request, and a
    dataset not yet begun is made whole by its aggregates: listing every file of a large grid
    here would cost its planning a sixth more (docs/planning.md)."""
    targets = []
    for dataset in config["datasets"]:
        if not any(Path(path.format(dataset=dataset)).exists() for path in DATASET_RESULTS):
            continue
        for run in settings.experiments(config, dataset):
            targets += [path.format(**run) for path in (METRICS, PREDICTIONS, MODEL_INPUTS)]
            targets += [path for path in evaluate_inputs(RunWildcards(run)).values() if path]
        targets += [BASELINE.format(**run) for run in settings.dataset_runs(config, dataset)]
        targets.append(f"{BENCHMARK}/benchmark.parquet".format(dataset=dataset))
    return [path for path in dict.fromkeys(targets) if not Path(path).exists()]


def all_outputs():
    targets = [RUN_RECORD, "results/index.html", *run_artifacts()]
    for dataset in config["datasets"]:
        scores, figures = SCORES.format(dataset=dataset), FIGURES.format(dataset=dataset)
        targets += [f"{scores}/ranking.{ext}" for ext in ("parquet", "csv", "md")]
        targets += [f"{scores}/selection.{ext}" for ext in ("json", "md")]
        targets += [
            f"{figures}/{name}.{ext}" for name in ("bubble", "curves", "accuracy", "pareto") for ext in ("svg", "html")
        ]
        targets += [
            STUDY.format(dataset=dataset, study=study) + f".{ext}"
            for study in STUDIES
            for ext in ("csv", "md", "svg", "html")
        ]
    return targets
