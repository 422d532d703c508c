"""What every job shares: its output written atomically, everything it prints (Python and
TensorFlow's C++ logging alike) in its log file, and its provenance (identity, code version)."""
import contextlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path, suffix: str = ""):
    """Yield a temporary path beside ``path`` to write to; on success it is renamed onto ``path``
    (atomic within one filesystem), on failure removed: a killed job never leaves a half-written
    artifact that a rerun would take as done. ``suffix``: for writers that choose the format by
    extension (Keras' .h5, altair's .svg)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".partial{suffix}", dir=path.parent)
    os.close(fd)
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would survive the rename
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def write_atomic(path, payload: bytes | str) -> None:
    """Write ``payload`` to ``path`` atomically (see :func:`atomic_path`)."""
    with atomic_path(path) as tmp, open(tmp, "wb" if isinstance(payload, bytes) else "w") as handle:
        handle.write(payload)


def redirect_output(log_path: str) -> None:
    """Point file descriptors 1 and 2 at `log_path` so even native library output lands there."""
    os.makedirs(os.path.dirname(log_path) or ".", exist_ok=True)
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    sys.stdout = os.fdopen(1, "w", buffering=1)
    sys.stderr = os.fdopen(2, "w", buffering=1)


IDENTITY = ("dataset", "model", "variant", "unfreeze", "split", "seed")


def identity(wildcards) -> dict:
    """What identifies a trained variant, from a job's wildcards (seed as int, unfreeze as str)."""
    return {key: (int(getattr(wildcards, key)) if key == "seed" else str(getattr(wildcards, key)))
            for key in IDENTITY}


def git_version(repo: str | Path) -> str:
    """The code version (commit hash, '-dirty' if the tree has changes); 'unknown' outside git."""
    try:
        head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True,
                              text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return head + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def code_version() -> str:
    """The git version of the checkout this library runs from. Read by the job itself, not passed
    as a rule parameter, so that a new commit does not make Snakemake redo every measurement."""
    return git_version(Path(__file__).resolve().parents[2])


def read_parquets(paths):
    """The tables at ``paths`` one under the other (empty when there are none)."""
    import pandas as pd

    return pd.concat([pd.read_parquet(path) for path in paths], ignore_index=True) if paths else pd.DataFrame()
