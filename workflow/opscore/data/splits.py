"""Train/test splits: the official one, or a stratified ratio split such as 70-30 (seeded)."""
from __future__ import annotations

import re

import numpy as np

from opscore.data import DataError

#: the `{split}` wildcard: the official split, or TRAIN-TEST percentages
SPLIT_PATTERN = r"official|[0-9]+-[0-9]+"
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
    train_idx, test_idx = stratified_indices(y, split, seed, name, "rows" if ds["x_train"].ndim == 2 else "images")
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




def stratified_indices(y: np.ndarray, split: str, seed: int, name: str, unit: str = "images"):
    """The (train, test) indices of a stratified, seeded ratio split of labels ``y``; a DataError
    when it cannot be made (a class with a single example, fewer test examples than classes),
    speaking of ``unit`` ("images", or "rows" for a table). The config check calls it on a table's
    label column before any job runs, so both say the same."""
    from sklearn.model_selection import train_test_split

    try:
        return train_test_split(np.arange(len(y)), test_size=parse_split(split)[1] / 100, random_state=seed,
                                stratify=y)
    except ValueError as exc:  # e.g. a class with a single image cannot be stratified
        raise DataError(f"cannot make a stratified {split} split of {name!r} ({exc}); "
                        f"every class needs enough {unit} for both sides.") from exc
