"""The prepared .npz the jobs read (opscore.data.prepared): a round trip, wrong dtypes refused."""

import numpy as np
import pytest

from conftest import tree
from opscore.data import DataError, prepared, splits


@pytest.fixture(scope="module")
def digits(digits_dataset):
    return digits_dataset


def test_prepared_roundtrip(tmp_path, digits):
    ds = splits.split_dataset(digits, "70-30", seed=0)
    path = tmp_path / "prep" / "digits.npz"
    prepared.save_prepared(path, ds)
    assert tree(path.parent) == [".digits.npz.sha256", "digits.npz"]  # its record; no temporary file left
    back = prepared.load_prepared(path)
    for key in ("x_train", "y_train", "x_test", "y_test"):
        assert back[key].dtype == ds[key].dtype
        np.testing.assert_array_equal(back[key], ds[key])
    assert back["x_train"].dtype == np.uint8 and back["y_test"].dtype == np.int64
    assert back["class_names"] == ds["class_names"] and all(type(c) is str for c in back["class_names"])
    assert back["name"] == "digits"
    with np.load(path) as npz:  # uncompressed, pickle-free members
        assert npz.zip.infolist()[0].compress_type == 0
        assert npz["class_names"].dtype.kind == "U"


def test_save_prepared_rejects_wrong_dtypes(tmp_path, digits):
    ds = {**digits, "x_train": digits["x_train"].astype(np.float32)}
    with pytest.raises(DataError, match="x_train must be uint8"):
        prepared.save_prepared(tmp_path / "x.npz", ds)
    assert tree(tmp_path) == []
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(DataError, match="cannot read prepared dataset"):
        prepared.load_prepared(tmp_path / "junk.npz")
