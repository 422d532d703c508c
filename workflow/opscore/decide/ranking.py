"""A ranking written out (parquet, CSV, Markdown with the timing-ties note) and the command line that
ranks a measurement table made elsewhere: python -m opscore.decide.ranking IN.csv OUT.csv [--markdown OUT.md]."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from opscore.decide.score import TIME_BASES, TIME_STATISTICS, rank_table, rank_tables_by
from opscore.job import IDENTITY
from opscore.measure.quality import METRICS

CLI_REQUIRED_COLUMNS = ("model", "accuracy", "size_mb", "train_time_s", "inference_time_s")
# Columns shown by to_markdown (those present, in this order).
MARKDOWN_COLUMNS = (
    *IDENTITY, "runtime",
    *dict.fromkeys(METRICS.values()), "metric_ci_low", "metric_ci_high", "time_s", "inference_cv", "timing_unstable",
    "contended", "size_mb", "opscore", "pareto", "rank",
)



def _fmt_sig(x, digits=4):
    if pd.isna(x):
        return ""
    x = float(x)
    if x == 0 or 1e-3 <= abs(x) < 1e6:
        # Fixed notation with `digits` significant digits.
        decimals = max(digits - 1 - int(np.floor(np.log10(abs(x)))), 0) if x else digits - 1
        return f"{x:.{decimals}f}"
    return f"{x:.{digits - 1}e}"


def _fmt_cell(col: str, x) -> str:
    if x is None or x is pd.NA or (not isinstance(x, str) and pd.isna(x)):
        return ""
    if col in METRICS.values() or col in ("metric_ci_low", "metric_ci_high"):
        return f"{float(x):.4f}"
    if col == "inference_cv":
        return f"{100 * float(x):.1f} %"
    if col == "timing_unstable":
        return "UNSTABLE" if bool(x) else ""
    if col == "contended":
        return "CONTENDED" if bool(x) else ""
    if col == "opscore":
        return f"{float(x):.3f}"
    if col in ("time_s", "size_mb"):
        return _fmt_sig(x, 4)
    if col == "pareto":
        return "yes" if bool(x) else "no"
    if col == "rank":
        return str(int(x))
    if isinstance(x, (float, np.floating)):
        return f"{x:g}"
    return str(x).replace("|", "\\|")


def to_markdown(table: pd.DataFrame) -> str:
    """A Markdown (pipe) table of the key columns of a ranked table, numbers rounded.

    Columns, those present in this order: dataset, model, variant, unfreeze, split, seed,
    accuracy (4 decimals), time_s and size_mb (4 significant digits), opscore (3 decimals),
    pareto (yes/no), rank. NA cells (e.g. rank in the MIN/MAX rows) are blank.
    """
    quality = METRICS.get(table["metric"].dropna().iloc[0], "accuracy") if "metric" in table.columns else "accuracy"
    shown_metrics = {"accuracy", quality}
    cols = [c for c in MARKDOWN_COLUMNS if c in table.columns
            and (c not in METRICS.values() or c in shown_metrics)]
    if not cols:
        raise ValueError("to_markdown: none of the key columns " + ", ".join(MARKDOWN_COLUMNS) + " present")
    shown = pd.DataFrame({c: [_fmt_cell(c, x) for x in table[c]] for c in cols})
    numeric = {*shown_metrics, "metric_ci_low", "metric_ci_high", "time_s", "size_mb", "opscore", "rank", "inference_cv"}
    align = ["right" if c in numeric or (c not in ("pareto", "timing_unstable", "contended")
                                         and pd.api.types.is_numeric_dtype(table[c])) else "left"
             for c in cols]
    return shown.to_markdown(index=False, disable_numparse=True, colalign=align) + "\n" + _ties_note(table)


def _ties_note(table: pd.DataFrame) -> str:
    """Lines naming the variants whose times differ by less than their noise."""
    if "time_ties" not in table.columns:
        return ""
    rows = table[table["time_ties"].fillna("") != ""]
    if rows.empty:
        return ""
    lines = ["", "Times within each other's repeat-to-repeat noise (their order in time is not measured):"]
    for _, row in rows.iterrows():
        lines.append(f"- {row['model']}/{row['variant']}/{row.get('unfreeze', '')}: {row['time_ties']}")
    return "\n".join(lines) + "\n"


def write_table(table: pd.DataFrame, parquet_path=None, csv_path=None, md_path=None) -> None:
    """Write a ranked table as Parquet, CSV (no index) and Markdown; a None path is skipped."""
    for path, write in (
        (parquet_path, lambda p: table.to_parquet(p, index=False)),
        (csv_path, lambda p: table.to_csv(p, index=False)),
        (md_path, lambda p: Path(p).write_text(to_markdown(table), encoding="utf-8")),
    ):
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            write(path)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m opscore.decide.ranking",
        description=(
            "Rank model variants by OpScore = log10(1-accuracy) + log10(time_s) + log10(size_mb) "
            "(lower is better; size in MB = bytes/1e6). IN.csv needs columns "
            + ", ".join(CLI_REQUIRED_COLUMNS) + "; other columns are kept. If a dataset column "
            "exists, each dataset is ranked separately. OUT.csv gets the ranked rows plus MIN/MAX rows."
        ),
    )
    parser.add_argument("input", metavar="IN.csv", help="measurements, one row per model variant")
    parser.add_argument("output", metavar="OUT.csv", help="ranked table to write")
    parser.add_argument("--time-basis", choices=TIME_BASES, default="inference",
                        help="which time enters the score (default: inference)")
    parser.add_argument("--metric", choices=list(METRICS), default="accuracy",
                        help="quality metric in the score (default: accuracy, the paper's)")
    parser.add_argument("--time-statistic", choices=list(TIME_STATISTICS), default=None,
                        help="recompute inference_time_s from the repeats (needs repeats and "
                             "inference_median_s / inference_min_s / inference_total_s); default: as given")
    parser.add_argument("--n-test", type=int, default=None,
                        help="test-set size: floors 1-accuracy at 1/N (an n_test column takes precedence)")
    parser.add_argument("--markdown", metavar="OUT.md", default=None, help="also write a Markdown table")
    args = parser.parse_args(argv)

    try:
        df = pd.read_csv(args.input)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        parser.error(f"cannot read {args.input}: {exc}")
    required = [METRICS[args.metric] if c == "accuracy" else c for c in CLI_REQUIRED_COLUMNS]
    missing = [c for c in required if c not in df.columns]
    if missing:
        parser.error(f"{args.input} is missing required column(s): {', '.join(missing)}")
    if args.n_test is not None and args.n_test <= 0:
        parser.error("--n-test must be positive")
    try:
        if "dataset" in df.columns:
            table = rank_tables_by(df, by="dataset", time_basis=args.time_basis, n_test=args.n_test,
                                   metric=args.metric, time_statistic=args.time_statistic)
        else:
            table = rank_table(df, time_basis=args.time_basis, n_test=args.n_test, metric=args.metric,
                               time_statistic=args.time_statistic)
    except ValueError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 1
    write_table(table, csv_path=args.output, md_path=args.markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
