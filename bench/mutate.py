"""Mutation testing of the modules that decide the answer: do their fast tests fail when the code is wrong?

    ./opscore exec python bench/mutate.py                 # every module below (~15-30 min on 2 cores)
    ./opscore exec python bench/mutate.py score selection # some of them
    ./opscore exec python bench/mutate.py --jobs 2        # mutants tested in parallel (default 1)
    ./opscore exec python bench/mutate.py --summarise     # the last runs' results again (an interrupted
                                                          # run's too: its unchecked mutants counted apart)

mutmut (pinned in requirements.lock) changes one thing at a time in a module (an operator, a
constant, a comparison, a returned value...) and runs the module's fast tests on each change: a
change that no test notices ("survived") is either a missing test or an equivalent change (the
same behaviour, e.g. ``x[:n]`` and ``x[:n+0]``). Survivors found equivalent are listed, with the
reason, in bench/mutation_equivalent.yaml and counted as killed; the others need a test.

mutmut needs the package in ``src/``: each module runs in its own staging directory under
bench/out/mutate/ holding ``src/opscore`` (a copy of workflow/opscore), the tests and the schema.
Prints the score per module and the surviving mutants; writes bench/results/mutation.json.
Goal: >= 90 % killed per module. Not run by CI (slow); run it after changing a module below or its
tests, and before a release.
"""
from __future__ import annotations

import argparse
import ast
import difflib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
STAGING = ROOT / "bench" / "out" / "mutate"
RESULT = ROOT / "bench" / "results" / "mutation.json"
EQUIVALENT = ROOT / "bench" / "mutation_equivalent.yaml"
GOAL = 0.90

#: module -> (its file under workflow/opscore, the fast tests that judge it, the functions in scope or
#: None for all). measure/: the quality metrics and the sizes, not the run's context.
MODULES = {
    "score": ("decide/score.py", ["tests/test_score.py", "tests/test_ranking.py"], None),
    "ranking": ("decide/ranking.py", ["tests/test_ranking.py", "tests/test_score.py"], None),
    "selection": ("decide/selection.py", ["tests/test_selection.py"], None),
    # the config checks: tests/test_config.py calls them in the test process (conftest.check_config: the schema,
    # then complete and check). Not the dry runs: a Snakemake started by a test imports the mutated library with
    # mutmut's trampoline, which looks for mutmut's settings in the run's directory and fails there; and mutmut
    # only credits a test with the functions it called in its own process.
    "config": ("config.py", ["tests/test_config.py"], None),
    "splits": ("data/splits.py", ["tests/test_splits.py", "tests/test_datasets.py", "tests/test_prepared.py"], None),
    "tables": ("data/tables.py", ["tests/test_data_tables.py", "tests/test_datasets.py"], None),
    "metrics": ("measure/quality.py", ["tests/test_quality.py", "tests/test_score.py"],
                ["classification_metrics", "random_baseline"]),
    "sizes": ("measure/sizes.py", ["tests/test_sizes.py"],
              ["file_size", "weights_size", "parameter_count", "_leaf_layers", "_parameter_values"]),
    "costs": ("measure/costs.py", ["tests/test_costs.py"],
              ["count_flops", "count_flops_or_nan", "parameter_bytes", "speedups"]),
    # not its dry runs: a Snakemake a test starts imports the mutated library with mutmut's trampoline,
    # which fails there (see config); the registry's tests call it in the test process
    "variants": ("kinds/registry.py",
                 ["tests/test_registry.py", "-k", "not before_planning and not plan_it_once"], None),
    # the 95 % intervals and the paired comparisons of the quality metrics
    "uncertainty": ("measure/uncertainty.py", ["tests/test_uncertainty.py"], None),
    # the contention rule (what the kernel's counters between two snapshots say), not the reading of /proc
    "contention": ("benchmark/contention.py", ["tests/test_contention.py"], ["between"]),
}

PYPROJECT = """\
[tool.pytest.ini_options]
testpaths = ["tests"]
addopts = "-p no:cacheprovider"
markers = ["slow: runs the workflow or trains networks", "slurm: needs the test cluster"]
filterwarnings = ["ignore::DeprecationWarning"]

[tool.mutmut]
source_paths = ["src"]
also_copy = ["workflow", "config", "envs", "profiles", "Snakefile"]
only_mutate = {only}
pytest_add_cli_args_test_selection = {tests}
pytest_add_cli_args = ["-m", "not slow and not slurm", "-x", "-q"]
"""


