"""The workflow end to end on a small real run, its incremental planning and its config errors."""
import os
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import ROOT, check_config, planned_jobs, shared_run, test_config
from conftest import run_snakemake as snakemake

TINY = test_config("tiny")


def tiny_run(tmp_path_factory):
    """The TINY run, every target, made once per session for this module, tests/test_slurm.py and
    tests/test_resilience.py (conftest.shared_run). Tests here read it and plan on it (which rewrites
    its config.yaml); the others read its training's and evaluation's records."""
    return shared_run(tmp_path_factory, "tiny", lambda home: TINY)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    return tiny_run(tmp_path_factory)


@pytest.mark.slow
def test_small_run_ranks_scores_and_draws(finished_run):
    ranking = pd.read_csv(finished_run / "results/scores/digits/ranking.csv")
    assert list(ranking["row"]) == ["variant", "MIN", "MAX"]
    variant = ranking.iloc[0]
    assert variant["model"] == "A2E" and variant["variant"] == "original"
    assert 0 <= variant["accuracy"] <= 1 and variant["n_test"] == 540  # 30 % of 1,797 digits
    expected = (pd.Series([1 - variant["accuracy"], variant["inference_time_s"], variant["size_mb"]])
                .clip(lower=1 / 540).pipe(lambda s: s.map(__import__("math").log10)).sum())
    assert variant["opscore"] == pytest.approx(expected)
    assert variant["train_time_s"] > 0 and variant["epochs"] == 2
    for column in ("device", "tf_version", "threads", "runtime_version", "loadgen_version", "precision", "code_version"):
        assert pd.notna(variant[column]), column
    rounds = pd.read_parquet(finished_run / "results/measurements/digits/benchmark/rounds.parquet")
    assert list(rounds["round"]) == [1, 2] and (rounds["pass_s"] > 0).all()  # one timed pass a round
    assert 2 * rounds["pass_s"].median() == pytest.approx(variant["inference_time_s"])
    history = pd.read_parquet(finished_run / "results/tables/digits/histories.parquet")
    assert list(history["epoch"]) == [1, 2]
    baseline = pd.read_parquet(finished_run / "results/tables/digits/baselines.parquet")
    assert baseline["accuracy"].iloc[0] == pytest.approx(0.1, abs=0.05)
    for figure in ("bubble", "curves", "accuracy", "pareto"):
        assert "A2E" in (finished_run / f"results/figures/digits/{figure}.svg").read_text()
        html = (finished_run / f"results/figures/digits/{figure}.html").read_text()
        assert "<script" in html and 'src="https://' not in html
    for log in ("train", "evaluate", "score", "plot", "prepare_data"):
        assert any((finished_run / "results/logs" / log).rglob("*.log")), log


