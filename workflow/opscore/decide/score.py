"""OpScore (Arı & Çamlı, 2022): log10(1 - quality) + log10(time_s) + log10(size_mb), lower is better;
the ranked table with its MIN/MAX reference rows, normalised columns, Pareto front and timing ties.
Units and every column: docs/scoring.md."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from opscore.job import IDENTITY
from opscore.measure.quality import METRICS

TIME_BASES = ("inference", "train", "total", "latency")
#: how the R timed repeats become the inference time: statistic -> per-repeat column
TIME_STATISTICS = {"median": "inference_median_s", "min": "inference_min_s", "total": None}
BYTES_PER_MB = 1e6
# Text columns that describe the context of a table (not a variant): they keep their value in the
# MIN/MAX reference rows instead of becoming "MIN"/"MAX".
CONTEXT_COLUMNS = ("dataset", "time_basis", "metric", "time_statistic")
_ADDED_COLUMNS = (
    "metric", "time_basis", "time_s", "log10_error", "log10_time", "log10_size", "opscore",
    "error_floored", "pareto", *(f"{c}_norm" for c in METRICS.values()), "time_s_norm", "size_mb_norm",
    "opscore_norm", "time_ties", "metric_ci_low", "metric_ci_high", "rank", "row",
)
_REFERENCE_ROWS = ("MIN", "MAX")
#: the column that says why a variant's kind does not apply to its model (then nothing is measured)
NOT_APPLICABLE = "not_applicable"


# ----------------------------------------------------------------------------- scalar pieces
def bytes_to_mb(n_bytes):
    """Bytes to megabytes, 1 MB = 1e6 bytes (the unit of ``size_mb`` throughout opscore)."""
    if isinstance(n_bytes, pd.Series):
        return n_bytes.astype(float) / BYTES_PER_MB
    if np.ndim(n_bytes) == 0:
        return float(n_bytes) / BYTES_PER_MB
    return np.asarray(n_bytes, dtype=float) / BYTES_PER_MB


def _labels_for(values, labels):
    if labels is not None:
        return list(labels)
    if isinstance(values, pd.Series):
        return [f"index {i!r}" for i in values.index]
    return [f"row {i}" for i in range(np.size(values))]


def _as_float_array(x, name):
    try:
        return np.asarray(x, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric: {exc}") from None


def _bad_rows(mask, labels, limit=5):
    idx = np.flatnonzero(np.ravel(mask))
    shown = ", ".join(str(labels[i]) for i in idx[:limit])
    return shown + (f" (and {len(idx) - limit} more)" if len(idx) > limit else "")


def floored_error(accuracy, n_test=None, labels=None):
    """The error ``1 - accuracy`` floored at ``1 / n_test``; the one place the floor lives.

    ``n_test`` is None, a scalar or one value per row (NaN = unknown). Returns
    ``(error, floored)`` as numpy arrays; ``floored`` marks rows raised to the floor.
    Raises ValueError for accuracy outside [0, 1] or missing, for non-positive ``n_test``, and
    for accuracy 1.0 without an ``n_test`` (its log error would be -inf).
    """
    acc = _as_float_array(accuracy, "accuracy")
    labels = _labels_for(accuracy, labels)
    bad = ~np.isfinite(acc) | (acc < 0) | (acc > 1)
    if bad.any():
        raise ValueError(f"accuracy must be a fraction in [0, 1]; bad value at {_bad_rows(bad, labels)}")
    err = 1.0 - acc
    if n_test is None:
        floor = np.full(acc.shape, np.nan)
    else:
        floor_n = np.broadcast_to(_as_float_array(n_test, "n_test"), acc.shape)
        bad_n = np.isfinite(floor_n) & (floor_n <= 0)
        if bad_n.any():
            raise ValueError(f"n_test must be positive; bad value at {_bad_rows(bad_n, labels)}")
        with np.errstate(divide="ignore"):
            floor = 1.0 / floor_n
        floor = np.where(np.isfinite(floor_n), floor, np.nan)
    no_floor = np.isnan(floor)
    perfect = (err <= 0) & no_floor
    if perfect.any():
        raise ValueError(
            "accuracy is 1.0 (log10 error = -inf) and no n_test is known to floor the error at "
            f"1/n_test: {_bad_rows(perfect, labels)}; add an n_test column or pass n_test"
        )
    # Flag only errors genuinely below one test example (not float noise around (n-1)/n).
    floored = ~no_floor & (err < np.where(no_floor, 0.0, floor) * (1 - 1e-9))
    error = np.where(floored, floor, err)
    return error, floored


def _positive(x, name, labels):
    arr = _as_float_array(x, name)
    bad = ~np.isfinite(arr) | (arr <= 0)
    if bad.any():
        raise ValueError(f"{name} must be positive and finite; bad value at {_bad_rows(bad, labels)}")
    return arr


def score_components(accuracy, time_s, size_mb, n_test=None, labels=None) -> pd.DataFrame:
    """The parts of the OpScore per row: log10_error, log10_time, log10_size, opscore, error_floored.

    Inputs broadcast against each other like numpy arrays. ``labels`` (one per row) name rows in
    error messages; by default the index of a pandas input, else the position. The result has
    the index of the first pandas Series among the inputs, else a RangeIndex.
    """
    series = [x for x in (accuracy, time_s, size_mb) if isinstance(x, pd.Series)]
    acc, t, s = np.broadcast_arrays(
        _as_float_array(accuracy, "accuracy"), _as_float_array(time_s, "time_s"),
        _as_float_array(size_mb, "size_mb"),
    )
    shape = acc.shape
    acc, t, s = np.atleast_1d(acc).ravel(), np.atleast_1d(t).ravel(), np.atleast_1d(s).ravel()
    if labels is None:
        labels = (_labels_for(series[0], None) if series and len(series[0]) == acc.size
                  else [f"row {i}" for i in range(acc.size)])
    if n_test is not None and not np.isscalar(n_test):
        n_test = np.broadcast_to(_as_float_array(n_test, "n_test"), shape).ravel()
    error, floored = floored_error(acc, n_test, labels)
    t = _positive(t, "time_s", labels)
    s = _positive(s, "size_mb", labels)
    out = pd.DataFrame({
        "log10_error": np.log10(error),
        "log10_time": np.log10(t),
        "log10_size": np.log10(s),
    })
    out["opscore"] = out["log10_error"] + out["log10_time"] + out["log10_size"]
    out["error_floored"] = floored
    if series and len(series[0]) == len(out):
        out.index = series[0].index
    return out


def opscore(accuracy, time_s, size_mb, n_test=None):
    """OpScore = log10(1 - accuracy) + log10(time_s) + log10(size_mb); lower is better.

    Vectorised over scalars, numpy arrays and pandas Series (broadcasting). ``1 - accuracy`` is
    floored at ``1 / n_test`` (see :func:`floored_error`). Returns a float for scalar inputs, a
    Series (same index, named ``opscore``) if any input is a Series, else a numpy array.
    """
    comp = score_components(accuracy, time_s, size_mb, n_test)
    inputs = (accuracy, time_s, size_mb)
    if any(isinstance(x, pd.Series) for x in inputs):
        return comp["opscore"].rename("opscore")
    if all(np.ndim(x) == 0 for x in inputs):
        return float(comp["opscore"].iloc[0])
    shape = np.broadcast_shapes(*(np.shape(x) for x in inputs))
    return comp["opscore"].to_numpy().reshape(shape)


# ----------------------------------------------------------------------------- table helpers
def _row_labels(df: pd.DataFrame) -> list[str]:
    """'row 3 (model=..., variant=...)' per row, for error messages."""
    ids = [c for c in IDENTITY if c in df.columns]
    labels = []
    for pos in range(len(df)):
        desc = ", ".join(f"{c}={df[c].iloc[pos]}" for c in ids)
        labels.append(f"row {pos}" + (f" ({desc})" if desc else ""))
    return labels


def _check_basis(time_basis: str) -> None:
    if time_basis not in TIME_BASES:
        raise ValueError(f"time_basis must be one of {', '.join(TIME_BASES)}; got {time_basis!r}")


def time_for_basis(df: pd.DataFrame, time_basis: str = "inference") -> pd.Series:
    """Seconds on the chosen basis (see module docstring); ``prep_time_s`` NaN counts as 0."""
    _check_basis(time_basis)
    need = {"inference": ["inference_time_s"], "train": ["train_time_s"],
            "total": ["train_time_s", "inference_time_s"], "latency": ["latency_p90_ms"]}[time_basis]
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise ValueError(f"time basis {time_basis!r} needs column(s) {', '.join(missing)}")
    if time_basis == "latency":
        return (pd.to_numeric(df["latency_p90_ms"], errors="raise").astype(float) / 1000.0).rename("time_s")
    t = sum((pd.to_numeric(df[c], errors="raise").astype(float) for c in need),
            start=pd.Series(0.0, index=df.index))
    if time_basis in ("train", "total") and "prep_time_s" in df.columns:
        t = t + pd.to_numeric(df["prep_time_s"], errors="raise").astype(float).fillna(0.0)
    return t.rename("time_s")


def pareto_front(df: pd.DataFrame, maximise: Sequence[str] = ("accuracy",),
                 minimise: Sequence[str] = ("inference_time_s", "size_mb")) -> pd.Series:
    """True for rows that no other row dominates.

    Row j dominates row i if j is at least as good in every column (higher for ``maximise``,
    lower for ``minimise``) and strictly better in at least one; so identical rows are both on
    the front. Returns a bool Series with ``df``'s index, named ``pareto``.
    """
    cols = list(maximise) + list(minimise)
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ValueError(f"pareto_front: missing column(s) {', '.join(missing)}")
    if not cols:
        raise ValueError("pareto_front: no columns to compare")
    # Orient every column so that larger is better.
    vals = np.column_stack(
        [df[c].astype(float).to_numpy() for c in maximise] + [-df[c].astype(float).to_numpy() for c in minimise]
    ) if len(df) else np.empty((0, len(cols)))
    if np.isnan(vals).any():
        raise ValueError("pareto_front: missing values in " + ", ".join(cols))
    geq = (vals[:, None, :] >= vals[None, :, :]).all(axis=2)  # geq[j, i]: j at least as good as i
    gt = (vals[:, None, :] > vals[None, :, :]).any(axis=2)    # gt[j, i]: j strictly better somewhere
    dominated = (geq & gt).any(axis=0)
    return pd.Series(~dominated, index=df.index, name="pareto")


def _direction(col: str) -> int:
    """+1 if higher is better, -1 if lower is better, 0 if the column is not a metric."""
    if col.endswith("_norm"):
        return _direction(col[: -len("_norm")])
    if col in METRICS.values() or col.endswith(("_accuracy", "_speedup")):
        return 1
    if (col in ("opscore", "time_s", "size_mb", "size_bytes", "error", "loss", "flops", "param_bytes")
            or col.endswith(("_time_s", "_error", "_loss", "_ms", "_mb")) or col.startswith("log10_")):
        return -1
    return 0


def _reference_rows(table: pd.DataFrame, context: Sequence[str]) -> pd.DataFrame:
    """The MIN (best per column) and MAX (worst per column) rows for a ranked table, each a
    fictitious model scored on its own values (the paper's Tables 5-6)."""
    ref = {}
    for c in table.columns:
        col = table[c]
        if c == "row":
            vals = list(_REFERENCE_ROWS)
        elif c in context:
            uniq = col.dropna().unique()
            vals = [uniq[0]] * 2 if len(uniq) == 1 else [pd.NA] * 2
        elif c in ("rank", "pareto", "error_floored") or pd.api.types.is_bool_dtype(col):
            vals = [pd.NA] * 2
        elif pd.api.types.is_numeric_dtype(col):
            d = _direction(c)
            vals = [col.max(), col.min()] if d > 0 else [col.min(), col.max()] if d < 0 else [pd.NA] * 2
        elif pd.api.types.is_string_dtype(col) or isinstance(col.dtype, pd.CategoricalDtype):
            vals = list(_REFERENCE_ROWS) if c in IDENTITY else [pd.NA] * 2
        else:
            vals = [pd.NA] * 2
        try:
            ref[c] = pd.Series(vals, dtype=col.dtype)
        except (TypeError, ValueError):
            ref[c] = pd.Series(vals, dtype=object)
    ref = pd.DataFrame(ref)
    # Best error, best time and best size make the MIN model: its score is their sum.
    ref["opscore"] = ref["log10_error"] + ref["log10_time"] + ref["log10_size"]
    return ref


def _normalise(table: pd.DataFrame, ref: pd.DataFrame, quality: str) -> None:
    """``*_norm`` = (x - MIN row) / (MAX row - MIN row), for the real and the reference rows."""
    for c in (quality, "time_s", "size_mb", "opscore"):
        best, worst = float(ref[c].iloc[0]), float(ref[c].iloc[1])
        lo, hi = min(best, worst), max(best, worst)
        for frame in (table, ref):
            values = frame[c].astype(float)
            frame[f"{c}_norm"] = 0.0 if not np.isfinite(hi - lo) or hi == lo else (values - lo) / (hi - lo)


def apply_time_statistic(df: pd.DataFrame, statistic: str) -> pd.DataFrame:
    """``inference_time_s`` from the repeats on the chosen statistic (``median`` x R, ``min`` x R
    or ``total``); the statistic goes in a ``time_statistic`` column. Needs ``repeats`` and the
    statistic's column (``inference_median_s``, ``inference_min_s``; ``inference_total_s``)."""
    if statistic not in TIME_STATISTICS:
        raise ValueError(f"time statistic must be one of {', '.join(TIME_STATISTICS)}; got {statistic!r}")
    source = TIME_STATISTICS[statistic] or "inference_total_s"
    missing = [c for c in (source, "repeats") if c not in df.columns]
    if missing:
        raise ValueError(f"time statistic {statistic!r} needs column(s) {', '.join(missing)}")
    out = df.copy()
    values = pd.to_numeric(out[source], errors="raise").astype(float)
    out["inference_time_s"] = values if statistic == "total" else values * out["repeats"].astype(float)
    out["time_statistic"] = statistic
    return out


#: the round-to-round spread each time basis's ties are judged on
_SPREADS = {"inference": "inference_cv", "latency": "latency_cv"}


def time_ties(table: pd.DataFrame) -> pd.Series:
    """Per row, the variants whose time lies within this row's round-to-round spread
    (|t_i - t_j| <= max(cv_i t_i, cv_j t_j), cv = ``inference_cv`` on the inference basis,
    ``latency_cv`` on the latency basis): their order in time is noise. Text like
    "VGG16/original/all; ..." ('' for none); all '' where the basis has no spread column."""
    basis = table["time_basis"].iloc[0] if "time_basis" in table.columns and len(table) else "inference"
    spread_column = _SPREADS.get(basis)
    if spread_column not in table.columns:
        return pd.Series("", index=table.index, name="time_ties")
    names = ["/".join(str(table[c].iloc[i]) for c in ("model", "variant", "unfreeze") if c in table.columns)
             for i in range(len(table))]
    t = table["time_s"].astype(float).to_numpy()
    spread = t * table[spread_column].astype(float).fillna(0.0).to_numpy()
    close = np.abs(t[:, None] - t[None, :]) <= np.maximum(spread[:, None], spread[None, :])
    np.fill_diagonal(close, False)
    return pd.Series(["; ".join(names[j] for j in np.flatnonzero(row)) for row in close],
                     index=table.index, name="time_ties")


def _rankable(df: pd.DataFrame, quality: str, time_statistic: str | None) -> pd.DataFrame:
    """The variant rows of ``df`` (reference rows and earlier scores dropped), with the time
    statistic applied and ``size_mb`` present; raises naming a missing column."""
    df = variant_rows(df)
    df = df.drop(columns=[c for c in _ADDED_COLUMNS if c in df.columns])
    if df.empty:
        raise ValueError("rank_table: no rows to rank")
    if time_statistic is not None:
        df = apply_time_statistic(df, time_statistic)
    if "size_mb" not in df.columns and "size_bytes" in df.columns:
        df["size_mb"] = bytes_to_mb(df["size_bytes"].astype(float))
    missing = [c for c in (quality, "size_mb") if c not in df.columns]
    if missing:
        raise ValueError(f"rank_table: missing column(s) {', '.join(missing)}")
    return df


def _nullable(df: pd.DataFrame) -> pd.DataFrame:
    """Integer and bool columns as nullable dtypes, so the reference rows can hold NA."""
    table = df.copy()
    for c in table.columns:
        if pd.api.types.is_bool_dtype(table[c]) and table[c].dtype != "boolean":
            table[c] = table[c].astype("boolean")
        elif pd.api.types.is_integer_dtype(table[c]) and not isinstance(table[c].dtype, pd.api.extensions.ExtensionDtype):
            table[c] = table[c].astype("Int64")
    return table


def _n_test_per_row(table: pd.DataFrame, n_test):
    """Each row's test-set size (its ``n_test`` column, ``n_test`` where missing), else ``n_test``."""
    if "n_test" not in table.columns:
        return n_test
    nt = pd.to_numeric(table["n_test"], errors="raise").astype(float)
    return (nt.fillna(float(n_test)) if n_test is not None else nt).to_numpy()


def not_applicable_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The variants whose kind the model cannot take (a reason in ``not_applicable``): nothing measured."""
    if NOT_APPLICABLE not in table.columns:
        return table.iloc[:0]
    return table[table[NOT_APPLICABLE].notna()]


def variant_rows(table: pd.DataFrame) -> pd.DataFrame:
    """A ranking (or a measurement table) without its fictitious MIN/MAX reference rows and its
    not-applicable variants: what every reader that wants the measured variants uses."""
    if NOT_APPLICABLE in table.columns:
        table = table[table[NOT_APPLICABLE].isna()]
    if "row" not in table.columns:
        return table.reset_index(drop=True)
    return table[~table["row"].astype(str).isin(_REFERENCE_ROWS)].reset_index(drop=True)


def rank_table(df: pd.DataFrame, time_basis: str = "inference", n_test=None,
               context_columns: Sequence[str] = (), metric: str = "accuracy",
               time_statistic: str | None = None) -> pd.DataFrame:
    """Score and rank one dataset's variants; see the module docstring for the columns.

    ``df`` needs the ``metric``'s column, ``size_mb`` (or ``size_bytes``) and the time column(s)
    of the basis. ``time_statistic`` recomputes ``inference_time_s`` from the repeats first
    (:func:`apply_time_statistic`); None takes it as given. Existing reference rows (``row`` ==
    MIN/MAX) and previously added columns are replaced, so ranking a ranked table again is
    harmless. ``context_columns`` are text columns that keep their (single) value in the MIN/MAX
    rows, besides dataset, metric, time_basis and time_statistic. Variants their kind does not apply
    to (a reason in ``not_applicable``, nothing measured) are listed last, unranked, ``row`` "not
    applicable".
    """
    _check_basis(time_basis)
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {', '.join(METRICS)}; got {metric!r}")
    quality = METRICS[metric]
    table = _nullable(_rankable(df, quality, time_statistic))
    labels = _row_labels(table)
    time_s = time_for_basis(table, time_basis)
    n_test_rows = _n_test_per_row(table, n_test)
    comp = score_components(table[quality].astype(float), time_s, table["size_mb"].astype(float),
                            n_test_rows, labels=labels)

    table["metric"] = metric
    table["time_basis"] = time_basis
    table["time_s"] = time_s
    for c in ("log10_error", "log10_time", "log10_size", "opscore"):
        table[c] = comp[c].to_numpy()
    table["error_floored"] = pd.array(comp["error_floored"].to_numpy(), dtype="boolean")
    table["pareto"] = pd.array(
        pareto_front(table, maximise=[quality], minimise=["time_s", "size_mb"]).to_numpy(), dtype="boolean")
    table["time_ties"] = time_ties(table)
    for end in ("low", "high"):  # the 95 % interval of the ranked metric (opscore.measure.uncertainty)
        if f"{quality}_ci_{end}" in table.columns:
            table[f"metric_ci_{end}"] = table[f"{quality}_ci_{end}"].astype(float)
    table["rank"] = table["opscore"].rank(method="min").astype("Int64")
    table["row"] = "variant"
    table = table.sort_values("opscore", kind="stable").reset_index(drop=True)

    context = tuple(CONTEXT_COLUMNS) + tuple(context_columns)
    ref = _reference_rows(table, context)
    _normalise(table, ref, quality)
    # listed last, with their reason, unranked
    skipped = not_applicable_rows(df).assign(row=NOT_APPLICABLE.replace("_", " "), metric=metric, time_basis=time_basis)
    return pd.concat([table, ref] + ([skipped] if len(skipped) else []), ignore_index=True)


def rank_tables_by(df: pd.DataFrame, by="dataset", time_basis: str = "inference", n_test=None,
                   metric: str = "accuracy", time_statistic: str | None = None) -> pd.DataFrame:
    """:func:`rank_table` per group of ``by`` (a column or list of columns), concatenated.

    Each group gets its own ranks, normalisation, Pareto front and MIN/MAX rows; the grouping
    columns keep their value in the reference rows.
    """
    keys = [by] if isinstance(by, str) else list(by)
    missing = [c for c in keys if c not in df.columns]
    if missing:
        raise ValueError(f"rank_tables_by: missing grouping column(s) {', '.join(missing)}")
    if df.empty:
        raise ValueError("rank_tables_by: no rows to rank")
    parts = [rank_table(g, time_basis=time_basis, n_test=n_test, context_columns=keys, metric=metric,
                        time_statistic=time_statistic)
             for _, g in df.groupby(keys, sort=False, dropna=False)]
    return pd.concat(parts, ignore_index=True)
