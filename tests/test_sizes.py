"""Sizes: a file raw and deflated, weights' parameters and zeros, parameters counted as the model computes."""
import zlib

import numpy as np
import pytest

from opscore.measure.sizes import file_size, parameter_count, step_sizes, weights_size


def test_file_size_raw_and_deflate(tmp_path):
    path = tmp_path / "w.bin"
    data = bytes(10_000) + np.random.default_rng(0).bytes(1000)
    path.write_bytes(data)
    sizes = file_size(path)
    assert sizes["size_bytes"] == 11_000 and sizes["size_mb"] == pytest.approx(0.011)
    assert sizes["size_compressed_bytes"] == len(zlib.compress(data, 6)) < 11_000


def test_weights_size_counts_parameters_and_zeros():
    from opscore.tf import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    kernel, bias = model.get_weights()
    kernel[0, :] = 0
    model.set_weights([kernel, np.zeros_like(bias)])
    sizes = weights_size(model)
    assert sizes["params"] == 15 and sizes["nonzero_params"] == 9
    assert sizes["size_bytes"] > 15 * 4  # an HDF5 file of float32 weights plus its header


def test_a_step_records_what_it_made_a_model_with_its_kernels_a_file_by_its_bytes(tmp_path):
    from opscore.tf import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    kernel, bias = model.get_weights()
    kernel[:2, :] = 0
    kernel[2:, :] = 0.5  # two distinct values: 0 and 0.5
    model.set_weights([kernel, bias])
    made = step_sizes(model)
    assert (made["params"], made["nonzero_params"]) == (15, 6 + np.count_nonzero(bias))
    assert made["kernel_nonzero_share"] == 0.5 and made["kernel_distinct_values"] == 2
    assert made["size_compressed_mb"] == weights_size(model)["size_compressed_mb"]
    (tmp_path / "model.tflite").write_bytes(bytes(5000))
    assert step_sizes(tmp_path / "model.tflite") == {"size_mb": 0.005,
                                                     "size_compressed_mb": len(zlib.compress(bytes(5000), 6)) / 1e6}


def test_file_size_in_bytes_and_mb_raw_and_deflated(tmp_path):
    import zlib

    data = bytes(range(256)) * 7812 + b"x" * 128  # 2,000,000 bytes
    (tmp_path / "f").write_bytes(data)
    compressed = len(zlib.compress(data, 6))
    assert file_size(tmp_path / "f") == {"size_bytes": 2_000_000, "size_compressed_bytes": compressed,
                                                 "size_mb": 2.0, "size_compressed_mb": compressed / 1e6}


def test_parameter_count_looks_inside_nested_models_and_counts_logical_parameters():
    from opscore.tf import keras

    inner = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)], name="inner")
    outer = keras.Sequential([keras.Input((4,)), inner, keras.layers.Dense(2)])
    assert parameter_count(outer) == (4 * 3 + 3) + (3 * 2 + 2)

    class Packed:  # stores its weights packed; computes with a 10 x 10 kernel and 10 biases
        layers_ = None

        def parameter_values(self):
            return [np.zeros((10, 10)), np.zeros(10)]

        def get_weights(self):
            return [np.zeros(7, np.uint8)]

    class Holder:
        layers = [Packed()]

    assert parameter_count(Holder()) == 110
