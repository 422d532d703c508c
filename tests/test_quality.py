"""Quality metrics against hand-computed cases, the random baseline, predictions and model-ready requests."""
import numpy as np
import pytest

from opscore.measure.quality import classification_metrics, predictions_frame, random_baseline, save_model_inputs


def test_metrics_match_hand_computed_values():
    # 3 classes, 6 images; predictions 0,0,1,1,1,2 -> only the third image is wrong.
    y = np.array([0, 0, 0, 1, 1, 2])
    p = np.array([[.8, .1, .1], [.6, .3, .1], [.1, .7, .2],
                  [.1, .8, .1], [.3, .6, .1], [.1, .2, .7]])
    m = classification_metrics(y, p)
    assert m["accuracy"] == pytest.approx(5 / 6)
    # precision: class0 2/2, class1 2/3, class2 1/1; recall: class0 2/3, class1 2/2, class2 1/1
    assert m["precision_macro"] == pytest.approx((1 + 2 / 3 + 1) / 3)
    assert m["recall_macro"] == pytest.approx((2 / 3 + 1 + 1) / 3)
    f1 = [2 * 1 * (2 / 3) / (1 + 2 / 3), 2 * (2 / 3) * 1 / (2 / 3 + 1), 1.0]
    assert m["f1_macro"] == pytest.approx(np.mean(f1))
    # one-vs-rest AUC by hand, counting positive-over-negative pairs (ties 1/2):
    # class0 (3+3+1)/9 (its 0.1 ties two negatives' 0.1, loses to 0.3), class1 (4+3)/8, class2 1/1
    assert m["auc_ovr"] == pytest.approx((7 / 9 + 7 / 8 + 1) / 3)
    # with 3 classes "top-5" is top-2 (k < classes, else it is trivially 1): image 3 has class 0 third
    assert m["top5_accuracy"] == pytest.approx(5 / 6)
    assert (m["n_test"], m["n_classes"]) == (6, 3)
    # balanced accuracy = mean per-class recall
    assert m["balanced_accuracy"] == pytest.approx(m["recall_macro"])


def test_balanced_accuracy_sees_through_a_never_positive_model():
    y = np.array([0] * 995 + [1] * 5)
    never = np.column_stack([np.ones(1000), np.zeros(1000)])
    m = classification_metrics(y, never)
    assert m["accuracy"] == pytest.approx(0.995)
    assert m["balanced_accuracy"] == pytest.approx(0.5)
    assert m["f1_macro"] < 0.5


def test_perfect_and_missing_class_auc():
    y = np.array([0, 1, 0, 1])
    p = np.array([[.9, .1, 0], [.2, .8, 0], [.7, .3, 0], [.4, .6, 0]])
    m = classification_metrics(y, p)
    assert m["accuracy"] == 1.0
    assert np.isnan(m["auc_ovr"])  # class 2 absent from the test split: AUC undefined, not a crash


def test_two_classes_are_scored_the_binary_way():
    # fraud-style: 4 negatives, 2 positives; P(positive) ranks 7 of the 8 positive-negative pairs right
    y = np.array([0, 0, 0, 0, 1, 1])
    positive = np.array([.1, .2, .3, .7, .6, .9])
    m = classification_metrics(y, np.column_stack([1 - positive, positive]))
    assert m["accuracy"] == pytest.approx(5 / 6)  # 0.7 is the one false alarm; 0.6 and 0.9 are caught
    assert m["auc_ovr"] == pytest.approx(7 / 8)
    assert m["top5_accuracy"] == m["accuracy"]  # top-1 with two classes
    assert random_baseline(y, 2, seed=0)["n_classes"] == 2


def test_random_baseline_is_at_chance():
    y = np.random.default_rng(1).integers(0, 10, 5000)
    m = random_baseline(y, 10, seed=0)
    assert m["accuracy"] == pytest.approx(0.1, abs=0.02)
    assert m["auc_ovr"] == pytest.approx(0.5, abs=0.02)


