"""Every artifact recorded (SHA-256 and size) and checked by whatever reads it: a damaged file is one
line naming it and the remedy, at planning (truncated, timestamp kept or not), in the job that reads
it (same size, or made before records existed), and in `./opscore verify`."""
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import yaml
from conftest import ROOT, planned_jobs
from conftest import run_snakemake as snakemake
from test_tabular_workflow import VARIANTS, cancer_run

from opscore import integrity
from opscore.job import write_atomic

RUN = "results/models/cancer/70-30/seed-0/A2E/{variant}/unfreeze-all"
WEIGHTS = RUN.format(variant="original") + "/weights.h5"
TFLITE = RUN.format(variant="tflite-int8") + "/model.tflite"
DATA = "results/data/cancer/70-30/seed-0.npz"
RANKING = "results/scores/cancer/ranking.csv"


def verify(workdir) -> subprocess.CompletedProcess:
    return subprocess.run([str(ROOT / "opscore"), "verify", str(workdir)], capture_output=True, text=True, timeout=120)


def truncate(path, keep_time: bool = True) -> None:
    stat = path.stat()
    path.write_bytes(path.read_bytes()[: stat.st_size // 2])
    if keep_time:
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def flip_a_byte(path) -> None:
    stat, data = path.stat(), bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


@pytest.fixture(scope="module")
def tabular(tmp_path_factory):
    """A2E on a real table, its variants (a TFLite one among them) ranked: tests/test_tabular_workflow.py's
    run, shared with it; (config, run directory)."""
    workdir = cancer_run(tmp_path_factory)
    return yaml.safe_load((workdir / "config.yaml").read_text()), workdir


@pytest.fixture
def run(tabular, tmp_path):
    """A copy of the finished run (timestamps kept) to damage."""
    config, source = tabular
    copy = tmp_path / "run"
    shutil.copytree(source, copy, symlinks=True)
    return config, copy


def test_records_are_written_checked_and_verified(tmp_path):
    artifact = tmp_path / "results/x/a.bin"
    write_atomic(artifact, b"0123456789")
    assert integrity.read_record(artifact)["bytes"] == 10 and integrity.check(artifact)
    assert integrity.verify(tmp_path) == ([], [], 1)
    artifact.write_bytes(b"0123456780")
    with pytest.raises(integrity.DamagedArtifact, match=rf"{artifact} is damaged \(SHA-256 differs.*\); delete it and "
                                                        rf"rerun.*\(rm {artifact}\)"):
        integrity.check(artifact)
    artifact.write_bytes(b"01234")
    assert integrity.size_mismatches(tmp_path) == [integrity.message(artifact, "5 bytes, recorded 10")]
    artifact.unlink()
    assert integrity.verify(tmp_path) == ([], [artifact], 1)


def test_load_errors_of_unrecorded_files_are_diagnosed(tmp_path):
    good, bad = tmp_path / "good.npz", tmp_path / "bad.npz"
    np.savez(good, x=np.arange(1000))
    bad.write_bytes(good.read_bytes()[:300])
    assert integrity.diagnose(good) is None
    assert integrity.diagnose(bad).startswith("BadZipFile")


@pytest.mark.slow
def test_every_artifact_of_a_run_is_recorded_and_verify_passes(tabular):
    _, workdir = tabular
    for artifact in (WEIGHTS, TFLITE, DATA, RANKING, RUN.format(variant="original") + "/history.parquet"):
        assert integrity.read_record(workdir / artifact)["sha256"] == integrity.digest(workdir / artifact), artifact
    result = verify(workdir)
    assert result.returncode == 0 and " 0 damaged, 0 missing" in result.stdout, result.stdout + result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("keep_time", [True, False])
def test_truncated_artifacts_are_named_at_planning_and_by_verify(run, keep_time):
    config, workdir = run
    for artifact in (WEIGHTS, TFLITE, DATA):
        truncate(workdir / artifact, keep_time)
    result = snakemake(workdir, config, "-n")
    assert result.returncode != 0
    output = result.stdout + result.stderr
    for artifact in (WEIGHTS, TFLITE, DATA):
        assert f"{artifact} is damaged (" in output, output[-2000:]
    assert "delete it and rerun" in output
    listed = verify(workdir)
    assert listed.returncode == 1, listed.stdout
    for artifact in (WEIGHTS, TFLITE, DATA):
        assert f"DAMAGED {workdir / artifact}" in listed.stdout, listed.stdout
    for artifact in (WEIGHTS, TFLITE, DATA):
        (workdir / artifact).unlink()  # the remedy: Snakemake remakes them, and what depends on them
    replanned = planned_jobs(snakemake(workdir, config, "-n"))
    assert (replanned["prepare_data"], replanned["train"], replanned["evaluate"]) == (1, 1, len(VARIANTS)), replanned


def evaluate_log(workdir, variant) -> str:
    return (workdir / "results/logs/evaluate/cancer/70-30/seed-0/A2E" / variant / "unfreeze-all.log").read_text()


@pytest.mark.slow
def test_a_changed_artifact_fails_its_reader_in_one_line(run):
    """Same size, a byte changed: planning cannot see it, the job that reads it does."""
    config, workdir = run
    flip_a_byte(workdir / WEIGHTS)
    metrics = RUN.format(variant="original").replace("models", "measurements") + "/metrics.parquet"
    (workdir / metrics).unlink()
    result = snakemake(workdir, config, metrics)
    assert result.returncode != 0
    last = evaluate_log(workdir, "original").strip().splitlines()[-1]
    assert last.startswith(f"ERROR: {WEIGHTS} is damaged (SHA-256 differs"), last
    assert "Traceback" not in evaluate_log(workdir, "original")


@pytest.mark.slow
def test_a_damaged_file_made_before_records_is_named_by_its_reader(run):
    """No record (made before records existed): the reader's load error is turned into the same line."""
    config, workdir = run
    integrity.record_path(workdir / TFLITE).unlink()
    truncate(workdir / TFLITE)
    metrics = RUN.format(variant="tflite-int8").replace("models", "measurements") + "/metrics.parquet"
    (workdir / metrics).unlink()
    result = snakemake(workdir, config, metrics)
    assert result.returncode != 0
    log = evaluate_log(workdir, "tflite-int8")
    assert log.strip().splitlines()[-1].startswith(f"ERROR: {TFLITE} is damaged ("), log[-2000:]
    assert "delete it and rerun" in log and "Traceback" not in log
    verbose = snakemake(workdir, config, metrics, "--verbose")
    assert verbose.returncode != 0 and "Traceback" in evaluate_log(workdir, "tflite-int8")


def test_verify_of_an_empty_directory_passes(tmp_path):
    result = subprocess.run([sys.executable, "-m", "opscore.integrity", str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 0 and "0 artifacts checked" in result.stdout
