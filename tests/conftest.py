"""What the tests share: the small test configs (tests/configs/*.yaml), the one way they run
Snakemake on this workflow, and the data fixtures several modules use."""
import copy
import dataclasses
import fcntl
import gzip
import io
import json
import math
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tarfile
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

#: TensorFlow in the test processes themselves runs one thread per pool: three pytest-xdist workers
#: share two cores, and TensorFlow's default pools (one thread per core each) spin while they wait
#: for a core (measured: the TFLite and float16 tests, then tests/test_quantization.py, take 17 % less
#: CPU). Snakemake and its jobs do not inherit it (snakemake_env): they set their threads themselves,
#: as in a user's run.
TEST_PROCESS_THREADS = {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}
for _name, _value in TEST_PROCESS_THREADS.items():
    os.environ.setdefault(_name, _value)

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = Path(__file__).resolve().parent / "configs"
TENSORFLOW_RULES = ("train", "evaluate", "derive_model", "derive_tflite", "derive_onnx", "cluster_base")


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "slurm: runs workflows through profiles/slurm on a single-node Slurm cluster that "
        "tests/slurm/start-slurm.sh starts (root, Debian; deselect with -m 'not slurm')",
    )


#: the longest test files, longest first (CPU per file: docs/testing.md): the workers take files in
#: collection order, so starting with these keeps one worker from finishing long after the others.
#: The tabular run is shared (conftest.shared_run): test_integrity.py, which reads it, comes after
#: the other long files, when that run is made.
LONGEST_FIRST = ("test_tabular_workflow.py", "test_variants_workflow.py", "test_slurm.py",
                 "test_paper_variants_workflow.py", "test_imbalanced_workflow.py", "test_workflow.py",
                 "test_archive.py", "test_resilience.py", "test_float16.py", "test_tflite.py", "test_filters.py",
                 "test_integrity.py")


def pytest_collection_modifyitems(items):
    def rank(item):
        name = item.path.name
        return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: each file keeps its own order


def test_config(name: str) -> dict:
    """A fresh copy of tests/configs/NAME.yaml, to change freely."""
    return copy.deepcopy(yaml.safe_load((CONFIGS / f"{name}.yaml").read_text()))


test_config.__test__ = False  # a helper, not a test


def check_config(config: dict) -> None:
    """What the Snakefile does with a config before planning, here in the test process: the schema
    (Snakemake's ``validate``, which raises WorkflowError), then opscore.config's defaults and
    checks (ValueError). That Snakemake stops on either: tests/test_workflow.py."""
    from snakemake.utils import validate

    from opscore import config as settings

    validate(config, str(ROOT / "workflow/schemas/config.schema.yaml"))
    settings.check(settings.complete(config))


def snakemake_command(workdir: Path, config: dict | None, *args: str, cores: int = 1, root: Path = ROOT) -> list[str]:
    """The command line every test runs: the Snakefile of ``root`` (this checkout, or an unpacked
    archive of it) in ``workdir``, ``config`` written there (None: the repository's default config),
    the workflow profile off so that tests do not depend on it (tests of a profile pass their own)."""
    command = [sys.executable, "-m", "snakemake", "-s", str(root / "Snakefile"), "--directory", str(workdir),
               "--cores", str(cores)]
    if config is not None:
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "config.yaml").write_text(yaml.safe_dump(config))
        command += ["--configfile", str(workdir / "config.yaml")]
    if "--workflow-profile" in args or "--profile" in args:
        return command + list(args)
    # One thread per TensorFlow job; tests compare runs made the same way. One job at a time per run
    # (cores=1): three pytest-xdist workers already keep 2 cores busy, and fewer processes competing
    # for them spend less CPU (measured: docs/testing.md). Targets go between one-value options:
    # --configfile and --set-threads take every value that follows them.
    return command + ["--workflow-profile", "none", *args, "--set-threads",
                      *(f"{rule}=1" for rule in (*TENSORFLOW_RULES, "benchmark"))]


def snakemake_env(base: dict | None = None, root: Path = ROOT) -> dict:
    """The environment of a test's Snakemake: the library importable, and no GPU list, Slurm job
    context or profile of the caller leaking in (SLURM_CONF stays: it finds the test cluster)."""
    env = dict(os.environ if base is None else base)
    for name in list(env):
        if (name in ("CUDA_VISIBLE_DEVICES", "SNAKEMAKE_PROFILE", *TEST_PROCESS_THREADS)
                or (name.startswith("SLURM_") and name != "SLURM_CONF")):
            env.pop(name)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(root / "workflow"), env.get("PYTHONPATH")) if p)
    return env


