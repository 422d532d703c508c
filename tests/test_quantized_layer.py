"""The packed low-bit dense and Conv2D layers (opscore.models.quantized_layer): kernels round-trip
within their step, through a saved model file too."""
import numpy as np
import pytest

from opscore.compression import evaluation, weight_quantization
from opscore.models import graph, quantized_layer


@pytest.mark.parametrize("storage, bits", [("int8", 8), ("int4", 4), ("int2", 2)])
def test_packed_low_bit_kernels_round_trip_within_their_step(storage, bits, trained_cnn, digits, tmp_path):
    kernel = trained_cnn.get_layer("fc1").get_weights()[0]
    stored = quantized_layer.QuantizedDense.quantize(kernel, storage)
    assert stored[0].nbytes == -(-kernel.size * bits // 8)  # packed: bits per value, not bytes
    quantized = weight_quantization.quantize_dense(trained_cnn, storage)
    layer = quantized.get_layer("fc1")
    restored = layer.dequantized_kernel().numpy()
    scale = layer.get_weights()[1]
    assert np.all(np.abs(restored - kernel) <= scale / 2 + 1e-6)  # within half a quantization step
    levels = quantized_layer.QuantizedDense.LEVELS[storage]
    assert len(np.unique(np.round(restored / scale))) <= 2 * levels + 1
    graph.save_model(quantized, tmp_path / "q.h5")
    back = graph.load_model(tmp_path / "q.h5")
    np.testing.assert_array_equal(back.get_layer("fc1").dequantized_kernel().numpy(), restored)
    np.testing.assert_allclose(back.predict(digits["x_val"][:8], verbose=0),
                               quantized.predict(digits["x_val"][:8], verbose=0), rtol=1e-6)
    rates = evaluation.compression_rate(trained_cnn, quantized)
    assert rates["params_ratio"] == pytest.approx(1.0, abs=1e-6)  # same parameters, fewer bits
    assert rates["bits_ratio"] > 1


@pytest.mark.parametrize("storage", ["int8", "int4"])
def test_quantized_convolutions_round_trip_reload_and_predict(storage, trained_cnn, digits, evaluate, tmp_path):
    quantized = weight_quantization.quantize_convolutions(trained_cnn, storage)
    for name in ("c1", "c2", "c3"):
        layer = quantized.get_layer(name)
        assert isinstance(layer, quantized_layer.QuantizedConv2D) and layer.storage == storage
        kernel = trained_cnn.get_layer(name).get_weights()[0]
        scale = layer.get_weights()[1]
        assert scale.shape == (kernel.shape[-1],)  # one scale per filter
        assert np.all(np.abs(layer.dequantized_kernel().numpy() - kernel) <= scale / 2 + 1e-6)
    graph.save_model(quantized, tmp_path / "q.h5")
    back = graph.load_model(tmp_path / "q.h5")
    np.testing.assert_allclose(back.predict(digits["x_val"][:8], verbose=0),
                               quantized.predict(digits["x_val"][:8], verbose=0), rtol=1e-6)
    assert evaluate(trained_cnn) - evaluate(quantized) < (0.02 if storage == "int8" else 0.1)
    rates = evaluation.compression_rate(trained_cnn, quantized)
    assert rates["params_ratio"] == pytest.approx(1.0, abs=1e-6) and rates["bits_ratio"] > 1.2
