"""Transfer-learn one model variant and save its weights and per-epoch history."""
from opscore.job import identity, redirect_output

redirect_output(snakemake.log[0])

from opscore import training  # noqa: E402
from opscore.data import load_prepared  # noqa: E402
from opscore.models import build_classifier, preprocess_function, unfreeze_top  # noqa: E402

wc, params = snakemake.wildcards, snakemake.params
seed = int(wc.seed)
training.use_threads(snakemake.threads)
data = load_prepared(snakemake.input.data)
training.seed_everything(seed)
model = build_classifier(wc.model, len(data["class_names"]), params.input_size,
                         base_weights=snakemake.input.base_weights or None, seed=seed)
depth = unfreeze_top(model, wc.unfreeze)
print(f"{wc.model}: {depth} of {len(model.layers)} layers trainable (unfreeze={wc.unfreeze})")
preprocess = preprocess_function(wc.model)
train_data = training.make_pipeline(data["x_train"], data["y_train"], preprocess, params.input_size,
                                     params.batch_size, shuffle=True, seed=seed)
validation_data = training.make_pipeline(data["x_test"], data["y_test"], preprocess, params.input_size,
                                         params.batch_size)
history = training.train_classifier(model, train_data, validation_data, params.epochs, params.learning_rate,
                                    backup_dir=params.backup_dir)
for key, value in {**identity(wc), "trainable_layers": depth}.items():
    history[key] = value
history.to_parquet(snakemake.output.history)
training.save_weights_atomic(model, snakemake.output.checkpoint)
