"""Was the CPU the measurement's? What the kernel says about a stretch of a process's life.

A measurement is flagged ``contended`` when its threads, while they wanted a CPU, waited for one
more than ``max_wait_share`` of the time (``measure.max_wait_share``, 5 %: a quiet machine
measured 0.8 % here, a busy process pinned to the same core 50 %; docs/measurement.md). The wait is the
scheduler's own account (``/proc/self/task/*/schedstat``: nanoseconds on a CPU, nanoseconds
runnable but waiting in a run queue), so it sees a neighbour on the same core whatever the
load average says; wall time against CPU time, the load average and the count of runnable
tasks at start and end are recorded beside it. Linux only; elsewhere the wait is unknown (NaN)
and nothing is flagged.
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from pathlib import Path


def _scheduler_ns() -> tuple[float, float]:
    """Nanoseconds this process's threads ran and waited runnable, summed over its threads."""
    ran = waited = 0
    try:
        tasks = list(Path("/proc/self/task").iterdir())
    except OSError:
        return math.nan, math.nan
    for task in tasks:
        try:
            fields = (task / "schedstat").read_text().split()
        except OSError:  # a thread that ended meanwhile
            continue
        ran, waited = ran + int(fields[0]), waited + int(fields[1])
    return float(ran), float(waited)


def _runnable() -> float:
    """Tasks runnable on the whole machine now (``/proc/loadavg``'s fourth field, ours included)."""
    try:
        return float(Path("/proc/loadavg").read_text().split()[3].split("/")[0])
    except (OSError, IndexError, ValueError):
        return math.nan


@dataclass(frozen=True)
class Snapshot:
    wall: float
    cpu: float
    ran_ns: float
    waited_ns: float
    load1: float
    runnable: float


def snapshot() -> Snapshot:
    """The process's clocks and the machine's load, now."""
    times = os.times()
    ran, waited = _scheduler_ns()
    return Snapshot(time.perf_counter(), times.user + times.system, ran, waited, os.getloadavg()[0], _runnable())


def between(start: Snapshot, end: Snapshot, max_wait_share: float) -> dict:
    """What happened between two snapshots: wall and CPU seconds, run-queue wait, the wait's share
    of the time the threads wanted a CPU, load average and runnable tasks at both ends, and the
    verdict ``contended``."""
    ran, waited = end.ran_ns - start.ran_ns, end.waited_ns - start.waited_ns
    wanted = ran + waited
    share = waited / wanted if wanted > 0 else math.nan
    return {
        "wall_s": end.wall - start.wall,
        "cpu_s": end.cpu - start.cpu,
        "runqueue_wait_s": waited / 1e9,
        "wait_share": share,
        "load1_start": start.load1, "load1_end": end.load1,
        "runnable_start": start.runnable, "runnable_end": end.runnable,
        "contended": bool(share > max_wait_share),  # NaN compares False: unknown is not flagged
    }
