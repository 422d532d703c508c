"""Altair figures for opscore: bubble charts, training curves, accuracy bars, and saving.

After Arı & Çamlı (2022): each trained variant is a bubble with x = inference time (log
scale), y = accuracy and bubble *area* proportional to the model size; colour tells the
model (architecture), shape the variant (e.g. feature extraction vs fine-tuning).

Every builder returns a complete, themed top-level chart (``apply_theme`` is applied last),
ready for ``save_chart``. Later figures (e.g. sensitivity plots) should call
``apply_theme`` on their own top-level chart so all figures share one look. Altair does not
allow configured charts inside ``alt.concat``/``alt.layer``; to compose builder output,
reset its config first (``chart.config = alt.Undefined``) and theme the composition.

Input contracts (pandas DataFrames):
- measurement / ranking table: one row per trained variant (``dataset, model, variant,
  unfreeze, split, seed, accuracy, ..., inference_time_s, size_mb, opscore, pareto, row``).
  Fictitious reference rows (``row`` in {"MIN", "MAX"}) are dropped: only ``row ==
  "variant"`` is kept when the column exists.
- training history: one row per epoch (``dataset, model, variant, unfreeze, split, seed,
  epoch, accuracy, val_accuracy, loss, val_loss, epoch_seconds``).
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import Any

import altair as alt
import pandas as pd

from opscore.decide.score import variant_rows
from opscore.job import IDENTITY, write_atomic
from opscore.measure.quality import METRICS

#: how each quality metric is named on an axis
METRIC_LABELS = {"accuracy": "accuracy", "balanced_accuracy": "balanced accuracy", "f1_macro": "macro F1",
                 "recall_macro": "macro recall", "precision_macro": "macro precision", "auc": "AUC"}

__all__ = [
    "FONT_SIZES",
    "theme_config",
    "apply_theme",
    "bubble_chart",
    "training_curves",
    "accuracy_bars",
    "save_chart",
    "SAVE_FORMATS",
]

# --------------------------------------------------------------------------------------
# Theme
# --------------------------------------------------------------------------------------

FONT_SIZES = {"title": 16, "subtitle": 12, "axis_title": 13, "axis_label": 11, "legend": 11, "header": 12}

#: Categorical palette for models (colour-blind friendly Tableau 10).
MODEL_SCHEME = "tableau10"

#: Size of one single-view plot, in pixels.
CHART_SIZE = {"width": 520, "height": 360}
#: Size of one facet panel, in pixels.
PANEL_SIZE = {"width": 240, "height": 170}


def theme_config() -> dict[str, Any]:
    """The shared Vega-Lite ``config`` of all opscore figures (fonts, sizes, background)."""
    fs = FONT_SIZES
    return {
        "background": "white",
        "padding": 10,
        "font": "sans-serif",
        "title": {"fontSize": fs["title"], "subtitleFontSize": fs["subtitle"], "anchor": "start", "offset": 10},
        "axis": {
            "titleFontSize": fs["axis_title"],
            "labelFontSize": fs["axis_label"],
            "titleFontWeight": "normal",
            "gridColor": "#e6e6e6",
        },
        "legend": {
            "titleFontSize": fs["legend"] + 1,
            "labelFontSize": fs["legend"],
            "titleFontWeight": "normal",
            "symbolStrokeWidth": 1.5,
        },
        "header": {"titleFontSize": fs["header"] + 1, "labelFontSize": fs["header"]},
        "view": {"stroke": "#d0d0d0"},
        "range": {"category": {"scheme": MODEL_SCHEME}},
    }


def apply_theme(chart: alt.TopLevelMixin) -> alt.TopLevelMixin:
    """Return ``chart`` (a top-level chart) configured with :func:`theme_config`."""
    chart = chart.copy(deep=False)
    chart.config = alt.Config(**theme_config())
    return chart


def _title(title: str | None) -> alt.TitleParams | Any:
    return alt.TitleParams(title) if title else alt.Undefined


# --------------------------------------------------------------------------------------
# Data helpers
# --------------------------------------------------------------------------------------


def _require(df: pd.DataFrame, columns: list[str], what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{what}: missing column(s) {missing}; have {list(df.columns)}")


def runtime_field(df: pd.DataFrame, otherwise: str) -> str:
    """What a figure tells deployment targets apart by: the ``runtime`` column (TensorFlow, LiteRT,
    ONNX Runtime: which to ship on is part of the decision), or ``otherwise`` for a table without one."""
    return "runtime" if "runtime" in df.columns and df["runtime"].notna().any() else otherwise


def _as_str(df: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Categorical columns as strings (so seeds, unfreeze levels etc. are nominal)."""
    df = df.copy()
    for c in columns:
        if c in df.columns:
            df[c] = df[c].astype(str)
    return df


