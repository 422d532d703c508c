"""The download rule's line (opscore.data.fetch): a staged archive used as it is and recorded, a
damaged one refused in one line; and, through Snakemake, a staged archive older than the workflow's
code is not fetched again (a script rule's outputs older than its script would be)."""
import os

import pytest
from conftest import planned_jobs, test_config
from conftest import run_snakemake as snakemake

from opscore import integrity
from opscore.data import archives
from opscore.data.fetch import main

MNIST = [archive.filename for archive in archives.DATASET_ARCHIVES["mnist"]]


@pytest.fixture
def staged_mnist_labels(tmp_path, monkeypatch):
    """A file at the test labels' name, registered with its own md5 (the official one is the real file's)."""
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(b"labels" * 100)
    official = next(a for a in archives.DATASET_ARCHIVES["mnist"] if a.filename == path.name)
    mine = archives.Archive(official.filename, "http://127.0.0.1:9/unreachable", archives.md5sum(path))
    monkeypatch.setitem(archives.DATASET_ARCHIVES, "mnist", [mine])
    return path


def test_a_staged_archive_is_used_as_it_is_and_recorded(staged_mnist_labels, no_network, capsys):
    assert main([str(staged_mnist_labels)]) == 0
    assert integrity.read_record(staged_mnist_labels)["sha256"] == integrity.digest(staged_mnist_labels)
    assert "verified" in capsys.readouterr().out


def test_a_damaged_archive_is_refused_in_one_line_and_set_aside(staged_mnist_labels, no_network, capsys):
    staged_mnist_labels.write_bytes(b"truncated")
    assert main([str(staged_mnist_labels)]) == 1
    error = capsys.readouterr().err.strip()
    assert error.startswith("ERROR: ") and "has md5" in error and len(error.splitlines()) == 1
    assert not staged_mnist_labels.exists() and staged_mnist_labels.with_name(staged_mnist_labels.name + ".bad").exists()


def test_an_unknown_name_is_refused(tmp_path, capsys):
    assert main([str(tmp_path / "cifar-11.tar.gz")]) == 1
    assert "no official archive is called 'cifar-11.tar.gz'" in capsys.readouterr().err


def test_archives_staged_with_their_original_date_are_not_fetched_again(tmp_path):
    """Copied with `cp -p` or staged long ago: older than every file of the workflow. Snakemake
    re-runs a script rule whose outputs are older than its script and deletes them first; the
    download rule is a shell line, so the plan takes the staged files as they are."""
    downloads = tmp_path / "resources/downloads"
    downloads.mkdir(parents=True)
    for name in MNIST:
        (downloads / name).write_bytes(b"staged")
        os.utime(downloads / name, (1e9, 1e9))  # 2001
    config = {**test_config("tiny"), "datasets": {"mnist": {"splits": ["official"]}}}
    plan = planned_jobs(snakemake(tmp_path, config, "-n", "results/data/mnist/official/seed-0.npz"))
    assert plan == {"prepare_data": 1}, plan


def test_the_download_line_runs_the_interpreter_running_snakemake_whatever_python_is_on_path(tmp_path):
    """The shell line names Snakemake's own interpreter (the pinned venv's, as `script:` rules use),
    so a `python` elsewhere on PATH, or none, does not decide which library fetches."""
    from conftest import finish, start_snakemake

    target = "resources/downloads/cifar-11.tar.gz"  # no such official archive: refused in one line
    code, output = finish(start_snakemake(tmp_path, test_config("tiny"), target, env={"PATH": "/usr/bin:/bin"}))
    log = (tmp_path / "results/logs/download/cifar-11.tar.gz.log").read_text()
    assert code != 0 and "no official archive is called 'cifar-11.tar.gz'" in log, output + log
