"""The official archives of the built-in datasets, with their publishers' md5 sums, and the
checked, atomic download that fetches them (a staged copy is used without the network)."""
from __future__ import annotations

import dataclasses
import hashlib
import http.client
import os
import urllib.error
import urllib.request
from pathlib import Path

from opscore.data import DataError
from opscore.job import atomic_path


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






def find_archive(filename: str) -> Archive:
    """Return the registered Archive called ``filename`` (for a per-file download rule)."""
    for archives in DATASET_ARCHIVES.values():
        for archive in archives:
            if archive.filename == filename:
                return archive
    known = sorted(a.filename for archives in DATASET_ARCHIVES.values() for a in archives)
    raise DataError(f"no official archive is called {filename!r}; known archives: {', '.join(known)}")



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

    # A temporary file beside the target, renamed only once its md5 is right.
    with atomic_path(target) as tmp:
        digest = hashlib.md5(usedforsecurity=False)
        try:
            with open(tmp, "wb") as out, urllib.request.urlopen(archive.url, timeout=timeout) as response:
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
    return target


