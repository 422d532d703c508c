"""Deriving a variant the same way for every derived kind (opscore.jobs.derivation): the trained
original opened, the kind's make run with the fine-tuning settings, the artifact written as its kind's
type (a Keras model, a flatbuffer), what it took recorded; a kind the model cannot take leaves an empty
artifact and its reason. What the job starts from (opscore.jobs.context): tests/test_jobs_context.py."""
import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from opscore.compression import magnitude
from opscore.config import DEFAULTS
from opscore.jobs.context import JobContext
from opscore.jobs.derivation import derive
from opscore.kinds.registry import NotApplicable, parse_variant
from opscore.models.applications import build_classifier, preprocess_function
from opscore.models.graph import load_model


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


def derived(tmp_path, original, digits_dataset, name: str, **inputs):
    """Derive ``name`` as the derive rule does, from the original or the ``source`` of ``inputs``
    (a chain's prefix); its outputs and preparation, in ``tmp_path``/``name``."""
    wildcards = SimpleNamespace(dataset="digits", split="70-30", seed="0", model="A2E", variant=name, unfreeze="all")
    variant = parse_variant(name)
    params = SimpleNamespace(input_size=32, batch_size=64, learning_rate=1e-3, metric="accuracy",
                             settings=DEFAULTS[variant.spec.settings] if variant.spec.settings else {},
                             fine_tuning={**DEFAULTS["fine_tuning"], "epochs": 1})
    context = JobContext(wildcards, params, SimpleNamespace(**{"source": original, **inputs}), 1, variant, 0,
                         digits_dataset, None)
    tmp_path = tmp_path / name
    tmp_path.mkdir()
    artifact = tmp_path / variant.artifact(DEFAULTS)
    outputs = SimpleNamespace(artifact=str(artifact), preparation=str(tmp_path / "preparation.json"),
                              layers=str(tmp_path / "preparation.parquet"))
    info = derive(context, outputs)
    assert json.loads((tmp_path / "preparation.json").read_text()) == json.loads(json.dumps(info, default=str))
    return artifact, info, pd.read_parquet(outputs.layers)


@pytest.fixture(scope="module")
def pruned(tmp_path_factory, original, digits_dataset):
    """prune-magnitude-s50, derived once: the first step of this module's chains (its file, record)."""
    artifact, info, _ = derived(tmp_path_factory.mktemp("pruned"), original, digits_dataset, "prune-magnitude-s50")
    return artifact, info


def after_pruning(tmp_path, original, digits_dataset, pruned, step: str):
    """``prune-magnitude-s50+STEP`` derived from ``pruned`` as a chain's job is, and STEP alone from
    the original: the chain's file and record, STEP's file, and the three loaded."""
    source, _ = pruned
    chain, info, _ = derived(tmp_path, original, digits_dataset, f"prune-magnitude-s50+{step}", source=str(source),
                             source_preparation=str(source.parent / "preparation.json"))
    alone, _, _ = derived(tmp_path, original, digits_dataset, step)
    models = {"pruned": load_model(source), "chain": load_model(chain), "alone": load_model(alone)}
    return chain, info, models


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


def test_a_flatbuffer_records_the_flops_of_the_model_it_was_converted_from(tmp_path, original, digits_dataset):
    """After a step that changed the architecture (here a narrower A2E standing in for units pruning),
    the flatbuffer's FLOPs are the narrower model's, not the run's architecture's."""
    from opscore.jobs.derivation import WRITERS
    from opscore.measure.costs import count_flops_or_nan
    from opscore.models.scratch import build_a2e

    narrower = build_a2e(10, (8, 8, 1), accordion=(64, 16, 64, 16))
    source = tmp_path / "prune-units-b5" / "model.h5"
    source.parent.mkdir()
    WRITERS["model"](str(source), narrower)
    (source.parent / "preparation.json").write_text(json.dumps({"steps": [{"step": "prune-units-b5", "seconds": 1}]}))
    _, info, _ = derived(tmp_path, original, digits_dataset, "prune-units-b5+tflite-dynamic", source=str(source),
                         source_preparation=str(source.parent / "preparation.json"))
    full = count_flops_or_nan(build_classifier("A2E", 10, 32, sample_shape=(8, 8, 1)))
    assert info["row"]["flops"] == count_flops_or_nan(narrower) < 0.5 * full


def test_a_kind_not_applicable_leaves_an_empty_artifact_and_its_reason(tmp_path, original, digits_dataset,
                                                                       monkeypatch):
    def refuse(model, variant, job):
        raise NotApplicable(f"{model.name} has nothing to prune")

    monkeypatch.setattr(magnitude, "make", refuse)
    artifact, info, layers = derived(tmp_path, original, digits_dataset, "prune-magnitude-s50")
    assert artifact.stat().st_size == 0 and info["not_applicable"] == "A2E has nothing to prune"
    assert len(layers) == 0 and "held_out_accuracy" not in info
    # a chain's next step has nothing to derive from: not applicable either, naming the step that was not
    chain, chained, _ = derived(tmp_path, original, digits_dataset, "prune-magnitude-s50+tflite-int8",
                                source=str(artifact), source_preparation=str(artifact.parent / "preparation.json"))
    assert chain.name == "model.tflite" and chain.stat().st_size == 0
    assert chained["not_applicable"] == "prune-magnitude-s50: A2E has nothing to prune"
    assert [step["step"] for step in chained["steps"]] == ["prune-magnitude-s50", "tflite-int8"]


