"""The job's plumbing (opscore.job): tables of runs read together."""

import pandas as pd



def test_the_tables_of_runs_stack_and_none_make_an_empty_table(tmp_path):
    from opscore.job import read_parquets

    for seed in (0, 1):
        pd.DataFrame({"seed": [seed, seed], "accuracy": [0.5, 0.6]}).to_parquet(tmp_path / f"{seed}.parquet")
    table = read_parquets([tmp_path / "0.parquet", tmp_path / "1.parquet"])
    assert list(table["seed"]) == [0, 0, 1, 1] and list(table.index) == [0, 1, 2, 3]
    assert read_parquets([]).empty
