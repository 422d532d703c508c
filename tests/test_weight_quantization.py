"""Weight quantization (opscore.compression.weight_quantization, quantize-*): quantized dense layers
shrink the file and keep the predictions; fewer bits, smaller files."""
import numpy as np
import pytest

from opscore.compression import evaluation, weight_quantization
from opscore.models import graph, quantized_layer


@pytest.mark.parametrize("mode,dtype,shrink", [("int8", np.int8, 1.5), ("float16", np.float16, 1.25)])
def test_quantized_dense_shrinks_file_keeps_predictions(trained_cnn, digits, mode, dtype, shrink):
    quantized = weight_quantization.quantize_dense(trained_cnn, mode)
    layer = quantized.get_layer("fc1")
    assert isinstance(layer, quantized_layer.QuantizedDense) and layer.get_weights()[0].dtype == dtype
    assert not quantized.trainable_weights or all("fc1" not in w.name for w in quantized.trainable_weights)
    rates = evaluation.compression_rate(trained_cnn, quantized)
    assert rates["params_ratio"] == pytest.approx(1.0, abs=0.01)
    assert rates["bytes_ratio"] > shrink  # fc1+head: 16.7k of the 24k weights (+ ~10 kB HDF5 overhead)
    before = trained_cnn.predict(digits["x_val"], verbose=0)
    after = quantized.predict(digits["x_val"], verbose=0)
    assert np.mean(before.argmax(1) == after.argmax(1)) > 0.98
    np.testing.assert_allclose(after, before, atol=0.05)


def test_lower_bits_make_smaller_files(trained_cnn, tmp_path):
    sizes = {}
    for storage in ("int8", "int4", "int2"):
        graph.save_model(weight_quantization.quantize_dense(trained_cnn, storage), tmp_path / f"{storage}.h5")
        sizes[storage] = (tmp_path / f"{storage}.h5").stat().st_size
    assert sizes["int2"] < sizes["int4"] < sizes["int8"]
