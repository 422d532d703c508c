"""The registry of variant kinds: names, the rules that make them, artifacts and precision."""
import importlib
import re

import pytest

from opscore.config import DEFAULTS
from opscore.kinds.registry import (
    ARTIFACT_FILES,
    KINDS,
    NAME_PATTERN,
    derived_artifacts,
    names_derived_into,
    parse_variant,
    trained_names,
)


@pytest.mark.parametrize("name, kind, options, trained, precision", [
    ("original", "original", {}, True, "float32"),
    ("float16", "float16", {}, True, "float16"),
    ("cluster-k8192", "cluster", {"k": 8192}, True, "float32"),
    ("transfer-ResNet101-top10", "transfer", {"donor": "ResNet101", "layers": 10}, True, "float32"),
    ("tflite-int8", "tflite", {"mode": "int8"}, False, "int8"),
    ("tflite-float16", "tflite", {"mode": "float16"}, False, "float16"),
    ("prune-magnitude-s50", "prune-magnitude", {"sparsity": 50}, False, "float32"),
    ("prune-filters-b2.5", "prune-filters", {"budget": 2.5}, False, "float32"),
    ("prune-layers-b3", "prune-layers", {"budget": 3}, False, "float32"),
    ("qat-int8", "qat", {}, False, "int8 (quantization-aware training)"),
    ("onnx", "onnx", {}, False, "float32"),
    ("onnx-dynamic", "onnx", {"mode": "dynamic"}, False, "int8 weights, float32 activations"),
    ("onnx-static", "onnx", {"mode": "static"}, False, "int8 (QDQ)"),
])
def test_names_parse_into_kind_and_options(name, kind, options, trained, precision):
    variant = parse_variant(name)
    trained_by = variant.is_trained(DEFAULTS)
    assert (variant.kind, variant.options, trained_by, variant.precision()) == (kind, options, trained, precision)
    assert re.fullmatch(NAME_PATTERN, name)
    made_by = trained_names() if trained_by else names_derived_into(variant.artifact_type(DEFAULTS))
    assert re.fullmatch(made_by, name)


@pytest.mark.parametrize("name", ["quantized", "cluster-k0", "tflite-int4", "prune-magnitude-s100", "transfer-top3",
                                  "original/x"])
def test_unknown_names_are_rejected_with_the_known_forms(name):
    with pytest.raises(ValueError, match="known forms: original, float16, cluster-k512"):
        parse_variant(name)
    assert not re.fullmatch(NAME_PATTERN, name)


def test_pruning_suffixes():
    assert parse_variant("prune-filters-b2-r25-q8-io").options == {"budget": 2, "ratio": 25, "dense": "q8",
                                                                  "order": "io"}
    assert parse_variant("prune-magnitude-s80-constant").options == {"sparsity": 80, "schedule": "constant"}
    assert parse_variant("quantize-q16").precision() == "float16 dense, float32 elsewhere"
    assert parse_variant("quantize-q2").precision() == "int2 (packed) dense, float32 elsewhere"
    assert parse_variant("prune-filters-b2-u-q4").options == {"budget": 2, "units": "u", "dense": "q4"}
    assert parse_variant("prune-units-b5-r25-q8-io").options == {"budget": 5, "ratio": 25, "dense": "q8", "order": "io"}
    assert parse_variant("prune-units-b5").kind == "prune-units"
    assert parse_variant("prune-filters-b2-u-q4-c8").options == {"budget": 2, "units": "u", "dense": "q4",
                                                                 "conv": "c8"}
    assert parse_variant("quantize-q4-c4").precision() == (
        "int4 (packed) dense, int4 (packed) convolutions, float32 elsewhere")


def test_float16_precision_says_how_it_was_trained():
    assert parse_variant("float16").precision("float16") == "float16"
    assert parse_variant("float16").precision("float32") == "float16 (trained in float32)"
    assert parse_variant("original").precision("float32") == "float32"


def test_clustering_order_chooses_training_or_deriving_and_the_artifact():
    after = {**DEFAULTS, "clustering": {**DEFAULTS["clustering"], "order": "after-training"}}
    variant = parse_variant("cluster-k16")
    assert (variant.is_trained(DEFAULTS), variant.artifact(DEFAULTS)) == (True, "weights.h5")
    assert (variant.is_trained(after), variant.artifact(after)) == (False, "model.h5")


