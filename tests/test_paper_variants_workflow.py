"""The paper's trained variants on a keras.applications model: float16 and the clustered base."""
import json

import h5py
import numpy as np
import pandas as pd
import pytest
from conftest import completed_run, planned_jobs, test_config
from conftest import run_snakemake as snakemake

RUN = "results/models/digits/70-30/seed-0/MobileNetV2/{variant}/unfreeze-1"
CONFIG = test_config("paper_variants")
TARGETS = ("results/scores/digits/ranking.csv", "results/figures/digits/bubble.svg")


@pytest.fixture(scope="module")
def paper_run(tmp_path_factory):
    return completed_run(tmp_path_factory, "paper-variants", CONFIG, targets=TARGETS)


@pytest.fixture(scope="module")
def fast_float16() -> bool:
    """Whether this machine's device trains float16 fast (a GPU with tensor cores): the config's
    `float16.training: auto` then trains the variant in float16, elsewhere it rounds the original."""
    from opscore.compression.float16 import has_fast_float16

    return has_fast_float16()


@pytest.mark.slow
def test_float16_and_clustered_variants_are_ranked(paper_run, fast_float16):
    ranking = pd.read_csv(paper_run / "results/scores/digits/ranking.csv")
    mobilenet = ranking[ranking["model"] == "MobileNetV2"].set_index("variant")
    assert set(mobilenet.index) == {"original", "cluster-k16", "float16"}
    assert mobilenet.loc["float16", "precision"] == ("float16" if fast_float16 else "float16 (trained in float32)")
    assert abs(mobilenet.loc["float16", "accuracy"] - mobilenet.loc["original", "accuracy"]) <= 0.02
    assert mobilenet.loc["float16", "size_mb"] < 0.6 * mobilenet.loc["original", "size_mb"]
    assert mobilenet.loc["cluster-k16", "prep_time_s"] > 0


@pytest.mark.slow
def test_float16_trained_in_float32_is_the_originals_training_rounded(paper_run, fast_float16):
    """Trained in float32 (no fast float16 on this device), the float16 variant's training is the
    original's: taken, not repeated. Its weights are the original's rounded, its epochs the
    original's. On a GPU with tensor cores it is a training of its own, in float16."""
    def weights(variant):
        with h5py.File(paper_run / RUN.format(variant=variant) / "weights.h5") as store:
            return {name: store[name][()] for name in _datasets(store)}

    original, half = weights("original"), weights("float16")
    assert original.keys() == half.keys() and len(original) > 100
    # every kernel in float16; batch norm stays float32
    assert sum(v.size for v in half.values() if v.dtype == np.float16) > 0.95 * sum(v.size for v in half.values())
    if fast_float16:
        history = pd.read_parquet(paper_run / RUN.format(variant="float16") / "history.parquet")
        assert (history["trained_in"] == "float16").all()
        return
    for name, value in original.items():
        np.testing.assert_array_equal(half[name], value.astype(half[name].dtype), err_msg=name)
    histories = {variant: pd.read_parquet(paper_run / RUN.format(variant=variant) / "history.parquet")
                 for variant in ("original", "float16")}
    columns = ["epoch", "loss", "val_accuracy", "epoch_seconds", "trained_in"]
    pd.testing.assert_frame_equal(histories["float16"][columns], histories["original"][columns])
    assert (histories["float16"]["variant"] == "float16").all()
    log = paper_run / "results/logs/train/digits/70-30/seed-0/MobileNetV2/float16/unfreeze-1.log"
    assert "that is the original's training" in log.read_text()


@pytest.mark.slow
def test_clustered_base_holds_at_most_k_values(paper_run):
    info = json.loads((paper_run / "results/bases/MobileNetV2/cluster-k16.json").read_text())
    assert info["k"] == 16 and info["layers"] > 0
    with h5py.File(paper_run / RUN.format(variant="cluster-k16") / "weights.h5") as store:
        kernels = {name: store[name][()] for name in _datasets(store) if name.endswith("kernel:0")}
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


def _datasets(group, prefix=""):
    for key, item in group.items():
        if isinstance(item, h5py.Dataset):
            yield prefix + key
        else:
            yield from _datasets(item, prefix + key + "/")
