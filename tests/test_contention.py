"""The kernel's account of a measurement (opscore.benchmark.contention): the run-queue wait between two
snapshots, and the rule that flags it."""

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
