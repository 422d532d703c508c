"""All variants of a dataset timed in one job, alternately, each in a process of its own.

Every variant gets a worker process (:mod:`opscore.benchmark.worker`) holding only its runtime and
its model. The job then runs ``rounds`` rounds; in each, the variants take turns in a new
shuffled order, one at a time (the others wait, idle), so whatever drifts over the job (clock
speed, a neighbour, the page cache) hits every variant alike. A variant's timing is the median
over its rounds; the spread between rounds (their coefficient of variation) is what ties are
judged on; a round whose threads waited for a CPU is ``contended``, and a variant with at least
half its rounds contended is flagged. Each variant's rounds are spread over ``processes`` fresh
processes: the same file run by two processes can differ by more than one process's rounds do
(memory layout: 40 % measured here on a sub-millisecond model), so the spread judged includes
it. Once per job a worker with a no-op model measures the harness itself. When there are more
variants than ``max_workers`` processes may stay alive, every round starts every variant's
worker afresh (memory stays bounded; loading is paid every round).
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from opscore.benchmark import loadgen
from opscore.measure.context import cpu_name, timing_summary
from opscore.runtimes import ModelInfo


@dataclass(frozen=True)
class Candidate:
    """One variant to time: what identifies it, its runtime, its artifact, the model it holds and
    its model-ready requests (``.npz`` with ``x`` and ``n_test``)."""

    identity: dict
    runtime: str
    artifact: str
    model: ModelInfo
    inputs: str

    @property
    def key(self) -> str:
        return "/".join(str(self.identity[k]) for k in ("split", "seed", "model", "variant", "unfreeze"))


@dataclass(frozen=True)
class Protocol:
    """``measure:`` of the config: rounds (the paper's R timed passes, one per round), the test
    pass's batch, LoadGen's settings, the contention rule, the spread flagged ``timing_unstable``,
    how many workers may stay alive, how many fresh processes each variant gets over the rounds."""

    rounds: int
    batch_size: int
    threads: int
    loadgen: loadgen.Settings
    max_wait_share: float
    unstable_cv: float
    max_workers: int
    processes: int
    seed: int


class WorkerError(RuntimeError):
    """A worker process that died or answered nothing; the job's log holds what it printed."""


class Worker:
    """A running worker process and the conversation with it."""

    def __init__(self, candidate: Candidate | None, runtime: str, protocol: Protocol, inputs: str):
        spec = {"runtime": runtime, "artifact": candidate.artifact if candidate else "",
                "model": candidate.model.to_dict() if candidate else {}, "inputs": inputs,
                "threads": protocol.threads, "batch_size": protocol.batch_size,
                "loadgen": vars(protocol.loadgen)}
        self.name = candidate.key if candidate else "harness (no-op model)"
        self.process = subprocess.Popen([sys.executable, "-m", "opscore.benchmark.worker", json.dumps(spec)],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        self.ready = self._answer()

    def _answer(self) -> dict:
        line = self.process.stdout.readline()
        if not line:
            code = self.process.wait()
            raise WorkerError(f"the measuring process of {self.name} ended (exit code {code}) without answering; "
                              "its output is in this job's log above")
        return json.loads(line)

    def ask(self, **command) -> dict:
        self.process.stdin.write(json.dumps(command) + "\n")
        return self._answer()

    def close(self) -> dict:
        answer = self.ask(do="quit")
        self.process.stdin.close()
        self.process.wait()
        return answer


def host_context() -> dict:
    """Where the benchmark ran: host, CPU model, CPUs, Python and LoadGen versions."""
    return {"hostname": platform.node(), "device": f"CPU: {cpu_name()}", "cpu_count": os.cpu_count(),
            "python_version": platform.python_version(), "loadgen_version": loadgen.version()}


def harness_cost(inputs: str, protocol: Protocol, outdir: Path) -> dict:
    """LoadGen's own cost per query: SingleStream over a model that answers at once."""
    worker = Worker(None, "none", protocol, inputs)
    try:
        result = worker.ask(do="round", round=0, outdir=str(outdir / "harness"), max_wait_share=protocol.max_wait_share)
    finally:
        worker.close()
    return {"harness_latency_p50_us": 1000 * result["latency_p50_ms"],
            "harness_latency_p90_us": 1000 * result["latency_p90_ms"]}


def run_rounds(candidates: list[Candidate], protocol: Protocol, outdir: str | Path, log=print) -> tuple[list, dict]:
    """Every round's result per candidate (with its position in the round's order) and, per
    candidate, what its workers said when ready and at the end."""
    outdir = Path(outdir)
    persistent = len(candidates) <= protocol.max_workers
    workers: dict[str, Worker] = {}
    lives: dict[str, list[dict]] = {c.key: [] for c in candidates}
    rows, rng = [], np.random.default_rng(protocol.seed)

    def finish(candidate):
        worker = workers.pop(candidate.key)
        lives[candidate.key][-1].update(worker.close())

    life_of = {}
    try:
        for number in range(1, protocol.rounds + 1):
            order = rng.permutation(len(candidates))
            log(f"round {number}/{protocol.rounds}: " + ", ".join(candidates[i].key for i in order))
            life = (number - 1) * protocol.processes // protocol.rounds if persistent else number
            for position, index in enumerate(order):
                candidate = candidates[index]
                if candidate.key in workers and life_of[candidate.key] != life:
                    finish(candidate)
                if candidate.key not in workers:
                    workers[candidate.key] = Worker(candidate, candidate.runtime, protocol, candidate.inputs)
                    lives[candidate.key].append(dict(workers[candidate.key].ready))
                    life_of[candidate.key] = life
                result = workers[candidate.key].ask(
                    do="round", round=number, max_wait_share=protocol.max_wait_share,
                    outdir=str(outdir / candidate.key.replace("/", "_") / f"round-{number}"))
                rows.append({"key": candidate.key, "position": position, "process": len(lives[candidate.key]),
                             **result})
        for candidate in candidates:
            if candidate.key in workers:
                finish(candidate)
    finally:
        for worker in workers.values():
            worker.process.kill()
    return rows, lives


def _cv(values: pd.Series) -> float:
    return float(values.std(ddof=1) / values.mean()) if len(values) > 1 and values.mean() > 0 else 0.0


def summarise(candidate: Candidate, rounds: pd.DataFrame, lives: list[dict], unstable_cv: float) -> dict:
    """One variant's row: medians over rounds, spreads between rounds, validity, contention, memory."""
    median = rounds.median(numeric_only=True)
    baseline = min(life["deploy_baseline_rss_mb"] for life in lives)
    peak = max(life["deploy_peak_rss_mb"] for life in lives)
    worker_peak = max(life["worker_peak_rss_mb"] for life in lives)
    threads = {k: v for k, v in lives[0].items() if k.endswith("_threads")}
    return {
        **candidate.identity,
        **timing_summary(rounds["pass_s"].tolist(), lives[0]["n_test"], unstable_cv),
        **{c: float(median[c]) for c in ("latency_p50_ms", "latency_p90_ms", "latency_p99_ms", "latency_mean_ms",
                                         "throughput_samples_s")},
        "latency_cv": _cv(rounds["latency_p90_ms"]), "latency_p90_min_ms": float(rounds["latency_p90_ms"].min()), "latency_queries": int(rounds["latency_queries"].sum()),
        "throughput_batch": int(rounds["throughput_batch"].iloc[0]),
        "loadgen_valid": bool(rounds["single_stream_valid"].all() and rounds["offline_valid"].all()),
        "rounds": int(len(rounds)), "processes": len(lives), "contended_rounds": int(rounds["contended"].sum()),
        "contended": bool(rounds["contended"].sum() * 2 >= len(rounds)),
        "wait_share": float(median["wait_share"]),
        "neighbour_wait_share": float(median["neighbour_wait_share"]),
        "load_time_s": float(np.median([life["load_time_s"] for life in lives])),
        "deploy_baseline_rss_mb": baseline, "deploy_peak_rss_mb": peak, "deploy_model_rss_mb": peak - baseline,
        "worker_peak_rss_mb": worker_peak,
        "runtime": candidate.runtime, "runtime_version": lives[0]["runtime_version"],
        "execution_provider": lives[0]["execution_provider"],
        "runtime_imports": ",".join(lives[0]["imported"]), "layers": lives[0]["layers"],
        "threads": json.dumps(threads),
    }


def candidates_of(runs: list[dict], artifacts: list[str], inputs: list[str]) -> list[Candidate]:
    """The benchmark's candidates from the runs of the config (opscore.config.experiments) and, in
    the same order, their artifacts and model-ready requests (which also tell the data's shape)."""
    from opscore.kinds.registry import parse_variant

    candidates = []
    for run, artifact, requests in zip(runs, artifacts, inputs, strict=True):
        with np.load(requests, allow_pickle=False) as npz:
            n_classes, sample_shape, size = int(npz["n_classes"]), tuple(npz["sample_shape"].tolist()), int(npz["input_size"])
        model = ModelInfo(run["variant"], run["model"], n_classes, size, sample_shape)
        identity = {**run, "seed": int(run["seed"]), "unfreeze": str(run["unfreeze"])}
        candidates.append(Candidate(identity, parse_variant(run["variant"]).spec.runtime, artifact, model, requests))
    return candidates


def write_manifest(path: str | Path, runs: list[dict], artifacts: list[str], inputs: list[str]) -> None:
    """The candidates of one (dataset, split, seed) run, for the benchmark of its dataset: each
    variant's run (opscore.config.experiments), deployable artifact and model-ready requests, in
    order. The benchmark reads these manifests, so its own inputs are one file per run, not per
    variant; a changed artifact re-makes its run's manifest, and that re-times the dataset. An
    empty artifact (a kind not applicable to its model: opscore.jobs.derivation) is not a candidate."""
    from opscore.job import write_atomic

    entries = [{"run": run, "artifact": artifact, "inputs": requests}
               for run, artifact, requests in zip(runs, artifacts, inputs, strict=True)
               if Path(artifact).stat().st_size]  # empty: its kind is not applicable, nothing to time
    write_atomic(path, json.dumps(entries, indent=1))


def candidates_from_manifests(paths: list[str]) -> list[Candidate]:
    """The benchmark's candidates from the runs' manifests (:func:`write_manifest`), in their order."""
    entries = [entry for path in paths for entry in json.loads(Path(path).read_text())]
    return candidates_of([e["run"] for e in entries], [e["artifact"] for e in entries], [e["inputs"] for e in entries])


def protocol_of(measure_settings: dict, batch_size: int, threads: int) -> Protocol:
    """The protocol from the config's ``measure:`` section, the test pass's batch and the job's threads."""
    return Protocol(rounds=measure_settings["repeats"], batch_size=batch_size, threads=threads,
                    loadgen=loadgen.Settings(**measure_settings["loadgen"]),
                    max_wait_share=measure_settings["max_wait_share"], unstable_cv=measure_settings["unstable_cv"],
                    max_workers=measure_settings["max_workers"], processes=measure_settings["processes"],
                    seed=measure_settings["seed"])


def benchmark(candidates: list[Candidate], protocol: Protocol, outdir: str | Path, log=print):
    """Time ``candidates`` (see the module docstring): (one row per variant, one row per round and
    variant, one row per timed query)."""
    if not candidates:
        raise ValueError("nothing to benchmark")
    outdir = Path(outdir)
    context = {**host_context(), "benchmark_threads": protocol.threads,
               **harness_cost(candidates[0].inputs, protocol, outdir)}
    log(f"harness: {context['harness_latency_p50_us']:.1f} µs a query (p50, no-op model)")
    rows, lives = run_rounds(candidates, protocol, outdir, log)
    queries = pd.DataFrame([{"key": row["key"], "round": row["round"], "query": i + 1, "seconds": s}
                            for row in rows for i, s in enumerate(row.pop("query_seconds"))])
    rounds = pd.DataFrame(rows)
    summary = pd.DataFrame([{**summarise(c, rounds[rounds["key"] == c.key], lives[c.key], protocol.unstable_cv), **context}
                            for c in candidates])
    identities = pd.DataFrame([{"key": c.key, **c.identity} for c in candidates])
    return (summary, identities.merge(rounds, on="key").drop(columns="key"),
            identities.merge(queries, on="key").drop(columns="key"))
