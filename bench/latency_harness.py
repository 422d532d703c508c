"""opscore's latency against a plain LiteRT loop and against MLPerf LoadGen, on the same file.

    ./opscore exec python bench/latency_harness.py [--model EfficientNetB0] [--rounds 5] [--queries 300]

Makes the default run's recommended kind (EfficientNetB0 at 32x32, TFLite dynamic-range int8;
random weights: timing does not depend on them) and times it three ways, each in a fresh process
holding only LiteRT (no TensorFlow), on the same model-ready digits, rounds alternating:

- plain loop: the LiteRT interpreter invoked on one input at a time, perf_counter around invoke
  (what `benchmark_model` does), after 10 warm-up queries;
- LoadGen: MLPerf LoadGen's SingleStream with a minimal system under test (the MLPerf reference
  harness's shape), its own percentiles from the detail log;
- opscore: opscore.benchmark's worker (the same path the workflow's benchmark job takes).

Prints the p50/p90/p99 of each (the median over rounds) and their ratios to the plain loop, with
each round's run-queue wait share (contention), and writes bench/results/latency_harness.json.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"

#: what both plain scripts start with: LiteRT alone, the file, the requests, one thread
SETUP = r"""
import json, sys, time
import numpy as np
from ai_edge_litert.interpreter import Interpreter
from opscore.benchmark import contention
model, inputs, queries = sys.argv[1], sys.argv[2], int(sys.argv[3])
x = np.load(inputs)["x"]
interpreter = Interpreter(model_path=model, num_threads=1)
interpreter.allocate_tensors()
index_in, index_out = interpreter.get_input_details()[0]["index"], interpreter.get_output_details()[0]["index"]
"""

PLAIN = SETUP + r"""
seconds = []
start = contention.snapshot()
for i in range(10 + queries):
    t = time.perf_counter()
    interpreter.set_tensor(index_in, x[i % len(x)][None])
    interpreter.invoke()
    interpreter.get_tensor(index_out)
    if i >= 10:
        seconds.append(time.perf_counter() - t)
ms = 1000 * np.percentile(seconds, [50, 90, 99])
print(json.dumps({"p50": ms[0], "p90": ms[1], "p99": ms[2],
                  "wait_share": contention.between(start, contention.snapshot(), 0.05)["wait_share"]}))
"""

LOADGEN = SETUP + r"""
import array, tempfile
import mlperf_loadgen as lg
from opscore.benchmark import loadgen
response = array.array("B", bytes(4)); pointer = response.buffer_info()[0]
def predict(i):
    interpreter.set_tensor(index_in, x[i][None]); interpreter.invoke(); interpreter.get_tensor(index_out)
for i in range(10):
    predict(i)
def issue(samples):
    for s in samples:
        predict(s.index)
        lg.QuerySamplesComplete([lg.QuerySampleResponse(s.id, pointer, 4)])
sut = lg.ConstructSUT(issue, lambda: None)
qsl = lg.ConstructQSL(len(x), len(x), lambda s: None, lambda s: None)
settings = lg.TestSettings()
settings.scenario, settings.mode = lg.TestScenario.SingleStream, lg.TestMode.PerformanceOnly
settings.min_query_count, settings.min_duration_ms = queries, 0
settings.single_stream_expected_latency_ns = 100_000
log = lg.LogSettings()
log.log_output.outdir = tempfile.mkdtemp(); log.log_output.copy_summary_to_stdout = False; log.enable_trace = False
start = contention.snapshot()
lg.StartTestWithLogSettings(sut, qsl, settings, log)
wait = contention.between(start, contention.snapshot(), 0.05)["wait_share"]
detail = loadgen.read_detail_log(log.log_output.outdir + "/mlperf_log_detail.txt")
print(json.dumps({**{f"p{q}": detail[f"result_{q}.00_percentile_latency_ns"] / 1e6 for q in (50, 90, 99)},
                  "wait_share": wait}))
