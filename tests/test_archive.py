"""`./opscore archive`: a run whose config and CSV live outside the checkout, packed whole and
restored on a clean directory with the original data gone: verify passes, a dry run plans nothing,
the ranking and report are the same bytes, and adding a variant plans only its jobs."""
import shutil
import subprocess
import sys
import tarfile

import pytest
import yaml
from conftest import ROOT, planned_jobs, run_snakemake, snakemake_command, snakemake_env
from test_imbalanced_workflow import TABLE, TARGETS, fraud_run

from opscore import archive, integrity

RANKING = "results/scores/fraud/ranking.csv"
RECORD = "results/run/run.yaml"


def archive_command(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "opscore.archive", *map(str, args)], capture_output=True, text=True,
                          timeout=300, env=snakemake_env())


@pytest.fixture(scope="module")
def outside_run(tmp_path_factory):
    """The imbalanced table's run (tests/test_imbalanced_workflow.py: A2E, three variants, the table
    outside the working directory) copied, its config file moved outside too, and its report built;
    (working directory, the table, the config file)."""
    shared = fraud_run(tmp_path_factory)
    outside = tmp_path_factory.mktemp("outside")
    workdir = outside / "run"
    shutil.copytree(shared, workdir, symlinks=True)
    config_file = outside / "my-config.yaml"
    shutil.move(workdir / "config.yaml", config_file)
    # the record names the config files it was given: made again with the one outside; then the report
    (workdir / RECORD).unlink()
    for args in ((RECORD,), (*TARGETS, "--report", "results/report.html")):
        result = subprocess.run(snakemake_command(workdir, None, *args, "--configfile", str(config_file)),
                                capture_output=True, text=True, timeout=300, env=snakemake_env())
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return workdir, shared.parent / TABLE, config_file


@pytest.mark.slow
def test_an_archived_run_restores_whole_elsewhere(outside_run, tmp_path):
    workdir, table, config_file = outside_run
    packed = tmp_path / "run.tar.gz"
    result = archive_command(packed, "--directory", workdir)
    assert result.returncode == 0, result.stderr
    restored = tmp_path / "restored"
    restored.mkdir()
    with tarfile.open(packed) as tar:
        tar.extractall(restored, filter="data")
    gone = tmp_path / "gone.csv"  # (the shared run's table: its readers read only its results)
    shutil.move(table, gone)  # the original data is not on the other machine
    try:
        for needed in ("Snakefile", "requirements.lock", "opscore", "workflow/opscore/archive.py", "RUN.md",
                       "run/inputs/fraud/fraud.csv", "results/report.html", "run/code-version"):
            assert (restored / needed).exists(), needed
        assert (restored / "run/configs/1-my-config.yaml").read_text().endswith(config_file.read_text())
        assert "./opscore run --configfile run/config.yaml" in (restored / "RUN.md").read_text()
        config = yaml.safe_load((restored / "run/config.yaml").read_text())
        assert config["datasets"]["fraud"]["path"] == "run/inputs/fraud/fraud.csv"

        verified = subprocess.run([sys.executable, "-m", "opscore.integrity", str(restored)], capture_output=True,
                                  text=True, env=snakemake_env())
        assert verified.returncode == 0 and "0 damaged, 0 missing" in verified.stdout, verified.stdout
        assert (restored / RANKING).read_bytes() == (workdir / RANKING).read_bytes()
        assert (restored / "results/report.html").read_bytes() == (workdir / "results/report.html").read_bytes()

        continued = ("--configfile", str(restored / "run/config.yaml"))
        # what the run made is there whole (its targets: tests/test_imbalanced_workflow.py's and the report)
        assert planned_jobs(run_snakemake(restored, None, *TARGETS, *continued, "-n", root=restored)) == {}
        more = {**config, "variants": [*config["variants"], "quantize-q8"]}
        (restored / "more.yaml").write_text(yaml.safe_dump(more))
        # (every target: Snakemake's records stay behind, so only missing files say what is new)
        planned = run_snakemake(restored, None, "--configfile", str(restored / "more.yaml"), "-n", root=restored)
        jobs = planned_jobs(planned)
        assert jobs.get("derive_model") == 1 and jobs.get("evaluate") == 1, planned.stdout[-3000:]
        assert not {"train", "prepare_data", "random_baseline"} & set(jobs), jobs
    finally:
        shutil.move(gone, table)


@pytest.mark.slow
def test_no_data_records_the_inputs_instead_of_packing_them(outside_run, tmp_path):
    workdir, table, _ = outside_run
    packed = tmp_path / "run.tar.gz"
    assert archive_command(packed, "--no-data", "--directory", workdir).returncode == 0
    with tarfile.open(packed) as tar:
        names = tar.getnames()
        readme = tar.extractfile("RUN.md").read().decode()
    assert not any(name.startswith("run/inputs/") for name in names)
    assert f"`{table}`" in readme and integrity.digest(table) in readme


def test_what_cannot_be_packed_is_an_error(tmp_path):
    record = {"config": {"datasets": {"t": {"path": str(tmp_path / "nowhere.csv"), "label": "y", "splits": ["70-30"]}},
                         "models": {"A2E": None}, "variants": ["original"]}, "configfiles": []}
    (tmp_path / "results/run").mkdir(parents=True)
    (tmp_path / "results/run/run.yaml").write_text(yaml.safe_dump(record))
    result = archive_command(tmp_path / "a.tar.gz", "--directory", tmp_path)
    assert result.returncode == 1
    assert f"config datasets.t.path: {tmp_path / 'nowhere.csv'} does not exist" in result.stderr
    assert not (tmp_path / "a.tar.gz").exists()
    with pytest.raises(archive.ArchiveError, match="no run is recorded here"):
        archive.build(tmp_path / "b.tar.gz", tmp_path / "empty")


def test_the_pretrained_bases_a_run_read_are_its_inputs(tmp_path):
    config = {"datasets": {"digits": {"splits": ["70-30"]}}, "models": {"ResNet50": None, "A2E": None},
              "variants": ["original"], "weights": "imagenet"}
    with pytest.raises(archive.ArchiveError, match=r"config models.ResNet50 \(ImageNet base\): "
                                                   r"resources/weights/ResNet50-imagenet-notop.h5 does not exist"):
        archive.run_inputs(config, tmp_path)
    base = tmp_path / "resources/weights/ResNet50-imagenet-notop.h5"
    base.parent.mkdir(parents=True)
    base.write_bytes(b"h5")
    assert archive.run_inputs(config, tmp_path) == [(base, "resources/weights/ResNet50-imagenet-notop.h5",
                                                     "models.ResNet50 (ImageNet base)")]


def test_the_launcher_archives_the_checkouts_run():
    assert "archive) cd \"$caller\"; exec python -m opscore.archive" in (ROOT / "opscore").read_text()
