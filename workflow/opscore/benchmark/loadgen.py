"""MLPerf LoadGen (``mlcommons-loadgen``, the MLPerf Inference harness) driving a predictor.

SingleStream issues one sample at a time, the next when the last is answered, and reports the
latency percentiles; Offline issues every sample at once and reports samples per second, the
system under test answering in batches of ``batch``. LoadGen judges a run valid when it met its
minimum query count and duration; its summary and detail logs are kept. LoadGen pre-generates its
queries from an expected latency or rate: we give it one from the warm-up, so a fast model is
not cut short (INVALID, "min duration not met") and a slow one does not make it generate
millions of queries.
"""
from __future__ import annotations

import array
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: LoadGen's logs kept per run (its accuracy log and trace are empty in performance mode)
KEPT_LOGS = ("mlperf_log_summary.txt", "mlperf_log_detail.txt")
#: the most samples per second a Python system under test can complete (a response object per
#: sample: ~3 µs here); Offline's expectation never exceeds it, so a model that answers a batch
#: in microseconds does not make LoadGen generate millions of samples
MAX_OFFLINE_RATE = 250_000


@dataclass(frozen=True)
class Settings:
    """``measure.loadgen`` of the config: SingleStream's minimum queries and seconds, Offline's
    minimum seconds and batch."""

    min_queries: int
    min_seconds: float
    offline_seconds: float
    batch: int


def version() -> str:
    from importlib.metadata import version as package_version

    return package_version("mlcommons-loadgen")


def read_detail_log(path: str | Path) -> dict:
    """The ``:::MLLOG`` records of a detail log as {key: value} (the last value of a key wins)."""
    values = {}
    for line in Path(path).read_text().splitlines():
        if line.startswith(":::MLLOG "):
            record = json.loads(line[len(":::MLLOG "):])
            values[record["key"]] = record["value"]
    return values


def _run(lg, issue, settings, outdir: Path, n_samples: int) -> dict:
    sut = lg.ConstructSUT(issue, lambda: None)
    qsl = lg.ConstructQSL(n_samples, n_samples, lambda indices: None, lambda indices: None)
    log = lg.LogSettings()
    outdir.mkdir(parents=True, exist_ok=True)
    log.log_output.outdir = str(outdir)
    log.log_output.copy_summary_to_stdout = False
    log.enable_trace = False
    try:
        lg.StartTestWithLogSettings(sut, qsl, settings, log)
    finally:
        lg.DestroyQSL(qsl)
        lg.DestroySUT(sut)
    for path in outdir.iterdir():
        if path.name not in KEPT_LOGS:
            path.unlink()
    return read_detail_log(outdir / "mlperf_log_detail.txt")


def single_stream(predict, samples: np.ndarray, settings: Settings, expected_seconds: float,
                  outdir: str | Path) -> tuple[dict, list[float]]:
    """Latency of one-sample queries: LoadGen's percentiles (ms), validity, and our own time of
    every query (the predictor alone, LoadGen's bookkeeping excluded)."""
    import mlperf_loadgen as lg

    response = array.array("B", bytes(4))
    pointer = response.buffer_info()[0]
    seconds: list[float] = []

    def issue(queries):
        for query in queries:
            start = time.perf_counter()
            predict(samples[query.index: query.index + 1])
            seconds.append(time.perf_counter() - start)
            lg.QuerySamplesComplete([lg.QuerySampleResponse(query.id, pointer, 4)])

    test = lg.TestSettings()
    test.scenario, test.mode = lg.TestScenario.SingleStream, lg.TestMode.PerformanceOnly
    test.min_query_count = settings.min_queries
    test.min_duration_ms = int(1000 * settings.min_seconds)
    # half the warm-up's latency: LoadGen generates about twice the queries it needs, never too few
    test.single_stream_expected_latency_ns = max(1, int(0.5e9 * expected_seconds))
    log = _run(lg, issue, test, Path(outdir), len(samples))
    result = {f"latency_{name}_ms": log[f"result_{key}_percentile_latency_ns"] / 1e6
              for name, key in (("p50", "50.00"), ("p90", "90.00"), ("p99", "99.00"))}
    result.update(latency_mean_ms=log["result_mean_latency_ns"] / 1e6, latency_queries=int(log["result_query_count"]),
                  single_stream_valid=log["result_validity"] == "VALID")
    return result, seconds


def offline(predict, samples: np.ndarray, settings: Settings, expected_per_second: float,
            outdir: str | Path) -> dict:
    """Throughput of one query of many samples, answered in batches of ``settings.batch``."""
    import mlperf_loadgen as lg

    response = array.array("B", bytes(4))
    pointer = response.buffer_info()[0]

    def issue(queries):
        for start in range(0, len(queries), settings.batch):
            chunk = queries[start: start + settings.batch]
            predict(samples[[query.index for query in chunk]])
            lg.QuerySamplesComplete([lg.QuerySampleResponse(query.id, pointer, 4) for query in chunk])

    test = lg.TestSettings()
    test.scenario, test.mode = lg.TestScenario.Offline, lg.TestMode.PerformanceOnly
    test.min_duration_ms = int(1000 * settings.offline_seconds)
    # twice the rate of the round's test pass: enough samples to fill the minimum duration
    test.offline_expected_qps = max(1.0, min(2.0 * expected_per_second, MAX_OFFLINE_RATE))
    log = _run(lg, issue, test, Path(outdir), len(samples))
    return {"throughput_samples_s": float(log["result_samples_per_second"]), "throughput_batch": settings.batch,
            "offline_valid": log["result_validity"] == "VALID"}