"""


def make_model(model_name: str, folder: Path) -> tuple[Path, Path]:
    """The TFLite file and model-ready inputs (the default split's test digits, as the workflow prepares them)."""
    from sklearn.datasets import load_digits

    from opscore.compression.tflite import convert_to_tflite
    from opscore.measure.quality import save_model_inputs
    from opscore.models.applications import build_classifier, pipeline_size, preprocess_function
    from opscore.models.training import make_pipeline

    digits = load_digits()
    images = (digits.images[-540:] * 255 / 16).astype("uint8")[..., None]
    model = build_classifier(model_name, 10, 32, sample_shape=(8, 8, 1))
    (folder / "model.tflite").write_bytes(convert_to_tflite(model, "dynamic"))
    batches = make_pipeline(images, digits.target[-540:], preprocess_function(model_name),
                            pipeline_size(model_name, 32), 32)
    save_model_inputs(folder / "inputs.npz", batches, 540, 540, n_classes=10, input_size=32, sample_shape=[8, 8, 1])
    return folder / "model.tflite", folder / "inputs.npz"


def run_script(code: str, *args) -> dict:
    out = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def opscore_round(model: Path, inputs: Path, queries: int, folder: Path, model_name: str) -> dict:
    from opscore.benchmark.loadgen import Settings
    from opscore.benchmark.rounds import Candidate, Protocol, benchmark
    from opscore.runtimes import ModelInfo

    identity = dict(dataset="digits", split="70-30", seed=0, model=model_name, variant="tflite-dynamic", unfreeze="all")
    candidate = Candidate(identity, "litert", str(model), ModelInfo("tflite-dynamic", model_name, 10, 32, (8, 8, 1)),
                          str(inputs))
    protocol = Protocol(rounds=1, batch_size=32, threads=1, loadgen=Settings(queries, 0.0, 0.1, 32),
                        max_wait_share=0.05, unstable_cv=0.1, max_workers=1, processes=1, seed=0)
    summary, rounds, _ = benchmark([candidate], protocol, folder / "opscore", log=lambda message: None)
    row = summary.iloc[0]
    return {"p50": row["latency_p50_ms"], "p90": row["latency_p90_ms"], "p99": row["latency_p99_ms"],
            "wait_share": float(rounds["wait_share"].iloc[0]), "harness_p50_us": row["harness_latency_p50_us"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="EfficientNetB0")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="latency_harness."))
    model, inputs = make_model(args.model, folder)
    ways = {"plain LiteRT loop": lambda: run_script(PLAIN, model, inputs, args.queries),
            "MLPerf LoadGen": lambda: run_script(LOADGEN, model, inputs, args.queries),
            "opscore benchmark": lambda: opscore_round(model, inputs, args.queries, folder, args.model)}
    rng, rounds = np.random.default_rng(0), {name: [] for name in ways}
    for _ in range(args.rounds):
        for index in rng.permutation(len(ways)):
            name = list(ways)[index]
            rounds[name].append(ways[name]())
    summary = {name: {q: float(np.median([r[q] for r in results])) for q in ("p50", "p90", "p99", "wait_share")}
               for name, results in rounds.items()}
    plain = summary["plain LiteRT loop"]
    print(f"{args.model} tflite-dynamic, {model.stat().st_size / 1e6:.2f} MB, 1 thread, {args.queries} queries a round, "
          f"median of {args.rounds} rounds")
    print(f"{'harness':<20} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'p50 / plain':>12} {'wait share':>11}")
    for name, row in summary.items():
        print(f"{name:<20} {row['p50']:8.3f} {row['p90']:8.3f} {row['p99']:8.3f} {row['p50'] / plain['p50']:12.3f} "
              f"{row['wait_share']:11.1%}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    result = {"model": args.model, "variant": "tflite-dynamic", "bytes": model.stat().st_size, "rounds": rounds,
              "summary": summary, "queries": args.queries, "threads": 1}
    (RESULTS / "latency_harness.json").write_text(json.dumps(result, indent=2))
    print(f"wrote {RESULTS / 'latency_harness.json'}")


if __name__ == "__main__":
    main()