def test_every_kind_is_implemented_by_its_module():
    """A derived kind's module has make() and its artifact a file; a trained kind's module only
    training hooks; what a kind derives from can hold a Keras model; its runtime and studies exist."""
    from opscore.report.studies import STUDIES
    from opscore.runtimes import RUNTIMES

    for kind in KINDS.values():
        module = importlib.import_module(kind.module) if kind.module else None
        if kind.can_be_derived():
            assert callable(module.make) and kind.artifact in ARTIFACT_FILES, kind.name
            assert set(kind.takes) <= set(ARTIFACT_FILES) - {"tflite", "onnx"}, kind.name
        elif module is not None:
            assert {"build", "before_training", "after_training"} & set(dir(module)), kind.name
        assert kind.runtime in RUNTIMES and kind.studies <= set(STUDIES), kind.name
        example = kind.example.split("[")[0].split("|")[0]
        assert re.fullmatch(kind.name_pattern, example), kind.example
        # a function of the options (a string here would fail only in a real run's evaluate job)
        assert callable(kind.precision) and isinstance(parse_variant(example).precision(), str), kind.name


def test_a_study_a_kind_names_must_exist():
    """The registry's studies are checked against the studies' registry when it is imported."""
    import subprocess
    import sys

    code = ("import dataclasses, opscore.kinds.registry as v; "
            "v.KINDS['float16'] = dataclasses.replace(v.KINDS['float16'], studies=frozenset({'quantized_size'})); "
            "import opscore.report.studies")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode != 0 and "float16: quantized_size" in result.stderr


def test_wildcard_constraints_of_the_making_rules_cover_every_name_once():
    """A name is made by exactly one rule under a given config (train and derive_model share
    cluster-k<K>, told apart by their artifacts): training, or the derive rule of its artifact."""
    assert derived_artifacts() == ("model", "tflite", "onnx")
    for name in ("original", "float16", "tflite-int8", "prune-filters-b2", "quantize-q8", "transfer-ResNet101-top3",
                 "onnx-static", "prune-filters-b2+onnx-dynamic"):
        variant = parse_variant(name)
        made = [artifact for artifact in derived_artifacts() if re.fullmatch(names_derived_into(artifact), name)]
        made += ["weights"] * bool(re.fullmatch(trained_names(), name))
        assert made == [variant.artifact_type(DEFAULTS)], name


def test_schema_names_every_kind():
    """The config schema's text lists every kind in the registry's own words."""
    from pathlib import Path

    import yaml

    schema = yaml.safe_load((Path(__file__).parents[1] / "workflow/schemas/config.schema.yaml").read_text())
    text = " ".join(schema["properties"]["variants"]["description"].split())
    assert [kind.example for kind in KINDS.values() if kind.example not in text] == []


def test_precisions_names_and_studies_read_from_the_registry():
    assert parse_variant("tflite-dynamic").precision() == "int8 weights, float32 activations"
    assert parse_variant("quantize-q4-c8").precision("float32") == "int4 (packed) dense, int8 convolutions, float32 elsewhere"
    assert parse_variant("float16").precision("float32") == "float16 (trained in float32)"
    variant = parse_variant("prune-filters-b2-r25")
    assert variant.name == "prune-filters-b2-r25" and variant.options == {"budget": 2, "ratio": 25}
    assert type(variant.options["budget"]) is int and type(parse_variant("prune-filters-b2.5").options["budget"]) is float
    from opscore.kinds.registry import kinds_in

    assert kinds_in("table1_quantized_size") == ("float16", "tflite", "quantize", "qat", "onnx")
    assert kinds_in("nothing") == ()
    assert KINDS["original"].implementation() is None
    assert KINDS["cluster"].implementation() is importlib.import_module("opscore.compression.clustering")


def test_a_chain_is_its_last_step_and_derives_from_its_prefix():
    chain = parse_variant("prune-magnitude-s50+cluster-k16+tflite-int8")
    assert (chain.kind, chain.options, chain.precision()) == ("tflite", {"mode": "int8"}, "int8")
    assert chain.step_names == ("prune-magnitude-s50", "cluster-k16", "tflite-int8")
    assert chain.prefix.name == "prune-magnitude-s50+cluster-k16" and chain.prefix.prefix.name == "prune-magnitude-s50"
    assert chain.prefix.prefix.prefix is None and parse_variant("cluster-k16").step_names == ("cluster-k16",)
    # a chain is derived even where its first step alone is trained (clustering before training)
    assert not chain.prefix.is_trained(DEFAULTS) and chain.prefix.artifact(DEFAULTS) == "model.h5"
    assert chain.artifact(DEFAULTS) == "model.tflite"
    assert re.fullmatch(NAME_PATTERN, chain.name) and re.fullmatch(names_derived_into("tflite"), chain.name)
    assert not re.fullmatch(names_derived_into("model"), chain.name) and not re.fullmatch(trained_names(), chain.name)
    assert re.fullmatch(names_derived_into("model"), "prune-layers-b5+prune-units-b5")
    assert parse_variant("transfer-ResNet101-top3+tflite-int8").prefix.is_trained(DEFAULTS)
    onnx = parse_variant("cluster-k16+onnx")
    assert onnx.artifact(DEFAULTS) == "model.onnx" and onnx.spec.runtime == "onnxruntime"
    assert re.fullmatch(names_derived_into("onnx"), "prune-magnitude-s50+onnx-dynamic")
    # the training a row's train_time_s is: its own, a chain's trained first step's, else the original's
    assert [parse_variant(name).trained_variant(DEFAULTS) for name in (
        "float16", "tflite-int8", chain.name, "float16+tflite-int8")] == ["float16", "original", "original", "float16"]


