"""Model-to-model layer transfer: the paper's "Res50+101".

The top layers of a trained donor (ResNet101) are copied into a recipient (ResNet50) before
the recipient is retrained. Layers are matched pairwise from the output back, counting only
layers with weights (as unfreezing does), and every matched pair must have equal weight shapes:
the two ResNets share the shapes of their last blocks, which is what makes the transfer work.
"""
from __future__ import annotations

from opscore.models.applications import ModelError, build_classifier, weighted_layers


def transfer_top_layers(donor, recipient, n_layers: int) -> list[tuple[str, str]]:
    """Copy the weights of the donor's top `n_layers` weighted layers into the recipient's.

    All pairs are checked before anything is copied, so a mismatch leaves the recipient as it
    was. Returns the (donor layer, recipient layer) names that were copied, from the output.
    """
    donor_layers, recipient_layers = weighted_layers(donor), weighted_layers(recipient)
    if not 1 <= n_layers <= min(len(donor_layers), len(recipient_layers)):
        raise ModelError(f"cannot transfer {n_layers} layers: {donor.name} has {len(donor_layers)} and "
                         f"{recipient.name} has {len(recipient_layers)} layers with weights")
    pairs = list(zip(donor_layers[:n_layers], recipient_layers[:n_layers], strict=True))
    for position, (source, target) in enumerate(pairs, start=1):
        source_shapes = [tuple(w.shape) for w in source.weights]
        target_shapes = [tuple(w.shape) for w in target.weights]
        if source_shapes != target_shapes:
            raise ModelError(
                f"layer transfer {donor.name} -> {recipient.name}: top layer {position} does not match: "
                f"{source.name} has weight shapes {source_shapes}, {target.name} has {target_shapes}")
    for source, target in pairs:
        target.set_weights(source.get_weights())
    return [(source.name, target.name) for source, target in pairs]


def before_training(model, variant, job) -> None:
    """The ``transfer-<Donor>-top<N>`` variant's hook (registry: opscore.kinds.registry): the donor's
    trained top N layers are copied into the freshly built recipient before it is trained."""
    donor = build_classifier(variant.options["donor"], job.n_classes, job.input_size, sample_shape=job.sample_shape)
    donor.load_weights(job.inputs["donor"])
    for pair in transfer_top_layers(donor, model, variant.options["layers"]):
        print("transferred %s -> %s" % pair)
