"""Sensitivity studies of Arı & Çamlı (2022): tables and altair figures from a measurement table.

Arı & Çamlı (2022), "Tradeoff Assessment of Deep Learning Models based on Accuracy, Time and
Size", study how accuracy, time and size react to quantization, unfreezing depth, weight
clustering and the train/test split. This module rebuilds those studies from the per-dataset
measurement table (``results/tables/<dataset>/measurements.parquet``: one row per trained or
derived variant of one model, unfreeze depth, split and seed). Each study is a *table function*
(``table -> DataFrame``) and a *figure function* (the paper's figure, or the paper's table
drawn as a chart; ``table, title=None -> altair chart``, themed with :func:`opscore.plots.apply_theme`):

==============================  ===========  ===========================================================
key (:data:`STUDIES`)           paper        what it shows
==============================  ===========  ===========================================================
``table1_quantized_size``       Table 1      each model's original beside each quantized variant
                                             (``float16``, ``tflite-*``, ``quantize-q8|q16``): layers,
                                             size in MB raw and deflate-compressed, and the size ratios
                                             quantized / original (:func:`quantized_size_table`;
                                             :func:`quantized_size_figure`: raw and compressed size bars
                                             per variant, one panel per model)
``table2_classification``       Table 2      accuracy and macro precision, recall and F1 per model,
                                             variant, unfreeze depth and split
                                             (:func:`classification_table`;
                                             :func:`classification_figure`: grouped bars)
``fig4_accuracy``               Fig. 4       accuracy per model and variant, best first, per dataset
                                             (:func:`accuracy_table`, :func:`accuracy_figure`, which
                                             draws :func:`opscore.plots.accuracy_bars`)
``fig5_unfreeze_sweep``         Fig. 5       accuracy against the number of unfrozen top layers, one
                                             line per model (original variant; ResNet, VGG, ...
                                             families told apart by dash and marker; ``all`` placed
                                             after the largest number) (:func:`unfreeze_sweep_table`,
                                             :func:`unfreeze_sweep_figure`)
``fig8_table7_cluster_count``   Fig. 8,      weight clustering: the figure draws accuracy against the
                                Table 7      cluster count K (log2 axis; the original's accuracy as a
                                             dashed reference line); the table gives K against size
                                             (raw, compressed), preparation (clustering) time and
                                             accuracy, with the original as the ``K = none`` reference
                                             row (:func:`cluster_count_table`,
                                             :func:`cluster_count_figure`)
``table3_split_time``           Table 3      train/test split ratio against training time and test
                                             (inference) time per model, original variant
                                             (:func:`split_time_table`; :func:`split_time_figure`:
                                             times against the train share, one line per model)
``table4_variant_time``         Table 4      training, preparation and test (inference) time per
                                             variant, with ratios to the original of the same run
                                             (:func:`variant_time_table`; :func:`variant_time_figure`:
                                             training and test time bars per variant and model)
``compression``                 Lee et al.   compression rates of the pruned and dense-quantized
                                             variants, original ÷ variant: parameters, non-zero
                                             parameters, file and deflated file, beside the accuracy
                                             drop (:func:`compression_table`; :func:`compression_figure`:
                                             "× smaller" bars, one panel per model)
==============================  ===========  ===========================================================

Pruning sensitivity (Lee et al.): :data:`PRUNING_STUDY` = (:func:`pruning_sensitivity_table`,
:func:`pruning_sensitivity_figure`) reads the concatenated per-variant ``preparation.parquet``
step tables (not the measurement table, so it is not in :data:`STUDIES`): the accuracy drop of
each filter-pruning or layer-removal step in the order tried, accepted or rejected, with the
sensitivity order and the input-to-output (``-io``) order side by side.

Conventions. MIN/MAX reference rows are dropped (:func:`opscore.plots.variant_rows`). Repeated
runs (seeds) are averaged and counted in ``runs``. Accuracy and time tables keep ``unfreeze``
and ``split`` as columns (they change both); the size tables (Table 1, Table 7) average over
them (the files do not depend on them). Every table carries a ``dataset`` column so a table
concatenated over datasets still works. Columns missing from the input are filled with NaN.

Fixed outputs. The workflow writes one file per study and dataset whatever a run trained, so
every table function returns an empty DataFrame with its full column list when the input has
no data for the study, and every figure function returns a chart reading "no data for this
study in this run" (:func:`no_data_chart`). :func:`available_studies` tells which studies a
table really has data for (e.g. no ``cluster-k<K>`` rows: no K study; a single unfreeze depth:
no sweep; a single split: no split table). :func:`write_study` writes one study (CSV, Markdown
beside it, and the figure through :func:`opscore.plots.save_chart`).
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Any, Callable

import altair as alt
import pandas as pd

from opscore import plots
from opscore.variants import PATTERNS, parse_variant

__all__ = [
    "STUDIES",
    "TITLES",
    "FIGURE_TITLES",
    "NO_DATA_TEXT",
    "available_studies",
    "write_study",
    "no_data_chart",
    "quantized_size_table",
    "classification_table",
    "accuracy_table",
    "accuracy_figure",
    "unfreeze_sweep_table",
    "unfreeze_sweep_figure",
    "cluster_count_table",
    "cluster_count_figure",
    "split_time_table",
    "variant_time_table",
    "quantized_size_figure",
    "classification_figure",
    "split_time_figure",
    "variant_time_figure",
    "compression_table",
    "compression_figure",
    "pruning_sensitivity_table",
    "pruning_sensitivity_figure",
    "PRUNING_STUDY",
    "model_family",
    "cluster_k",
    "depth_key",
    "split_percent",
    "QUANTIZED_KINDS",
]

NO_DATA_TEXT = "no data for this study in this run"

#: Variant kinds (see :mod:`opscore.variants`) that count as quantized in Table 1.
QUANTIZED_KINDS = ("float16", "tflite", "quantize-dense")

_KIND_ORDER = {kind: i for i, kind in enumerate(PATTERNS)}
_TFLITE_ORDER = {"float16": 0, "dynamic": 1, "int8": 2}
_CLUSTER_RE = re.compile(r"cluster-k(\d+)")
_SPLIT_RE = re.compile(r"(\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)")
_FAMILY_RE = re.compile(r"(?:\d+|V\d+|B\d+)+$")


# --------------------------------------------------------------------------------------
# Parsing helpers
# --------------------------------------------------------------------------------------


def cluster_k(variant: str) -> int | None:
    """The cluster count K of a ``cluster-k<K>`` variant name, else None."""
    match = _CLUSTER_RE.fullmatch(str(variant))
    return int(match.group(1)) if match else None


def model_family(model: str) -> str:
    """Architecture family: trailing depth/version tags stripped (ResNet50 -> ResNet, VGG16 -> VGG,
    MobileNetV2 -> MobileNet, EfficientNetB0 -> EfficientNet); names without one stay as they are."""
    family = _FAMILY_RE.sub("", str(model))
    return family or str(model)


def _unfreeze_str(value: Any) -> str:
    """Unfreeze levels as strings: 1, 1.0 and "1" are all "1"; "all" stays "all"."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def depth_key(unfreeze: Any) -> tuple[int, float, str]:
    """Sort key of an unfreeze level: numbers ascending, then other words, ``all`` last."""
    text = _unfreeze_str(unfreeze)
    try:
        return (0, float(text), text)
    except ValueError:
        return (2, math.inf, text) if text == "all" else (1, math.inf, text)