def test_model_ready_requests_are_the_pipelines_first_inputs_with_the_data_shape(tmp_path):
    from opscore.models.training import make_pipeline

    x = np.random.default_rng(0).integers(0, 256, (70, 8, 8, 1), dtype=np.uint8)
    y = np.arange(70) % 10
    pipeline = make_pipeline(x, y, lambda batch: batch / 127.5 - 1, 32, 16)
    kept = save_model_inputs(tmp_path / "inputs.npz", pipeline, 70, 40, n_classes=10, input_size=32,
                                     sample_shape=[8, 8, 1])
    want = np.concatenate([b.numpy() for b, _ in pipeline])
    with np.load(tmp_path / "inputs.npz") as saved:
        assert kept == 40 and saved["x"].shape == (40, 32, 32, 3) and saved["x"].dtype == np.float32
        np.testing.assert_array_equal(saved["x"], want[:40])  # in order, model-ready (resized, scaled)
        assert int(saved["n_test"]) == 70 and int(saved["n_classes"]) == 10
        assert list(saved["sample_shape"]) == [8, 8, 1] and int(saved["input_size"]) == 32


def test_predictions_keep_every_example_and_the_binary_score():
    probabilities = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    frame = predictions_frame(np.array([0, 1, 1]), probabilities, {"variant": "original", "seed": 0})
    assert list(frame["predicted"]) == [0, 1, 0] and list(frame["y_true"]) == [0, 1, 1]
    assert list(frame["score"]) == pytest.approx([0.1, 0.8, 0.4]) and (frame["variant"] == "original").all()
    assert "score" not in predictions_frame(np.array([0]), np.array([[0.5, 0.3, 0.2]]), {}).columns


def test_metrics_count_every_class_even_one_missing_from_the_test_split():
    """Three classes, class 2 never in y_true and never predicted: macro means over all three (a
    class never predicted scores 0, not 1), AUC undefined (NaN), top-2 for three classes."""
    import math

    y = np.array([0, 0, 1, 1])
    p = np.array([[0.7, 0.2, 0.1], [0.2, 0.7, 0.1], [0.1, 0.8, 0.1], [0.4, 0.35, 0.25]])
    m = classification_metrics(y, p)
    assert m["accuracy"] == 0.5  # predicted 0, 1, 1, 0
    assert m["precision_macro"] == pytest.approx((0.5 + 0.5 + 0) / 3)
    assert m["recall_macro"] == pytest.approx((0.5 + 0.5 + 0) / 3)
    assert math.isnan(m["auc_ovr"])
    assert m["top5_accuracy"] == 1.0  # top-2: every true class is among the two likeliest
    assert (m["n_test"], m["n_classes"]) == (4, 3)


def test_top5_among_seven_classes_is_top5():
    y = np.array([0, 1])
    p = np.array([[0.0, 0.3, 0.25, 0.2, 0.15, 0.1, 0.0], [0.3, 0.0, 0.25, 0.2, 0.15, 0.1, 0.0]])  # true class 6th
    m = classification_metrics(y, p / p.sum(axis=1, keepdims=True))
    assert m["top5_accuracy"] == 0.0  # sixth likeliest: outside the top 5 (top-6 would count it)
    q = np.array([[0.1, 0.3, 0.25, 0.2, 0.15, 0.0, 0.0], [0.3, 0.1, 0.25, 0.2, 0.15, 0.0, 0.0]])  # true class 5th
    assert classification_metrics(y, q / q.sum(axis=1, keepdims=True))["top5_accuracy"] == 1.0


def test_random_baseline_is_seeded():
    y = np.arange(40) % 4
    assert random_baseline(y, 4, seed=3) == random_baseline(y, 4, seed=3)
    assert random_baseline(y, 4, seed=3)["accuracy"] != random_baseline(y, 4, seed=4)["accuracy"] or \
        random_baseline(y, 4, seed=3)["auc_ovr"] != random_baseline(y, 4, seed=4)["auc_ovr"]
