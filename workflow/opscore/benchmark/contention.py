"""Was the CPU the measurement's? What the kernel says about a stretch of a process's life.

A measurement is flagged ``contended`` when its threads, while they wanted a CPU, waited for one
because *something else* ran, more than ``max_wait_share`` of the time (``measure.max_wait_share``,
5 %; docs/measurement.md). The wait is the scheduler's own account (``/proc/self/task/*/schedstat``:
nanoseconds on a CPU, nanoseconds runnable but waiting in a run queue), so it sees a neighbour on
the same core whatever the load average says. But a runtime with more threads than cores
(TensorFlow's intra- and inter-op pools) waits for its own threads too, on a quiet machine: that is
how the variant runs, not a disturbance. So the wait held against the measurement is at most the
CPU time every other process (and the hypervisor's steal) took meanwhile on the cores this process
may use: their busy time in ``/proc/stat`` less this process's. Wall time against CPU time, the
load average and the count of runnable tasks at start and end are recorded beside it. Linux only;
elsewhere the wait is unknown (NaN) and nothing is flagged. The account is of living threads: the
wait of a thread that ends inside the stretch is not in it.
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


def _cores_busy_s() -> float:
    """CPU seconds the cores this process may run on have been busy since boot (``/proc/stat``'s
    lines of those cores: user, nice, system, irq, softirq, and steal, the time the hypervisor gave
    to other guests). A neighbour on a core this process cannot use does not delay it."""
    try:
        cores = {f"cpu{core}" for core in os.sched_getaffinity(0)}
        busy = 0
        for line in Path("/proc/stat").read_text().splitlines():
            fields = line.split()
            if fields and fields[0] in cores:
                user, nice, system, _idle, _iowait, irq, softirq, steal = (int(value) for value in fields[1:9])
                busy += user + nice + system + irq + softirq + steal
    except (OSError, ValueError, AttributeError):
        return math.nan
    return busy / os.sysconf("SC_CLK_TCK")


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
    cores_busy: float = math.nan


def snapshot() -> Snapshot:
    """The process's clocks and the machine's load, now."""
    times = os.times()
    ran, waited = _scheduler_ns()
    return Snapshot(time.perf_counter(), times.user + times.system, ran, waited, os.getloadavg()[0], _runnable(),
                    _cores_busy_s())


def between(start: Snapshot, end: Snapshot, max_wait_share: float) -> dict:
    """What happened between two snapshots: wall and CPU seconds, run-queue wait and its share of
    the time the threads wanted a CPU, the CPU seconds other processes took on this process's
    cores, the wait they can account for (at most those seconds) and its share, load average and
    runnable tasks at both ends, and the verdict ``contended`` (on the share the others account for)."""
    ran, waited = end.ran_ns - start.ran_ns, end.waited_ns - start.waited_ns
    wanted = ran + waited
    cpu = end.cpu - start.cpu
    others = end.cores_busy - start.cores_busy - cpu
    others = others if math.isnan(others) else max(0.0, others)
    # with the cores' busy time unknown, none of the wait can be put down to this process's own threads
    neighbour_wait = waited / 1e9 if math.isnan(others) else min(waited / 1e9, others)
    share = waited / wanted if wanted > 0 else math.nan
    neighbour_share = neighbour_wait * 1e9 / wanted if wanted > 0 else math.nan
    return {
        "wall_s": end.wall - start.wall,
        "cpu_s": cpu,
        "runqueue_wait_s": waited / 1e9,
        "wait_share": share,
        "others_cpu_s": others,
        "neighbour_wait_share": neighbour_share,
        "load1_start": start.load1, "load1_end": end.load1,
        "runnable_start": start.runnable, "runnable_end": end.runnable,
        "contended": bool(neighbour_share > max_wait_share),  # NaN compares False: unknown is not flagged
    }
