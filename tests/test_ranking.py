"""A ranking written out (opscore.decide.ranking): Markdown, Parquet and CSV files, and the CLI
`python -m opscore.decide.ranking` (run as a process and in this one)."""
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import LOG2, variants
from opscore.decide.ranking import main, to_markdown, write_table
from opscore.decide.score import rank_table, rank_tables_by


WORKFLOW_DIR = Path(__file__).resolve().parents[1] / "workflow"


# ----------------------------------------------------------------------------- output
def test_to_markdown_key_columns_rounded():
    md = to_markdown(rank_table(variants(seed=[1, 2, 3])))
    lines = md.strip().splitlines()
    header = [h.strip() for h in lines[0].strip("|").split("|")]
    assert header == ["model", "variant", "seed", "accuracy", "time_s", "size_mb", "opscore", "pareto", "rank"]
    assert len(lines) == 2 + 5  # header, rule, 3 variants, MIN, MAX
    assert "0.301" in md and "0.30103" not in md
    assert "-2.000" in md
    row_b = next(line for line in lines if "| B " in line)
    cells = [c.strip() for c in row_b.strip("|").split("|")]
    assert cells == ["B", "pruned", "2", "0.9900", "0.1000", "10.00", "-2.000", "yes", "1"]
    row_min = next(line for line in lines if "| MIN " in line)
    assert [c.strip() for c in row_min.strip("|").split("|")][-2:] == ["", ""]


def test_write_table_round_trip(tmp_path):
    t = rank_table(variants())
    out = tmp_path / "sub"
    write_table(t, out / "t.parquet", out / "t.csv", out / "t.md")
    back = pd.read_parquet(out / "t.parquet")
    assert back["model"].tolist() == t["model"].tolist()
    np.testing.assert_allclose(back["opscore"], t["opscore"])
    csv = pd.read_csv(out / "t.csv")
    np.testing.assert_allclose(csv["opscore"], t["opscore"])
    assert (out / "t.md").read_text().startswith("| model")


# ----------------------------------------------------------------------------- CLI
def run_cli(*args):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(WORKFLOW_DIR), env.get("PYTHONPATH")) if p)
    return subprocess.run([sys.executable, "-m", "opscore.decide.ranking", *map(str, args)],
                          env=env, capture_output=True, text=True, timeout=60)


def test_cli_writes_ranked_csv_and_markdown(tmp_path):
    src = tmp_path / "in.csv"
    variants(note=["x", "y", "z"]).to_csv(src, index=False)
    out, md = tmp_path / "out.csv", tmp_path / "out.md"
    res = run_cli(src, out, "--time-basis", "inference", "--markdown", md)
    assert res.returncode == 0, res.stderr
    got = pd.read_csv(out)
    assert got["row"].tolist() == ["variant"] * 3 + ["MIN", "MAX"]
    assert got["model"].tolist() == ["B", "C", "A", "MIN", "MAX"]
    assert got["note"].tolist()[:3] == ["y", "z", "x"]  # other columns kept
    np.testing.assert_allclose(got["opscore"], [-2.0, -LOG2, LOG2, -3.0, 2 - LOG2], atol=1e-12)
    assert "| model" in md.read_text()


def test_cli_time_basis_and_n_test(tmp_path):
    src = tmp_path / "in.csv"
    variants(accuracy=[0.9, 1.0, 0.5]).to_csv(src, index=False)
    out = tmp_path / "out.csv"
    assert main([str(src), str(out), "--time-basis", "train", "--n-test", "100"]) == 0
    got = pd.read_csv(out).set_index("model")
    # B: log10(1/100) + log10(1000) + log10(10) = -2 + 3 + 1 = 2
    assert got.loc["B", "opscore"] == pytest.approx(2.0)
    assert bool(got.loc["B", "error_floored"]) is True
    assert got.loc["B", "time_basis"] == "train"


def test_cli_missing_columns_exit_2(tmp_path):
    src = tmp_path / "in.csv"
    variants().drop(columns=["size_mb", "train_time_s"]).to_csv(src, index=False)
    res = run_cli(src, tmp_path / "out.csv")
    assert res.returncode == 2
    assert "size_mb" in res.stderr and "train_time_s" in res.stderr
    assert not (tmp_path / "out.csv").exists()


