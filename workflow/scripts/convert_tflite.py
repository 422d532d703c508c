"""Convert the trained original to TFLite (float16, dynamic-range int8 or full int8)."""
import itertools
import json
import time

from opscore.job import start_job, write_atomic

start_job(snakemake)

from opscore.compression.tflite import convert_to_tflite  # noqa: E402
from opscore.data.prepared import load_prepared, sample_shape  # noqa: E402
from opscore.models import build_classifier, pipeline_size, preprocess_function  # noqa: E402
from opscore.training import make_pipeline  # noqa: E402
from opscore.variants import parse_variant  # noqa: E402

wc, params = snakemake.wildcards, snakemake.params
mode = parse_variant(wc.variant).options["mode"]
data = load_prepared(snakemake.input.data)
size = pipeline_size(wc.model, params.input_size)  # None: the model takes images as they are
model = build_classifier(wc.model, len(data["class_names"]), params.input_size, sample_shape=sample_shape(data))
model.load_weights(snakemake.input.checkpoint)
# Representative data for full-integer calibration comes from the training split, never the test split.
train_batches = make_pipeline(data["x_train"], data["y_train"], preprocess_function(wc.model), size,
                              params.batch_size, shuffle=True, seed=int(wc.seed))
representative = [images.numpy() for images, _ in itertools.islice(train_batches, params.representative_batches)]
start = time.perf_counter()
tflite = convert_to_tflite(model, mode, representative if mode == "int8" else None)
seconds = time.perf_counter() - start
write_atomic(snakemake.output.tflite, tflite)
with open(snakemake.output.preparation, "w") as handle:
    json.dump({"technique": "tflite", "mode": mode, "seconds": seconds, "bytes": len(tflite),
               "representative_images": sum(len(batch) for batch in representative)}, handle, indent=2)
print(f"{wc.variant}: {len(tflite)} bytes in {seconds:.1f} s")
