"""The CIFAR, MNIST and digits parsers (opscore.data.parsers), on format-exact files made here."""
import gzip
import tarfile

import numpy as np
import pytest

from conftest import CIFAR10_NAMES, add_member, cifar_record, idx_gz, make_cifar10, make_cifar100, make_mnist, pixel
from opscore.data import DataError, datasets, parsers


def test_parse_cifar10_binary(tmp_path):
    path = tmp_path / "cifar-10-binary.tar.gz"
    train_labels, test_labels = make_cifar10(path)
    ds = parsers.parse_cifar_binary(path, "cifar10")

    assert ds["x_train"].shape == (10, 32, 32, 3) and ds["x_train"].dtype == np.uint8
    assert ds["x_test"].shape == (2, 32, 32, 3) and ds["x_test"].dtype == np.uint8
    assert ds["y_train"].dtype == np.int64 and ds["y_train"].tolist() == train_labels
    assert ds["y_test"].tolist() == test_labels
    assert ds["class_names"] == CIFAR10_NAMES
    # HWC placement: x[i, h, w, c] is byte c*1024 + h*32 + w of record i.
    for i, h, w, c in [(0, 0, 0, 0), (0, 0, 1, 0), (0, 1, 0, 0), (3, 5, 7, 1), (9, 31, 30, 2)]:
        assert ds["x_train"][i, h, w, c] == pixel(i, c, h, w)
    assert ds["x_test"][1, 2, 3, 2] == pixel(101, 2, 2, 3)
    expected = np.array([[[[pixel(i, c, h, w) for c in range(3)] for w in range(32)] for h in range(32)] for i in range(10)])
    np.testing.assert_array_equal(ds["x_train"], expected)


def test_parse_cifar100_uses_fine_labels(tmp_path):
    path = tmp_path / "cifar-100-binary.tar.gz"
    fine = make_cifar100(path)
    ds = parsers.parse_cifar_binary(path, "cifar100")
    assert ds["y_train"].tolist() == [42, 99, 0] and ds["y_test"].tolist() == [17]
    assert ds["class_names"] == fine
    assert ds["x_train"].shape == (3, 32, 32, 3) and ds["x_test"].shape == (1, 32, 32, 3)
    assert ds["x_train"][1, 4, 9, 2] == pixel(1, 2, 4, 9)
    assert ds["x_test"][0, 31, 0, 1] == pixel(3, 1, 31, 0)


def test_parse_cifar_rejects_incomplete_or_truncated(tmp_path):
    path = tmp_path / "partial.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        add_member(tar, "cifar-10-batches-bin/data_batch_1.bin", cifar_record(0, [1]))
    with pytest.raises(DataError, match="lacks .*data_batch_2.bin.*not the official cifar10"):
        parsers.parse_cifar_binary(path, "cifar10")

    path = tmp_path / "truncated.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        add_member(tar, "cifar-100-binary/train.bin", cifar_record(0, [1, 2])[:-5])
        add_member(tar, "cifar-100-binary/test.bin", cifar_record(0, [1, 2]))
        add_member(tar, "cifar-100-binary/fine_label_names.txt", b"a\nb\nc\n")
    with pytest.raises(DataError, match="train.bin.*not a whole number"):
        parsers.parse_cifar_binary(path, "cifar100")

    (tmp_path / "junk.tar.gz").write_bytes(b"not a tar")
    with pytest.raises(DataError, match="not a readable tar"):
        parsers.parse_cifar_binary(tmp_path / "junk.tar.gz", "cifar10")


def test_parse_mnist(tmp_path):
    arrays = make_mnist(tmp_path)
    ds = parsers.parse_mnist(tmp_path)
    assert ds["x_train"].shape == (5, 28, 28, 1) and ds["x_train"].dtype == np.uint8
    assert ds["x_test"].shape == (2, 28, 28, 1)
    np.testing.assert_array_equal(ds["x_train"][..., 0], arrays["train-images-idx3-ubyte.gz"])
    np.testing.assert_array_equal(ds["x_test"][..., 0], arrays["t10k-images-idx3-ubyte.gz"])
    assert ds["y_train"].dtype == np.int64 and ds["y_train"].tolist() == [3, 1, 4, 1, 5]
    assert ds["y_test"].tolist() == [9, 2]
    assert ds["class_names"] == [str(d) for d in range(10)]


def test_parse_mnist_rejects_bad_files(tmp_path):
    make_mnist(tmp_path)
    idx_gz(tmp_path / "t10k-labels-idx1-ubyte.gz", [9, 2, 2])
    with pytest.raises(DataError, match="2 images but 3 labels"):
        parsers.parse_mnist(tmp_path)
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(b"\x00\x00\x08\x03\x00\x00\x00\x05"))
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz.*not an IDX|truncated"):
        parsers.parse_mnist(tmp_path)
    (tmp_path / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match="train-labels-idx1-ubyte.gz is missing"):
        parsers.parse_mnist(tmp_path)


def test_load_digits():
    from sklearn.datasets import load_digits as sk_digits

    raw = sk_digits()
    ds = parsers.load_digits()
    assert ds["x_train"].shape == (1797, 8, 8, 1) and ds["x_train"].dtype == np.uint8
    assert ds["y_train"].dtype == np.int64 and ds["y_train"].tolist() == raw.target.tolist()
    assert ds["x_test"].shape == (0, 8, 8, 1) and ds["y_test"].shape == (0,)
    assert ds["class_names"] == [str(d) for d in range(10)]
    assert ds["x_train"].max() == 255 and ds["x_train"].min() == 0
    # 0..16 scaled to 0..255 pixel by pixel.
    np.testing.assert_allclose(ds["x_train"][..., 0], raw.images * 255 / 16, atol=0.5)
    assert not datasets.has_official_split("digits", {})