def run_snakemake(workdir: Path, config: dict | None, *args: str, timeout: int = 900,
                  root: Path = ROOT) -> subprocess.CompletedProcess:
    """Run Snakemake to the end; output captured."""
    return subprocess.run(snakemake_command(workdir, config, *args, root=root), capture_output=True, text=True,
                          timeout=timeout, env=snakemake_env(root=root))


def start_snakemake(workdir: Path, config: dict | None, *args: str, env: dict | None = None) -> subprocess.Popen:
    """Start Snakemake in its own process group (so a test can kill it and every job it started);
    ``env``: variables added to its environment (and its jobs')."""
    return subprocess.Popen(snakemake_command(workdir, config, *args), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True,
                            env={**snakemake_env(), **(env or {})})


def finish(process: subprocess.Popen, timeout: int = 900) -> tuple[int, str]:
    """Wait for a started Snakemake; kill its process group if it outlives ``timeout``."""
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        raise
    return process.returncode, output


def planned_jobs(result: subprocess.CompletedProcess) -> dict:
    """Job counts from Snakemake's 'Job stats' table (a dry run prints it on stdout, a real run on
    stderr: what it ran); {} only where Snakemake itself says it has nothing to do (not whenever the
    table is missing: a failed plan or changed output has none)."""
    assert result.returncode == 0, result.stdout + result.stderr
    output = result.stdout + "\n\n" + result.stderr
    table = re.search(r"Job stats:\n(.*?)\n\n", output + "\n\n", re.S)
    if table is None:
        assert "Nothing to be done" in output, output[-3000:]
        return {}
    return {name: int(count) for name, count in re.findall(r"^(\w+)\s+(\d+)$", table.group(1), re.M) if name != "total"}


def completed_run(tmp_path_factory, name: str, config: dict, targets: tuple[str, ...] = ()) -> Path:
    """A fresh working directory in which the workflow ran ``config`` to the end, or to ``targets``
    (what the module's tests read; the studies and other figures have their own tests)."""
    workdir = tmp_path_factory.mktemp(name)
    result = run_snakemake(workdir, config, *targets)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return workdir


def shared_run(tmp_path_factory, name: str, make_config, targets: tuple[str, ...] = ()) -> Path:
    """A run made once per test session and read by every test file that asks for ``name``, in any
    pytest-xdist worker: the first to ask builds it under a file lock in the session's common
    temporary directory, the others wait for it. ``make_config(directory)`` writes the run's inputs
    there (a table, say) and returns its config; it is called once, by the builder (writing the
    inputs again would make them newer than the run). Tests read the run; one that changes it
    copies it first. Asking for ``name`` with other targets is an error, not a silent reuse."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # pytest-N/popen-gwK: pytest-N is the session's, shared by its workers
    home = base / "shared-runs" / name
    home.mkdir(parents=True, exist_ok=True)
    workdir, done = home / "run", home / "done"
    with open(home / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            shutil.rmtree(workdir, ignore_errors=True)
            result = run_snakemake(workdir, make_config(home), *targets)
            assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
            done.write_text("\n".join(targets))
    assert done.read_text() == "\n".join(targets), f"shared run {name!r} asked for with other targets"
    return workdir


def h5_datasets(group, prefix: str = ""):
    """The names of every dataset (array) in an HDF5 file or group, at any depth: a weights file's."""
    import h5py

    for key, item in group.items():
        if isinstance(item, h5py.Dataset):
            yield prefix + key
        else:
            yield from h5_datasets(item, prefix + key + "/")


@pytest.fixture(scope="session")
def digits_dataset():
    """scikit-learn's digits (1,797 real 8x8 images, offline) as an opscore dataset: uint8 images
    (8, 8, 1), every row in x_train/y_train (it has no official split). Do not modify it."""
    from opscore.data.parsers import load_digits

    return load_digits()


# ----------------------------------------------------------------------------- a tiny model to time
# What test_rounds and test_worker share: a TFLite file, its requests, a quick protocol.


def protocol(**changes):
    """The benchmark's protocol, quick: LoadGen's minimums low, three rounds; ``changes`` replace values."""
    from opscore.benchmark import loadgen
    from opscore.benchmark.rounds import Protocol

    settings = loadgen.Settings(min_queries=64, min_seconds=0.05, offline_seconds=0.05, batch=16)
    values = dict(rounds=3, batch_size=32, threads=1, loadgen=settings, max_wait_share=0.05, unstable_cv=0.1,
                  max_workers=8, processes=1, seed=0)
    return Protocol(**{**values, **changes})