# --------------------------------------------------------------------------------------
# Bubble chart
# --------------------------------------------------------------------------------------

_BUBBLE_REQUIRED = ["model", "variant", "inference_time_s", "size_mb"]
_BUBBLE_TOOLTIP = [
    ("model", "N", "model", None),
    ("variant", "N", "variant", None),
    ("unfreeze", "N", "unfreeze", None),
    ("split", "N", "split", None),
    ("seed", "N", "seed", None),
    ("accuracy", "Q", "accuracy", ".4f"),
    *((column, "Q", METRIC_LABELS[name], ".4f") for name, column in METRICS.items() if name != "accuracy"),
    ("inference_time_s", "Q", "inference time (s)", ".4g"),
    ("metric_ci_low", "Q", "quality 95 % CI low", ".4f"),
    ("metric_ci_high", "Q", "quality 95 % CI high", ".4f"),
    ("inference_cv", "Q", "round-to-round CV", ".1%"),
    ("latency_p50_ms", "Q", "batch-1 latency p50 (ms)", ".3g"),
    ("latency_p90_ms", "Q", "batch-1 latency p90 (ms)", ".3g"),
    ("load_time_s", "Q", "load time (s)", ".3g"),
    ("size_mb", "Q", "size (MB)", ".1f"),
    ("flops", "Q", "FLOPs per inference", ".3s"),
    ("throughput_samples_s", "Q", "throughput (samples/s)", ".3s"),
    ("deploy_peak_rss_mb", "Q", "memory deployed (MB)", ".0f"),
    ("runtime", "N", "runtime", None),
    ("contended", "N", "timed under contention", None),
    ("precision", "N", "precision", None),
    ("opscore", "Q", "OpScore", ".4f"),
]
#: Largest bubble area in px² (the largest model); area is proportional to size_mb from 0.
MAX_BUBBLE_AREA = 1800


def _accuracy_domain(accuracy: pd.Series) -> list[float]:
    """The drawn accuracies with a little room, never past 0..100 % (an axis to 110 % is noise)."""
    values = pd.to_numeric(accuracy, errors="coerce").dropna()
    if values.empty:
        return [0.0, 1.0]
    low, high = float(values.min()), float(values.max())
    margin = max(0.05 * (high - low), 0.01)
    return [max(0.0, low - margin), min(1.0, high + margin)]


def quality_metric(table: pd.DataFrame, metric: str | None = None) -> tuple[str, str]:
    """(column, axis label) of the quality a figure draws: ``metric``, else the ranking's own
    ``metric`` column, else accuracy."""
    if metric is None and "metric" in table.columns and table["metric"].notna().any():
        metric = str(table["metric"].dropna().iloc[0])
    metric = metric or "accuracy"
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; known: {', '.join(METRICS)}")
    return METRICS[metric], METRIC_LABELS[metric]


