"""Benchmark: preparation time and peak memory of weight clustering, ours vs tfmot.

Not a test. Each measurement runs in its own child process (this file with --child), so its
peak RSS is that child's own high-water mark, read by the parent through os.wait4's rusage
(ru_maxrss; the same figure RUSAGE_CHILDREN reports, but per child). A "build only" child
gives the baseline: Python + TensorFlow + the model, no clustering.

The model is a keras.applications base built with weights=None (random Glorot/He init; this
machine is offline). Clustering time depends on the kernel shapes and on how many values
are distinct, not on what the values mean, so random weights time the same as ImageNet ones.
The error column (mean |w - w'| over all clustered kernels) is therefore only comparable
between rows of this table.

    ./opscore exec python bench/clustering.py            # shared K=256 vs tfmot, ours at 8192 and 16384
    ./opscore exec python bench/clustering.py --quick    # ours at 8192 only
    ./opscore exec python bench/clustering.py --k 4096 --shared-k 128 --skip-tfmot

Writes bench/out/clustering.json (or --out). Other processes may share the machine's cores:
each row records the 1-minute load average when it started.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
GIB = 1024**3
LIMIT_BYTES = 24 * GIB


def child(spec: dict) -> dict:
    """Build the base, cluster it as `spec` says, report time, error and distinct counts."""
    import resource

    import numpy as np

    from opscore.compression import clustering
    from opscore.models import applications as models

    base = models.build_base(spec["model"], spec["input_size"])
    built_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    out = {"built_rss_bytes": built_rss}
    if spec["method"] == "none":
        return out
    clustered, info = clustering.cluster_model(base, spec["k"], init=spec["init"], method=spec["method"], seed=0)
    out.update(info)
    out["mean_abs_error"] = clustering.mean_abs_kernel_error(base, clustered)
    distinct = clustering.distinct_values_per_layer(clustered)
    out["max_distinct"] = max(distinct.values())
    out["over_k_layers"] = sorted(name for name, count in distinct.items() if count > spec["k"])
    out["clustered_params"] = int(sum(np.prod(v.shape) for layer in clustering.clusterable_layers(clustered)
                                      for _, v in clustering._kernel_variables(layer)))
    return out


def run_case(spec: dict) -> dict:
    load = os.getloadavg()[0]
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as errors:  # a file, not a pipe: TF's logging cannot block the child
        process = subprocess.Popen(
            [sys.executable, __file__, "--child", json.dumps(spec)], stdout=subprocess.PIPE, stderr=errors, text=True,
        )
        stdout = process.stdout.read()
        process.stdout.close()
        _, status, usage = os.wait4(process.pid, 0)  # this child's own rusage
        errors.seek(0)
        stderr = errors.read()
    process.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    row = dict(spec, load_1min=load, child_wall_seconds=wall, peak_rss_bytes_child=usage.ru_maxrss * 1024,
               returncode=process.returncode)
    if process.returncode == 0:
        row.update(json.loads(stdout.strip().splitlines()[-1]))
        row["peak_rss_bytes_child"] = usage.ru_maxrss * 1024  # info's own figure is the same process
    else:
        row["error"] = stderr.strip().splitlines()[-5:]
    return row


def fmt_bytes(value):
    return f"{value / GIB:6.2f}" if value is not None else "     -"


def table(rows: list[dict], baseline: int) -> str:
    head = f"{'case':<22} {'method':<7} {'init':<9} {'K':>6} {'seconds':>8} {'peak RSS GiB':>12} {'over base GiB':>13} {'mean|dw|':>9} {'max distinct':>12} {'tfmot est GiB':>13} {'load':>5}"
    lines = [head, "-" * len(head)]
    for row in rows:
        if row.get("returncode"):
            lines.append(f"{row['case']:<22} FAILED (exit {row['returncode']}): {' | '.join(row.get('error', []))}")
            continue
        seconds = f"{row['seconds']:8.2f}" if "seconds" in row else "       -"
        error = f"{row['mean_abs_error']:9.2e}" if "mean_abs_error" in row else "        -"
        distinct = f"{row['max_distinct']:12d}" if "max_distinct" in row else "           -"
        over = row["peak_rss_bytes_child"] - baseline if baseline else None
        estimate = fmt_bytes(row.get("estimated_tfmot_bytes"))
        lines.append(
            f"{row['case']:<22} {row['method']:<7} {row['init']:<9} {row.get('k') or '-':>6} {seconds} "
            f"{fmt_bytes(row['peak_rss_bytes_child']):>12} {fmt_bytes(over):>13} {error} {distinct} {estimate:>13} {row['load_1min']:5.2f}"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--k", type=int, nargs="+", help="K values for ours alone (default 8192 16384; --quick: 8192)")
    parser.add_argument("--shared-k", type=int, default=256, help="K run by both ours and tfmot (default 256)")
    parser.add_argument("--init", default="kmeans++", help="centroid initialisation (default kmeans++)")
    parser.add_argument("--model", default="ResNet50")
    parser.add_argument("--input-size", type=int, default=32)
    parser.add_argument("--quick", action="store_true", help="ours at K=8192 only as the large K")
    parser.add_argument("--skip-tfmot", action="store_true", help="do not run tfmot (it takes minutes)")
    parser.add_argument("--out", type=Path, default=HERE / "out" / "clustering.json")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return 0

    large = args.k or ([8192] if args.quick else [8192, 16384])
    common = {"model": args.model, "input_size": args.input_size}
    cases = [dict(common, case="build only (baseline)", method="none", init="-", k=None)]
    cases.append(dict(common, case=f"ours K={args.shared_k}", method="sorted", init=args.init, k=args.shared_k))
    if not args.skip_tfmot:
        cases.append(dict(common, case=f"tfmot K={args.shared_k}", method="tfmot", init=args.init, k=args.shared_k))
    cases += [dict(common, case=f"ours K={k}", method="sorted", init=args.init, k=k) for k in large]

    rows = []
    for spec in cases:
        print(f"running: {spec['case']} ...", file=sys.stderr, flush=True)
        rows.append(run_case(spec))
    baseline = rows[0]["peak_rss_bytes_child"] if rows[0].get("returncode") == 0 else 0

    verdicts = []
    by_case = {row["case"]: row for row in rows}
    ours, theirs = by_case.get(f"ours K={args.shared_k}"), by_case.get(f"tfmot K={args.shared_k}")
    if ours and theirs and "seconds" in ours and "seconds" in theirs:
        speedup = theirs["seconds"] / ours["seconds"]
        verdicts.append(f"speed-up over tfmot at K={args.shared_k}: {speedup:.1f}x (target >= 20x: "
                        f"{'met' if speedup >= 20 else 'NOT met'})")
    for k in large:
        row = by_case.get(f"ours K={k}")
        if row and row.get("returncode") == 0:
            ok = row["peak_rss_bytes_child"] < LIMIT_BYTES and row["max_distinct"] <= k
            verdicts.append(f"ours at K={k}: {row['seconds']:.1f} s, peak RSS {row['peak_rss_bytes_child'] / GIB:.2f} GiB, "
                            f"max distinct {row['max_distinct']} (within 24 GiB and <= K: {'yes' if ok else 'NO'})")
        elif row:
            verdicts.append(f"ours at K={k}: FAILED")
    for row in rows:
        if row.get("estimated_tfmot_bytes"):
            row["auto_would_pick"] = "tfmot" if row["estimated_tfmot_bytes"] <= row["memory_budget"] else "sorted"

    text = table(rows, baseline)
    print(f"{args.model} base, weights=None (random init, offline), input {args.input_size}x{args.input_size}x3, "
          f"init {args.init}; {os.cpu_count()} cores, shared with other processes (load column)")
    print(text)
    print("\n".join(verdicts))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    import numpy
    payload = {
        "note": "weights=None (random init, offline); peak RSS per child process from os.wait4 rusage; "
                "'over base' subtracts the build-only child's peak",
        "machine": {"cpu_count": os.cpu_count(), "python": platform.python_version(), "numpy": numpy.__version__},
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "child"},
        "baseline_rss_bytes": baseline,
        "cases": rows,
        "verdicts": verdicts,
        "table": text,
    }
    args.out.write_text(json.dumps(payload, indent=2, default=str))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
