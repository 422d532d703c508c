"""Transfer learning: the input pipeline, the training loop and its per-epoch record.

Images stay uint8 until a batch is drawn: the pipeline casts, converts grey to RGB, resizes
to the model's input size and applies the application's own `preprocess_input` per batch,
so no float copy of a whole dataset is ever held in memory. Tabular rows (float32 features)
go in unchanged.
"""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd

from opscore.job import atomic_path
from opscore.models import checkpoints


class TrainingError(Exception):
    """Training failed in a way that must not produce an artifact (e.g. a NaN loss)."""


def epoch_pipelines(x: np.ndarray, y: np.ndarray, preprocess, input_size: int, batch_size: int,
                    seed: int = 0, dtype: str = "float32"):
    """A function epoch -> that epoch's batches, in an order fixed by (seed, epoch).

    The order depends on nothing else, so a training job resumed at epoch E sees exactly the
    batches an uninterrupted run would have seen from epoch E on.
    """
    from opscore.tf import tf

    images, labels = tf.constant(x), tf.constant(y)  # one uint8 copy, shared by every epoch

    def for_epoch(epoch: int):
        order = np.random.default_rng([seed, epoch]).permutation(len(x))
        return _batches(images, labels, order, preprocess, input_size, batch_size, dtype)

    return for_epoch


def make_pipeline(x: np.ndarray, y: np.ndarray, preprocess, input_size: int, batch_size: int,
                  shuffle: bool = False, seed: int = 0, dtype: str = "float32"):
    """Batches of a whole split in file order, or shuffled once by `seed`."""
    from opscore.tf import tf

    order = np.random.default_rng([seed, 0]).permutation(len(x)) if shuffle else np.arange(len(x))
    return _batches(tf.constant(x), tf.constant(y), order, preprocess, input_size, batch_size, dtype)


def numpy_batches(x: np.ndarray, y: np.ndarray, preprocess, input_size: int | None, batch_size: int):
    """:func:`make_pipeline`'s batches in file order as numpy arrays, made without TensorFlow where
    they need none of its operations: table rows (as they are) and images a model takes at their
    native shape (``input_size`` None: the dense scratch models, whose ``preprocess`` takes numpy).
    Resized or RGB images go through the pipeline. The benchmark's requests are made this way, so
    that a job preparing them for A2E does not start TensorFlow (~5 CPU-s)."""
    if x.ndim > 2 and input_size is not None:
        for inputs, labels in make_pipeline(x, y, preprocess, input_size, batch_size):
            yield inputs.numpy(), labels.numpy()
        return
    for start in range(0, len(x), batch_size):
        batch = x[start:start + batch_size].astype(np.float32)
        yield (batch if batch.ndim == 2 else np.asarray(preprocess(batch), np.float32)), y[start:start + batch_size]


def _batches(images, labels, order: np.ndarray, preprocess, input_size: int, batch_size: int, dtype: str):
    """Gather uint8 images batch by batch and make them model input in the graph: RGB, resized to
    ``input_size``² (None: kept at their native shape). Tabular rows (rank 2: float32 features)
    pass as they are: the model normalises them itself."""
    from opscore.tf import tf

    def to_model_input(indices):
        batch = tf.cast(tf.gather(images, indices), "float32")
        if batch.shape.rank == 2:
            return tf.cast(batch, dtype), tf.gather(labels, indices)
        if input_size is None:  # a model that takes images at their native shape (models.pipeline_size)
            return tf.cast(preprocess(batch), dtype), tf.gather(labels, indices)
        if batch.shape[-1] == 1:
            batch = tf.image.grayscale_to_rgb(batch)
        if batch.shape[1] != input_size or batch.shape[2] != input_size:
            batch = tf.image.resize(batch, (input_size, input_size))
        return tf.cast(preprocess(batch), dtype), tf.gather(labels, indices)

    return (tf.data.Dataset.from_tensor_slices(order).batch(batch_size)
            .map(to_model_input, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE))


def use_threads(threads: int) -> None:
    """Pin TensorFlow's thread pools to what the job was given (recorded beside every timing)."""
    from opscore.tf import tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(min(threads, 2))


def seed_everything(seed: int) -> None:
    """Same seed on the same CPU machine gives the same weights (deterministic kernels).

    Layers that draw random numbers (dropout, EfficientNet's stochastic depth) then use a
    ``tf.random.Generator`` each, whose state is a variable (Keras' TF random generator): the
    training checkpoint saves it, so a resumed run draws the dropout masks an uninterrupted
    one would have drawn (the legacy stateful ops keep their state inside the kernels, lost at
    a kill). Call before building the model."""
    from opscore.tf import keras, tf

    keras.utils.set_random_seed(seed)
    keras.backend.experimental.enable_tf_random_generator()
    tf.config.experimental.enable_op_determinism()


