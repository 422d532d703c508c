"""Benchmarks of the foundation: training throughput, dry-run planning time, peak memory.

    ./opscore exec python bench/workflow.py [--quick]

1. Throughput of the workflow's training code (uint8 arrays -> tf.data pipeline that casts,
   resizes and preprocesses per batch -> train_classifier) against a plain `model.fit` on
   float arrays preprocessed in memory beforehand; same model, batch and data. Target >= 0.95.
2. Planning time of `snakemake -n` for the paper grid (config/paper.yaml). Target < 5 s.
3. Peak RSS of a CIFAR-size training job (50,000 uint8 32x32x3 images held by the pipeline).

Each case runs in its own child process so peak memory and thread pools do not mix.
Prints a table and writes bench/out/workflow.json.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"


def child(args: argparse.Namespace) -> None:
    """Runs inside the child process: one training measurement, printed as JSON."""
    import numpy as np

    from opscore.models import applications as models
    from opscore.models import training
    from opscore.tf import keras

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (args.images, 32, 32, 3), dtype=np.uint8)
    y = rng.integers(0, 10, args.images).astype(np.int64)
    training.seed_everything(0)
    model = models.build_classifier(args.model, 10, 32, seed=0)
    preprocess = models.preprocess_function(args.model)
    steps = args.steps
    # Both cases run one extra first epoch (graph tracing, allocation) that is not counted.
    if args.child == "plain":
        features = preprocess(x[: args.batch * steps].astype("float32"))  # the float copy the workflow avoids
        model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", ["accuracy"])
        ends = []
        timer = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: ends.append(time.perf_counter()))
        model.fit(features, y[: args.batch * steps], batch_size=args.batch, epochs=args.epochs + 1, verbose=0,
                  shuffle=True, callbacks=[timer])
        seconds = ends[-1] - ends[0]
    else:
        data = training.make_pipeline(x, y, preprocess, 32, args.batch, shuffle=True, seed=0).take(steps)
        history = training.train_classifier(model, data, None, args.epochs + 1, 1e-3)
        seconds = float(history["epoch_seconds"].iloc[1:].sum())
    images = args.batch * steps * args.epochs
    print(json.dumps({"case": args.child, "seconds": seconds, "images_per_s": images / seconds,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def run_child(case: str, args: argparse.Namespace, images: int) -> dict:
    command = [sys.executable, __file__, "--child", case, "--model", args.model, "--batch", str(args.batch),
               "--steps", str(args.steps), "--epochs", str(args.epochs), "--images", str(images)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=3600,
                            env={**os.environ, "PYTHONPATH": str(ROOT / "workflow")})
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-3000:])
    return json.loads(result.stdout.strip().splitlines()[-1])


SLURM_TOOLS = {"sacct", "sacctmgr", "salloc", "sattach", "sbatch", "sbcast", "scancel", "scontrol", "scrontab",
               "sdiag", "sinfo", "sprio", "squeue", "sreport", "srun", "sshare", "sstat", "strigger", "sview"}


def path_without_slurm_tools(tools: Path) -> str:
    """PATH as it is, less the Slurm client commands (symlinks in ``tools``), the venv first."""
    for folder in os.environ["PATH"].split(os.pathsep):
        for tool in Path(folder).glob("*") if Path(folder).is_dir() else []:
            if tool.name not in SLURM_TOOLS and not (tools / tool.name).exists():
                os.symlink(tool, tools / tool.name)
    return os.pathsep.join([str(Path(sys.executable).parent), str(tools)])


def planning_seconds(repeats: int, without_slurm_tools: bool) -> list[float]:
    """Wall time of `snakemake -n` on the paper grid.

    snakemake-executor-plugin-slurm probes `scontrol`/`sacct` when Snakemake starts; where those
    tools are installed but no controller answers (this test machine between Slurm tests) that
    alone costs ~9 s. `without_slurm_tools` plans with only the venv, git and tar on PATH.
    """
    seconds = []
    env = {**os.environ, "PYTHONPATH": str(ROOT / "workflow")}
    with tempfile.TemporaryDirectory() as workdir, tempfile.TemporaryDirectory() as tools:
        if without_slurm_tools:
            env["PATH"] = path_without_slurm_tools(Path(tools))
        for _ in range(repeats):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "snakemake", "-n", "-q", "-s", str(ROOT / "Snakefile"),
                            "--directory", workdir, "--configfile", str(ROOT / "config/paper.yaml"),
                            "--cores", "2", "--workflow-profile", "none"],
                           check=True, capture_output=True, timeout=600, env=env)
            seconds.append(time.perf_counter() - start)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child", choices=["plain", "workflow"])
    parser.add_argument("--model", default="ResNet50")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=20, help="batches per epoch in the throughput cases")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--images", type=int, default=50_000)
    parser.add_argument("--quick", action="store_true", help="fewer steps and repeats")
    args = parser.parse_args()
    if args.child:
        return child(args)
    if args.quick:
        args.steps, args.epochs = 5, 2
    throughput_images = args.batch * args.steps  # both cases hold only what they train on
    plain = run_child("plain", args, throughput_images)
    flow = run_child("workflow", args, throughput_images)
    cifar = run_child("workflow", argparse.Namespace(**{**vars(args), "steps": 3, "epochs": 1}), 50_000)
    plan = planning_seconds(1 if args.quick else 3, without_slurm_tools=True)
    plan_with_slurm_tools = planning_seconds(1, without_slurm_tools=False)

    results = {
        "model": args.model, "batch": args.batch, "steps": args.steps, "epochs": args.epochs,
        "cpu_count": os.cpu_count(),
        "plain_fit_images_per_s": plain["images_per_s"],
        "workflow_images_per_s": flow["images_per_s"],
        "throughput_ratio": flow["images_per_s"] / plain["images_per_s"],
        "throughput_target": 0.95,
        "paper_grid_dry_run_s": plan, "paper_grid_dry_run_median_s": statistics.median(plan),
        "dry_run_target_s": 5.0,
        "paper_grid_dry_run_with_slurm_tools_on_path_s": plan_with_slurm_tools,
        "cifar_size_training_peak_rss_mb": cifar["peak_rss_mb"],
    }
    rows = [
        ("training throughput, plain model.fit", f"{plain['images_per_s']:.1f} img/s", ""),
        ("training throughput, workflow pipeline", f"{flow['images_per_s']:.1f} img/s", ""),
        ("throughput ratio workflow/plain", f"{results['throughput_ratio']:.3f}", ">= 0.95"),
        ("paper grid dry run (median)", f"{results['paper_grid_dry_run_median_s']:.2f} s", "< 5 s"),
        ("  same, Slurm tools on PATH", f"{plan_with_slurm_tools[0]:.2f} s", ""),
        ("peak RSS, CIFAR-size training job", f"{cifar['peak_rss_mb']:.0f} MB", "report"),
    ]
    print(f"{'measure':42} {'value':>14} {'target':>8}")
    for name, value, target in rows:
        print(f"{name:42} {value:>14} {target:>8}")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "workflow.json").write_text(json.dumps(results, indent=2))
    print(f"wrote {OUT / 'workflow.json'}")


if __name__ == "__main__":
    main()
