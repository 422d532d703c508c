"""A chain drawn as its steps (opscore.report.studies.chains): one row per step from the trained
original, what each step made, seeds averaged; the figure draws a line through the steps."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from conftest import EXPECTED_COLUMNS, _data_rows, _find, _row
from opscore.report.studies import chains, common

CHAIN = "prune-magnitude-s50+cluster-k16+tflite-int8"


def _steps(shift: float = 0.0) -> list[dict]:
    return [
        {"step": "prune-magnitude-s50", "seconds": 20.0 + shift, "size_mb": 98.0, "size_compressed_mb": 45.0,
         "params": 1000, "nonzero_params": 500, "kernel_nonzero_share": 0.5, "kernel_distinct_values": 400.0,
         "held_out": 0.79 + shift / 100},
        {"step": "cluster-k16", "seconds": 30.0 + shift, "size_mb": 98.0, "size_compressed_mb": 15.0,
         "params": 1000, "nonzero_params": 500, "kernel_nonzero_share": 0.5, "kernel_distinct_values": 17.0,
         "held_out": 0.78},
        {"step": "tflite-int8", "seconds": 4.0, "size_mb": 25.0, "size_compressed_mb": 9.0},
    ]


def _table() -> pd.DataFrame:
    rows = []
    for seed, shift in ((0, 0.0), (1, 2.0)):
        rows.append(_row("VGG16", seed=seed, size_compressed_mb=90.0, kernel_nonzero_share=1.0,
                         kernel_distinct_values=900.0))
        rows.append(_row("VGG16", CHAIN, seed=seed, size_compressed_mb=9.0, prep_steps=json.dumps(_steps(shift))))
        # one step is no chain
        rows.append(_row("VGG16", "prune-magnitude-s50", seed=seed, prep_steps=json.dumps(_steps(shift)[:1])))
    rows.append(dict(dataset="cifar10", model="MAX", variant="MAX", accuracy=1.0, row="MAX"))
    return pd.DataFrame(rows)


def test_a_chain_is_one_row_per_step_from_the_original_seeds_averaged():
    table = chains.chain_steps_table(_table())
    assert list(table.columns) == EXPECTED_COLUMNS["chain_steps"]
    assert list(table["step"]) == ["original", "prune-magnitude-s50", "cluster-k16", "tflite-int8"]
    assert list(table["made"]) == ["original", "prune-magnitude-s50", "prune-magnitude-s50+cluster-k16", CHAIN]
    assert list(table["step_number"]) == [0, 1, 2, 3] and set(table["variant"]) == {CHAIN}
    assert list(table["runs"]) == [2, 2, 2, 2]
    assert list(table["size_compressed_mb"]) == [90.0, 45.0, 15.0, 9.0]
    assert list(table["times_smaller"]) == pytest.approx([1.0, 2.0, 6.0, 10.0])
    # the original's kernels from its own row; a step that recorded no kernels (a flatbuffer) has none
    assert table["kernel_distinct_values"].iloc[:3].tolist() == [900.0, 400.0, 17.0]
    assert pd.isna(table["kernel_distinct_values"].iloc[3]) and pd.isna(table["held_out"].iloc[0])
    assert table["seconds"].iloc[1] == pytest.approx(21.0) and table["held_out"].iloc[1] == pytest.approx(0.8)


def test_a_chain_without_its_original_measured_starts_from_nothing():
    table = _table()
    table = table[table["variant"] != "original"]
    steps = chains.chain_steps_table(table)
    assert steps["step"].iloc[0] == "original" and steps["size_compressed_mb"].isna().iloc[0]
    assert steps["times_smaller"].isna().all()


@pytest.mark.parametrize("table", [pd.DataFrame(), pd.DataFrame([_row()]),
                                   pd.DataFrame([_row(variant="tflite-int8", prep_steps=json.dumps(_steps()[2:]))])],
                         ids=["empty", "no-steps-column", "one-step"])
def test_no_chain_no_rows_and_a_no_data_chart(table):
    assert list(chains.chain_steps_table(table).columns) == EXPECTED_COLUMNS["chain_steps"]
    assert len(chains.chain_steps_table(table)) == 0
    assert _data_rows(chains.chain_steps_figure(table).to_dict()) == [{"message": common.NO_DATA_TEXT}]


def test_the_figure_draws_each_chain_through_its_steps_on_a_log_size_axis():
    spec = chains.chain_steps_figure(_table()).to_dict()
    points = _data_rows(spec)
    assert [(p["step_number"], p["step"]) for p in points] == [
        (0, "original"), (1, "prune-magnitude-s50"), (2, "cluster-k16"), (3, "tflite-int8")]
    assert {layer["mark"]["type"] if isinstance(layer["mark"], dict) else layer["mark"]
            for layer in spec["layer"]} == {"line", "point", "text"}
    assert {"type": "log"} in _find(spec, "scale")
    assert "size_compressed_mb" in {encoding.get("field") for encoding in _find(spec, "y")}
