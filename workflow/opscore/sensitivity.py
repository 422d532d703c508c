"""Sensitivity studies of Arı & Çamlı (2022): tables and altair figures from a measurement table.

Arı & Çamlı (2022), "Tradeoff Assessment of Deep Learning Models based on Accuracy, Time and
Size", study how accuracy, time and size react to quantization, unfreezing depth, weight
clustering and the train/test split. This module rebuilds those studies from the per-dataset
measurement table (``results/tables/<dataset>/measurements.parquet``: one row per trained or
derived variant of one model, unfreeze depth, split and seed). Each study is a *table function*
(``table -> DataFrame``) and, where the paper has a figure, a *figure function*
(``table, title=None -> altair chart``, themed with :func:`opscore.plots.apply_theme`):

==============================  ===========  ===========================================================
key (:data:`STUDIES`)           paper        what it shows
==============================  ===========  ===========================================================
``table1_quantized_size``       Table 1      each model's original beside each quantized variant
                                             (``float16``, ``tflite-*``, ``quantize-q8|q16``): layers,
                                             size in MB raw and deflate-compressed, and the size ratios
                                             quantized / original (:func:`quantized_size_table`)
``table2_classification``       Table 2      accuracy and macro precision, recall and F1 per model,
                                             variant, unfreeze depth and split
                                             (:func:`classification_table`)
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
                                             (:func:`split_time_table`)
``table4_variant_time``         Table 4      training, preparation and test (inference) time per
                                             variant, with ratios to the original of the same run
                                             (:func:`variant_time_table`)
==============================  ===========  ===========================================================

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


# --------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------

TableFn = Callable[[pd.DataFrame], pd.DataFrame]
FigureFn = Callable[..., alt.TopLevelMixin]

#: study key -> (table function, figure function or None). Keys are stable file names.
STUDIES: dict[str, tuple[TableFn, FigureFn | None]] = {
    "table1_quantized_size": (quantized_size_table, None),
    "table2_classification": (classification_table, None),
    "fig4_accuracy": (accuracy_table, accuracy_figure),
    "fig5_unfreeze_sweep": (unfreeze_sweep_table, unfreeze_sweep_figure),
    "fig8_table7_cluster_count": (cluster_count_table, cluster_count_figure),
    "table3_split_time": (split_time_table, None),
    "table4_variant_time": (variant_time_table, None),
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
}

#: Default figure titles (`` — <dataset>`` is added for one-dataset data).
FIGURE_TITLES = {
    "fig4_accuracy": "Accuracy per variant (Fig. 4)",
    "fig5_unfreeze_sweep": "Accuracy vs unfrozen layers (Fig. 5)",
    "fig8_table7_cluster_count": "Accuracy vs cluster count K (Fig. 8)",
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
