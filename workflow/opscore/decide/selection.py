"""Which variant to ship: the best OpScore among the variants that meet the team's constraints, with
what the measurements can and cannot tell apart.

A ranking orders every variant; a team ships one that fits its device and its service level. So,
after Microsoft Olive (the first model that meets its goals, or the Pareto front) and Optuna
(feasible and infeasible trials apart), the constraints of ``select:`` in the config

    min_metric        the dataset's quality metric at least this (accuracy, macro F1, ...)
    max_latency_ms    batch-1 p90 latency at most this many milliseconds (MLPerf LoadGen SingleStream)
    max_size_mb       deployable file at most this many MB (10^6 bytes)
    max_memory_mb     peak resident memory of the variant deployed alone (runtime and model) in MB

split the ranked variants into feasible and rejected (each with the constraints it breaks and by
how much); ``recommended`` is the feasible one with the best OpScore (the paper's rule) and
``runner_up`` the next. If none is feasible, ``closest`` names the variant whose worst breach is
smallest (relative to its limit). Beside the choice, what the numbers can bear
(docs/measurement.md): ``reasons`` compares the recommendation, on the same test examples, with
the runner-up and with every feasible variant of better quality (McNemar's exact test or a paired
bootstrap, opscore.measure.uncertainty); ``tied`` names both when the runner-up is within the
uncertainty of quality and of time; ``borderline`` lists the variants whose quality interval
straddles ``min_metric``; ``contended`` the variants timed while the CPU was not the benchmark's,
and whether each could change the recommendation; ``across_seeds`` the mean and spread of each
variant over several seeds.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from opscore.decide.score import variant_rows
from opscore.job import IDENTITY
from opscore.measure.quality import METRICS
from opscore.measure.uncertainty import compare

#: constraint -> (the ranking column it reads, or None for the metric's own; True if a floor)
CONSTRAINTS = {
    "min_metric": (None, True),
    "max_latency_ms": ("latency_p90_ms", False),
    "max_size_mb": ("size_mb", False),
    "max_memory_mb": ("deploy_peak_rss_mb", False),
}
#: what a selection shows of each variant
SHOWN = ("model", "variant", "unfreeze", "split", "seed", "opscore", "rank", "accuracy", "metric_ci_low",
         "metric_ci_high", "time_s", "latency_p50_ms", "latency_p90_ms", "latency_p99_ms", "throughput_samples_s",
         "size_mb", "deploy_peak_rss_mb", "deploy_model_rss_mb", "flops", "precision", "runtime", "contended")
#: what is the same test split: paired comparisons only within it
_SAME_TEST = ("dataset", "split", "seed")


def name_of(row) -> str:
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


def _predicted(predictions: pd.DataFrame | None, row: pd.Series):
    """(labels, predictions) of ``row``'s variant on its test split, or None if not recorded."""
    if predictions is None:
        return None
    mask = np.ones(len(predictions), dtype=bool)
    for column in IDENTITY:
        mask &= predictions[column].astype(str).to_numpy() == str(row[column])
    rows = predictions[mask].sort_values("example")
    return (rows["y_true"].to_numpy(), rows["predicted"].to_numpy()) if len(rows) else None


def quality_difference(a: pd.Series, b: pd.Series, predictions, metric: str) -> dict | None:
    """``a`` against ``b`` on the same test examples (None where they were not tested on the same)."""
    quality = METRICS[metric]
    if any(str(a.get(c)) != str(b.get(c)) for c in _SAME_TEST):
        return None
    pa, pb = _predicted(predictions, a), _predicted(predictions, b)
    if pa is None or pb is None:
        return None
    result = compare(pa[0], pa[1], pb[1], int(a.get("n_classes", max(pa[0].max(), pa[1].max(), pb[1].max()) + 1)),
                     metric, seed=int(a.get("seed", 0)))
    return {"versus": name_of(b), "value": float(a[quality]), "other_value": float(b[quality]), **result}


def _time_tied(a: pd.Series, b: pd.Series) -> bool:
    return name_of(b) in str(a.get("time_ties", "") or "").split("; ")


def _wins(a: pd.Series, b: pd.Series) -> list[str]:
    """What ``a`` is better at than ``b``, time (on the ranking's basis) and size."""
    wins = [] if _time_tied(a, b) or a["time_s"] >= b["time_s"] else ["time"]
    return wins + (["size"] if a["size_mb"] < b["size_mb"] else [])


