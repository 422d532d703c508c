"""The registry of variant kinds: the one place that says, for every optimisation, how its name is
written, which rule makes it, which file it leaves, its precision, which studies show it, and
which module makes and loads it.

A variant name is the `{variant}` wildcard, so a path tells what it holds and adding a K value
adds only new jobs. Wildcard constraints, input functions, the config check, the scripts'
dispatch and the studies' groupings are all read from `KINDS`; adding a kind is one entry here
plus one module. Free of TensorFlow, so the Snakefile imports it while parsing. How each entry
is used: docs/architecture.md.
"""
from __future__ import annotations

import functools
import importlib
import re
from dataclasses import dataclass, field
from typing import Callable

#: the file each making rule leaves in the run's directory
ARTIFACTS = {"train": "weights.h5", "derive_model": "model.h5", "convert_tflite": "model.tflite"}
#: dense-layer storage of the `-q8|-q4|-q2|-q16` suffixes, convolution storage of `-c8|-c4|-c2`
DENSE_QUANTIZATION = {"q8": "int8", "q4": "int4", "q2": "int2", "q16": "float16"}
CONV_QUANTIZATION = {"c8": "int8", "c4": "int4", "c2": "int2"}
_DENSE = r"(-(?P<dense>q8|q4|q2|q16))?"
_CONV = r"(-(?P<conv>c8|c4|c2))?"
_BUDGET = r"-b(?P<budget>[0-9]+(\.[0-9]+)?)(-r(?P<ratio>[1-9][0-9]?))?"


def _float32(options: dict, trained_in: str = "float32") -> str:
    return "float32"


def _low_bit_precision(options: dict, trained_in: str = "float32") -> str:
    parts = [f"{storage}{' (packed)' if storage in ('int4', 'int2') else ''} {what}"
             for storage, what in ((DENSE_QUANTIZATION.get(options.get("dense")), "dense"),
                                   (CONV_QUANTIZATION.get(options.get("conv")), "convolutions")) if storage]
    return ", ".join(parts + ["float32 elsewhere"]) if parts else "float32"


def _float16_precision(options: dict, trained_in: str = "float16") -> str:
    return "float16" if trained_in == "float16" else f"float16 (trained in {trained_in})"


def _tflite_precision(options: dict, trained_in: str = "float32") -> str:
    return {"float16": "float16", "dynamic": "int8 weights, float32 activations", "int8": "int8"}[options["mode"]]


def _cluster_rule(config: dict) -> str:
    return "train" if config["clustering"]["order"] == "before-training" else "derive_model"


@dataclass(frozen=True)
class Kind:
    """One optimisation technique.

    ``made_by``: the rules that can make it (the first unless ``choose_rule`` picks by config);
    ``module``: the opscore module implementing it: ``make(model, variant, job)`` for a derived
    kind, optional ``reuse_training``/``build``/``before_training``/``after_training`` hooks for a
    trained one;
    ``inputs``: extra artifacts the train rule reads, ``{input: (artifact, wildcard overrides)}``;
    ``studies``: the studies (opscore.studies) whose tables group it; ``settings``: the config
    section its module reads (passed to it as ``job.settings``); ``runtime``: what its artifact
    is loaded into and invoked with when measured (opscore.runtimes).
    """

    name: str
    pattern: str
    example: str
    made_by: tuple[str, ...]
    module: str | None = None
    precision: Callable[..., str] = _float32
    input_dtype: str = "float32"
    studies: frozenset[str] = frozenset()
    settings: str | None = None
    inputs: Callable[[dict], dict] = field(default=lambda options: {})
    choose_rule: Callable[[dict], str] | None = None
    runtime: str = "tensorflow"

    @property
    def name_pattern(self) -> str:
        """The pattern without named groups (wildcard constraints, the schema)."""
        return _plain(self.pattern)

    def rule(self, config: dict) -> str:
        """The rule that makes this kind under ``config``."""
        return self.choose_rule(config) if self.choose_rule else self.made_by[0]

    def implementation(self):
        """The module that makes (and loads) this kind; imported on demand (it may need TensorFlow)."""
        return importlib.import_module(self.module) if self.module else None


