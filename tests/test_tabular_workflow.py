"""A tabular CSV dataset (the fraud-detection case of Lee et al.) through the whole workflow with A2E,
and the user's paths on that small real run: prune-units, clustering after training (an added
variant), a constrained selection, the latency basis through ./opscore run, and what a changed config reruns."""
import json
import shutil
import subprocess

import h5py
import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import ROOT, check_config, planned_jobs, shared_run, snakemake_env, test_config
from conftest import run_snakemake as snakemake
from sklearn.datasets import load_breast_cancer
from opscore.report.studies.chains import chain_steps_table

TINY = test_config("tiny")

# layer removal on A2E (an accordion fold pair) runs on a table in tests/test_imbalanced_workflow.py;
# prune-units-b5 searches A2E's hidden units with one real fine-tuning epoch after each step;
# clustering after training (clustering.order: after-training, a derive_model job) is the variant
# test_an_added_variant_runs_only_its_jobs adds. No variant here is both the most accurate and the
# smallest (tflite-int8 is the smallest, quantize-q8 among the most accurate): whichever has the best
# OpScore, a constraint on quality or size can rule it out. A chain ending in ONNX Runtime's int8
# (one derive_onnx job) is measured in ONNX Runtime beside LiteRT and TensorFlow; its prefix,
# magnitude pruning, is derived for it and not measured on its own (not a variant of the config).
VARIANTS = ["original", "tflite-int8", "quantize-q8", "prune-units-b5", "prune-magnitude-s50+onnx-dynamic"]
RUN = "results/models/cancer/70-30/seed-0/A2E/{variant}/unfreeze-all"
SCORES = "results/scores/cancer"
TARGETS = (f"{SCORES}/ranking.csv", f"{SCORES}/selection.json", "results/figures/cancer/bubble.svg")


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
            "clustering": {"order": "after-training"},
            "fine_tuning": {"epochs": 1}}


def cancer_run(tmp_path_factory):
    """The run of :func:`tabular_config` on the cancer table, made once per session for this module
    and tests/test_integrity.py (conftest.shared_run): read it, copy it to change it."""
    return shared_run(tmp_path_factory, "cancer", lambda home: tabular_config(write_table(home / "cancer.csv")),
                      TARGETS)


@pytest.fixture(scope="module")
def tabular_run(tmp_path_factory):
    return cancer_run(tmp_path_factory)


def rerun_copy(tabular_run, tmp_path):
    """A copy of the finished run (files, their times and Snakemake's records) that a test may change,
    and its config."""
    copy = tmp_path / "run"
    shutil.copytree(tabular_run, copy, symlinks=True)
    return copy, yaml.safe_load((tabular_run / "config.yaml").read_text())


def times(workdir, paths) -> dict:
    return {path: (workdir / path).stat().st_mtime_ns for path in paths}


@pytest.mark.slow
def test_csv_table_trains_a2e_and_every_variant_is_ranked(tabular_run):
    ranking = pd.read_csv(tabular_run / "results/scores/cancer/ranking.csv")
    ranked = ranking[ranking["row"] == "variant"].set_index("variant")
    assert sorted(ranked.index) == sorted(VARIANTS)
    assert set(ranked["model"]) == {"A2E"}
    baseline = pd.read_parquet(tabular_run / "results/measurements/cancer/70-30/seed-0/random-baseline.parquet")
    # raw columns span 0.001..4000: without the fitted normalization A2E would sit near the majority rate
    assert ranked.loc["original", "accuracy"] > 0.9 > baseline["accuracy"].iloc[0]
    assert ranked.loc["tflite-int8", "accuracy"] > 0.9  # int8 calibrated on table rows
    # magnitude pruning (the ONNX chain's prefix) keeps the shapes and zeroes half the pruned kernels
    pruned = json.loads((tabular_run / RUN.format(variant="prune-magnitude-s50") / "preparation.json").read_text())
    assert pruned["compression"]["params_pruned"] == pruned["compression"]["params_original"] == \
        ranked.loc["original", "params"]
    assert pruned["compression"]["nonzero_params_pruned"] < 0.6 * ranked.loc["original", "params"]
    assert ranked["opscore"].notna().all()
    assert "quantize-q8" in (tabular_run / "results/figures/cancer/bubble.svg").read_text()
    # each variant's quality was measured in a process holding its runtime alone (its memory is that runtime's)
    measured = pd.read_parquet(tabular_run / "results/tables/cancer/measurements.parquet").set_index("variant")
    assert measured.loc["tflite-int8", "job_runtime_imports"] == "ai_edge_litert"
    assert measured.loc["prune-magnitude-s50+onnx-dynamic", "job_runtime_imports"] == "onnxruntime"
    assert set(measured.loc["original", "job_runtime_imports"].split(",")) >= {"tensorflow", "tf_keras"}
    assert measured.loc["tflite-int8", "job_peak_rss_mb"] < measured.loc["original", "job_peak_rss_mb"]


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
    # pruned or quantized: AlexNet 10 variants, VGG16 9 (no layer removal), A2E 7 on each of its two datasets
    # (prune-layers-b5+prune-units-b5 one job more: its prefix is prune-layers-b5's)
    assert jobs["derive_model"] == 10 + 9 + 7 + 7 and jobs["evaluate"] == 4 + 33
    assert jobs["prepare_data"] == 3 and jobs["score"] == 3
    assert jobs["download_archive"] == 1 + 4 and jobs["download_weights"] == 1  # CIFAR-10, MNIST; VGG16 only


