"""What every TensorFlow job script (train, derive, evaluate) starts from, in one place: its threads,
the run's prepared data, its variant, and the model's input pipeline and architecture. The
scripts stay glue, and none repeats this setup."""
from __future__ import annotations

from dataclasses import dataclass

from opscore.data.prepared import load_prepared, sample_shape
from opscore.kinds.registry import TrainingJob, Variant, parse_variant
from opscore.models.applications import build_classifier, pipeline_size, preprocess_function
from opscore.models.training import make_pipeline, numpy_batches, use_threads


@dataclass
class JobContext:
    """One job's wildcards, params and inputs (Snakemake's), its parsed variant and seed, and the
    run's data with what the model takes of it (``size``: the image side the pipeline resizes to,
    None when the model takes examples as they are)."""

    wildcards: object
    params: object
    inputs: object
    threads: int
    variant: Variant
    seed: int
    data: dict
    size: int | None

    @property
    def n_classes(self) -> int:
        return len(self.data["class_names"])

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return sample_shape(self.data)

    @property
    def preprocess(self):
        return preprocess_function(self.wildcards.model)

    def training_job(self, **fields) -> TrainingJob:
        """What a trained kind's hooks receive, for this run's model and data (``fields``: the rest)."""
        return TrainingJob(self.wildcards.model, self.n_classes, self.params.input_size, self.sample_shape,
                           seed=self.seed, **fields)

    def pipeline(self, x, y, **options):
        """Model-ready batches of (x, y) (opscore.models.training.make_pipeline at the run's batch size)."""
        return make_pipeline(x, y, self.preprocess, self.size, self.params.batch_size, **options)

    @property
    def on_tensorflow(self) -> bool:
        """Whether the variant deploys on TensorFlow (a Keras model), not LiteRT or ONNX Runtime."""
        return self.variant.spec.runtime == "tensorflow"

    def test_batches(self):
        """The test split as the variant's runtime takes it: TensorFlow's pipeline for a Keras model
        (a float16 model takes float16 images; table rows stay float32); for another runtime numpy
        batches, made without TensorFlow where they need none of its operations
        (opscore.models.training.numpy_batches)."""
        x, y = self.data["x_test"], self.data["y_test"]
        if not self.on_tensorflow:
            return numpy_batches(x, y, self.preprocess, self.size, self.params.batch_size)
        return self.pipeline(x, y, dtype=self.variant.spec.input_dtype if len(self.sample_shape) > 1 else "float32")

    def classifier(self, **options):
        """The run's model, freshly built (opscore.models.applications.build_classifier)."""
        return build_classifier(self.wildcards.model, self.n_classes, self.params.input_size,
                                sample_shape=self.sample_shape, **options)


def job_context(snakemake, evaluating: bool = False) -> JobContext:
    """The context of the job Snakemake runs, its threads given to TensorFlow first; a job
    ``evaluating`` a variant that deploys on LiteRT or ONNX Runtime does not start TensorFlow."""
    wildcards = snakemake.wildcards
    context = JobContext(wildcards, snakemake.params, snakemake.input, snakemake.threads,
                         parse_variant(wildcards.variant), int(wildcards.seed), load_prepared(snakemake.input.data),
                         pipeline_size(wildcards.model, snakemake.params.input_size))
    if context.on_tensorflow or not evaluating:
        use_threads(snakemake.threads)
    return context