@pytest.mark.parametrize("name, message", [
    ("tflite-int8+cluster-k16", "step cluster-k16 cannot follow tflite-int8: tflite-int8 leaves a TFLite flatbuffer, "
                                "and cluster-k16 takes Keras weights or a Keras model"),
    ("onnx+quantize-q8", "step quantize-q8 cannot follow onnx: onnx leaves an ONNX model, and quantize-q8 takes "
                         "Keras weights or a Keras model"),
    ("prune-magnitude-s50+float16", "step float16 is made by training, so it can only begin a chain"),
    ("original+tflite-int8", "every chain starts from the trained original; leave 'original' out"),
    ("prune-magnitude-s50+cluster-k", "unknown variant 'cluster-k'"),
])
def test_a_chain_in_an_order_that_cannot_work_is_refused_naming_the_step(name, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_variant(name)


def test_a_chain_that_cannot_work_is_a_config_error_before_planning(tmp_path):
    from conftest import run_snakemake, test_config

    config = {**test_config("tiny"), "variants": ["original", "prune-magnitude-s50+tflite-int8+quantize-q8"]}
    result = run_snakemake(tmp_path, config, "-n")
    assert result.returncode != 0
    assert "step quantize-q8 cannot follow tflite-int8" in result.stdout + result.stderr


def test_two_chains_sharing_a_prefix_plan_it_once(tmp_path):
    """The prefix is one job whose path names it, each chain's later step one more (a two-step
    chain is itself the prefix of a three-step one); only the configured variants are measured,
    a chain with the durations its prefix recorded and the history of the training it starts
    from (the original's, or its first step's where training makes that)."""
    from conftest import planned_jobs, run_snakemake, test_config

    chains = ["prune-magnitude-s50+cluster-k16", "prune-magnitude-s50+tflite-int8",
              "prune-magnitude-s50+cluster-k16+tflite-int8", "float16+tflite-int8"]
    config = {**test_config("tiny"), "models": {"A2E": {"unfreeze": ["all"]}}, "weights": "none",
              "variants": ["original", *chains], "clustering": {"order": "after-training"}}
    result = run_snakemake(tmp_path, config, "-n")
    jobs, stdout = planned_jobs(result), result.stdout
    # train: original, float16; derive_model: the prefix, prefix+cluster; derive_tflite: three chains
    assert (jobs["train"], jobs["derive_model"], jobs["derive_tflite"], jobs["evaluate"]) == (2, 2, 3, 5)
    run = "results/models/digits/70-30/seed-0/A2E/{}/unfreeze-all"
    data, prefix = "results/data/digits/70-30/seed-0.npz", run.format("prune-magnitude-s50")
    for shared in (prefix, run.format("prune-magnitude-s50+cluster-k16")):
        assert stdout.count(f"output: {shared}/model.h5, {shared}/preparation.json") == 1, shared
    for chain in ("prune-magnitude-s50+cluster-k16", "prune-magnitude-s50+tflite-int8"):
        assert f"input: {data}, {prefix}/model.h5, {prefix}/preparation.json\n    output: {run.format(chain)}" \
            in stdout, chain
    float16 = run.format("float16+tflite-int8")
    assert f"input: {data}, {run.format('float16')}/weights.h5\n    output: {float16}/model.tflite" in stdout
    assert f"{float16}/model.tflite, {run.format('float16')}/history.parquet, {float16}/preparation.json" in stdout
    two_steps = run.format("prune-magnitude-s50+cluster-k16")
    assert f"{two_steps}/model.h5, {run.format('original')}/history.parquet, {two_steps}/preparation.json" in stdout
