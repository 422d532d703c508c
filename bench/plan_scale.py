"""How planning scales: `snakemake -n` on large grids built from config/paper.yaml, against a flat
three-rule workflow of about the same number of jobs (Snakemake's own floor on this machine).

    ./opscore exec python bench/plan_scale.py [--grids paper,seeds5,...] [--flat-jobs N] [--repeats R]

Grids (config/paper.yaml, 2 datasets x 4 splits, with):
  paper         1 seed (the config as it is)
  seeds5        5 seeds
  seeds5-more   5 seeds and 7 more variants (prune-magnitude s30, s50, s70, s90; the three TFLite kinds)
  seeds20-more  20 seeds and the same 7 more variants (about 37,000 jobs)
The flat workflows: N leaf jobs (touch a file), one aggregate per 50 leaves, `all` taking the
aggregates ("flat", Snakemake's floor); and "flat-rich", the same with its leaf rule as rich as this
workflow's per-variant rules (named inputs from an input function, two outputs, a log, params,
threads and resources, a script, six wildcards: RULE_FEATURES). The first measures the DAG and the
rules together, the second the DAG alone; bench/plan_rule_features.py prices each feature.

Every plan runs in a fresh working directory with this workflow's profile (profiles/default, as
users plan) and with the Slurm client commands off PATH (the Slurm plugin probes them at start; with
no controller that is a constant ~9 s per run, not a cost per job). Plans are taken back to back in
one run, in the order given with the flat workflows just before the last (largest) grid, `--repeats`
times. Prints a table (jobs, s, ms a job, ratio to each flat workflow's ms a job, and the marginal ms
a job between grids, which start-up does not blur) and writes bench/results/plan_scale.json
(`--out` to change; `--summarize` reprints and rewrites the summary of its runs).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from workflow import path_without_slurm_tools

ROOT = Path(__file__).resolve().parents[1]
MORE_VARIANTS = ["prune-magnitude-s30", "prune-magnitude-s50", "prune-magnitude-s70", "prune-magnitude-s90",
                 "tflite-float16", "tflite-dynamic", "tflite-int8"]
GRIDS = {"paper": (1, []), "seeds5": (5, []), "seeds5-more": (5, MORE_VARIANTS), "seeds20-more": (20, MORE_VARIANTS)}
FAN_IN = 50
#: What the flat workflow's leaf rule can be given: the features of this workflow's per-variant rules
#: (train, derive_*, evaluate: nine jobs in ten of a large grid). With none it is the bare flat
#: workflow; with all, "flat-rich": the same DAG shape with rules as rich as ours.
RULE_FEATURES = {
    "inputs": "four named inputs from an input function (unpack), made by a fourth rule",
    "outputs": "a second named output",
    "log": "a log file",
    "params": "seven params, two of them functions of the wildcards",
    "resources": "threads: 8 and resources gpu, mem_mb, runtime",
    "script": "a Python script instead of a shell line",
    "wildcards": "six wildcards in its paths instead of one",
}
#: the flat workflows every plan is compared with: bare (the issue's floor) and as rich as ours
REFERENCES = {"flat": frozenset(), "flat-rich": frozenset(RULE_FEATURES)}
LEAF_SCRIPT = "open(snakemake.output[0], 'w').close()\n"


def flat_snakefile(leaves: int, features: frozenset[str] = frozenset()) -> str:
    """The flat workflow: ``leaves`` leaf jobs, one aggregate per FAN_IN leaves, `all` taking the
    aggregates; its leaf rule given ``features`` (RULE_FEATURES)."""
    unknown = set(features) - set(RULE_FEATURES)
    if unknown:
        raise ValueError(f"unknown rule features {sorted(unknown)}; known: {', '.join(RULE_FEATURES)}")
    leaf = "leaf/{a}/{b}/{c}/{d}/{e}/{i}.txt" if "wildcards" in features else "leaf/{i}.txt"
    named_leaf = 'f"leaf/a/b/c/d/e/{i}.txt"' if "wildcards" in features else 'f"leaf/{i}.txt"'
    text = f"""LEAVES = {leaves}
GROUPS = range(0, LEAVES, {FAN_IN})


