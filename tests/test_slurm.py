"""Workflows run through `snakemake --profile slurm` on a real single-node Slurm cluster.

A module fixture starts the cluster with tests/slurm/start-slurm.sh (installs Slurm with apt-get
if missing; needs root on Debian) and stops it with tests/slurm/stop-slurm.sh when this file's tests
end, unless it was already running or OPSCORE_SLURM_KEEP=1. OPSCORE_SKIP_SLURM=1 skips these tests.

The runs use the global profile as a user would: `./opscore profile slurm` writes it into a temporary
HOME, and the test fills in its CHANGE_ME lines for the test cluster (account, partition, the node's 2
CPUs as max-threads, fast status polling), as the README tells users to. The cluster's configuration
lives in a temporary directory (SLURM_CONF), never in /etc/slurm. Every subprocess
runs in its own process group under a time limit; on expiry the group is killed and the run's
Slurm jobs are cancelled, so a stuck run fails the test instead of hanging the session.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from conftest import ROOT as REPO
from conftest import TENSORFLOW_RULES, snakemake_env
from test_workflow import TINY, tiny_run

pytestmark = pytest.mark.slurm


SCRIPTS = REPO / "tests" / "slurm"
PROFILE = REPO / "profiles" / "slurm"
STATE = Path(os.environ.get("OPSCORE_SLURM_STATE", "/tmp/opscore-slurm"))
SLURM_CONF = STATE / "etc" / "slurm.conf"
PARTITION = os.environ.get("OPSCORE_SLURM_PARTITION", "debug")
ACCOUNT = "root"  # slurmdbd's default association: user root, account root

START_TIMEOUT = 1200  # apt-get install on a fresh machine included; ~5 s when installed
STOP_TIMEOUT = 180
# Caps for the test node (2 CPUs, 2 fake GPUs, ~21 GB): the profile asks for more on a real cluster.
MAX_CPUS = int(os.environ.get("OPSCORE_SLURM_CPUS")
               or (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))
FAST_POLLING = ["--slurm-init-seconds-before-status-checks", "1", "--seconds-between-status-checks", "1"]


@dataclass
class Result:
    returncode: int | None  # None: killed after the time limit
    output: str
    seconds: float


def _kill_group(proc: subprocess.Popen) -> None:
    """TERM, then KILL, the process group of proc (snakemake may ignore TERM while polling)."""
    for sig, grace in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


class Process:
    """cmd in its own session with output to log (a file, so no daemon can hold a pipe open)."""

    def __init__(self, cmd: list[str], *, log: Path, cwd: Path | None = None, env: dict | None = None):
        self.log, self.t0 = log, time.monotonic()
        with open(log, "w") as out:
            self.proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)

    def wait(self, timeout: float) -> Result:
        """Wait at most timeout seconds from the start; then kill the process group."""
        try:
            returncode = self.proc.wait(timeout=max(0.0, timeout - (time.monotonic() - self.t0)))
        except subprocess.TimeoutExpired:
            _kill_group(self.proc)
            returncode = None
        except BaseException:  # e.g. Ctrl-C: leave nothing behind
            _kill_group(self.proc)
            raise
        return Result(returncode, self.log.read_text(errors="replace"), time.monotonic() - self.t0)


def run(cmd: list[str], *, timeout: float, log: Path, cwd: Path | None = None, env: dict | None = None) -> Result:
    return Process(cmd, log=log, cwd=cwd, env=env).wait(timeout)


def tail(text: str, lines: int = 60) -> str:
    return "\n".join(text.splitlines()[-lines:])


def _quick(cmd: list[str], timeout: float = 15) -> subprocess.CompletedProcess | None:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None


def cancel_jobs_under(directory: Path) -> list[str]:
    """scancel the jobs (pending or running) whose working directory is under directory."""
    listing = _quick(["squeue", "-h", "-t", "PD,R,CG,S", "-o", "%A %Z"])
    if listing is None or listing.returncode != 0:
        return []
    root = str(directory.resolve())
    jobs = [line.split(maxsplit=1)[0] for line in listing.stdout.splitlines()
            if len(line.split(maxsplit=1)) == 2 and (line.split(maxsplit=1)[1] + "/").startswith(root + "/")]
    if jobs:
        _quick(["scancel", *jobs])
    return jobs


@dataclass
class Cluster:
    partition: str
    logs: Path


@pytest.fixture(scope="module")  # stopped when this file's tests end, while other files still run
def slurm_cluster(tmp_path_factory) -> Cluster:
    if os.environ.get("OPSCORE_SKIP_SLURM") == "1":
        pytest.skip("OPSCORE_SKIP_SLURM=1")
    if not sys.platform.startswith("linux") or os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip("the Slurm test cluster needs root on Debian (tests/slurm/start-slurm.sh)")
    logs = tmp_path_factory.mktemp("slurm-cluster")
    previous_conf = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(SLURM_CONF)  # this file's clients reach the test cluster
    ping = _quick(["scontrol", "ping"]) if shutil.which("scontrol") else None
    was_running = ping is not None and ping.returncode == 0 and "UP" in ping.stdout

    env = {**os.environ, "OPSCORE_SLURM_PARTITION": PARTITION}
    started = run(["bash", str(SCRIPTS / "start-slurm.sh")], timeout=START_TIMEOUT, log=logs / "start.log", env=env)
    if started.returncode != 0:
        what = "timed out" if started.returncode is None else f"failed (exit {started.returncode})"
        if not was_running:  # stop what it did start
            run(["bash", str(SCRIPTS / "stop-slurm.sh")], timeout=STOP_TIMEOUT, log=logs / "stop.log")
        pytest.fail(f"tests/slurm/start-slurm.sh {what} after {started.seconds:.0f}s:\n{tail(started.output)}",
                    pytrace=False)
    try:
        yield Cluster(partition=PARTITION, logs=logs)
    finally:
        if not was_running and os.environ.get("OPSCORE_SLURM_KEEP") != "1":
            stopped = run(["bash", str(SCRIPTS / "stop-slurm.sh")], timeout=STOP_TIMEOUT, log=logs / "stop.log")
            if stopped.returncode != 0:
                print(f"stop-slurm.sh: exit {stopped.returncode}\n{tail(stopped.output)}", file=sys.stderr)
        if previous_conf is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = previous_conf


def user_profile(cluster: Cluster, home: Path, edit: bool = True) -> dict:
    """`./opscore profile slurm` into ``home``, its CHANGE_ME lines filled in for the test cluster
    as a user fills them in for theirs (unless ``edit`` is False); the environment to run with."""
    env = {k: v for k, v in os.environ.items() if k != "XDG_CONFIG_HOME"}
    env.update(HOME=str(home), PYTHONPATH=str(REPO / "workflow"))
    written = subprocess.run([sys.executable, "-m", "opscore.slurm_profile"], env=env, capture_output=True,
                             text=True, timeout=60)
    assert written.returncode == 0, written.stderr
    directory = home / ".config" / "snakemake" / "slurm"
    config = directory / "config.yaml"
    assert "CHANGE_ME_account" in config.read_text()
    if edit:
        profile = yaml.safe_load(config.read_text())
        profile["default-resources"]["slurm_account"] = ACCOUNT
        profile["max-threads"] = MAX_CPUS
        profile.update({"slurm-init-seconds-before-status-checks": 1, "seconds-between-status-checks": 1})
        config.write_text(yaml.safe_dump(profile))
        # the test cluster has one partition, with GPUs: every job goes there
        (directory / "partitions.yaml").write_text(yaml.safe_dump(
            {"partitions": {cluster.partition: {"max_gpu": int(os.environ.get("OPSCORE_SLURM_GPUS", "2"))}}}))
    return env


def snakemake(args: list[str], *, workdir: Path, timeout: float, cwd: Path | None = None,
              env: dict | None = None) -> Result:
    """Run snakemake in ``workdir``; afterwards cancel any Slurm job of this run that is still queued."""
    workdir.mkdir(parents=True, exist_ok=True)
    process = Process([sys.executable, "-m", "snakemake", *args], cwd=cwd or workdir, env=snakemake_env(env),
                      log=workdir.parent / f"{workdir.name}-snakemake.log")
    try:
        return process.wait(timeout)
    finally:
        cancel_jobs_under(workdir)


def report(result: Result) -> str:
    state = "timed out" if result.returncode is None else f"exit {result.returncode}"
    return f"snakemake {state} after {result.seconds:.0f}s:\n{tail(result.output)}"


# ------------------------------------------------------------------------------------ tests

GPU_WORKFLOW = r'''
rule all:
    input: "summary.txt"

# gpu=1 becomes `sbatch --gpus=1`; the job proves it got one GPU from Slurm
rule gpu:
    output: "gpu.txt"
    resources: gpu=1
    shell:
        r"""
        scontrol show job "$SLURM_JOB_ID" > {output}.job
        grep -Eq 'TRES=.*gres/gpu=1' {output}.job || {{ echo "job $SLURM_JOB_ID was given no GPU" >&2; exit 1; }}
        test -n "${{CUDA_VISIBLE_DEVICES:-}}" || {{ echo "CUDA_VISIBLE_DEVICES is not set" >&2; exit 1; }}
        echo "job=$SLURM_JOB_ID CUDA_VISIBLE_DEVICES=$CUDA_VISIBLE_DEVICES host=$(hostname)" > {output}
        """

# the profile's alternative for clusters that want --gres: set-resources gpu=0 and gres="gpu:1"
use rule gpu as gres with:
    output: "gres.txt"

# a job that asks for no GPU gets none
rule summary:
    input: "gpu.txt", "gres.txt"
    output: "summary.txt"
    shell:
        r"""
        scontrol show job "$SLURM_JOB_ID" > {output}.job
        cat {input} > {output}
        echo "job=$SLURM_JOB_ID" >> {output}
        """
'''


def _job_id(text: str) -> str:
    fields = dict(f.split("=", 1) for f in text.split() if "=" in f)
    return fields["job"]


def test_gpu_jobs_run_through_the_slurm_profile(slurm_cluster, tmp_path):
    work = tmp_path / "gpu-workflow"
    work.mkdir()
    (work / "Snakefile").write_text(textwrap.dedent(GPU_WORKFLOW))
    env = user_profile(slurm_cluster, tmp_path / "home")
    result = snakemake(["--profile", "slurm", "--set-resources", "gres:gpu=0", "gres:gres=gpu:1"],
                       workdir=work, timeout=180, env=env)
    assert result.returncode == 0, report(result)
    assert result.output.count("has been submitted with SLURM jobid") == 3, report(result)

    gpu, gres = (work / "gpu.txt").read_text(), (work / "gres.txt").read_text()
    for text in (gpu, gres):
        assert "CUDA_VISIBLE_DEVICES=" in text and "CUDA_VISIBLE_DEVICES= " not in text, text
    assert "TresPerJob=gres:gpu:1" in (work / "gpu.txt.job").read_text()      # sbatch --gpus=1
    assert "TresPerNode=gres:gpu:1" in (work / "gres.txt.job").read_text()    # sbatch --gres=gpu:1
    summary_job = (work / "summary.txt.job").read_text()
    assert "gres/gpu" not in summary_job and "gres:gpu" not in summary_job, summary_job
    summary = (work / "summary.txt").read_text().splitlines()
    ids = {_job_id(gpu), _job_id(gres), _job_id(summary[-1])}
    assert len(ids) == 3, f"expected three separate Slurm jobs: {summary}"
    # the profile's default runtime (minutes) reached sbatch
    runtime = int(yaml.safe_load((PROFILE / "config.yaml").read_text())["default-resources"]["runtime"])
    assert f"TimeLimit={runtime // 60:02d}:{runtime % 60:02d}:00" in summary_job, summary_job


FAILING_WORKFLOW = r'''
rule all:
    input: "never.txt"

rule fail:
    output: "never.txt"
    shell: "echo 'failing on purpose' >&2; exit 3"
'''


def test_a_failing_job_fails_the_run_in_bounded_time(slurm_cluster, tmp_path):
    work = tmp_path / "failing-workflow"
    work.mkdir()
    (work / "Snakefile").write_text(textwrap.dedent(FAILING_WORKFLOW))
    # --retries 0: the profile's retry would add a second round (~20 s) to the same outcome
    result = snakemake(["--profile", "slurm", "--retries", "0"], workdir=work, timeout=120,
                       env=user_profile(slurm_cluster, tmp_path / "home"))
    assert result.returncode is not None, report(result)
    assert result.returncode != 0, report(result)
    assert "Error in rule fail" in result.output, report(result)
    assert not (work / "never.txt").exists()
    # Bounded: the plugin backs off +10 s per status check without news and waits out the last
    # back-off before exiting (~35 s here, up to ~3 min on a real cluster); the 120 s timeout above
    # is the bound (a hang fails the test), no speed is asserted.
    logs = list((work / ".snakemake" / "slurm_logs" / "rule_fail").glob("*.log"))
    assert logs and any("failing on purpose" in log.read_text() for log in logs), logs



def test_the_profile_placeholders_fail_loudly(slurm_cluster, tmp_path):
    """Run unedited, the profile stops at once, naming the placeholder account."""
    work = tmp_path / "unedited-profile"
    work.mkdir()
    (work / "Snakefile").write_text('rule all:\n    output: "x.txt"\n    shell: "touch {output}"\n')
    env = user_profile(slurm_cluster, tmp_path / "home", edit=False)
    result = snakemake(["--profile", "slurm", *FAST_POLLING, "--retries", "0"], workdir=work, timeout=90, env=env)
    assert result.returncode not in (0, None), report(result)
    assert "account CHANGE_ME_account appears to be invalid" in result.output, report(result)
    assert not (work / "x.txt").exists()

# ------------------------------------------------------------------------------------ the real workflow

def slurm_job_ids(output: str, rule: str) -> list[str]:
    return re.findall(rf"submitted with SLURM jobid (\d+) \(log: \S*/rule_{rule}/", output)


@pytest.mark.slow  # trains a network on Slurm; the same run made locally is tests/test_workflow.py's
def test_real_workflow_scores_equal_locally_and_on_slurm(slurm_cluster, tmp_path, tmp_path_factory):
    if not (REPO / "Snakefile").exists():
        pytest.skip("no Snakefile yet")
    import pandas as pd

    local_dir = tiny_run(tmp_path_factory)  # made locally, 2 cores, one thread per TensorFlow job
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(TINY))
    # the training's and the evaluation's records: what is compared below (timing, ranking, figures and
    # studies follow on the same executor; tested locally elsewhere)
    measured, history = (f"results/{kind}/digits/70-30/seed-0/A2E/original/unfreeze-all/{name}.parquet"
                         for kind, name in (("measurements", "metrics"), ("models", "history")))
    targets = [measured, history]
    slurm_dir = tmp_path / "slurm"
    # exactly what users type, after `./opscore profile slurm` and their edits of it, with the status
    # polled every second instead of every 10 s (test time) and the local run's threads per job
    # (the same threads, the same arithmetic)
    slurm_result = snakemake(["--snakefile", str(REPO / "Snakefile"), "--directory", str(slurm_dir), *targets,
                              "--profile", "slurm", *FAST_POLLING, "--configfile", str(config), "--set-threads",
                              *(f"{rule}=1" for rule in (*TENSORFLOW_RULES, "benchmark"))],
                             workdir=slurm_dir, timeout=480, env=user_profile(slurm_cluster, tmp_path / "home"))
    assert slurm_result.returncode == 0, report(slurm_result)

    # the GPU rules went to Slurm, each job with a GPU (the workflow profile's per-rule resources)
    for rule in ("train", "evaluate"):
        ids = slurm_job_ids(slurm_result.output, rule)
        assert ids, f"no {rule} job was submitted to Slurm:\n{report(slurm_result)}"
        for job in ids:
            tres = _quick(["sacct", "-n", "-X", "-P", "-j", job, "-o", "AllocTRES"])
            assert tres is not None and "gres/gpu=1" in tres.stdout, (rule, job, tres and tres.stdout)

    # The same quality, and the same training losses: training is seeded and deterministic for a given
    # thread count (one, locally and on Slurm).
    keys = ["dataset", "model", "variant", "unfreeze", "split", "seed"]

    def table(directory: Path, path: str, columns: list[str]):
        return pd.read_parquet(directory / path)[keys + columns].astype({"seed": "int64", "unfreeze": str})

    quality = ["accuracy", "f1_macro", "auc_ovr"]
    local_scores, slurm_scores = table(local_dir, measured, quality), table(slurm_dir, measured, quality)
    assert list(local_scores["model"]) == ["A2E"], local_scores
    pd.testing.assert_frame_equal(local_scores, slurm_scores)
    pd.testing.assert_frame_equal(table(local_dir, history, ["epoch", "loss", "val_loss"]),
                                  table(slurm_dir, history, ["epoch", "loss", "val_loss"]))


def test_profile_slurm_writes_the_global_profile_once(tmp_path):
    """`./opscore profile slurm` writes ~/.config/snakemake/slurm/ from profiles/slurm/, never over
    an existing one without --force (no cluster needed)."""
    env = {k: v for k, v in os.environ.items() if k != "XDG_CONFIG_HOME"}
    env.update(HOME=str(tmp_path), PYTHONPATH=str(REPO / "workflow"))
    command = [sys.executable, "-m", "opscore.slurm_profile"]
    first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert first.returncode == 0, first.stderr
    config = tmp_path / ".config/snakemake/slurm/config.yaml"
    profile = yaml.safe_load(config.read_text())
    assert profile["executor"] == "slurm" and profile["default-resources"]["slurm_account"] == "CHANGE_ME_account"
    assert profile["slurm-partition-config"] == str(config.parent / "partitions.yaml")
    assert "CHANGE_ME_gpu_partition" in (config.parent / "partitions.yaml").read_text()
    # cluster keys here, workflow keys in profiles/default: none in both (the workflow's would win)
    workflow = yaml.safe_load((REPO / "profiles/default/config.yaml").read_text())
    assert not set(profile) & set(workflow), set(profile) & set(workflow)
    assert workflow["set-resources"]["train"]["gpu"] == 1
    config.write_text(config.read_text().replace("CHANGE_ME_account", "mylab"))
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 1 and "--force" in again.stderr
    assert "mylab" in config.read_text()
    forced = subprocess.run([*command, "--force"], env=env, capture_output=True, text=True, timeout=60)
    assert forced.returncode == 0 and "CHANGE_ME_account" in config.read_text()


def test_a_stopped_test_cluster_leaves_no_configuration_behind(slurm_cluster):
    """A slurm.conf left in /etc/slurm would outlive the test cluster: every later Slurm client,
    and so every `snakemake` start (the Slurm plugin's `scontrol show config` probe), would wait
    ~9 s for a controller that is gone. Stopping removes it; then a client fails at once. (Runs
    last: it stops the cluster and starts it again for the fixture's teardown.)"""
    link = Path("/etc/slurm/slurm.conf")
    assert link.is_symlink() and link.resolve() == SLURM_CONF.resolve()
    stopped = run(["bash", str(SCRIPTS / "stop-slurm.sh")], timeout=STOP_TIMEOUT, log=slurm_cluster.logs / "stop1.log")
    try:
        assert stopped.returncode == 0, tail(stopped.output)
        assert not link.exists() and not link.is_symlink()
        without = {k: v for k, v in os.environ.items() if k != "SLURM_CONF"}
        probe = subprocess.run(["scontrol", "show", "config"], env=without, capture_output=True, text=True,
                               timeout=60)
        assert probe.returncode != 0
    finally:
        started = run(["bash", str(SCRIPTS / "start-slurm.sh")], timeout=START_TIMEOUT,
                      log=slurm_cluster.logs / "start2.log")
        assert started.returncode == 0, tail(started.output)