def describe_difference(difference: dict, metric: str, wins: list[str]) -> str:
    """E.g. "0.9556 vs 0.9537: 1 of 540 examples differ, p = 1 (McNemar exact): no quality
    difference; it wins on time and size"."""
    verdict = "a significant quality difference" if difference["significant"] else "no quality difference"
    won = f"; it wins on {' and '.join(wins)}" if wins else ""
    return (f"{difference['versus']}: {metric} {difference['other_value']:.4f} vs {difference['value']:.4f}: "
            f"{difference['differ']} of {difference['n']} examples predicted differently, "
            f"p = {difference['p_value']:.2g} ({difference['method']}): {verdict}{won}")


def _reasons(best: pd.Series, feasible: list[pd.Series], predictions, metric: str) -> tuple[list[str], dict | None]:
    """Why the recommendation, against the runner-up and the feasible variants of better quality;
    and the comparison with the runner-up."""
    quality = METRICS[metric]
    among = f"the {len(feasible)} feasible variants" if len(feasible) > 1 else "the one feasible variant"
    reasons = [f"best OpScore ({best['opscore']:.3f}) among {among} (the paper's rule)"]
    runner = feasible[1] if len(feasible) > 1 else None
    versus_runner = None
    for other in feasible[1:]:
        if other is not runner and not other[quality] > best[quality]:
            continue
        difference = quality_difference(best, other, predictions, metric)
        if difference is None:
            continue
        reasons.append(describe_difference(difference, metric, _wins(best, other)))
        if other is runner:
            versus_runner = difference
    return reasons, versus_runner


def _fastest_time(row: pd.Series) -> float:
    """The row's time on the ranking's basis at its fastest benchmark round."""
    basis = row.get("time_basis", "inference")
    if basis == "inference" and pd.notna(row.get("inference_min_s")):
        return float(row["inference_min_s"]) * float(row["repeats"])
    if basis == "latency" and pd.notna(row.get("latency_p90_min_ms")):
        return float(row["latency_p90_min_ms"]) / 1000
    return float(row["time_s"])


def _contended(rows: pd.DataFrame, best: pd.Series | None, constraints: dict, quality: str) -> list[dict]:
    """The variants timed under contention, each with whether it could change the recommendation.
    Contention only slows a measurement down, so the recommendation's own lead stands; another
    variant could take it if, at its fastest round's time, it would be feasible and score better."""
    if "contended" not in rows.columns:
        return []
    flagged = []
    for _, row in rows[rows["contended"].fillna(False).astype(bool)].iterrows():
        fastest = _fastest_time(row)
        optimistic = row.copy()
        optimistic["time_s"], optimistic["latency_p90_ms"] = fastest, row.get("latency_p90_min_ms", row.get("latency_p90_ms"))
        score = row["opscore"] - np.log10(row["time_s"]) + np.log10(fastest)
        could = best is not None and name_of(row) != name_of(best) and score < best["opscore"] \
            and not breaches(optimistic, constraints, quality)
        flagged.append({"variant": name_of(row), "contended_rounds": int(row.get("contended_rounds", 0)),
                        "rounds": int(row.get("rounds", 0)), "could_change_recommendation": bool(could)})
    return flagged


def across_seeds(rows: pd.DataFrame, quality: str) -> list[dict]:
    """Mean and standard deviation over seeds of quality, time, size and OpScore, per variant (only
    where a variant ran with more than one seed)."""
    if "seed" not in rows.columns or rows["seed"].nunique() < 2:
        return []
    keys = [c for c in ("model", "variant", "unfreeze", "split") if c in rows.columns]
    out = []
    for key, group in rows.groupby(keys, sort=False):
        entry = {**dict(zip(keys, key if isinstance(key, tuple) else (key,), strict=True)),
                 "seeds": int(group["seed"].nunique())}
        for column in (quality, "time_s", "size_mb", "opscore"):
            entry[f"{column}_mean"] = float(group[column].mean())
            entry[f"{column}_std"] = float(group[column].std(ddof=1)) if len(group) > 1 else 0.0
        out.append(entry)
    return out


