"""Transfer-learn one model variant and save its weights and per-epoch history."""
from opscore.job import identity, redirect_output

redirect_output(snakemake.log[0])

from opscore import training  # noqa: E402
from opscore.data import feature_count, load_prepared  # noqa: E402
from opscore.models import build_classifier, preprocess_function, set_batchnorm_momentum, unfreeze_top  # noqa: E402
from opscore.scratch_models import adapt_normalization  # noqa: E402
from opscore.variants import parse_variant  # noqa: E402

wc, params, inputs = snakemake.wildcards, snakemake.params, snakemake.input
variant = parse_variant(wc.variant)
seed = int(wc.seed)
training.use_threads(snakemake.threads)
data = load_prepared(inputs.data)
n_classes, features = len(data["class_names"]), feature_count(data)
training.seed_everything(seed)

optimizer, dtype, trained_in = None, "float32", "float32"
if variant.kind == "float16":
    from opscore import quantization

    trained_in = quantization.float16_training_precision(params.float16_training)
    print(f"float16 variant: trained in {trained_in} (float16.training: {params.float16_training}), saved in float16")
if trained_in == "float16":
    model = quantization.build_float16_classifier(wc.model, n_classes, params.input_size,
                                                  base_weights=inputs.base_weights or None, seed=seed,
                                                  features=features)
    optimizer = quantization.float16_optimizer(params.learning_rate)
    dtype = "float16" if features is None else "float32"  # table rows stay float32 (build_a2e)
else:
    model = build_classifier(wc.model, n_classes, params.input_size, base_weights=inputs.base_weights or None,
                             seed=seed, features=features)
if features is not None and adapt_normalization(model, data["x_train"]):
    print("feature normalization fitted on the training split")
if variant.kind == "transfer":
    from opscore.transfer import transfer_top_layers

    donor = build_classifier(variant.options["donor"], n_classes, params.input_size, features=features)
    donor.load_weights(inputs.donor)
    for pair in transfer_top_layers(donor, model, variant.options["layers"]):
        print("transferred %s -> %s" % pair)

if params.batchnorm_momentum:
    print(f"batch-norm momentum {params.batchnorm_momentum} in {set_batchnorm_momentum(model, params.batchnorm_momentum)} layers")
depth = unfreeze_top(model, wc.unfreeze)
print(f"{wc.model} {wc.variant}: {depth} of {len(model.layers)} layers trainable (unfreeze={wc.unfreeze})")
preprocess = preprocess_function(wc.model)
train_data = training.epoch_pipelines(data["x_train"], data["y_train"], preprocess, params.input_size,
                                      params.batch_size, seed=seed, dtype=dtype)
validation_data = training.make_pipeline(data["x_test"], data["y_test"], preprocess, params.input_size,
                                         params.batch_size, dtype=dtype)
history = training.train_classifier(model, train_data, validation_data, params.epochs, params.learning_rate,
                                    backup_dir=params.backup_dir, optimizer=optimizer)
for key, value in {**identity(wc), "trainable_layers": depth, "trained_in": trained_in}.items():
    history[key] = value
history.to_parquet(snakemake.output.history)
if variant.kind == "float16" and trained_in == "float32":
    model = quantization.to_float16(model, wc.model, n_classes, params.input_size, features=features)
training.save_weights_atomic(model, snakemake.output.checkpoint)
