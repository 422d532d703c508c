"""The benchmark (opscore.benchmark): each variant in a process holding only its runtime, variants
alternated in rounds, MLPerf LoadGen's verdicts kept, contention read from the kernel."""
import os
import resource
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from opscore.benchmark import contention, loadgen
from opscore.benchmark.rounds import Candidate, Protocol, Worker, benchmark
from opscore.decide.score import rank_table
from opscore.runtimes import ModelInfo

SETTINGS = loadgen.Settings(min_queries=64, min_seconds=0.05, offline_seconds=0.05, batch=16)


def protocol(**changes) -> Protocol:
    values = dict(rounds=3, batch_size=32, threads=1, loadgen=SETTINGS, max_wait_share=0.05, unstable_cv=0.1,
                  max_workers=8, processes=1, seed=0)
    return Protocol(**{**values, **changes})


@pytest.fixture(scope="module")
def tiny_tflite(tmp_path_factory):
    """A small dense classifier of digits (with dropout and batch norm) as a TFLite flatbuffer, and
    the digits test images as model-ready requests."""
    from sklearn.datasets import load_digits

    from opscore.compression.tflite import convert_to_tflite
    from opscore.tf import keras

    folder = tmp_path_factory.mktemp("tiny")
    x = load_digits().images.reshape(-1, 64).astype("float32") / 16
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(32, activation="relu"),
                              keras.layers.BatchNormalization(), keras.layers.Dropout(0.2),
                              keras.layers.Dense(10, activation="softmax")])
    (folder / "model.tflite").write_bytes(convert_to_tflite(model, "dynamic"))
    np.savez(folder / "inputs.npz", x=x[:540], n_test=np.array(540), n_classes=np.array(10),
             input_size=np.array(32), sample_shape=np.array([64]))
    return folder


def candidate(folder, variant: str, artifact: str = "model.tflite") -> Candidate:
    identity = dict(dataset="digits", split="70-30", seed=0, model="A2E", variant=variant, unfreeze="all")
    return Candidate(identity, "litert", str(folder / artifact), ModelInfo(variant, "A2E", 10, 32, (64,)),
                     str(folder / "inputs.npz"))


def test_a_litert_process_holds_litert_alone_and_answers_each_round(tiny_tflite, tmp_path):
    worker = Worker(candidate(tiny_tflite, "tflite-dynamic"), "litert", protocol(), str(tiny_tflite / "inputs.npz"))
    try:
        assert worker.ready["imported"] == ["ai_edge_litert"]  # no TensorFlow, no other runtime
        assert worker.ready["load_time_s"] > 0 and worker.ready["n_test"] == 540
        result = worker.ask(do="round", round=1, outdir=str(tmp_path), max_wait_share=0.05)
    finally:
        end = worker.close()
    assert result["latency_p50_ms"] <= result["latency_p99_ms"] and result["latency_queries"] >= 64
    assert len(result["query_seconds"]) == result["latency_queries"]  # LoadGen's count, our own timings
    assert result["throughput_samples_s"] > 0 and isinstance(result["offline_valid"], bool)
    assert sorted(p.name for p in (tmp_path / "SingleStream").iterdir()) == sorted(loadgen.KEPT_LOGS)
    assert end["worker_peak_rss_mb"] >= worker.ready["deploy_peak_rss_mb"]


def test_the_deployed_memory_of_a_tiny_model_is_far_below_a_tensorflow_process(tiny_tflite, tmp_path):
    summary, _, _ = benchmark([candidate(tiny_tflite, "tflite-dynamic")], protocol(rounds=1), tmp_path)
    row = summary.iloc[0]
    tensorflow_process_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1000  # this one: TF imported
    assert row["deploy_peak_rss_mb"] < 0.25 * tensorflow_process_mb
    assert 0 < row["deploy_model_rss_mb"] < 30  # a 10 KB flatbuffer and its interpreter
    assert row["runtime_imports"] == "ai_edge_litert" and row["runtime"] == "litert"
    assert 0 < row["harness_latency_p50_us"] < 1000 * row["latency_p50_ms"] + 1000