def split_percent(split: Any) -> tuple[float, float]:
    """(train %, test %) of a split named ``<train>-<test>`` (e.g. 70-30), else (NaN, NaN)."""
    match = _SPLIT_RE.fullmatch(str(split))
    if not match:
        return (math.nan, math.nan)
    return (float(match.group(1)), float(match.group(2)))


def _split_key(split: Any) -> tuple[int, float, str]:
    """Official (or other named) splits first, then by ascending train share."""
    train, _ = split_percent(split)
    return (1, train, str(split)) if not math.isnan(train) else (0, 0.0, str(split))


def _variant_key(variant: Any) -> tuple:
    """Variants in the order of :data:`opscore.variants.PATTERNS` (original first), then by
    their options (cluster K ascending, tflite float16/dynamic/int8, ...); unknown names last."""
    name = str(variant)
    try:
        parsed = parse_variant(name)
    except ValueError:
        return (len(_KIND_ORDER), (), name)
    options = tuple(
        (k, _TFLITE_ORDER.get(v, 0) if k == "mode" else (v if isinstance(v, (int, float)) else 0), str(v))
        for k, v in sorted(parsed.options.items())
    )
    return (_KIND_ORDER[parsed.kind], options, name)


def _variant_kind(variant: Any) -> str | None:
    try:
        return parse_variant(str(variant)).kind
    except ValueError:
        return None


# --------------------------------------------------------------------------------------
# Table helpers
# --------------------------------------------------------------------------------------

_IDS = ["dataset", "model", "variant", "unfreeze", "split"]


def _rows(table: pd.DataFrame | None, numeric: list[str]) -> pd.DataFrame:
    """Real variant rows with id columns as strings and ``numeric`` columns as floats (missing
    columns filled: ids with "", numbers with NaN)."""
    if table is None or len(table) == 0:
        return pd.DataFrame(columns=_IDS + numeric)
    df = plots.variant_rows(table).copy()
    for col in ("model", "variant"):
        if col not in df.columns:
            raise ValueError(f"sensitivity: measurement table lacks column {col!r}; have {list(df.columns)}")
    for col in _IDS:
        if col not in df.columns:
            df[col] = ""
    df["unfreeze"] = df["unfreeze"].map(_unfreeze_str)
    for col in ("dataset", "model", "variant", "split"):
        df[col] = df[col].astype(str)
    for col in numeric:
        df[col] = pd.to_numeric(df[col], errors="coerce") if col in df.columns else math.nan
        df[col] = df[col].astype(float)
    return df


def _mean_by(df: pd.DataFrame, keys: list[str], values: list[str], first: list[str] = ()) -> pd.DataFrame:
    """Mean of ``values`` per ``keys`` group (NaN-skipping), ``runs`` = rows per group; ``first``
    columns keep their first value."""
    agg: dict[str, tuple[str, Any]] = {v: (v, "mean") for v in values}
    for col in first:
        agg[col] = (col, "first")
    agg["runs"] = (keys[0], "size")
    out = df.groupby(keys, as_index=False, dropna=False, sort=False).agg(**agg)
    out["runs"] = out["runs"].astype(int)
    return out


