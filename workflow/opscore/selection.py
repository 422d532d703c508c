"""Which variant to ship: the best OpScore among the variants that meet the team's constraints.

A ranking orders every variant; a team ships one that fits its device and its service level. So,
after Microsoft Olive (the first model that meets its goals, or the Pareto front) and Optuna
(feasible and infeasible trials apart), the constraints of ``select:`` in the config

    min_metric        the dataset's quality metric at least this (accuracy, macro F1, ...)
    max_latency_ms    batch-1 p90 latency at most this many milliseconds (opscore.latency)
    max_size_mb       deployable file at most this many MB (10^6 bytes)
    max_peak_rss_mb   peak resident memory of the measuring process at most this many MB

split the ranked variants into feasible and rejected (each with the constraints it breaks and by
how much); ``recommended`` is the feasible one with the best OpScore and ``runner_up`` the next.
If none is feasible, ``recommended`` is None and ``closest`` names the variant whose worst
breach is smallest (relative to its limit), with what it misses.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from opscore.score import METRICS, variant_rows

#: constraint -> (the ranking column it reads, or None for the metric's own; True if a floor)
CONSTRAINTS = {
    "min_metric": (None, True),
    "max_latency_ms": ("latency_p90_ms", False),
    "max_size_mb": ("size_mb", False),
    "max_peak_rss_mb": ("peak_rss_mb", False),
}
#: what a selection shows of each variant
SHOWN = ("model", "variant", "unfreeze", "split", "seed", "opscore", "rank", "accuracy", "latency_p50_ms",
         "latency_p90_ms", "latency_p99_ms", "size_mb", "peak_rss_mb", "flops", "precision")


def _name(row: pd.Series) -> str:
    return "/".join(str(row[c]) for c in ("model", "variant", "unfreeze") if c in row.index)


def breaches(row: pd.Series, constraints: dict, quality: str) -> list[dict]:
    """The constraints ``row`` breaks: constraint, limit, value and the relative shortfall."""
    broken = []
    for name, limit in constraints.items():
        if limit is None:
            continue
        column, floor = CONSTRAINTS[name]
        column = column or quality
        value = float(row[column]) if column in row.index and pd.notna(row[column]) else float("nan")
        if np.isnan(value) or (value < limit if floor else value > limit):
            miss = float("inf") if np.isnan(value) else abs(value - limit) / abs(limit) if limit else float("inf")
            broken.append({"constraint": name, "column": column, "limit": limit,
                           "value": None if np.isnan(value) else value, "relative_miss": miss})
    return broken


def _shown(row: pd.Series, quality: str) -> dict:
    keep = [c for c in (*SHOWN, quality) if c in row.index]
    return {c: (None if pd.isna(row[c]) else row[c].item() if hasattr(row[c], "item") else row[c]) for c in keep}


def select(ranking: pd.DataFrame, constraints: dict | None = None) -> dict:
    """The selection for one dataset's ranking (see the module docstring)."""
    constraints = {k: v for k, v in (constraints or {}).items() if v is not None}
    unknown = sorted(set(constraints) - set(CONSTRAINTS))
    if unknown:
        raise ValueError(f"unknown select constraint(s) {unknown}; known: {', '.join(CONSTRAINTS)}")
    rows = variant_rows(ranking).sort_values("opscore", kind="stable")
    metric = str(rows["metric"].iloc[0]) if "metric" in rows.columns and len(rows) else "accuracy"
    quality = METRICS[metric]
    feasible, rejected = [], []
    for _, row in rows.iterrows():
        broken = breaches(row, constraints, quality)
        (rejected if broken else feasible).append((row, broken))
    selection = {
        "dataset": str(rows["dataset"].iloc[0]) if "dataset" in rows.columns and len(rows) else None,
        "metric": metric, "constraints": constraints, "variants": len(rows), "feasible": len(feasible),
        "recommended": _shown(feasible[0][0], quality) if feasible else None,
        "runner_up": _shown(feasible[1][0], quality) if len(feasible) > 1 else None,
        "rejected": [{"variant": _name(row), "breaks": broken} for row, broken in rejected],
        "closest": None,
    }
    if not feasible and rejected:
        row, broken = min(rejected, key=lambda pair: max(b["relative_miss"] for b in pair[1]))
        selection["closest"] = {**_shown(row, quality), "breaks": broken}
    return selection


def _describe(breach: dict) -> str:
    value = "unmeasured" if breach["value"] is None else f"{breach['value']:.4g}"
    bound = ">=" if CONSTRAINTS[breach["constraint"]][1] else "<="
    return f"{breach['column']} {value} (needs {bound} {breach['limit']:g}, off by {100 * breach['relative_miss']:.1f} %)"


def to_markdown(selection: dict) -> str:
    """The selection as Markdown: the recommendation and its reasons, the runner-up, the rest."""
    metric = selection["metric"]
    limits = ", ".join(f"{k} {v:g}" for k, v in selection["constraints"].items()) or "none (best OpScore)"
    lines = [f"# Which variant to ship: {selection['dataset']}", "",
             f"Constraints: {limits}. Quality metric: {metric}. "
             f"{selection['feasible']} of {selection['variants']} variants meet every constraint.", ""]
    best = selection["recommended"]
    if best is not None:
        quality = METRICS[metric]
        lines += [f"**Recommended: {best['model']} / {best['variant']} (unfreeze {best.get('unfreeze')})**: "
                  f"the best OpScore ({best['opscore']:.3f}) among the feasible variants; "
                  f"{metric} {best[quality]:.4f}, p90 latency {best.get('latency_p90_ms') or float('nan'):.2f} ms, "
                  f"{best['size_mb']:.2f} MB, peak memory {best.get('peak_rss_mb') or float('nan'):.0f} MB.", ""]
        runner = selection["runner_up"]
        if runner is not None:
            lines += [f"Runner-up: {runner['model']} / {runner['variant']} (OpScore {runner['opscore']:.3f}).", ""]
    else:
        closest = selection["closest"]
        lines += ["**No variant meets every constraint.**", ""]
        if closest is not None:
            misses = "; ".join(_describe(b) for b in closest["breaks"])
            lines += [f"Closest: {closest['model']} / {closest['variant']}: {misses}.", ""]
    if selection["rejected"]:
        lines += ["| rejected variant | breaks |", "| --- | --- |"]
        lines += [f"| {r['variant']} | {'; '.join(_describe(b) for b in r['breaks'])} |" for r in selection["rejected"]]
    return "\n".join(lines) + "\n"


def write_selection(selection: dict, json_path, markdown_path) -> None:
    Path(json_path).write_text(json.dumps(selection, indent=2, default=float))
    Path(markdown_path).write_text(to_markdown(selection))
