"""Image folders (train/CLASS/*, test/CLASS/*, a directory or a .tar.gz) decoded into uint8 arrays."""
from __future__ import annotations

import os
import tarfile
from pathlib import Path, PurePosixPath

import numpy as np

from opscore.data import DataError

#: File endings read from image folders (decoded by tf.io.decode_image).
IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp", ".gif")

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


