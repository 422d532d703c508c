"""Which dataset a name means (built-in, image folder or CSV table) and loading it."""
from __future__ import annotations

import os

from opscore.data import DataError
from opscore.data.archives import DATASET_ARCHIVES, fetch_archive
from opscore.data.folders import load_image_folder
from opscore.data.parsers import load_digits, parse_cifar_binary, parse_mnist
from opscore.data.tables import is_csv_path, load_csv_dataset

#: Dataset names that need no ``path`` option.
BUILTIN_DATASETS: tuple[str, ...] = ("digits", "cifar10", "cifar100", "mnist")


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


