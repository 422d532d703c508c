"""Accuracy-aware structured pruning of dense units (Lee et al.'s method applied to neurons): each
hidden Dense layer's sensitivity at a fixed ratio, layers pruned in that order within the budget,
fine-tuned, and the model rebuilt physically smaller (the next layer's inputs shrink with it). The
search is the filter search's (:mod:`opscore.compression.filters`) over Dense layers."""
from __future__ import annotations

from opscore.compression import filters


def make(model, variant, job):
    """The ``prune-units-b<B>[-r<R>][-q8|-q4|-q2|-q16][-io]`` variant (registry: opscore.kinds.registry)."""
    return filters.make(model, variant, job, targets=("units",))
