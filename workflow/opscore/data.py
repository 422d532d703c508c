"""Datasets for opscore: official archives, downloads, parsers, splits and the prepared file.

A *dataset* is a plain dict::

    {"x_train": uint8 array (N, H, W, C), "y_train": int64 array (N,),
     "x_test":  uint8 array (M, H, W, C), "y_test":  int64 array (M,),
     "class_names": list[str], "name": str (optional, used in messages)}

Tabular datasets (:func:`load_csv_dataset`) are the one exception: their features are float32
arrays of shape (N, F), since amounts and PCA components are not pixels.

Pixels stay uint8 from the file to the prepared ``.npz``: a float copy of CIFAR-10 alone is
600 MB, so converting to float is left to the model's input pipeline, batch by batch.

Downloads are checked against the official md5 sums and parsed with numpy only: downloaded
data is never unpickled (the Python-pickle CIFAR archives would run arbitrary code on load,
so the binary versions are used instead).

TensorFlow is imported lazily (only ``load_image_folder`` needs it) so importing this module
stays fast for Snakemake's parse step.
"""
from __future__ import annotations

import dataclasses
import gzip
import hashlib
import http.client
import os
import re
import tarfile
import tempfile
import urllib.error
import urllib.request
from pathlib import Path, PurePosixPath

import numpy as np

__all__ = [
    "DataError",
    "Archive",
    "DATASET_ARCHIVES",
    "BUILTIN_DATASETS",
    "IMAGE_EXTENSIONS",
    "find_archive",
    "md5sum",
    "fetch_archive",
    "parse_cifar_binary",
    "parse_mnist",
    "load_digits",
    "load_image_folder",
    "CSV_EXTENSIONS",
    "is_csv_path",
    "load_csv_dataset",
    "split_dataset",
    "parse_split",
    "load_dataset",
    "has_official_split",
    "feature_count",
    "save_prepared",
    "load_prepared",
]


class DataError(Exception):
    """A user-facing data problem (missing/corrupt archive, bad layout, bad split...).

    The message always says what is wrong and what to do about it.
    """


# --------------------------------------------------------------------------------------
# Official archives
# --------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Archive:
    """One downloadable file: its name on disk, where to get it and its official md5."""

    filename: str
    url: str
    md5: str


MNIST_BASE_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"  # well-known mirror of the official files

