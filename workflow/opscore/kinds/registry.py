"""The registry of variant kinds: the one place that says, for every optimisation, how its name is
written, whether training or deriving makes it, what it takes and which artifact it leaves, its
precision and runtime, its config section, which studies show it, and which module makes it.

A variant name is the `{variant}` wildcard, so a path tells what it holds and adding a K value
adds only new jobs. Wildcard constraints, input functions, the config check, the scripts'
dispatch and the studies' groupings are all read from `KINDS`; no rule names a kind but
`cluster_base` (its wildcard is the cluster kind's pattern). Adding a kind is one entry here, one
module, its example in the schema and a test (docs/architecture.md lists the steps). Free
of TensorFlow, so the Snakefile imports it while parsing.
"""
from __future__ import annotations

import functools
import importlib
import re
from dataclasses import dataclass, field
from typing import Callable

#: artifact type -> the file it is in the variant's directory: a trained kind's weights (loaded
#: into the architecture its kind builds), a derived kind's whole Keras model, a TFLite flatbuffer,
#: an ONNX model
ARTIFACT_FILES = {"weights": "weights.h5", "model": "model.h5", "tflite": "model.tflite", "onnx": "model.onnx"}
#: the artifacts a Keras model is read back from: what a derivation can start from
KERAS_ARTIFACTS = ("weights", "model")
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


def _onnx_precision(options: dict, trained_in: str = "float32") -> str:
    return {None: "float32", "dynamic": "int8 weights, float32 activations", "static": "int8 (QDQ)"}[options.get("mode")]


def _cluster_trained(config: dict) -> bool:
    return config["clustering"]["order"] == "before-training"


@dataclass(frozen=True)
class Kind:
    """One optimisation technique.

    ``trained``: made by training (the train rule; its artifact its weights), or by deriving from
    what it takes (the derive rule of its ``artifact``); a callable decides by the config;
    ``artifact``: what deriving it leaves (:data:`ARTIFACT_FILES`); ``takes``: the artifacts it
    can derive from (the trained original, or a chain's previous step);
    ``module``: the opscore module implementing it: ``make(model, variant, job)`` for a derived
    kind, optional ``reuse_training``/``build``/``before_training``/``after_training`` hooks for a
    trained one;
    ``inputs``: extra artifacts the train rule reads, ``{input: (artifact, wildcard overrides)}``;
    ``studies``: the studies (opscore.report.studies, which checks them) whose tables group it;
    ``settings``: the config section its module reads (passed to it as ``job.settings``);
    ``runtime``: what its artifact is loaded into and invoked with when measured (opscore.runtimes).
    """

    name: str
    pattern: str
    example: str
    trained: bool | Callable[[dict], bool] = False
    artifact: str = "model"
    takes: tuple[str, ...] = KERAS_ARTIFACTS
    module: str | None = None
    precision: Callable[..., str] = _float32
    input_dtype: str = "float32"
    studies: frozenset[str] = frozenset()
    settings: str | None = None
    inputs: Callable[[dict], dict] = field(default=lambda options: {})
    runtime: str = "tensorflow"

    @property
    def name_pattern(self) -> str:
        """The pattern without named groups (wildcard constraints, the schema)."""
        return _plain(self.pattern)

    def is_trained(self, config: dict) -> bool:
        """Whether training (not deriving) makes this kind under ``config``."""
        return self.trained(config) if callable(self.trained) else self.trained

    def can_be_trained(self) -> bool:
        return self.trained is not False

    def can_be_derived(self) -> bool:
        return self.trained is not True

    def artifact_under(self, config: dict) -> str:
        """The artifact type this kind leaves under ``config``: a trained kind's weights, else its own."""
        return "weights" if self.is_trained(config) else self.artifact

    def implementation(self):
        """The module that makes (and loads) this kind; imported on demand (it may need TensorFlow)."""
        return importlib.import_module(self.module) if self.module else None


