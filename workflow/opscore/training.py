"""Transfer learning: the input pipeline, the training loop and its per-epoch record.

Images stay uint8 until a batch is drawn: the pipeline casts, converts grey to RGB, resizes
to the model's input size and applies the application's own `preprocess_input` per batch,
so no float copy of a whole dataset is ever held in memory.
"""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd


class TrainingError(Exception):
    """Training failed in a way that must not produce an artifact (e.g. a NaN loss)."""


def make_pipeline(x: np.ndarray, y: np.ndarray, preprocess, input_size: int, batch_size: int,
                  shuffle: bool = False, seed: int = 0, dtype: str = "float32"):
    """A batched tf.data pipeline from uint8 images; preprocessing runs per batch in the graph."""
    from opscore.tf import tf

    def to_model_input(images, labels):
        images = tf.cast(images, "float32")
        if images.shape[-1] == 1:
            images = tf.image.grayscale_to_rgb(images)
        if images.shape[1] != input_size or images.shape[2] != input_size:
            images = tf.image.resize(images, (input_size, input_size))
        return tf.cast(preprocess(images), dtype), labels

    data = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle:
        data = data.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    return data.batch(batch_size).map(to_model_input, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def use_threads(threads: int) -> None:
    """Pin TensorFlow's thread pools to what the job was given (recorded beside every timing)."""
    from opscore.tf import tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(min(threads, 2))


def seed_everything(seed: int) -> None:
    """Same seed on the same CPU machine gives the same weights (deterministic kernels)."""
    from opscore.tf import keras, tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


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


def train_classifier(model, train_data, validation_data, epochs: int, learning_rate: float,
                     backup_dir: str | Path | None = None, optimizer=None) -> pd.DataFrame:
    """Compile with Adam (or the given optimizer) and fit; return one row per epoch.

    With `backup_dir`, Keras BackupAndRestore keeps the state of the last completed epoch
    there, so a killed job resumes where it stopped; the epoch records are kept beside it.
    """
    from opscore.tf import keras

    model.compile(optimizer=optimizer or keras.optimizers.Adam(learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    rows: list = []
    callbacks = [_epoch_recorder(rows), keras.callbacks.TerminateOnNaN()]
    done_rows = pd.DataFrame()
    if backup_dir is not None:
        backup_dir = Path(backup_dir)
        record = backup_dir / "epochs.csv"
        if record.exists():
            done_rows = pd.read_csv(record)
        callbacks.insert(0, keras.callbacks.BackupAndRestore(str(backup_dir / "state")))
        callbacks.append(keras.callbacks.LambdaCallback(
            on_epoch_end=lambda epoch, logs: _append_epoch(record, rows[-1])))
    model.fit(train_data, validation_data=validation_data, epochs=epochs, callbacks=callbacks, verbose=2)
    history = pd.concat([done_rows, pd.DataFrame(rows)], ignore_index=True)
    history = history.drop_duplicates("epoch", keep="last").sort_values("epoch").reset_index(drop=True)
    losses = history.get("loss", pd.Series(dtype=float))
    if len(history) < epochs or not np.isfinite(losses).all():
        bad = history.loc[~np.isfinite(losses), "epoch"].tolist()
        raise TrainingError(f"training loss became NaN/inf (epochs {bad or [len(history) + 1]}); "
                            "no model is saved. Lower the learning rate or check the data.")
    if backup_dir is not None:
        shutil.rmtree(backup_dir, ignore_errors=True)
    return history


def _append_epoch(record: Path, row: dict) -> None:
    record.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame([row]).to_csv(record, mode="a", header=not record.exists(), index=False)


def save_weights_atomic(model, path: str | Path) -> None:
    """Weights only (no optimizer state), written under a temporary name then renamed, so a
    killed job never leaves a file that looks complete."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.partial{path.suffix}")
    model.save_weights(str(tmp))
    os.replace(tmp, path)
