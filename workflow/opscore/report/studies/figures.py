"""The studies' figures (altair, themed with opscore.report.plots): the paper's figures, and its tables
drawn as charts; a "no data" chart when a run has nothing for the study."""
from __future__ import annotations

import altair as alt
import pandas as pd

from opscore.report import plots
from opscore.report.studies.common import (
    FIGURE_TITLES,
    depth_key,
    measurement_rows,
    no_data_chart,
    panel_chart,
    panels,
    run_panel,
    several,
    split_key,
    variant_order,
    with_dataset,
)
from opscore.report.studies.tables import (
    COMPRESSION_RATIOS,
    classification_table,
    cluster_points,
    compression_table,
    quantized_size_table,
    split_time_table,
    unfreeze_sweep_table,
    variant_time_table,
)


def accuracy_figure(table: pd.DataFrame, title: str | None = None) -> alt.TopLevelMixin:
    """Paper Fig. 4: horizontal accuracy bars per model and variant, best on top, one panel per
    dataset (drawn by :func:`opscore.report.plots.accuracy_bars`)."""
    df = measurement_rows(table, ["accuracy"])
    df = df[df["accuracy"].notna()]
    if len(df) == 0:
        return no_data_chart(title or FIGURE_TITLES["fig4_accuracy"])
    datasets = sorted(df["dataset"].unique())
    if len(datasets) == 1:
        return plots.accuracy_bars(df, title=title or with_dataset(FIGURE_TITLES["fig4_accuracy"], df))
    panels = []
    for dataset in datasets:
        chart = plots.accuracy_bars(df[df["dataset"] == dataset], title=dataset)
        chart.config = alt.Undefined
        panels.append(chart)
    return plots.apply_theme(alt.vconcat(*panels, title=title or FIGURE_TITLES["fig4_accuracy"]))


def unfreeze_sweep_figure(table: pd.DataFrame, title: str | None = None) -> alt.TopLevelMixin:
    """Paper Fig. 5: accuracy (y) against the number of unfrozen top layers (x, ordinal, ``all``
    after the largest number), one line per model (colour); the architecture family sets dash
    and marker so ResNet and VGG families stand apart. One panel per split when there are
    several splits (or datasets)."""
    data = unfreeze_sweep_table(table)
    name = title or with_dataset(FIGURE_TITLES["fig5_unfreeze_sweep"], data)
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
    return panels(alt.layer(lines, points, data=data), data, name)


def cluster_count_figure(table: pd.DataFrame, title: str | None = None) -> alt.TopLevelMixin:
    """Paper Fig. 8: accuracy (y) against the cluster count K (x, log2 axis), one line per model
    (and unfreeze depth when there are several, told apart by marker); each model's original
    accuracy is a dashed horizontal reference line in the model's colour. One panel per split
    when there are several splits (or datasets)."""
    points = cluster_points(table)
    name = title or with_dataset(FIGURE_TITLES["fig8_table7_cluster_count"], points)
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
    return panels(alt.layer(reference, lines, marks, data=data), data, name,
                   subtitle="dashed: the original (no clustering)")


def compression_figure(table: pd.DataFrame, title: str | None = None) -> alt.TopLevelMixin:
    """The compression table as grouped bars: × smaller per variant and measure (1 = the
    original's size), one panel per model (and dataset)."""
    rates = compression_table(table)
    name = title or with_dataset(FIGURE_TITLES["compression"], rates)
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
    data = data.assign(panel=(data["dataset"] + " · " + data["model"]) if several(data, "dataset") else data["model"])
    chart = alt.Chart().mark_bar().encode(
        x=alt.X("variant:N", title="variant", sort=variant_order(data["variant"]),
                axis=alt.Axis(labelAngle=-30, labelLimit=180)),
        xOffset=alt.XOffset("measure:N", sort=measures),
        y=alt.Y(f"{value}:Q", title=value_title),
        color=alt.Color("measure:N", title=legend_title, sort=measures, scale=alt.Scale(domain=measures)),
        tooltip=[alt.Tooltip(f"{c}:N") for c in ("model", "variant", "measure")]
        + [alt.Tooltip(f"{value}:Q", title=value_title, format=".2f")],
    )
    return panel_chart(chart, data, name, column="panel", independent=independent)


SIZE_MEASURES = {"raw": "size_mb", "compressed": "size_compressed_mb"}


def quantized_size_figure(table: pd.DataFrame, title: str | None = None) -> alt.TopLevelMixin:
    """Table 1 as a figure: grouped bars of size in MB (raw and deflate-compressed side by side)
    per variant (the original first, then the quantized variants), one panel per model (and
    dataset)."""
    t1 = quantized_size_table(table)
    name = title or with_dataset(FIGURE_TITLES["table1_quantized_size"], t1)
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
    name = title or with_dataset(FIGURE_TITLES["table2_classification"], t2)
    if len(t2) == 0:
        return no_data_chart(name)
    t2 = t2.assign(label=t2["model"] + " · " + t2["variant"], panel=run_panel(t2),
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
    panels = sorted(data["panel"].unique(), key=lambda p: split_key(p.rsplit(" · ", 1)[-1]) + (p,))
    depths = ["unfreeze " + d for d in sorted(t2["unfreeze"].unique(), key=depth_key)]
    return panel_chart(chart, data, name, column="panel", column_sort=panels, row="depth", row_sort=depths)


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
    name = title or with_dataset(FIGURE_TITLES["table3_split_time"], t3)
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
    if several(data, "unfreeze"):
        points = points.encode(shape=alt.Shape("unfreeze:N", title="unfreeze",
                                               sort=sorted(data["unfreeze"].unique(), key=depth_key)))
    return panel_chart(alt.layer(base.mark_line(strokeWidth=2), points), data, name,
                        subtitle="original variant; named splits (e.g. official) left out",
                        column="measure", column_sort=measures, row="dataset", independent=("y",))


def variant_time_figure(table: pd.DataFrame, title: str | None = None) -> alt.TopLevelMixin:
    """Table 4 as a figure: training and test (inference) time per variant (one panel each, own
    y scale), bars grouped by model (mean over unfreeze depths and splits when there are
    several). One row of panels per dataset when there are several."""
    t4 = variant_time_table(table)
    name = title or with_dataset(FIGURE_TITLES["table4_variant_time"], t4)
    data = _time_long(t4, ["dataset", "model", "variant", "unfreeze", "split", "runs"]) if len(t4) else t4
    if len(data) == 0:
        return no_data_chart(name)
    averaged = several(data, "unfreeze") or several(data, "split")
    data = data.groupby(["dataset", "model", "variant", "measure"], as_index=False, sort=False).agg(
        seconds=("seconds", "mean"), runs=("runs", "sum"))
    measures = list(TIME_MEASURES)
    chart = alt.Chart().mark_bar().encode(
        x=alt.X("variant:N", title="variant", sort=variant_order(data["variant"]),
                axis=alt.Axis(labelAngle=-30, labelLimit=180)),
        xOffset=alt.XOffset("model:N", sort=sorted(data["model"].unique())),
        y=alt.Y("seconds:Q", title="time (s)"),
        color=alt.Color("model:N", title="model"),
        tooltip=[alt.Tooltip(f"{c}:N") for c in ("model", "variant", "measure")]
        + [alt.Tooltip("seconds:Q", format=".4g"), alt.Tooltip("runs:Q")],
    )
    subtitle = "mean over unfreeze depths and splits" if averaged else None
    return panel_chart(chart, data, name, subtitle, column="measure", column_sort=measures, row="dataset",
                        independent=("y",))
