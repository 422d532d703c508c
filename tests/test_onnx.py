"""ONNX Runtime as a deployment target (opscore.compression.onnx, opscore.runtimes.onnx): a small
network with batch norm and dropout exported by tf2onnx computes what Keras computes, ONNX
Runtime's int8 quantizations store int8 kernels, a model tf2onnx cannot convert is not applicable,
and a benchmark process of an ONNX file holds ONNX Runtime alone."""
import json

import numpy as np
import pytest

from opscore.benchmark import loadgen
from opscore.benchmark.rounds import Candidate, Protocol, benchmark
from opscore.compression import onnx
from opscore.kinds.registry import DerivationJob, NotApplicable, TrainingJob, parse_variant
from opscore.runtimes import ModelInfo
from opscore.runtimes.deploy import load_deployable
from opscore.runtimes.onnx import Session, version
from opscore.tf import keras, tf


@pytest.fixture(scope="module")
def digits(digits_dataset):
    """load_digits' 8x8 images scaled to [0, 1]: 1,400 to train and calibrate on, the rest as the test inputs."""
    x = digits_dataset["x_train"].astype("float32") / 255.0
    return x[:1400], digits_dataset["y_train"][:1400], x[1400:]


@pytest.fixture(scope="module")
def trained(digits):
    """Conv, batch norm, ReLU, dropout, two dense layers: two epochs of Adam on the digits."""
    keras.utils.set_random_seed(0)
    L = keras.layers
    model = keras.Sequential([keras.Input((8, 8, 1)), L.Conv2D(16, 3, use_bias=False), L.BatchNormalization(),
                              L.ReLU(), L.Flatten(), L.Dropout(0.3), L.Dense(32, activation="relu"),
                              L.Dense(10, activation="softmax")])
    model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy")
    model.fit(digits[0], digits[1], epochs=2, batch_size=32, verbose=0)
    return model


def job(digits) -> DerivationJob:
    train = [digits[0][i: i + 32] for i in range(0, 1400, 32)]
    test = [digits[2][i: i + 64] for i in range(0, len(digits[2]), 64)]
    return DerivationJob(None, held_out=None, fine_tune=None, epochs=0, learning_rate=1e-3, seed=0, settings={},
                         calibration=lambda batches: train[:batches], test_inputs=lambda: test)


@pytest.fixture(scope="module")
def exported(trained, digits):
    return onnx.make(trained, parse_variant("onnx"), job(digits))


def test_onnx_of_a_keras_model_agrees_with_it_on_the_test_inputs(exported, trained, digits):
    model, info, _ = exported
    row = info["row"]
    assert row["onnx_opset"] == onnx.OPSET and row["fidelity_inputs"] == len(digits[2])
    assert row["fidelity_max_abs_diff"] <= 1e-4 and row["fidelity_argmax_agreement"] == 1.0
    assert info["calibration_inputs"] == 0  # only static quantization calibrates
    keras_probabilities = trained(digits[2], training=False).numpy()
    np.testing.assert_allclose(Session(model, threads=1).predict(digits[2]), keras_probabilities, atol=1e-4)


@pytest.mark.parametrize("name", ["onnx-dynamic", "onnx-static"])
def test_onnx_runtime_int8_stores_int8_kernels_and_keeps_the_predictions(name, exported, trained, digits, tmp_path):
    quantized, info, _ = onnx.make(trained, parse_variant(name), job(digits))
    assert len(quantized) < len(exported[0])
    assert info["row"]["fidelity_argmax_agreement"] >= 0.9
    assert info["calibration_inputs"] == (8 * 32 if name == "onnx-static" else 0)
    path = tmp_path / "model.onnx"
    path.write_bytes(quantized)
    deployed = load_deployable(parse_variant(name), str(path), TrainingJob("net", 10, 8, sample_shape=(8, 8, 1)), 1)
    assert (deployed.runtime, deployed.keras_model) == ("onnxruntime", None)
    assert deployed.sizes["size_bytes"] == len(quantized)
    # three kernels (the convolution's, two dense), at most 256 int8 values each
    assert deployed.sizes["kernel_distinct_values_max"] <= 256
    assert [k.dtype for k in Session(quantized, 1).kernels()] == [np.int8] * 3


def test_a_model_tf2onnx_cannot_convert_is_not_applicable_with_its_reason():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Lambda(lambda x: tf.math.igamma(tf.abs(x) + 1, 2.0)),
                              keras.layers.Dense(2, activation="softmax")])
    with pytest.raises(NotApplicable, match="tf2onnx cannot convert it: TensorFlow op.s. Igamma not supported"):
        onnx.export(model)


def test_an_onnx_runtime_process_holds_onnx_runtime_alone(exported, digits, tmp_path):
    """Timed in a process that imports ONNX Runtime and never TensorFlow, with its provider and threads."""
    (tmp_path / "model.onnx").write_bytes(exported[0])
    np.savez(tmp_path / "inputs.npz", x=digits[2], n_test=np.array(len(digits[2])), n_classes=np.array(10),
             input_size=np.array(8), sample_shape=np.array([8, 8, 1]))
    identity = dict(dataset="digits", split="70-30", seed=0, model="net", variant="onnx", unfreeze="all")
    candidate = Candidate(identity, "onnxruntime", str(tmp_path / "model.onnx"), ModelInfo("onnx", "net", 10, 8, (8, 8, 1)),
                          str(tmp_path / "inputs.npz"))
    settings = loadgen.Settings(min_queries=32, min_seconds=0.05, offline_seconds=0.05, batch=16)
    protocol = Protocol(rounds=1, batch_size=32, threads=1, loadgen=settings, max_wait_share=0.05, unstable_cv=0.1,
                        max_workers=8, processes=1, seed=0)
    summary, _, _ = benchmark([candidate], protocol, tmp_path)
    row = summary.iloc[0]
    assert row["runtime_imports"] == "onnxruntime"  # no TensorFlow, no other runtime
    assert (row["runtime"], row["execution_provider"]) == ("onnxruntime", "CPUExecutionProvider")
    assert json.loads(row["threads"]) == {"intra_op_threads": 1, "inter_op_threads": 1}
    assert row["runtime_version"] == version()
    assert row["latency_p50_ms"] > 0 and row["layers"] > 0


def test_static_int8_keeps_a_table_models_standardization_in_float():
    """Raw table columns on very different scales: quantizing A2E's input standardization with one
    int8 scale would round the small columns away; only the weighted operators are quantized."""
    from sklearn.datasets import load_breast_cancer

    from opscore.models.scratch import adapt_normalization, build_a2e

    x, y = load_breast_cancer(return_X_y=True)
    x = x.astype("float32")
    keras.utils.set_random_seed(0)
    model = build_a2e(2, (30,), normalize=True)
    adapt_normalization(model, x[:400])
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x[:400], y[:400], epochs=8, batch_size=32, verbose=0)
    train, test = [x[i: i + 32] for i in range(0, 400, 32)], [x[400:]]
    job = DerivationJob(None, held_out=None, fine_tune=None, epochs=0, learning_rate=1e-3, seed=0, settings={},
                        calibration=lambda batches: train[:batches], test_inputs=lambda: test)
    _, info, _ = onnx.make(model, parse_variant("onnx-static"), job)
    assert info["row"]["fidelity_argmax_agreement"] >= 0.98  # 0.73 with the standardization quantized