def stage(name: str) -> Path:
    """A fresh staging directory for one module: src/opscore, the tests, the schema, the config."""
    module, tests, _ = MODULES[name]
    where = STAGING / name
    shutil.rmtree(where, ignore_errors=True)
    where.mkdir(parents=True)
    shutil.copytree(ROOT / "workflow" / "opscore", where / "src" / "opscore",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "tests", where / "tests", ignore=shutil.ignore_patterns("__pycache__", "slurm"))
    for part in ("workflow/schemas", "workflow/rules", "workflow/scripts", "workflow/report", "config", "envs",
                 "profiles"):  # the workflow without its library, for the tests that plan a run
        shutil.copytree(ROOT / part, where / part)
    shutil.copy2(ROOT / "Snakefile", where / "Snakefile")
    (where / "pyproject.toml").write_text(PYPROJECT.format(only=json.dumps([f"src/opscore/{module}"]),
                                                           tests=json.dumps(tests)))
    return where


def refresh_tests(where: Path, name: str) -> None:
    """The current tests and the rest of the library into a staged module (and its mutants/ copy);
    the mutated module kept (if it changed since, stage it again: run without --survivors)."""
    for target in (where / "tests", where / "mutants" / "tests"):
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(ROOT / "tests", target, ignore=shutil.ignore_patterns("__pycache__", "slurm"))
    library = ROOT / "workflow" / "opscore"
    for source in library.rglob("*.py"):
        relative = source.relative_to(library)
        if str(relative) != MODULES[name][0]:
            for target in (where / "src" / "opscore", where / "mutants" / "src" / "opscore"):
                shutil.copy2(source, target / relative)


def run_mutmut(where: Path, jobs: int, mutants: list[str] = ()) -> None:
    # the mutated copy for the processes the tests start too (python -m opscore.decide.ranking); mutmut
    # itself puts it first on sys.path of the test process
    # itself puts it first on sys.path of the test process. It must exist before Python starts: a
    # PYTHONPATH entry missing at start-up is cached as unimportable, also after mutmut creates it.
    (where / "mutants" / "src").mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(where / "mutants" / "src"), "TF_USE_LEGACY_KERAS": "1"}
    with open(where / "mutmut.log", "w") as log:
        done = subprocess.run([sys.executable, "-m", "mutmut", "run", "--max-children", str(jobs), *mutants], cwd=where,
                              env=env, stdout=None if VERBOSE else log, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        tail = (where / "mutmut.log").read_text()[-3000:]
        raise SystemExit(f"mutmut failed in {where} (exit {done.returncode}):\n{tail}")


def outcomes(where: Path, name: str) -> dict[str, str]:
    """mutant name -> killed / survived / timeout / no tests / ..., for the functions in scope."""
    from mutmut.stats import status_by_exit_code

    module, _, functions = MODULES[name]
    meta = json.loads((where / "mutants" / "src" / "opscore" / f"{module}.meta").read_text())
    found = {}
    for mutant, code in meta["exit_code_by_key"].items():
        function = mutant.rpartition(".")[2].partition("__mutmut_")[0].removeprefix("x_").split("ǁ")[-1]
        if functions is None or function in functions:
            found[mutant] = status_by_exit_code[code]
    return found


def _functions(where: Path, name: str) -> dict[str, str]:
    """Source of every function in the mutated copy of a module (originals and mutants), by name."""
    source = (where / "mutants" / "src" / "opscore" / MODULES[name][0]).read_text()
    lines = source.splitlines()
    return {node.name: "\n".join(lines[node.lineno - 1:node.end_lineno]) for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.FunctionDef)}  # methods too


def diff(functions: dict[str, str], mutant: str) -> str:
    """The lines a mutant changes (what `mutmut show` prints, without starting mutmut per mutant)."""
    function = mutant.rpartition(".")[2]
    original = function.partition("__mutmut_")[0] + "__mutmut_orig"
    mutated = functions[function].replace(function, original, 1)  # its def line, under the original's name
    lines = difflib.unified_diff(functions[original].splitlines(), mutated.splitlines(), lineterm="", n=0)
    return "\n".join(line for line in lines if line[:1] in "+-" and line[:3] not in ("+++", "---"))


