"""Image folders (opscore.data.folders): a directory or a .tar.gz of class folders, errors, mixed modes."""
import tarfile

import numpy as np
import pytest

from opscore.data import DataError, datasets, folders


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