@pytest.fixture(scope="session")
def tiny_tflite(tmp_path_factory):
    """A small dense classifier of digits (with dropout and batch norm) as a TFLite flatbuffer, and
    the digits test images as model-ready requests. Do not modify it."""
    import numpy as np
    from sklearn.datasets import load_digits

    from opscore.compression.tflite import convert_to_tflite
    from opscore.tf import keras

    folder = tmp_path_factory.mktemp("tiny")
    x = load_digits().images.reshape(-1, 64).astype("float32") / 16
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(32, activation="relu"),
                              keras.layers.BatchNormalization(), keras.layers.Dropout(0.2),
                              keras.layers.Dense(10, activation="softmax")])
    (folder / "model.tflite").write_bytes(convert_to_tflite(model, "dynamic"))
    np.savez(folder / "inputs.npz", x=x[:540], n_test=np.array(540), n_classes=np.array(10),
             input_size=np.array(32), sample_shape=np.array([64]))
    return folder


def candidate(folder, variant: str, artifact: str = "model.tflite"):
    """tiny_tflite's file (or ``artifact`` in ``folder``) as a candidate of the benchmark, in LiteRT."""
    from opscore.benchmark.rounds import Candidate
    from opscore.runtimes import ModelInfo

    identity = dict(dataset="digits", split="70-30", seed=0, model="A2E", variant=variant, unfreeze="all")
    return Candidate(identity, "litert", str(folder / artifact), ModelInfo(variant, "A2E", 10, 32, (64,)),
                     str(folder / "inputs.npz"))


# ----------------------------------------------------------------------------- digits at 32x32 RGB
# What test_float16 and test_tflite share (each names it ``digits`` in its own file).


@pytest.fixture(scope="session")
def digits32():
    """scikit-learn's 1,797 8x8 digits, zero-padded to 32x32, grey to RGB, scaled to [-1, 1]:
    (x_train, y_train, x_test, y_test), 1,400 rows to train on. Do not modify it."""
    import numpy as np
    from sklearn.datasets import load_digits

    n_train = 1400
    data = load_digits()
    images = np.pad(data.images, ((0, 0), (12, 12), (12, 12)))[..., None].repeat(3, axis=-1)
    x = (images / 8.0 - 1.0).astype("float32")
    y = data.target.astype("int64")
    order = np.random.default_rng(0).permutation(len(y))
    x, y = x[order], y[order]
    return x[:n_train], y[:n_train], x[n_train:], y[n_train:]


def small_convnet(n_classes=10, width=16):
    """Conv-BN-ReLU blocks, a dense softmax head: quick to train, big enough that its weights
    (~70 k) and not the flatbuffer's bookkeeping dominate the TFLite file size."""
    from opscore.tf import keras

    return keras.Sequential([
        keras.Input((32, 32, 3)),
        keras.layers.Conv2D(width, 3, use_bias=False), keras.layers.BatchNormalization(momentum=0.9),
        keras.layers.ReLU(), keras.layers.MaxPool2D(),
        keras.layers.Conv2D(2 * width, 3, use_bias=False), keras.layers.BatchNormalization(momentum=0.9),
        keras.layers.ReLU(), keras.layers.MaxPool2D(),
        keras.layers.Flatten(), keras.layers.Dense(n_classes, activation="softmax"),
    ])


# ----------------------------------------------------------------------------- a small trained CNN
# What the compression modules' tests share (test_filters, test_units, test_layer_removal, test_magnitude,
# test_weight_quantization, test_quantized_layer, test_evaluation): made once per worker, read only.
# A test file with its own ``digits`` fixture (test_qat, test_onnx, ...) uses its own.


def small_cnn(seed=0):
    """A plain chain: conv-bn-relu ×2, pool, conv-relu, flatten, dense, softmax head."""
    from opscore.tf import keras

    init = lambda k: keras.initializers.GlorotUniform(seed=seed * 10 + k)  # noqa: E731
    L = keras.layers
    inputs = keras.Input((8, 8, 1), name="input")
    x = L.Conv2D(16, 3, padding="same", kernel_initializer=init(1), name="c1")(inputs)
    x = L.BatchNormalization(name="c1_bn")(x)
    x = L.ReLU(name="c1_relu")(x)
    x = L.Conv2D(16, 3, padding="same", kernel_initializer=init(2), name="c2")(x)
    x = L.BatchNormalization(name="c2_bn")(x)
    x = L.ReLU(name="c2_relu")(x)
    x = L.MaxPooling2D(2, name="pool")(x)
    x = L.Conv2D(32, 3, padding="same", activation="relu", kernel_initializer=init(3), name="c3")(x)
    x = L.Flatten(name="flatten")(x)
    x = L.Dense(32, activation="relu", kernel_initializer=init(4), name="fc1")(x)
    outputs = L.Dense(10, activation="softmax", kernel_initializer=init(5), name="head_dense")(x)
    return keras.Model(inputs, outputs, name="small_cnn")


