"""Variant names: what each optimisation is called in the config and in artifact paths.

A variant name is the `{variant}` wildcard, so a path tells what it holds and adding a K value
adds only new jobs. Each name parses into a `Variant` that says how it is made:

- trained variants go through the `train` rule: `original`, `float16` (trained and saved in
  float16, as in the paper), `cluster-k{K}` (base clustered to K values before transfer
  learning, the paper's order), `transfer-{Donor}-top{N}` (the donor's trained top N layers
  copied in before retraining, the paper's "Res50+101");
- derived variants are made from the trained `original` of the same run: `tflite-{float16,
  dynamic,int8}` (post-training TFLite conversion), `prune-magnitude-s{S}` (tfmot magnitude
  pruning to S % sparsity; `-constant` for a constant schedule), `prune-filters-b{B}`
  (accuracy-aware structured filter pruning within a B-point accuracy budget; `-r{R}` probes
  with R % of a layer's filters, `-q8`/`-q16` also quantize the dense layers, `-io` prunes in
  input-to-output order instead of sensitivity order), `prune-layers-b{B}` (out-of-order layer
  removal), `quantize-q8|q16` (dense layers quantized alone).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

PATTERNS = {
    "original": r"original",
    "float16": r"float16",
    "cluster": r"cluster-k(?P<k>[1-9][0-9]*)",
    "transfer": r"transfer-(?P<donor>[A-Za-z0-9]+)-top(?P<layers>[1-9][0-9]*)",
    "tflite": r"tflite-(?P<mode>float16|dynamic|int8)",
    "prune-magnitude": r"prune-magnitude-s(?P<sparsity>[1-9][0-9]?)(?P<schedule>-constant)?",
    "prune-filters": (r"prune-filters-b(?P<budget>[0-9]+(\.[0-9]+)?)(-r(?P<ratio>[1-9][0-9]?))?"
                      r"(-(?P<dense>q8|q16))?(?P<order>-io)?"),
    "prune-layers": r"prune-layers-b(?P<budget>[0-9]+(\.[0-9]+)?)",
    "quantize-dense": r"quantize-(?P<dense>q8|q16)",
}
DENSE_QUANTIZATION = {"q8": "int8", "q16": "float16"}
TRAINED = ("original", "float16", "cluster", "transfer")
# One regex for the schema and the wildcard constraint.
NAME_PATTERN = "|".join(re.sub(r"\((\?P<\w+>)?(?!\?)", "(?:", pattern) for pattern in PATTERNS.values())


@dataclass(frozen=True)
class Variant:
    name: str
    kind: str
    options: dict = field(default_factory=dict)

    @property
    def trained(self) -> bool:
        """Made by the train rule (else derived from the trained original)."""
        return self.kind in TRAINED

    @property
    def precision(self) -> str:
        if self.kind == "float16" or self.options.get("mode") == "float16":
            return "float16"
        if self.kind == "tflite":
            return {"dynamic": "int8 weights, float32 activations", "int8": "int8"}[self.options["mode"]]
        if "dense" in self.options:
            return f"{DENSE_QUANTIZATION[self.options['dense']]} dense, float32 elsewhere"
        return "float32"


def parse_variant(name: str) -> Variant:
    for kind, pattern in PATTERNS.items():
        match = re.fullmatch(pattern, name)
        if match:
            options = {key: _number(value.lstrip("-")) for key, value in match.groupdict().items()
                       if value is not None}
            return Variant(name, kind, options)
    raise ValueError(f"unknown variant {name!r}; known forms: original, float16, cluster-k512, "
                     "transfer-ResNet101-top10, tflite-float16|dynamic|int8, prune-magnitude-s50[-constant], "
                     "prune-filters-b2[-r25][-q8|-q16][-io], prune-layers-b2, quantize-q8|q16")


def _number(text: str):
    if re.fullmatch(r"[0-9]+", text):
        return int(text)
    try:
        return float(text)
    except ValueError:
        return text


@dataclass
class Deployable:
    """What measuring needs of any variant: predict over batches, answer one request, its file
    sizes, its shape."""
    predict: object  # callable(batches) -> class probabilities
    sizes: dict
    layers: int
    predict_one: object = None  # callable(a batch of one model-ready input) -> class probabilities
    keras_model: object = None  # the Keras model it runs (None for a TFLite flatbuffer)


def load_deployable(variant: Variant, artifact: str, model_name: str, n_classes: int, input_size: int,
                    threads: int, features: int | None = None) -> Deployable:
    """Open a variant's artifact the way it would be deployed: a Keras weights file for trained
    variants, a full Keras model for derived ones (pruning may change the architecture), a
    .tflite flatbuffer run by the TFLite interpreter. ``features``: a tabular dataset's row width."""
    from opscore import measure

    if variant.kind == "tflite":
        from opscore.quantization import TFLitePredictor

        with open(artifact, "rb") as handle:
            predictor = TFLitePredictor(handle.read(), threads=threads)
        return Deployable(lambda batches: predictor.predict(batch.numpy() for batch, _ in batches),
                          measure.file_size(artifact), predictor.op_count,
                          predict_one=lambda x: predictor.predict([x]))
    if artifact.endswith("weights.h5"):
        if variant.kind == "float16":
            from opscore.quantization import build_float16_classifier

            model = build_float16_classifier(model_name, n_classes, input_size, features=features)
        else:
            from opscore.models import build_classifier

            model = build_classifier(model_name, n_classes, input_size, features=features)
        model.load_weights(artifact)
    else:
        from opscore.pruning import load_model  # knows the quantized dense layer

        model = load_model(artifact)
    from opscore.tf import tf

    # one request as a server runs it: a traced function of a batch of one, no Keras predict loop
    serve = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
    return Deployable(lambda batches: model.predict(batches, verbose=0), measure.weights_size(model),
                      len(model.layers), predict_one=lambda x: serve(x).numpy(), keras_model=model)
