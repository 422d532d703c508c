"""Benchmark: compression rates of accuracy-aware structured filter pruning on the real CIFAR-10.

Lee et al., "Efficient Layer Optimizations for Deep Neural Networks", report that accuracy-aware
structured filter pruning plus quantization of the fully connected layers made AlexNet's
parameters up to 47.28x and VGG16's up to 35.21x smaller. This benchmark measures what
opscore's implementation (opscore.filters.accuracy_aware_filter_pruning) reaches on the real
CIFAR-10 (/work/shared/data/cifar10-jpeg.tar.gz, read with opscore.data.load_image_folder):

  for each model (AlexNet for 32x32 from opscore.models.scratch; keras.applications VGG16 with
  weights=None + opscore's head, since ImageNet weights cannot be downloaded here):
    1. train the original from scratch on a stratified subset of the TRAIN split;
    2. measure every convolution's sensitivity once (remove --ratio of its filters alone) on a
       10 % stratified held-out slice of that train subset, never on the test split (as
       opscore/jobs/derivation.py does);
    3. prune within --budget accuracy points (judged on the held-out slice), fine-tuning each
       step on a subset of the fit images:
         - sensitivity order (least sensitive layer first),
         - input-to-output order (the naive order, for comparison),
         - filters and hidden dense units in one sensitivity-ordered search, with the Dense layers
           stored at 4 bits first and the pruned convolutions at 8 or 4 bits last (packed; both
           quantization steps are judged against the budget too);
    4. report, on a stratified subset of the TEST split: accuracy of original and pruned models,
       parameter ratio, parameter storage in bits (Lee et al.'s "parameter size"), weights-file
       ratio (HDF5 bytes), deflate-compressed ratio, inference time per image before/after, and
       the pruning order used.

The machine has 2 CPU cores, no GPU, and is shared; the defaults (10,000 train / 2,000 test
images, 8 epochs for AlexNet, 4 for VGG16) finish in about 25-35 minutes. The paper pruned
fully trained (pretrained) networks trained on the whole data set, so the numbers here are
indicative only: the originals are under-trained, and the per-step fine-tuning is also extra
training for them.

    ./opscore exec python bench/pruning_cifar10.py
    ./opscore exec python bench/pruning_cifar10.py --models AlexNet --epochs 8 --budget 1
    ./opscore exec python bench/pruning_cifar10.py --epochs AlexNet=8,VGG16=4 --rounds AlexNet=2,VGG16=2

Per-model flags (--epochs, --learning-rate, --rounds) take one value for every model or
MODEL=VALUE pairs separated by commas. Writes bench/out/pruning_cifar10.json (or --out),
rewritten after each model so a partial run keeps what it finished.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = Path("/work/shared/data/cifar10-jpeg.tar.gz")

#: Lee et al.'s anchors: parameters "up to N x smaller" with filter pruning + FC quantization.
PAPER = {"AlexNet": 47.28, "VGG16": 35.21}
#: --on-rejection, as the report says it
REJECTION = {"stop": "ends the search", "skip": "skips that layer",
             "halve": "is tried again on that layer removing half as many, down to one"}

DEFAULTS = {
    "epochs": "AlexNet=8,VGG16=4",
    "learning_rate": "AlexNet=1e-3,VGG16=1e-4",  # VGG16 has no batch norm: from scratch it needs 1e-4
    "rounds": "AlexNet=2,VGG16=1",
}

RUNS = (  # label, order, dense storage, convolution storage, what is pruned
    ("sensitivity", "sensitivity", None, None, ("filters",)),
    ("input-to-output", "input-to-output", None, None, ("filters",)),
    ("sens+u+q4+c8", "sensitivity", "int4", "int8", ("filters", "units")),
    ("sens+u+q4+c4", "sensitivity", "int4", "int4", ("filters", "units")),
)


def per_model(text: str, models: list[str], cast):
    """'5' -> every model 5; 'AlexNet=5,VGG16=3' -> per model (models not named keep the default)."""
    text = str(text).strip()
    if "=" not in text:
        return {m: cast(text) for m in models}
    values = {}
    for part in text.split(","):
        name, _, value = part.partition("=")
        values[name.strip()] = cast(value)
    return values


def resolve(flag: str, given: str | None, models: list[str], cast) -> dict:
    values = per_model(DEFAULTS[flag], models, cast)
    if given is not None:
        values.update(per_model(given, models, cast))
    missing = [m for m in models if m not in values]
    if missing:
        raise SystemExit(f"--{flag.replace('_', '-')}: no value for {', '.join(missing)}")
    return {m: values[m] for m in models}


def clean(value):
    """JSON-safe: numpy scalars/arrays to Python, NaN/inf to None."""
    import numpy as np

    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if isinstance(value, np.ndarray):
        return [clean(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def records(frame) -> list[dict]:
    frame = frame.copy()
    frame.attrs = {}
    return clean(frame.to_dict("records"))


def stratified_subset(x, y, n: int, seed: int):
    """n images with the class proportions of y (all of them if n >= len(y))."""
    from sklearn.model_selection import train_test_split

    if n >= len(y):
        return x, y
    _, x_sub, _, y_sub = train_test_split(x, y, test_size=n, stratify=y, random_state=seed)
    return x_sub, y_sub


def paired_timing(original, pruned, data, repeats: int):
    """Inference time of the original and the pruned model measured side by side: one warm-up
    predict each (their outputs give the accuracies), then `repeats` rounds timing the original
    and then the pruned model, so both see the same machine load (the cores are shared)."""
    load = os.getloadavg()[0]
    p_original = original.predict(data, verbose=0)
    p_pruned = pruned.predict(data, verbose=0)
    seconds = {"original": [], "pruned": []}
    for _ in range(repeats):
        for key, model in (("original", original), ("pruned", pruned)):
            start = time.perf_counter()
            model.predict(data, verbose=0)
            seconds[key].append(time.perf_counter() - start)
    return p_original, p_pruned, seconds, load


def bench_model(name: str, data: dict, args, epochs: int, learning_rate: float, rounds: int) -> dict:
    import numpy as np
    from sklearn.model_selection import train_test_split

    from opscore.compression import evaluation, filters
    from opscore.config import DEFAULTS as CONFIG_DEFAULTS
    from opscore.measure.context import timing_summary
    from opscore.models import training
    from opscore.models.applications import build_classifier, preprocess_function, set_batchnorm_momentum, unfreeze_top
    from opscore.tf import keras

    seed = args.seed
    started = time.perf_counter()
    training.seed_everything(seed)
    preprocess = preprocess_function(name)
    x_train, y_train = data["x_train"], data["y_train"]
    x_test, y_test = data["x_test"], data["y_test"]
    # As in opscore/jobs/derivation.py: a 10 % stratified held-out slice of the TRAIN data
    # judges sensitivities and the budget; the test split is only used for the final report.
    x_fit, x_check, y_fit, y_check = train_test_split(x_train, y_train, test_size=args.held_out, stratify=y_train,
                                                      random_state=seed)
    x_tune, y_tune = stratified_subset(x_fit, y_fit, args.fine_tune_images, seed)
    bs = args.batch_size
    train_data = training.epoch_pipelines(x_fit, y_fit, preprocess, 32, bs, seed=seed)
    check_data = training.make_pipeline(x_check, y_check, preprocess, 32, bs)
    tune_data = training.make_pipeline(x_tune, y_tune, preprocess, 32, bs, shuffle=True, seed=seed)
    test_data = training.make_pipeline(x_test, y_test, preprocess, 32, bs)

    def held_out_accuracy(model) -> float:
        return float(np.mean(model.predict(check_data, verbose=0).argmax(axis=1) == y_check))

    print(f"\n=== {name}: training from scratch on {len(y_fit)} images, {epochs} epochs, "
          f"Adam lr {learning_rate}, batch {bs} ===", flush=True)
    model = build_classifier(name, len(data["class_names"]), 32, seed=seed)
    bn = set_batchnorm_momentum(model, 0.9)  # as the workflow's default config for training from scratch
    unfreeze_top(model, "all")
    history = training.train_classifier(model, train_data, check_data, epochs, learning_rate)
    train_seconds = float(history["epoch_seconds"].sum())

    original = {
        "test_accuracy": float(np.mean(model.predict(test_data, verbose=0).argmax(axis=1) == y_test)),
        "held_out_accuracy": held_out_accuracy(model),
        "params": int(model.count_params()),
        "train_seconds": train_seconds,
        "history": records(history),
        "batchnorm_layers_momentum_0_9": bn,
    }
    print(f"{name} original: test accuracy {original['test_accuracy']:.4f}, held-out "
          f"{original['held_out_accuracy']:.4f}, {original['params']:,} params", flush=True)

    t0 = time.perf_counter()
    sensitivity = filters.layer_sensitivity(model, held_out_accuracy, ratio=args.ratio,
                                            baseline=original["held_out_accuracy"])
    sensitivity_seconds = time.perf_counter() - t0
    # filters and hidden dense units in one table, ordered together (the -u variants)
    units_sensitivity = filters.layer_sensitivity(model, held_out_accuracy, ratio=args.ratio,
                                                  baseline=original["held_out_accuracy"], targets=("filters", "units"))
    print(sensitivity[["layer", "filters", "pruned", "accuracy", "drop"]].to_string(index=False), flush=True)

    fine_tune = (evaluation.fine_tuner(tune_data, epochs=args.fine_tune_epochs,
                                       learning_rate=args.fine_tune_learning_rate or learning_rate)
                 if args.fine_tune_epochs else None)
    runs = []
    for label, order, quantize, quantize_conv, targets in [run for run in RUNS if run[0] in args.runs.get(name, args.runs["*"])]:
        keras.utils.set_random_seed(seed)  # each run starts from the same random state
        t0 = time.perf_counter()
        pruned, report = filters.accuracy_aware_filter_pruning(
            model, held_out_accuracy, budget=args.budget / 100, ratio=args.ratio, order=order,
            fine_tune_fn=fine_tune, rounds=rounds, quantize=quantize, quantize_conv=quantize_conv,
            sensitivity=sensitivity if targets == ("filters",) else units_sensitivity,
            stop_at_first_rejection=args.on_rejection == "stop", targets=targets,
            halve_rejected=args.on_rejection == "halve")
        prune_seconds = time.perf_counter() - t0
        p_original, probabilities, seconds, load = paired_timing(model, pruned, test_data, args.repeats)
        unstable_cv = CONFIG_DEFAULTS["measure"]["unstable_cv"]
        timing = timing_summary(seconds["pruned"], len(y_test), unstable_cv)
        timing_original = timing_summary(seconds["original"], len(y_test), unstable_cv)
        compression = evaluation.compression_rate(model, pruned)
        accepted = report[report["accepted"]]
        run = {
            "run": label,
            "order_mode": order,
            "quantize": quantize,
            "order": list(report.attrs["order"]),
            "targets": list(targets),
            "accepted_steps": [(row.action if row.action not in ("prune-filters", "prune-units") else row.layer)
                               for row in accepted.itertuples()],
            "quantize_conv": quantize_conv,
            "quantized": bool(quantize) and bool((accepted["action"] == f"quantize-dense-{quantize}").any()),
            "quantized_conv": bool(quantize_conv) and bool((accepted["action"] == f"quantize-conv-{quantize_conv}").any()),
            "plan": clean(report.attrs["plan"]),
            "filters": {layer.name: int(layer.filters) for layer in pruned.layers if hasattr(layer, "filters")},
            "units": {layer.name: int(layer.units) for layer in pruned.layers if hasattr(layer, "units")},
            "test_accuracy": float(np.mean(probabilities.argmax(axis=1) == y_test)),
            "held_out_accuracy": held_out_accuracy(pruned),
            **compression,
            **{f"original_{k}": v for k, v in timing_original.items()},
            **{f"pruned_{k}": v for k, v in timing.items()},
            "speedup": timing_original["inference_median_s"] / timing["inference_median_s"],
            "load_1min_at_timing": load,
            "prune_seconds": prune_seconds,
            "steps": records(report),
        }
        run["test_accuracy_drop"] = original["test_accuracy"] - run["test_accuracy"]
        runs.append(run)
        print(f"{name} {label}: test accuracy {run['test_accuracy']:.4f}, params {compression['params_ratio']:.2f}x, "
              f"bits {compression['bits_ratio']:.2f}x, "
              f"file {compression['bytes_ratio']:.2f}x, compressed {compression['compressed_bytes_ratio']:.2f}x, "
              f"{timing_original['inference_ms_per_image']:.3f} -> {timing['inference_ms_per_image']:.3f} ms/image, accepted {run['accepted_steps']} "
              f"({prune_seconds:.0f} s)", flush=True)
        del pruned
    control = fine_tuned_control(model, fine_tune, runs, lambda m: float(np.mean(
        m.predict(test_data, verbose=0).argmax(axis=1) == y_test)))
    return {
        "model": name,
        "control": control,
        "builder": ("opscore.models.scratch.build_alexnet (32x32 AlexNet, BN, dense 1024)" if name == "AlexNet"
                    else f"keras.applications.{name}(weights=None) + GlobalAveragePooling + softmax head_dense"),
        "epochs": epochs, "learning_rate": learning_rate, "rounds": rounds,
        "n_fit": int(len(y_fit)), "n_held_out": int(len(y_check)), "n_fine_tune": int(len(y_tune)),
        "n_test": int(len(y_test)),
        "original": original,
        "sensitivity": records(sensitivity),
        "sensitivity_seconds": sensitivity_seconds,
        "runs": runs,
        "paper_params_ratio": PAPER.get(name),
        "seconds": time.perf_counter() - started,
    }


def fine_tuned_control(model, fine_tune, runs: list[dict], test_accuracy) -> dict | None:
    """The original fine-tuned as often as the longest search fine-tuned its candidates, unpruned:
    what the extra training alone gives an under-trained original, so a pruned model's accuracy
    can be compared with it as well as with the original."""
    from opscore.models.graph import copy_model

    steps = max((sum(1 for step in run["steps"] if step["action"] in ("prune-filters", "prune-units"))
                 for run in runs), default=0)
    if fine_tune is None or steps == 0:
        return None
    control = copy_model(model)
    for _ in range(steps):
        control = fine_tune(control) or control
    return {"fine_tune_passes": steps, "test_accuracy": test_accuracy(control)}


def table(results: list[dict]) -> str:
    header = (f"{'model':8} {'run':17} {'test acc orig->pruned':>22} {'params x':>9} {'bits x':>7} {'file x':>7} "
              f"{'deflate x':>9} {'ms/img orig->pruned':>20}  {'paper':>7}  pruning order (accepted steps)")
    lines = [header, "-" * len(header)]
    for result in results:
        o = result["original"]
        for run in result["runs"]:
            paper = f"{result['paper_params_ratio']:.2f}x" if result.get("paper_params_ratio") else "-"
            steps = ", ".join(run["accepted_steps"]) or "(none accepted)"
            lines.append(
                f"{result['model']:8} {run['run']:17} "
                f"{o['test_accuracy']:>10.4f} -> {run['test_accuracy']:<8.4f} "
                f"{run['params_ratio']:>9.2f} {run['bits_ratio']:>7.2f} {run['bytes_ratio']:>7.2f} "
                f"{run['compressed_bytes_ratio']:>9.2f} "
                f"{run['original_inference_ms_per_image']:>9.3f} -> {run['pruned_inference_ms_per_image']:<7.3f}  {paper:>7}  "
                f"{run['order_mode']}: {steps}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--models", default="AlexNet,VGG16", help="comma-separated (AlexNet, VGG16)")
    parser.add_argument("--train-images", type=int, default=10_000, help="stratified subset of the train split")
    parser.add_argument("--test-images", type=int, default=2_000, help="stratified subset of the test split")
    parser.add_argument("--held-out", type=float, default=0.1,
                        help="share of the train subset held out to judge sensitivities and the budget")
    parser.add_argument("--epochs", default=None, help=f"training epochs (default {DEFAULTS['epochs']})")
    parser.add_argument("--learning-rate", default=None, help=f"Adam lr (default {DEFAULTS['learning_rate']})")
    parser.add_argument("--rounds", default=None, help=f"pruning passes over the layers (default {DEFAULTS['rounds']})")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--budget", type=float, default=2.0, help="allowed held-out accuracy drop, in points")
    parser.add_argument("--ratio", type=float, default=0.5, help="share of a layer's filters removed per step")
    parser.add_argument("--on-rejection", choices=["stop", "skip", "halve"], default="skip",
                        help="a step past the budget ends the search (stop), skips that layer (skip), or is "
                             "tried again on that layer with half as many removed, down to one (halve)")
    parser.add_argument("--fine-tune-epochs", type=int, default=1, help="after each pruning step (0: none)")
    parser.add_argument("--fine-tune-learning-rate", type=float, default=None,
                        help="Adam lr of those epochs (default: the model's training rate; a well-trained original "
                             "fine-tuned on a small subset at that rate loses more than the pruning costs)")
    parser.add_argument("--fine-tune-images", type=int, default=1_000, help="stratified subset of the fit images")
    parser.add_argument("--repeats", type=int, default=3,
                        help="timed inference passes over the test subset, per model, original and pruned alternating")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs", default=",".join(run[0] for run in RUNS),
                        help="which searches, for every model (a,b) or per model (MODEL=a/b;MODEL=c); labels: "
                             + ", ".join(run[0] for run in RUNS))
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "pruning_cifar10.json")
    args = parser.parse_args()
    if "=" in args.runs:
        args.runs = {model: labels.split("/") for model, labels in (part.split("=") for part in args.runs.split(";"))}
        args.runs.setdefault("*", [])
    else:
        args.runs = {"*": args.runs.split(",")}

    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in models if m not in PAPER]
    if unknown:
        raise SystemExit(f"--models: unknown {', '.join(unknown)}; this benchmark covers {', '.join(PAPER)}")
    epochs = resolve("epochs", args.epochs, models, int)
    rates = resolve("learning_rate", args.learning_rate, models, float)
    rounds = resolve("rounds", args.rounds, models, int)

    from opscore.data.folders import load_image_folder
    from opscore.measure.context import runtime_context
    from opscore.models import training

    training.use_threads(args.threads)
    wall = time.perf_counter()
    t0 = time.perf_counter()
    full = load_image_folder(args.data)
    load_seconds = time.perf_counter() - t0
    x_train, y_train = stratified_subset(full["x_train"], full["y_train"], args.train_images, args.seed)
    x_test, y_test = stratified_subset(full["x_test"], full["y_test"], args.test_images, args.seed)
    data = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test,
            "class_names": full["class_names"]}
    n_full = (len(full["y_train"]), len(full["y_test"]))
    del full
    n_fit = len(y_train) - math.ceil(args.held_out * len(y_train))
    setup = (f"CIFAR-10 ({args.data.name}, JPEG re-encoding of the official set, loaded in {load_seconds:.0f} s): "
             f"stratified subsets of {len(y_train):,} of {n_full[0]:,} train images "
             f"(~{n_fit:,} fit + {len(y_train) - n_fit:,} held out to judge sensitivities and the budget) and "
             f"{len(y_test):,} of {n_full[1]:,} test images (accuracy reported on these only). Trained from "
             f"scratch: " + ", ".join(f"{m} {epochs[m]} epochs at Adam lr {rates[m]:g}" for m in models)
             + f", batch {args.batch_size}. Pruning: budget {args.budget:g} accuracy points on the held-out "
             f"slice, ratio {args.ratio:g} of a layer's filters per step, rounds "
             + ", ".join(f"{m}={rounds[m]}" for m in models)
             + ", a rejected step " + REJECTION[args.on_rejection]
             + f", {args.fine_tune_epochs} fine-tune epoch(s) after each step on {args.fine_tune_images:,} fit "
             f"images. Inference time: median of {args.repeats} timed predict passes over the test subset "
             f"(after a warm-up), original and pruned timed alternately in each run, batch {args.batch_size}, {args.threads} threads, on a shared 2-core CPU.")
    caveat = ("Indicative only: Lee et al. pruned pretrained / fully trained networks trained on the full data "
              "set; here the originals are trained from scratch for a few epochs on a subset (under-trained), so "
              "the budget is measured against a weak baseline, the per-step fine-tuning is extra training for them, "
              "and the held-out slice is small (accuracy noise of about 1.5 points). VGG16 here is the "
              "keras.applications convolutional base with weights=None + global average pooling + one softmax "
              "layer (no 4096-unit FC layers), so int8 quantization of the dense layers barely changes its size; "
              "AlexNet is the 32x32 variant of opscore.models.scratch (dense 1024).")
    print(setup + "\n" + caveat, flush=True)

    output = {
        "benchmark": "accuracy-aware structured filter pruning on CIFAR-10 (bench/pruning_cifar10.py)",
        "setup": setup,
        "caveat": caveat,
        "paper": {"source": "Lee et al., Efficient Layer Optimizations for Deep Neural Networks",
                  "params_ratio": PAPER,
                  "method": "accuracy-aware structured filter pruning + FC quantization, fully trained models"},
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
                  | {"epochs": epochs, "learning_rate": rates, "rounds": rounds,
                     "train_images_used": int(len(y_train)), "test_images_used": int(len(y_test)),
                     "full_train_images": int(n_full[0]), "full_test_images": int(n_full[1])},
        "context": {**runtime_context(), "load_1min_at_start": os.getloadavg()[0],
                    "platform": platform.platform()},
        "results": [],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for name in models:
        output["results"].append(bench_model(name, data, args, epochs[name], rates[name], rounds[name]))
        output["wall_seconds"] = time.perf_counter() - wall
        output["table"] = table(output["results"])
        args.out.write_text(json.dumps(clean(output), indent=2) + "\n")
    print("\n" + setup + "\n" + caveat + "\n")
    print("Ratios are original / pruned (47.28 = 47.28x smaller, the paper's unit); 'file' = HDF5 weights "
          "file bytes, 'deflate' = that file zlib-compressed. 'paper' = Lee et al.'s parameter ratio.")
    print(output["table"])
    for result in output["results"]:
        control = result.get("control")
        if control:
            print(f"{result['model']}: the original fine-tuned {control['fine_tune_passes']} times without pruning "
                  f"(the control): test accuracy {result['original']['test_accuracy']:.4f} -> "
                  f"{control['test_accuracy']:.4f}")
    print(f"\nwall time {output['wall_seconds'] / 60:.1f} min; wrote {args.out}")


if __name__ == "__main__":
    main()