def accordion(seed=0):
    """Four hidden dense layers, 48-16-48-16 wide with dropout, and a softmax head on flattened 8×8 inputs."""
    from opscore.tf import keras

    L = keras.layers
    inputs = keras.Input((8, 8, 1))
    x = L.Flatten(name="flatten")(inputs)
    for i, units in enumerate((48, 16, 48, 16), start=1):
        x = L.Dense(units, activation="relu", name=f"fold{i}",
                    kernel_initializer=keras.initializers.GlorotUniform(seed=seed + i))(x)
        x = L.Dropout(0.1, name=f"fold{i}_dropout")(x)
    outputs = L.Dense(10, activation="softmax", name="head_dense")(x)
    return keras.Model(inputs, outputs)


@pytest.fixture(scope="session")
def digits(digits_dataset):
    """The digits scaled to [0, 1]: 1,200 rows to train on (x_train, y_train), the rest to judge (x_val, y_val)."""
    ds = digits_dataset
    x = ds["x_train"].astype("float32") / 255.0
    y = ds["y_train"]
    return {"x_train": x[:1200], "y_train": y[:1200], "x_val": x[1200:], "y_val": y[1200:]}


@pytest.fixture(scope="session")
def evaluate(digits):
    """Accuracy on the digits' x_val, y_val."""
    from opscore.compression import evaluation

    return evaluation.accuracy_evaluator(digits["x_val"], digits["y_val"])


@pytest.fixture(scope="session")
def trained_cnn(digits):
    """small_cnn() after four epochs of Adam on the digits. Do not modify it."""
    from opscore.tf import keras

    keras.utils.set_random_seed(0)
    model = small_cnn()
    model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy")
    model.fit(digits["x_train"], digits["y_train"], epochs=4, batch_size=64, verbose=0)
    return model


# ----------------------------------------------------------------------------- data files made here
# Format-exact CIFAR and MNIST files and a small CSV table (no network, no /work/shared): what the data
# wing's tests share (test_archives, test_parsers, test_datasets, test_splits, test_prepared, test_data_tables).

CIFAR10_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


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
    from opscore.data import archives

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


def write(path, text):
    path.write_text(text)
    return path


@pytest.fixture
def fraud_csv(tmp_path):
    # A miniature credit-card table: Time, V1, Amount, Class (0/1), 12 rows, 4 frauds.
    rows = ["Time,V1,Amount,Class"]
    for i in range(12):
        rows.append(f"{i},{(-1) ** i * 0.5 * i},{10.25 * i},{int(i % 3 == 0)}")
    return write(tmp_path / "creditcard.csv", "\n".join(rows) + "\n")


# ----------------------------------------------------------------------------- study rows
# A made-up measurement table and readers of chart specs and SVGs: what the studies' tests share
# (test_studies, test_studies_tables, test_studies_figures, test_studies_files, test_studies_pruning).


def _row(model="ResNet50", variant="original", unfreeze="all", split="70-30", seed=0, dataset="cifar10", **values):
    base = dict(
        dataset=dataset, model=model, variant=variant, unfreeze=unfreeze, split=split, seed=seed,
        accuracy=0.8, precision_macro=0.7, recall_macro=0.6, f1_macro=0.65, auc_ovr=0.9, top5_accuracy=0.99,
        n_test=100, train_time_s=100.0, first_epoch_s=12.0, epochs=10, prep_time_s=0.0, inference_time_s=2.0,
        inference_median_s=0.2, inference_ms_per_image=2.0, repeats=10, size_bytes=98_000_000,
        size_compressed_bytes=90_000_000, size_mb=98.0, size_compressed_mb=90.0, params=1000, nonzero_params=1000,
        param_bytes=4000,
        layers=177, precision="float32", device="cpu", row="variant",
    )
    base.update(values)
    return base