# ----------------------------------------------------------------------------- the user's paths


@pytest.mark.slow
def test_units_are_pruned_with_a_real_fine_tuning_epoch(tabular_run):
    ranked = pd.read_csv(tabular_run / f"{SCORES}/ranking.csv").set_index("variant")
    # prune-units: fewer parameters, each step judged after one real fine-tuning epoch
    info = json.loads((tabular_run / RUN.format(variant="prune-units-b5") / "preparation.json").read_text())
    steps = pd.read_parquet(tabular_run / RUN.format(variant="prune-units-b5") / "preparation.parquet")
    assert info["technique"] == "prune-units" and info["fine_tune_epochs"] == 1
    assert set(steps["action"]) == {"prune-units"} and steps["accepted"].any()
    assert (steps.loc[steps["accepted"], "drop"] <= 0.05).all()  # the 5-point budget on the held-out split
    assert ranked.loc["prune-units-b5", "params"] < ranked.loc["original", "params"]
    assert ranked.loc["prune-units-b5", "params"] == info["compression"]["params_pruned"]
    assert ranked.loc["prune-units-b5", "accuracy"] > 0.85


def _kernels(group, prefix="") -> dict:
    found = {}
    for key, item in group.items():
        if isinstance(item, h5py.Dataset):
            if key.startswith("kernel"):
                found[prefix + key] = item[()]
        else:
            found.update(_kernels(item, prefix + key + "/"))
    return found


@pytest.mark.slow
def test_a_constraint_on_quality_and_size_moves_the_recommendation_and_reruns_only_the_selection(
        tabular_run, tmp_path):
    unconstrained = json.loads((tabular_run / f"{SCORES}/selection.json").read_text())
    ranked = pd.read_csv(tabular_run / f"{SCORES}/ranking.csv")
    ranked = ranked[ranked["row"] == "variant"].sort_values("opscore")
    best = ranked.iloc[0]
    assert unconstrained["recommended"]["variant"] == best["variant"] and unconstrained["constraints"] == {}
    # Constraints the best OpScore breaks: a quality between its own and that of a more accurate
    # variant, or else a size between its own and that of a larger one; the other constraint set so
    # that the original's file is too big.
    more_accurate = ranked.loc[ranked["accuracy"] > best["accuracy"], "accuracy"]
    original_size = float(ranked.loc[ranked["variant"] == "original", "size_mb"].iloc[0])
    if len(more_accurate):
        constraints = {"min_metric": (best["accuracy"] + more_accurate.min()) / 2, "max_size_mb": 0.9 * original_size}
    else:
        smaller = ranked.loc[ranked["size_mb"] < best["size_mb"], "size_mb"]
        assert len(smaller), f"{best['variant']} is both the most accurate and the smallest:\n{ranked}"
        constraints = {"min_metric": 0.5, "max_size_mb": (best["size_mb"] + smaller.max()) / 2}
    constraints = {name: float(limit) for name, limit in constraints.items()}
    feasible = ranked[(ranked["accuracy"] >= constraints["min_metric"]) & (ranked["size_mb"] <= constraints["max_size_mb"])]
    assert len(feasible) >= 1, ranked

    copy, config = rerun_copy(tabular_run, tmp_path)
    config["select"] = constraints
    untouched = times(copy, [f"{SCORES}/ranking.parquet", f"{SCORES}/ranking.csv",
                             "results/tables/cancer/measurements.parquet"])
    # the selection, and the bubble chart, which draws the constraints; nothing measured or scored again
    assert planned_jobs(snakemake(copy, config, "-n", *TARGETS)) == {"select_variant": 1, "plot": 1}
    assert planned_jobs(snakemake(copy, config, *TARGETS)) == {"select_variant": 1, "plot": 1}
    assert times(copy, untouched) == untouched
    selection = json.loads((copy / f"{SCORES}/selection.json").read_text())
    assert selection["constraints"] == pytest.approx(constraints)
    assert selection["recommended"]["variant"] == feasible.iloc[0]["variant"] != best["variant"]
    assert selection["feasible"] == len(feasible)
    rejected = {r["variant"].split("/")[1]: {b["constraint"] for b in r["breaks"]} for r in selection["rejected"]}
    assert rejected[best["variant"]] & {"min_metric", "max_size_mb"}
    assert "max_size_mb" in rejected["original"]
    assert "Recommended: A2E / " + feasible.iloc[0]["variant"] in (copy / f"{SCORES}/selection.md").read_text()


