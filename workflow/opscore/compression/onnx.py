"""ONNX export of a Keras variant (tf2onnx) and ONNX Runtime's int8 quantizations: ``dynamic`` (int8
weights, activations quantized on the fly) and ``static`` (int8 weights and activations in QDQ
format, calibrated on training batches). The files run in ONNX Runtime (opscore.runtimes.onnx).
Each records its opset and how far its probabilities are from the Keras model it came from."""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from opscore.kinds.registry import NotApplicable

#: the ONNX opset exported to (tf2onnx tests 14-18; static per-channel QDQ needs 13 or later)
OPSET = 17
#: training batches static quantization calibrates its activation ranges on
CALIBRATION_BATCHES = 8
#: the operators static quantization quantizes (their inputs and weights): the ones with weights.
#: Not the rest: quantizing a table model's input standardization (Sub, Mul on raw columns of very
#: different scales) with one int8 scale took A2E on the breast-cancer table from 99 % to 73 %
#: argmax agreement with Keras (as in opscore.compression.tflite)
WEIGHTED_OPS = ("Conv", "MatMul", "Gemm")


def export(model) -> bytes:
    """The ONNX model of a Keras model (any batch size), serialized. A model tf2onnx cannot
    convert raises NotApplicable with tf2onnx's reason: its error, or the TensorFlow operators it
    has no ONNX operator for (which it leaves in the graph, logged, and which no runtime runs)."""
    import tf2onnx

    from opscore.tf import tf

    spec = (tf.TensorSpec((None, *model.input_shape[1:]), model.inputs[0].dtype, name="input"),)
    try:
        proto, _ = tf2onnx.convert.from_keras(model, input_signature=spec, opset=OPSET)
    except Exception as error:  # tf2onnx raises whatever its handlers raise
        raise NotApplicable(f"tf2onnx cannot convert it: {type(error).__name__}: {error}") from error
    if unsupported := sorted(_unsupported(proto.graph)):
        raise NotApplicable(f"tf2onnx cannot convert it: TensorFlow op(s) {', '.join(unsupported)} not supported "
                            f"(no ONNX operator at opset {OPSET})")
    return proto.SerializeToString()


def _unsupported(graph) -> set[str]:
    """The standard-domain operators of ``graph`` and its subgraphs that ONNX does not define."""
    import onnx

    found = set()
    for node in graph.node:
        if node.domain in ("", "ai.onnx") and not onnx.defs.has(node.op_type):
            found.add(node.op_type)
        for attribute in node.attribute:
            for subgraph in [*attribute.graphs, *([attribute.g] if attribute.HasField("g") else [])]:
                found |= _unsupported(subgraph)
    return found


def quantize(exported: bytes, mode: str, calibration: list | None = None) -> bytes:
    """``exported`` quantized by ONNX Runtime: ``dynamic`` (int8 weights) or ``static`` (int8
    weights and activations, QDQ, per-channel weights, ranges from ``calibration``)."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        quant_pre_process,
        quantize_dynamic,
        quantize_static,
    )

    with tempfile.TemporaryDirectory() as tmp:
        source, prepared, output = (Path(tmp) / f"{name}.onnx" for name in ("exported", "prepared", "quantized"))
        source.write_bytes(exported)
        # shapes inferred and the graph optimized (batch norm folded into convolutions), as advised
        # (symbolic shape inference is for transformers and needs sympy)
        quant_pre_process(source, prepared, skip_symbolic_shape=True)
        model = onnx.load(prepared)
        if mode == "dynamic":
            quantize_dynamic(model, output)
        else:
            if not calibration:
                raise ValueError("static ONNX quantization needs calibration batches of the train split")
            feeds = iter([{model.graph.input[0].name: np.asarray(batch, dtype=np.float32)} for batch in calibration])

            class Batches(CalibrationDataReader):
                def get_next(self) -> dict | None:
                    return next(feeds, None)

            quantize_static(model, output, Batches(), quant_format=QuantFormat.QDQ, per_channel=True,
                            op_types_to_quantize=list(WEIGHTED_OPS))
        return output.read_bytes()


def fidelity(model, exported: bytes, batches: list) -> dict:
    """How far the ONNX model's class probabilities are from the Keras model's on ``batches``
    (model-ready inputs, no labels): the largest absolute difference and the share of equal argmax."""
    from opscore.runtimes.onnx import Session

    session, dtype = Session(exported, threads=1), model.inputs[0].dtype.name
    keras = np.concatenate([model(np.asarray(batch, dtype=dtype), training=False).numpy() for batch in batches])
    served = np.concatenate([session.predict(batch) for batch in batches]).astype(keras.dtype)
    return {"fidelity_max_abs_diff": float(np.max(np.abs(keras - served))),
            "fidelity_argmax_agreement": float(np.mean(keras.argmax(axis=1) == served.argmax(axis=1))),
            "fidelity_inputs": len(keras)}


def make(model, variant, job):
    """The ``onnx``, ``onnx-dynamic`` or ``onnx-static`` variant (registry: opscore.kinds.registry): the
    ONNX file's bytes; its opset and its fidelity to ``model`` on the test split's inputs go to the
    variant's row."""
    import onnx

    mode = variant.options.get("mode")
    exported = export(model)
    calibration = job.calibration(CALIBRATION_BATCHES) if mode == "static" else None
    derived = quantize(exported, mode, calibration) if mode else exported
    opset = next(entry.version for entry in onnx.load_from_string(derived).opset_import if entry.domain in ("", "ai.onnx"))
    row = {"onnx_opset": int(opset), **fidelity(model, derived, job.test_inputs())}
    return derived, {"row": row, "calibration_inputs": sum(len(batch) for batch in calibration or [])}, pd.DataFrame()