def _chain_row(model="ResNet50", **values):
    """A measured chain, prune-magnitude-s50+tflite-int8, with what its two steps made."""
    steps = [{"step": "prune-magnitude-s50", "seconds": 20.0, "size_compressed_mb": 40.0, "params": 1000,
              "nonzero_params": 500, "kernel_nonzero_share": 0.5, "held_out": 0.79},
             {"step": "tflite-int8", "seconds": 5.0, "size_compressed_mb": 10.0}]
    return _row(model, "prune-magnitude-s50+tflite-int8", size_compressed_mb=10.0, precision="int8",
                prep_time_s=25.0, prep_steps=json.dumps(steps), **values)


def _full_table() -> pd.DataFrame:
    """Two models, quantized, clustered, three depths and three splits (out of order on purpose)."""
    rows = []
    for model, size, acc in [("VGG16", 528.0, 0.70), ("ResNet50", 98.0, 0.80)]:
        for split in ["90-10", "official", "70-30"]:
            for unfreeze, bump in [("all", 0.05), ("10", 0.02), ("1", 0.0)]:
                rows.append(_row(model, "original", unfreeze, split, accuracy=acc + bump, size_mb=size,
                                 size_compressed_mb=size * 0.9, train_time_s=float({"90-10": 90, "official": 83,
                                                                                    "70-30": 70}[split]),
                                 inference_time_s=float({"90-10": 1, "official": 1.7, "70-30": 3}[split])))
        rows.append(_row(model, "float16", accuracy=acc - 0.01, size_mb=size / 2, size_compressed_mb=size * 0.4,
                         precision="float16", inference_time_s=4.0, train_time_s=150.0))
        rows.append(_row(model, "tflite-int8", accuracy=acc - 0.03, size_mb=size / 4, size_compressed_mb=size * 0.2,
                         precision="int8", inference_time_s=1.0, prep_time_s=5.0, layers=80))
        for k in (512, 16, 4):
            rows.append(_row(model, f"cluster-k{k}", accuracy=acc - 0.1 / math.log2(k), size_mb=size,
                             size_compressed_mb=size * (0.1 + 0.02 * math.log2(k)), prep_time_s=float(k)))
        # 4x fewer filters' parameters; magnitude pruning keeps the shapes and zeroes half
        rows.append(_row(model, "prune-filters-b2", accuracy=acc + 0.05 - 0.01, params=250, nonzero_params=250,
                         size_mb=size / 4, size_compressed_mb=size * 0.9 / 4, prep_time_s=30.0, param_bytes=1000))
        rows.append(_row(model, "prune-magnitude-s50", accuracy=acc + 0.05 - 0.02, nonzero_params=500,
                         size_mb=size, size_compressed_mb=size * 0.45, prep_time_s=20.0))
    rows.append(dict(dataset="cifar10", model="MAX", variant="MAX", accuracy=1.0, size_mb=9999.0, row="MAX"))
    return pd.DataFrame(rows)


@pytest.fixture(scope="session")
def full() -> pd.DataFrame:
    """_full_table(), read only."""
    return _full_table()


def _data_rows(spec: dict) -> list[dict]:
    rows = []
    for values in spec.get("datasets", {}).values():
        rows.extend(values)
    return rows


# Spelled out here, not read from the module's constants: a column dropped, renamed or moved there
# is a change of the published tables, which these tests are to notice.
IDS = ["dataset", "model", "variant", "unfreeze", "split"]


EXPECTED_COLUMNS = {
    "table1_quantized_size": ["dataset", "model", "variant", "precision", "original_layers", "layers",
                              "original_size_mb", "size_mb", "size_ratio", "original_size_compressed_mb",
                              "size_compressed_mb", "compressed_ratio", "runs"],
    "table2_classification": [*IDS, "accuracy", "precision_macro", "recall_macro", "f1_macro", "runs"],
    "fig4_accuracy": ["dataset", "rank", "model", "variant", "unfreeze", "accuracy", "runs"],
    "fig5_unfreeze_sweep": ["dataset", "model", "family", "split", "unfreeze", "depth_rank", "accuracy", "runs"],
    "fig8_table7_cluster_count": ["dataset", "model", "variant", "k", "accuracy", "size_mb", "size_compressed_mb",
                                  "compressed_ratio", "prep_time_s", "train_time_s", "runs"],
    "table3_split_time": ["dataset", "model", "unfreeze", "split", "train_percent", "test_percent", "n_test",
                          "train_time_s", "first_epoch_s", "inference_time_s", "inference_ms_per_image", "runs"],
    "table4_variant_time": [*IDS, "train_time_s", "prep_time_s", "inference_time_s", "inference_ms_per_image",
                            "train_time_ratio", "inference_time_ratio", "runs"],
    "compression": [*IDS, "original_params", "params", "nonzero_params", "original_size_mb", "size_mb",
                    "size_compressed_mb", "original_param_bytes", "param_bytes", "params_ratio", "nonzero_ratio",
                    "bytes_ratio", "compressed_ratio", "bits_ratio", "params_reduction", "original_accuracy",
                    "accuracy", "accuracy_drop", "runs"],
    "chain_steps": [*IDS, "step_number", "step", "made", "size_mb", "size_compressed_mb", "params",
                    "nonzero_params", "kernel_nonzero_share", "kernel_distinct_values", "held_out", "seconds",
                    "times_smaller", "runs"],
}


