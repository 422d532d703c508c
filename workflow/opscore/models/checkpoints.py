"""Training checkpoints that cannot block a run: before resuming, each checkpoint under
``backup/state`` is read whole (every tensor, without touching the model); a damaged or partial one
is set aside (moved to ``backup/damaged/``, logged) and training resumes from the newest good one,
or starts afresh, saying which. Without this, one truncated file (a kill during a save, a full
disk) made every rerun fail inside ``checkpoint.restore`` naming no file."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pandas as pd

from opscore.job import write_atomic

#: how many epochs' checkpoints are kept: the last, and the one before it should the last be damaged
KEEP = 2


def _candidates(state: Path) -> list[Path]:
    """The checkpoints' prefixes (``state/ckpt-N``), newest first."""
    found = [(int(m[1]), path.with_suffix("")) for path in state.glob("ckpt-*.index")
             if (m := re.fullmatch(r"ckpt-(\d+)\.index", path.name))]
    return [prefix for _, prefix in sorted(found, reverse=True)]


def inspect(prefix: Path) -> tuple[str | None, int]:
    """(what is wrong with the checkpoint ``prefix``, or None; the epochs it completed), every
    tensor read back without touching the model."""
    from opscore.tf import tf

    try:
        reader = tf.train.load_checkpoint(str(prefix))
        values = {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}
        return None, int(values["completed_epochs/.ATTRIBUTES/VARIABLE_VALUE"])
    except Exception as error:  # truncated files raise IndexError, DataLossError, OpError, KeyError...
        return f"{type(error).__name__}: {' '.join(str(error).split())[:200]}", 0


def _set_aside(prefix: Path, backup_dir: Path) -> Path:
    aside = backup_dir / "damaged"
    aside.mkdir(parents=True, exist_ok=True)
    for path in prefix.parent.glob(prefix.name + ".*"):
        shutil.move(str(path), aside / path.name)
    return aside


def _epochs_record(backup_dir: Path, completed: int) -> list[dict] | None:
    """The per-epoch rows up to epoch ``completed``, or None when the record lacks them."""
    try:
        rows = pd.read_csv(backup_dir / "epochs.csv").query("epoch <= @completed")
    except (OSError, ValueError, pd.errors.ParserError):
        return None
    return rows.to_dict("records") if len(rows) == completed else None


def resume(checkpoint, completed, backup_dir: Path):
    """Restore the newest good checkpoint of ``backup_dir/state`` into ``checkpoint``; returns
    (the epochs it completed, their rows, its CheckpointManager for the next saves). Damaged ones
    are set aside, and the log says so and where training goes on from."""
    from opscore.tf import tf

    state = backup_dir / "state"
    first_epoch, rows = 0, []
    for prefix in _candidates(state):
        problem, epochs = inspect(prefix)
        record = None if problem else _epochs_record(backup_dir, epochs)
        if record is not None:
            checkpoint.restore(str(prefix)).expect_partial()
            first_epoch, rows = epochs, record
            break
        problem = problem or "its epochs are missing from epochs.csv"
        print(f"checkpoint {prefix} is damaged ({problem}): set aside in {_set_aside(prefix, backup_dir)}",
              flush=True)
    if rows:
        print(f"resuming after epoch {first_epoch} from {backup_dir}", flush=True)
    elif state.exists():
        print(f"no good checkpoint in {state}: training starts afresh", flush=True)
    # the manager's own list is rebuilt from the checkpoints kept (a damaged one may be in it)
    (state / "checkpoint").unlink(missing_ok=True)
    return first_epoch, rows, tf.train.CheckpointManager(checkpoint, str(state), max_to_keep=KEEP)


def save(manager, completed, epoch: int, rows: list[dict], backup_dir: Path) -> None:
    """Checkpoint after ``epoch`` (1-based count of completed epochs), then its rows (atomically,
    so a kill leaves the old record whole)."""
    completed.assign(epoch)
    manager.save()
    write_atomic(backup_dir / "epochs.csv", pd.DataFrame(rows).to_csv(index=False), record=False)
