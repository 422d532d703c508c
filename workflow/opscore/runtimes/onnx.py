"""ONNX Runtime: ONNX files loaded into an InferenceSession on the best execution provider present
(CUDA where a GPU is, else the CPU) and invoked. Imports numpy and onnxruntime only, never
TensorFlow, so a measuring process holds just what a server would. (Named ``onnx.py`` so as not to
shadow the ``onnxruntime`` package.)"""
from __future__ import annotations

import numpy as np
import onnxruntime as ort

NAME = "onnxruntime"
#: the execution providers used where present, best first (the CPU's is always there)
PROVIDERS = ("CUDAExecutionProvider", "CPUExecutionProvider")
#: operators whose weight input is a kernel, and that input's position
_KERNEL_INPUTS = {"Conv": 1, "ConvTranspose": 1, "Gemm": 1, "MatMul": 1, "ConvInteger": 1, "MatMulInteger": 1,
                  "QLinearConv": 3, "QLinearMatMul": 3}


def version() -> str:
    return ort.__version__


def providers() -> list[str]:
    available = ort.get_available_providers()
    return [provider for provider in PROVIDERS if provider in available]


class Session:
    """An ONNX model (a path or its bytes) open in ONNX Runtime, ``threads`` within an operator,
    one operator at a time (a classifier's graph is a chain); it takes the input type the file
    declares (float16 after a float16 Keras model)."""

    def __init__(self, model: str | bytes, threads: int):
        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        self.session = ort.InferenceSession(model, options, providers=providers())
        self._model = model
        self._input = self.session.get_inputs()[0].name
        self.input_dtype = "float16" if self.session.get_inputs()[0].type == "tensor(float16)" else "float32"
        self.execution_provider = self.session.get_providers()[0]
        self._threads = {"intra_op_threads": threads, "inter_op_threads": 1}
        self.layers = len(self._graph().node)

    def _graph(self):
        import onnx  # the file's graph, for counting and reading it (not needed to run it)

        model = self._model
        return (onnx.load_from_string(model) if isinstance(model, bytes) else onnx.load(model)).graph

    def predict(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self._input: np.ascontiguousarray(batch, dtype=self.input_dtype)})[0]

    def kernels(self) -> list[np.ndarray]:
        """The weight tensor of every convolution and matrix product, as stored (int8 in a quantized
        file: a QDQ weight's before its DequantizeLinear)."""
        from onnx import numpy_helper

        graph = self._graph()
        stored = {tensor.name: tensor for tensor in graph.initializer}
        producer = {output: node for node in graph.node for output in node.output}
        kernels = []
        for node in graph.node:
            position = _KERNEL_INPUTS.get(node.op_type)
            if position is None or len(node.input) <= position:
                continue
            name = node.input[position]
            if name not in stored and getattr(producer.get(name), "op_type", "") == "DequantizeLinear":
                name = producer[name].input[0]
            if name in stored:
                kernels.append(numpy_helper.to_array(stored[name]))
        return kernels

    def threads(self) -> dict:
        return dict(self._threads)


def open_session(artifact: str, model, threads: int) -> Session:
    return Session(artifact, threads)
