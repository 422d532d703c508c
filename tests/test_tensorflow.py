"""The TensorFlow runtime (opscore.runtimes.tensorflow): a trained kind's weights file loaded into the
architecture its kind builds, a derived kind's whole model file as it is, and the session answering a
batch as the Keras model does."""
import numpy as np

from opscore.models.applications import build_classifier
from opscore.models.graph import save_model
from opscore.runtimes import ModelInfo
from opscore.runtimes.tensorflow import Session, load_keras_model


def test_a_weights_file_and_a_model_file_open_to_the_same_predictions(tmp_path, digits_dataset):
    model = build_classifier("A2E", 10, 32, seed=3, sample_shape=(8, 8, 1))
    model.save_weights(tmp_path / "weights.h5")
    save_model(model, tmp_path / "model.h5")
    batch = digits_dataset["x_train"][:16].astype("float32") / 255.0
    expected = model.predict(batch, verbose=0)
    info = ModelInfo("original", "A2E", 10, 32, (8, 8, 1))
    for artifact in ("weights.h5", "model.h5"):
        session = Session(load_keras_model(str(tmp_path / artifact), info))
        np.testing.assert_allclose(session.predict(batch), expected, rtol=1e-5, atol=1e-6)
        assert session.input_dtype == "float32" and session.layers == len(model.layers)
        assert session.execution_provider in ("CPU", "GPU")
        assert len(session.kernels()) == len([w for w in model.weights if "kernel" in w.name])
        assert set(session.threads()) == {"intra_op_threads", "inter_op_threads"}