def test_the_same_file_as_two_variants_is_timed_equal_within_the_tie_rule(tiny_tflite, tmp_path):
    shutil.copy(tiny_tflite / "model.tflite", tiny_tflite / "copy.tflite")
    pair = [candidate(tiny_tflite, "tflite-dynamic"), candidate(tiny_tflite, "tflite-float16", "copy.tflite")]
    summary, rounds, queries = benchmark(pair, protocol(rounds=10, processes=5), tmp_path)
    # each round both, in an order that changes: neither always first
    assert sorted(rounds.groupby("variant")["round"].count()) == [10, 10]
    firsts = rounds[rounds["position"] == 0]["variant"]
    assert len(firsts) == 10 and firsts.nunique() == 2
    assert list(rounds.groupby("variant")["process"].nunique()) == [5, 5]  # two rounds a process
    assert set(queries["variant"]) == {"tflite-dynamic", "tflite-float16"}
    # on the paper's basis (a pass over the test split a round); the p90 of a sub-millisecond model
    # is the load's more than the model's, and the one-spread rule calls ~5 % of equal pairs apart
    ranked = rank_table(summary.assign(accuracy=0.9, size_mb=0.01), time_basis="inference")
    assert ranked.set_index("variant")["time_ties"]["tflite-dynamic"] == "A2E/tflite-float16/all"


def test_a_busy_process_on_the_same_core_gets_the_rows_flagged(tiny_tflite, tmp_path):
    core = sorted(os.sched_getaffinity(0))[0]
    busy = subprocess.Popen([sys.executable, "-c", "import time\nend = time.time() + 120\nwhile time.time() < end: pass"])
    allowed = os.sched_getaffinity(0)
    try:
        os.sched_setaffinity(busy.pid, {core})
        os.sched_setaffinity(0, {core})  # the workers inherit it: the benchmark and the busy loop share a core
        summary, rounds, _ = benchmark([candidate(tiny_tflite, "tflite-dynamic")], protocol(rounds=2), tmp_path)
    finally:
        os.sched_setaffinity(0, allowed)
        busy.kill()
    assert rounds["contended"].all() and (rounds["wait_share"] > 0.2).all()
    assert bool(summary.iloc[0]["contended"]) and summary.iloc[0]["contended_rounds"] == 2


def test_the_contention_rule_reads_the_share_of_time_spent_waiting():
    start = contention.Snapshot(wall=0.0, cpu=0.0, ran_ns=0.0, waited_ns=0.0, load1=0.5, runnable=1.0)
    quiet = contention.Snapshot(wall=1.0, cpu=1.0, ran_ns=0.99e9, waited_ns=0.01e9, load1=0.5, runnable=1.0)
    shared = contention.Snapshot(wall=1.0, cpu=0.5, ran_ns=0.5e9, waited_ns=0.5e9, load1=2.0, runnable=3.0)
    calm, busy = contention.between(start, quiet, 0.05), contention.between(start, shared, 0.05)
    assert not calm["contended"] and calm["wait_share"] == pytest.approx(0.01)
    assert busy["contended"] and busy["wait_share"] == pytest.approx(0.5) and busy["runnable_end"] == 3.0
    assert contention.between(start, shared, 0.6)["contended"] is False  # the threshold is the config's


def test_the_contention_record_between_two_snapshots_word_for_word():
    """Every number is end minus start (a start at zero could not tell); the wait's share is of the time
    the threads wanted a CPU (ran + waited); a share at the threshold is not over it; no scheduler time,
    or none known (NaN off Linux), is no share and no flag."""
    start = contention.Snapshot(wall=10.0, cpu=4.0, ran_ns=3e9, waited_ns=1e9, load1=0.5, runnable=1.0)
    end = contention.Snapshot(wall=12.0, cpu=5.5, ran_ns=4.5e9, waited_ns=1.5e9, load1=2.5, runnable=3.0)
    record = {"wall_s": 2.0, "cpu_s": 1.5, "runqueue_wait_s": 0.5, "wait_share": 0.25, "load1_start": 0.5,
              "load1_end": 2.5, "runnable_start": 1.0, "runnable_end": 3.0}
    assert contention.between(start, end, 0.2) == {**record, "contended": True}
    assert contention.between(start, end, 0.25) == {**record, "contended": False}
    for idle in (start, contention.Snapshot(12.0, 5.5, float("nan"), float("nan"), 2.5, 3.0)):
        nothing = contention.between(start, idle, 0.0)
        assert np.isnan(nothing["wait_share"]) and nothing["contended"] is False


def test_a_live_snapshot_counts_this_process_time():
    start = contention.snapshot()
    sum(i * i for i in range(2_000_000))
    measured = contention.between(start, contention.snapshot(), 0.05)
    assert measured["cpu_s"] > 0.01 and measured["runqueue_wait_s"] >= 0 and 0 <= measured["wait_share"] <= 1


