"""One variant in a process of its own, holding only its runtime, its model and the requests.

Started by :mod:`opscore.benchmark.rounds` as ``python -m opscore.benchmark.worker SPEC_JSON``; it
imports the variant's runtime (never another), records the resident memory then (the runtime's
baseline), loads the artifact and answers a first request (the load time), warms up, and says
so with its peak memory then (the model's, as it serves). Then, for every ``round`` command, it times one pass over the test split (the paper's basis),
a LoadGen SingleStream run and a LoadGen Offline run, with what the kernel says about contention
around them; ``quit`` ends it with its peak memory over its life (LoadGen's query schedules included). Commands and answers are JSON lines on
stdin and on the stdout it started with; anything else printed goes to stderr (the job's log).
With runtime ``none`` the model answers instantly: that measures the harness itself.
"""
from __future__ import annotations

import json
import os
import sys
import time

import numpy as np

from opscore.benchmark import contention, loadgen
from opscore.runtimes import ModelInfo, loaded_runtime_libraries, runtime_module

WARMUP_QUERIES = 10


def rss_mb() -> float:
    """Resident memory of this process now (MB, 10^6 bytes)."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def peak_rss_mb() -> float:
    """Peak resident memory of this process's image (MB): the kernel's high-water mark ``VmHWM``.
    Not ``getrusage``'s ``ru_maxrss``, which a started process inherits from the one that forked it
    (a LiteRT worker started by a 900 MB TensorFlow process would report 900 MB)."""
    with open("/proc/self/status") as handle:
        kib = next(int(line.split()[1]) for line in handle if line.startswith("VmHWM:"))
    return kib * 1024 / 1e6


class NoOp:
    """A model that answers at once (zeros): what remains of a timing is the harness's own cost."""

    input_dtype, layers, execution_provider = "float32", 0, "none"

    def predict(self, batch: np.ndarray) -> np.ndarray:
        return np.zeros((len(batch), 1), dtype=np.float32)

    def threads(self) -> dict:
        return {}


def test_pass_seconds(predict, samples: np.ndarray, n_test: int, batch: int) -> float:
    """Seconds of one pass over ``n_test`` model-ready inputs in batches of ``batch`` (the stored
    samples cycled when fewer are stored than the test split holds)."""
    order = np.arange(n_test) % len(samples)
    batches = [samples[order[i: i + batch]] for i in range(0, n_test, batch)]
    start = time.perf_counter()
    for chunk in batches:
        predict(chunk)
    return time.perf_counter() - start


class Worker:
    def __init__(self, spec: dict):
        self.spec = spec
        self.settings = loadgen.Settings(**spec["loadgen"])
        runtime = None if spec["runtime"] == "none" else runtime_module(spec["runtime"])
        self.runtime_version = runtime.version() if runtime else ""
        with np.load(spec["inputs"], allow_pickle=False) as inputs:
            self.samples, self.n_test = inputs["x"], int(inputs["n_test"])
        self.baseline_rss_mb = rss_mb()  # runtime imported and requests in memory, no model yet
        start = time.perf_counter()
        if runtime is None:
            self.session = NoOp()
        else:
            info = ModelInfo.from_dict(spec["model"])
            self.session = runtime.open_session(spec["artifact"], info, spec["threads"])
        self.samples = self.samples.astype(self.session.input_dtype, copy=False)
        self.session.predict(self.samples[:1])
        self.load_time_s = time.perf_counter() - start
        self.query_s = self._warm_up()

    def _warm_up(self) -> float:
        """Untimed queries, then every batch size the rounds use, twice (tracing, allocation); the
        median query's seconds, LoadGen's expectation for SingleStream."""
        seconds = []
        for i in range(WARMUP_QUERIES):
            start = time.perf_counter()
            self.session.predict(self.samples[i % len(self.samples):][:1])
            seconds.append(time.perf_counter() - start)
        for size in (self.spec["batch_size"], self.settings.batch) * 2:
            self.session.predict(self.samples[np.arange(size) % len(self.samples)])
        return float(np.median(seconds))

    def ready(self) -> dict:
        # the model's memory as it serves, before LoadGen allocates its query schedule
        return {"load_time_s": self.load_time_s, "deploy_baseline_rss_mb": self.baseline_rss_mb,
                "deploy_peak_rss_mb": peak_rss_mb(),
                "runtime_version": self.runtime_version, "execution_provider": self.session.execution_provider,
                "layers": self.session.layers, "n_test": self.n_test,
                "imported": loaded_runtime_libraries(),
                **self.session.threads()}

    def round(self, number: int, outdir: str, max_wait_share: float) -> dict:
        """One round: the test pass, SingleStream, Offline; contention over all three."""
        predict, start = self.session.predict, contention.snapshot()
        pass_s = test_pass_seconds(predict, self.samples, self.n_test, self.spec["batch_size"])
        latency, query_seconds = loadgen.single_stream(predict, self.samples, self.settings, self.query_s,
                                                       os.path.join(outdir, "SingleStream"))
        throughput = loadgen.offline(predict, self.samples, self.settings, self.n_test / pass_s,
                                     os.path.join(outdir, "Offline"))
        return {"round": number, "pass_s": pass_s, **latency, **throughput,
                **contention.between(start, contention.snapshot(), max_wait_share),
                "query_seconds": query_seconds}


def main(argv: list[str]) -> None:
    replies = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # what the runtime prints goes to the log, not into the answers
    spec = json.loads(argv[0])
    worker = Worker(spec)
    replies.write(json.dumps(worker.ready()) + "\n")
    for line in sys.stdin:
        command = json.loads(line)
        if command["do"] == "quit":
            replies.write(json.dumps({"worker_peak_rss_mb": peak_rss_mb()}) + "\n")
            return
        replies.write(json.dumps(worker.round(command["round"], command["outdir"], command["max_wait_share"])) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
