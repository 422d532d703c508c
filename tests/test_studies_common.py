"""The studies' helpers (opscore.report.studies.common): names parsed into families, depths, splits, k."""
from __future__ import annotations

import math


from opscore.report.studies import common


def test_helpers_parse_names():
    assert [common.model_family(m) for m in ["ResNet50", "ResNet101", "VGG16", "VGG19", "EfficientNetB0",
                                           "MobileNetV2", "ResNet50V2", "AlexNet", "A2E"]] == [
        "ResNet", "ResNet", "VGG", "VGG", "EfficientNet", "MobileNet", "ResNet", "AlexNet", "A2E"]
    assert common.cluster_k("cluster-k512") == 512 and common.cluster_k("original") is None
    assert common.cluster_k("cluster-k16-x") is None and common.cluster_k("prune-magnitude-s50+cluster-k16") is None
    assert sorted(["all", "10", "2", 1.0], key=common.depth_key) == [1.0, "2", "10", "all"]
    assert common.split_percent("70-30") == (70.0, 30.0)
    assert all(math.isnan(v) for v in common.split_percent("official"))
