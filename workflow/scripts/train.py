"""Transfer-learn one model variant and save its weights and per-epoch history. A trained kind's
module may build the model (float16), prepare it (transfer) or convert it after training
(registry: opscore.variants)."""
from opscore.job import identity, start_job

start_job(snakemake)

from opscore import training  # noqa: E402
from opscore.data.prepared import load_prepared, sample_shape  # noqa: E402
from opscore.models import build_classifier, pipeline_size, preprocess_function, set_batchnorm_momentum, unfreeze_top  # noqa: E402
from opscore.scratch_models import adapt_normalization  # noqa: E402
from opscore.variants import Built, TrainingJob, parse_variant  # noqa: E402

wc, params, inputs = snakemake.wildcards, snakemake.params, snakemake.input
variant = parse_variant(wc.variant)
hooks = variant.spec.implementation()
seed = int(wc.seed)
training.use_threads(snakemake.threads)
data = load_prepared(inputs.data)
size = pipeline_size(wc.model, params.input_size)  # None: the model takes images as they are
job = TrainingJob(wc.model, len(data["class_names"]), params.input_size, sample_shape(data),
                  inputs.base_weights or None, seed, params.learning_rate, params.settings, dict(inputs.items()))
training.seed_everything(seed)


def train():
    """Build (the kind's hook or the classifier), prepare and train; the model and its epochs."""
    if hasattr(hooks, "build"):
        built = hooks.build(job)
    else:
        built = Built(build_classifier(wc.model, job.n_classes, job.input_size, base_weights=job.base_weights,
                                       seed=seed, sample_shape=job.sample_shape))
    model = built.model
    if len(job.sample_shape) == 1 and adapt_normalization(model, data["x_train"]):
        print("feature normalization fitted on the training split")
    if hasattr(hooks, "before_training"):
        hooks.before_training(model, variant, job)
    if params.batchnorm_momentum:
        print(f"batch-norm momentum {params.batchnorm_momentum} in "
              f"{set_batchnorm_momentum(model, params.batchnorm_momentum)} layers")
    depth = unfreeze_top(model, wc.unfreeze)
    print(f"{wc.model} {wc.variant}: {depth} of {len(model.layers)} layers trainable (unfreeze={wc.unfreeze})")
    preprocess = preprocess_function(wc.model)
    train_data = training.epoch_pipelines(data["x_train"], data["y_train"], preprocess, size,
                                          params.batch_size, seed=seed, dtype=built.input_dtype)
    validation_data = training.make_pipeline(data["x_test"], data["y_test"], preprocess, size,
                                             params.batch_size, dtype=built.input_dtype)
    history = training.train_classifier(model, train_data, validation_data, params.epochs, params.learning_rate,
                                        backup_dir=params.backup_dir, optimizer=built.optimizer)
    return model, history.assign(trainable_layers=depth, trained_in=built.trained_in)


# a kind whose training would repeat another's takes that one's result (float16 trained in float32)
reused = hooks.reuse_training(job) if hasattr(hooks, "reuse_training") else None
model, history = reused or train()
trained_in = history["trained_in"].iloc[0]
history = history.assign(**identity(wc))  # a reused history is another variant's: renamed to this one
history.to_parquet(snakemake.output.history)
if hasattr(hooks, "after_training"):
    model = hooks.after_training(model, job, trained_in)
training.save_weights_atomic(model, snakemake.output.checkpoint)