def random_generators(model) -> list:
    """The ``tf.random.Generator`` of every random layer of ``model`` (nested ones too), in
    layer order. Keras leaves them out of the model's checkpoint on purpose (compatibility), so
    the training checkpoint adds them itself."""
    generators = []
    for layer in [model, *model.submodules]:
        generator = getattr(getattr(layer, "_random_generator", None), "_generator", None)
        if generator is not None:
            generators.append(generator)
    return generators


def _epoch_recorder(rows: list):
    """A callback that times each epoch's training part (validation excluded) and keeps its logs."""
    from opscore.tf import keras

    class EpochRecorder(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()
            self.train_seconds = None

        def on_test_begin(self, logs=None):
            if self.train_seconds is None:  # validation at the end of the epoch starts here
                self.train_seconds = time.perf_counter() - self.start

        def on_epoch_end(self, epoch, logs=None):
            total = time.perf_counter() - self.start
            train_seconds = self.train_seconds if self.train_seconds is not None else total
            rows.append({"epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items()},
                         "epoch_seconds": train_seconds, "validation_seconds": total - train_seconds})

    return EpochRecorder()


def compile_classifier(model, learning_rate: float, optimizer=None) -> None:
    """How every classifier here is trained: Adam (or ``optimizer``), sparse cross-entropy on class
    indices, accuracy reported."""
    from opscore.tf import keras

    model.compile(optimizer=optimizer or keras.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])


#: Set to an epoch number (tests/test_resilience.py), a training with a backup directory stops after that
#: epoch's checkpoint and record, writes ``held`` there and waits until ``release`` appears (or it is
#: killed): a test then acts on a training that is certainly mid-way, instead of polling a clock.
HOLD_AFTER_EPOCH = "OPSCORE_HOLD_AFTER_EPOCH"


def _hold_if_asked(backup_dir: Path, completed_epochs: int) -> None:
    if os.environ.get(HOLD_AFTER_EPOCH) != str(completed_epochs):
        return
    (backup_dir / "held").touch()
    while not (backup_dir / "release").exists():
        time.sleep(0.05)


def train_classifier(model, train_data, validation_data, epochs: int, learning_rate: float,
                     backup_dir: str | Path | None = None, optimizer=None) -> pd.DataFrame:
    """Compile with Adam (or the given optimizer) and train epoch by epoch; one row per epoch.

    `train_data` is a dataset, or a function epoch -> dataset (see `epoch_pipelines`). With
    `backup_dir`, the model, optimizer and random-layer state of the last completed epoch are
    checkpointed there with its record, so a killed job resumes after that epoch exactly as an
    uninterrupted run would go on (see `seed_everything`); removed on success.
    """
    from opscore.tf import keras, tf

    compile_classifier(model, learning_rate, optimizer)
    rows: list = []
    callbacks = [_epoch_recorder(rows), keras.callbacks.TerminateOnNaN()]
    first_epoch, manager = 0, None
    if backup_dir is not None:
        backup_dir = Path(backup_dir)
        completed = tf.Variable(0, dtype="int64")
        checkpoint = tf.train.Checkpoint(model=model, optimizer=model.optimizer, completed_epochs=completed,
                                         random_generators=random_generators(model))
        # the newest good checkpoint (a damaged one set aside, logged); the checkpoint is the
        # truth: a record row written after it is dropped
        first_epoch, resumed, manager = checkpoints.resume(checkpoint, completed, backup_dir)
        rows.extend(resumed)
    for epoch in range(first_epoch, epochs):
        data = train_data(epoch) if callable(train_data) else train_data
        model.fit(data, validation_data=validation_data, initial_epoch=epoch, epochs=epoch + 1,
                  callbacks=callbacks, verbose=2)
        if not np.isfinite(rows[-1].get("loss", np.nan)):
            break
        if manager is not None:
            checkpoints.save(manager, completed, epoch + 1, rows, backup_dir)
            _hold_if_asked(backup_dir, epoch + 1)
    history = pd.DataFrame(rows)
    losses = history.get("loss", pd.Series(dtype=float))
    if len(history) < epochs or not np.isfinite(losses).all():
        bad = history.loc[~np.isfinite(losses), "epoch"].tolist()
        if backup_dir is not None:
            shutil.rmtree(backup_dir, ignore_errors=True)  # never resume from a diverged state
        raise TrainingError(f"training loss became NaN/inf (epochs {bad or [len(history) + 1]}); "
                            "no model is saved. Lower the learning rate or check the data.")
    if backup_dir is not None:
        shutil.rmtree(backup_dir, ignore_errors=True)
    return history


def save_weights_atomic(model, path: str | Path) -> None:
    """Weights only (no optimizer state), written under a temporary name then renamed, so a
    killed job never leaves a file that looks complete."""
    with atomic_path(path, suffix=Path(path).suffix) as tmp:
        model.save_weights(tmp)
