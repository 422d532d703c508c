"""Lee et al.'s pruning sensitivity: the accuracy drop of each filter-pruning or layer-removal
step in the order tried, accepted or rejected, sensitivity order beside input-to-output (-io)."""
from __future__ import annotations

import math

import altair as alt
import pandas as pd

from opscore.kinds.registry import kinds_in, parse_variant
from opscore.report import plots
from opscore.report.studies.common import (
    FIGURE_TITLES,
    empty_table,
    no_data_chart,
    run_panel,
    sorted_rows,
    unfreeze_str,
    variant_kind,
    with_dataset,
)

PRUNING_COLUMNS = [
    "dataset", "model", "variant", "unfreeze", "split", "seed", "method", "order", "budget",
    "step", "round", "action", "layer", "filters_before", "removed", "filters_after",
    "params", "accuracy", "drop", "accepted",
]


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
        return empty_table(PRUNING_COLUMNS)
    df = steps.copy()
    df["variant"] = df["variant"].astype(str)
    df = df[df["variant"].map(variant_kind).isin(kinds_in("pruning_sensitivity"))].reset_index(drop=True)
    if len(df) == 0:
        return empty_table(PRUNING_COLUMNS)
    kinds = df["variant"].map(variant_kind)
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
        df[col] = df[col].fillna("").map(unfreeze_str if col in ("unfreeze", "seed") else str)
    for col in ("step", "round", "filters_before", "removed", "filters_after", "params", "accuracy", "drop"):
        df[col] = pd.to_numeric(df[col], errors="coerce").astype(float) if col in df.columns else math.nan
    df["accepted"] = df["accepted"].map(
        lambda v: str(v).strip().lower() in ("true", "1", "1.0")) if "accepted" in df.columns else False
    df["accepted"] = df["accepted"].astype(bool)
    df["step"] = df["step"].astype("Int64")
    return sorted_rows(df, ["dataset", "model", "unfreeze", "split", "seed", "variant", "step"])[PRUNING_COLUMNS]


def pruning_sensitivity_figure(steps: pd.DataFrame | None, title: str | None = None) -> alt.TopLevelMixin:
    """Lee et al.'s pruning, step by step: per variant, the accuracy drop (y) of each step in the
    order tried (x: ``step. layer``), bars coloured by accepted / rejected, the variant's budget
    as a dashed rule. One row of panels per model and base variant, the ``sensitivity`` order and
    the input-to-output (``-io``) order of the same settings side by side; the run
    (unfreeze, split, seed, dataset) is added to the row label when there are several."""
    table = pruning_sensitivity_table(steps)
    name = title or with_dataset(FIGURE_TITLES["pruning_sensitivity"], table)
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
    run = run_panel(data, ("dataset", "unfreeze", "split", "seed"))
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
