"""The kernel's account of a measurement (opscore.benchmark.contention): the run-queue wait between two
snapshots, the part of it other processes can account for, and the rule that flags it."""

import dataclasses
import hashlib
import os
import threading

import numpy as np
import pytest

from opscore.benchmark import contention


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
    the threads wanted a CPU (ran + waited); the others' CPU seconds are the cores' busy time less this
    process's; a share at the threshold is not over it; no scheduler time, or none known (NaN off
    Linux), is no share and no flag."""
    start = contention.Snapshot(wall=10.0, cpu=4.0, ran_ns=3e9, waited_ns=1e9, load1=0.5, runnable=1.0,
                                cores_busy=100.0)
    end = contention.Snapshot(wall=12.0, cpu=5.5, ran_ns=4.5e9, waited_ns=1.5e9, load1=2.5, runnable=3.0,
                              cores_busy=102.5)
    record = {"wall_s": 2.0, "cpu_s": 1.5, "runqueue_wait_s": 0.5, "wait_share": 0.25, "others_cpu_s": 1.0,
              "neighbour_wait_share": 0.25, "load1_start": 0.5, "load1_end": 2.5, "runnable_start": 1.0,
              "runnable_end": 3.0}
    assert contention.between(start, end, 0.2) == {**record, "contended": True}
    assert contention.between(start, end, 0.25) == {**record, "contended": False}
    for idle in (start, contention.Snapshot(12.0, 5.5, float("nan"), float("nan"), 2.5, 3.0, 102.5)):
        nothing = contention.between(start, idle, 0.0)
        assert np.isnan(nothing["wait_share"]) and nothing["contended"] is False


def test_a_runtime_waiting_for_its_own_threads_on_a_quiet_machine_is_not_contended():
    """TensorFlow's thread pools outnumber two cores: its threads wait for each other with nothing
    else running. Only as much of the wait as other processes took CPU time counts, and with the
    cores' busy time unknown, all of it does (the rule before this cap)."""
    start = contention.Snapshot(wall=0.0, cpu=0.0, ran_ns=0.0, waited_ns=0.0, load1=1.0, runnable=1.0,
                                cores_busy=50.0)
    own = contention.Snapshot(wall=1.0, cpu=1.9, ran_ns=1.9e9, waited_ns=0.6e9, load1=1.0, runnable=3.0,
                              cores_busy=51.92)  # 0.02 s of others: a daemon's tick
    shared = contention.Snapshot(wall=1.0, cpu=1.0, ran_ns=1.0e9, waited_ns=0.6e9, load1=2.0, runnable=3.0,
                                 cores_busy=51.9)  # 0.9 s of others
    quiet, busy = contention.between(start, own, 0.05), contention.between(start, shared, 0.05)
    assert quiet["wait_share"] == pytest.approx(0.24) and quiet["others_cpu_s"] == pytest.approx(0.02)
    assert quiet["neighbour_wait_share"] == pytest.approx(0.008) and not quiet["contended"]
    assert busy["neighbour_wait_share"] == pytest.approx(0.375) and busy["contended"]
    unknown = contention.between(start, dataclasses.replace(own, cores_busy=float("nan")), 0.05)
    assert np.isnan(unknown["others_cpu_s"]) and unknown["neighbour_wait_share"] == pytest.approx(0.24)
    assert unknown["contended"]


def test_a_live_snapshot_counts_this_process_time():
    start = contention.snapshot()
    sum(i * i for i in range(2_000_000))
    measured = contention.between(start, contention.snapshot(), 0.05)
    assert measured["cpu_s"] > 0.01 and measured["runqueue_wait_s"] >= 0 and 0 <= measured["wait_share"] <= 1


def test_threads_outnumbering_their_core_wait_and_only_the_others_time_is_held_against_them():
    """Three threads hashing (the GIL released) on one core wait for each other: the kernel counts
    the wait, and what is held against the measurement is at most what other processes ran there.
    The threads live until the end snapshot (the scheduler's account is of living threads)."""
    allowed = os.sched_getaffinity(0)
    data = bytes(32 * 2**20)
    finished, measured = threading.Barrier(4), threading.Event()

    def work():
        for _ in range(6):
            hashlib.sha256(data).digest()
        finished.wait()
        measured.wait()

    os.sched_setaffinity(0, {sorted(allowed)[0]})
    try:
        start = contention.snapshot()
        threads = [threading.Thread(target=work) for _ in range(3)]
        for thread in threads:
            thread.start()
        finished.wait()
        record = contention.between(start, contention.snapshot(), 0.05)
        measured.set()
        for thread in threads:
            thread.join()
    finally:
        os.sched_setaffinity(0, allowed)
    assert record["wait_share"] > 0.3  # three runnable threads, one core
    # what is held against it: the wait, capped by the others' CPU seconds on that core
    held = record["neighbour_wait_share"] / record["wait_share"] * record["runqueue_wait_s"]
    assert record["neighbour_wait_share"] <= record["wait_share"] + 1e-12
    assert held <= min(record["runqueue_wait_s"], record["others_cpu_s"]) + 1e-9
