"""Every structural technique makes a variant artifact that reaches the ranking table and the bubble chart."""
import json

import pandas as pd
import pytest
from conftest import completed_run, test_config

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
    assert sorted(ranked["variant"]) == sorted(VARIANTS)
    assert ranked["opscore"].notna().all() and (ranked["size_mb"] > 0).all()
    bubble = (variants_run / "results/figures/digits/bubble.svg").read_text()
    for variant in VARIANTS:
        assert variant in bubble, variant
    by_variant = ranked.set_index("variant")
    # physically smaller: fewer parameters and a smaller file than the original
    assert by_variant.loc["prune-filters-b50", "params"] < by_variant.loc["original", "params"]
    assert by_variant.loc["prune-filters-b50", "size_mb"] < by_variant.loc["original", "size_mb"]
    assert by_variant.loc["prune-filters-b50", "prep_time_s"] > 0
    # every kernel stored int8 (one scale per unit or filter): a quarter of the file, the same predictions
    int8 = by_variant.loc["quantize-q8-c8"]
    assert int8["precision"] == "int8 dense, int8 convolutions, float32 elsewhere"
    assert int8["size_mb"] < 0.3 * by_variant.loc["original", "size_mb"]
    assert abs(int8["accuracy"] - by_variant.loc["original", "accuracy"]) <= 0.02
    assert int8["params"] == by_variant.loc["original", "params"]


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
    # what judged and fine-tuned it is recorded: the config's held-out share and rate (not the training's)
    assert (preparation["held_out_share"], preparation["fine_tune_learning_rate"]) == (0.1, 0.0005)