def available_studies(table):
    """The measurement-table studies a table has data for (registry order)."""
    from opscore.report import studies

    return [key for key, study in studies.STUDIES.items()
            if study.source == "measurements" and study.has_data(study.table(table))]


def _find(spec, key):
    """All values of ``key`` anywhere in a nested chart spec."""
    found = []
    if isinstance(spec, dict):
        for k, v in spec.items():
            if k == key:
                found.append(v)
            found.extend(_find(v, key))
    elif isinstance(spec, list):
        for v in spec:
            found.extend(_find(v, key))
    return found


def _encodings(spec: dict, channel: str) -> set[str]:
    return {e.get("field") for e in _find(spec, channel) if isinstance(e, dict) and "field" in e}


SVG_NS = "{http://www.w3.org/2000/svg}"


def _svg_texts(path) -> str:
    root = ET.parse(path).getroot()
    assert root.tag == f"{SVG_NS}svg"
    return " ".join(t.text or "" for t in root.iter(f"{SVG_NS}text"))


# ----------------------------------------------------------------------------- a ranking's input
# Three hand-made variants: what test_score and test_ranking share.


LOG2 = math.log10(2)  # 0.30103


def variants(**extra):
    """A small hand-made table; OpScores (inference basis) computed by hand in tests/test_score.py."""
    df = pd.DataFrame({
        "model": ["A", "B", "C"],
        "variant": ["base", "pruned", "clustered"],
        "accuracy": [0.9, 0.99, 0.5],
        "train_time_s": [100.0, 1000.0, 10.0],
        "inference_time_s": [10.0, 0.1, 1.0],
        "size_mb": [2.0, 10.0, 1.0],
    })
    for k, v in extra.items():
        df[k] = v
    return df


# ----------------------------------------------------------------------------- a ranked table to plot
# Three models, two variants each, MIN and MAX rows: what test_plots and test_pareto_plots share.


def plot_table(with_refs: bool = True) -> pd.DataFrame:
    """A ranked table: three models, two variants each (MobileNetV2's on the front), MIN and MAX rows."""
    rows = []
    specs = {"MobileNetV2": (14.0, 0.02, 0.90), "ResNet50": (98.0, 0.08, 0.93), "VGG16": (528.0, 0.15, 0.85)}
    for model, (size, t, acc) in specs.items():
        for variant, unfreeze, bump in [("fe", "0", 0.0), ("ft", "20", 0.03)]:
            rows.append(
                dict(
                    dataset="toy", model=model, variant=variant, unfreeze=unfreeze, split="s0", seed=1,
                    accuracy=acc + bump, precision_macro=acc, recall_macro=acc, f1_macro=acc, auc_ovr=0.99,
                    top5_accuracy=1.0, train_time_s=10.0, inference_time_s=t * (1 + bump), prep_time_s=0.1,
                    size_mb=size, size_compressed_mb=size * 0.9, params=1000, nonzero_params=990,
                    opscore=acc - t, pareto=model == "MobileNetV2", row="variant",
                )
            )
    df = pd.DataFrame(rows)
    if with_refs:
        refs = pd.DataFrame(
            [
                dict(dataset="toy", model="MIN", variant="MIN", unfreeze="", split="", seed=0, accuracy=0.0,
                     inference_time_s=0.001, size_mb=1.0, opscore=0.0, pareto=False, row="MIN"),
                dict(dataset="toy", model="MAX", variant="MAX", unfreeze="", split="", seed=0, accuracy=1.0,
                     inference_time_s=10.0, size_mb=9999.0, opscore=1.0, pareto=False, row="MAX"),
            ]
        )
        df = pd.concat([df, refs], ignore_index=True)
    return df
