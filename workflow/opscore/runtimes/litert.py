"""LiteRT (``ai_edge_litert``, the maintained runtime that replaces ``tf.lite.Interpreter``, the one
a device runs): TFLite flatbuffers loaded and invoked. Imports numpy and LiteRT only, never
TensorFlow, so a measuring process holds just what a device would."""
from __future__ import annotations

import numpy as np
from ai_edge_litert.interpreter import Interpreter

NAME = "litert"
#: the distribution recorded beside every timing
PACKAGE = "ai-edge-litert"


def version() -> str:
    from importlib.metadata import version as package_version

    return package_version(PACKAGE)


#: the operators whose second input is a weight tensor (a kernel)
_KERNEL_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "CONV_3D", "TRANSPOSE_CONV")


class TFLitePredictor:
    """One LiteRT interpreter reused across calls: ``predict(batches)`` returns the class
    probabilities of all batches (float32 numpy arrays of any batch size), stacked."""

    def __init__(self, tflite_model: bytes, threads: int):
        self.interpreter = Interpreter(model_content=tflite_model, num_threads=threads)
        self.threads = threads
        inputs, outputs = self.interpreter.get_input_details(), self.interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1 or inputs[0]["dtype"] != np.float32:
            raise ValueError("expected a TFLite classifier with one float32 input and one output "
                             "(as convert_to_tflite makes)")
        self._input, self._output = inputs[0]["index"], outputs[0]["index"]
        # The model's operators, read before allocation applies the XNNPACK delegate (which
        # appends DELEGATE nodes). float16 files count a DEQUANTIZE per weight tensor.
        self.op_names = [op["op_name"] for op in self.interpreter._get_ops_details()]
        self.op_count = len(self.op_names)
        self.interpreter.allocate_tensors()
        self._shape = tuple(inputs[0]["shape"])

    def predict_batch(self, batch: np.ndarray) -> np.ndarray:
        """The class probabilities of one batch (resizing the input tensor when its shape changes)."""
        interpreter = self.interpreter
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        if batch.shape != self._shape:
            interpreter.resize_tensor_input(self._input, batch.shape)
            interpreter.allocate_tensors()
            self._shape = batch.shape
        interpreter.set_tensor(self._input, batch)
        interpreter.invoke()
        return interpreter.get_tensor(self._output)  # a copy

    def kernels(self) -> list[np.ndarray]:
        """The weight tensor of every convolution and fully connected operator, as stored (int8 in
        an integer model; a float16 weight's, before its DEQUANTIZE)."""
        ops = self.interpreter._get_ops_details()
        producer = {int(output): op for op in ops for output in op["outputs"]}
        kernels = []
        for op in ops:
            if op["op_name"] in _KERNEL_OPS and len(op["inputs"]) > 1:
                index = int(op["inputs"][1])
                source = producer.get(index)
                if source is not None and source["op_name"] == "DEQUANTIZE":
                    index = int(source["inputs"][0])
                kernels.append(np.array(self.interpreter.get_tensor(index)))
        return kernels

    def predict(self, batches) -> np.ndarray:
        results = [self.predict_batch(batch) for batch in batches]
        if not results:
            raise ValueError("no batches to predict")
        return np.concatenate(results).astype(np.float32, copy=False)


class Session:
    """A flatbuffer open in LiteRT, as a device holds it."""

    input_dtype, execution_provider = "float32", "CPU"

    def __init__(self, artifact: str, threads: int):
        with open(artifact, "rb") as handle:
            self.predictor = TFLitePredictor(handle.read(), threads=threads)
        self.layers = self.predictor.op_count
        self._threads = threads

    def predict(self, batch: np.ndarray) -> np.ndarray:
        return self.predictor.predict_batch(batch)

    def kernels(self) -> list[np.ndarray]:
        return self.predictor.kernels()

    def threads(self) -> dict:
        return {"runtime_threads": self._threads}


def open_session(artifact: str, model, threads: int) -> Session:
    return Session(artifact, threads)
