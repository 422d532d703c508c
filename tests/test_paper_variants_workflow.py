"""The paper's clustered base on a keras.applications model (its float16 variant runs end to end on A2E in
tests/test_imbalanced_workflow.py)."""
import json

import h5py
import numpy as np
import pandas as pd
import pytest
from conftest import completed_run, h5_datasets, planned_jobs, test_config
from conftest import run_snakemake as snakemake

RUN = "results/models/digits/70-30/seed-0/MobileNetV2/{variant}/unfreeze-1"
CONFIG = test_config("paper_variants")
TARGETS = ("results/scores/digits/ranking.csv", "results/figures/digits/bubble.svg")


@pytest.fixture(scope="module")
def paper_run(tmp_path_factory):
    return completed_run(tmp_path_factory, "paper-variants", CONFIG, targets=TARGETS)


@pytest.mark.slow
def test_clustered_variant_is_ranked(paper_run):
    ranking = pd.read_csv(paper_run / "results/scores/digits/ranking.csv")
    mobilenet = ranking[ranking["model"] == "MobileNetV2"].set_index("variant")
    assert set(mobilenet.index) == {"cluster-k16"}
    assert mobilenet.loc["cluster-k16", "prep_time_s"] > 0


@pytest.mark.slow
def test_clustered_base_holds_at_most_k_values(paper_run):
    info = json.loads((paper_run / "results/bases/MobileNetV2/cluster-k16.json").read_text())
    assert info["k"] == 16 and info["layers"] > 0
    with h5py.File(paper_run / RUN.format(variant="cluster-k16") / "weights.h5") as store:
        kernels = {name: store[name][()] for name in h5_datasets(store) if name.endswith("kernel:0")}
    frozen = {name: kernel for name, kernel in kernels.items() if not name.startswith("head_dense")}
    assert frozen and all(len(np.unique(kernel)) <= 16 for kernel in frozen.values())
    assert len(np.unique(kernels["head_dense/head_dense/kernel:0"])) > 16  # the trained head is free


@pytest.mark.slow
def test_a_new_k_adds_only_its_jobs(paper_run):
    more = {**CONFIG, "variants": [*CONFIG["variants"], "cluster-k32"]}
    assert planned_jobs(snakemake(paper_run, more, "-n", *TARGETS)) == {
        "cluster_base": 1, "train": 1, "evaluate": 1, "benchmark_candidates": 1, "benchmark": 1, "collect_run": 1,
        "collect_measurements": 1, "score": 1, "plot": 1}
    # the dataset is timed again, with the new variant (every timing compared taken alike); its run's
    # manifest and table take it in, the dataset's aggregates follow


@pytest.mark.slow
def test_a_chain_on_the_clustered_base_starts_from_its_clustering_record(paper_run):
    """cluster-k16+tflite-dynamic: its derive job reads the base's clustering record, the chain's
    first step (opscore.jobs.derivation.prefix_record), so prep_time_s counts the clustering."""
    chain = {**CONFIG, "variants": [*CONFIG["variants"], "cluster-k16+tflite-dynamic"]}
    plan = snakemake(paper_run, chain, "-n", *TARGETS).stdout
    derive = plan[plan.index("rule derive_tflite:"):].split("\n\n", 1)[0]
    inputs = next(line for line in derive.splitlines() if line.strip().startswith("input:"))
    assert "results/bases/MobileNetV2/cluster-k16.json" in inputs
    assert RUN.format(variant="cluster-k16") + "/weights.h5" in inputs