KILLED = ("killed", "timeout", "caught by type check")


def summarise(name: str, found: dict[str, str], equivalent: dict[str, str], where: Path) -> dict:
    unchecked = sorted(m for m, status in found.items() if status == "not checked")
    found = {m: status for m, status in found.items() if status != "not checked"}
    killed = sum(status in KILLED for status in found.values())
    survivors = sorted(m for m, status in found.items() if status not in KILLED)
    listed = [m for m in survivors if m in equivalent]
    functions = _functions(where, name) if survivors else {}
    open_ = [m for m in survivors if m not in equivalent]
    total = len(found)
    score = (killed + len(listed)) / total if total else 1.0
    return {"module": f"workflow/opscore/{MODULES[name][0]}", "tests": MODULES[name][1], "mutants": total,
            "not_checked": len(unchecked), "killed": killed, "equivalent": len(listed), "survived": len(open_),
            "score": round(score, 4), "goal_met": score >= GOAL,
            "survivors": [{"mutant": m, "status": found[m], "change": diff(functions, m)} for m in open_],
            "equivalent_mutants": {m: equivalent[m] for m in listed}}


VERBOSE = False


def main(argv: list[str] | None = None) -> int:
    global VERBOSE
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help=f"default: all of {', '.join(MODULES)}")
    parser.add_argument("--jobs", type=int, default=1, help="mutants tested at once (default 1: the CPU is shared)")
    parser.add_argument("--verbose", action="store_true", help="show mutmut's progress")
    parser.add_argument("--survivors", action="store_true",
                        help="test only the last run's survivors again, with the current tests (after adding tests)")
    parser.add_argument("--summarise", action="store_true",
                        help="do not run: report what the staging directories hold from the last runs")
    args = parser.parse_args(argv)
    VERBOSE = args.verbose
    names = args.modules or list(MODULES)
    unknown = sorted(set(names) - set(MODULES))
    if unknown:
        parser.error(f"unknown module(s) {unknown}; known: {', '.join(MODULES)}")
    equivalent = (yaml.safe_load(EQUIVALENT.read_text()) or {}) if EQUIVALENT.exists() else {}
    modules = {}
    for name in names:
        started, where = time.monotonic(), STAGING / name
        if args.summarise and not (where / "mutants").exists():
            continue
        if args.survivors:
            survivors = [m for m, status in outcomes(where, name).items() if status not in KILLED]
            refresh_tests(where, name)
            if survivors:
                run_mutmut(where, args.jobs, survivors)
        elif not args.summarise:
            stage(name)
            run_mutmut(where, args.jobs)
        modules[name] = summarise(name, outcomes(where, name), equivalent, where)
        if not args.summarise:
            modules[name]["seconds"] = round(time.monotonic() - started, 1)
        row = modules[name]
        print(f"{name:10s} {row['score']:7.1%} killed ({row['killed']} + {row['equivalent']} equivalent of "
              f"{row['mutants']}; {row['survived']} survived; {row['not_checked']} not checked)", flush=True)
        for survivor in row["survivors"]:
            print(f"    survived {survivor['mutant']} ({survivor['status']})\n        "
                  + survivor["change"].replace("\n", "\n        "))
    # the modules not run now keep their last result (read now: another run may have written meanwhile)
    modules = {**(json.loads(RESULT.read_text())["modules"] if RESULT.exists() else {}), **modules}
    print("\n| module | mutants | killed | equivalent | survived | score |\n| --- | --- | --- | --- | --- | --- |")
    for name, row in modules.items():
        print(f"| {name} | {row['mutants']} | {row['killed']} | {row['equivalent']} | {row['survived']} | "
              f"{row['score']:.1%} |")
    import mutmut

    RESULT.write_text(json.dumps({"tool": f"mutmut {getattr(mutmut, '__version__', '')}".strip(), "goal": GOAL,
                                  "modules": modules}, indent=2) + "\n")
    print(f"\nwritten {RESULT.relative_to(ROOT)}")
    return 0 if all(modules[name]["goal_met"] for name in names if name in modules) else 1


if __name__ == "__main__":
    sys.exit(main())
