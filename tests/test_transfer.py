"""Model-to-model layer transfer (the paper's Res50+101)."""
import numpy as np
import pytest

from opscore.models import applications as models
from opscore.models.transfer import transfer_top_layers


@pytest.fixture(scope="module")
def resnets():
    donor = models.build_classifier("ResNet101", 5, 32, seed=1)
    recipient = models.build_classifier("ResNet50", 5, 32, seed=2)
    return donor, recipient


def test_top_layers_of_resnet101_land_in_resnet50(resnets):
    donor, recipient = resnets
    untouched = models.weighted_layers(recipient)[10].get_weights()
    pairs = transfer_top_layers(donor, recipient, 10)
    assert pairs[0] == ("head_dense", "head_dense") and len(pairs) == 10
    for source, target in zip(models.weighted_layers(donor)[:10], models.weighted_layers(recipient)[:10], strict=True):
        for a, b in zip(source.get_weights(), target.get_weights(), strict=True):
            np.testing.assert_array_equal(a, b)
    for before, after in zip(untouched, models.weighted_layers(recipient)[10].get_weights(), strict=True):
        np.testing.assert_array_equal(before, after)  # the 11th layer is the recipient's own


def test_shape_mismatch_names_the_first_mismatch_and_changes_nothing(resnets):
    _, recipient = resnets
    donor = models.build_classifier("MobileNetV2", 5, 32, seed=3)
    before = [w.copy() for w in recipient.get_weights()]
    with pytest.raises(models.ModelError, match=r"top layer 1 does not match: head_dense has weight shapes \[\(1280, 5\)"):
        transfer_top_layers(donor, recipient, 3)  # MobileNetV2 pools 1280 features, ResNet50 2048
    for a, b in zip(before, recipient.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_too_many_layers_is_a_clear_error(resnets):
    donor, recipient = resnets
    with pytest.raises(models.ModelError, match="cannot transfer 10000 layers"):
        transfer_top_layers(donor, recipient, 10000)
