"""Latency as a deployment sees it: one request at a time, batch 1, percentiles.

The paper's timing (R passes over the whole test split, batched) measures throughput. A service
answers one request after another; what it promises is a percentile of single requests. So, after
MLPerf Inference's single-stream scenario: queries of one image (or table row) each, issued one
after another, warm-up queries excluded, at least ``min_queries`` queries and ``min_seconds``
seconds, and the 50th/90th/99th percentiles and the mean of the per-query times. Every query's
time is kept. Beside it, the load time: from the file on disk to the first prediction (what a
cold start costs), as TFLite's benchmark_model reports "init" and "first inference".
"""
from __future__ import annotations

import time

import numpy as np


def single_stream(predict_one, samples: np.ndarray, min_queries: int = 200, min_seconds: float = 2.0,
                  warmup: int = 10, max_queries: int = 100_000) -> list[float]:
    """Seconds of each query ``predict_one(samples[i:i+1])``, cycling through ``samples``, after
    ``warmup`` untimed queries, until both ``min_queries`` queries and ``min_seconds`` seconds
    are done (``max_queries`` bounds a very fast model)."""
    if len(samples) == 0:
        raise ValueError("single_stream needs at least one sample to query with")
    for i in range(warmup):
        predict_one(samples[i % len(samples): i % len(samples) + 1])
    seconds: list[float] = []
    started = time.perf_counter()
    while len(seconds) < max_queries and (len(seconds) < min_queries or time.perf_counter() - started < min_seconds):
        i = len(seconds) % len(samples)
        query = samples[i: i + 1]
        start = time.perf_counter()
        predict_one(query)
        seconds.append(time.perf_counter() - start)
    return seconds


def latency_summary(seconds: list[float]) -> dict:
    """p50, p90, p99 and mean in milliseconds, and the number of queries (``latency_queries``)."""
    ms = 1000.0 * np.asarray(seconds, dtype=float)
    if ms.size == 0:
        raise ValueError("no latency samples")
    p50, p90, p99 = np.percentile(ms, [50, 90, 99])
    return {"latency_p50_ms": float(p50), "latency_p90_ms": float(p90), "latency_p99_ms": float(p99),
            "latency_mean_ms": float(ms.mean()), "latency_queries": int(ms.size)}


def time_load(load, first_query) -> tuple[object, float]:
    """``load()`` then one prediction of ``first_query`` with what it returned: (the loaded
    thing, seconds from the start of loading to the first answer)."""
    start = time.perf_counter()
    loaded = load()
    loaded.predict_one(first_query)
    return loaded, time.perf_counter() - start
