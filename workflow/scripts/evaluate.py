"""Measure one variant's quality through the runtime it deploys on: metrics on the test split with
their 95 % intervals, every prediction (for paired comparisons), size and theoretical cost. Its
timing is the dataset's benchmark job's (rule benchmark), taken with every variant alike."""
import json
import resource

import numpy as np
import pandas as pd

from opscore.job import code_version, identity, start_job

start_job(snakemake)

from opscore.jobs.context import job_context  # noqa: E402
from opscore.measure import costs, uncertainty  # noqa: E402
from opscore.measure.context import library_versions  # noqa: E402
from opscore.measure.quality import classification_metrics, predictions_frame  # noqa: E402
from opscore.runtimes import loaded_runtime_libraries  # noqa: E402
from opscore.runtimes.deploy import load_deployable  # noqa: E402

# a LiteRT or ONNX variant is evaluated in a process that holds its runtime alone (no TensorFlow)
context = job_context(snakemake, evaluating=True)
wc, inputs, variant, data = context.wildcards, context.inputs, context.variant, context.data
job = context.training_job()
history = pd.read_parquet(inputs.history)
preparation = json.loads(open(inputs.preparation).read()) if "preparation" in inputs.keys() else {}
steps = preparation.get("steps") or ([{"step": wc.variant, "seconds": preparation["seconds"]}] if preparation else [])


def measured() -> tuple[dict, dict, np.ndarray]:
    """The variant deployed in its runtime: its quality on the test split, its costs and sizes, and
    every class probability."""
    test_data = context.test_batches()
    deployable = load_deployable(variant, inputs.artifact, job, snakemake.threads)
    probabilities = deployable.predict(test_data).astype("float64")
    # a TFLite or ONNX file computes the graph of the Keras model it was converted from: its FLOPs
    # come with the derivation's record (opscore.jobs.derivation); a record without them, from the
    # run's architecture built afresh
    converted = preparation.get("row", {}).get("flops")
    graph = deployable.keras_model or (None if converted is not None else context.classifier())
    cost = {"flops": costs.count_flops_or_nan(graph) if graph is not None else converted,
            "param_bytes": costs.parameter_bytes(deployable.keras_model) if deployable.keras_model
            else deployable.sizes["size_bytes"]}
    quality = {**classification_metrics(data["y_test"], probabilities),
               **uncertainty.intervals(data["y_test"], probabilities, seed=context.seed)}
    return quality, {**cost, **deployable.sizes}, probabilities


# a kind the model cannot take (opscore.jobs.derivation) leaves nothing to measure: its row says why
if reason := preparation.get("not_applicable"):
    quality, deployed, probabilities = {"not_applicable": reason}, {}, np.zeros((0, len(data["class_names"])))
else:
    quality, deployed, probabilities = measured()
# only float16's precision depends on how it was trained (see the registry)
precision = variant.precision(history["trained_in"].iloc[0] if "trained_in" in history else None)
row = {
    **identity(wc),
    **quality,
    "train_time_s": float(history["epoch_seconds"].sum()),
    "first_epoch_s": float(history["epoch_seconds"].iloc[0]),
    "epochs": int(len(history)),
    # a chain's steps each took their time (opscore.jobs.derivation); a clustered base's record has no steps
    "prep_time_s": float(sum(step["seconds"] for step in steps)),
    "prep_steps_s": json.dumps({step["step"]: step["seconds"] for step in steps}),
    # and what each step made (sizes, parameters, kernels, held-out metric): a chain drawn as its steps
    "prep_steps": json.dumps(steps, default=float),
    "job_peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,  # this evaluating job's
    "job_runtime_imports": ",".join(loaded_runtime_libraries()),  # what that memory holds
    **deployed,
    **preparation.get("row", {}),  # what the derivation gives the row (opscore.jobs.derivation)
    **library_versions(), "precision": precision, "code_version": code_version(),
}
pd.DataFrame([row]).to_parquet(snakemake.output.metrics)
predictions_frame(data["y_test"][:len(probabilities)], probabilities, identity(wc)).to_parquet(
    snakemake.output.predictions)
print(pd.Series(row).to_string())