@pytest.mark.slow
def test_opscore_run_on_the_latency_basis_rescores_without_remeasuring(tabular_run, tmp_path):
    copy, config = rerun_copy(tabular_run, tmp_path)
    config["score"]["time_basis"] = "latency"
    (copy / "config.yaml").write_text(yaml.safe_dump(config))
    measured = times(copy, ["results/tables/cancer/measurements.parquet",
                            *(p.relative_to(copy) for p in copy.glob("results/measurements/**/*.parquet"))])
    assert planned_jobs(snakemake(copy, config, "-n", *TARGETS)) == {"score": 1, "select_variant": 1, "plot": 1}
    # the user's command: the launcher runs the workflow, then builds the report
    result = subprocess.run([str(ROOT / "opscore"), "run", "--configfile", str(copy / "config.yaml"),
                             "--directory", str(copy), *TARGETS], capture_output=True, text=True, timeout=900,
                            env=snakemake_env())
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "opscore: done" in result.stdout
    assert times(copy, measured) == measured  # nothing measured again
    report = (copy / "results/report.html").read_text()  # the ranking, the decision, the figures
    assert "1. Which variant to ship" in report
    for name in ("ranking.csv", "selection.md", "bubble.svg"):
        assert name in report, name
    ranked = pd.read_csv(copy / f"{SCORES}/ranking.csv")
    ranked = ranked[ranked["row"] == "variant"]
    assert (ranked["time_basis"] == "latency").all()
    np.testing.assert_allclose(ranked["time_s"], ranked["latency_p90_ms"] / 1000)
    expected = (np.log10((1 - ranked["accuracy"]).clip(lower=1 / ranked["n_test"])) + np.log10(ranked["time_s"])
                + np.log10(ranked["size_mb"]))
    np.testing.assert_allclose(ranked["opscore"], expected)
    selection = json.loads((copy / f"{SCORES}/selection.json").read_text())
    assert selection["recommended"]["variant"] == ranked.sort_values("opscore").iloc[0]["variant"]