def bubble_chart(table: pd.DataFrame, title: str | None = None, metric: str | None = None,
                 constraints: dict | None = None) -> alt.LayerChart:
    """Quality (accuracy, or the ranking's ``metric``) vs inference time (log x), bubble area ∝
    size_mb, colour = model, shape = runtime (each bubble labelled with its variant; a table without
    runtimes: shape = variant); the Pareto front drawn as a dashed line. In HTML it
    is interactive: tooltips with every figure, zoom and pan (scroll, drag), a variant filter.
    With ``constraints`` (config ``select:``, see opscore.decide.selection) the variants that break one
    are drawn faint and named so in the tooltip.

    Pareto-optimal rows (``pareto`` true, if that column exists) get a black outline and a
    legend entry. MIN/MAX reference rows are dropped. Rows whose inference time is not
    positive cannot be drawn on the log axis: they are dropped with a warning.
    """
    df = variant_rows(table)
    quality, label = quality_metric(df, metric)
    _require(df, _BUBBLE_REQUIRED + [quality], "bubble_chart")
    if constraints:
        from opscore.decide.selection import breaches

        df = df.assign(feasible=["breaks " + ", ".join(b["constraint"] for b in broken) if broken
                                 else "meets every constraint"
                                 for broken in (breaches(row, constraints, quality) for _, row in df.iterrows())])
    keep = [c for c, *_ in _BUBBLE_TOOLTIP if c in df.columns] + (["feasible"] if constraints else [])
    has_pareto = "pareto" in df.columns
    df = df[keep + (["pareto"] if has_pareto else [])]
    df = _as_str(df, ["model", "variant", "unfreeze", "split", "seed"])
    shape = runtime_field(df, "variant")

    bad = ~(pd.to_numeric(df["inference_time_s"], errors="coerce") > 0)
    if bad.any():
        warnings.warn(
            f"bubble_chart: dropping {int(bad.sum())} row(s) with non-positive or missing "
            "inference_time_s (not drawable on a log axis)",
            stacklevel=2,
        )
        df = df[~bad]

    encoding: dict[str, Any] = {
        "x": alt.X(
            "inference_time_s:Q",
            title="inference time (s, log scale)",
            scale=alt.Scale(type="log", nice=False, padding=40),
            axis=alt.Axis(format="~g"),
        ),
        "y": alt.Y(f"{quality}:Q", title=label, scale=alt.Scale(domain=_accuracy_domain(df[quality]), nice=False),
                   axis=alt.Axis(format=".0%")),
        "size": alt.Size(
            "size_mb:Q",
            title="size (MB)",
            scale=alt.Scale(zero=True, range=[0, MAX_BUBBLE_AREA]),
            legend=alt.Legend(symbolFillColor="#bbbbbb", symbolStrokeColor="#777777", orient="right"),
        ),
        "color": alt.Color("model:N", title="model", legend=alt.Legend(symbolType="circle")),
        "shape": alt.Shape(f"{shape}:N", title=shape),
        "tooltip": [
            alt.Tooltip(f"{c}:{t}", title=name, **({"format": fmt} if fmt else {}))
            for c, t, name, fmt in _BUBBLE_TOOLTIP
            if c in df.columns
        ] + ([alt.Tooltip("feasible:N", title="select:")] if constraints else []),
    }
    if constraints:
        encoding["opacity"] = alt.condition("datum.feasible == 'meets every constraint'", alt.value(0.85),
                                            alt.value(0.2))
    if has_pareto:
        df = df.copy()
        df["pareto"] = df["pareto"].fillna(False).astype(bool)
        df["front"] = df["pareto"].map({True: "Pareto-optimal", False: "dominated"})
        encoding["stroke"] = alt.Stroke(
            "front:N",
            title="",
            scale=alt.Scale(domain=["Pareto-optimal", "dominated"], range=["black", "#ffffff"]),
            legend=alt.Legend(symbolType="circle", symbolFillColor="#dddddd", symbolStrokeWidth=2.5),
        )
        encoding["strokeWidth"] = alt.condition("datum.pareto", alt.value(2.5), alt.value(0.6))
        # Draw Pareto bubbles last (on top).
        df = df.sort_values("pareto", kind="stable")
        encoding["order"] = alt.Order("pareto:O")

    zoom = alt.selection_interval(bind="scales")
    variants = sorted(df["variant"].unique())
    pick = alt.selection_point(fields=["variant"], name="variant_filter",
                               bind=alt.binding_select(options=[None, *variants], labels=["all", *variants],
                                                       name="variant "))
    points = (
        alt.Chart(df.reset_index(drop=True))
        .mark_point(filled=True, opacity=0.75)
        .encode(**encoding)
        .add_params(zoom, pick)
        .transform_filter(pick)
    )
    layers = [points]
    if shape == "runtime":  # the variant, which the shape no longer tells, written over its bubble
        layers.append(alt.Chart(df.reset_index(drop=True)).mark_text(align="left", dx=9, fontSize=9, color="#333333")
                      .encode(x=encoding["x"], y=encoding["y"], text="variant:N").transform_filter(pick))
    if has_pareto and df["pareto"].sum() > 1:
        front = df[df["pareto"]].sort_values("inference_time_s")
        layers.insert(0, alt.Chart(front.reset_index(drop=True)).mark_line(color="black", strokeDash=[4, 3],
                                                                             opacity=0.6)
                      .encode(x=encoding["x"], y=encoding["y"], order="inference_time_s:Q"))
    chart = alt.layer(*layers, title=_title(title)).properties(**CHART_SIZE)
    return apply_theme(chart)


# --------------------------------------------------------------------------------------
# Training curves
# --------------------------------------------------------------------------------------

_HISTORY_REQUIRED = ["model", "variant", "unfreeze", "epoch", "accuracy", "val_accuracy"]
CURVES = ("train", "validation")


