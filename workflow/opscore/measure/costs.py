"""What a variant costs in theory, beside what it measured: FLOPs, parameter memory, speed-ups.

FLOPs per inference are counted from the model's graph for one input (batch 1) by TensorFlow's
profiler (``tf.compat.v1.profiler``, the ``float_operation`` view), whose convention is the
common one: a multiply-accumulate is 2 FLOPs (a dense layer of n inputs and m units: 2·n·m, plus
m for its bias), and element-wise operations count one per element. A pruned model has fewer
FLOPs; an int8 or float16 model has the same FLOPs as its float32 original (only cheaper ones),
and a clustered or magnitude-pruned one too (same shapes, more equal or zero values): so the
theoretical speed-up from FLOPs beside the measured one tells a reader why a variant is, or is
not, faster.
"""
from __future__ import annotations

import numpy as np
import pandas as pd


def count_flops(model) -> int:
    """FLOPs of one forward pass of ``model`` on one input (batch 1), by TensorFlow's profiler."""
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2_as_graph

    from opscore.tf import tf

    spec = tf.TensorSpec([1, *model.input_shape[1:]], model.inputs[0].dtype)
    concrete = tf.function(lambda x: model(x, training=False)).get_concrete_function(spec)
    _, graph_def = convert_variables_to_constants_v2_as_graph(concrete)
    with tf.Graph().as_default() as graph:
        tf.graph_util.import_graph_def(graph_def, name="")
        options = (tf.compat.v1.profiler.ProfileOptionBuilder(tf.compat.v1.profiler.ProfileOptionBuilder.float_operation())
                   .with_empty_output().build())
        profile = tf.compat.v1.profiler.profile(graph=graph, run_meta=tf.compat.v1.RunMetadata(), cmd="op",
                                                options=options)
    return int(profile.total_float_ops)


def count_flops_or_nan(model) -> float:
    """:func:`count_flops`, or NaN with the reason printed (to the job's log) where the profiler
    cannot trace a model: a missing cost is shown as missing, and the measurement still stands."""
    try:
        return float(count_flops(model))
    except Exception as error:  # noqa: BLE001 - any tracing failure
        print(f"FLOPs not counted: {type(error).__name__}: {error}", flush=True)
        return float("nan")


def parameter_bytes(model) -> int:
    """Bytes the parameters take in memory, each in its own dtype (float16: 2, int8: 1)."""
    return int(sum(np.asarray(weight).nbytes for weight in model.get_weights()))


#: what identifies the original a variant is compared with
_RUN = ["dataset", "model", "unfreeze", "split", "seed"]


def speedups(table: pd.DataFrame) -> pd.DataFrame:
    """``flops_speedup`` (original FLOPs / variant FLOPs) and ``measured_speedup`` (original
    batch-1 p50 latency / variant's, else inference time) per variant, against the ``original``
    of the same run; NaN where the run has no original."""
    keys = [c for c in _RUN if c in table.columns]
    time_column = "latency_p50_ms" if "latency_p50_ms" in table.columns else "inference_time_s"
    columns = [c for c in ("flops", time_column) if c in table.columns]
    out = table.copy()
    originals = table.loc[table["variant"] == "original", keys + columns].drop_duplicates(keys)
    merged = out[keys].merge(originals.rename(columns={c: f"_original_{c}" for c in columns}), on=keys, how="left")
    merged.index = out.index
    if "flops" in columns:
        out["flops_speedup"] = merged["_original_flops"] / out["flops"].astype(float)
    if time_column in columns:
        out["measured_speedup"] = merged[f"_original_{time_column}"] / out[time_column].astype(float)
    return out
