"""The benchmark's isolated process (opscore.benchmark.worker): it holds its runtime alone, answers each
round, and says so when it cannot load."""

import pytest

from conftest import candidate, protocol
from opscore.benchmark import loadgen
from opscore.benchmark.rounds import Worker


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


def test_a_worker_that_cannot_load_says_so(tiny_tflite, tmp_path):
    from opscore.benchmark.rounds import WorkerError

    broken = tmp_path / "broken.tflite"
    broken.write_bytes(b"not a flatbuffer")
    with pytest.raises(WorkerError, match="ended .exit code 1. without answering"):
        Worker(candidate(tmp_path, "tflite-int8", "broken.tflite"), "litert", protocol(),
               str(tiny_tflite / "inputs.npz"))