def _history_long(history: pd.DataFrame) -> pd.DataFrame:
    """Per-epoch accuracy in long format with ``curve`` in {train, validation}."""
    ids = [c for c in [*IDENTITY, "epoch"] if c in history.columns]
    long = history[ids + ["accuracy", "val_accuracy"]].melt(
        id_vars=ids, value_vars=["accuracy", "val_accuracy"], var_name="curve", value_name="acc"
    )
    long["curve"] = long["curve"].map({"accuracy": "train", "val_accuracy": "validation"})
    long = long.rename(columns={"acc": "accuracy"})
    long = _as_str(long, list(IDENTITY))
    # One line per trained run and curve.
    run_cols = [c for c in ["dataset", "split", "seed"] if c in long.columns]
    long["run"] = long[run_cols].agg("/".join, axis=1) if run_cols else ""
    long["panel"] = long["variant"] + " · unfreeze " + long["unfreeze"]
    return long.dropna(subset=["accuracy"]).reset_index(drop=True)


def training_curves(history: pd.DataFrame, title: str | None = None) -> alt.LayerChart | alt.FacetChart:
    """Accuracy per epoch, train (solid) vs validation (dashed), colour = model.

    One facet per variant/unfreeze combination when there is more than one (up to three
    panels a row); several splits/seeds of one model draw separate lines.
    """
    _require(history, _HISTORY_REQUIRED, "training_curves")
    long = _history_long(history)
    max_epoch = int(long["epoch"].max()) if len(long) else 1

    tooltip = [
        alt.Tooltip(c, title=c)
        for c in ["model:N", "variant:N", "unfreeze:N", "split:N", "seed:N", "curve:N", "epoch:Q"]
        if c.split(":")[0] in long.columns
    ] + [alt.Tooltip("accuracy:Q", format=".4f")]
    base = alt.Chart().encode(
        x=alt.X(
            "epoch:Q",
            title="epoch",
            scale=alt.Scale(domain=[1, max(max_epoch, 2)], nice=False),
            axis=alt.Axis(format="d", tickMinStep=1),
        ),
        y=alt.Y("accuracy:Q", title="accuracy", scale=alt.Scale(zero=False), axis=alt.Axis(format=".0%")),
        color=alt.Color("model:N", title="model"),
        detail="run:N",
        tooltip=tooltip,
    )
    # Lines and epoch dots are separate layers: with a point overlay Vega-Lite draws the
    # strokeDash legend as filled (invisible) symbols.
    lines = base.mark_line(strokeWidth=1.8, clip=True).encode(
        strokeDash=alt.StrokeDash(
            "curve:N",
            title="curve",
            scale=alt.Scale(domain=list(CURVES), range=[[1, 0], [5, 3]]),
            legend=alt.Legend(symbolType="stroke", symbolStrokeWidth=2, symbolSize=400, symbolStrokeColor="#555555"),
        )
    )
    dots = base.mark_point(filled=True, size=16, opacity=1, clip=True)
    layered = alt.layer(lines, dots, data=long)
    panels = sorted(long["panel"].unique())
    if len(panels) > 1:
        chart = layered.properties(**PANEL_SIZE).facet(
            facet=alt.Facet("panel:N", title=None, sort=panels), columns=min(3, len(panels)), title=_title(title)
        )
        chart = chart.resolve_scale(y="shared")
    else:
        chart = layered.properties(**CHART_SIZE)
        if title:
            chart = chart.properties(title=_title(title))
    return apply_theme(chart)


# --------------------------------------------------------------------------------------
# Accuracy bars (paper Fig. 4)
# --------------------------------------------------------------------------------------


