"""Pareto plots: every pair of the three axes a variant is judged on, each with its own front.

The bubble chart shows quality against time with size as area; a reader choosing under a size
or a latency budget wants each trade-off on its own axes. So three panels, quality vs time,
quality vs size and time vs size, each marking the variants that no other beats on that pair
(a 2-D front; the ranking's ``pareto`` column is the 3-D one) and joining them with a line.
Colour is the model, shape the runtime (the variant, for a table without runtimes).
"""
from __future__ import annotations

import altair as alt
import pandas as pd

from opscore.decide.score import pareto_front, variant_rows
from opscore.report.plots import _as_str, _require, apply_theme, quality_metric, runtime_field

#: (column, axis title, scale type, better: "max"/"min") of each axis
_AXES = {"time": ("inference_time_s", "inference time (s)", "log", "min"),
         "size": ("size_mb", "size (MB)", "log", "min")}


def _panel(df: pd.DataFrame, x: tuple, y: tuple) -> alt.LayerChart:
    maximise = [c for c, _, _, better in (x, y) if better == "max"]
    minimise = [c for c, _, _, better in (x, y) if better == "min"]
    data = df.assign(front=pareto_front(df, maximise=maximise, minimise=minimise).map(
        {True: "on this front", False: "dominated"}))
    shape = runtime_field(df, "variant")

    def axis(channel, spec):
        column, title, scale, _ = spec
        return channel(f"{column}:Q", title=title, scale=alt.Scale(type=scale, zero=False, nice=False, padding=20))

    points = alt.Chart(data).mark_point(filled=True, size=90).encode(
        x=axis(alt.X, x), y=axis(alt.Y, y), color=alt.Color("model:N", title="model"),
        shape=alt.Shape(f"{shape}:N", title=shape),
        stroke=alt.Stroke("front:N", title="", scale=alt.Scale(domain=["on this front", "dominated"],
                                                               range=["black", "#ffffff"])),
        tooltip=["model:N", "variant:N", "unfreeze:N", *(["runtime:N"] if "runtime" in data else []), f"{x[0]}:Q",
                 f"{y[0]}:Q"])
    front = data[data["front"] == "on this front"].sort_values(x[0])
    line = alt.Chart(front).mark_line(color="black", strokeDash=[4, 3], opacity=0.6).encode(
        x=axis(alt.X, x), y=axis(alt.Y, y), order=f"{x[0]}:Q")
    return alt.layer(line, points).properties(width=300, height=260)


def pareto_plots(table: pd.DataFrame, title: str | None = None, metric: str | None = None) -> alt.HConcatChart:
    """Quality vs time, quality vs size, time vs size, each with its 2-D Pareto front."""
    df = variant_rows(table)
    quality, label = quality_metric(df, metric)
    _require(df, ["model", "variant", quality, "inference_time_s", "size_mb"], "pareto_plots")
    df = _as_str(df, ["model", "variant", "unfreeze"])[
        [c for c in ("model", "variant", "unfreeze", "runtime", quality, "inference_time_s", "size_mb")
         if c in df.columns]]
    q = (quality, label, "linear", "max")
    chart = alt.hconcat(_panel(df, _AXES["time"], q), _panel(df, _AXES["size"], q),
                        _panel(df, _AXES["time"], _AXES["size"]), title=title or alt.Undefined)
    return apply_theme(chart)
