"""Measure one trained variant: metrics on the test split, timed inference repeats, size."""
import pandas as pd

from opscore.job import identity, redirect_output

redirect_output(snakemake.log[0])

from opscore import measure  # noqa: E402
from opscore.data import load_prepared  # noqa: E402
from opscore.models import build_classifier, preprocess_function  # noqa: E402
from opscore.training import make_pipeline, use_threads  # noqa: E402

wc, params = snakemake.wildcards, snakemake.params
use_threads(snakemake.threads)
data = load_prepared(snakemake.input.data)
model = build_classifier(wc.model, len(data["class_names"]), params.input_size)
model.load_weights(snakemake.input.checkpoint)
test_data = make_pipeline(data["x_test"], data["y_test"], preprocess_function(wc.model), params.input_size,
                          params.batch_size)

probabilities, seconds = measure.time_repeats(lambda: model.predict(test_data, verbose=0), params.repeats)
history = pd.read_parquet(snakemake.input.history)
context = {**measure.runtime_context(), "precision": "float32", "code_version": params.code_version,
           "batch_size": params.batch_size}
row = {
    **identity(wc),
    **measure.classification_metrics(data["y_test"], probabilities),
    "train_time_s": float(history["epoch_seconds"].sum()),
    "first_epoch_s": float(history["epoch_seconds"].iloc[0]),
    "epochs": int(len(history)),
    "prep_time_s": 0.0,
    **measure.timing_summary(seconds, len(data["y_test"])),
    **measure.weights_size(model),
    **context,
}
pd.DataFrame([row]).to_parquet(snakemake.output.metrics)
measure.timings_frame(seconds, identity(wc), context).to_parquet(snakemake.output.timings)
print(pd.Series(row).to_string())
