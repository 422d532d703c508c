"""Send everything a job prints (Python and TensorFlow's C++ logging alike) to its log file."""
import os
import subprocess
import sys
from pathlib import Path


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
