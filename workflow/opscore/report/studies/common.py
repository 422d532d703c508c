"""What every study shares: ordering of models, variants, depths and splits; the measurement
rows a study reads (reference rows dropped, seeds averaged); panels and the "no data" chart."""
from __future__ import annotations

import math
import re
from typing import Any

import altair as alt
import pandas as pd

from opscore.data import DataError
from opscore.data.splits import parse_split
from opscore.job import IDENTITY
from opscore.kinds.registry import KINDS, parse_variant
from opscore.report import plots

NO_DATA_TEXT = "no data for this study in this run"


KIND_ORDER = {kind: i for i, kind in enumerate(KINDS)}
TFLITE_ORDER = {"float16": 0, "dynamic": 1, "int8": 2}
_FAMILY_RE = re.compile(r"(?:\d+|V\d+|B\d+)+$")




def cluster_k(variant: str) -> int | None:
    """The cluster count K of a ``cluster-k<K>`` variant name (the registry's grammar), else None;
    None for a chain ending in clustering too: the K sweep is of clustering alone, and a chain's
    earlier steps would move its point."""
    try:
        parsed = parse_variant(str(variant))
    except ValueError:
        return None
    return parsed.options["k"] if parsed.kind == "cluster" and not parsed.steps else None


def model_family(model: str) -> str:
    """Architecture family: trailing depth/version tags stripped (ResNet50 -> ResNet, VGG16 -> VGG,
    MobileNetV2 -> MobileNet, EfficientNetB0 -> EfficientNet); names without one stay as they are."""
    family = _FAMILY_RE.sub("", str(model))
    return family or str(model)


def unfreeze_str(value: Any) -> str:
    """Unfreeze levels as strings: 1, 1.0 and "1" are all "1"; "all" stays "all"."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def depth_key(unfreeze: Any) -> tuple[int, float, str]:
    """Sort key of an unfreeze level: numbers ascending, then other words, ``all`` last."""
    text = unfreeze_str(unfreeze)
    try:
        return (0, float(text), text)
    except ValueError:
        return (2, math.inf, text) if text == "all" else (1, math.inf, text)


def split_percent(split: Any) -> tuple[float, float]:
    """(train %, test %) of a split named ``<train>-<test>`` (e.g. 70-30), else (NaN, NaN)."""
    try:
        percentages = parse_split(str(split))
    except DataError:
        percentages = None
    return (math.nan, math.nan) if percentages is None else tuple(map(float, percentages))


def split_key(split: Any) -> tuple[int, float, str]:
    """Official (or other named) splits first, then by ascending train share."""
    train, _ = split_percent(split)
    return (1, train, str(split)) if not math.isnan(train) else (0, 0.0, str(split))


def variant_key(variant: Any) -> tuple:
    """Variants in the order of :data:`opscore.kinds.registry.KINDS` (original first), then by
    their options (cluster K ascending, tflite float16/dynamic/int8, ...); unknown names last."""
    name = str(variant)
    try:
        parsed = parse_variant(name)
    except ValueError:
        return (len(KIND_ORDER), (), name)
    options = tuple(
        (k, TFLITE_ORDER.get(v, 0) if k == "mode" else (v if isinstance(v, (int, float)) else 0), str(v))
        for k, v in sorted(parsed.options.items())
    )
    return (KIND_ORDER[parsed.kind], options, name)


def variant_kind(variant: Any) -> str | None:
    try:
        return parse_variant(str(variant)).kind
    except ValueError:
        return None



IDS = [column for column in IDENTITY if column != "seed"]  # seeds are averaged


def measurement_rows(table: pd.DataFrame | None, numeric: list[str]) -> pd.DataFrame:
    """Real variant rows with id columns as strings and ``numeric`` columns as floats (missing
    columns filled: ids with "", numbers with NaN)."""
    if table is None or len(table) == 0:
        return pd.DataFrame(columns=IDS + numeric)
    df = plots.variant_rows(table).copy()
    for col in ("model", "variant"):
        if col not in df.columns:
            raise ValueError(f"sensitivity: measurement table lacks column {col!r}; have {list(df.columns)}")
    for col in IDS:
        if col not in df.columns:
            df[col] = ""
    df["unfreeze"] = df["unfreeze"].map(unfreeze_str)
    for col in ("dataset", "model", "variant", "split"):
        df[col] = df[col].astype(str)
    for col in numeric:
        df[col] = pd.to_numeric(df[col], errors="coerce") if col in df.columns else math.nan
        df[col] = df[col].astype(float)
    return df


def mean_by(df: pd.DataFrame, keys: list[str], values: list[str], first: list[str] = ()) -> pd.DataFrame:
    """Mean of ``values`` per ``keys`` group (NaN-skipping), ``runs`` = rows per group; ``first``
    columns keep their first value."""
    agg: dict[str, tuple[str, Any]] = {v: (v, "mean") for v in values}
    for col in first:
        agg[col] = (col, "first")
    agg["runs"] = (keys[0], "size")
    out = df.groupby(keys, as_index=False, dropna=False, sort=False).agg(**agg)
    out["runs"] = out["runs"].astype(int)
    return out


def sorted_rows(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Sort by ``keys`` in study order: variants, unfreeze depths and splits in their own order."""
    special = {"variant": variant_key, "unfreeze": depth_key, "split": split_key}

    def key(series: pd.Series) -> pd.Series:
        fn = special.get(series.name)
        if fn is None:
            return series
        ranks = {v: i for i, v in enumerate(sorted(series.unique(), key=fn))}
        return series.map(ranks)

    return df.sort_values(keys, key=key, kind="stable").reset_index(drop=True)


