"""A tabular CSV dataset (the fraud-detection case of Lee et al.) through the whole workflow with A2E."""
import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import ROOT, check_config, completed_run, planned_jobs, test_config
from conftest import run_snakemake as snakemake
from sklearn.datasets import load_breast_cancer

TINY = test_config("tiny")

# layer removal on A2E (an accordion fold pair) runs on a table in tests/test_imbalanced_workflow.py
VARIANTS = ["original", "prune-magnitude-s50", "tflite-dynamic", "quantize-q8"]


def write_table(path):
    """A real table: 569 tumours, 30 raw measurements on very different scales, text labels."""
    cancer = load_breast_cancer(as_frame=True)
    table = cancer.frame.drop(columns="target")
    table["diagnosis"] = np.array(cancer.target_names)[cancer.target]
    table.to_csv(path, index=False)
    return path


def tabular_config(table, **dataset_options):
    return {**TINY,
            "datasets": {"cancer": {"path": str(table), "label": "diagnosis", "splits": ["70-30"],
                                    **dataset_options}},
            "models": {"A2E": {"unfreeze": ["all"]}},
            "variants": VARIANTS,
            "training": {"epochs": 8, "batch_size": 32, "learning_rate": 0.001},
            "pruning": {"fine_tune_epochs": 1}}


@pytest.fixture(scope="module")
def tabular_run(tmp_path_factory):
    table = write_table(tmp_path_factory.mktemp("table") / "cancer.csv")
    return completed_run(tmp_path_factory, "tabular", tabular_config(table),
                         targets=("results/scores/cancer/ranking.csv", "results/figures/cancer/bubble.svg"))


@pytest.mark.slow
def test_csv_table_trains_a2e_and_every_variant_is_ranked(tabular_run):
    ranking = pd.read_csv(tabular_run / "results/scores/cancer/ranking.csv")
    ranked = ranking[ranking["row"] == "variant"].set_index("variant")
    assert sorted(ranked.index) == sorted(VARIANTS)
    assert set(ranked["model"]) == {"A2E"}
    baseline = pd.read_parquet(tabular_run / "results/measurements/cancer/70-30/seed-0/random-baseline.parquet")
    # raw columns span 0.001..4000: without the fitted normalization A2E would sit near the majority rate
    assert ranked.loc["original", "accuracy"] > 0.9 > baseline["accuracy"].iloc[0]
    assert ranked.loc["tflite-dynamic", "accuracy"] > 0.9
    assert ranked.loc["prune-magnitude-s50", "nonzero_params"] < 0.6 * ranked.loc["original", "params"]
    assert ranked["opscore"].notna().all()
    assert "quantize-q8" in (tabular_run / "results/figures/cancer/bubble.svg").read_text()


@pytest.mark.slow
def test_prepared_table_keeps_float_features_and_text_classes(tabular_run):
    with np.load(tabular_run / "results/data/cancer/70-30/seed-0.npz") as prepared:
        assert prepared["x_train"].dtype == np.float32 and prepared["x_train"].shape[1] == 30
        assert list(prepared["class_names"]) == ["benign", "malignant"]
        assert len(prepared["y_train"]) + len(prepared["y_test"]) == 569


def test_image_models_on_a_table_are_refused_before_running(tmp_path):
    table = write_table(tmp_path / "cancer.csv")
    config = tabular_config(table)
    config["models"] = {"A2E": {"unfreeze": ["all"]}, "MobileNetV2": {"unfreeze": [1]}}
    with pytest.raises(ValueError, match=r"cannot take.*models: \[A2E\]"):
        check_config(config)
    # restricting the table to A2E plans only A2E jobs for it
    config["datasets"]["cancer"]["models"] = ["A2E"]
    config["datasets"]["digits"] = {"splits": ["70-30"], "models": ["MobileNetV2"]}
    jobs = planned_jobs(snakemake(tmp_path, config, "-n"))
    assert jobs["train"] == 2  # A2E original on the table, MobileNetV2 original on digits


def test_a_table_needs_its_label_column(tmp_path):
    table = write_table(tmp_path / "cancer.csv")
    config = tabular_config(table)
    del config["datasets"]["cancer"]["label"]
    with pytest.raises(ValueError, match="needs `label:`"):
        check_config(config)


def test_lee_grid_plans_the_fraud_table_the_user_supplies(tmp_path):
    # the fraud table's layout (Time, V1..V28, Amount, Class) in a few rows, where config/lee.yaml expects it
    columns = ["Time", *(f"V{i}" for i in range(1, 29)), "Amount"]
    rows = np.random.default_rng(0).normal(size=(20, len(columns)))
    table = pd.DataFrame(rows, columns=columns).assign(Class=[0] * 18 + [1] * 2)
    (tmp_path / "resources").mkdir()
    table.to_csv(tmp_path / "resources/creditcard.csv", index=False)
    lee = yaml.safe_load((ROOT / "config/lee.yaml").read_text())
    jobs = planned_jobs(snakemake(tmp_path, lee, "-n"))
    assert jobs["train"] == 4  # AlexNet and VGG16 on CIFAR-10, A2E on MNIST and on the fraud table
    # pruned or quantized: AlexNet 10 variants, VGG16 9 (no layer removal), A2E 6 on each of its two datasets
    assert jobs["derive_model"] == 10 + 9 + 6 + 6 and jobs["evaluate"] == 4 + 31
    assert jobs["prepare_data"] == 3 and jobs["score"] == 3
    assert jobs["download_archive"] == 1 + 4 and jobs["download_weights"] == 1  # CIFAR-10, MNIST; VGG16 only
