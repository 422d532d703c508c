"""Integrity of every artifact: each file a job writes gets a record beside it (``.NAME.sha256``:
its SHA-256 and size), and whatever reads an artifact checks it against its record first, so a
damaged file is one clear line naming it and the remedy instead of a library's traceback.

Records live beside their files, so they travel with the results tree (copies, archives);
``python -m opscore.integrity [DIR]`` (``./opscore verify``) checks a whole tree in seconds.
A file made before records existed has none: a job that fails on it is diagnosed by reading it
(:func:`diagnose`). No TensorFlow here: planning reads :func:`size_mismatches`.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

#: the trees whose artifacts have records (relative to the working directory)
TREES = ("results", "resources")
REMEDY = "delete it and rerun: Snakemake remakes it and what depends on it"


class DamagedArtifact(Exception):
    """An artifact that does not match its record, or cannot be read: the message names the
    file, what was expected and the remedy."""


def record_path(path) -> Path:
    path = Path(path)
    return path.parent / f".{path.name}.sha256"


def digest(path) -> str:
    """The file's SHA-256, hex."""
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def write_record(path) -> dict:
    """Record ``path``'s SHA-256, size and modification time beside it (atomically)."""
    path = Path(path)
    stat = path.stat()
    entry = {"file": path.name, "sha256": digest(path), "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    target = record_path(path)
    tmp = target.with_name(f"{target.name}.{os.getpid()}.partial")
    tmp.write_text(json.dumps(entry))
    os.replace(tmp, target)
    return entry


def read_record(path) -> dict | None:
    try:
        return json.loads(record_path(path).read_text())
    except (OSError, ValueError):
        return None


def is_recorded_as_is(path) -> bool:
    """Whether ``path`` has a record made of it as it is now (same size and modification time):
    no need to hash it again."""
    entry, stat = read_record(path), Path(path).stat()
    return bool(entry) and entry.get("bytes") == stat.st_size and entry.get("mtime_ns") == stat.st_mtime_ns


def damage(path, entry: dict, full: bool = True) -> str | None:
    """What is wrong with ``path`` against its record ``entry`` (None: it matches); ``full``
    hashes it, else only its size is compared (cheap enough for every planning)."""
    path = Path(path)
    if not path.exists():
        return "missing"
    size = path.stat().st_size
    if size != entry["bytes"]:
        return f"{size} bytes, recorded {entry['bytes']}"
    if full and digest(path) != entry["sha256"]:
        return f"SHA-256 differs from the recorded {entry['sha256'][:16]}…"
    return None


def message(path, problem: str) -> str:
    return f"{path} is damaged ({problem}); {REMEDY} (rm {path})"


def check(path) -> bool:
    """Raise DamagedArtifact unless ``path`` matches its record; False when it has none."""
    entry = read_record(path)
    if entry is None:
        return False
    problem = damage(path, entry)
    if problem:
        raise DamagedArtifact(message(path, problem))
    return True


def records(root=".") -> list[tuple[Path, dict]]:
    """Every (artifact path, record) under the artifact trees of the working directory ``root``."""
    found = []
    for tree in TREES:
        for folder, _, names in os.walk(Path(root) / tree):
            for name in names:
                if name.startswith(".") and name.endswith(".sha256"):
                    path = Path(folder) / name[1:-len(".sha256")]
                    entry = read_record(path)
                    if entry is not None:
                        found.append((path, entry))
    return sorted(found)


def size_mismatches(root=".") -> list[str]:
    """One message per artifact whose size differs from its record (a truncated file): the check
    every planning makes, so a damaged file is named even when its timestamp says it is done."""
    return [message(path, problem) for path, entry in records(root)
            if (problem := damage(path, entry, full=False)) and problem != "missing"]


def verify(root=".") -> tuple[list[tuple[Path, str]], list[Path], int]:
    """(damaged with what is wrong, missing, how many checked) over a working directory's trees."""
    damaged, missing, entries = [], [], records(root)
    for path, entry in entries:
        problem = damage(path, entry)
        if problem == "missing":
            missing.append(path)
        elif problem:
            damaged.append((path, problem))
    return damaged, missing, len(entries)


def diagnose(path) -> str | None:
    """Read an artifact as its reader would (HDF5, .npz, TFLite, ONNX, parquet, JSON): what is wrong
    with it, or None. For files without a record (made before records existed) after a job
    failed on them."""
    path, suffix = Path(path), Path(path).suffix
    if not path.is_file():
        return None
    try:
        if suffix == ".h5":
            import h5py

            with h5py.File(path, "r") as store:
                store.visititems(lambda _, item: item[()] if isinstance(item, h5py.Dataset) else None)
        elif suffix == ".npz":
            import zipfile

            with zipfile.ZipFile(path) as archive:
                bad = archive.testzip()
            if bad:
                return f"member {bad} fails its CRC"
        elif suffix == ".tflite":
            from ai_edge_litert.interpreter import Interpreter

            Interpreter(model_path=str(path))
        elif suffix == ".onnx":
            import onnx

            onnx.checker.check_model(str(path))
        elif suffix == ".parquet":
            import pyarrow.parquet as pq

            pq.read_table(path)
        elif suffix == ".json":
            json.loads(path.read_text())
    except Exception as error:  # whatever the reader raises is the damage
        return f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
    return None


def main(argv: list[str] | None = None) -> int:
    """``./opscore verify [DIR]``: every recorded artifact of DIR (default: here) checked; the
    damaged and the missing listed; exit 1 if any."""
    root = Path((argv or sys.argv[1:] or ["."])[0])
    damaged, missing, checked = verify(root)
    for path, problem in damaged:
        print(f"DAMAGED {path}: {problem}")
    for path in missing:
        print(f"MISSING {path}")
    print(f"{checked} artifacts checked under {root}: {len(damaged)} damaged, {len(missing)} missing")
    if damaged or missing:
        print(f"Remedy: {REMEDY} (snakemake remakes missing files by itself).")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
