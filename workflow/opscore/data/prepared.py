"""The prepared dataset file (one uncompressed .npz, no pickle) every job reads."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from opscore.data import DataError
from opscore.job import atomic_path

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
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:  # a file: np.savez would append ".npz"
        np.savez(handle, **arrays)


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


def sample_shape(ds: dict) -> tuple[int, ...]:
    """The shape of one example: (F,) for a table's rows, (H, W, C) for images."""
    return tuple(int(n) for n in ds["x_train"].shape[1:])


