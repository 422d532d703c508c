"""What a TensorFlow job starts from (opscore.jobs.context): the model's pipeline and architecture."""
from types import SimpleNamespace

import numpy as np

from opscore.jobs.context import JobContext
from opscore.kinds.registry import parse_variant


def test_the_context_gives_the_models_pipeline_and_architecture(digits_dataset):
    wildcards = SimpleNamespace(model="A2E", seed="0")
    context = JobContext(wildcards, SimpleNamespace(input_size=32, batch_size=100), None, 1,
                         parse_variant("original"), 0, digits_dataset, None)
    x, y = next(iter(context.pipeline(digits_dataset["x_train"], digits_dataset["y_train"])))
    assert x.shape == (100, 8, 8, 1) and float(np.max(x)) <= 1.0 and list(y.numpy()) == list(digits_dataset["y_train"][:100])
    assert context.classifier().output_shape == (None, 10) and context.training_job().sample_shape == (8, 8, 1)