KINDS = {kind.name: kind for kind in (
    Kind("original", r"original", "original", ("train",)),
    Kind("float16", r"float16", "float16", ("train",), module="opscore.compression.float16",
         precision=_float16_precision, input_dtype="float16", studies=frozenset({"quantized_size"}),
         settings="float16",  # the original's training, taken where float16 trains in float32
         inputs=lambda options: {"original": ("checkpoint", {"variant": "original"}),
                                 "original_history": ("history", {"variant": "original"})}),
    Kind("cluster", r"cluster-k(?P<k>[1-9][0-9]*)", "cluster-k512", ("train", "derive_model"),
         module="opscore.compression.clustering", choose_rule=_cluster_rule, settings="clustering",
         inputs=lambda options: {"base_weights": ("clustered_base", {})}),
    Kind("transfer", r"transfer-(?P<donor>[A-Za-z0-9]+)-top(?P<layers>[1-9][0-9]*)", "transfer-ResNet101-top10",
         ("train",), module="opscore.transfer",
         inputs=lambda options: {"donor": ("checkpoint", {"model": options["donor"], "variant": "original"})}),
    Kind("tflite", r"tflite-(?P<mode>float16|dynamic|int8)", "tflite-float16|dynamic|int8", ("convert_tflite",),
         module="opscore.compression.tflite", precision=_tflite_precision, studies=frozenset({"quantized_size"}),
         runtime="litert"),
    Kind("prune-magnitude", r"prune-magnitude-s(?P<sparsity>[1-9][0-9]?)(?P<schedule>-constant)?",
         "prune-magnitude-s50[-constant]", ("derive_model",), module="opscore.compression.magnitude", settings="pruning",
         studies=frozenset({"compression"})),
    Kind("prune-filters", r"prune-filters" + _BUDGET + r"(?P<units>-u)?" + _DENSE + _CONV + r"(?P<order>-io)?",
         "prune-filters-b2[-r25][-u][-q8|-q4|-q2|-q16][-c8|-c4|-c2][-io]", ("derive_model",), module="opscore.compression.filters",
         settings="pruning", precision=_low_bit_precision, studies=frozenset({"compression", "pruning_sensitivity"})),
    Kind("prune-units", r"prune-units" + _BUDGET + _DENSE + r"(?P<order>-io)?",
         "prune-units-b2[-r25][-q8|-q4|-q2|-q16][-io]", ("derive_model",), module="opscore.compression.units",
         settings="pruning", precision=_low_bit_precision, studies=frozenset({"compression", "pruning_sensitivity"})),
    Kind("prune-layers", r"prune-layers-b(?P<budget>[0-9]+(\.[0-9]+)?)", "prune-layers-b2", ("derive_model",),
         module="opscore.compression.layer_removal", settings="pruning", studies=frozenset({"compression", "pruning_sensitivity"})),
    Kind("quantize", r"quantize-(?P<dense>q8|q4|q2|q16)" + _CONV, "quantize-q8|q4|q2|q16[-c8|-c4|-c2]",
         ("derive_model",), module="opscore.compression.weight_quantization", precision=_low_bit_precision,
         studies=frozenset({"quantized_size", "compression"})),
)}


@dataclass
class TrainingJob:
    """What a trained kind's hooks receive (``reuse_training(job) -> (model, history) | None`` where
    another variant's training is this one's, ``build(job) -> Built``, ``before_training(model,
    variant, job)``, ``after_training(model, job, trained_in) -> model``,
    ``load_classifier(job) -> model`` for measuring its weights file)."""

    model_name: str
    n_classes: int
    input_size: int
    sample_shape: tuple[int, ...] | None = None
    base_weights: str | None = None
    seed: int = 0
    learning_rate: float = 1e-3
    settings: dict = field(default_factory=dict)
    inputs: dict = field(default_factory=dict)


@dataclass
class Built:
    """A trained kind's model before training, with what training it needs."""

    model: object
    optimizer: object = None
    input_dtype: str = "float32"
    trained_in: str = "float32"


@dataclass
class DerivationJob:
    """What a derived kind's ``make(model, variant, job) -> (model, info, layers)`` receives: data to
    fine-tune on, the held-out quality (train split, in the dataset's metric) budgets are judged
    on, a fine-tuner (None when fine-tuning is off), and its config section."""

    fit_data: object
    held_out: Callable[[object], float]
    fine_tune: Callable | None
    learning_rate: float
    seed: int
    settings: dict


def _plain(pattern: str) -> str:
    """A kind's pattern without named groups, for wildcard constraints and the schema."""
    return re.sub(r"\((\?P<\w+>)?(?!\?)", "(?:", pattern)


#: every variant name (the `{variant}` wildcard constraint)
NAME_PATTERN = "|".join(kind.name_pattern for kind in KINDS.values())


def names_made_by(rule: str) -> str:
    """The wildcard constraint of a making rule: the names of every kind it can make."""
    return "|".join(kind.name_pattern for kind in KINDS.values() if rule in kind.made_by)


def kinds_in(study: str) -> tuple[str, ...]:
    """The kinds a study groups (registry order)."""
    return tuple(name for name, kind in KINDS.items() if study in kind.studies)


@dataclass(frozen=True)
class Variant:
    """A parsed variant name: its kind and the options written in it."""

    name: str
    kind: str
    options: dict = field(default_factory=dict)

    @property
    def spec(self) -> Kind:
        return KINDS[self.kind]

    def rule(self, config: dict) -> str:
        return self.spec.rule(config)

    def artifact(self, config: dict) -> str:
        """The file name of the deployable artifact (weights.h5, model.h5, model.tflite)."""
        return ARTIFACTS[self.rule(config)]

    def precision(self, trained_in: str | None = None) -> str:
        """The numeric precision of the deployed variant (``trained_in``: the training's, if known)."""
        return self.spec.precision(self.options) if trained_in is None else self.spec.precision(self.options, trained_in)


@functools.lru_cache(maxsize=None)
def parse_variant(name: str) -> Variant:
    """The kind and options of a variant name (cached: input functions ask for every job; the
    returned Variant is shared, not to be changed)."""
    for kind in KINDS.values():
        match = re.fullmatch(kind.pattern, name)
        if match:
            options = {key: _number(value.lstrip("-")) for key, value in match.groupdict().items() if value is not None}
            return Variant(name, kind.name, options)
    raise ValueError(f"unknown variant {name!r}; known forms: "
                     + ", ".join(kind.example for kind in KINDS.values()))


def _number(text: str):
    if re.fullmatch(r"[0-9]+", text):
        return int(text)
    try:
        return float(text)
    except ValueError:
        return text
