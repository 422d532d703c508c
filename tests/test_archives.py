"""Tests of opscore.data on small, format-exact data made here (no network, no /work/shared)."""
import dataclasses
import gzip
import io
import os
import struct
import tarfile
import urllib.error
import urllib.request

import numpy as np
import pytest

from opscore.data import DataError, archives, datasets, folders, parsers, prepared, splits

CIFAR10_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


# ----------------------------------------------------------------------------- helpers


def pixel(i, c, h, w):
    """Known value of record i, channel c, row h, column w (distinct across c, h, w)."""
    return (i * 101 + c * 67 + h * 5 + w * 3) % 256


def cifar_record(i, labels):
    """One binary CIFAR record: label byte(s), then 1024 red, 1024 green, 1024 blue bytes (row-major)."""
    pixels = bytes(pixel(i, c, h, w) for c in range(3) for h in range(32) for w in range(32))
    return bytes(labels) + pixels


def add_member(tar, name, payload):
    info = tarfile.TarInfo(name)
    info.size = len(payload)
    tar.addfile(info, io.BytesIO(payload))


def make_cifar10(path):
    """Official layout: cifar-10-batches-bin/data_batch_1..5.bin, test_batch.bin, batches.meta.txt.

    Batch b holds 2 records; record i has label i % 10. Returns the train and test labels.
    """
    train_labels, test_labels = [], []
    with tarfile.open(path, "w:gz") as tar:
        i = 0
        for b in range(1, 6):
            blob = b""
            for _ in range(2):
                blob += cifar_record(i, [i % 10])
                train_labels.append(i % 10)
                i += 1
            add_member(tar, f"cifar-10-batches-bin/data_batch_{b}.bin", blob)
        add_member(tar, "cifar-10-batches-bin/test_batch.bin", cifar_record(100, [7]) + cifar_record(101, [3]))
        test_labels = [7, 3]
        add_member(tar, "cifar-10-batches-bin/batches.meta.txt", ("\n".join(CIFAR10_NAMES) + "\n\n").encode())
        add_member(tar, "cifar-10-batches-bin/readme.html", b"<html></html>")
    return train_labels, test_labels


def make_cifar100(path):
    """Official layout: cifar-100-binary/train.bin, test.bin (coarse, fine label bytes), name lists."""
    fine = [f"fine{k:02d}" for k in range(100)]
    with tarfile.open(path, "w:gz") as tar:
        # Coarse labels differ from fine ones so using the wrong byte is caught.
        add_member(tar, "cifar-100-binary/train.bin", cifar_record(0, [1, 42]) + cifar_record(1, [19, 99]) + cifar_record(2, [5, 0]))
        add_member(tar, "cifar-100-binary/test.bin", cifar_record(3, [2, 17]))
        add_member(tar, "cifar-100-binary/coarse_label_names.txt", "\n".join(f"coarse{k}" for k in range(20)).encode())
        add_member(tar, "cifar-100-binary/fine_label_names.txt", ("\n".join(fine) + "\n").encode())
    return fine


def staged(archive, path):
    """The archive with the md5 of the file we made (official md5s are for the real files)."""
    return dataclasses.replace(archive, md5=archives.md5sum(path))


@pytest.fixture
def no_network(monkeypatch):
    """Fail the test if anything tries to open a URL."""
    calls = []

    def urlopen(*args, **kwargs):
        calls.append(args)
        raise AssertionError("network used")

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    return calls


@pytest.fixture
def offline(monkeypatch):
    """Every URL fails, as on this machine."""
    def urlopen(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)


def tree(path):
    return sorted(p.name for p in path.iterdir())


# ----------------------------------------------------------------------------- registry


# The checksums as their publishers print them, typed here independently of opscore/data/archives.py:
# CIFAR: the md5 column of https://www.cs.toronto.edu/~kriz/cifar.html ("CIFAR-10 binary version
# (suitable for C programs)", "CIFAR-100 binary version"); MNIST: the `resources` list of
# torchvision's MNIST dataset (pytorch/vision, torchvision/datasets/mnist.py), which downloads the
# LeCun files from the same mirror we use.
PUBLISHED_MD5 = {
    "cifar-10-binary.tar.gz": "c32a1d4ab5d03f1284b67883e8d87530",
    "cifar-100-binary.tar.gz": "03b5dce01913d631647c71ecec9e9cb8",
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}


def test_every_archive_checksum_is_the_published_one():
    checksums = {a.filename: a.md5 for group in archives.DATASET_ARCHIVES.values() for a in group}
    assert checksums == PUBLISHED_MD5


def test_registry_has_official_archives():
    assert archives.DATASET_ARCHIVES["cifar10"] == [archives.Archive(
        "cifar-10-binary.tar.gz", "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
        "c32a1d4ab5d03f1284b67883e8d87530")]
    mnist = {a.filename: a for a in archives.DATASET_ARCHIVES["mnist"]}
    assert mnist["train-images-idx3-ubyte.gz"].url == "https://ossci-datasets.s3.amazonaws.com/mnist/train-images-idx3-ubyte.gz"
    assert len(mnist) == 4
    assert archives.find_archive("cifar-100-binary.tar.gz") is archives.DATASET_ARCHIVES["cifar100"][0]
    with pytest.raises(DataError, match="known archives"):
        archives.find_archive("nope.tar.gz")


