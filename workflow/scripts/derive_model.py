"""Derive a variant from the trained original with its kind's module (registry: opscore.variants)."""
import json
import time

from sklearn.model_selection import train_test_split

from opscore.job import identity, start_job

start_job(snakemake)

from opscore.compression.evaluation import accuracy_evaluator, compression_rate, fine_tuner  # noqa: E402
from opscore.compression.graph import save_model  # noqa: E402
from opscore.data.prepared import load_prepared, sample_shape  # noqa: E402
from opscore.models import build_classifier, pipeline_size, preprocess_function, unfreeze_top  # noqa: E402
from opscore.training import make_pipeline, seed_everything, use_threads  # noqa: E402
from opscore.variants import DerivationJob, parse_variant  # noqa: E402

wc, params, inputs = snakemake.wildcards, snakemake.params, snakemake.input
variant, seed = parse_variant(wc.variant), int(wc.seed)
use_threads(snakemake.threads)
seed_everything(seed)
data = load_prepared(inputs.data)
size = pipeline_size(wc.model, params.input_size)  # None: the model takes images as they are
model = build_classifier(wc.model, len(data["class_names"]), params.input_size, sample_shape=sample_shape(data))
model.load_weights(inputs.checkpoint)
unfreeze_top(model, wc.unfreeze)  # fine-tuning keeps the run's unfreeze depth

# Sensitivities and budgets are judged on data held out from the TRAIN split, never the test split.
x_fit, x_check, y_fit, y_check = train_test_split(data["x_train"], data["y_train"], test_size=params.held_out,
                                                  stratify=data["y_train"], random_state=seed)
preprocess = preprocess_function(wc.model)
fit_data = make_pipeline(x_fit, y_fit, preprocess, size, params.batch_size, shuffle=True, seed=seed)
held_out = accuracy_evaluator(make_pipeline(x_check, y_check, preprocess, size, params.batch_size),
                              y_check, metric=params.metric)
epochs, rate = params.fine_tune_epochs, params.fine_tune_learning_rate or params.learning_rate
job = DerivationJob(fit_data, held_out, fine_tuner(fit_data, epochs=epochs, learning_rate=rate) if epochs else None,
                    rate, seed, params.settings)

start = time.perf_counter()
derived, made, layers = variant.spec.implementation().make(model, variant, job)
info = {"technique": variant.kind, **variant.options, **made, "seconds": time.perf_counter() - start,
        "held_out_share": params.held_out, "fine_tune_epochs": epochs, "fine_tune_learning_rate": rate,
        "held_out_metric": params.metric, "held_out_accuracy": held_out(derived),
        "compression": compression_rate(model, derived)}

save_model(derived, snakemake.output.model)
layers = layers.copy()
layers.attrs = {}
for key, value in identity(wc).items():
    layers[key] = value
layers.astype({c: str for c in layers.columns if layers[c].dtype == object}).to_parquet(snakemake.output.layers)
with open(snakemake.output.preparation, "w") as handle:
    json.dump(info, handle, indent=2, default=str)
print(json.dumps(info, indent=2, default=str))
print(layers.to_string())
