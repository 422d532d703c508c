"""What each feature of a rule costs Snakemake's planning, per job: the reproduction behind
docs/planning.md's report for Snakemake.

    ./opscore exec python bench/plan_rule_features.py [--jobs N] [--repeats R]

The flat workflow of bench/plan_scale.py (N leaf jobs, one aggregate per 50 leaves) with its leaf
rule as rich as this workflow's per-variant rules ("flat-rich": RULE_FEATURES) is planned with
`snakemake -n` side by side with the same workflow less one feature, and with the bare flat
workflow. The two plans of a pair run at once, one a core, so both see the same machine (planning
is single-threaded; on a shared host two plans taken one after the other differ by up to a fifth
with nothing changed, a pair side by side by a few percent). Each plan's CPU seconds are its own
(os.wait4). Prints, per feature, the median over the repeats of the ms a job it adds and its share
of flat-rich's cost; writes bench/results/plan_rule_features.json (`--out` to change; `--summarize`
reprints and rewrites the summary of its runs).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from plan_scale import FAN_IN, ROOT, RULE_FEATURES, flat_workdir, machine_context, resummarize
from workflow import path_without_slurm_tools


def start_plan(jobs: int, features: frozenset[str], scratch: Path, path: str) -> tuple[subprocess.Popen, Path]:
    """`snakemake -n` of the flat workflow with ``features``, started in a fresh directory."""
    workdir = flat_workdir(jobs, scratch, features)
    log = workdir.with_suffix(".log")
    with log.open("w") as out:
        process = subprocess.Popen([sys.executable, "-m", "snakemake", "-n", "--cores", "2", "--directory",
                                    str(workdir), "-s", str(workdir / "Snakefile"), "--workflow-profile", "none"],
                                   stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PATH": path})
    return process, log


def finish_plan(process: subprocess.Popen, log: Path) -> tuple[int, float]:
    """(jobs, CPU seconds) of a plan started by start_plan, once it ends."""
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    text = log.read_text()
    if process.returncode != 0:
        raise RuntimeError(text[-3000:])
    return int(re.search(r"^total\s+(\d+)$", text, re.M).group(1)), usage.ru_utime + usage.ru_stime


def plan_pair(jobs: int, first: frozenset[str], second: frozenset[str], scratch: Path,
              path: str) -> list[tuple[int, float]]:
    """Two plans side by side: (jobs, CPU seconds) of each."""
    started = [start_plan(jobs, features, scratch, path) for features in (first, second)]
    return [finish_plan(*plan) for plan in started]


def summarize(rows: list[dict]) -> list[dict]:
    """Per case, medians over the repeats of: flat-rich's and the case's ms a job, the ms a job the
    missing feature adds (flat-rich less the case, pair by pair) and that as a share of flat-rich's."""
    summary = []
    print(f"{'case':22} {'ms/job flat-rich':>17} {'ms/job without':>15} {'adds ms/job':>12} {'share':>6}")
    for case in dict.fromkeys(row["case"] for row in rows):
        pairs = [(1000 * row["rich_cpu_s"] / row["rich_jobs"], 1000 * row["cpu_s"] / row["jobs"])
                 for row in rows if row["case"] == case]
        row = {"case": case, "rich_ms_per_job": statistics.median(rich for rich, _ in pairs),
               "ms_per_job": statistics.median(ms for _, ms in pairs),
               "adds_ms_per_job": statistics.median(rich - ms for rich, ms in pairs),
               "share_of_rich": statistics.median(1 - ms / rich for rich, ms in pairs)}
        summary.append(row)
        print(f"{case:22} {row['rich_ms_per_job']:>17.2f} {row['ms_per_job']:>15.2f} {row['adds_ms_per_job']:>12.2f} "
              f"{row['share_of_rich']:>6.0%}")
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=10_000, help="jobs of each flat workflow (about)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "plan_rule_features.json")
    parser.add_argument("--summarize", action="store_true", help="print and rewrite the summary of --out's runs")
    args = parser.parse_args()
    if args.summarize:
        return resummarize(args.out, summarize)
    rich = frozenset(RULE_FEATURES)
    # each feature taken away from flat-rich, and all of them (the bare flat workflow)
    cases = {f"without {feature}": rich - {feature} for feature in RULE_FEATURES} | {"bare (without all)": frozenset()}
    rows = []
    with tempfile.TemporaryDirectory() as scratch, tempfile.TemporaryDirectory() as tools:
        path = path_without_slurm_tools(Path(tools))
        for repeat in range(args.repeats):
            for case, features in cases.items():
                (rich_jobs, rich_cpu), (jobs, cpu) = plan_pair(args.jobs, rich, features, Path(scratch), path)
                rows.append({"case": case, "repeat": repeat, "rich_jobs": rich_jobs, "rich_cpu_s": rich_cpu,
                             "jobs": jobs, "cpu_s": cpu})
                print(f"  {case}: {jobs} jobs {cpu:.1f} s, flat-rich {rich_jobs} jobs {rich_cpu:.1f} s",
                      file=sys.stderr, flush=True)
    summary = summarize(rows)
    results = {"summary": summary, "runs": rows, "features": RULE_FEATURES, "fan_in": FAN_IN, **machine_context()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
