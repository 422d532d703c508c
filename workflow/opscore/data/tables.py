"""CSV tables (credit-card fraud and the like): a label column, numeric features as float32 rows,
text labels encoded, missing values refused with the row."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from opscore.data import DataError

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
    path = Path(path).expanduser()
    table = _read_table(path, delimiter)
    features = _feature_columns(path, list(table.columns), label_column, features)
    x, labels = _checked_values(path, table, label_column, features)
    y, class_names = _encode_labels(labels)
    _check_classes(path, label_column, class_names)
    ds = {
        "x_train": x, "y_train": y,
        "x_test": np.zeros((0, x.shape[1]), np.float32), "y_test": np.zeros(0, np.int64),
        "class_names": class_names, "name": name or path.name.split(".")[0],
    }
    if test_fraction is not None:
        ds.update(_held_out_split(path, x, y, test_fraction, seed))
    return ds


def check_table_header(path, label_column: str, features: list[str] | None, splits: list[str],
                       name: str, delimiter: str = ",") -> None:
    """What the prepare job would refuse, found from the header and the label column alone (cheap
    enough for planning): a missing label or feature column, empty labels, a single class, a ratio
    split that cannot be stratified. Same DataError messages as :func:`load_csv_dataset`; a file
    not there yet is left to Snakemake (a missing input)."""
    import pandas as pd

    from opscore.data.splits import stratified_indices

    path = Path(path).expanduser()
    if not path.is_file():
        return
    try:
        header = pd.read_csv(path, sep=delimiter, skipinitialspace=True, nrows=0)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise DataError(f"cannot read {path} as CSV ({exc}); it needs a header row and "
                        f"{delimiter!r}-separated values.") from exc
    columns = {str(c).strip(): c for c in header.columns}
    _feature_columns(path, list(columns), label_column, features)
    labels = pd.read_csv(path, sep=delimiter, skipinitialspace=True, usecols=[columns[label_column]]).iloc[:, 0]
    if len(labels) == 0:
        raise DataError(f"{path} has a header but no rows.")
    _check_labels_present(path, label_column, labels)
    y, class_names = _encode_labels(labels)
    _check_classes(path, label_column, class_names)
    for split in splits:
        if split != "official":
            stratified_indices(y, split, 0, name, "rows")


def _check_labels_present(path: Path, label_column: str, labels) -> None:
    if labels.isna().any():
        rows = (np.flatnonzero(labels.isna().to_numpy()) + 2)[:5].tolist()  # +2: header is line 1
        raise DataError(f"{path}: the label column {label_column!r} is empty on line(s) {rows}; "
                        "fill or remove those rows.")


def _check_classes(path: Path, label_column: str, class_names: list[str]) -> None:
    if len(class_names) < 2:
        raise DataError(f"{path}: the label column {label_column!r} has a single class "
                        f"({class_names[0]!r}); a classifier needs at least two.")


def _read_table(path: Path, delimiter: str):
    import pandas as pd

    if not path.is_file():
        raise DataError(f"CSV dataset {path} does not exist; give the path of a CSV file with a header row.")
    try:
        table = pd.read_csv(path, sep=delimiter, skipinitialspace=True)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise DataError(f"cannot read {path} as CSV ({exc}); it needs a header row and "
                        f"{delimiter!r}-separated values.") from exc
    table.columns = [str(c).strip() for c in table.columns]
    if len(table) == 0:
        raise DataError(f"{path} has a header but no rows.")
    return table


def _feature_columns(path: Path, columns: list[str], label_column: str, features: list[str] | None) -> list[str]:
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
    return features


def _checked_values(path: Path, table, label_column: str, features: list[str]):
    """The features as float32 rows and the labels; text features, missing labels and
    missing or infinite values are refused with the columns and lines to fix."""
    import pandas as pd

    text = [c for c in features if not (pd.api.types.is_numeric_dtype(table[c]) or pd.api.types.is_bool_dtype(table[c]))]
    if text:
        raise DataError(f"{path}: feature column(s) {', '.join(text)} are not numeric; encode them as numbers "
                        "(e.g. one-hot) or leave them out with the `features:` option.")
    labels = table[label_column]
    _check_labels_present(path, label_column, labels)
    x = table[features].to_numpy(dtype=np.float32)
    bad = ~np.isfinite(x)
    if bad.any():
        rows, cols = np.nonzero(bad)
        where = sorted({features[c] for c in cols})
        raise DataError(f"{path}: missing or non-finite values in column(s) {', '.join(where)} "
                        f"(first on line {int(rows[0]) + 2}); fill or remove those rows.")
    return x, labels


def _held_out_split(path: Path, x: np.ndarray, y: np.ndarray, test_fraction: float, seed: int) -> dict:
    from sklearn.model_selection import train_test_split

    if not 0 < test_fraction < 1:
        raise DataError(f"test_fraction must be between 0 and 1, got {test_fraction}")
    try:
        train_idx, test_idx = train_test_split(np.arange(len(y)), test_size=test_fraction,
                                               random_state=seed, stratify=y)
    except ValueError as exc:
        raise DataError(f"cannot make a stratified split of {path} ({exc}); "
                        "every class needs rows on both sides.") from exc
    return dict(x_train=x[train_idx], y_train=y[train_idx], x_test=x[test_idx], y_test=y[test_idx])


