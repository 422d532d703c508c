"""A chain drawn as its steps: for every variant made by two or more steps (e.g.
``prune-magnitude-s50+cluster-k16+tflite-int8``), what each step made, in order, starting from
the trained original: its file raw and deflated, parameters and nonzero parameters, the kernels'
nonzero share and distinct values (so a later step that lost an earlier one's zeros or shared
values shows), the held-out metric the step was judged on, and its time. Read from the
measurement rows' ``prep_steps`` (each derivation's record, opscore.jobs.derivation)."""
from __future__ import annotations

import json
import math

import altair as alt
import pandas as pd

from opscore.report.studies.common import (
    FIGURE_TITLES,
    IDS,
    empty_table,
    finish,
    mean_by,
    measurement_rows,
    no_data_chart,
    panel_chart,
    several,
    variant_order,
    with_dataset,
)

#: what a step made (opscore.measure.sizes.step_sizes), its held-out metric and its seconds
MADE = ["size_mb", "size_compressed_mb", "params", "nonzero_params", "kernel_nonzero_share",
        "kernel_distinct_values"]
STEP_MEASURES = [*MADE, "held_out", "seconds"]
COLUMNS = [*IDS, "step_number", "step", "made", *STEP_MEASURES, "times_smaller", "runs"]
ORIGINAL = "original"


def _steps(value) -> list[dict]:
    """A row's ``prep_steps`` (JSON), or none."""
    if not isinstance(value, str) or not value:
        return []
    return json.loads(value)


def chain_steps_table(table: pd.DataFrame) -> pd.DataFrame:
    """One row per step of every chain (step 0: the trained original the chain starts from, from
    its own row; NaN where the original is not measured), mean over seeds; ``made`` names what
    the steps so far made (a prefix's variant name), ``times_smaller`` is the original's deflated
    size ÷ the step's."""
    df = measurement_rows(table, MADE)
    if len(df) == 0 or "prep_steps" not in df.columns:
        return empty_table(COLUMNS)
    df["seed"] = df["seed"].astype(str) if "seed" in df.columns else ""
    keys = ["dataset", "model", "unfreeze", "split", "seed"]
    originals = df[df["variant"] == ORIGINAL].drop_duplicates(keys).set_index(keys)
    rows = []
    for _, row in df.iterrows():
        steps = _steps(row["prep_steps"])
        if len(steps) < 2:
            continue
        ids = {column: row[column] for column in [*IDS, "seed"]}
        key = tuple(row[column] for column in keys)
        original = originals.loc[key] if key in originals.index else {}
        rows.append({**ids, "step_number": 0, "step": ORIGINAL, "made": ORIGINAL,
                     **{measure: original.get(measure, math.nan) for measure in MADE}})
        names = []
        for number, step in enumerate(steps, start=1):
            names.append(step["step"])
            rows.append({**ids, "step_number": number, "step": step["step"], "made": "+".join(names),
                         **{measure: step.get(measure, math.nan) for measure in STEP_MEASURES}})
    if not rows:
        return empty_table(COLUMNS)
    out = pd.DataFrame(rows)
    for measure in STEP_MEASURES:
        out[measure] = pd.to_numeric(out[measure], errors="coerce").astype(float)
    out = mean_by(out, [*IDS, "step_number", "step", "made"], STEP_MEASURES)
    first = out.groupby(IDS, sort=False)["size_compressed_mb"].transform(lambda sizes: sizes.iloc[0])  # step 0
    out["times_smaller"] = first / out["size_compressed_mb"]
    return finish(out, COLUMNS, [*IDS, "step_number"])


def chain_steps_figure(table: pd.DataFrame, title: str | None = None) -> alt.TopLevelMixin:
    """Each chain as a line through its steps: deflated size (log scale) after each step, from
    the original (step 0), every point labelled with its step; one panel per model (and dataset,
    split, depth when there are several)."""
    steps = chain_steps_table(table)
    name = title or with_dataset(FIGURE_TITLES["chain_steps"], steps)
    data = steps[pd.to_numeric(steps["size_compressed_mb"], errors="coerce") > 0] if len(steps) else steps
    if len(data) == 0:
        return no_data_chart(name)
    parts = ["model", *(column for column in ("dataset", "split", "unfreeze") if several(data, column))]
    data = data.assign(panel=data[parts].astype(str).agg(" · ".join, axis=1))
    base = alt.Chart().encode(
        x=alt.X("step_number:O", title="step (0 = the trained original)", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("size_compressed_mb:Q", title="deflated size (MB)", scale=alt.Scale(type="log")),
        color=alt.Color("variant:N", title="chain", sort=variant_order(data["variant"])),
        tooltip=[alt.Tooltip(f"{column}:N") for column in ("model", "variant", "step", "made")]
        + [alt.Tooltip("size_compressed_mb:Q", title="deflated MB", format=".3f"),
           alt.Tooltip("times_smaller:Q", title="× smaller", format=".2f"),
           alt.Tooltip("params:Q", format=",.0f"), alt.Tooltip("nonzero_params:Q", format=",.0f"),
           alt.Tooltip("kernel_distinct_values:Q", title="distinct values per kernel", format=",.1f"),
           alt.Tooltip("held_out:Q", title="held-out metric", format=".4f"),
           alt.Tooltip("seconds:Q", format=".1f")],
    )
    chart = alt.layer(base.mark_line(), base.mark_point(filled=True, size=60),
                      base.mark_text(dy=-10, fontSize=10).encode(text="step:N"))
    only = data["panel"].iloc[0] if data["panel"].nunique() == 1 else None  # one panel: named below the title
    return panel_chart(chart, data, name, only, column="panel")
