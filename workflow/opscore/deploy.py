"""Open a variant's artifact the way it would be deployed, behind one interface that measuring uses:
predict over batches, answer one request, report file sizes and shape."""
from __future__ import annotations

from dataclasses import dataclass

from opscore import measure
from opscore.compression.graph import load_model
from opscore.compression.tflite import TFLitePredictor
from opscore.models import build_classifier
from opscore.tf import tf
from opscore.variants import TrainingJob, Variant


@dataclass
class Deployable:
    """What measuring needs of any variant: predict over batches, answer one request, its file
    sizes, its shape."""

    predict: object  # callable(batches) -> class probabilities
    sizes: dict
    layers: int
    predict_one: object = None  # callable(a batch of one model-ready input) -> class probabilities
    keras_model: object = None  # the Keras model it runs (None for a TFLite flatbuffer)


def load_deployable(variant: Variant, artifact: str, job: TrainingJob, threads: int) -> Deployable:
    """A TFLite flatbuffer runs in LiteRT's interpreter; a weights file (trained kinds) loads into
    the architecture its kind builds (the kind's ``load_classifier`` hook, else the classifier);
    a whole model file (derived kinds: pruning may change the architecture) loads as it is."""
    if artifact.endswith(".tflite"):
        with open(artifact, "rb") as handle:
            predictor = TFLitePredictor(handle.read(), threads=threads)
        return Deployable(lambda batches: predictor.predict(batch.numpy() for batch, _ in batches),
                          measure.file_size(artifact), predictor.op_count,
                          predict_one=lambda x: predictor.predict([x]))
    if artifact.endswith("weights.h5"):
        hook = getattr(variant.spec.implementation(), "load_classifier", None)
        model = hook(job) if hook else build_classifier(job.model_name, job.n_classes, job.input_size,
                                                        sample_shape=job.sample_shape)
        model.load_weights(artifact)
    else:
        model = load_model(artifact)
    # one request as a server runs it: a traced function of a batch of one, no Keras predict loop
    serve = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
    return Deployable(lambda batches: model.predict(batches, verbose=0), measure.weights_size(model),
                      len(model.layers), predict_one=lambda x: serve(x).numpy(), keras_model=model)