def test_import_does_not_load_tensorflow():
    import subprocess
    import sys

    code = "import sys, opscore.data; print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ----------------------------------------------------------------------------- CIFAR parsing


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


# ----------------------------------------------------------------------------- fetching


def test_fetch_uses_staged_file_without_network(tmp_path, no_network):
    path = tmp_path / "cifar-10-binary.tar.gz"
    make_cifar10(path)
    archive = staged(archives.DATASET_ARCHIVES["cifar10"][0], path)
    assert archives.fetch_archive(archive, tmp_path) == path
    assert no_network == []
    assert tree(tmp_path) == ["cifar-10-binary.tar.gz"]


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


def test_fetch_checksum_mismatch_moves_file_aside(tmp_path, no_network):
    path = tmp_path / "cifar-10-binary.tar.gz"
    make_cifar10(path)
    actual = archives.md5sum(path)
    archive = archives.DATASET_ARCHIVES["cifar10"][0]  # the official md5, which our tiny file lacks
    with pytest.raises(DataError) as err:
        archives.fetch_archive(archive, tmp_path)
    message = str(err.value)
    assert str(path) in message and archive.md5 in message and actual in message
    assert ".bad" in message and "rerun" in message
    assert not path.exists()
    assert (tmp_path / "cifar-10-binary.tar.gz.bad").exists()
    assert no_network == []


def test_fetch_offline_names_path_url_and_md5(tmp_path, offline):
    archive = archives.DATASET_ARCHIVES["cifar100"][0]
    download_dir = tmp_path / "downloads"
    with pytest.raises(DataError) as err:
        archives.fetch_archive(archive, download_dir, timeout=1)
    message = str(err.value)
    assert str(download_dir / "cifar-100-binary.tar.gz") in message
    assert archive.url in message and archive.md5 in message
    assert tree(download_dir) == []  # no partial or temporary file left


class FakeResponse(io.BytesIO):
    """A urlopen() result that may break after some bytes."""

    def __init__(self, payload, fail_after=None):
        super().__init__(payload)
        self.fail_after = fail_after

    def read(self, size=-1):
        if self.fail_after is not None and self.tell() >= self.fail_after:
            raise TimeoutError("timed out")
        return super().read(min(size, 1000) if size and size > 0 else 1000)


def test_fetch_downloads_verifies_and_renames(tmp_path, monkeypatch):
    payload = os.urandom(5000)
    seen = {}

    def urlopen(url, timeout):
        seen["url"], seen["timeout"] = url, timeout
        return FakeResponse(payload)

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    import hashlib
    archive = archives.Archive("thing.bin", "https://example.org/thing.bin", hashlib.md5(payload).hexdigest())
    path = archives.fetch_archive(archive, tmp_path / "dl", timeout=7)
    assert path == tmp_path / "dl" / "thing.bin" and path.read_bytes() == payload
    assert seen == {"url": "https://example.org/thing.bin", "timeout": 7}
    assert tree(tmp_path / "dl") == [".thing.bin.sha256", "thing.bin"]  # the file and its integrity record


def test_fetch_bad_or_broken_download_leaves_nothing(tmp_path, monkeypatch):
    payload = os.urandom(5000)
    archive = archives.Archive("thing.bin", "https://example.org/thing.bin", "0" * 32)
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: FakeResponse(payload))
    with pytest.raises(DataError, match="md5 is .* not the official 0{32}"):
        archives.fetch_archive(archive, tmp_path)
    assert tree(tmp_path) == []

    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: FakeResponse(payload, fail_after=3000))
    with pytest.raises(DataError, match="could not download thing.bin"):
        archives.fetch_archive(archive, tmp_path)
    assert tree(tmp_path) == []


# ----------------------------------------------------------------------------- MNIST


def idx_gz(path, array):
    array = np.asarray(array, np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}i", *array.shape)
    path.write_bytes(gzip.compress(header + array.tobytes()))


def make_mnist(directory):
    rng = np.random.default_rng(3)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (5, 28, 28)),
        "train-labels-idx1-ubyte.gz": [3, 1, 4, 1, 5],
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (2, 28, 28)),
        "t10k-labels-idx1-ubyte.gz": [9, 2],
    }
    for name, array in arrays.items():
        idx_gz(directory / name, array)
    return arrays


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


def test_load_dataset_mnist_from_staged_files(tmp_path, no_network, monkeypatch):
    make_mnist(tmp_path)
    monkeypatch.setitem(archives.DATASET_ARCHIVES, "mnist",
                        [staged(a, tmp_path / a.filename) for a in archives.DATASET_ARCHIVES["mnist"]])
    ds = datasets.load_dataset("mnist", {}, tmp_path)
    assert ds["y_train"].tolist() == [3, 1, 4, 1, 5] and ds["name"] == "mnist"
    assert no_network == []


# ----------------------------------------------------------------------------- digits


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


# ----------------------------------------------------------------------------- image folders