def test_cli_bad_value_exit_1(tmp_path, capsys):
    src = tmp_path / "in.csv"
    variants(inference_time_s=[10.0, 0.0, 1.0]).to_csv(src, index=False)
    assert main([str(src), str(tmp_path / "out.csv")]) == 1
    assert "model=B" in capsys.readouterr().err


def test_cli_help_names_its_command_and_the_columns(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps to the terminal's width
    # word for word (a substring check would pass on a help text with something around it)
    assert text == (
        "usage: python -m opscore.decide.ranking [-h] [--time-basis {inference,train,total,latency}] "
        "[--metric {accuracy,balanced_accuracy,f1_macro,recall_macro,precision_macro,auc}] "
        "[--time-statistic {median,min,total}] [--n-test N_TEST] [--markdown OUT.md] IN.csv OUT.csv "
        "Rank model variants by OpScore = log10(1-accuracy) + log10(time_s) + log10(size_mb) (lower is better; "
        "size in MB = bytes/1e6). IN.csv needs columns model, accuracy, size_mb, train_time_s, inference_time_s; "
        "other columns are kept. If a dataset column exists, each dataset is ranked separately. OUT.csv gets the "
        "ranked rows plus MIN/MAX rows. "
        "positional arguments: IN.csv measurements, one row per model variant OUT.csv ranked table to write "
        "options: -h, --help show this help message and exit "
        "--time-basis {inference,train,total,latency} which time enters the score (default: inference) "
        "--metric {accuracy,balanced_accuracy,f1_macro,recall_macro,precision_macro,auc} quality metric in the "
        "score (default: accuracy, the paper's) "
        "--time-statistic {median,min,total} recompute inference_time_s from the repeats (needs repeats and "
        "inference_median_s / inference_min_s / inference_total_s); default: as given "
        "--n-test N_TEST test-set size: floors 1-accuracy at 1/N (an n_test column takes precedence) "
        "--markdown OUT.md also write a Markdown table")


def test_to_markdown_formats_every_kind_of_cell_word_for_word():
    """Each column's format: the metric of the ranking (f1_macro) beside accuracy (4 decimals), not
    other metrics; times and sizes to 4 significant digits (scientific outside 1e-3..1e6); the
    timing CV in %; unstable, Pareto and rank words; blanks for missing; a '|' escaped; text left
    and numbers right aligned; then the note on times within each other's noise."""
    table = pd.DataFrame({
        "model": ["A|B", "C", "MIN"], "variant": ["original", "q8", "MIN"], "unfreeze": [0.5, 2.0, np.nan],
        "seed": [1, 2, 3], "accuracy": [0.91234, 0.5, np.nan], "f1_macro": [0.8, 0.25, 0.8],
        "balanced_accuracy": [0.1, 0.2, 0.3], "metric": "f1_macro", "time_s": [1e-4, 0.0, 2e6],
        "inference_cv": [0.123, 0.0, np.nan], "timing_unstable": [True, False, np.nan],
        "size_mb": [1234.5678, 0.012345, 5.0], "opscore": [-1.23456, 0.5, np.nan], "pareto": [True, False, np.nan],
        "rank": [1.0, 2.0, np.nan], "time_ties": ["C/q8/2", "", None]})
    assert to_markdown(table) == (
        "| model   | variant   |   unfreeze |   seed |   accuracy |   f1_macro |    time_s |   inference_cv "
        "| timing_unstable   |   size_mb |   opscore | pareto   |   rank |\n"
        "|:--------|:----------|-----------:|-------:|-----------:|-----------:|----------:|---------------:"
        "|:------------------|----------:|----------:|:---------|-------:|\n"
        "| A\\|B    | original  |        0.5 |      1 |     0.9123 |     0.8000 | 1.000e-04 |         12.3 % "
        "| UNSTABLE          |      1235 |    -1.235 | yes      |      1 |\n"
        "| C       | q8        |          2 |      2 |     0.5000 |     0.2500 |     0.000 |          0.0 % "
        "|                   |   0.01235 |     0.500 | no       |      2 |\n"
        "| MIN     | MIN       |            |      3 |            |     0.8000 | 2.000e+06 |                "
        "|                   |     5.000 |           |          |        |\n"
        "\nTimes within each other's repeat-to-repeat noise (their order in time is not measured):\n"
        "- A|B/original/0.5: C/q8/2\n")
    with pytest.raises(ValueError, match="none of the key columns dataset, model"):
        to_markdown(pd.DataFrame({"other": [1]}))


def test_cli_in_process_passes_every_option(tmp_path, capsys):
    rows = {"f1_macro": [0.8, 1.0, 0.4], "inference_min_s": [1.0, 0.01, 0.1], "repeats": 10}
    df = pd.concat([variants(dataset="mnist", **rows), variants(dataset="cifar10", **rows)], ignore_index=True)
    df.to_csv(tmp_path / "in.csv", index=False)
    options = ["--time-basis", "total", "--metric", "f1_macro", "--n-test", "100", "--time-statistic", "min"]
    assert main([str(tmp_path / "in.csv"), str(tmp_path / "out.csv"), "--markdown", str(tmp_path / "out.md"),
                 *options]) == 0
    expected = rank_tables_by(pd.read_csv(tmp_path / "in.csv"), by="dataset", time_basis="total", n_test=100,
                              metric="f1_macro", time_statistic="min")
    got = pd.read_csv(tmp_path / "out.csv")
    assert list(got.columns) == list(expected.columns)  # no index column
    np.testing.assert_allclose(got["opscore"], expected["opscore"])
    assert got["dataset"].tolist() == ["mnist"] * 5 + ["cifar10"] * 5
    assert (tmp_path / "out.md").read_text() == to_markdown(expected)
    # without a dataset column: one ranking, the same options
    df.drop(columns="dataset").iloc[:3].to_csv(tmp_path / "one.csv", index=False)
    assert main([str(tmp_path / "one.csv"), str(tmp_path / "one_out.csv"), *options]) == 0
    one = rank_table(pd.read_csv(tmp_path / "one.csv"), time_basis="total", n_test=100, metric="f1_macro",
                     time_statistic="min")
    np.testing.assert_allclose(pd.read_csv(tmp_path / "one_out.csv")["opscore"], one["opscore"])
    assert not (tmp_path / "one_out.md").exists()
    capsys.readouterr()
    assert main([str(tmp_path / "one.csv"), str(tmp_path / "n1.csv"), "--n-test", "1"]) == 0  # 1 is positive
    for argv, message in (
            (["--n-test", "0"], "--n-test must be positive"),
            (["--metric", "balanced_accuracy"], "is missing required column(s): balanced_accuracy"),
            (["--metric", "watts"], "invalid choice: 'watts'"),
            (["--time-basis", "wall"], "invalid choice: 'wall'"),
            (["--time-statistic", "mean"], "invalid choice: 'mean'")):
        with pytest.raises(SystemExit) as done:
            main([str(tmp_path / "one.csv"), str(tmp_path / "x.csv"), *argv])
        assert done.value.code == 2 and message in capsys.readouterr().err, argv
    with pytest.raises(SystemExit):
        main([str(tmp_path / "missing.csv"), str(tmp_path / "x.csv")])
    assert f"cannot read {tmp_path / 'missing.csv'}: " in capsys.readouterr().err


def test_to_markdown_aligns_by_column_not_by_dtype_and_formats_the_edges():
    """Numbers held as objects (a table built with pd.NA) still right-aligned, flags left-aligned even as
    nullable booleans; 1e-3 still fixed, 1e6 already scientific; a note without unfreeze; a single metric."""
    def numbers(*values):
        return pd.Series(values, dtype=object)

    table = pd.DataFrame({
        "model": ["A", "B"], "variant": ["v", "w"], "accuracy": numbers(0.5, pd.NA),
        "metric_ci_low": numbers(0.45, pd.NA), "metric_ci_high": numbers(0.55, pd.NA), "time_s": numbers(0.001, pd.NA),
        "inference_cv": numbers(0.1, pd.NA), "timing_unstable": pd.array([True, pd.NA], dtype="boolean"),
        "contended": pd.array([True, False], dtype="boolean"), "size_mb": numbers(1e6, pd.NA),
        "opscore": numbers(-1.0, pd.NA), "pareto": pd.array([False, pd.NA], dtype="boolean"), "rank": numbers(1, pd.NA),
        "time_ties": ["B/w", ""]})
    rows = (
        "| model   | variant   |   accuracy |   metric_ci_low |   metric_ci_high |   time_s |   inference_cv "
        "| timing_unstable   | contended   |   size_mb |   opscore | pareto   |   rank |\n"
        "|:--------|:----------|-----------:|----------------:|-----------------:|---------:|---------------:"
        "|:------------------|:------------|----------:|----------:|:---------|-------:|\n"
        "| A       | v         |     0.5000 |          0.4500 |           0.5500 | 0.001000 |         10.0 % "
        "| UNSTABLE          | CONTENDED   | 1.000e+06 |    -1.000 | no       |      1 |\n"
        "| B       | w         |            |                 |                  |          |                "
        "|                   |             |           |           |          |        |\n")
    assert to_markdown(table) == (rows + "\nTimes within each other's repeat-to-repeat noise (their order in time is "
                                  "not measured):\n- A/v/: B/w\n")
    assert to_markdown(table.assign(time_ties="")) == rows
    assert to_markdown(table.drop(columns="time_ties")) == rows
    one = pd.DataFrame({"model": ["A"], "metric": ["f1_macro"], "f1_macro": [0.5], "accuracy": [0.9],
                        "balanced_accuracy": [0.3]})
    assert to_markdown(one) == "| model   |   accuracy |   f1_macro |\n|:--------|-----------:|-----------:|\n" \
                               "| A       |     0.9000 |     0.5000 |\n"
    with pytest.raises(ValueError) as error:
        to_markdown(pd.DataFrame({"other": [1]}))
    assert str(error.value) == ("to_markdown: none of the key columns dataset, model, variant, unfreeze, split, seed, "
                                "runtime, accuracy, balanced_accuracy, f1_macro, recall_macro, precision_macro, auc_ovr, "
                                "metric_ci_low, metric_ci_high, time_s, inference_cv, timing_unstable, contended, "
                                "size_mb, opscore, pareto, rank present")


def test_write_table_makes_the_folders_and_writes_no_index(tmp_path):
    import pyarrow.parquet as pq

    both = rank_tables_by(pd.concat([variants(dataset="a"), variants(dataset="b")], ignore_index=True))
    part = both[both["dataset"] == "b"]  # rows 5-9 of the two rankings
    deep = tmp_path / "x" / "y"
    write_table(part, deep / "t.parquet", deep / "t.csv", deep / "t.md")
    assert pq.read_schema(deep / "t.parquet").names == list(part.columns)
    assert list(pd.read_parquet(deep / "t.parquet").index) == [0, 1, 2, 3, 4]
    assert list(pd.read_csv(deep / "t.csv").columns) == list(part.columns)
    assert (deep / "t.md").read_text(encoding="utf-8") == to_markdown(part)


def test_cli_in_process_refusals_word_for_word_and_the_statistic_without_datasets(tmp_path, capsys):
    src = tmp_path / "in.csv"
    variants(inference_min_s=[0.5, 0.02, 0.3], repeats=10).to_csv(src, index=False)
    assert main([str(src), str(tmp_path / "out.csv"), "--time-statistic", "min"]) == 0
    got = pd.read_csv(tmp_path / "out.csv").set_index("model")
    # the minimum x 10 repeats: A 5 s, B 0.2 s, C 3 s (not the 10, 0.1 and 1 s given)
    # A: -1 + log10(5) + log10(2) = 0; B: -2 + log10(0.2) + 1; C: log10(0.5) + log10(3) + 0
    assert got.loc[["A", "B", "C"], "opscore"].tolist() == pytest.approx(
        [0.0, -1 + math.log10(0.2), -LOG2 + math.log10(3)], abs=1e-12)
    capsys.readouterr()
    bad = tmp_path / "bad.csv"
    variants().drop(columns=["size_mb", "train_time_s"]).to_csv(bad, index=False)
    for argv, message in (([str(bad)], f"{bad} is missing required column(s): size_mb, train_time_s"),
                          ([str(src), "--metric", "f1_macro"], f"{src} is missing required column(s): f1_macro"),
                          ([str(src), "--n-test", "0"], "--n-test must be positive")):
        with pytest.raises(SystemExit) as done:
            main([*argv[:1], str(tmp_path / "x.csv"), *argv[1:]])
        assert done.value.code == 2
        assert capsys.readouterr().err.endswith(f"\npython -m opscore.decide.ranking: error: {message}\n"), argv
    assert not (tmp_path / "x.csv").exists()
