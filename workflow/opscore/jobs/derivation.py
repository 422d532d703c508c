"""Deriving a variant, the same for every derived kind: the artifact it starts from opened as a
Keras model, its kind's ``make(model, variant, job)`` run with what a derivation is judged and
fine-tuned with (:class:`opscore.kinds.registry.DerivationJob`), the result written as its kind's
artifact type, and what it took recorded (preparation.json, preparation.parquet)."""
from __future__ import annotations

import itertools
import json
import time
from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

from opscore.compression.evaluation import accuracy_evaluator, compression_rate, fine_tuner
from opscore.job import identity, write_atomic
from opscore.jobs.context import JobContext
from opscore.kinds.registry import DerivationJob, NotApplicable
from opscore.measure.costs import count_flops_or_nan
from opscore.measure.sizes import step_sizes
from opscore.models.applications import unfreeze_top
from opscore.models.graph import save_model
from opscore.models.training import seed_everything
from opscore.runtimes import ModelInfo
from opscore.runtimes.tensorflow import load_keras_model

#: artifact type (opscore.kinds.registry.ARTIFACT_FILES) -> how a derived Keras model is written to a path,
#: atomically (a derivation that yields bytes, a flatbuffer, writes them as they are)
WRITERS = {"model": lambda path, model: save_model(model, path)}


def derivation_job(context: JobContext) -> DerivationJob:
    """The held-out share of the train split (stratified, config ``fine_tuning.held_out``) judges
    sensitivities and budgets, the rest fine-tunes (``fine_tuning.epochs`` at
    ``fine_tuning.learning_rate``, else the model's training rate); calibration batches come from
    the whole train split; of the test split, only its inputs are seen, and only to report an
    export's fidelity (opscore.compression.onnx)."""
    data, params, seed = context.data, context.params, context.seed
    tuning = params.fine_tuning
    x_fit, x_check, y_fit, y_check = train_test_split(data["x_train"], data["y_train"], test_size=tuning["held_out"],
                                                      stratify=data["y_train"], random_state=seed)
    fit_data = context.pipeline(x_fit, y_fit, shuffle=True, seed=seed)
    held_out = accuracy_evaluator(context.pipeline(x_check, y_check), y_check, metric=params.metric)
    epochs, rate = tuning["epochs"], tuning["learning_rate"] or params.learning_rate

    def calibration(batches: int) -> list:
        train = context.pipeline(data["x_train"], data["y_train"], shuffle=True, seed=seed)
        return [images.numpy() for images, _ in itertools.islice(train, batches)]

    def test_inputs() -> list:
        return [images.numpy() for images, _ in context.pipeline(data["x_test"], data["y_test"])]

    tune = fine_tuner(fit_data, epochs=epochs, learning_rate=rate) if epochs else None
    return DerivationJob(fit_data, held_out, tune, epochs, rate, seed, params.settings, calibration, test_inputs)


def source_model(context: JobContext, source: str):
    """The Keras model deriving starts from (the trained original's weights, or the artifact of a
    chain's prefix), with the run's unfreeze depth trainable for fine-tuning."""
    prefix = context.variant.prefix
    info = ModelInfo(prefix.name if prefix else "original", context.wildcards.model, context.n_classes,
                     context.params.input_size, context.sample_shape)
    model = load_keras_model(source, info)
    unfreeze_top(model, context.wildcards.unfreeze)
    return model


def prefix_record(context: JobContext) -> dict:
    """What deriving a chain's prefix recorded (its preparation.json: each earlier step in
    ``steps``, ``not_applicable`` if the model could not take it); for a prefix trained on a base
    clustered before training, the clustering as its one step (its record has no ``steps``);
    empty for one step, or when the prefix was trained alone."""
    record = getattr(context.inputs, "source_preparation", None)
    if not record:
        return {"steps": []}
    earlier = json.loads(Path(record).read_text())
    if "steps" not in earlier:
        earlier["steps"] = [{"step": context.variant.prefix.name, "seconds": earlier["seconds"]}]
    return earlier


def derive(context: JobContext, outputs) -> dict:
    """Make the variant of ``context`` with its kind's module and write ``outputs`` (``artifact``,
    ``preparation``, ``layers``); returns what preparation.json records (``row``: what ``make``
    gives the variant's row, e.g. an export's fidelity). A kind that is not
    applicable to the model (:class:`opscore.kinds.registry.NotApplicable`), or a chain whose prefix
    was not, leaves an empty artifact and says why in ``not_applicable``."""
    variant, earlier = context.variant, prefix_record(context)
    seed_everything(context.seed)
    # a prefix the model could not take left an empty artifact: nothing to derive from
    model = None if "not_applicable" in earlier else source_model(context, context.inputs.source)
    job = derivation_job(context)
    start = time.perf_counter()
    try:
        if model is None:
            raise NotApplicable(f"{variant.prefix.name}: {earlier['not_applicable']}")
        derived, made, layers = variant.spec.implementation().make(model, variant, job)
    except NotApplicable as reason:
        # an empty artifact: nothing to deploy or time; the variant's row says why (evaluate)
        derived, made, layers = b"", {"not_applicable": str(reason)}, pd.DataFrame()
        print(f"{variant.name} is not applicable to {context.wildcards.model}: {reason}")
    seconds = time.perf_counter() - start
    step = {"step": variant.step_names[-1], "seconds": seconds}
    info = {"technique": variant.kind, **variant.options, **made, "seconds": seconds,
            "held_out_share": context.params.fine_tuning["held_out"], "fine_tune_epochs": job.epochs,
            "fine_tune_learning_rate": job.learning_rate, "held_out_metric": context.params.metric}
    if isinstance(derived, bytes):
        info["bytes"] = len(derived)
        if model is not None and derived:
            # a flatbuffer or ONNX file computes the graph it was converted from: its FLOPs are that
            # model's (a filter-pruned prefix's, not the run's architecture's), for the variant's row
            info["row"] = {**info.get("row", {}), "flops": count_flops_or_nan(model)}
        write_atomic(outputs.artifact, derived)
        if derived:
            step.update(step_sizes(outputs.artifact))
    else:
        info.update(held_out_accuracy=job.held_out(derived), compression=compression_rate(model, derived))
        WRITERS[variant.spec.artifact](outputs.artifact, derived)
        step.update(step_sizes(derived), held_out=info["held_out_accuracy"])
    # what each step of a chain made, in order: a chain is drawn as its steps (study chain_steps)
    info["steps"] = earlier["steps"] + [step]
    layers = layers.copy()
    layers.attrs = {}
    for key, value in identity(context.wildcards).items():
        layers[key] = value
    layers.astype({c: str for c in layers.columns if layers[c].dtype == object}).to_parquet(outputs.layers)
    write_atomic(outputs.preparation, json.dumps(info, indent=2, default=str))
    print(json.dumps(info, indent=2, default=str))
    print(layers.to_string())
    return info
