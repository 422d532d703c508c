"""Measure one variant's quality through the runtime it deploys on: metrics on the test split with
their 95 % intervals, every prediction (for paired comparisons), size and theoretical cost. Its
timing is the dataset's benchmark job's (rule benchmark), taken with every variant alike."""
import json
import resource

import pandas as pd

from opscore.job import code_version, identity, start_job

start_job(snakemake)

from opscore import costs, measure, uncertainty  # noqa: E402
from opscore.data.prepared import load_prepared, sample_shape  # noqa: E402
from opscore.deploy import load_deployable  # noqa: E402
from opscore.models import build_classifier, pipeline_size, preprocess_function  # noqa: E402
from opscore.training import make_pipeline, use_threads  # noqa: E402
from opscore.variants import TrainingJob, parse_variant  # noqa: E402

wc, params, inputs = snakemake.wildcards, snakemake.params, snakemake.input
variant = parse_variant(wc.variant)
use_threads(snakemake.threads)
data = load_prepared(inputs.data)
size = pipeline_size(wc.model, params.input_size)  # None: the model takes images as they are
job = TrainingJob(wc.model, len(data["class_names"]), params.input_size, sample_shape(data))
# a float16 model takes float16 images; table rows stay float32 (see scratch_models.build_a2e)
dtype = variant.spec.input_dtype if len(job.sample_shape) > 1 else "float32"
test_data = make_pipeline(data["x_test"], data["y_test"], preprocess_function(wc.model), size,
                          params.batch_size, dtype=dtype)
deployable = load_deployable(variant, inputs.artifact, job, snakemake.threads)
probabilities = deployable.predict(test_data).astype("float64")
# a TFLite file computes the graph of the Keras model it was converted from
graph = deployable.keras_model or build_classifier(wc.model, job.n_classes, job.input_size, sample_shape=job.sample_shape)
cost = {"flops": costs.count_flops_or_nan(graph),
        "param_bytes": costs.parameter_bytes(deployable.keras_model) if deployable.keras_model
        else deployable.sizes["size_bytes"]}
history = pd.read_parquet(inputs.history)
preparation = json.loads(open(inputs.preparation).read()) if "preparation" in inputs.keys() else {}
# only float16's precision depends on how it was trained (see the registry)
precision = variant.precision(history["trained_in"].iloc[0] if "trained_in" in history else None)
row = {
    **identity(wc),
    **measure.classification_metrics(data["y_test"], probabilities),
    **uncertainty.intervals(data["y_test"], probabilities, seed=int(wc.seed)),
    "train_time_s": float(history["epoch_seconds"].sum()),
    "first_epoch_s": float(history["epoch_seconds"].iloc[0]),
    "epochs": int(len(history)),
    "prep_time_s": float(preparation.get("seconds", 0.0)),
    "job_peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,  # this evaluating job's
    **cost,
    **deployable.sizes,
    **measure.library_versions(), "precision": precision, "code_version": code_version(),
}
pd.DataFrame([row]).to_parquet(snakemake.output.metrics)
measure.predictions_frame(data["y_test"], probabilities, identity(wc)).to_parquet(snakemake.output.predictions)
print(pd.Series(row).to_string())