KINDS = {kind.name: kind for kind in (
    Kind("original", r"original", "original", trained=True),
    Kind("float16", r"float16", "float16", trained=True, module="opscore.compression.float16",
         precision=_float16_precision, input_dtype="float16", studies=frozenset({"table1_quantized_size"}),
         settings="float16",  # the original's training, taken where float16 trains in float32
         inputs=lambda options: {"original": ("weights", {"variant": "original"}),
                                 "original_history": ("history", {"variant": "original"})}),
    Kind("cluster", r"cluster-k(?P<k>[1-9][0-9]*)", "cluster-k512", trained=_cluster_trained,
         module="opscore.compression.clustering", settings="clustering",
         studies=frozenset({"fig8_table7_cluster_count"}),
         inputs=lambda options: {"base_weights": ("clustered_base", {})}),
    Kind("transfer", r"transfer-(?P<donor>[A-Za-z0-9]+)-top(?P<layers>[1-9][0-9]*)", "transfer-ResNet101-top10",
         trained=True, module="opscore.models.transfer",
         inputs=lambda options: {"donor": ("weights", {"model": options["donor"], "variant": "original"})}),
    Kind("tflite", r"tflite-(?P<mode>float16|dynamic|int8)", "tflite-float16|dynamic|int8", artifact="tflite",
         module="opscore.compression.tflite", precision=_tflite_precision,
         studies=frozenset({"table1_quantized_size"}), runtime="litert"),
    Kind("prune-magnitude", r"prune-magnitude-s(?P<sparsity>[1-9][0-9]?)(?P<schedule>-constant)?",
         "prune-magnitude-s50[-constant]", module="opscore.compression.magnitude", settings="pruning",
         studies=frozenset({"compression"})),
    Kind("prune-filters", r"prune-filters" + _BUDGET + r"(?P<units>-u)?" + _DENSE + _CONV + r"(?P<order>-io)?",
         "prune-filters-b2[-r25][-u][-q8|-q4|-q2|-q16][-c8|-c4|-c2][-io]", module="opscore.compression.filters",
         settings="pruning", precision=_low_bit_precision, studies=frozenset({"compression", "pruning_sensitivity"})),
    Kind("prune-units", r"prune-units" + _BUDGET + _DENSE + r"(?P<order>-io)?",
         "prune-units-b2[-r25][-q8|-q4|-q2|-q16][-io]", module="opscore.compression.units",
         settings="pruning", precision=_low_bit_precision, studies=frozenset({"compression", "pruning_sensitivity"})),
    Kind("prune-layers", r"prune-layers-b(?P<budget>[0-9]+(\.[0-9]+)?)", "prune-layers-b2",
         module="opscore.compression.layer_removal", settings="pruning",
         studies=frozenset({"compression", "pruning_sensitivity"})),
    Kind("quantize", r"quantize-(?P<dense>q8|q4|q2|q16)" + _CONV, "quantize-q8|q4|q2|q16[-c8|-c4|-c2]",
         module="opscore.compression.weight_quantization", precision=_low_bit_precision,
         studies=frozenset({"table1_quantized_size", "compression"})),
    Kind("qat", r"qat-int8", "qat-int8", artifact="tflite", module="opscore.compression.qat",
         precision=lambda options, trained_in="float32": "int8 (quantization-aware training)", runtime="litert",
         studies=frozenset({"table1_quantized_size"})),
    Kind("onnx", r"onnx(-(?P<mode>dynamic|static))?", "onnx[-dynamic|-static]", artifact="onnx",
         module="opscore.compression.onnx", precision=_onnx_precision, runtime="onnxruntime",
         studies=frozenset({"table1_quantized_size"})),
)}


class NotApplicable(Exception):
    """Raised by a derived kind's ``make`` when the model cannot take the technique at all (no layer
    it supports, say): the variant's row says why ("not applicable") and the run goes on."""


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
    """What a derived kind's ``make(model, variant, job) -> (derived, info, layers)`` receives (the
    derived thing is what its artifact type holds: a Keras model, or a flatbuffer's bytes): data
    to fine-tune on (the train split less the held-out share), the held-out quality (train split,
    in the dataset's metric) budgets are judged on, a fine-tuner (None when fine-tuning is off)
    with its epochs and rate (config ``fine_tuning:``), training batches to calibrate on
    (``calibration(batches)``: model-ready arrays of the whole train split, never the test split),
    its config section, and the test split's model-ready inputs without labels (``test_inputs()``),
    only to report how faithfully an export computes its source, never to choose anything."""

    fit_data: object
    held_out: Callable[[object], float]
    fine_tune: Callable | None
    epochs: int
    learning_rate: float
    seed: int
    settings: dict
    calibration: Callable[[int], list] = field(default=lambda batches: [])
    test_inputs: Callable[[], list] = field(default=lambda: [])


def _plain(pattern: str) -> str:
    """A kind's pattern without named groups, for wildcard constraints and the schema."""
    return re.sub(r"\((\?P<\w+>)?(?!\?)", "(?:", pattern)


def _either(kinds) -> str:
    return "|".join(kind.name_pattern for kind in kinds)


#: what joins the steps of a chain: ``prune-magnitude-s50+cluster-k16+tflite-int8``
STEP = "+"
#: one step's name, any kind
_ANY_STEP = f"(?:{_either(KINDS.values())})"
#: every variant name, one step or a chain (the `{variant}` wildcard constraint)
NAME_PATTERN = f"{_ANY_STEP}(?:{re.escape(STEP)}{_ANY_STEP})*"
#: what an artifact type holds, in words (a chain's order errors)
ARTIFACT_WORDS = {"weights": "Keras weights", "model": "a Keras model", "tflite": "a TFLite flatbuffer",
                  "onnx": "an ONNX model"}


def trained_names() -> str:
    """The wildcard constraint of the train rule: the names of every kind training can make (one
    step: a chain's later steps are derived)."""
    return _either(kind for kind in KINDS.values() if kind.can_be_trained())


