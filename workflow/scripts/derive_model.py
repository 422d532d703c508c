"""Derive a variant from the trained original: post-training clustering or a pruning method."""
import json
import time

import pandas as pd
from sklearn.model_selection import train_test_split

from opscore.job import redirect_output

redirect_output(snakemake.log[0])

from opscore import pruning  # noqa: E402
from opscore.data import feature_count, load_prepared  # noqa: E402
from opscore.models import build_classifier, preprocess_function, unfreeze_top  # noqa: E402
from opscore.training import make_pipeline, seed_everything, use_threads  # noqa: E402
from opscore.variants import DENSE_QUANTIZATION, parse_variant  # noqa: E402

wc, params, inputs = snakemake.wildcards, snakemake.params, snakemake.input
variant, seed, settings = parse_variant(wc.variant), int(wc.seed), params.pruning
use_threads(snakemake.threads)
seed_everything(seed)
data = load_prepared(inputs.data)
model = build_classifier(wc.model, len(data["class_names"]), params.input_size, features=feature_count(data))
model.load_weights(inputs.checkpoint)
unfreeze_top(model, wc.unfreeze)  # fine-tuning keeps the run's unfreeze depth

# Sensitivities and budgets are judged on data held out from the TRAIN split, never the test split.
x_fit, x_check, y_fit, y_check = train_test_split(data["x_train"], data["y_train"], test_size=0.1,
                                                  stratify=data["y_train"], random_state=seed)
preprocess = preprocess_function(wc.model)
fit_data = make_pipeline(x_fit, y_fit, preprocess, params.input_size, params.batch_size, shuffle=True, seed=seed)
held_out_accuracy = pruning.accuracy_evaluator(
    make_pipeline(x_check, y_check, preprocess, params.input_size, params.batch_size), y_check, metric=params.metric)

fine_tune = pruning.fine_tuner(fit_data, epochs=settings["fine_tune_epochs"], learning_rate=params.learning_rate)
start = time.perf_counter()
layers = pd.DataFrame()
info = {"technique": variant.kind, **variant.options}
if variant.kind == "cluster":
    from opscore.clustering import cluster_model, distinct_values_per_layer

    clustering = params.clustering
    derived, cluster_info = cluster_model(model, variant.options["k"], init=clustering["init"],
                                          method=clustering["method"], iterations=clustering["iterations"], seed=seed)
    info.update(cluster_info)
    layers = pd.DataFrame(distinct_values_per_layer(derived).items(), columns=["layer", "distinct_values"])
elif variant.kind == "prune-magnitude":
    derived, magnitude_info = pruning.prune_magnitude(
        model, fit_data, target_sparsity=variant.options["sparsity"] / 100, epochs=max(1, settings["fine_tune_epochs"]),
        learning_rate=params.learning_rate,
        schedule="constant" if variant.options.get("schedule") else settings["schedule"])
    info.update({k: v for k, v in magnitude_info.items() if k != "history"})
    layers = pd.DataFrame(pruning.kernel_sparsity(derived).items(), columns=["layer", "sparsity"])
elif variant.kind == "prune-filters":
    derived, layers = pruning.accuracy_aware_filter_pruning(
        model, held_out_accuracy, budget=variant.options["budget"] / 100,
        ratio=variant.options.get("ratio", settings["filter_ratio"] * 100) / 100,
        order="input-to-output" if variant.options.get("order") else "sensitivity",
        fine_tune_fn=fine_tune if settings["fine_tune_epochs"] else None, rounds=settings["rounds"],
        quantize=DENSE_QUANTIZATION.get(variant.options.get("dense")),
        stop_at_first_rejection=settings["on_rejection"] == "stop")
    info["order"] = layers.attrs.get("order")
elif variant.kind == "prune-layers":
    # like filter pruning, each removal is retrained before it is judged against the budget
    derived, layers = pruning.out_of_order_layer_removal(
        model, held_out_accuracy, budget=variant.options["budget"] / 100,
        fine_tune_fn=fine_tune if settings["fine_tune_epochs"] else None,
        stop_at_first_rejection=settings["on_rejection"] == "stop")
elif variant.kind == "quantize-dense":
    derived = pruning.quantize_dense(model, DENSE_QUANTIZATION[variant.options["dense"]])
else:
    raise ValueError(f"{wc.variant} is not a derived Keras variant")
info["seconds"] = time.perf_counter() - start
info["held_out_metric"] = params.metric
info["held_out_accuracy"] = held_out_accuracy(derived)
info["compression"] = pruning.compression_rate(model, derived)

pruning.save_model(derived, snakemake.output.model)
layers = layers.copy()
layers.attrs = {}
for key, value in {"dataset": wc.dataset, "model": wc.model, "variant": wc.variant, "unfreeze": wc.unfreeze,
                   "split": wc.split, "seed": seed}.items():
    layers[key] = value
layers.astype({c: str for c in layers.columns if layers[c].dtype == object}).to_parquet(snakemake.output.layers)
with open(snakemake.output.preparation, "w") as handle:
    json.dump(info, handle, indent=2, default=str)
print(json.dumps(info, indent=2, default=str))
print(layers.to_string())
