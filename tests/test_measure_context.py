"""How a measurement was taken (opscore.measure.context): the timed passes' summary (one stall cannot move it), the run's context."""
import pytest

from opscore.config import DEFAULTS
from opscore.measure.context import runtime_context, timing_summary

UNSTABLE_CV = DEFAULTS["measure"]["unstable_cv"]


def test_timing_summary_units():
    s = timing_summary([1.0, 3.0, 2.0], n_images=500, unstable_cv=UNSTABLE_CV)
    assert s == {"inference_time_s": 6.0, "inference_total_s": 6.0, "inference_median_s": 2.0,
                 "inference_min_s": 1.0, "inference_cv": pytest.approx(0.5), "timing_unstable": True,
                 "inference_ms_per_image": 4.0, "repeats": 3}


def test_one_stall_cannot_move_the_inference_time():
    """The default run's VGG16 cluster-k64: nine repeats of ~2.6 s and one of 10.3 s."""
    steady = [2.6, 2.55, 2.62, 2.58, 2.61, 2.59, 2.6, 2.57, 2.63, 2.6]
    stalled = steady[:9] + [10.3]
    quiet, noisy = timing_summary(steady, 100, UNSTABLE_CV), timing_summary(stalled, 100, UNSTABLE_CV)
    assert noisy["inference_time_s"] == pytest.approx(quiet["inference_time_s"], rel=0.01)
    assert noisy["inference_total_s"] > 1.25 * quiet["inference_total_s"]  # what used to score
    assert not quiet["timing_unstable"] and noisy["timing_unstable"]
    assert quiet["inference_cv"] < 0.02 < 0.10 < noisy["inference_cv"]


def test_runtime_context_records_device_threads_and_versions():
    context = runtime_context()
    assert context["device"].startswith(("CPU", "GPU"))
    assert context["tf_version"] == "2.21.0" and context["tfmot_version"] == "0.8.1"
    assert {"intra_op_threads", "inter_op_threads", "cpu_count"} <= context.keys()
