"""The input pipeline (opscore.models.training): the numpy batches the benchmark's requests are made
of are the training pipeline's, value for value, and need no TensorFlow where no resizing is."""
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT
from sklearn.datasets import load_breast_cancer

from opscore.models import applications as models
from opscore.models.training import make_pipeline, numpy_batches


def _cases(digits_dataset):
    rows = load_breast_cancer().data.astype(np.float32)[:70]  # raw columns, 0.001..4000
    images, labels = digits_dataset["x_train"][:70], digits_dataset["y_train"][:70]
    return {"table rows": (rows, labels, "A2E", None), "A2E images": (images, labels, "A2E", None),
            "MobileNetV2 images": (images, labels, "MobileNetV2", 32)}


@pytest.mark.parametrize("case", ["table rows", "A2E images", "MobileNetV2 images"])
def test_numpy_batches_are_the_pipelines_batches(digits_dataset, case):
    x, y, model, size = _cases(digits_dataset)[case]
    preprocess = models.preprocess_function(model)
    expected = [(inputs.numpy(), labels.numpy()) for inputs, labels in make_pipeline(x, y, preprocess, size, 32)]
    got = list(numpy_batches(x, y, preprocess, size, 32))
    assert [len(labels) for _, labels in got] == [32, 32, 6]
    for (inputs, labels), (want_inputs, want_labels) in zip(got, expected, strict=True):
        assert inputs.dtype == np.float32
        np.testing.assert_array_equal(inputs, want_inputs)
        np.testing.assert_array_equal(labels, want_labels)


def test_numpy_batches_of_rows_and_native_images_need_no_tensorflow():
    code = ("import sys, numpy as np; from opscore.models.training import numpy_batches; "
            "from opscore.models.applications import preprocess_function; "
            "x = np.arange(2 * 64, dtype=np.uint8).reshape(2, 8, 8, 1); "
            "list(numpy_batches(x, np.zeros(2), preprocess_function('A2E'), None, 1)); "
            "list(numpy_batches(np.ones((3, 4), np.float32), np.zeros(3), None, None, 2)); "
            "print('tensorflow' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={"PYTHONPATH": str(ROOT / "workflow")})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