@pytest.mark.slow
def test_batch1_latency_costs_and_a_selection_are_measured(finished_run):
    import json

    ranking = pd.read_csv(finished_run / "results/scores/digits/ranking.csv")
    row = ranking[ranking["row"] == "variant"].iloc[0]
    rounds = pd.read_parquet(finished_run / "results/measurements/digits/benchmark/rounds.parquet")
    assert row["latency_p90_ms"] == pytest.approx(rounds["latency_p90_ms"].median())  # median over rounds
    assert row["latency_queries"] >= 2 * 20 and row["load_time_s"] > 0
    assert row["flops"] > 1e5 and row["param_bytes"] == 4 * row["params"]  # float32 A2E: 64-256-64-256-64-10
    assert row["flops_speedup"] == pytest.approx(1.0) and row["runtime"] == "tensorflow"
    # the deployed model's memory is a TensorFlow process's, measured apart from the evaluating job
    assert 0 < row["deploy_model_rss_mb"] < row["deploy_peak_rss_mb"] and row["job_peak_rss_mb"] > 0
    queries = pd.read_parquet(finished_run / "results/measurements/digits/benchmark/queries.parquet")
    assert len(queries) >= row["latency_queries"] and (queries["seconds"] > 0).all()
    summaries = list((finished_run / "results/measurements/digits/benchmark/loadgen").rglob("mlperf_log_summary.txt"))
    assert len(summaries) == 2 * 2 + 2  # SingleStream and Offline per round, and the harness's own two
    # the ranking's percentiles are LoadGen's: the median over rounds of what its detail logs say
    for q in (50, 90, 99):
        assert row[f"latency_p{q}_ms"] == pytest.approx(rounds[f"latency_p{q}_ms"].median()), q
    selection = json.loads((finished_run / "results/scores/digits/selection.json").read_text())
    assert selection["constraints"] == {} and selection["recommended"]["variant"] == "original"
    assert "Which variant to ship" in (finished_run / "results/scores/digits/selection.md").read_text()
    # the decision first: the run's front page and the line ./opscore run ends with
    index = (finished_run / "results/index.html").read_text()
    assert "digits: ship A2E / original (unfreeze all)" in index and "95 % CI" in index
    line = subprocess.run([sys.executable, "-m", "opscore.decide.selection",
                           str(finished_run / "results/scores/digits/selection.json")], capture_output=True, text=True, check=True, env={**os.environ, "PYTHONPATH": str(ROOT / "workflow")})
    assert line.stdout.startswith("digits: ship A2E / original (unfreeze all): OpScore")


@pytest.mark.slow
def test_rerun_plans_nothing_and_a_new_model_plans_only_its_jobs(finished_run):
    assert planned_jobs(snakemake(finished_run, TINY, "-n")) == {}
    bigger = {**TINY, "models": {**TINY["models"], "ResNet50": {"unfreeze": [1]}}}
    assert planned_jobs(snakemake(finished_run, bigger, "-n")) == {
        "train": 1, "evaluate": 1, "model_inputs": 1, "benchmark_candidates": 1, "benchmark": 1, "collect_run": 1,
        "collect_measurements": 1, "score": 1, "select_variant": 1, "index_page": 1, "plot": 4, "study": 9, "all": 1,
        "record_run": 1}
    # the dataset is timed again with the new model (every timing compared taken alike); the studies
    # of the measurement table; not the pruning study: no new pruning; the run's record of its config
    # (results/run/run.yaml, what ./opscore archive packs)


def test_paper_grid_plans_without_data(tmp_path):
    paper = yaml.safe_load((ROOT / "config/paper.yaml").read_text())
    jobs = planned_jobs(snakemake(tmp_path, paper, "-n"))
    runs = 2 * 4  # datasets x splits
    originals = 5 * 2  # models x unfreeze depths, each also in float16
    clustered = 6 * 2 * 2  # K values x models (ResNet50, VGG16) x their unfreeze depths
    assert jobs["train"] == jobs["evaluate"] == runs * (2 * originals + clustered + 1)  # + Res50+101
    assert jobs["cluster_base"] == 6 * 2
    assert jobs["download_archive"] == 2 and jobs["download_weights"] == 5
    assert jobs["prepare_data"] == 8 and jobs["score"] == 2


def test_rulegraph_renders(tmp_path):
    result = snakemake(tmp_path, TINY, "--rulegraph")
    assert result.returncode == 0 and "digraph" in result.stdout and "train" in result.stdout