def accuracy_bars(table: pd.DataFrame, title: str | None = None, metric: str | None = None) -> alt.LayerChart:
    """Horizontal bars of accuracy (or the ranking's ``metric``) per model + variant, best on
    top (mean over splits/seeds).

    The label shows ``model · variant`` and, when the table has more than one unfreeze
    level, the unfreeze setting too; the colour is the runtime (the model, for a table without
    runtimes). Values are printed at the bar ends.
    """
    df = variant_rows(table)
    quality, metric_label = quality_metric(df, metric)
    _require(df, ["model", "variant", quality], "accuracy_bars")
    df = _as_str(df, ["model", "variant", "unfreeze"])
    colour = runtime_field(df, "model")
    keys = ["model", "variant"] + (["unfreeze"] if "unfreeze" in df.columns else []) + (
        ["runtime"] if colour == "runtime" else [])
    agg = df.groupby(keys, as_index=False, dropna=False).agg(accuracy=(quality, "mean"), n=(quality, "size"))
    label = agg["model"] + " · " + agg["variant"]
    if "unfreeze" in agg.columns and agg["unfreeze"].nunique() > 1:
        label = label + " (unfreeze " + agg["unfreeze"] + ")"
    agg["label"] = label
    agg = agg.sort_values("accuracy", ascending=False, kind="stable").reset_index(drop=True)
    order = agg["label"].tolist()

    y = alt.Y("label:N", title=None, sort=order, axis=alt.Axis(labelLimit=320))
    base = alt.Chart(agg, title=_title(title)).encode(y=y)
    bars = base.mark_bar(height={"band": 0.75}).encode(
        x=alt.X("accuracy:Q", title=metric_label, scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format=".0%")),
        color=alt.Color(f"{colour}:N", title=colour),
        tooltip=[
            alt.Tooltip(f"{k}:N") for k in keys
        ] + [alt.Tooltip("accuracy:Q", format=".4f", title=f"mean {metric_label}"), alt.Tooltip("n:Q", title="runs")],
    )
    text = base.mark_text(align="left", dx=4, fontSize=FONT_SIZES["axis_label"]).encode(
        x="accuracy:Q", text=alt.Text("accuracy:Q", format=".1%")
    )
    height = max(60, 22 * len(order))
    chart = alt.layer(bars, text).properties(width=420, height=height)
    return apply_theme(chart)


# --------------------------------------------------------------------------------------
# Saving
# --------------------------------------------------------------------------------------

#: Suffix -> (altair format, binary?)
SAVE_FORMATS = {".svg": ("svg", False), ".png": ("png", True), ".html": ("html", False)}
PNG_SCALE = 2


def _render(chart: alt.TopLevelMixin, fmt: str) -> bytes:
    if fmt == "png":
        buf = io.BytesIO()
        chart.save(buf, format="png", scale_factor=PNG_SCALE)
        return buf.getvalue()
    if fmt == "html":
        return _offline_html(chart).encode("utf-8")
    sbuf = io.StringIO()
    chart.save(sbuf, format=fmt)
    return sbuf.getvalue().encode("utf-8")


class _InlineTemplate:
    """altair's inline (offline) HTML template with the JavaScript bundle given, not rebuilt."""

    def __init__(self, bundle: str):
        self.bundle = bundle

    def render(self, **fields) -> str:
        from altair.utils.html import INLINE_HTML_TEMPLATE

        return INLINE_HTML_TEMPLATE.render(**fields, vegaembed_script=self.bundle)


def _offline_html(chart: alt.TopLevelMixin) -> str:
    """What ``chart.save(format="html", inline=True)`` writes (vega, vega-lite and vega-embed
    inlined: works offline), with vl-convert's bundle read from a cache: building it costs ~1.4 CPU-s
    in every process that draws a figure, and it depends only on the two versions in its name."""
    from altair.utils.html import spec_to_html

    spec = chart.to_dict(context={"pre_transform": False})
    return spec_to_html(spec, mode="vega-lite", vega_version=alt.VEGA_VERSION, vegalite_version=alt.VEGALITE_VERSION,
                        vegaembed_version=alt.VEGAEMBED_VERSION, template=_InlineTemplate(_javascript_bundle()))


def _javascript_bundle() -> str:
    import vl_convert
    from altair.utils._importers import vl_version_for_vl_convert

    version = vl_version_for_vl_convert()
    cache = (Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "opscore"
             / f"vega-embed-vl{version}-vlconvert{vl_convert.__version__}.js")
    try:
        return cache.read_text(encoding="utf-8")
    except OSError:
        bundle = vl_convert.javascript_bundle(vl_version=version)
    try:
        write_atomic(cache, bundle.encode("utf-8"), record=False)  # a cache, not an artifact
    except OSError:
        pass  # an unwritable cache costs time, not the figure
    return bundle


def save_chart(chart: alt.TopLevelMixin, path: str | os.PathLike) -> Path:
    """Write ``chart`` to ``path`` as .svg, .png (scale 2) or self-contained offline .html.

    The format follows the suffix (case-insensitive); any other suffix raises ValueError.
    Parent directories are created; the file is written to a temporary file in the same
    directory and renamed into place (never a half-written figure).
    Returns the path.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SAVE_FORMATS:
        raise ValueError(f"save_chart: unsupported suffix {path.suffix!r} for {path}; use one of {sorted(SAVE_FORMATS)}")
    fmt, _ = SAVE_FORMATS[suffix]
    data = _render(chart, fmt)
    write_atomic(path, data)
    return path
