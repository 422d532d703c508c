"""Transfer-learn one model variant and save its weights and per-epoch history. A trained kind's
module may build the model (float16), prepare it (transfer) or convert it after training
(registry: opscore.kinds.registry)."""
from opscore.job import identity, start_job

start_job(snakemake)

from opscore.jobs.context import job_context  # noqa: E402
from opscore.kinds.registry import Built  # noqa: E402
from opscore.models import training  # noqa: E402
from opscore.models.applications import set_batchnorm_momentum, unfreeze_top  # noqa: E402
from opscore.models.scratch import adapt_normalization  # noqa: E402

context = job_context(snakemake)
wc, params, inputs, variant, data = context.wildcards, context.params, context.inputs, context.variant, context.data
hooks = variant.spec.implementation()
job = context.training_job(base_weights=inputs.base_weights or None, learning_rate=params.learning_rate,
                           settings=params.settings, inputs=dict(inputs.items()))
training.seed_everything(context.seed)


def train():
    """Build (the kind's hook or the classifier), prepare and train; the model and its epochs."""
    if hasattr(hooks, "build"):
        built = hooks.build(job)
    else:
        built = Built(context.classifier(base_weights=job.base_weights, seed=context.seed))
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
    train_data = training.epoch_pipelines(data["x_train"], data["y_train"], context.preprocess, context.size,
                                          params.batch_size, seed=context.seed, dtype=built.input_dtype)
    validation_data = context.pipeline(data["x_test"], data["y_test"], dtype=built.input_dtype)
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