def derived_artifacts() -> tuple[str, ...]:
    """The artifact types deriving makes (one derive rule each, since a rule's outputs are fixed)."""
    return tuple(dict.fromkeys(kind.artifact for kind in KINDS.values() if kind.can_be_derived()))


def names_derived_into(artifact: str) -> str:
    """The wildcard constraint of the derive rule of ``artifact``: the names (one step, or a chain)
    whose last step is a kind it makes."""
    last = _either(kind for kind in KINDS.values() if kind.can_be_derived() and kind.artifact == artifact)
    return f"(?:{_ANY_STEP}{re.escape(STEP)})*(?:{last})"


def kinds_in(study: str) -> tuple[str, ...]:
    """The kinds a study groups (registry order)."""
    return tuple(name for name, kind in KINDS.items() if study in kind.studies)


@dataclass(frozen=True)
class Variant:
    """A parsed variant name: its kind and the options written in it. A chain (steps joined by
    ``+``) is its last step's kind and options, with every step in ``steps``; each step takes the
    artifact of the chain before it (:attr:`prefix`)."""

    name: str
    kind: str
    options: dict = field(default_factory=dict)
    steps: tuple["Variant", ...] = ()

    @property
    def spec(self) -> Kind:
        return KINDS[self.kind]

    @property
    def prefix(self) -> "Variant | None":
        """The chain without its last step (what the last step derives from), or None for one step."""
        return parse_variant(self.name.rsplit(STEP, 1)[0]) if self.steps else None

    @property
    def step_names(self) -> tuple[str, ...]:
        return tuple(step.name for step in self.steps) or (self.name,)

    def is_trained(self, config: dict) -> bool:
        """Whether the train rule makes it under ``config`` (else a derive rule)."""
        return not self.steps and self.spec.is_trained(config)

    def trained_variant(self, config: dict) -> str:
        """The variant whose training this one starts from (its epochs are the row's training
        time): itself when training makes it, a chain's first step when training makes that, else
        the original."""
        if self.is_trained(config):
            return self.name
        first = self.steps[0] if self.steps else None
        return first.name if first is not None and first.is_trained(config) else "original"

    def artifact_type(self, config: dict) -> str:
        """Its artifact's type under ``config`` (a key of :data:`ARTIFACT_FILES`)."""
        return self.spec.artifact if self.steps else self.spec.artifact_under(config)

    def artifact(self, config: dict) -> str:
        """The file name of the deployable artifact (weights.h5, model.h5, model.tflite)."""
        return ARTIFACT_FILES[self.artifact_type(config)]

    def precision(self, trained_in: str | None = None) -> str:
        """The numeric precision of the deployed variant (``trained_in``: the training's, if known)."""
        return self.spec.precision(self.options) if trained_in is None else self.spec.precision(self.options, trained_in)


@functools.lru_cache(maxsize=None)
def parse_variant(name: str) -> Variant:
    """The kind and options of a variant name, one step or a chain of steps joined by ``+``
    (cached: input functions ask for every job; the returned Variant is shared, not to be
    changed). A chain whose order cannot work is refused naming the step."""
    if STEP not in name:
        return _parse_step(name)
    steps = tuple(_parse_step(part) for part in name.split(STEP))
    for position, (previous, step) in enumerate(zip(steps, steps[1:], strict=False)):
        _check_follows(name, previous, step, first=position == 0)
    return Variant(name, steps[-1].kind, steps[-1].options, steps)


def _check_follows(name: str, previous: Variant, step: Variant, first: bool) -> None:
    """Raise ValueError naming ``step`` of chain ``name`` unless it can derive from ``previous``."""
    if "original" in (previous.kind, step.kind):
        raise ValueError(f"variant {name}: every chain starts from the trained original; leave 'original' out")
    if not step.spec.can_be_derived():
        raise ValueError(f"variant {name}: step {step.name} is made by training, so it can only begin a chain")
    leaves = "weights" if first and not previous.spec.can_be_derived() else previous.spec.artifact
    if leaves not in step.spec.takes:
        raise ValueError(f"variant {name}: step {step.name} cannot follow {previous.name}: {previous.name} leaves "
                         f"{ARTIFACT_WORDS[leaves]}, and {step.name} takes "
                         + " or ".join(ARTIFACT_WORDS[artifact] for artifact in step.spec.takes))


def _parse_step(name: str) -> Variant:
    for kind in KINDS.values():
        match = re.fullmatch(kind.pattern, name)
        if match:
            options = {key: _number(value.lstrip("-")) for key, value in match.groupdict().items() if value is not None}
            return Variant(name, kind.name, options)
    raise ValueError(f"unknown variant {name!r}; known forms: "
                     + ", ".join(kind.example for kind in KINDS.values()) + f", and chains of them joined by {STEP!r}")


def _number(text: str):
    if re.fullmatch(r"[0-9]+", text):
        return int(text)
    try:
        return float(text)
    except ValueError:
        return text