def write_png(path, array):
    from opscore.tf import tf

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(tf.io.encode_png(np.asarray(array, np.uint8)).numpy())


def image_for(label, k, shape=(6, 5, 3)):
    """A distinct, label-coded image (PNG is lossless, so pixels come back exactly)."""
    return np.full(shape, 40 * label + k, np.uint8)


def make_folder(root, classes=("zebra", "ant", "moth"), n_train=3, n_test=2):
    """train/CLASS/*.png, test/CLASS/*.png with pixel value 40*sorted_label + k."""
    for label, cls in enumerate(sorted(classes)):
        for split, n in (("train", n_train), ("test", n_test)):
            for k in range(n):
                write_png(root / split / cls / f"{k}.png", image_for(label, k))
    (root / "README.txt").write_text("not an image")


def check_folder_dataset(ds, n_train=3, n_test=2):
    assert ds["class_names"] == ["ant", "moth", "zebra"]
    assert ds["x_train"].shape == (3 * n_train, 6, 5, 3) and ds["x_train"].dtype == np.uint8
    assert ds["x_test"].shape == (3 * n_test, 6, 5, 3)
    assert ds["y_train"].dtype == np.int64
    for x, y, n in ((ds["x_train"], ds["y_train"], n_train), (ds["x_test"], ds["y_test"], n_test)):
        assert np.bincount(y, minlength=3).tolist() == [n] * 3
        # Each image carries its label in its pixels: label = value // 40.
        assert (x[:, 0, 0, 0] // 40).tolist() == y.tolist()
        assert sorted(x[:, 0, 0, 0].tolist()) == sorted(40 * c + k for c in range(3) for k in range(n))


def test_image_folder_directory(tmp_path):
    make_folder(tmp_path / "pets")
    ds = folders.load_image_folder(tmp_path / "pets")
    check_folder_dataset(ds)
    # Deterministic, and not in class blocks.
    again = folders.load_image_folder(tmp_path / "pets")
    np.testing.assert_array_equal(ds["x_train"], again["x_train"])
    assert ds["y_train"].tolist() != sorted(ds["y_train"].tolist())


def test_image_folder_tar_gz_with_top_folder(tmp_path):
    make_folder(tmp_path / "pets")
    archive = tmp_path / "pets.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "pets", arcname="pets")
    ds = folders.load_image_folder(archive)
    check_folder_dataset(ds)
    np.testing.assert_array_equal(ds["x_train"], folders.load_image_folder(tmp_path / "pets")["x_train"])
    via_load = datasets.load_dataset("mine", {"path": str(archive)}, tmp_path / "unused")
    assert via_load["name"] == "mine" and datasets.has_official_split("mine", {"path": str(archive)})


def test_image_folder_errors(tmp_path):
    make_folder(tmp_path / "a")
    write_png(tmp_path / "a" / "test" / "ant" / "big.png", np.zeros((7, 5, 3)))
    with pytest.raises(DataError, match=r"same shape.*big\.png is 7×5×3"):
        folders.load_image_folder(tmp_path / "a")

    make_folder(tmp_path / "b")
    (tmp_path / "b" / "train" / "ant" / "broken.png").write_bytes(b"\x89PNG garbage")
    with pytest.raises(DataError, match="cannot decode image .*broken.png"):
        folders.load_image_folder(tmp_path / "b")

    write_png(tmp_path / "c" / "train" / "ant" / "0.png", image_for(0, 0))
    with pytest.raises(DataError, match="no images in test/CLASS/"):
        folders.load_image_folder(tmp_path / "c")

    with pytest.raises(DataError, match="does not exist"):
        folders.load_image_folder(tmp_path / "missing")


def test_image_folder_mixed_gray_and_rgb_become_rgb(tmp_path):
    make_folder(tmp_path / "m", n_train=1, n_test=1)
    write_png(tmp_path / "m" / "train" / "ant" / "gray.png", np.full((6, 5, 1), 9))
    ds = folders.load_image_folder(tmp_path / "m")
    assert ds["x_train"].shape == (4, 6, 5, 3)
    gray = ds["x_train"][ds["x_train"][:, 0, 0, 0] == 9]
    assert gray.shape == (1, 6, 5, 3) and (gray == 9).all()


# ----------------------------------------------------------------------------- splits


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


# ----------------------------------------------------------------------------- dispatch, prepared file


def test_unknown_dataset_lists_known_names(tmp_path):
    for call in (lambda: datasets.load_dataset("imagenet", {}, tmp_path), lambda: datasets.has_official_split("imagenet", {})):
        with pytest.raises(DataError, match="unknown dataset 'imagenet'.*digits, cifar10, cifar100, mnist.*path"):
            call()
    assert datasets.BUILTIN_DATASETS == ("digits", "cifar10", "cifar100", "mnist")


def test_load_dataset_offline_error_for_missing_archive(tmp_path, offline):
    with pytest.raises(DataError, match="cifar-10-binary.tar.gz.*c32a1d4ab5d03f1284b67883e8d87530"):
        datasets.load_dataset("cifar10", {}, tmp_path)
    assert tree(tmp_path) == []


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