@pytest.mark.slow
def test_an_added_variant_runs_only_its_jobs(tabular_run, tmp_path):
    """cluster-k16 added after the run: only its jobs (and the dataset's re-timing) are planned; made
    for real, it is the trained model's kernels clustered by derive_model, not a training."""
    copy, config = rerun_copy(tabular_run, tmp_path)
    config["variants"] = [*config["variants"], "cluster-k16"]
    kept = times(copy, [f"{RUN.format(variant=v)}/{artifact}" for v, artifact in
                        (("original", "weights.h5"), ("quantize-q8", "model.h5"), ("prune-units-b5", "model.h5"))])
    # each variant's own measurements (the run's table of them is remade with the new variant)
    kept |= times(copy, [p.relative_to(copy) for p in copy.glob("results/measurements/**/unfreeze-*/metrics.parquet")])
    # its own jobs, its run's manifest and table, and the dataset timed again with it (every timing alike)
    jobs = {"derive_model": 1, "evaluate": 1, "benchmark_candidates": 1, "benchmark": 1, "collect_run": 1,
            "collect_measurements": 1, "score": 1, "select_variant": 1, "plot": 1}
    assert planned_jobs(snakemake(copy, config, "-n", *TARGETS)) == jobs
    # its own jobs for real, in Snakemake's own words (timing the dataset again costs a process per
    # variant; the main run ranks every variant): the rest of the plan is then what is left
    metrics = RUN.format(variant="cluster-k16").replace("models", "measurements") + "/metrics.parquet"
    assert planned_jobs(snakemake(copy, config, metrics)) == {"derive_model": 1, "evaluate": 1}
    assert times(copy, kept) == kept  # the other variants' models and measurements as they were
    left = {rule: n for rule, n in jobs.items() if rule not in ("derive_model", "evaluate")}
    assert planned_jobs(snakemake(copy, config, "-n", *TARGETS)) == left

    # clustering after training: the trained model's kernels clustered, the biases free
    clustered = copy / RUN.format(variant="cluster-k16")
    assert not (clustered / "history.parquet").exists()  # not trained
    with h5py.File(clustered / "model.h5") as model, h5py.File(copy / RUN.format(variant="original") / "weights.h5") \
            as original:
        clustered_kernels = _kernels(model["model_weights"])
        original_kernels = _kernels(original)
    assert clustered_kernels.keys() == original_kernels.keys() and len(clustered_kernels) >= 5
    for name, kernel in clustered_kernels.items():
        assert len(np.unique(kernel)) <= 16 < len(np.unique(original_kernels[name])), name
    assert pd.read_parquet(copy / metrics)["accuracy"].iloc[0] > 0.85


@pytest.mark.slow
def test_a_chain_ending_in_onnx_dynamic_is_measured_in_onnx_runtime(tabular_run):
    """prune-magnitude-s50+onnx-dynamic: the pruned model exported and quantized by ONNX Runtime,
    its quality and timing taken in ONNX Runtime (the benchmark's process holds it alone), its
    fidelity to the pruned Keras model and the runtime in its row."""
    chain = "prune-magnitude-s50+onnx-dynamic"
    assert (tabular_run / RUN.format(variant=chain) / "model.onnx").stat().st_size > 0
    info = json.loads((tabular_run / RUN.format(variant=chain) / "preparation.json").read_text())
    assert [step["step"] for step in info["steps"]] == ["prune-magnitude-s50", "onnx-dynamic"]
    measurements = pd.read_parquet(tabular_run / "results/tables/cancer/measurements.parquet").set_index("variant")
    # beside the original (the pruned Keras model's weights file is the same size: zeros are stored)
    row, original = measurements.loc[chain], measurements.loc["original"]
    assert (row["runtime"], row["runtime_imports"], row["execution_provider"]) == (
        "onnxruntime", "onnxruntime", "CPUExecutionProvider")
    assert json.loads(row["threads"])["intra_op_threads"] >= 1 and row["onnx_opset"] == 17
    assert row["precision"] == "int8 weights, float32 activations"
    assert row["fidelity_argmax_agreement"] >= 0.95 and row["fidelity_max_abs_diff"] < 0.2
    assert row["size_mb"] < 0.5 * original["size_mb"] and row["kernel_nonzero_share"] < 0.6  # int8, zeros kept
    assert row["accuracy"] > 0.85 and row["inference_time_s"] > 0
    assert (original["runtime"], original["execution_provider"]) == ("tensorflow", "CPU")
    ranked = pd.read_csv(tabular_run / f"{SCORES}/ranking.csv")
    assert chain in set(ranked["variant"]) and "onnxruntime" in set(ranked["runtime"].dropna())
    # the chain drawn as its steps: what each step made, recorded by the step's own job
    steps = chain_steps_table(measurements.reset_index()).set_index("step_number")
    assert list(steps["made"]) == ["original", "prune-magnitude-s50", chain] and set(steps["variant"]) == {chain}
    assert steps.loc[0, "size_compressed_mb"] == pytest.approx(original["size_compressed_mb"])
    assert steps.loc[1, "params"] == original["params"] and 0.4 < steps.loc[1, "kernel_nonzero_share"] <= 0.55
    assert steps.loc[1, "held_out"] > 0.85 and steps.loc[1, "seconds"] > 0 and steps.loc[2, "seconds"] > 0
    assert steps.loc[2, "size_compressed_mb"] < steps.loc[1, "size_compressed_mb"] < steps.loc[0, "size_compressed_mb"]
    assert steps.loc[2, "size_compressed_mb"] == pytest.approx(row["size_compressed_mb"])
