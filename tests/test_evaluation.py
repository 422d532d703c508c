"""Held-out quality of a compressed model (opscore.compression.evaluation): the evaluator."""
import pytest

from opscore.compression import evaluation


def test_evaluator_takes_arrays_or_a_batched_pipeline(digits, trained_cnn, evaluate):
    from opscore.tf import tf

    batches = tf.data.Dataset.from_tensor_slices((digits["x_val"], digits["y_val"])).batch(50)
    accuracy = evaluation.accuracy_evaluator(batches, digits["y_val"])(trained_cnn)
    assert accuracy == pytest.approx(evaluate(trained_cnn)) and accuracy > 0.5
