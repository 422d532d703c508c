"""Timing noise: two variants of one architecture, timed alternately, must measure alike.

    ./opscore exec python bench/timing_noise.py [--repeats 10] [--rounds 3]

VGG16 (weights=None, 32x32, the default run's model) and the same network with its kernels
clustered to 64 values (the default run's `cluster-k64`: the same architecture and the same
arithmetic, only the weight values differ) predict the same test split (scikit-learn's 540
digits of the default's 70-30 split, upscaled as the workflow does) in alternation: original,
clustered, original, ... after one warm-up pass each, `repeats` passes each per round. The two
medians must agree within 5 % on a quiet machine; the table also shows what the paper's total
over the repeats and the repeat-to-repeat CV make of the same passes, so a stall is visible as
the gap between total and median x repeats. Prints a table and writes bench/out/timing_noise.json.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    from opscore import measure, models, training
    from opscore.compression.clustering import cluster_model
    from opscore.config import DEFAULTS

    training.use_threads(2)
    training.seed_everything(0)
    digits = load_digits()
    images = (digits.images[..., None] * 16).astype("uint8")
    _, x_test, _, y_test = train_test_split(images, digits.target, test_size=0.3, stratify=digits.target,
                                            random_state=0)
    original = models.build_classifier("VGG16", 10, 32, seed=0)
    clustered, _ = cluster_model(original, 64)
    batches, _ = training.in_memory(  # as the evaluate job times them: prepared once, held in memory
        training.make_pipeline(x_test, y_test, models.preprocess_function("VGG16"), 32, 32), len(y_test))
    variants = {"original": original, "cluster-k64": clustered}
    seconds = {name: [] for name in variants}
    for model in variants.values():
        model.predict(batches, verbose=0)  # warm-up, excluded
    for _ in range(args.rounds):
        for _ in range(args.repeats):
            for name, model in variants.items():
                start = time.perf_counter()
                model.predict(batches, verbose=0)
                seconds[name].append(time.perf_counter() - start)

    rows = {name: measure.timing_summary(values, len(y_test), DEFAULTS["measure"]["unstable_cv"]) for name, values in seconds.items()}
    ratio = rows["cluster-k64"]["inference_median_s"] / rows["original"]["inference_median_s"]
    total_ratio = rows["cluster-k64"]["inference_total_s"] / rows["original"]["inference_total_s"]
    print(f"{'variant':<12} {'median s':>9} {'min s':>8} {'total s':>8} {'median x R':>11} {'CV':>7} unstable")
    for name, row in rows.items():
        print(f"{name:<12} {row['inference_median_s']:9.4f} {row['inference_min_s']:8.4f} "
              f"{row['inference_total_s']:8.3f} {row['inference_time_s']:11.3f} {100 * row['inference_cv']:6.1f}% "
              f"{row['timing_unstable']}")
    verdict = "agree" if abs(ratio - 1) <= 0.05 else "DIFFER"
    print(f"cluster-k64 / original: median {ratio:.3f} ({verdict} within 5 %), total {total_ratio:.3f}; "
          f"{len(seconds['original'])} passes each, alternated")
    OUT.mkdir(parents=True, exist_ok=True)
    result = {"repeats": args.repeats, "rounds": args.rounds, "n_test": int(len(y_test)),
              "median_ratio": ratio, "total_ratio": total_ratio, "within_5_percent": abs(ratio - 1) <= 0.05,
              "variants": rows, "seconds": seconds, "context": measure.runtime_context()}
    (OUT / "timing_noise.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