rule all:
    input:
        expand("aggregate/{{group}}.txt", group=GROUPS),


rule aggregate:
    input:
        lambda wc: [{named_leaf} for i in range(int(wc.group), min(int(wc.group) + {FAN_IN}, LEAVES))],
    output:
        "aggregate/{{group}}.txt",
    shell:
        "cat {{input}} > {{output}}"

"""
    if "inputs" in features:
        text += """
def leaf_inputs(wildcards):
    return {name: f"source/{name}.txt" for name in ("data", "weights", "history", "preparation")}


rule source:
    output:
        "source/{name}.txt",
    shell:
        "touch {output}"

"""
    text += "\nrule leaf:\n"
    if "inputs" in features:
        text += "    input:\n        unpack(leaf_inputs),\n"
    text += f'    output:\n        first="{leaf}",\n' if "outputs" in features else f'    output:\n        "{leaf}",\n'
    if "outputs" in features:
        text += f'        second="{leaf}.json",\n'
    if "log" in features:
        text += f'    log:\n        "logs/{leaf}.log",\n'
    if "resources" in features:
        text += "    threads: 8\n    resources:\n        gpu=1,\n        mem_mb=16000,\n        runtime=60,\n"
    if "params" in features:
        text += ("    params:\n        input_size=224,\n        batch_size=32,\n        epochs=10,\n"
                 "        momentum=0.99,\n        fine_tuning={'epochs': 2},\n"
                 "        learning_rate=lambda wildcards: 0.001,\n        settings=lambda wildcards: {'k': 16},\n")
    if "script" in features:
        text += '    script:\n        "leaf.py"\n'
    else:
        text += '    shell:\n        "touch {output}"\n'
    return text


def grid_config(name: str) -> dict:
    """config/paper.yaml with the grid's seeds and extra variants."""
    seeds, extra = GRIDS[name]
    config = yaml.safe_load((ROOT / "config" / "paper.yaml").read_text())
    config["seeds"] = list(range(seeds))
    config["variants"].update({variant: None for variant in extra})
    return config


def plan(arguments: list[str], workdir: Path, path: str) -> tuple[int, float]:
    """(jobs, seconds) of one `snakemake -n` in ``workdir``."""
    env = {**os.environ, "PATH": path, "PYTHONPATH": str(ROOT / "workflow")}
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "2", "--directory", str(workdir),
                             *arguments], capture_output=True, text=True, timeout=3600, env=env)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(result.stdout[-2000:] + result.stderr[-3000:])
    jobs = re.search(r"^total\s+(\d+)$", result.stdout, re.M)
    return int(jobs.group(1)), seconds


def plan_grid(name: str, scratch: Path, path: str) -> tuple[int, float]:
    workdir = Path(tempfile.mkdtemp(dir=scratch))
    configfile = workdir / "config.yaml"
    configfile.write_text(yaml.safe_dump(grid_config(name)))
    return plan(["-s", str(ROOT / "Snakefile"), "--configfile", str(configfile),
                 "--workflow-profile", str(ROOT / "profiles" / "default")], workdir, path)


def flat_workdir(jobs: int, scratch: Path, features: frozenset[str] = frozenset()) -> Path:
    """A fresh directory holding the flat workflow of about ``jobs`` jobs, its leaf rule given ``features``."""
    workdir = Path(tempfile.mkdtemp(dir=scratch))
    leaves = round((jobs - 1) * FAN_IN / (FAN_IN + 1))
    (workdir / "Snakefile").write_text(flat_snakefile(leaves, features))
    (workdir / "leaf.py").write_text(LEAF_SCRIPT)
    return workdir


def plan_flat(jobs: int, scratch: Path, path: str, features: frozenset[str] = frozenset()) -> tuple[int, float]:
    """(jobs, seconds) of the flat workflow of about ``jobs`` jobs, its leaf rule given ``features``."""
    workdir = flat_workdir(jobs, scratch, features)
    return plan(["-s", str(workdir / "Snakefile"), "--workflow-profile", "none"], workdir, path)