def finish(df: pd.DataFrame, columns: list[str], sort: list[str]) -> pd.DataFrame:
    if len(df) == 0:
        return empty_table(columns, df)
    return sorted_rows(df, sort)[columns]


def empty_table(columns: list[str], like: pd.DataFrame | None = None) -> pd.DataFrame:
    out = pd.DataFrame({c: pd.Series(dtype="object") for c in columns})
    if like is not None:
        for c in columns:
            if c in like.columns:
                out[c] = out[c].astype(like[c].dtype)
    return out


def no_data_chart(title: str | None = None, message: str = NO_DATA_TEXT) -> alt.Chart:
    """A themed placeholder of the usual plot size that reads ``message`` (for fixed outputs)."""
    chart = (
        alt.Chart(pd.DataFrame({"message": [message]}), title=alt.TitleParams(title) if title else alt.Undefined)
        .mark_text(fontSize=plots.FONT_SIZES["title"], color="#777777")
        .encode(text="message:N")
        .properties(**plots.CHART_SIZE)
    )
    return plots.apply_theme(chart)


def panels(layered: alt.LayerChart, data: pd.DataFrame, title: str, subtitle: str | None = None) -> alt.TopLevelMixin:
    """One plot, or one panel per dataset/split when the data has several; themed."""
    data_panel = data["split"].astype(str)
    if data["dataset"].nunique() > 1:
        data_panel = data["dataset"].astype(str) + " · " + data_panel
    panels = sorted(data_panel.unique(), key=lambda p: split_key(p.rsplit(" · ", 1)[-1]) + (p,))
    head = alt.TitleParams(title, subtitle=subtitle) if subtitle else alt.TitleParams(title)
    if len(panels) > 1:
        layered.data = data.assign(panel=data_panel)
        chart = layered.properties(**plots.PANEL_SIZE).facet(
            facet=alt.Facet("panel:N", title=None, sort=panels), columns=min(4, len(panels)), title=head)
        chart = chart.resolve_scale(y="shared")
    else:
        chart = layered.properties(**plots.CHART_SIZE, title=head)
    return plots.apply_theme(chart)


def with_dataset(title: str, df: pd.DataFrame) -> str:
    """``title — dataset`` when the data is of exactly one (non-empty) dataset."""
    if "dataset" in df.columns and len(df):
        names = [d for d in df["dataset"].astype(str).unique() if d]
        if len(names) == 1:
            return f"{title} — {names[0]}"
    return title


def panel_chart(chart: alt.Chart, data: pd.DataFrame, title: str, subtitle: str | None = None, *,
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


def several(df: pd.DataFrame, column: str) -> bool:
    return column in df.columns and df[column].nunique() > 1


def run_panel(df: pd.DataFrame, columns: tuple[str, ...] = ("dataset", "split")) -> pd.Series:
    """Panel label from those of ``columns`` that take several values ("" when none does)."""
    parts = [c for c in columns if several(df, c)]
    if not parts:
        return pd.Series("", index=df.index)
    return df[parts].astype(str).agg(" · ".join, axis=1)


def variant_order(values) -> list[str]:
    return sorted({str(v) for v in values}, key=variant_key)


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
    "chain_steps": "What each step of a chain made, from the trained original",
    "pruning_sensitivity": "Accuracy drop per pruning step, in the order tried (Lee et al.)",
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
    "chain_steps": "Each chain drawn as its steps: deflated size after each step",
    "pruning_sensitivity": "Accuracy drop per pruning step, in the order tried",
}
