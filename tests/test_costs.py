"""FLOPs against hand counts, parameter bytes, speed-ups."""
import numpy as np
import pandas as pd
import pytest

from opscore.measure import costs
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
