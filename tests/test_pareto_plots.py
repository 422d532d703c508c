"""Pareto plots per pair of axes (opscore.report.pareto_plots): each pair's own front (the runtime as a
dimension of the figures: tests/test_plots.py)."""
from conftest import plot_table as _table


def test_pareto_plots_mark_each_pairs_own_front():
    from opscore.report.pareto_plots import pareto_plots

    table = _table()
    spec = pareto_plots(table, title="t").to_dict()
    assert len(spec["hconcat"]) == 3
    axes = [(panel["layer"][1]["encoding"]["x"]["field"], panel["layer"][1]["encoding"]["y"]["field"])
            for panel in spec["hconcat"]]
    assert axes == [("inference_time_s", "accuracy"), ("size_mb", "accuracy"), ("inference_time_s", "size_mb")]
    real = table[table["row"] == "variant"]
    fastest = real.loc[real["inference_time_s"].idxmin()]
    for panel in spec["hconcat"]:
        rows = spec["datasets"][panel["layer"][1]["data"]["name"]]
        front = {(r["model"], r["variant"]) for r in rows if r["front"] == "on this front"}
        assert front and len(front) < len(rows)
    time_accuracy = spec["datasets"][spec["hconcat"][0]["layer"][1]["data"]["name"]]
    assert {(r["model"], r["variant"]) for r in time_accuracy if r["front"] == "on this front"} >= {
        (fastest["model"], fastest["variant"])}
