"""Parsers of the official formats: CIFAR binary archives, MNIST idx files, and scikit-learn's
digits; numpy only, never unpickling downloaded data."""
from __future__ import annotations

import gzip
import os
import tarfile
from pathlib import Path, PurePosixPath

import numpy as np

from opscore.data import DataError
from opscore.data.archives import DATASET_ARCHIVES

_CIFAR_LAYOUT = {
    # kind: (label bytes per record, train members, test member, class-name member)
    "cifar10": (1, [f"data_batch_{i}.bin" for i in range(1, 6)], "test_batch.bin", "batches.meta.txt"),
    "cifar100": (2, ["train.bin"], "test.bin", "fine_label_names.txt"),
}
_CIFAR_PIXELS = 3 * 32 * 32


def _read_tar_members(archive_path: Path, wanted: set[str]) -> dict[str, bytes]:
    """Read the members whose base name is in ``wanted`` from a tar(.gz), streaming once.

    Streaming mode ('r|*') avoids re-decompressing the gzip for every member lookup.
    """
    found: dict[str, bytes] = {}
    try:
        with tarfile.open(archive_path, "r|*") as tar:
            for member in tar:
                base = PurePosixPath(member.name).name
                if member.isfile() and base in wanted and base not in found:
                    found[base] = tar.extractfile(member).read()
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DataError(f"{archive_path} is not a readable tar.gz archive ({exc}); delete it and rerun.") from exc
    return found


def _cifar_records(blob: bytes, label_bytes: int, member: str, archive_path: Path) -> tuple[np.ndarray, np.ndarray]:
    record = label_bytes + _CIFAR_PIXELS
    if len(blob) == 0 or len(blob) % record:
        raise DataError(
            f"{member} in {archive_path} has {len(blob)} bytes, not a whole number of {record}-byte "
            "records: the archive is corrupt; delete it and rerun."
        )
    rows = np.frombuffer(blob, dtype=np.uint8).reshape(-1, record)
    # CIFAR-100 records are (coarse, fine, pixels...): the last label byte is the one we use.
    labels = rows[:, label_bytes - 1].astype(np.int64)
    # Stored channel-major (all red, then green, then blue); Keras wants NHWC.
    images = rows[:, label_bytes:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels


def parse_cifar_binary(archive_path: str | os.PathLike, kind: str) -> dict:
    """Parse the official CIFAR *binary* archive (``kind`` "cifar10" or "cifar100") into a dataset.

    Reads straight from the tar.gz: CIFAR-10's data_batch_1..5.bin and test_batch.bin
    (1 label byte + 3072 pixel bytes per record) with names from batches.meta.txt; CIFAR-100's
    train.bin and test.bin (coarse + fine label bytes, the fine label is used) with names from
    fine_label_names.txt. Pixels are converted from CHW to HWC.
    """
    if kind not in _CIFAR_LAYOUT:
        raise DataError(f"unknown CIFAR kind {kind!r}; use 'cifar10' or 'cifar100'")
    archive_path = Path(archive_path)
    label_bytes, train_members, test_member, names_member = _CIFAR_LAYOUT[kind]
    wanted = {*train_members, test_member, names_member}
    blobs = _read_tar_members(archive_path, wanted)
    missing = sorted(wanted - blobs.keys())
    if missing:
        raise DataError(
            f"{archive_path} lacks {', '.join(missing)}: it is not the official {kind} binary "
            "archive (or is corrupt); delete it and rerun."
        )

    class_names = [line.strip() for line in blobs[names_member].decode("utf-8").splitlines() if line.strip()]
    train = [_cifar_records(blobs.pop(m), label_bytes, m, archive_path) for m in train_members]
    x_test, y_test = _cifar_records(blobs.pop(test_member), label_bytes, test_member, archive_path)
    x_train = train[0][0] if len(train) == 1 else np.concatenate([x for x, _ in train])
    y_train = np.concatenate([y for _, y in train])
    del train

    top = int(max(y_train.max(), y_test.max()))
    if top >= len(class_names):
        raise DataError(
            f"{archive_path}: label {top} but {names_member} lists only {len(class_names)} classes; "
            "the archive is corrupt; delete it and rerun."
        )
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test,
            "class_names": class_names, "name": kind}


def _read_idx(path: Path, expected_ndim: int) -> np.ndarray:
    """Read one gzipped IDX file (unsigned-byte data) as a uint8 array."""
    try:
        with gzip.open(path, "rb") as f:
            blob = f.read()
    except (OSError, EOFError) as exc:
        raise DataError(f"{path} is not a readable gzip file ({exc}); delete it and rerun.") from exc
    # Header: 2 zero bytes, type code (0x08 = unsigned byte), number of dims, then big-endian int32 sizes.
    if len(blob) < 4 or blob[0] != 0 or blob[1] != 0 or blob[2] != 0x08 or blob[3] != expected_ndim:
        raise DataError(f"{path} is not an IDX file of {expected_ndim}-d unsigned bytes; delete it and rerun.")
    header = 4 + 4 * expected_ndim
    shape = tuple(int(s) for s in np.frombuffer(blob[4:header], dtype=">i4"))
    if len(blob) - header != int(np.prod(shape)):
        raise DataError(f"{path}: header says shape {shape} but the data has {len(blob) - header} bytes; "
                        "the file is truncated or corrupt; delete it and rerun.")
    return np.frombuffer(blob, dtype=np.uint8, offset=header).reshape(shape)


def parse_mnist(download_dir: str | os.PathLike) -> dict:
    """Parse the four official MNIST idx .gz files in ``download_dir`` into a dataset (28×28×1)."""
    download_dir = Path(download_dir)
    names = [a.filename for a in DATASET_ARCHIVES["mnist"]]
    files = {}
    for name in names:
        path = download_dir / name
        if not path.exists():
            raise DataError(f"MNIST file {path} is missing; fetch it first (fetch_archive) or stage it there.")
        files[name] = path
    train_img, train_lab, test_img, test_lab = (
        _read_idx(files[n], 3 if "images" in n else 1) for n in names
    )
    for img, lab, what in ((train_img, train_lab, "train"), (test_img, test_lab, "t10k")):
        if len(img) != len(lab):
            raise DataError(f"MNIST {what}: {len(img)} images but {len(lab)} labels; re-fetch the files.")
    # np.frombuffer views are read-only; copy once so callers get ordinary writable arrays.
    return {
        "x_train": train_img[..., np.newaxis].copy(), "y_train": train_lab.astype(np.int64),
        "x_test": test_img[..., np.newaxis].copy(), "y_test": test_lab.astype(np.int64),
        "class_names": [str(d) for d in range(10)], "name": "mnist",
    }


def load_digits() -> dict:
    """scikit-learn's 8×8 digits (1,797 images) as a dataset with no official split.

    Values 0..16 are scaled to uint8 0..255 so every dataset has the same pixel range.
    All images are in x_train/y_train; x_test/y_test are empty (use a ratio split).
    """
    from sklearn.datasets import load_digits as sk_load_digits

    bunch = sk_load_digits()
    x = np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)[..., np.newaxis]
    y = bunch.target.astype(np.int64)
    return {
        "x_train": x, "y_train": y,
        "x_test": np.zeros((0, *x.shape[1:]), np.uint8), "y_test": np.zeros(0, np.int64),
        "class_names": [str(d) for d in range(10)], "name": "digits",
    }


