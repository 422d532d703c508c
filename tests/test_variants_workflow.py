"""Every technique makes a variant artifact that reaches the ranking table and the bubble chart."""
import json

import h5py
import numpy as np
import pandas as pd
import pytest
from conftest import completed_run, planned_jobs, test_config
from conftest import run_snakemake as snakemake

RUN = "results/models/digits/70-30/seed-0/{model}/{variant}/unfreeze-{unfreeze}"
CONFIG = test_config("variants")
TARGETS = ("results/scores/digits/ranking.csv", "results/figures/digits/bubble.svg")
VARIANTS = CONFIG["variants"]


@pytest.fixture(scope="module")
def variants_run(tmp_path_factory):
    return completed_run(tmp_path_factory, "variants", CONFIG, targets=TARGETS)


@pytest.mark.slow
def test_every_variant_is_ranked_and_drawn(variants_run):
    ranking = pd.read_csv(variants_run / "results/scores/digits/ranking.csv")
    ranked = ranking[(ranking["row"] == "variant") & (ranking["model"] == "AlexNet")]
    assert sorted(ranked["variant"]) == sorted(set(VARIANTS) - {"cluster-k16", "float16"})
    mobilenet = ranking[ranking["model"] == "MobileNetV2"].set_index("variant")
    assert set(mobilenet.index) == {"original", "cluster-k16", "float16"}
    assert ranked["opscore"].notna().all() and (ranked["size_mb"] > 0).all()
    bubble = (variants_run / "results/figures/digits/bubble.svg").read_text()
    for variant in VARIANTS:
        assert variant in bubble, variant
    by_variant = ranked.set_index("variant")
    assert mobilenet.loc["float16", "precision"] == "float16 (trained in float32)"  # no fast float16 here
    assert abs(mobilenet.loc["float16", "accuracy"] - mobilenet.loc["original", "accuracy"]) <= 0.02
    assert by_variant.loc["tflite-int8", "precision"] == "int8"
    # physically smaller: fewer parameters and a smaller file than the original
    assert by_variant.loc["prune-filters-b50", "params"] < by_variant.loc["original", "params"]
    assert by_variant.loc["prune-filters-b50", "size_mb"] < by_variant.loc["original", "size_mb"]
    # magnitude pruning keeps the shapes and zeroes half the pruned kernels
    assert by_variant.loc["prune-magnitude-s50", "params"] == by_variant.loc["original", "params"]
    assert by_variant.loc["prune-magnitude-s50", "nonzero_params"] < 0.6 * by_variant.loc["original", "params"]
    assert mobilenet.loc["float16", "size_mb"] < 0.6 * mobilenet.loc["original", "size_mb"]
    for variant in ("prune-filters-b50", "tflite-int8"):
        assert by_variant.loc[variant, "prep_time_s"] > 0, variant
    assert mobilenet.loc["cluster-k16", "prep_time_s"] > 0


@pytest.mark.slow
def test_clustered_base_holds_at_most_k_values(variants_run):
    info = json.loads((variants_run / "results/bases/MobileNetV2/cluster-k16.json").read_text())
    assert info["k"] == 16 and info["layers"] > 0
    weights = variants_run / RUN.format(model="MobileNetV2", variant="cluster-k16", unfreeze=1) / "weights.h5"
    with h5py.File(weights) as store:
        kernels = {name: store[name][()] for name in _datasets(store) if name.endswith("kernel:0")}
    frozen = {name: kernel for name, kernel in kernels.items() if not name.startswith("head_dense")}
    assert frozen and all(len(np.unique(kernel)) <= 16 for kernel in frozen.values())
    assert len(np.unique(kernels["head_dense/head_dense/kernel:0"])) > 16  # the trained head is free


@pytest.mark.slow
def test_pruning_records_its_sensitivity_order(variants_run):
    preparation = json.loads((variants_run / RUN.format(model="AlexNet", variant="prune-filters-b50", unfreeze="all")
                              / "preparation.json").read_text())
    steps = pd.read_parquet(variants_run / RUN.format(model="AlexNet", variant="prune-filters-b50", unfreeze="all")
                            / "preparation.parquet")
    assert preparation["compression"]["params_ratio"] > 1
    tried = steps[steps["action"] == "prune-filters"]["layer"].tolist()
    assert tried == preparation["order"]  # on_rejection: skip tries every layer, in the recorded sensitivity order
    assert steps["accepted"].astype(bool).any()


@pytest.mark.slow
def test_donor_is_trained_before_the_transfer_and_a_new_k_adds_only_its_jobs(variants_run):
    log = (variants_run / "results/logs/train/digits/70-30/seed-0/AlexNet/transfer-AlexNet-top2/unfreeze-all.log")
    assert "transferred head_dense -> head_dense" in log.read_text()
    more = {**CONFIG, "variants": {**VARIANTS, "cluster-k32": {"models": ["MobileNetV2"]}}}
    assert planned_jobs(snakemake(variants_run, more, "-n", *TARGETS)) == {
        "cluster_base": 1, "train": 1, "evaluate": 1, "collect_measurements": 1, "score": 1, "plot": 1}


def _datasets(group, prefix=""):
    for key, item in group.items():
        if isinstance(item, h5py.Dataset):
            yield prefix + key
        else:
            yield from _datasets(item, prefix + key + "/")
