"""Nothing lost when a job dies: real kills of real training jobs, resumed; NaN losses fail loudly."""
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT, finish, start_snakemake, test_config
from test_workflow import tiny_run

from opscore.models.training import HOLD_AFTER_EPOCH

RUN = "results/models/digits/70-30/seed-0/A2E/original/unfreeze-all"


def config(**training):
    """tests/configs/tiny.yaml (A2E, no dropout, so a resumed run can be compared exactly, 2 epochs),
    its training changed by ``training``."""
    cfg = test_config("tiny")
    cfg["training"].update(training)
    return cfg


def start(workdir: Path, cfg: dict, target: str, hold_after_epoch: int | None = None) -> subprocess.Popen:
    env = None if hold_after_epoch is None else {HOLD_AFTER_EPOCH: str(hold_after_epoch)}
    return start_snakemake(workdir, cfg, "--rerun-incomplete", target, env=env)


def wait_until_held(process: subprocess.Popen, backup: Path) -> None:
    """Wait for the training to say it holds after its epoch (opscore.models.training.HOLD_AFTER_EPOCH):
    an event the training writes, not a poll racing its epochs."""
    deadline = time.monotonic() + 600
    while not (backup / "held").exists():
        assert process.poll() is None, "the training ended without holding:\n" + process.stdout.read()[-3000:]
        assert time.monotonic() < deadline, "the training did not reach its held epoch in 600 s"
        time.sleep(0.1)


@pytest.mark.slow
def test_killed_training_resumes_from_the_last_completed_epoch(tmp_path, tmp_path_factory):
    target = f"{RUN}/weights.h5"
    process = start(tmp_path, config(), target, hold_after_epoch=1)
    record = tmp_path / RUN / "backup" / "epochs.csv"
    wait_until_held(process, record.parent)
    os.killpg(process.pid, signal.SIGKILL)  # snakemake and its training job, held after epoch 1 of 2
    process.wait(timeout=30)
    before_kill = pd.read_csv(record)
    assert list(before_kill["epoch"]) == [1]
    assert not (tmp_path / target).exists(), "a killed job left a checkpoint that looks complete"
    assert not list((tmp_path / RUN).glob("history.parquet"))

    # A SIGKILL leaves Snakemake's lock behind; the user unlocks, as Snakemake tells them to.
    code, output = finish(start(tmp_path, config(), "--unlock"))
    assert code == 0, output[-3000:]
    code, output = finish(start(tmp_path, config(), target))
    assert code == 0, output[-3000:]
    log = (tmp_path / "results/logs/train" / RUN.removeprefix("results/models/")).with_suffix(".log").read_text()
    assert "resuming after epoch 1" in log
    history = pd.read_parquet(tmp_path / RUN / "history.parquet")
    assert list(history["epoch"]) == [1, 2]
    # The epochs finished before the kill are kept as they were, not redone.
    pd.testing.assert_frame_equal(history.loc[: len(before_kill) - 1, before_kill.columns].reset_index(drop=True),
                                  before_kill, check_dtype=False)
    assert not (tmp_path / RUN / "backup").exists()

    # An uninterrupted run of the same seed gives the same epochs: the batch order is a function
    # of (seed, epoch), the optimizer state is restored, kernels are deterministic. The uninterrupted
    # run is tests/test_workflow.py's (the same config, made the same way). Tolerance: 1e-5 relative
    # on every epoch's losses and accuracies.
    uninterrupted = pd.read_parquet(tiny_run(tmp_path_factory) / RUN / "history.parquet")
    columns = ["loss", "accuracy", "val_loss", "val_accuracy"]
    pd.testing.assert_frame_equal(uninterrupted[columns], history[columns], rtol=1e-5)


@pytest.mark.slow
def test_nan_loss_fails_the_job_and_scores_nothing(tmp_path):
    code, output = finish(start(tmp_path, config(learning_rate=1e35, epochs=2), "all"))
    assert code != 0
    log = (tmp_path / "results/logs/train" / RUN.removeprefix("results/models/")).with_suffix(".log").read_text()
    assert "training loss became NaN" in log
    assert not (tmp_path / RUN / "weights.h5").exists()
    assert not (tmp_path / RUN / "backup").exists()
    assert not list(tmp_path.glob("results/measurements/**/metrics.parquet"))
    assert not (tmp_path / "results/scores").exists()


# A child process trains AlexNet (batch norm after every convolution, dropout after both dense
# layers) on real digits with a backup directory, and saves its final weights; the parent kills one.
ALEXNET_CHILD = """
import sys
import numpy as np
from sklearn.datasets import load_digits
from opscore.models import training
from opscore.models.applications import build_classifier, preprocess_function
from opscore.tf import keras

backup, out = sys.argv[1], sys.argv[2]
training.use_threads(2)
training.seed_everything(0)
digits = load_digits()
x = digits.images[..., None].repeat(3, -1).astype("uint8")[:192] * 16  # at their own 8x8
y = digits.target[:192].astype("int64")
model = build_classifier("AlexNet", 10, 8, seed=0)
assert len(training.random_generators(model)) >= 2, "dropout layers draw from checkpointed generators"
batches = training.epoch_pipelines(x, y, preprocess_function("AlexNet"), 8, 64, seed=0)
training.train_classifier(model, batches, None, 3, 1e-3, backup_dir=backup)
np.savez(out, *model.get_weights())
"""


def alexnet_training(backup: Path, out: Path, hold_after_epoch: int | None = None) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "workflow")}
    env.pop(HOLD_AFTER_EPOCH, None)
    if hold_after_epoch is not None:
        env[HOLD_AFTER_EPOCH] = str(hold_after_epoch)
    return subprocess.Popen([sys.executable, "-c", ALEXNET_CHILD, str(backup), str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)


@pytest.mark.slow
def test_killed_alexnet_with_dropout_resumes_to_the_same_weights(tmp_path):
    """After epoch 1 of 3 the training holds (opscore.models.training.HOLD_AFTER_EPOCH) and its backup
    directory is copied: what a SIGKILL at that instant leaves on disk (a kill runs no more code).
    Released, it is the uninterrupted run. A second process resumes from the
    copy: its final weights equal the uninterrupted run's (1e-5), because the dropout layers'
    random state is checkpointed with the model and optimizer. (One training process fewer than
    killing a third run; the workflow test above kills a real training job with SIGKILL.)"""
    backup, killed_backup = tmp_path / "backup", tmp_path / "killed-backup"
    uninterrupted = alexnet_training(backup, tmp_path / "uninterrupted.npz", hold_after_epoch=1)
    wait_until_held(uninterrupted, backup)
    try:
        shutil.copytree(backup, killed_backup)
    finally:
        (backup / "release").touch()
    resumed = alexnet_training(killed_backup, tmp_path / "resumed.npz")
    output, _ = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, output[-3000:]
    assert "resuming after epoch 1" in output
    output, _ = uninterrupted.communicate(timeout=600)
    assert uninterrupted.returncode == 0, output[-3000:]
    with np.load(tmp_path / "resumed.npz") as a, np.load(tmp_path / "uninterrupted.npz") as b:
        assert len(a.files) == len(b.files) > 30  # 5 convolutions, 5 batch norms, 3 dense layers
        for name in a.files:
            np.testing.assert_allclose(a[name], b[name], rtol=1e-5, atol=1e-6, err_msg=name)