def select(ranking: pd.DataFrame, constraints: dict | None = None, predictions: pd.DataFrame | None = None) -> dict:
    """The selection for one dataset's ranking (see the module docstring); ``predictions`` (every
    variant's test predictions, opscore.measure.quality.predictions_frame) make the quality comparisons."""
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
    best = feasible[0][0] if feasible else None
    selection = {
        "dataset": str(rows["dataset"].iloc[0]) if "dataset" in rows.columns and len(rows) else None,
        "metric": metric, "constraints": constraints, "variants": len(rows), "feasible": len(feasible),
        "recommended": _shown(best, quality) if best is not None else None,
        "runner_up": _shown(feasible[1][0], quality) if len(feasible) > 1 else None,
        "reasons": [], "tied": None,
        "rejected": [{"variant": name_of(row), "breaks": broken} for row, broken in rejected],
        "closest": None,
        "borderline": borderline(rows, constraints.get("min_metric")),
        "contended": _contended(rows, best, constraints, quality),
        "across_seeds": across_seeds(rows, quality),
    }
    if best is not None:
        selection["reasons"], versus_runner = _reasons(best, [row for row, _ in feasible], predictions, metric)
        runner = feasible[1][0] if len(feasible) > 1 else None
        if runner is not None and versus_runner is not None and not versus_runner["significant"] \
                and _time_tied(best, runner):
            selection["tied"] = {"variants": [name_of(best), name_of(runner)],
                                 "why": "quality within the test's uncertainty and time within the rounds' spread"}
    elif rejected:
        row, broken = min(rejected, key=lambda pair: max(b["relative_miss"] for b in pair[1]))
        selection["closest"] = {**_shown(row, quality), "breaks": broken}
    return selection


def borderline(rows: pd.DataFrame, floor: float | None) -> list[str]:
    """The variants whose 95 % quality interval straddles the ``min_metric`` floor: on another test
    sample they could land on the other side of it."""
    if floor is None or "metric_ci_low" not in rows.columns:
        return []
    straddles = (rows["metric_ci_low"].astype(float) < floor) & (rows["metric_ci_high"].astype(float) >= floor)
    return [name_of(row) for _, row in rows[straddles].iterrows()]


def _describe(breach: dict) -> str:
    value = "unmeasured" if breach["value"] is None else f"{breach['value']:.4g}"
    bound = ">=" if CONSTRAINTS[breach["constraint"]][1] else "<="
    return f"{breach['column']} {value} (needs {bound} {breach['limit']:g}, off by {100 * breach['relative_miss']:.1f} %)"


def _number(value, spec: str, unit: str = "") -> str:
    return "unmeasured" if value is None else f"{value:{spec}}{unit}"


def _variant_line(row: dict, metric: str) -> str:
    quality = METRICS[metric]
    interval = (f" (95 % CI {row['metric_ci_low']:.4f}-{row['metric_ci_high']:.4f})"
                if row.get("metric_ci_low") is not None else "")
    return (f"{row['model']} / {row['variant']} (unfreeze {row.get('unfreeze')}): OpScore {row['opscore']:.3f}; "
            f"{metric} {row[quality]:.4f}{interval}, p90 latency {_number(row.get('latency_p90_ms'), '.3g', ' ms')}, "
            f"{row['size_mb']:.3g} MB, memory deployed {_number(row.get('deploy_peak_rss_mb'), '.0f', ' MB')}"
            + (f", {row['runtime']}" if row.get("runtime") else ""))


def flags(selection: dict) -> list[str]:
    """Every caveat of a selection, one sentence each: a tie, contention, borderline quality."""
    out = []
    if selection.get("tied"):
        out.append(f"TIED: {' and '.join(selection['tied']['variants'])}: {selection['tied']['why']}")
    for entry in selection.get("contended", []):
        effect = "could change the recommendation" if entry["could_change_recommendation"] else "cannot change it"
        out.append(f"CONTENDED: {entry['variant']} timed while the CPU was not the benchmark's "
                   f"({entry['contended_rounds']} of {entry['rounds']} rounds); {effect}")
    for name in selection.get("borderline", []):
        out.append(f"BORDERLINE: {name}: its 95 % quality interval straddles min_metric")
    return out


def headline(selection: dict) -> str:
    """The decision in one line."""
    best, dataset = selection["recommended"], selection["dataset"]
    if best is None:
        closest = selection.get("closest")
        return f"{dataset}: no variant meets every constraint" + (
            f"; closest {closest['model']}/{closest['variant']}" if closest else "")
    line = f"{dataset}: ship {_variant_line(best, selection['metric'])}"
    if selection.get("tied"):
        line += f" -- tied with {selection['tied']['variants'][1]}"
    caveats = len(flags(selection)) - bool(selection.get("tied"))
    return line + (f" [{caveats} flag{'s' * (caveats > 1)}]" if caveats else "")


