"""Measure one variant: metrics on the test split, timed inference repeats (throughput), batch-1
latency percentiles and load time (a deployment's view), size and the process's peak memory."""
import json
import resource

import pandas as pd

from opscore.job import code_version, identity, start_job

start_job(snakemake)

from opscore import costs, latency, measure  # noqa: E402
from opscore.compression.tflite import litert_version  # noqa: E402
from opscore.data.prepared import load_prepared, sample_shape  # noqa: E402
from opscore.deploy import load_deployable  # noqa: E402
from opscore.models import build_classifier, pipeline_size, preprocess_function  # noqa: E402
from opscore.training import in_memory, make_pipeline, use_threads  # noqa: E402
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
test_data, prepared_in_memory = in_memory(test_data, len(data["y_test"]))  # time the model, not the resizing
queries = next(iter(test_data))[0].numpy()  # model-ready test inputs, one per request
deployable, load_seconds = latency.time_load(
    lambda: load_deployable(variant, inputs.artifact, job, snakemake.threads), queries[:1])

probabilities, seconds = measure.time_repeats(lambda: deployable.predict(test_data), params.repeats)
query_seconds = latency.single_stream(deployable.predict_one, queries, **params.latency)
peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # of this measuring process (KiB on Linux)
# a TFLite file computes the graph of the Keras model it was converted from
graph = deployable.keras_model or build_classifier(wc.model, job.n_classes, job.input_size, sample_shape=job.sample_shape)
cost = {"flops": costs.count_flops_or_nan(graph),
        "param_bytes": costs.parameter_bytes(deployable.keras_model) if deployable.keras_model
        else deployable.sizes["size_bytes"]}
history = pd.read_parquet(inputs.history)
preparation = json.loads(open(inputs.preparation).read()) if "preparation" in inputs.keys() else {}
# only float16's precision depends on how it was trained (see the registry)
precision = variant.precision(history["trained_in"].iloc[0] if "trained_in" in history else None)
runtime = f"LiteRT {litert_version()}" if inputs.artifact.endswith(".tflite") else "TensorFlow Keras"
context = {**measure.runtime_context(), "runtime": runtime, "precision": precision, "code_version": code_version(),
           "timed_input": "prepared in memory" if prepared_in_memory else "prepared batch by batch",
           "batch_size": params.batch_size, "threads": snakemake.threads}
row = {
    **identity(wc),
    **measure.classification_metrics(data["y_test"], probabilities.astype("float64")),
    "train_time_s": float(history["epoch_seconds"].sum()),
    "first_epoch_s": float(history["epoch_seconds"].iloc[0]),
    "epochs": int(len(history)),
    "prep_time_s": float(preparation.get("seconds", 0.0)),
    **measure.timing_summary(seconds, len(data["y_test"]), params.unstable_cv),
    **latency.latency_summary(query_seconds),
    "load_time_s": load_seconds,
    "peak_rss_mb": peak_rss_mb,
    **cost,
    **deployable.sizes,
    "layers": deployable.layers,
    **context,
}
pd.DataFrame([row]).to_parquet(snakemake.output.metrics)
measure.timings_frame(seconds, identity(wc), context).to_parquet(snakemake.output.timings)
measure.timings_frame(query_seconds, identity(wc), context, index="query").to_parquet(snakemake.output.latency)
print(pd.Series(row).to_string())
