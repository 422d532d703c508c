"""Deriving a variant the same way for every derived kind (opscore.derivation, opscore.job_context):
the trained original opened, the kind's make run with the fine-tuning settings, the artifact written
as its kind's type (a Keras model, a flatbuffer), what it took recorded; a kind the model cannot
take leaves an empty artifact and its reason."""
import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from opscore.compression import magnitude
from opscore.compression.graph import load_model
from opscore.config import DEFAULTS
from opscore.derivation import derive
from opscore.job_context import JobContext
from opscore.models import build_classifier, preprocess_function
from opscore.variants import NotApplicable, parse_variant


@pytest.fixture(scope="module")
def original(tmp_path_factory, digits_dataset):
    """A2E trained for two epochs on the digits, its weights where the train rule leaves them."""
    x, y = digits_dataset["x_train"], digits_dataset["y_train"]
    model = build_classifier("A2E", 10, 32, sample_shape=(8, 8, 1))
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(preprocess_function("A2E")(x), y, epochs=2, batch_size=64, verbose=0)
    path = tmp_path_factory.mktemp("original") / "weights.h5"
    model.save_weights(str(path))
    return str(path)


def derived(tmp_path, original, digits_dataset, name: str):
    """Derive ``name`` from the original as the derive rule does; its outputs and preparation."""
    wildcards = SimpleNamespace(dataset="digits", split="70-30", seed="0", model="A2E", variant=name, unfreeze="all")
    params = SimpleNamespace(input_size=32, batch_size=64, learning_rate=1e-3, metric="accuracy",
                             settings=DEFAULTS["pruning"], fine_tuning={**DEFAULTS["fine_tuning"], "epochs": 1})
    context = JobContext(wildcards, params, SimpleNamespace(source=original), 1, parse_variant(name), 0,
                         digits_dataset, None)
    artifact = tmp_path / parse_variant(name).artifact(DEFAULTS)
    outputs = SimpleNamespace(artifact=str(artifact), preparation=str(tmp_path / "preparation.json"),
                              layers=str(tmp_path / "preparation.parquet"))
    info = derive(context, outputs)
    assert json.loads((tmp_path / "preparation.json").read_text()) == json.loads(json.dumps(info, default=str))
    return artifact, info, pd.read_parquet(outputs.layers)


def test_a_keras_model_kind_is_saved_whole_with_its_fine_tuning_recorded(tmp_path, original, digits_dataset):
    artifact, info, layers = derived(tmp_path, original, digits_dataset, "prune-magnitude-s50")
    model = load_model(artifact)
    assert magnitude.kernel_sparsity(model, info["pruned_layers"])["sparsity"] == pytest.approx(0.5, abs=0.01)
    assert (info["technique"], info["sparsity"], info["fine_tune_epochs"], info["held_out_share"]) == (
        "prune-magnitude", pytest.approx(0.5, abs=0.01), 1, 0.1)
    assert info["fine_tune_learning_rate"] == 1e-3 and 0.5 < info["held_out_accuracy"] <= 1
    assert info["compression"]["nonzero_ratio"] > 1.5
    assert set(layers["variant"]) == {"prune-magnitude-s50"} and (layers["seed"] == 0).all()


def test_a_flatbuffer_kind_is_written_as_bytes(tmp_path, original, digits_dataset):
    artifact, info, _ = derived(tmp_path, original, digits_dataset, "tflite-dynamic")
    assert artifact.name == "model.tflite" and artifact.read_bytes()[4:8] == b"TFL3"
    assert info["bytes"] == artifact.stat().st_size and info["representative_images"] == 0


def test_a_kind_not_applicable_leaves_an_empty_artifact_and_its_reason(tmp_path, original, digits_dataset,
                                                                       monkeypatch):
    def refuse(model, variant, job):
        raise NotApplicable(f"{model.name} has nothing to prune")

    monkeypatch.setattr(magnitude, "make", refuse)
    artifact, info, layers = derived(tmp_path, original, digits_dataset, "prune-magnitude-s50")
    assert artifact.stat().st_size == 0 and info["not_applicable"] == "A2E has nothing to prune"
    assert len(layers) == 0 and "held_out_accuracy" not in info


def test_the_context_gives_the_models_pipeline_and_architecture(digits_dataset):
    wildcards = SimpleNamespace(model="A2E", seed="0")
    context = JobContext(wildcards, SimpleNamespace(input_size=32, batch_size=100), None, 1,
                         parse_variant("original"), 0, digits_dataset, None)
    x, y = next(iter(context.pipeline(digits_dataset["x_train"], digits_dataset["y_train"])))
    assert x.shape == (100, 8, 8, 1) and float(np.max(x)) <= 1.0 and list(y.numpy()) == list(digits_dataset["y_train"][:100])
    assert context.classifier().output_shape == (None, 10) and context.training_job().sample_shape == (8, 8, 1)
