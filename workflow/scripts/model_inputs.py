"""One model's requests, ready to answer: the test split preprocessed for it (resized, scaled), as the
benchmark's isolated processes read them with numpy alone (no TensorFlow to preprocess there; none
here either where no resizing is needed: table rows, A2E's images)."""
from opscore.job import start_job

start_job(snakemake)

from opscore.data.prepared import load_prepared, sample_shape  # noqa: E402
from opscore.measure.quality import save_model_inputs  # noqa: E402
from opscore.models.applications import pipeline_size, preprocess_function  # noqa: E402
from opscore.models.training import numpy_batches  # noqa: E402

wc, params = snakemake.wildcards, snakemake.params
data = load_prepared(snakemake.input.data)
batches = numpy_batches(data["x_test"], data["y_test"], preprocess_function(wc.model),
                        pipeline_size(wc.model, params.input_size), params.batch_size)
kept = save_model_inputs(snakemake.output[0], batches, len(data["y_test"]), params.max_inputs,
                         n_classes=len(data["class_names"]), input_size=params.input_size, sample_shape=sample_shape(data))
print(f"{wc.model}: {kept} of {len(data['y_test'])} test inputs kept, model-ready")
