"""FLOPs against hand counts, batch-1 latency percentiles, load time, speed-ups."""
import numpy as np
import pandas as pd
import pytest

from opscore import costs, latency
from opscore.tf import keras


def test_flops_of_a_small_dense_model_match_a_hand_count():
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(32), keras.layers.Dense(10)])
    # 2 FLOPs per multiply-accumulate, 1 per bias add
    assert costs.count_flops(model) == 2 * 64 * 32 + 32 + 2 * 32 * 10 + 10


def test_flops_of_a_small_convolutional_model_match_a_hand_count():
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3), keras.layers.Flatten(),
                              keras.layers.Dense(5)])
    conv = 2 * (6 * 6 * 4) * (3 * 3 * 3) + 6 * 6 * 4  # 144 outputs, each 27 MACs, plus bias
    assert costs.count_flops(model) == conv + 2 * 144 * 5 + 5


def test_parameter_bytes_follow_the_dtype():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    assert costs.parameter_bytes(model) == (4 * 3 + 3) * 4


@pytest.fixture
def clock(monkeypatch):
    """A clock that only the code under test moves (``clock.advance(seconds)``): every time it
    reads is then known, whatever the machine's load."""
    class Clock:
        now = 0.0

        def advance(self, seconds):
            self.now += seconds

    fake = Clock()
    monkeypatch.setattr(latency.time, "perf_counter", lambda: fake.now)
    return fake


def test_single_stream_latency_percentiles_and_warmup_is_excluded(clock):
    calls = []

    def predict_one(x):
        calls.append(x.shape)
        # the 5 warm-up queries take 1 s each; after them every tenth query takes 20 ms, the others 2 ms
        clock.advance(1.0 if len(calls) <= 5 else 0.020 if len(calls) % 10 == 0 else 0.002)

    seconds = latency.single_stream(predict_one, np.zeros((7, 3)), min_queries=50, min_seconds=0.05, warmup=5)
    assert len(calls) == 55 and len(seconds) == 50  # 50 queries last 0.19 s > min_seconds: no more
    assert all(shape == (1, 3) for shape in calls)  # batch 1
    assert seconds == pytest.approx([0.020 if (i + 6) % 10 == 0 else 0.002 for i in range(50)])
    summary = latency.latency_summary(seconds)
    # 45 queries of 2 ms and 5 of 20 ms: p90 interpolates between the 45th and 46th (numpy's linear)
    assert summary == pytest.approx({"latency_p50_ms": 2.0, "latency_p90_ms": 3.8, "latency_p99_ms": 20.0,
                                     "latency_mean_ms": 3.8, "latency_queries": 50})
    # min_seconds keeps the stream going past min_queries: 1 s of 3 ms queries is ~334 of them
    longer = latency.single_stream(lambda x: clock.advance(0.003), np.zeros((7, 3)), min_queries=10,
                                   min_seconds=1.0, warmup=0)
    assert len(longer) == pytest.approx(334, abs=1)


def test_load_time_runs_to_the_first_answer(clock):
    class Slow:
        def predict_one(self, x):
            clock.advance(0.03)

    def load():
        clock.advance(0.02)
        return Slow()

    clock.advance(5.0)  # before the load: not counted
    loaded, seconds = latency.time_load(load, np.zeros((1, 2)))
    assert isinstance(loaded, Slow) and seconds == pytest.approx(0.05)


def test_speedups_against_the_original_of_the_same_run():
    table = pd.DataFrame({"dataset": "d", "model": ["A", "A", "B"], "unfreeze": "all", "split": "70-30", "seed": 0,
                          "variant": ["original", "prune-filters-b2", "tflite-int8"],
                          "flops": [100.0, 25.0, 80.0], "latency_p50_ms": [8.0, 4.0, 2.0]})
    out = costs.speedups(table).set_index("variant")
    assert out.loc["prune-filters-b2", "flops_speedup"] == pytest.approx(4.0)
    assert out.loc["prune-filters-b2", "measured_speedup"] == pytest.approx(2.0)
    assert out.loc["original", "flops_speedup"] == pytest.approx(1.0)
    assert np.isnan(out.loc["tflite-int8", "flops_speedup"])  # B has no original in this table


def test_flops_not_counted_are_nan_with_the_reason(capsys):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    assert costs.count_flops_or_nan(model) == 2 * 4 * 3 + 3 and type(costs.count_flops_or_nan(model)) is float
    capsys.readouterr()
    assert np.isnan(costs.count_flops_or_nan(object()))  # nothing the profiler can trace
    assert capsys.readouterr().out.startswith("FLOPs not counted: AttributeError: ")


def test_parameter_bytes_of_mixed_dtypes():
    class Stored:
        def get_weights(self):
            return [np.zeros((3, 4), np.float16), np.zeros(5, np.int8), np.zeros(2, np.float32)]

    assert costs.parameter_bytes(Stored()) == 3 * 4 * 2 + 5 + 2 * 4


def test_speedups_fall_back_to_inference_time_and_match_each_run_to_its_original():
    table = pd.DataFrame({"dataset": "d", "model": "A", "unfreeze": "all", "split": "70-30",
                          "seed": [0, 0, 1, 1, 1], "variant": ["original", "quantize-q8", "original", "quantize-q8",
                                                               "original"],
                          "flops": [100.0, 100.0, 200.0, 50.0, 999.0], "inference_time_s": [2.0, 1.0, 3.0, 6.0, 1.0]})
    out = costs.speedups(table)
    assert out["measured_speedup"].tolist() == [1.0, 2.0, 1.0, 0.5, 3.0]  # seed 1: its first original
    assert out["flops_speedup"].tolist() == [1.0, 1.0, 1.0, 4.0, 200 / 999]
    assert list(out.index) == list(table.index) and "_original_flops" not in out.columns
    without_flops = costs.speedups(table.drop(columns="flops"))
    assert "flops_speedup" not in without_flops.columns and "measured_speedup" in without_flops.columns
