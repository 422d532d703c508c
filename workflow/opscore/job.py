"""What every job shares: its output written atomically and recorded (opscore.integrity), its
inputs checked, everything it prints (Python and TensorFlow's C++ logging alike) in its log file,
an error as one line at the end of it, and its provenance (identity, code version)."""
import atexit
import contextlib
import os
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path

from opscore import integrity


@contextlib.contextmanager
def atomic_path(path, suffix: str = "", record: bool = True):
    """Yield a temporary path beside ``path`` to write to; on success it is renamed onto ``path``
    (atomic within one filesystem) and, with ``record``, its SHA-256 and size recorded beside it
    (opscore.integrity); on failure removed: a killed job never leaves a half-written artifact
    that a rerun would take as done. ``suffix``: for writers that choose the format by extension
    (Keras' .h5, altair's .svg)."""
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
        if record:
            integrity.write_record(path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def write_atomic(path, payload: bytes | str, record: bool = True) -> None:
    """Write ``payload`` to ``path`` atomically (see :func:`atomic_path`)."""
    with atomic_path(path, record=record) as tmp, open(tmp, "wb" if isinstance(payload, bytes) else "w") as handle:
        handle.write(payload)


def start_job(snakemake) -> None:
    """What every job script does first: its output to its log; the records of the outputs it
    remakes dropped; every input checked against its record; and, when it ends, its outputs
    recorded (success) or its error said as one line at the end of the log (failure; the
    traceback too with ``snakemake --verbose``, or OPSCORE_VERBOSE=1)."""
    redirect_output(snakemake.log[0])
    outputs, inputs = [str(p) for p in snakemake.output], [str(p) for p in snakemake.input]
    for path in outputs:
        integrity.record_path(path).unlink(missing_ok=True)
    state = {"failed": False}

    def on_error(kind, error, tb):
        state["failed"] = True
        if os.environ.get("OPSCORE_VERBOSE"):
            traceback.print_exception(kind, error, tb)
        print(f"ERROR: {one_line_error(error, inputs)}", file=sys.stderr, flush=True)

    def on_exit():
        if not state["failed"]:
            for path in outputs:
                if Path(path).is_file() and not integrity.is_recorded_as_is(path):
                    integrity.write_record(path)

    sys.excepthook = on_error
    atexit.register(on_exit)
    for path in inputs:
        if Path(path).is_file():
            integrity.check(path)


def one_line_error(error: BaseException, inputs: list[str]) -> str:
    """A job's error in one line: a damaged input named with the remedy (by its record, or, for a
    file without one, by reading it as its reader would), else the error's message on one line."""
    if not isinstance(error, integrity.DamagedArtifact):
        for path in inputs:
            if integrity.read_record(path) is None and (problem := integrity.diagnose(path)):
                return integrity.message(path, problem)
    text = " ".join(str(error).split()) or type(error).__name__
    hint = "" if os.environ.get("OPSCORE_VERBOSE") else " (the traceback: rerun with --verbose)"
    return f"{text}{hint}" if isinstance(error, integrity.DamagedArtifact) else f"{type(error).__name__}: {text}{hint}"


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