def test_a_chain_keeps_each_steps_work_and_compresses_below_each_step_alone(tmp_path, original, digits_dataset,
                                                                            pruned):
    """Magnitude pruning, then clustering (sparsity-preserving), then full int8: each step takes the
    previous step's artifact; the zeros and the 16 shared values survive the later steps; the file,
    deflated, is smaller than either step's alone; every step's time is recorded."""
    from opscore.measure.sizes import keras_kernels, kernel_statistics, weights_size
    from opscore.runtimes.litert import TFLitePredictor

    chain, chain_info, models = after_pruning(tmp_path, original, digits_dataset, pruned, "cluster-k16")
    stats = {name: kernel_statistics(keras_kernels(model)) for name, model in models.items()}
    assert stats["chain"]["kernel_nonzero_share"] <= stats["pruned"]["kernel_nonzero_share"] + 1e-6 < 0.6
    assert stats["chain"]["kernel_distinct_values_max"] <= 16 < stats["pruned"]["kernel_distinct_values_max"]
    compressed = {name: weights_size(model)["size_compressed_bytes"] for name, model in models.items()}
    assert compressed["chain"] < min(compressed["pruned"], compressed["alone"])
    assert [step["step"] for step in chain_info["steps"]] == ["prune-magnitude-s50", "cluster-k16"]
    assert chain_info["steps"][0] == pruned[1]["steps"][0] and chain_info["seconds"] > 0
    # each step records what it made, as the chain_steps study draws it
    made = chain_info["steps"][1]
    assert made["kernel_distinct_values_max"] == stats["chain"]["kernel_distinct_values_max"]
    assert made["size_compressed_mb"] == pytest.approx(compressed["chain"] / 1e6)
    assert made["nonzero_params"] <= chain_info["steps"][0]["nonzero_params"] < made["params"]
    assert made["held_out"] == chain_info["held_out_accuracy"]
    # int8 storage keeps both: a zero stays 0, equal floats stay equal int8 values (one scale per channel)
    flatbuffer, _, _ = derived(tmp_path, original, digits_dataset, "prune-magnitude-s50+cluster-k16+tflite-int8",
                               source=str(chain), source_preparation=str(chain.parent / "preparation.json"))
    kernels = TFLitePredictor(flatbuffer.read_bytes(), threads=1).kernels()
    assert {kernel.dtype for kernel in kernels} == {np.dtype("int8")}
    int8 = kernel_statistics(kernels)
    assert int8["kernel_nonzero_share"] == pytest.approx(stats["chain"]["kernel_nonzero_share"], abs=0.01)
    # one scale per output channel (TFLite's first axis): 16 values a channel at most
    assert max(len(np.unique(channel)) for kernel in kernels for channel in kernel) <= 16


def test_a_chain_on_a_base_clustered_before_training_counts_the_clustering_as_its_first_step(
        tmp_path, original, digits_dataset):
    """cluster-k16 clustered before training is a trained variant: its clustering's record (no
    ``steps``, its seconds) is the chain's first step, so prep_time_s counts it."""
    base_info = tmp_path / "cluster-k16.json"
    base_info.write_text(json.dumps({"method": "kmeans", "k": 16, "seconds": 3.5}))
    artifact, info, _ = derived(tmp_path, original, digits_dataset, "cluster-k16+tflite-dynamic",
                                source_preparation=str(base_info))
    assert [step["step"] for step in info["steps"]] == ["cluster-k16", "tflite-dynamic"]
    assert info["steps"][0] == {"step": "cluster-k16", "seconds": 3.5}
    assert info["steps"][1]["seconds"] == info["seconds"] > 0
    assert info["steps"][1]["size_mb"] == pytest.approx(artifact.stat().st_size / 1e6)


def test_low_bit_storage_after_pruning_keeps_the_zeros_and_shrinks_the_file(tmp_path, original, digits_dataset,
                                                                             pruned):
    """prune-magnitude-s50+quantize-q4: the symmetric 4-bit grid stores a pruned zero as 0, so the
    dense kernels are at least as sparse as the pruned model's, and the deflated file is smaller
    than either step's alone."""
    from opscore.measure.sizes import keras_kernels, kernel_statistics, weights_size

    _, info, models = after_pruning(tmp_path, original, digits_dataset, pruned, "quantize-q4")
    before, after = keras_kernels(models["pruned"]), keras_kernels(models["chain"])
    assert len(before) == len(after) > 1 and kernel_statistics(before)["kernel_nonzero_share"] < 0.6
    for sparse, stored in zip(before, after, strict=True):
        assert (stored[sparse == 0] == 0).all()
    sizes = {name: weights_size(model) for name, model in models.items()}
    # raw, 4-bit storage is the size whatever the values; deflated, the zeros it kept count too
    assert sizes["chain"]["size_bytes"] < 0.5 * sizes["pruned"]["size_bytes"]
    compressed = {name: size["size_compressed_bytes"] for name, size in sizes.items()}
    assert compressed["chain"] < min(compressed["pruned"], compressed["alone"])
    assert [step["step"] for step in info["steps"]] == ["prune-magnitude-s50", "quantize-q4"]