def to_markdown(selection: dict) -> str:
    """The selection as Markdown: the recommendation, its reasons and flags, the runner-up, the rest."""
    metric = selection["metric"]
    limits = ", ".join(f"{k} {v:g}" for k, v in selection["constraints"].items()) or "none (best OpScore)"
    lines = [f"# Which variant to ship: {selection['dataset']}", "",
             f"Constraints: {limits}. Quality metric: {metric}. "
             f"{selection['feasible']} of {selection['variants']} variants meet every constraint.", ""]
    best = selection["recommended"]
    if best is not None:
        lines += [f"**Recommended: {_variant_line(best, metric)}**", ""]
        lines += [f"- {reason}" for reason in selection.get("reasons", [])] + [""]
        if selection["runner_up"] is not None:
            lines += [f"Runner-up: {_variant_line(selection['runner_up'], metric)}.", ""]
    else:
        closest = selection["closest"]
        lines += ["**No variant meets every constraint.**", ""]
        if closest is not None:
            misses = "; ".join(_describe(b) for b in closest["breaks"])
            lines += [f"Closest: {closest['model']} / {closest['variant']}: {misses}.", ""]
    if flags(selection):
        lines += ["Flags:", ""] + [f"- {flag}" for flag in flags(selection)] + [""]
    if selection["rejected"]:
        lines += ["| rejected variant | breaks |", "| --- | --- |"]
        lines += [f"| {r['variant']} | {'; '.join(_describe(b) for b in r['breaks'])} |" for r in selection["rejected"]]
        lines += [""]
    if selection.get("across_seeds"):
        quality = METRICS[metric]
        lines += ["Across seeds (mean ± standard deviation):", "",
                  f"| variant | seeds | {metric} | time (s) | size (MB) | OpScore |", "| --- | --- | --- | --- | --- | --- |"]
        lines += [f"| {e['model']}/{e['variant']}/{e.get('unfreeze')} | {e['seeds']} | "
                  + " | ".join(f"{e[f'{c}_mean']:.4g} ± {e[f'{c}_std']:.2g}" for c in (quality, "time_s", "size_mb", "opscore"))
                  + " |" for e in selection["across_seeds"]]
    return "\n".join(lines).rstrip() + "\n"


def write_selection(selection: dict, json_path, markdown_path) -> None:
    Path(json_path).write_text(json.dumps(selection, indent=2, default=float))
    Path(markdown_path).write_text(to_markdown(selection))


def index_html(selections: list[dict]) -> str:
    """The page a run names at its end: per dataset the recommendation, the runner-up, the reasons
    and every flag, and where the rest is (report, rankings, figures)."""
    from html import escape

    parts = ["<!DOCTYPE html><html><head><meta charset='utf-8'><title>opscore: which variant to ship</title>",
             "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}li{margin:.3em 0}"
             ".flag{color:#a40}</style></head><body><h1>Which variant to ship</h1>"]
    for selection in selections:
        metric, dataset = selection["metric"], escape(str(selection["dataset"]))
        parts.append(f"<h2>{dataset}</h2><p><b>{escape(headline(selection))}</b></p>")
        if selection["runner_up"] is not None:
            parts.append(f"<p>Runner-up: {escape(_variant_line(selection['runner_up'], metric))}</p>")
        parts.append("<ul>" + "".join(f"<li>{escape(r)}</li>" for r in selection.get("reasons", []))
                     + "".join(f"<li class='flag'>{escape(f)}</li>" for f in flags(selection)) + "</ul>")
        parts.append(f"<p><a href='scores/{dataset}/selection.md'>selection</a> · "
                     f"<a href='scores/{dataset}/ranking.md'>ranking</a> · "
                     f"<a href='figures/{dataset}/bubble.html'>bubble chart</a></p>")
    parts.append("<p>Everything else: <a href='report.html'>report.html</a> "
                 "(after <code>./opscore run</code>).</p></body></html>")
    return "\n".join(parts) + "\n"


def main(argv=None) -> int:
    """``python -m opscore.decide.selection SELECTION.json ...``: the decision per dataset, one line each."""
    import sys

    for path in (argv if argv is not None else sys.argv[1:]):
        print(headline(json.loads(Path(path).read_text())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