def machine_context() -> dict:
    """What a planning benchmark's figures were taken on: cores, load at the end, host, versions, date."""
    return {"cpu_count": os.cpu_count(), "load_average_at_end": os.getloadavg(), "host": platform.node(),
            "python": platform.python_version(),
            "snakemake": subprocess.run([sys.executable, "-m", "snakemake", "--version"], capture_output=True,
                                        text=True).stdout.strip(),
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def resummarize(out: Path, summarize_runs) -> None:
    """`--summarize`: reprint the summary of ``out``'s runs and write it back."""
    results = json.loads(out.read_text())
    results["summary"] = summarize_runs(results["runs"])
    out.write_text(json.dumps(results, indent=2))


def summarize(rows: list[dict]) -> list[dict]:
    """Per plan: jobs, median seconds and ms a job, ratio to the bare and to the rich flat workflow's
    ms a job, and for the grids the marginal ms a job from the next smaller grid (seconds added /
    jobs added: start-up cancels out, so a linear plan keeps it flat)."""
    names = list(dict.fromkeys(row["plan"] for row in rows))
    references = [name for name in REFERENCES if name in names]
    grids = sorted((n for n in names if n not in REFERENCES), key=lambda n: next(r["jobs"] for r in rows
                                                                                 if r["plan"] == n))
    summary = []
    for name in [*references, *grids]:
        mine = [row for row in rows if row["plan"] == name]
        summary.append({"plan": name, "jobs": mine[0]["jobs"],
                        "seconds": statistics.median(row["seconds"] for row in mine),
                        "ms_per_job": statistics.median(row["ms_per_job"] for row in mine)})
    by_name = {row["plan"]: row for row in summary}
    for row in summary:
        for reference in references:
            row[f"ratio_to_{reference.replace('-', '_')}"] = row["ms_per_job"] / by_name[reference]["ms_per_job"]
    grid_rows = summary[len(references):]
    for smaller, row in zip(grid_rows[:-1], grid_rows[1:], strict=True):
        row["marginal_ms_per_job"] = 1000 * (row["seconds"] - smaller["seconds"]) / (row["jobs"] - smaller["jobs"])
    print(f"{'plan':14} {'jobs':>8} {'s':>8} {'ms/job':>8} {'× flat':>7} {'× flat-rich':>12} {'marginal ms/job':>16}")
    for row in summary:
        marginal = f"{row['marginal_ms_per_job']:.2f}" if "marginal_ms_per_job" in row else ""
        rich = f"{row['ratio_to_flat_rich']:.2f}" if "ratio_to_flat_rich" in row else ""
        print(f"{row['plan']:14} {row['jobs']:>8,} {row['seconds']:>8.1f} {row['ms_per_job']:>8.2f} "
              f"{row['ratio_to_flat']:>7.2f} {rich:>12} {marginal:>16}")
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--grids", default=",".join(GRIDS), help="comma-separated, of: " + ", ".join(GRIDS))
    parser.add_argument("--flat-jobs", type=int, default=37_000, help="jobs of the flat workflow")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "plan_scale.json")
    parser.add_argument("--summarize", action="store_true", help="print and rewrite the summary of --out's runs")
    args = parser.parse_args()
    if args.summarize:
        return resummarize(args.out, summarize)
    grids = [name for name in args.grids.split(",") if name]
    rows = []
    with tempfile.TemporaryDirectory() as scratch, tempfile.TemporaryDirectory() as tools:
        path = path_without_slurm_tools(Path(tools))
        for repeat in range(args.repeats):
            # the flat workflows just before the largest grid
            for name in [*grids[:-1], *REFERENCES, *grids[-1:]]:
                if name in REFERENCES:
                    jobs, seconds = plan_flat(args.flat_jobs, Path(scratch), path, REFERENCES[name])
                else:
                    jobs, seconds = plan_grid(name, Path(scratch), path)
                rows.append({"plan": name, "repeat": repeat, "jobs": jobs, "seconds": seconds,
                             "ms_per_job": 1000 * seconds / jobs})
                print(f"  {name}: {jobs} jobs, {seconds:.1f} s", file=sys.stderr, flush=True)
    summary = summarize(rows)
    results = {"summary": summary, "runs": rows, "fan_in_flat": FAN_IN, **machine_context()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out} (load average at the end: {results['load_average_at_end'][0]:.1f})")


if __name__ == "__main__":
    main()
