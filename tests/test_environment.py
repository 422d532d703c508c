"""The one lock and the conda env files name the same versions of the user's stack."""
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    return requirement.split("==")[0].strip().lower().replace("_", "-")


def lock_pins() -> dict:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            assert "==" in line, f"requirements.lock: {line!r} is not pinned with =="
            pins[_name(line)] = line.split("==")[1]
    return pins


def env_pins(path: Path) -> dict:
    spec = yaml.safe_load(path.read_text())
    pip_lists = [d["pip"] for d in spec["dependencies"] if isinstance(d, dict) and "pip" in d]
    return {_name(r): r.split("==")[1] for pips in pip_lists for r in pips}


def test_lock_pins_the_users_stack():
    pins = lock_pins()
    assert pins["snakemake"].startswith("9.")
    assert pins["tensorflow"] == "2.21.0"
    assert pins["tf-keras"] == "2.21.0"
    assert pins["tensorflow-model-optimization"] == "0.8.1"
    for package in ("pandas", "pyarrow", "scikit-learn", "altair", "vl-convert-python",
                    "snakemake-executor-plugin-slurm", "pytest"):
        assert package in pins


def test_conda_envs_name_the_locked_versions():
    pins = lock_pins()
    env_files = sorted((ROOT / "envs").glob("*.yaml"))
    assert env_files, "no conda env files in envs/"
    for path in env_files:
        named = env_pins(path)
        assert named, f"{path.name} pins nothing"
        for package, version in named.items():
            assert package in pins, f"{path.name}: {package} is not in requirements.lock"
            assert version == pins[package], f"{path.name}: {package}=={version}, lock has {pins[package]}"


def test_every_rule_names_an_existing_conda_env():
    named = 0
    for rules in (ROOT / "workflow" / "rules").glob("*.smk"):
        text = rules.read_text()
        runs_code = text.count("    script:") + text.count("    shell:")  # every job runs the library
        assert runs_code == text.count("    conda:"), f"{rules.name}: a rule without conda env"
        for name in re.findall(r'conda_env\("(\w+)"\)', text):
            assert (ROOT / "envs" / f"{name}.yaml").exists(), name
            named += 1
    assert named >= 8
