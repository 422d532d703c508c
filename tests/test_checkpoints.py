"""A damaged training checkpoint never blocks a run: it is set aside (logged) and training resumes
from the previous good one, or starts afresh, to the same result as an uninterrupted run."""
import numpy as np
import pandas as pd
import pytest

from opscore.models import training
from opscore.models.scratch import build as build_scratch
from opscore.models.scratch import preprocess

EPOCHS = 4


class Interrupted(Exception):
    pass


def train(digits, backup_dir, stop_at=None):
    """A2E on 600 digits for EPOCHS epochs, checkpointed in backup_dir; stopped (as a kill would)
    before epoch ``stop_at``."""
    training.seed_everything(0)
    x, y = digits["x_train"][:600], digits["y_train"][:600]
    model = build_scratch("A2E", 10, (8, 8, 1), seed=0)
    batches = training.epoch_pipelines(x, y, preprocess, None, 64, seed=0)

    def epoch_data(epoch):
        if epoch == stop_at:
            raise Interrupted
        return batches(epoch)

    validation = training.make_pipeline(x[:100], y[:100], preprocess, None, 64)
    return training.train_classifier(model, epoch_data, validation, EPOCHS, 0.001, backup_dir=backup_dir)


@pytest.fixture(scope="module")
def uninterrupted(digits_dataset, tmp_path_factory):
    return train(digits_dataset, tmp_path_factory.mktemp("fresh") / "backup")


def interrupted(digits, backup_dir):
    with pytest.raises(Interrupted):
        train(digits, backup_dir, stop_at=3)
    checkpoints = sorted((backup_dir / "state").glob("ckpt-*.index"))
    assert [path.name for path in checkpoints] == ["ckpt-2.index", "ckpt-3.index"]  # the last two kept
    return backup_dir / "state"


def truncate(prefix_path):
    for data in prefix_path.parent.glob(prefix_path.name + ".data-*"):
        data.write_bytes(data.read_bytes()[: data.stat().st_size // 2])


@pytest.mark.slow
def test_a_damaged_last_checkpoint_is_set_aside_and_training_resumes_from_the_one_before(
        digits_dataset, tmp_path, uninterrupted, capfd):
    state = interrupted(digits_dataset, tmp_path / "backup")
    truncate(state / "ckpt-3")
    history = train(digits_dataset, tmp_path / "backup")
    log = capfd.readouterr().out
    assert f"checkpoint {state / 'ckpt-3'} is damaged" in log and "set aside in" in log
    assert "resuming after epoch 2" in log
    assert list(history["epoch"]) == list(range(1, EPOCHS + 1))
    columns = ["loss", "accuracy", "val_loss", "val_accuracy"]
    pd.testing.assert_frame_equal(uninterrupted[columns], history[columns], rtol=1e-5)


@pytest.mark.slow
def test_no_good_checkpoint_means_a_fresh_start_not_a_crash(digits_dataset, tmp_path, uninterrupted, capfd):
    state = interrupted(digits_dataset, tmp_path / "backup")
    truncate(state / "ckpt-3")
    (state / "ckpt-2.index").write_bytes(b"\0" * 10)
    history = train(digits_dataset, tmp_path / "backup")
    log = capfd.readouterr().out
    assert log.count("is damaged") == 2 and "training starts afresh" in log
    np.testing.assert_allclose(history["loss"], uninterrupted["loss"], rtol=1e-5)
