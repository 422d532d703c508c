"""The official files (opscore.data.archives): their published checksums, fetching a staged file, a
download verified and renamed, a mismatch or a broken download set aside; made here (no network)."""
import io
import os
import urllib.error
import urllib.request

import pytest

from conftest import make_cifar10, staged, tree
from opscore.data import DataError, archives


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


def test_fetch_uses_staged_file_without_network(tmp_path, no_network):
    path = tmp_path / "cifar-10-binary.tar.gz"
    make_cifar10(path)
    archive = staged(archives.DATASET_ARCHIVES["cifar10"][0], path)
    assert archives.fetch_archive(archive, tmp_path) == path
    assert no_network == []
    assert tree(tmp_path) == ["cifar-10-binary.tar.gz"]


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