CONFIG_ERRORS = [
    (lambda c: c["models"].update({"ResNet5O": {"unfreeze": [1]}}), r"unknown model 'ResNet5O'.*ResNet50"),
    (lambda c: c["datasets"].update({"cifar11": {"splits": ["official"]}}), r"unknown dataset 'cifar11'.*cifar10"),
    (lambda c: c.update({"epochs": 3}), r"Additional properties are not allowed \('epochs' was unexpected\)"),
    (lambda c: c["training"].update({"epochs": "ten"}), r"'ten' is not of type 'integer'"),
    (lambda c: c["score"].update({"time_basis": "wall"}), r"'wall' is not one of \['inference', 'train', 'total', 'latency'\]"),
    (lambda c: c["datasets"]["digits"].update({"splits": ["70-20"]}), r"'70-20': both parts must be positive and sum to 100"),
    (lambda c: c["datasets"]["digits"].update({"splits": ["official"]}), r"digits has no official split"),
    (lambda c: c.update({"models": {"A2E": {"unfreeze": ["all"]}}, "variants": ["original", "prune-filters-b2"]}),
     r"prune-filters-b2: \['A2E'\] have no convolution filters to prune"),
    (lambda c: c["datasets"]["digits"].update({"label": "Class"}), r"`label`/`features` are for CSV tables"),
    (lambda c: c.update({"input_size": 16, "models": {"MobileNetV2": None}}), r"input_size: 16 is below the 32 pixels keras.applications models need "
                                             r"\(MobileNetV2\)"),
]


def changed_tiny(change) -> dict:
    config = yaml.safe_load(yaml.safe_dump(TINY))
    change(config)
    return config


@pytest.mark.parametrize("change, message", CONFIG_ERRORS)
def test_config_errors_name_the_key_and_what_is_allowed(change, message):
    from snakemake.exceptions import WorkflowError

    config = changed_tiny(change)
    with pytest.raises((WorkflowError, ValueError)) as error:
        check_config(config)
    assert re.search(message, str(error.value), re.S), str(error.value)


@pytest.mark.parametrize("change, message", [CONFIG_ERRORS[0], CONFIG_ERRORS[2]])  # a check's and the schema's
def test_snakemake_stops_on_a_config_error_before_planning(tmp_path, change, message):
    result = snakemake(tmp_path, changed_tiny(change), "-n")
    assert result.returncode != 0
    assert re.search(message, result.stdout + result.stderr, re.S), result.stderr[-2000:]


@pytest.mark.slow
def test_archive_rebuilds_the_same_results(finished_run, tmp_path):
    """snakemake --archive packs what a rebuild needs; the rebuild, same seed on the same machine,
    trains the same weights to the same (validation) accuracy."""
    archive = tmp_path / "run.tar.gz"
    config_path = tmp_path / "config.yaml"
    config_path.write_text(yaml.safe_dump(TINY))
    env = {**os.environ, "PYTHONPATH": str(ROOT / "workflow")}
    result = subprocess.run([sys.executable, "-m", "snakemake", "--archive", str(archive), "--configfile",
                             str(config_path), "--cores", "1", "--workflow-profile", "none"],
                            cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    rebuilt = tmp_path / "rebuilt"
    rebuilt.mkdir()
    subprocess.run(["tar", "xzf", str(archive), "-C", str(rebuilt)], check=True)
    for needed in ("Snakefile", "requirements.lock", "opscore", "workflow/opscore/models/training.py",
                   "config/paper.yaml"):
        assert (rebuilt / needed).exists(), needed
    # rebuilt the way the first run was made (same threads per job: same arithmetic)
    run = "results/models/digits/70-30/seed-0/A2E/original/unfreeze-all"
    result = snakemake(rebuilt, TINY, f"{run}/weights.h5", root=rebuilt)
    assert result.returncode == 0, result.stderr[-3000:]
    again, first = (pd.read_parquet(d / run / "history.parquet") for d in (rebuilt, finished_run))
    assert again["val_accuracy"].tolist() == first["val_accuracy"].tolist()
    import h5py

    def kernels(store):
        found = {}
        store.visititems(lambda name, item: found.update({name: item[()]}) if isinstance(item, h5py.Dataset) else None)
        return found

    with h5py.File(finished_run / run / "weights.h5") as a, h5py.File(rebuilt / run / "weights.h5") as b:
        first_weights, rebuilt_weights = kernels(a), kernels(b)
    assert first_weights.keys() == rebuilt_weights.keys() and len(first_weights) >= 10  # five dense layers
    for name, value in first_weights.items():
        np.testing.assert_array_equal(value, rebuilt_weights[name], err_msg=name)
