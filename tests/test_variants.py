"""Variant names: the grammar shared by the config, the wildcards and the rules."""
import re

import pytest

from opscore.variants import NAME_PATTERN, parse_variant


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
])
def test_names_parse_into_kind_and_options(name, kind, options, trained, precision):
    variant = parse_variant(name)
    assert (variant.kind, variant.options, variant.trained, variant.precision) == (kind, options, trained, precision)
    assert re.fullmatch(NAME_PATTERN, name)


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
    assert parse_variant("quantize-q16").precision == "float16 dense, float32 elsewhere"