CIFAR10_ARCHIVE = Archive(
    "cifar-10-binary.tar.gz",
    "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
    "c32a1d4ab5d03f1284b67883e8d87530",
)
CIFAR100_ARCHIVE = Archive(
    "cifar-100-binary.tar.gz",
    "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz",
    "03b5dce01913d631647c71ecec9e9cb8",
)
MNIST_ARCHIVES = [
    Archive(name, MNIST_BASE_URL + name, md5)
    for name, md5 in [
        ("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
        ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
        ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
        ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
    ]
]

#: Archives each downloadable dataset needs (one download job per entry). digits ships
#: with scikit-learn and image folders are local, so neither appears here.
DATASET_ARCHIVES: dict[str, list[Archive]] = {
    "cifar10": [CIFAR10_ARCHIVE],
    "cifar100": [CIFAR100_ARCHIVE],
    "mnist": MNIST_ARCHIVES,
}

#: Dataset names that need no ``path`` option.
BUILTIN_DATASETS: tuple[str, ...] = ("digits", "cifar10", "cifar100", "mnist")

#: File endings read from image folders (decoded by tf.io.decode_image).
IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp", ".gif")


def find_archive(filename: str) -> Archive:
    """Return the registered Archive called ``filename`` (for a per-file download rule)."""
    for archives in DATASET_ARCHIVES.values():
        for archive in archives:
            if archive.filename == filename:
                return archive
    known = sorted(a.filename for archives in DATASET_ARCHIVES.values() for a in archives)
    raise DataError(f"no official archive is called {filename!r}; known archives: {', '.join(known)}")


# --------------------------------------------------------------------------------------
# Download and checksum
# --------------------------------------------------------------------------------------


def md5sum(path: str | os.PathLike) -> str:
    """Hex md5 of a file, read in chunks (archives are up to ~170 MB)."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _stage_hint(archive: Archive, target: Path) -> str:
    return (
        f"To stage it by hand, download {archive.url} on a machine with internet access and "
        f"copy it to {target} (md5 {archive.md5}); the workflow then uses it without the network."
    )


def fetch_archive(archive: Archive, download_dir: str | os.PathLike, timeout: float = 60) -> Path:
    """Return the path of ``archive`` in ``download_dir``, downloading it if needed.

    A file already at ``download_dir/filename`` (staged by hand or by an earlier run) is used
    without touching the network, after its md5 is checked. A file with the wrong md5 is
    renamed to ``<filename>.bad`` (so it is never used and a rerun downloads afresh) and a
    DataError is raised. A missing file is downloaded to a temporary file in the same directory,
    checked, then moved into place atomically, so no partial file ever carries the real name.
    Any network failure raises a DataError naming the path to stage, the URL and the md5.
    """
    download_dir = Path(download_dir)
    target = download_dir / archive.filename

    if target.exists():
        actual = md5sum(target)
        if actual != archive.md5:
            bad = target.with_name(target.name + ".bad")
            os.replace(target, bad)  # never let a later step pick up the corrupt file
            raise DataError(
                f"{target} has md5 {actual} but the official {archive.filename} has md5 "
                f"{archive.md5}. The file was moved to {bad}; rerun to download it again from "
                f"{archive.url}, or stage a good copy at {target}."
            )
        return target

    download_dir.mkdir(parents=True, exist_ok=True)
    # Same directory as the target so os.replace is an atomic rename, never a copy.
    fd, tmp_name = tempfile.mkstemp(prefix=f".{archive.filename}.", suffix=".part", dir=download_dir)
    tmp = Path(tmp_name)
    try:
        digest = hashlib.md5(usedforsecurity=False)
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(archive.url, timeout=timeout) as response:
                for chunk in iter(lambda: response.read(1 << 20), b""):
                    digest.update(chunk)
                    out.write(chunk)
        except (OSError, http.client.HTTPException, ValueError) as exc:  # URLError, timeouts, HTTP errors
            raise DataError(
                f"could not download {archive.filename} from {archive.url} ({exc}). "
                + _stage_hint(archive, target)
            ) from exc
        actual = digest.hexdigest()
        if actual != archive.md5:
            raise DataError(
                f"downloaded {archive.url} but its md5 is {actual}, not the official {archive.md5} "
                f"(truncated download or changed mirror); nothing was saved. " + _stage_hint(archive, target)
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)  # no-op after a successful replace
    return target


# --------------------------------------------------------------------------------------
# Parsers (numpy only; nothing downloaded is ever unpickled)
# --------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------
# Image folders
# --------------------------------------------------------------------------------------

_SPLITS = ("train", "test")
_LAYOUT_HINT = (
    "expected train/CLASS/IMAGE and test/CLASS/IMAGE (optionally inside one top-level folder), "
    f"images ending in {', '.join(IMAGE_EXTENSIONS)}"
)


def _image_entries(path: Path) -> list[tuple[str, bytes]]:
    """(relative posix path, file bytes) for every image file in a directory or tar archive."""
    def wanted(rel: str) -> bool:
        base = PurePosixPath(rel).name
        # Skip hidden files such as macOS "._x.jpg" resource forks.
        return not base.startswith(".") and base.lower().endswith(IMAGE_EXTENSIONS)

    entries = []
    if path.is_dir():
        for root, dirs, files in os.walk(path):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            for name in files:
                full = Path(root, name)
                rel = full.relative_to(path).as_posix()
                if wanted(rel):
                    entries.append((rel, full.read_bytes()))
    elif path.is_file():
        try:
            with tarfile.open(path, "r|*") as tar:  # stream: one pass over the gzip
                for member in tar:
                    if member.isfile() and wanted(member.name):
                        entries.append((member.name.removeprefix("./"), tar.extractfile(member).read()))
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise DataError(f"{path} is neither a directory nor a readable tar(.gz) archive ({exc}); "
                            + _LAYOUT_HINT) from exc
    else:
        raise DataError(f"image folder {path} does not exist; {_LAYOUT_HINT}")
    return entries


def _decode_images(blobs: list[bytes], names: list[str], channels: int) -> np.ndarray | None:
    """Decode all images into one uint8 array; None if only the channel counts disagree.

    tf.data decodes in parallel (in order), which keeps 60,000 CIFAR JPEGs well under a minute.
    """
    from opscore.tf import tf

    def decode(blob):
        return tf.io.decode_image(blob, channels=channels, expand_animations=False)

    dataset = (tf.data.Dataset.from_tensor_slices(tf.constant(blobs, dtype=tf.string))
               .map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
               .prefetch(tf.data.AUTOTUNE))
    out = None
    i = 0
    try:
        for i, image in enumerate(dataset.as_numpy_iterator()):
            if out is None:
                out = np.empty((len(blobs), *image.shape), np.uint8)
            elif image.shape != out.shape[1:]:
                if channels == 0 and image.shape[:2] == out.shape[1:3]:
                    return None  # e.g. a grayscale JPEG among RGB ones: caller retries as RGB
                raise DataError(
                    f"all images must have the same shape, but {names[0]} is "
                    f"{'×'.join(map(str, out.shape[1:]))} (H×W×C) and {names[i]} is "
                    f"{'×'.join(map(str, image.shape))}; resize the images to one size first."
                )
            out[i] = image
    except tf.errors.OpError as exc:
        # Decoding is in order, so the failing element is the one after the last good one.
        bad = names[i + 1] if out is not None and i + 1 < len(names) else names[i]
        raise DataError(f"cannot decode image {bad} ({exc.message}); remove or replace it.") from exc
    return out


def load_image_folder(path: str | os.PathLike) -> dict:
    """Load a directory or tar(.gz) of images laid out as train/CLASS/* and test/CLASS/*.

    The layout may sit inside one top-level folder (as archives often do). Class names are
    the train sub-folder names, sorted; labels are their indices. Files are read in sorted
    order so the result does not depend on the file system or archive order. Images are
    decoded with TensorFlow and must all share one height and width; if their channel counts
    differ (a few grayscale images among colour ones) all are decoded as RGB.
    """
    path = Path(path).expanduser()
    by_split: dict[str, list[tuple[str, str, bytes]]] = {s: [] for s in _SPLITS}
    prefixes = set()
    for rel, blob in _image_entries(path):
        parts = PurePosixPath(rel).parts
        if len(parts) == 3 and parts[0] in _SPLITS:
            prefix, (split, cls, _) = "", parts
        elif len(parts) == 4 and parts[1] in _SPLITS:
            prefix, (split, cls, _) = parts[0], parts[1:]
        else:
            continue  # stray images elsewhere (e.g. a preview at the top) are not part of the set
        prefixes.add(prefix)
        by_split[split].append((rel, cls, blob))
    if len(prefixes) > 1:
        raise DataError(f"{path} holds train/test folders under several top-level folders "
                        f"({', '.join(sorted(p or '.' for p in prefixes))}); keep only one. {_LAYOUT_HINT}")
    empty = [s for s in _SPLITS if not by_split[s]]
    if empty:
        raise DataError(f"{path} has no images in {' or '.join(empty)}/CLASS/; {_LAYOUT_HINT}")

    class_names = sorted({cls for _, cls, _ in by_split["train"]})
    unknown = sorted({cls for _, cls, _ in by_split["test"]} - set(class_names))
    if unknown:
        raise DataError(f"{path}: test classes {', '.join(unknown)} have no train images; "
                        "every class needs train/CLASS/ images.")
    index = {c: i for i, c in enumerate(class_names)}

    # Sorted, then a fixed shuffle: the result is independent of file-system/archive order, and,
    # like the official CIFAR batches, not in class blocks (a "last 10 % for validation" cut
    # downstream would otherwise see only the last class).
    rng = np.random.default_rng(0)
    entries = []
    for split in _SPLITS:
        items = sorted(by_split[split])
        entries += [items[i] for i in rng.permutation(len(items))]
    n_train = len(by_split["train"])
    del by_split
    names = [f"{path}:{rel}" if path.is_file() else str(path / rel) for rel, _, _ in entries]
    labels = np.array([index[cls] for _, cls, _ in entries], np.int64)
    blobs = [blob for _, _, blob in entries]
    del entries
    images = _decode_images(blobs, names, channels=0)
    if images is None:
        images = _decode_images(blobs, names, channels=3)
    return {
        "x_train": images[:n_train], "y_train": labels[:n_train],
        "x_test": images[n_train:], "y_test": labels[n_train:],
        "class_names": class_names, "name": path.name,
    }


# --------------------------------------------------------------------------------------
# Tabular CSV files
# --------------------------------------------------------------------------------------

#: File endings read as CSV tables (pandas decompresses .gz on the fly).
CSV_EXTENSIONS: tuple[str, ...] = (".csv", ".csv.gz")


def is_csv_path(path) -> bool:
    """Whether a dataset ``path`` option names a CSV table rather than an image folder."""
    return str(path).lower().endswith(CSV_EXTENSIONS)


def _encode_labels(values) -> tuple[np.ndarray, list[str]]:
    """Labels → int64 indices into sorted class names.

    Numeric labels sort numerically (2 before 10, unlike text) and integer-valued
    floats are written without ".0", so a fraud column 0/1 keeps 0 = "0" and 1 = "1".
    """
    import pandas as pd

    series = pd.Series(values)
    if pd.api.types.is_bool_dtype(series):
        series = series.astype(np.int64)
    if pd.api.types.is_numeric_dtype(series):
        numbers = series.to_numpy(dtype=np.float64)
        uniques = np.unique(numbers)
        codes = np.searchsorted(uniques, numbers).astype(np.int64)
        names = [str(int(u)) if float(u).is_integer() else str(u) for u in uniques]
    else:
        text = series.astype(str).str.strip().to_numpy()
        uniques = np.unique(text)
        codes = np.searchsorted(uniques, text).astype(np.int64)
        names = [str(u) for u in uniques]
    return codes, names


def load_csv_dataset(path: str | os.PathLike, label_column: str, features: list[str] | None = None,
                     test_fraction: float | None = None, seed: int = 0, delimiter: str = ",",
                     name: str | None = None) -> dict:
    """Load a tabular dataset from a CSV file (e.g. the credit-card fraud table, label ``Class``).

    ``label_column`` names the label column; its values (numbers or text) are encoded to int64
    indices into ``class_names`` (sorted). Features are the ``features`` columns, or every other
    column, as a float32 (N, F) array (the uint8 rule is for images only). Features must be
    numeric and complete: a text column or a missing value raises a DataError naming the
    columns and rows to fix.

    With ``test_fraction`` (e.g. 0.3) the rows are split into train/test, stratified and seeded;
    without it (the workflow's way) every row is in x_train/y_train and x_test/y_test are
    empty, so the config's ratio splits (``split_dataset``) apply, as for digits.
    """
    import pandas as pd

    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"CSV dataset {path} does not exist; give the path of a CSV file with a header row.")
    try:
        table = pd.read_csv(path, sep=delimiter, skipinitialspace=True)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise DataError(f"cannot read {path} as CSV ({exc}); it needs a header row and "
                        f"{delimiter!r}-separated values.") from exc
    table.columns = [str(c).strip() for c in table.columns]
    columns = list(table.columns)
    if label_column not in columns:
        raise DataError(f"{path} has no label column {label_column!r}; its columns are: {', '.join(columns)}. "
                        "Set the dataset's `label:` option to one of them.")
    if features is None:
        features = [c for c in columns if c != label_column]
    else:
        features = [str(c) for c in features]
        missing = [c for c in features if c not in columns]
        if missing:
            raise DataError(f"{path} has no feature column(s) {', '.join(missing)}; "
                            f"its columns are: {', '.join(columns)}")
        if label_column in features:
            raise DataError(f"{path}: the label column {label_column!r} cannot also be a feature.")
    if not features:
        raise DataError(f"{path} has no feature columns besides the label {label_column!r}.")
    if len(table) == 0:
        raise DataError(f"{path} has a header but no rows.")

    text = [c for c in features if not (pd.api.types.is_numeric_dtype(table[c]) or pd.api.types.is_bool_dtype(table[c]))]
    if text:
        raise DataError(f"{path}: feature column(s) {', '.join(text)} are not numeric; encode them as numbers "
                        "(e.g. one-hot) or leave them out with the `features:` option.")
    labels = table[label_column]
    if labels.isna().any():
        rows = (np.flatnonzero(labels.isna().to_numpy()) + 2)[:5].tolist()  # +2: header is line 1
        raise DataError(f"{path}: the label column {label_column!r} is empty on line(s) {rows}; "
                        "fill or remove those rows.")
    x = table[features].to_numpy(dtype=np.float32)
    bad = ~np.isfinite(x)
    if bad.any():
        rows, cols = np.nonzero(bad)
        where = sorted({features[c] for c in cols})
        raise DataError(f"{path}: missing or non-finite values in column(s) {', '.join(where)} "
                        f"(first on line {int(rows[0]) + 2}); fill or remove those rows.")
    y, class_names = _encode_labels(labels)
    if len(class_names) < 2:
        raise DataError(f"{path}: the label column {label_column!r} has a single class "
                        f"({class_names[0]!r}); a classifier needs at least two.")
    ds = {
        "x_train": x, "y_train": y,
        "x_test": np.zeros((0, x.shape[1]), np.float32), "y_test": np.zeros(0, np.int64),
        "class_names": class_names, "name": name or path.name.split(".")[0],
    }
    if test_fraction is not None:
        if not 0 < test_fraction < 1:
            raise DataError(f"test_fraction must be between 0 and 1, got {test_fraction}")
        from sklearn.model_selection import train_test_split

        try:
            train_idx, test_idx = train_test_split(np.arange(len(y)), test_size=test_fraction,
                                                   random_state=seed, stratify=y)
        except ValueError as exc:
            raise DataError(f"cannot make a stratified split of {path} ({exc}); "
                            "every class needs rows on both sides.") from exc
        ds.update(x_train=x[train_idx], y_train=y[train_idx], x_test=x[test_idx], y_test=y[test_idx])
    return ds


# --------------------------------------------------------------------------------------
# Splits
# --------------------------------------------------------------------------------------

_SPLIT_RE = re.compile(r"^(\d+)-(\d+)$")
_SPLIT_HELP = "use 'official' or TRAIN-TEST percentages summing to 100, such as '70-30' or '80-20'"


def parse_split(split: str) -> tuple[int, int] | None:
    """Validate a split string: None for "official", else the (train, test) percentages."""
    if split == "official":
        return None
    match = _SPLIT_RE.match(str(split).strip())
    if not match:
        raise DataError(f"invalid split {split!r}; {_SPLIT_HELP}")
    train, test = int(match[1]), int(match[2])
    if train + test != 100 or train == 0 or test == 0:
        raise DataError(f"invalid split {split!r}: both parts must be positive and sum to 100; {_SPLIT_HELP}")
    return train, test


def split_dataset(ds: dict, split: str, seed: int) -> dict:
    """Return ``ds`` with the train/test split given by ``split``.

    "official" keeps the dataset's own train/test sets (DataError if it has none, like digits).
    "TRAIN-TEST" (e.g. "70-30") pools train and test and makes a stratified split, seeded by
    ``seed`` so every variant of a run sees the same images.
    """
    ratio = parse_split(split)
    name = ds.get("name", "this dataset")
    if ratio is None:
        if len(ds["y_test"]) == 0 or len(ds["y_train"]) == 0:
            raise DataError(f"dataset {name!r} has no official train/test split; use a ratio split "
                            "instead: TRAIN-TEST percentages summing to 100, such as '70-30' or '80-20'")
        return ds

    y = np.concatenate([ds["y_train"], ds["y_test"]])
    # Split indices rather than images: sklearn then never copies the pixel arrays.
    from sklearn.model_selection import train_test_split

    try:
        train_idx, test_idx = train_test_split(
            np.arange(len(y)), test_size=ratio[1] / 100, random_state=seed, stratify=y
        )
    except ValueError as exc:  # e.g. a class with a single image cannot be stratified
        raise DataError(f"cannot make a stratified {split} split of {name!r} ({exc}); "
                        "every class needs enough images for both sides.") from exc
    n_train = len(ds["y_train"])

    def take(idx: np.ndarray) -> np.ndarray:
        # Fill one output array from both sources: no pooled copy of all pixels is ever made,
        # and the shuffled order from train_test_split is kept (no class-sorted blocks).
        # Same dtype as the source: uint8 for images, float32 for tabular (CSV) features.
        out = np.empty((len(idx), *ds["x_train"].shape[1:]), ds["x_train"].dtype)
        from_train = idx < n_train
        out[from_train] = ds["x_train"][idx[from_train]]
        out[~from_train] = ds["x_test"][idx[~from_train] - n_train]
        return out

    return {**ds, "x_train": take(train_idx), "y_train": y[train_idx],
            "x_test": take(test_idx), "y_test": y[test_idx]}


# --------------------------------------------------------------------------------------
# Dispatch
# --------------------------------------------------------------------------------------


def _known_names() -> str:
    return (", ".join(BUILTIN_DATASETS) + ", or any name with a 'path' option (an image folder, or a CSV "
            "table with a 'label' option)")


def load_dataset(name: str, options: dict | None, download_dir: str | os.PathLike) -> dict:
    """Load dataset ``name``: a builtin (digits, cifar10, cifar100, mnist), an image folder or a CSV table.

    A ``path`` ending in .csv or .csv.gz is a table: ``{"path": "creditcard.csv", "label": "Class"}``
    (optionally ``"features": [...]``) goes to :func:`load_csv_dataset`; it has no official split.

    An ``options["path"]`` always means an image folder (directory or tar.gz), whatever the name,
    so e.g. a local JPEG copy of CIFAR-10 can be used under the name "cifar10". Builtin archives
    are fetched into ``download_dir`` (staged files are used without the network).
    """
    options = options or {}
    if options.get("path") and is_csv_path(options["path"]):
        if not options.get("label"):
            raise DataError(f"dataset {name!r}: the CSV table {options['path']} needs a `label:` option "
                            "naming its label column (e.g. label: Class).")
        ds = load_csv_dataset(options["path"], options["label"], features=options.get("features"))
    elif options.get("path"):
        ds = load_image_folder(options["path"])
    elif name == "digits":
        ds = load_digits()
    elif name in ("cifar10", "cifar100"):
        archive = fetch_archive(DATASET_ARCHIVES[name][0], download_dir)
        ds = parse_cifar_binary(archive, name)
    elif name == "mnist":
        for archive in DATASET_ARCHIVES["mnist"]:
            fetch_archive(archive, download_dir)
        ds = parse_mnist(download_dir)
    else:
        raise DataError(f"unknown dataset {name!r}; known: {_known_names()}")
    ds["name"] = name
    return ds


def feature_count(ds: dict) -> int | None:
    """The number of features of a tabular dataset's rows; None for images."""
    x = ds["x_train"]
    return int(x.shape[1]) if x.ndim == 2 else None


def has_official_split(name: str, options: dict | None = None) -> bool:
    """Whether ``split: official`` is allowed for this dataset (everything but digits)."""
    options = options or {}
    if options.get("path") and is_csv_path(options["path"]):
        return False  # one table: use a ratio split
    if options.get("path"):
        return True  # image folders always have train/ and test/
    if name not in BUILTIN_DATASETS:
        raise DataError(f"unknown dataset {name!r}; known: {_known_names()}")
    return name != "digits"


# --------------------------------------------------------------------------------------
# Prepared file
# --------------------------------------------------------------------------------------

_ARRAYS = {"x_train": np.uint8, "y_train": np.int64, "x_test": np.uint8, "y_test": np.int64}


def save_prepared(path: str | os.PathLike, ds: dict) -> None:
    """Write ``ds`` as one uncompressed .npz (uint8 x, int64 y, class_names as unicode).

    Tabular features from :func:`load_csv_dataset` ((N, F) float32) are stored as float32;
    anything else must be uint8 images.

    Uncompressed so loading is a plain read; written to a temporary file and renamed so a
    crash never leaves a half-written file under the real name.
    """
    path = Path(path)
    arrays = {}
    for key, dtype in _ARRAYS.items():
        value = np.asarray(ds[key])
        if key.startswith("x_") and value.ndim == 2 and value.dtype == np.float32:
            dtype = np.float32  # tabular features (load_csv_dataset): (N, F) float32, not pixels
        if value.dtype != dtype:
            raise DataError(f"{key} must be {np.dtype(dtype).name}, got {value.dtype}")
        arrays[key] = value
    # A unicode array (not object) so load_prepared can refuse pickles.
    arrays["class_names"] = np.array([str(c) for c in ds["class_names"]], dtype=str)
    if "name" in ds:
        arrays["name"] = np.array(str(ds["name"]))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:  # a file object: np.savez would otherwise append ".npz"
            np.savez(f, **arrays)
        os.replace(tmp_name, path)
    finally:
        Path(tmp_name).unlink(missing_ok=True)


def load_prepared(path: str | os.PathLike) -> dict:
    """Read a file written by save_prepared back into a dataset dict (no pickle allowed)."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in (*_ARRAYS, "class_names") if k not in npz.files]
            if missing:
                raise DataError(f"{path} lacks {', '.join(missing)}: not a prepared dataset; delete it and rerun.")
            ds = {key: npz[key] for key in _ARRAYS}
            ds["class_names"] = [str(c) for c in npz["class_names"]]
            if "name" in npz.files:
                ds["name"] = str(npz["name"])
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read prepared dataset {path} ({exc}); delete it and rerun.") from exc
    return ds