def test_loadgen_detail_logs_are_read_record_by_record(tmp_path):
    log = tmp_path / "mlperf_log_detail.txt"
    log.write_text(':::MLLOG {"key": "result_validity", "value": "INVALID"}\nnoise\n'
                   ':::MLLOG {"key": "result_validity", "value": "VALID"}\n')
    assert loadgen.read_detail_log(log) == {"result_validity": "VALID"}


def test_a_worker_that_cannot_load_says_so(tiny_tflite, tmp_path):
    from opscore.benchmark.rounds import WorkerError

    broken = tmp_path / "broken.tflite"
    broken.write_bytes(b"not a flatbuffer")
    with pytest.raises(WorkerError, match="ended .exit code 1. without answering"):
        Worker(candidate(tmp_path, "tflite-int8", "broken.tflite"), "litert", protocol(),
               str(tiny_tflite / "inputs.npz"))


def test_rounds_are_frames_of_every_measurement(tiny_tflite, tmp_path):
    summary, rounds, queries = benchmark([candidate(tiny_tflite, "tflite-dynamic")], protocol(rounds=2), tmp_path)
    assert isinstance(summary, pd.DataFrame) and list(rounds["round"]) == [1, 2]
    assert summary.iloc[0]["latency_p90_ms"] == pytest.approx(rounds["latency_p90_ms"].median())
    assert summary.iloc[0]["inference_time_s"] == pytest.approx(2 * rounds["pass_s"].median())
    assert summary.iloc[0]["latency_queries"] == rounds["latency_queries"].sum() == len(queries)


def test_the_runs_manifests_give_the_datasets_candidates_in_the_grids_order(tmp_path):
    """The benchmark reads one manifest per (split, seed) run (its fan-in is the runs, not the
    variants): together they are the dataset's experiments, in order, with their runtimes."""
    from conftest import test_config

    from opscore import config as settings
    from opscore.benchmark.rounds import candidates_from_manifests, write_manifest

    config = test_config("tiny")
    config.update(datasets={"digits": {"splits": ["70-30", "50-50"]}}, seeds=[0, 1],
                  variants=["original", "tflite-dynamic"])
    config = settings.complete(config)
    np.savez(tmp_path / "inputs.npz", n_classes=np.array(10), input_size=np.array(32), sample_shape=np.array([8, 8, 1]))
    manifests = []
    for run in settings.dataset_runs(config, "digits"):
        runs = settings.experiments(config, "digits", run["split"], str(run["seed"]))  # a wildcard's seed: text
        assert {(r["split"], r["seed"]) for r in runs} == {(run["split"], run["seed"])} and len(runs) == 2
        manifests.append(tmp_path / f"{run['split']}-{run['seed']}.json")
        artifacts = [tmp_path / f"{r['variant']}.artifact" for r in runs]
        for artifact in artifacts:
            artifact.write_bytes(b"weights")
        write_manifest(manifests[-1], runs, [str(a) for a in artifacts], [str(tmp_path / "inputs.npz")] * 2)
    candidates = candidates_from_manifests([str(path) for path in manifests])
    assert [c.identity for c in candidates] == [{**run, "seed": int(run["seed"])}
                                                for run in settings.experiments(config, "digits")]
    assert [c.runtime for c in candidates] == ["tensorflow", "litert"] * 4
    assert candidates[1].artifact == str(tmp_path / "tflite-dynamic.artifact")
    assert candidates[1].model.sample_shape == (8, 8, 1)
    # an empty artifact (its kind not applicable to the model) is nothing to time
    (tmp_path / "tflite-dynamic.artifact").write_bytes(b"")
    write_manifest(manifests[0], runs, [str(tmp_path / f"{r['variant']}.artifact") for r in runs],
                   [str(tmp_path / "inputs.npz")] * 2)
    assert [c.runtime for c in candidates_from_manifests([str(manifests[0])])] == ["tensorflow"]


def test_the_tables_of_runs_stack_and_none_make_an_empty_table(tmp_path):
    from opscore.job import read_parquets

    for seed in (0, 1):
        pd.DataFrame({"seed": [seed, seed], "accuracy": [0.5, 0.6]}).to_parquet(tmp_path / f"{seed}.parquet")
    table = read_parquets([tmp_path / "0.parquet", tmp_path / "1.parquet"])
    assert list(table["seed"]) == [0, 0, 1, 1] and list(table.index) == [0, 1, 2, 3]
    assert read_parquets([]).empty
