"""Which loader a dataset's name means (opscore.data.datasets): official archives staged, unknown names,
missing archives offline, CSV tables from a config entry; the package imports no TensorFlow."""
import numpy as np
import pytest

from conftest import CIFAR10_NAMES, make_cifar10, make_cifar100, make_mnist, staged, tree
from opscore.data import DataError, archives, datasets, prepared, splits


def test_import_does_not_load_tensorflow():
    import subprocess
    import sys

    code = "import sys, opscore.data; print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_load_dataset_cifar_from_staged_archives(tmp_path, no_network, monkeypatch):
    make_cifar10(tmp_path / "cifar-10-binary.tar.gz")
    make_cifar100(tmp_path / "cifar-100-binary.tar.gz")
    for name in ("cifar10", "cifar100"):
        archive = archives.DATASET_ARCHIVES[name][0]
        monkeypatch.setitem(archives.DATASET_ARCHIVES, name, [staged(archive, tmp_path / archive.filename)])
    ds10 = datasets.load_dataset("cifar10", {}, tmp_path)
    ds100 = datasets.load_dataset("cifar100", None, tmp_path)
    assert ds10["x_train"].shape == (10, 32, 32, 3) and ds10["class_names"] == CIFAR10_NAMES
    assert ds100["y_train"].tolist() == [42, 99, 0]
    assert datasets.has_official_split("cifar10", {}) and datasets.has_official_split("cifar100", {})


def test_load_dataset_mnist_from_staged_files(tmp_path, no_network, monkeypatch):
    make_mnist(tmp_path)
    monkeypatch.setitem(archives.DATASET_ARCHIVES, "mnist",
                        [staged(a, tmp_path / a.filename) for a in archives.DATASET_ARCHIVES["mnist"]])
    ds = datasets.load_dataset("mnist", {}, tmp_path)
    assert ds["y_train"].tolist() == [3, 1, 4, 1, 5] and ds["name"] == "mnist"
    assert no_network == []


def test_unknown_dataset_lists_known_names(tmp_path):
    for call in (lambda: datasets.load_dataset("imagenet", {}, tmp_path), lambda: datasets.has_official_split("imagenet", {})):
        with pytest.raises(DataError, match="unknown dataset 'imagenet'.*digits, cifar10, cifar100, mnist.*path"):
            call()
    assert datasets.BUILTIN_DATASETS == ("digits", "cifar10", "cifar100", "mnist")


def test_load_dataset_offline_error_for_missing_archive(tmp_path, offline):
    with pytest.raises(DataError, match="cifar-10-binary.tar.gz.*c32a1d4ab5d03f1284b67883e8d87530"):
        datasets.load_dataset("cifar10", {}, tmp_path)
    assert tree(tmp_path) == []


def test_dispatch_from_config_entry_and_ratio_split(fraud_csv, tmp_path):
    ds = datasets.load_dataset("fraud", {"path": str(fraud_csv), "label": "Class"}, tmp_path)
    assert ds["name"] == "fraud" and ds["x_train"].dtype == np.float32
    assert not datasets.has_official_split("fraud", {"path": str(fraud_csv), "label": "Class"})
    with pytest.raises(DataError, match="needs a `label:` option"):
        datasets.load_dataset("fraud", {"path": str(fraud_csv)}, tmp_path)
    out = splits.split_dataset(ds, "75-25", seed=0)
    assert out["x_train"].dtype == np.float32 and out["x_test"].shape == (3, 3)
    # features keep their real values through the split (no uint8 cast) and stay with their labels
    pooled = sorted(map(tuple, np.concatenate([out["x_train"], out["x_test"]]).tolist()))
    assert pooled == sorted(map(tuple, ds["x_train"].tolist()))
    for x, y in zip(out["x_test"], out["y_test"], strict=True):
        assert y == int(int(x[0]) % 3 == 0)
    path = tmp_path / "prep.npz"
    prepared.save_prepared(path, out)
    back = prepared.load_prepared(path)
    assert back["x_train"].dtype == np.float32
    np.testing.assert_array_equal(back["x_test"], out["x_test"])


def test_gzipped_csv(tmp_path, fraud_csv):
    import gzip

    gz = tmp_path / "creditcard.csv.gz"
    gz.write_bytes(gzip.compress(fraud_csv.read_bytes()))
    ds = datasets.load_dataset("fraud", {"path": str(gz), "label": "Class"}, tmp_path)
    assert ds["x_train"].shape == (12, 3)
