"""Splits (opscore.data.splits): stratified, seeded ratio splits, official splits, bad split strings."""

import numpy as np
import pytest

from conftest import make_mnist
from opscore.data import DataError, parsers, splits


@pytest.fixture(scope="module")
def digits(digits_dataset):
    return digits_dataset


def test_ratio_split_is_stratified(digits):
    out = splits.split_dataset(digits, "70-30", seed=0)
    n = len(digits["y_train"])
    assert len(out["y_train"]) + len(out["y_test"]) == n
    assert abs(len(out["y_test"]) - 0.3 * n) <= 1
    total = np.bincount(digits["y_train"])
    test = np.bincount(out["y_test"], minlength=10)
    assert np.all(np.abs(test - 0.3 * total) <= 1)  # every class split 70/30
    assert out["x_train"].dtype == np.uint8 and out["y_train"].dtype == np.int64
    assert out["x_train"].shape[1:] == (8, 8, 1)
    # Images stay with their labels: every (image, label) pair is one of the originals.
    original = {(x.tobytes(), int(y)) for x, y in zip(digits["x_train"], digits["y_train"], strict=True)}
    pairs = [(x.tobytes(), int(y)) for x, y in zip(np.concatenate([out["x_train"], out["x_test"]]),
                                                   np.concatenate([out["y_train"], out["y_test"]]), strict=True)]
    assert set(pairs) <= original
    assert out["class_names"] == digits["class_names"]


def test_ratio_split_seeded(digits):
    a = splits.split_dataset(digits, "80-20", seed=1)
    b = splits.split_dataset(digits, "80-20", seed=1)
    c = splits.split_dataset(digits, "80-20", seed=2)
    np.testing.assert_array_equal(a["x_test"], b["x_test"])
    np.testing.assert_array_equal(a["y_train"], b["y_train"])
    assert not np.array_equal(a["y_test"], c["y_test"]) or not np.array_equal(a["x_test"], c["x_test"])


def test_ratio_split_pools_train_and_test():
    x = np.arange(40, dtype=np.uint8).reshape(40, 1, 1, 1)
    y = np.repeat(np.arange(2), 20).astype(np.int64)
    ds = {"x_train": x[:30], "y_train": y[:30], "x_test": x[30:], "y_test": y[30:], "class_names": ["a", "b"]}
    out = splits.split_dataset(ds, "50-50", seed=0)
    pooled = np.concatenate([out["x_train"], out["x_test"]]).ravel()
    assert sorted(pooled.tolist()) == list(range(40))
    assert (out["x_train"].ravel() >= 20).tolist() == out["y_train"].astype(bool).tolist()
    assert np.bincount(out["y_test"]).tolist() == [10, 10]


def test_official_split(digits, tmp_path):
    with pytest.raises(DataError, match="'digits' has no official.*70-30"):
        splits.split_dataset(digits, "official", seed=0)
    make_mnist(tmp_path)
    ds = parsers.parse_mnist(tmp_path)
    out = splits.split_dataset(ds, "official", seed=0)
    np.testing.assert_array_equal(out["x_test"], ds["x_test"])
    assert out["y_train"].tolist() == [3, 1, 4, 1, 5]


@pytest.mark.parametrize("bad", ["70-20", "70/30", "seventy-thirty", "0-100", "100-0", "", "official2", "-30"])
def test_bad_split_strings(digits, bad):
    with pytest.raises(DataError, match="70-30"):
        splits.split_dataset(digits, bad, seed=0)


def test_split_too_few_images_per_class():
    x = np.zeros((5, 1, 1, 1), np.uint8)
    y = np.array([0, 0, 0, 0, 1], np.int64)
    ds = {"x_train": x, "y_train": y, "x_test": x[:0], "y_test": y[:0], "class_names": ["a", "b"]}
    with pytest.raises(DataError, match="stratified"):
        splits.split_dataset(ds, "60-40", seed=0)


def test_split_errors_word_for_word():
    empty = np.empty((0, 2), np.float32)
    no_train = {"x_train": empty, "y_train": np.array([], np.int64), "x_test": np.ones((2, 2), np.float32),
                "y_test": np.array([0, 1])}
    with pytest.raises(DataError) as error:
        splits.split_dataset(no_train, "official", 0)  # a test set without a train set is no official split
    assert str(error.value) == ("dataset 'this dataset' has no official train/test split; use a ratio split "
                                "instead: TRAIN-TEST percentages summing to 100, such as '70-30' or '80-20'")
    single = {"name": "tiny", "x_train": np.ones((3, 2), np.float32), "y_train": np.array([0, 0, 1]),
              "x_test": empty, "y_test": np.array([], np.int64)}
    with pytest.raises(DataError) as error:
        splits.split_dataset(single, "50-50", 0)
    assert str(error.value).startswith("cannot make a stratified 50-50 split of 'tiny' (")
    assert str(error.value).endswith("); every class needs enough rows for both sides.")  # a table: rows