def _sorted(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Sort by ``keys`` in study order: variants, unfreeze depths and splits in their own order."""
    special = {"variant": _variant_key, "unfreeze": depth_key, "split": _split_key}

    def key(series: pd.Series) -> pd.Series:
        fn = special.get(series.name)
        if fn is None:
            return series
        ranks = {v: i for i, v in enumerate(sorted(series.unique(), key=fn))}
        return series.map(ranks)

    return df.sort_values(keys, key=key, kind="stable").reset_index(drop=True)


def _finish(df: pd.DataFrame, columns: list[str], sort: list[str]) -> pd.DataFrame:
    if len(df) == 0:
        return _empty(columns, df)
    return _sorted(df, sort)[columns]


def _empty(columns: list[str], like: pd.DataFrame | None = None) -> pd.DataFrame:
    out = pd.DataFrame({c: pd.Series(dtype="object") for c in columns})
    if like is not None:
        for c in columns:
            if c in like.columns:
                out[c] = out[c].astype(like[c].dtype)
    return out


# --------------------------------------------------------------------------------------
# Table 1: original vs quantized size and layers
# --------------------------------------------------------------------------------------

TABLE1_COLUMNS = [
    "dataset", "model", "variant", "precision",
    "original_layers", "layers",
    "original_size_mb", "size_mb", "size_ratio",
    "original_size_compressed_mb", "size_compressed_mb", "compressed_ratio",
    "runs",
]


def quantized_size_table(table: pd.DataFrame) -> pd.DataFrame:
    """Paper Table 1: per model, its original beside each quantized variant (float16,
    tflite-*, quantize-q8|q16): layer count, size in MB raw and compressed, and the ratios
    quantized / original. Sizes are averaged over unfreeze depths, splits and seeds (the files
    do not depend on them); a model without an original row gets NaN original columns."""
    sizes = ["layers", "size_mb", "size_compressed_mb"]
    df = _rows(table, sizes)
    if "precision" not in df.columns:
        df["precision"] = ""
    df["precision"] = df["precision"].astype(str)
    kinds = df["variant"].map(_variant_kind)
    keys = ["dataset", "model", "variant"]
    quantized = _mean_by(df[kinds.isin(QUANTIZED_KINDS)], keys, sizes, first=["precision"])
    original = _mean_by(df[df["variant"] == "original"], keys, sizes).drop(columns=["variant", "runs"])
    original = original.rename(columns={c: f"original_{c}" for c in sizes})
    out = quantized.merge(original, on=["dataset", "model"], how="left")
    out["size_ratio"] = out["size_mb"] / out["original_size_mb"]
    out["compressed_ratio"] = out["size_compressed_mb"] / out["original_size_compressed_mb"]
    return _finish(out, TABLE1_COLUMNS, ["dataset", "model", "variant"])


# --------------------------------------------------------------------------------------
# Table 2: recall / precision / F1
# --------------------------------------------------------------------------------------

CLASSIFICATION_METRICS = ["accuracy", "precision_macro", "recall_macro", "f1_macro"]
TABLE2_COLUMNS = _IDS + CLASSIFICATION_METRICS + ["runs"]


def classification_table(table: pd.DataFrame) -> pd.DataFrame:
    """Paper Table 2: accuracy and macro precision, recall and F1 per model, variant, unfreeze
    depth and split (mean over seeds)."""
    df = _rows(table, CLASSIFICATION_METRICS)
    out = _mean_by(df, _IDS, CLASSIFICATION_METRICS)
    return _finish(out, TABLE2_COLUMNS, ["dataset", "model", "unfreeze", "split", "variant"])


# --------------------------------------------------------------------------------------
# Fig. 4: accuracy per variant
# --------------------------------------------------------------------------------------

FIG4_COLUMNS = ["dataset", "rank", "model", "variant", "unfreeze", "accuracy", "runs"]


def accuracy_table(table: pd.DataFrame) -> pd.DataFrame:
    """Data of paper Fig. 4: accuracy per model, variant and unfreeze depth (mean over splits and
    seeds, as :func:`opscore.plots.accuracy_bars` draws it), best first within each dataset;
    ``rank`` 1 is the most accurate."""
    df = _rows(table, ["accuracy"])
    df = df[df["accuracy"].notna()]
    out = _mean_by(df, ["dataset", "model", "variant", "unfreeze"], ["accuracy"])
    if len(out) == 0:
        return _empty(FIG4_COLUMNS)
    # Ties keep the label order of opscore.plots.accuracy_bars (model, variant, unfreeze).
    out = out.sort_values(["model", "variant", "unfreeze"], kind="stable")
    out = out.sort_values(["dataset", "accuracy"], ascending=[True, False], kind="stable")
    out["rank"] = out.groupby("dataset").cumcount() + 1
    return out.reset_index(drop=True)[FIG4_COLUMNS]


def accuracy_figure(table: pd.DataFrame, title: str | None = None) -> alt.TopLevelMixin:
    """Paper Fig. 4: horizontal accuracy bars per model and variant, best on top, one panel per
    dataset (drawn by :func:`opscore.plots.accuracy_bars`)."""
    df = _rows(table, ["accuracy"])
    df = df[df["accuracy"].notna()]
    if len(df) == 0:
        return no_data_chart(title or FIGURE_TITLES["fig4_accuracy"])
    datasets = sorted(df["dataset"].unique())
    if len(datasets) == 1:
        return plots.accuracy_bars(df, title=title or _with_dataset(FIGURE_TITLES["fig4_accuracy"], df))
    panels = []
    for dataset in datasets:
        chart = plots.accuracy_bars(df[df["dataset"] == dataset], title=dataset)
        chart.config = alt.Undefined
        panels.append(chart)
    return plots.apply_theme(alt.vconcat(*panels, title=title or FIGURE_TITLES["fig4_accuracy"]))


# --------------------------------------------------------------------------------------
# Fig. 5: unfreeze depth sweep
# --------------------------------------------------------------------------------------

FIG5_COLUMNS = ["dataset", "model", "family", "split", "unfreeze", "depth_rank", "accuracy", "runs"]


def unfreeze_sweep_table(table: pd.DataFrame) -> pd.DataFrame:
    """Data of paper Fig. 5: accuracy of the original variant per model, split and unfreeze
    depth (mean over seeds), ordered by depth with ``all`` last; ``depth_rank`` is that order
    (0 = fewest unfrozen layers) over all depths in the table, ``family`` the architecture
    family (ResNet, VGG, ...)."""
    df = _rows(table, ["accuracy"])
    df = df[(df["variant"] == "original") & df["accuracy"].notna()]
    out = _mean_by(df, ["dataset", "model", "split", "unfreeze"], ["accuracy"])
    if len(out) == 0:
        return _empty(FIG5_COLUMNS)
    out["family"] = out["model"].map(model_family)
    depths = sorted(out["unfreeze"].unique(), key=depth_key)
    out["depth_rank"] = out["unfreeze"].map({d: i for i, d in enumerate(depths)}).astype(int)
    return _finish(out, FIG5_COLUMNS, ["dataset", "model", "split", "unfreeze"])


def unfreeze_sweep_figure(table: pd.DataFrame, title: str | None = None) -> alt.TopLevelMixin:
    """Paper Fig. 5: accuracy (y) against the number of unfrozen top layers (x, ordinal, ``all``
    after the largest number), one line per model (colour); the architecture family sets dash
    and marker so ResNet and VGG families stand apart. One panel per split when there are
    several splits (or datasets)."""
    data = unfreeze_sweep_table(table)
    name = title or _with_dataset(FIGURE_TITLES["fig5_unfreeze_sweep"], data)
    if len(data) == 0:
        return no_data_chart(name)
    data = data.copy()
    data["accuracy"] = data["accuracy"].astype(float)
    depths = sorted(data["unfreeze"].unique(), key=depth_key)
    families = sorted(data["family"].unique())
    dashes = [[1, 0], [6, 3], [2, 2], [8, 3, 2, 3], [4, 4]]
    shapes = ["circle", "square", "triangle-up", "diamond", "cross", "triangle-down"]
    base = alt.Chart().encode(
        x=alt.X("unfreeze:O", sort=depths, title="unfrozen top layers (with weights)", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("accuracy:Q", title="accuracy", scale=alt.Scale(zero=False, padding=20), axis=alt.Axis(format=".0%")),
        color=alt.Color("model:N", title="model"),
        detail="model:N",
        tooltip=[alt.Tooltip(f"{c}:N") for c in ("model", "family", "split", "unfreeze")]
        + [alt.Tooltip("accuracy:Q", format=".4f"), alt.Tooltip("runs:Q")],
    )
    lines = base.mark_line(strokeWidth=2).encode(
        strokeDash=alt.StrokeDash(
            "family:N", title="family",
            scale=alt.Scale(range=[dashes[i % len(dashes)] for i in range(len(families))]),
            legend=None,  # the marker legend below names the families
        )
    )
    points = base.mark_point(filled=True, size=70, opacity=1).encode(
        # No explicit scale domains: with one, Vega-Lite drops this legend next to the hidden dash one.
        shape=alt.Shape("family:N", title="family",
                        scale=alt.Scale(range=[shapes[i % len(shapes)] for i in range(len(families))]),
                        legend=alt.Legend(symbolFillColor="#555555", symbolStrokeColor="#555555"))
    )
    return _panels(alt.layer(lines, points, data=data), data, name)


# --------------------------------------------------------------------------------------
# Fig. 8 + Table 7: cluster count K
# --------------------------------------------------------------------------------------

TABLE7_COLUMNS = [
    "dataset", "model", "variant", "k", "accuracy",
    "size_mb", "size_compressed_mb", "compressed_ratio", "prep_time_s", "train_time_s", "runs",
]
FIG8_COLUMNS = ["dataset", "model", "unfreeze", "split", "variant", "k", "accuracy", "runs"]


def _with_k(df: pd.DataFrame) -> pd.DataFrame:
    """Cluster rows, and original rows of the (dataset, model) pairs that have cluster rows;
    ``k`` is the cluster count (``<NA>`` for the original)."""
    df = df.copy()
    df["k"] = pd.array([cluster_k(v) for v in df["variant"]], dtype="Int64")
    clustered = df[df["k"].notna()]
    pairs = set(zip(clustered["dataset"], clustered["model"]))
    is_ref = (df["variant"] == "original") & pd.Series(
        [(d, m) in pairs for d, m in zip(df["dataset"], df["model"])], index=df.index, dtype=bool)
    return df[df["k"].notna() | is_ref]


def cluster_count_table(table: pd.DataFrame) -> pd.DataFrame:
    """Paper Table 7: per model, the cluster count K against size (raw and compressed MB, and
    compressed / raw), preparation (clustering) time, training time and accuracy, averaged over
    unfreeze depths, splits and seeds. The original is the reference row with ``k`` = ``<NA>``
    (K = none), listed first; K rows follow in ascending K. Empty without cluster rows."""
    values = ["accuracy", "size_mb", "size_compressed_mb", "prep_time_s", "train_time_s"]
    df = _with_k(_rows(table, values))
    out = _mean_by(df, ["dataset", "model", "variant"], values, first=["k"])
    if len(out) == 0:
        return _empty(TABLE7_COLUMNS)
    out["k"] = out["k"].astype("Int64")
    out["compressed_ratio"] = out["size_compressed_mb"] / out["size_mb"]
    # Variant order puts the original first (K = none), then cluster-k<K> by ascending K.
    return _sorted(out, ["dataset", "model", "variant"])[TABLE7_COLUMNS]


def _cluster_points(table: pd.DataFrame) -> pd.DataFrame:
    """Accuracy per model, unfreeze depth, split and K (original: k <NA>), mean over seeds."""
    df = _with_k(_rows(table, ["accuracy"]))
    df = df[df["accuracy"].notna()]
    out = _mean_by(df, ["dataset", "model", "unfreeze", "split", "variant"], ["accuracy"], first=["k"])
    if len(out) == 0:
        return _empty(FIG8_COLUMNS)
    out["k"] = out["k"].astype("Int64")
    # Variant order puts the original first, then cluster-k<K> by ascending K.
    return _sorted(out, ["dataset", "model", "unfreeze", "split", "variant"])[FIG8_COLUMNS]


def cluster_count_figure(table: pd.DataFrame, title: str | None = None) -> alt.TopLevelMixin:
    """Paper Fig. 8: accuracy (y) against the cluster count K (x, log2 axis), one line per model
    (and unfreeze depth when there are several, told apart by marker); each model's original
    accuracy is a dashed horizontal reference line in the model's colour. One panel per split
    when there are several splits (or datasets)."""
    points = _cluster_points(table)
    name = title or _with_dataset(FIGURE_TITLES["fig8_table7_cluster_count"], points)
    if len(points) == 0 or points["k"].notna().sum() == 0:
        return no_data_chart(name)
    data = points.copy()
    data["accuracy"] = data["accuracy"].astype(float)
    data["is_original"] = data["k"].isna()
    data["k"] = data["k"].astype("Float64").astype(float)  # NaN for the original (JSON null)
    data["series"] = data["model"] + " · unfreeze " + data["unfreeze"]
    ks = sorted(int(k) for k in data["k"].dropna().unique())
    several_depths = data["unfreeze"].nunique() > 1
    tooltip = [alt.Tooltip(f"{c}:N") for c in ("model", "variant", "unfreeze", "split")] + [
        alt.Tooltip("accuracy:Q", format=".4f"), alt.Tooltip("runs:Q")]
    y = alt.Y("accuracy:Q", title="accuracy", scale=alt.Scale(zero=False, padding=20), axis=alt.Axis(format=".0%"))
    color = alt.Color("model:N", title="model")
    clustered = alt.Chart().transform_filter("!datum.is_original").encode(
        x=alt.X("k:Q", title="cluster count K (log2 scale)",
                scale=alt.Scale(type="log", base=2, nice=False, padding=20),
                axis=alt.Axis(values=ks, format="d")),
        y=y, color=color, detail="series:N", tooltip=tooltip,
    )
    lines = clustered.mark_line(strokeWidth=2)
    marks = clustered.mark_point(filled=True, size=70, opacity=1)
    if several_depths:
        depths = sorted(data["unfreeze"].unique(), key=depth_key)
        marks = marks.encode(shape=alt.Shape("unfreeze:N", title="unfreeze", sort=depths))
    reference = (
        alt.Chart().transform_filter("datum.is_original")
        .mark_rule(strokeDash=[5, 4], strokeWidth=1.5, opacity=0.8)
        .encode(y=y, color=color, detail="series:N", tooltip=tooltip)
    )
    return _panels(alt.layer(reference, lines, marks, data=data), data, name,
                   subtitle="dashed: the original (no clustering)")


# --------------------------------------------------------------------------------------
# Table 3: split ratio vs time
# --------------------------------------------------------------------------------------

TIME_COLUMNS = ["train_time_s", "first_epoch_s", "inference_time_s", "inference_ms_per_image"]
TABLE3_COLUMNS = ["dataset", "model", "unfreeze", "split", "train_percent", "test_percent", "n_test",
                  *TIME_COLUMNS, "runs"]


def split_time_table(table: pd.DataFrame) -> pd.DataFrame:
    """Paper Table 3: per model (original variant) and unfreeze depth, the train/test split
    (``train_percent``/``test_percent``, NaN for a named split such as ``official``) against
    training time (total and first epoch) and test time (all timed inference repeats, and ms
    per image), with the test-set size; mean over seeds. Named splits first, then ascending
    train share."""
    values = ["n_test", *TIME_COLUMNS]
    df = _rows(table, values)
    df = df[df["variant"] == "original"]
    out = _mean_by(df, ["dataset", "model", "unfreeze", "split"], values)
    if len(out) == 0:
        return _empty(TABLE3_COLUMNS)
    parts = out["split"].map(split_percent)
    out["train_percent"] = [p[0] for p in parts]
    out["test_percent"] = [p[1] for p in parts]
    return _finish(out, TABLE3_COLUMNS, ["dataset", "model", "unfreeze", "split"])


# --------------------------------------------------------------------------------------
# Table 4: time per variant
# --------------------------------------------------------------------------------------

TABLE4_COLUMNS = _IDS + ["train_time_s", "prep_time_s", "inference_time_s", "inference_ms_per_image",
                         "train_time_ratio", "inference_time_ratio", "runs"]


def variant_time_table(table: pd.DataFrame) -> pd.DataFrame:
    """Paper Table 4: training time, preparation time (clustering, pruning, conversion) and test
    (inference) time per model, variant, unfreeze depth and split (mean over seeds), with
    ``*_ratio`` = variant / original of the same model, depth and split (NaN without one)."""
    values = ["train_time_s", "prep_time_s", "inference_time_s", "inference_ms_per_image"]
    df = _rows(table, values)
    out = _mean_by(df, _IDS, values)
    if len(out) == 0:
        return _empty(TABLE4_COLUMNS)
    ref_keys = ["dataset", "model", "unfreeze", "split"]
    ref = out[out["variant"] == "original"][ref_keys + ["train_time_s", "inference_time_s"]]
    ref = ref.rename(columns={"train_time_s": "_train_ref", "inference_time_s": "_inference_ref"})
    out = out.merge(ref, on=ref_keys, how="left")
    out["train_time_ratio"] = out["train_time_s"] / out["_train_ref"]
    out["inference_time_ratio"] = out["inference_time_s"] / out["_inference_ref"]
    return _finish(out, TABLE4_COLUMNS, ["dataset", "model", "unfreeze", "split", "variant"])


# --------------------------------------------------------------------------------------
# Compression (Lee et al.): how many times smaller each pruned variant is than its original
# --------------------------------------------------------------------------------------

COMPRESSION_KINDS = ("prune-magnitude", "prune-filters", "prune-layers", "quantize-dense")
#: ratio column -> (the count it divides, label in the figure); original / variant, the paper's "× smaller"
COMPRESSION_RATIOS = {
    "params_ratio": ("params", "parameters"),
    "nonzero_ratio": ("nonzero_params", "non-zero parameters"),
    "bytes_ratio": ("size_mb", "file"),
    "compressed_ratio": ("size_compressed_mb", "deflated file"),
}
COMPRESSION_COLUMNS = _IDS + [
    "original_params", "params", "nonzero_params", "original_size_mb", "size_mb", "size_compressed_mb",
    *COMPRESSION_RATIOS, "params_reduction", "original_accuracy", "accuracy", "accuracy_drop", "runs",
]


def compression_table(table: pd.DataFrame) -> pd.DataFrame:
    """Lee et al.'s compression rates: per pruned or dense-quantized variant, original ÷ variant
    for parameters, non-zero parameters (what magnitude pruning removes), the weights file and
    its deflated size, beside the accuracy drop, against the original of the same model, depth
    and split (mean over seeds; NaN without one). ``params_reduction`` is the paper's A2E unit,
    "complexity reduced by": 1 − variant ÷ original parameters."""
    counts = [count for count, _ in COMPRESSION_RATIOS.values()]
    df = _rows(table, counts + ["accuracy"])
    out = _mean_by(df, _IDS, counts + ["accuracy"])
    ref_keys = ["dataset", "model", "unfreeze", "split"]
    ref = out[out["variant"] == "original"][ref_keys + counts + ["accuracy"]]
    ref = ref.rename(columns={c: f"original_{c}" for c in counts + ["accuracy"]})
    out = out[out["variant"].map(_variant_kind).isin(COMPRESSION_KINDS)].merge(ref, on=ref_keys, how="left")
    for ratio, (count, _) in COMPRESSION_RATIOS.items():
        out[ratio] = out[f"original_{count}"] / out[count]
    out["params_reduction"] = 1 - out["params"] / out["original_params"]
    out["accuracy_drop"] = out["original_accuracy"] - out["accuracy"]
    return _finish(out, COMPRESSION_COLUMNS, ["dataset", "model", "unfreeze", "split", "variant"])


def compression_figure(table: pd.DataFrame, title: str | None = None) -> alt.TopLevelMixin:
    """The compression table as grouped bars: × smaller per variant and measure (1 = the
    original's size), one panel per model (and dataset)."""
    rates = compression_table(table)
    name = title or _with_dataset(FIGURE_TITLES["compression"], rates)
    labels = {ratio: label for ratio, (_, label) in COMPRESSION_RATIOS.items()}
    data = rates.melt(id_vars=["dataset", "model", "variant"], value_vars=list(labels), var_name="ratio",
                      value_name="times_smaller") if len(rates) else rates
    data = data[pd.to_numeric(data.get("times_smaller"), errors="coerce") > 0] if len(data) else data
    if len(data) == 0:
        return no_data_chart(name)
    data = data.groupby(["dataset", "model", "variant", "ratio"], as_index=False, sort=False)["times_smaller"].mean()
    data["measure"] = data["ratio"].map(labels)
    return _measure_bars(data, name, "times_smaller", "× smaller than the original", "what shrinks",
                         list(labels.values()))


def _measure_bars(data: pd.DataFrame, name: str, value: str, value_title: str, legend_title: str,
                  measures: list[str], independent: tuple[str, ...] = ()) -> alt.TopLevelMixin:
    """Bars of ``value`` per variant, one bar per measure side by side, one panel per model
    (and dataset): the shape of Table 1's sizes and of the compression rates."""
    data = data.assign(panel=(data["dataset"] + " · " + data["model"]) if _several(data, "dataset") else data["model"])
    chart = alt.Chart().mark_bar().encode(
        x=alt.X("variant:N", title="variant", sort=_variant_order(data["variant"]),
                axis=alt.Axis(labelAngle=-30, labelLimit=180)),
        xOffset=alt.XOffset("measure:N", sort=measures),
        y=alt.Y(f"{value}:Q", title=value_title),
        color=alt.Color("measure:N", title=legend_title, sort=measures, scale=alt.Scale(domain=measures)),
        tooltip=[alt.Tooltip(f"{c}:N") for c in ("model", "variant", "measure")]
        + [alt.Tooltip(f"{value}:Q", title=value_title, format=".2f")],
    )
    return _panel_chart(chart, data, name, column="panel", independent=independent)


# --------------------------------------------------------------------------------------
# Figures: shared pieces
# --------------------------------------------------------------------------------------


def no_data_chart(title: str | None = None, message: str = NO_DATA_TEXT) -> alt.Chart:
    """A themed placeholder of the usual plot size that reads ``message`` (for fixed outputs)."""
    chart = (
        alt.Chart(pd.DataFrame({"message": [message]}), title=alt.TitleParams(title) if title else alt.Undefined)
        .mark_text(fontSize=plots.FONT_SIZES["title"], color="#777777")
        .encode(text="message:N")
        .properties(**plots.CHART_SIZE)
    )
    return plots.apply_theme(chart)


def _panels(layered: alt.LayerChart, data: pd.DataFrame, title: str, subtitle: str | None = None) -> alt.TopLevelMixin:
    """One plot, or one panel per dataset/split when the data has several; themed."""
    data_panel = data["split"].astype(str)
    if data["dataset"].nunique() > 1:
        data_panel = data["dataset"].astype(str) + " · " + data_panel
    panels = sorted(data_panel.unique(), key=lambda p: _split_key(p.rsplit(" · ", 1)[-1]) + (p,))
    head = alt.TitleParams(title, subtitle=subtitle) if subtitle else alt.TitleParams(title)
    if len(panels) > 1:
        layered.data = data.assign(panel=data_panel)
        chart = layered.properties(**plots.PANEL_SIZE).facet(
            facet=alt.Facet("panel:N", title=None, sort=panels), columns=min(4, len(panels)), title=head)
        chart = chart.resolve_scale(y="shared")
    else:
        chart = layered.properties(**plots.CHART_SIZE, title=head)
    return plots.apply_theme(chart)


def _with_dataset(title: str, df: pd.DataFrame) -> str:
    """``title — dataset`` when the data is of exactly one (non-empty) dataset."""
    if "dataset" in df.columns and len(df):
        names = [d for d in df["dataset"].astype(str).unique() if d]
        if len(names) == 1:
            return f"{title} — {names[0]}"
    return title


def _panel_chart(chart: alt.Chart, data: pd.DataFrame, title: str, subtitle: str | None = None, *,
                 column: str | None = None, row: str | None = None, column_sort: list | None = None,
                 row_sort: list | None = None, independent: tuple[str, ...] = (),
                 size: dict | None = None) -> alt.TopLevelMixin:
    """``chart`` alone (one panel) or faceted by ``column``/``row`` fields of ``data`` (only those
    with more than one value); ``independent`` names the scales ("x", "y") resolved per panel.
    Themed."""
    head = alt.TitleParams(title, subtitle=subtitle) if subtitle else alt.TitleParams(title)
    column = column if column and data[column].nunique() > 1 else None
    row = row if row and data[row].nunique() > 1 else None
    if column is None and row is None:
        return plots.apply_theme(chart.properties(data=data, **(size or plots.CHART_SIZE), title=head))
    facet: dict[str, Any] = {}
    if column:
        facet["column"] = alt.Facet(f"{column}:N", title=None, sort=column_sort or sorted(data[column].unique()))
    if row:
        facet["row"] = alt.Facet(f"{row}:N", title=None, sort=row_sort or sorted(data[row].unique()),
                                 header=alt.Header(labelAngle=0, labelAlign="left"))
    faceted = chart.properties(**(size or plots.PANEL_SIZE)).facet(data=data, title=head, **facet)
    for channel in independent:
        faceted = faceted.resolve_scale(**{channel: "independent"})
    return plots.apply_theme(faceted)


def _several(df: pd.DataFrame, column: str) -> bool:
    return column in df.columns and df[column].nunique() > 1


def _run_panel(df: pd.DataFrame, columns: tuple[str, ...] = ("dataset", "split")) -> pd.Series:
    """Panel label from those of ``columns`` that take several values ("" when none does)."""
    parts = [c for c in columns if _several(df, c)]
    if not parts:
        return pd.Series("", index=df.index)
    return df[parts].astype(str).agg(" · ".join, axis=1)


def _variant_order(values) -> list[str]:
    return sorted({str(v) for v in values}, key=_variant_key)


# --------------------------------------------------------------------------------------
# Figures of Tables 1-4
# --------------------------------------------------------------------------------------

#: Size measures drawn by :func:`quantized_size_figure` (label -> table column).
SIZE_MEASURES = {"raw": "size_mb", "compressed": "size_compressed_mb"}


def quantized_size_figure(table: pd.DataFrame, title: str | None = None) -> alt.TopLevelMixin:
    """Table 1 as a figure: grouped bars of size in MB (raw and deflate-compressed side by side)
    per variant (the original first, then the quantized variants), one panel per model (and
    dataset)."""
    t1 = quantized_size_table(table)
    name = title or _with_dataset(FIGURE_TITLES["table1_quantized_size"], t1)
    rows = []
    for rec in t1.to_dict("records"):
        for measure, col in SIZE_MEASURES.items():
            base = {"dataset": rec["dataset"], "model": rec["model"], "measure": measure}
            rows.append({**base, "variant": "original", "size_mb": rec[f"original_{col}"]})
            rows.append({**base, "variant": rec["variant"], "size_mb": rec[col]})
    data = pd.DataFrame(rows, columns=["dataset", "model", "measure", "variant", "size_mb"])
    data = data[pd.to_numeric(data["size_mb"], errors="coerce").notna()].drop_duplicates().reset_index(drop=True)
    if len(data) == 0:
        return no_data_chart(name)
    data["size_mb"] = data["size_mb"].astype(float)
    return _measure_bars(data, name, "size_mb", "size (MB)", "size", list(SIZE_MEASURES), independent=("y",))


#: Classification metrics drawn by :func:`classification_figure` (label -> table column).
CLASSIFICATION_LABELS = {"precision": "precision_macro", "recall": "recall_macro", "F1": "f1_macro"}


def classification_figure(table: pd.DataFrame, title: str | None = None) -> alt.TopLevelMixin:
    """Table 2 as a figure: grouped bars of macro precision, recall and F1 per model and variant;
    one column of panels per split (and dataset) and one row per unfreeze depth when there are
    several."""
    t2 = classification_table(table)
    name = title or _with_dataset(FIGURE_TITLES["table2_classification"], t2)
    if len(t2) == 0:
        return no_data_chart(name)
    t2 = t2.assign(label=t2["model"] + " · " + t2["variant"], panel=_run_panel(t2),
                   depth="unfreeze " + t2["unfreeze"])
    data = t2.melt(id_vars=["dataset", "model", "variant", "unfreeze", "split", "label", "panel", "depth", "runs"],
                   value_vars=list(CLASSIFICATION_LABELS.values()), var_name="column", value_name="value")
    data["metric"] = data["column"].map({v: k for k, v in CLASSIFICATION_LABELS.items()})
    data = data[pd.to_numeric(data["value"], errors="coerce").notna()].drop(columns="column").reset_index(drop=True)
    if len(data) == 0:
        return no_data_chart(name)
    data["value"] = data["value"].astype(float)
    metrics = list(CLASSIFICATION_LABELS)
    chart = alt.Chart().mark_bar().encode(
        x=alt.X("label:N", title=None, sort=list(dict.fromkeys(t2["label"])),
                axis=alt.Axis(labelAngle=-40, labelLimit=220)),
        xOffset=alt.XOffset("metric:N", sort=metrics),
        y=alt.Y("value:Q", title="macro average", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format=".0%")),
        color=alt.Color("metric:N", title="metric", sort=metrics, scale=alt.Scale(domain=metrics)),
        tooltip=[alt.Tooltip(f"{c}:N") for c in ("model", "variant", "unfreeze", "split", "metric")]
        + [alt.Tooltip("value:Q", format=".4f"), alt.Tooltip("runs:Q")],
    )
    panels = sorted(data["panel"].unique(), key=lambda p: _split_key(p.rsplit(" · ", 1)[-1]) + (p,))
    depths = ["unfreeze " + d for d in sorted(t2["unfreeze"].unique(), key=depth_key)]
    return _panel_chart(chart, data, name, column="panel", column_sort=panels, row="depth", row_sort=depths)


#: Times drawn by :func:`split_time_figure` and :func:`variant_time_figure` (label -> column).
TIME_MEASURES = {"training time (s)": "train_time_s", "test time (s)": "inference_time_s"}


def _time_long(df: pd.DataFrame, ids: list[str]) -> pd.DataFrame:
    data = df.melt(id_vars=ids, value_vars=list(TIME_MEASURES.values()), var_name="column", value_name="seconds")
    data["measure"] = data["column"].map({v: k for k, v in TIME_MEASURES.items()})
    data = data[pd.to_numeric(data["seconds"], errors="coerce").notna()].drop(columns="column")
    data = data.reset_index(drop=True)
    data["seconds"] = data["seconds"].astype(float)
    return data


def split_time_figure(table: pd.DataFrame, title: str | None = None) -> alt.TopLevelMixin:
    """Table 3 as a figure: training time and test (inference) time (one panel each, own y
    scale) against the train share of the split in percent (e.g. 50, 70, 90), one line per
    model (and unfreeze depth, told apart by marker, when there are several); original variant.
    Named splits (``official``) have no share and are left out. One row of panels per dataset
    when there are several."""
    t3 = split_time_table(table)
    name = title or _with_dataset(FIGURE_TITLES["table3_split_time"], t3)
    t3 = t3[pd.to_numeric(t3["train_percent"], errors="coerce").notna()]
    data = _time_long(t3, ["dataset", "model", "unfreeze", "split", "train_percent", "runs"]) if len(t3) else t3
    if len(data) == 0:
        return no_data_chart(name)
    data["train_percent"] = data["train_percent"].astype(float)
    data["series"] = data["model"] + " · unfreeze " + data["unfreeze"]
    measures = list(TIME_MEASURES)
    data["measure"] = pd.Categorical(data["measure"], measures).astype(str)
    shares = sorted(data["train_percent"].unique())
    tooltip = [alt.Tooltip(f"{c}:N") for c in ("model", "unfreeze", "split", "measure")] + [
        alt.Tooltip("seconds:Q", format=".4g"), alt.Tooltip("runs:Q")]
    base = alt.Chart().encode(
        x=alt.X("train_percent:Q", title="train share of the split (%)",
                scale=alt.Scale(zero=False, padding=15, nice=False), axis=alt.Axis(values=shares, format="d")),
        y=alt.Y("seconds:Q", title="time (s)", scale=alt.Scale(zero=False, padding=15)),
        color=alt.Color("model:N", title="model"),
        detail="series:N",
        tooltip=tooltip,
    )
    points = base.mark_point(filled=True, size=60, opacity=1)
    if _several(data, "unfreeze"):
        points = points.encode(shape=alt.Shape("unfreeze:N", title="unfreeze",
                                               sort=sorted(data["unfreeze"].unique(), key=depth_key)))
    return _panel_chart(alt.layer(base.mark_line(strokeWidth=2), points), data, name,
                        subtitle="original variant; named splits (e.g. official) left out",
                        column="measure", column_sort=measures, row="dataset", independent=("y",))


def variant_time_figure(table: pd.DataFrame, title: str | None = None) -> alt.TopLevelMixin:
    """Table 4 as a figure: training and test (inference) time per variant (one panel each, own
    y scale), bars grouped by model (mean over unfreeze depths and splits when there are
    several). One row of panels per dataset when there are several."""
    t4 = variant_time_table(table)
    name = title or _with_dataset(FIGURE_TITLES["table4_variant_time"], t4)
    data = _time_long(t4, ["dataset", "model", "variant", "unfreeze", "split", "runs"]) if len(t4) else t4
    if len(data) == 0:
        return no_data_chart(name)
    averaged = _several(data, "unfreeze") or _several(data, "split")
    data = data.groupby(["dataset", "model", "variant", "measure"], as_index=False, sort=False).agg(
        seconds=("seconds", "mean"), runs=("runs", "sum"))
    measures = list(TIME_MEASURES)
    chart = alt.Chart().mark_bar().encode(
        x=alt.X("variant:N", title="variant", sort=_variant_order(data["variant"]),
                axis=alt.Axis(labelAngle=-30, labelLimit=180)),
        xOffset=alt.XOffset("model:N", sort=sorted(data["model"].unique())),
        y=alt.Y("seconds:Q", title="time (s)"),
        color=alt.Color("model:N", title="model"),
        tooltip=[alt.Tooltip(f"{c}:N") for c in ("model", "variant", "measure")]
        + [alt.Tooltip("seconds:Q", format=".4g"), alt.Tooltip("runs:Q")],
    )
    subtitle = "mean over unfreeze depths and splits" if averaged else None
    return _panel_chart(chart, data, name, subtitle, column="measure", column_sort=measures, row="dataset",
                        independent=("y",))


# --------------------------------------------------------------------------------------
# Pruning sensitivity (Lee et al.): accuracy drop of each step, in the order tried
# --------------------------------------------------------------------------------------

PRUNING_KINDS = ("prune-filters", "prune-layers")
PRUNING_COLUMNS = [
    "dataset", "model", "variant", "unfreeze", "split", "seed", "method", "order", "budget",
    "step", "round", "action", "layer", "filters_before", "removed", "filters_after",
    "params", "accuracy", "drop", "accepted",
]
PRUNING_TITLE = "Accuracy drop per pruning step, in the order tried"


def _pruning_order(variant: str) -> str:
    return "input-to-output" if parse_variant(variant).options.get("order") else "sensitivity"


def pruning_sensitivity_table(steps: pd.DataFrame | None) -> pd.DataFrame:
    """The pruning steps of the per-variant ``preparation.parquet`` tables (concatenated): one row
    per step tried by ``prune-filters-*`` (accuracy-aware filter pruning, one row per layer try,
    plus a ``quantize-dense-*`` step) and ``prune-layers-*`` variants (out-of-order layer
    removal: ``candidate`` becomes ``layer``, ``action`` is ``remove-layers``), in step order per
    run. ``method`` is the variant kind, ``order`` ``sensitivity`` or ``input-to-output``
    (``-io`` variants), ``budget`` the allowed accuracy drop as a fraction; ``accepted`` is
    boolean. Rows of other variants (clustering, magnitude pruning) are dropped."""
    if steps is None or len(steps) == 0 or "variant" not in steps.columns:
        return _empty(PRUNING_COLUMNS)
    df = steps.copy()
    df["variant"] = df["variant"].astype(str)
    df = df[df["variant"].map(_variant_kind).isin(PRUNING_KINDS)].reset_index(drop=True)
    if len(df) == 0:
        return _empty(PRUNING_COLUMNS)
    kinds = df["variant"].map(_variant_kind)
    if "candidate" in df.columns:
        layer = df["layer"] if "layer" in df.columns else pd.Series(math.nan, index=df.index)
        df["layer"] = layer.where(kinds != "prune-layers", df["candidate"])
    if "action" not in df.columns:
        df["action"] = math.nan
    df["action"] = df["action"].where(kinds != "prune-layers", "remove-layers")
    df["method"] = kinds
    df["order"] = df["variant"].map(_pruning_order)
    df["budget"] = [parse_variant(v).options["budget"] / 100 for v in df["variant"]]
    for col in ("dataset", "model", "unfreeze", "split", "seed", "layer", "action"):
        if col not in df.columns:
            df[col] = ""
        df[col] = df[col].fillna("").map(_unfreeze_str if col in ("unfreeze", "seed") else str)
    for col in ("step", "round", "filters_before", "removed", "filters_after", "params", "accuracy", "drop"):
        df[col] = pd.to_numeric(df[col], errors="coerce").astype(float) if col in df.columns else math.nan
    df["accepted"] = df["accepted"].map(
        lambda v: str(v).strip().lower() in ("true", "1", "1.0")) if "accepted" in df.columns else False
    df["accepted"] = df["accepted"].astype(bool)
    df["step"] = df["step"].astype("Int64")
    return _sorted(df, ["dataset", "model", "unfreeze", "split", "seed", "variant", "step"])[PRUNING_COLUMNS]


def pruning_sensitivity_figure(steps: pd.DataFrame | None, title: str | None = None) -> alt.TopLevelMixin:
    """Lee et al.'s pruning, step by step: per variant, the accuracy drop (y) of each step in the
    order tried (x: ``step. layer``), bars coloured by accepted / rejected, the variant's budget
    as a dashed rule. One row of panels per model and base variant, the ``sensitivity`` order and
    the input-to-output (``-io``) order of the same settings side by side; the run
    (unfreeze, split, seed, dataset) is added to the row label when there are several."""
    table = pruning_sensitivity_table(steps)
    name = title or _with_dataset(PRUNING_TITLE, table)
    table = table[table["drop"].notna()] if len(table) else table
    if len(table) == 0:
        return no_data_chart(name)
    data = table.copy()
    data["step"] = data["step"].astype(float)
    data["drop"] = data["drop"].astype(float)
    data["status"] = data["accepted"].map({True: "accepted", False: "rejected"})
    what = data["layer"].where(data["layer"] != "", data["action"])
    data["label"] = data["step"].astype(int).astype(str) + ". " + what
    data["base"] = data["variant"].str.replace(r"-io$", "", regex=True)
    run = _run_panel(data, ("dataset", "unfreeze", "split", "seed"))
    data["facet_run"] = data["model"] + " · " + data["base"] + run.map(lambda r: f" · {r}" if r else "")
    data["facet_order"] = data["order"]
    rows = list(dict.fromkeys(data["facet_run"]))  # table order: model, run, variant
    orders = [o for o in ("sensitivity", "input-to-output") if o in set(data["order"])]
    statuses = ["accepted", "rejected"]
    tooltip = [alt.Tooltip(f"{c}:N") for c in ("model", "variant", "order", "layer", "action", "status")] + [
        alt.Tooltip("step:Q"), alt.Tooltip("removed:Q", title="removed (filters)"),
        alt.Tooltip("accuracy:Q", format=".4f"), alt.Tooltip("drop:Q", format=".4f"),
        alt.Tooltip("budget:Q", format=".4f")]
    bars = alt.Chart().mark_bar().encode(
        x=alt.X("label:N", title="layer, in the order tried",
                sort=alt.EncodingSortField("step", op="min"), axis=alt.Axis(labelAngle=-60, labelLimit=140)),
        y=alt.Y("drop:Q", title="accuracy drop", axis=alt.Axis(format=".1%")),
        color=alt.Color("status:N", title="step", sort=statuses,
                        scale=alt.Scale(domain=statuses, range=["#4c78a8", "#e45756"])),
        tooltip=tooltip,
    )
    budget = alt.Chart().mark_rule(strokeDash=[5, 4], color="#555555").encode(
        y="mean(budget):Q", tooltip=[alt.Tooltip("mean(budget):Q", title="budget", format=".4f")])
    data = data.assign(budget=data["budget"].astype(float), status=data["status"].astype(str))
    data["accepted"] = data["accepted"].astype(bool)
    head = alt.TitleParams(name, subtitle="dashed: the variant's accuracy-drop budget")
    if len(rows) == 1 and len(orders) == 1:
        chart = alt.layer(bars, budget, data=data).properties(**plots.CHART_SIZE, title=head)
        return plots.apply_theme(chart)
    # A grid of concatenated panels, not a row x column facet: Vega-Lite packs a facet grid with
    # empty cells (a prune-layers row has no input-to-output cell) and independent x scales wrongly.
    grid = []
    for run_label in rows:
        cells = []
        for order in orders:
            cell = data[(data["facet_run"] == run_label) & (data["facet_order"] == order)]
            if len(cell):
                cells.append(alt.layer(bars, budget, data=cell.reset_index(drop=True)).properties(
                    width=260, height=170, title=alt.TitleParams(f"{run_label} · {order} order",
                                                                 fontSize=plots.FONT_SIZES["header"])))
        grid.append(alt.hconcat(*cells).resolve_scale(y="shared") if len(cells) > 1 else cells[0])
    chart = alt.vconcat(*grid, title=head).resolve_scale(color="shared")
    return plots.apply_theme(chart)


#: The pruning study: its input is the concatenated ``preparation.parquet`` step tables, not
#: the measurement table, so it is not in :data:`STUDIES`.
PRUNING_STUDY = (pruning_sensitivity_table, pruning_sensitivity_figure)


# --------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------

TableFn = Callable[[pd.DataFrame], pd.DataFrame]
FigureFn = Callable[..., alt.TopLevelMixin]

#: study key -> (table function, figure function or None). Keys are stable file names.
STUDIES: dict[str, tuple[TableFn, FigureFn | None]] = {
    "table1_quantized_size": (quantized_size_table, quantized_size_figure),
    "table2_classification": (classification_table, classification_figure),
    "fig4_accuracy": (accuracy_table, accuracy_figure),
    "fig5_unfreeze_sweep": (unfreeze_sweep_table, unfreeze_sweep_figure),
    "fig8_table7_cluster_count": (cluster_count_table, cluster_count_figure),
    "table3_split_time": (split_time_table, split_time_figure),
    "table4_variant_time": (variant_time_table, variant_time_figure),
    "compression": (compression_table, compression_figure),
}

#: Study titles (headings of the Markdown tables).
TITLES = {
    "table1_quantized_size": "Original vs quantized size and layers (Table 1)",
    "table2_classification": "Accuracy, precision, recall and F1 per variant (Table 2)",
    "fig4_accuracy": "Accuracy per variant, best first (Fig. 4)",
    "fig5_unfreeze_sweep": "Accuracy vs unfrozen layers, original variant (Fig. 5)",
    "fig8_table7_cluster_count": "Cluster count K vs size, preparation time and accuracy (Table 7)",
    "table3_split_time": "Split ratio vs training and test time, original variant (Table 3)",
    "table4_variant_time": "Training and test time per variant (Table 4)",
    "compression": "Compression rates of the pruned variants, original ÷ variant (Lee et al.)",
}

#: Default figure titles (`` — <dataset>`` is added for one-dataset data).
FIGURE_TITLES = {
    "table1_quantized_size": "Size of the original and quantized variants (Table 1)",
    "table2_classification": "Macro precision, recall and F1 per variant (Table 2)",
    "table3_split_time": "Training and test time vs train share (Table 3)",
    "table4_variant_time": "Training and test time per variant (Table 4)",
    "fig4_accuracy": "Accuracy per variant (Fig. 4)",
    "fig5_unfreeze_sweep": "Accuracy vs unfrozen layers (Fig. 5)",
    "fig8_table7_cluster_count": "Accuracy vs cluster count K (Fig. 8)",
    "compression": "How many times smaller the pruned variants are (Lee et al.)",
}


def _has_sweep(sweep: pd.DataFrame) -> bool:
    """Some model (in some dataset and split) has at least two unfreeze depths."""
    return bool(len(sweep)) and bool((sweep.groupby(["dataset", "model", "split"])["unfreeze"].nunique() > 1).any())


def _has_splits(splits: pd.DataFrame) -> bool:
    """Some model (at some unfreeze depth) was run on at least two splits."""
    return bool(len(splits)) and bool((splits.groupby(["dataset", "model", "unfreeze"])["split"].nunique() > 1).any())


#: study key -> predicate on the study's table: does the run have data that makes it meaningful?
_MEANINGFUL: dict[str, Callable[[pd.DataFrame], bool]] = {
    "table1_quantized_size": lambda t: bool(t["size_ratio"].notna().any()),
    "table2_classification": lambda t: len(t) > 0,
    "fig4_accuracy": lambda t: len(t) > 0,
    "fig5_unfreeze_sweep": _has_sweep,
    "fig8_table7_cluster_count": lambda t: bool(t["k"].notna().any()),
    "table3_split_time": _has_splits,
    "table4_variant_time": lambda t: len(t) > 0,
    "compression": lambda t: bool(t["params_ratio"].notna().any()),
}


def available_studies(table: pd.DataFrame) -> list[str]:
    """The :data:`STUDIES` keys (in registry order) the measurement table has data for: Table 1
    needs a quantized variant and its model's original; Fig. 5 two unfreeze depths of one
    model's original; Fig. 8/Table 7 a ``cluster-k<K>`` variant; Table 3 two splits of one
    model's original; the others any variant row."""
    return [key for key, (table_fn, _) in STUDIES.items() if _MEANINGFUL[key](table_fn(table))]


def write_study(
    table: pd.DataFrame,
    key: str,
    csv_path: str | os.PathLike,
    svg_path: str | os.PathLike | None = None,
    html_path: str | os.PathLike | None = None,
    markdown: bool = True,
    title: str | None = None,
) -> pd.DataFrame:
    """Write study ``key`` of a measurement table: its table as CSV at ``csv_path`` (and as a
    Markdown table beside it, same name with ``.md``, unless ``markdown=False``), and its figure
    (a "no data" placeholder when empty) to ``svg_path``/``html_path`` through
    :func:`opscore.plots.save_chart`. Asking for a figure of a study without one raises
    ValueError. Parent directories are created. Returns the study table."""
    if key not in STUDIES:
        raise ValueError(f"write_study: unknown study {key!r}; known: {list(STUDIES)}")
    table_fn, figure_fn = STUDIES[key]
    if figure_fn is None and (svg_path is not None or html_path is not None):
        raise ValueError(f"write_study: study {key!r} has no figure")
    result = table_fn(table)
    csv_path = Path(csv_path)
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    result.to_csv(csv_path, index=False)
    if markdown:
        csv_path.with_suffix(".md").write_text(_markdown(result, _with_dataset(TITLES[key], result)), encoding="utf-8")
    figure_paths = [p for p in (svg_path, html_path) if p is not None]
    if figure_paths:
        chart = figure_fn(table, title=title)
        for path in figure_paths:
            plots.save_chart(chart, path)
    return result


def _markdown(result: pd.DataFrame, title: str) -> str:
    if len(result) and "k" in result.columns:  # Table 7: the original is the K = none row
        result = result.assign(k=result["k"].astype("object").where(result["k"].notna(), "none"))
    body = result.to_markdown(index=False, floatfmt=".4g") if len(result) else f"*{NO_DATA_TEXT}*"
    return f"### {title}\n\n{body}\n"
