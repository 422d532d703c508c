"""Tests for opscore.report.plots: chart specs (via to_dict) and saved SVG/PNG/HTML files."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pandas as pd
import pytest

from conftest import plot_table as _table
from opscore.report import plots

MODELS = ["MobileNetV2", "ResNet50", "VGG16"]


def _history(combos=(("fe", "0"), ("ft", "20"))) -> pd.DataFrame:
    rows = []
    for model in MODELS[:2]:
        for variant, unfreeze in combos:
            for epoch in range(1, 5):
                rows.append(
                    dict(dataset="toy", model=model, variant=variant, unfreeze=unfreeze, split="s0", seed=1,
                         epoch=epoch, accuracy=0.5 + 0.1 * epoch, val_accuracy=0.45 + 0.1 * epoch,
                         loss=1.0 / epoch, val_loss=1.1 / epoch, epoch_seconds=2.0)
                )
    return pd.DataFrame(rows)


def _data_rows(spec: dict) -> list[dict]:
    """All inline data rows of a chart spec (altair consolidates them into `datasets`)."""
    rows = []
    for values in spec.get("datasets", {}).values():
        rows.extend(values)
    if isinstance(spec.get("data"), dict) and "values" in spec["data"]:
        rows.extend(spec["data"]["values"])
    return rows


def _all_encodings(spec: dict) -> list[dict]:
    out = []
    if "encoding" in spec:
        out.append(spec["encoding"])
    for key in ("layer", "spec"):
        sub = spec.get(key)
        for s in sub if isinstance(sub, list) else [sub] if sub else []:
            out.extend(_all_encodings(s))
    return out


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """One bubble chart saved in every supported format (rendering is the slow part)."""
    out = tmp_path_factory.mktemp("figs") / "nested" / "dir"
    chart = plots.bubble_chart(_table(), title="toy bubbles")
    paths = {ext: plots.save_chart(chart, out / f"bubble{ext}") for ext in (".svg", ".png", ".html")}
    return out, paths


# ------------------------------------------------------------------------------ bubble


def _points(spec: dict) -> tuple[dict, list[dict]]:
    """The bubble layer of a bubble chart (drawn last, over the Pareto line): encoding, rows."""
    layer = spec["layer"][-1]
    return layer["encoding"], spec["datasets"][layer.get("data", spec.get("data"))["name"]]


def test_bubble_encodes_fields():
    spec = plots.bubble_chart(_table(), title="t").to_dict()
    enc, _ = _points(spec)
    assert enc["x"]["field"] == "inference_time_s"
    assert enc["x"]["scale"]["type"] == "log"
    assert "(s" in enc["x"]["title"]
    assert enc["y"]["field"] == "accuracy"
    low, high = enc["y"]["scale"]["domain"]
    accuracies = [row["accuracy"] for row in _data_rows(spec)]
    assert 0 <= low < min(accuracies) and max(accuracies) < high <= 1  # room around the data, never past 100 %
    assert enc["size"]["field"] == "size_mb"
    assert enc["size"]["title"] == "size (MB)"
    # area proportional to size: linear scale anchored at zero, range from 0
    assert enc["size"]["scale"]["zero"] is True and enc["size"]["scale"]["range"][0] == 0
    assert enc["color"]["field"] == "model"
    assert enc["shape"]["field"] == "variant"
    tips = {t["field"] for t in enc["tooltip"]}
    assert {"model", "variant", "unfreeze", "split", "seed", "accuracy", "inference_time_s", "size_mb", "opscore"} <= tips
    assert spec["width"] >= 300 and spec["height"] >= 200
    assert spec["title"]["text"] == "t"


def test_bubble_marks_pareto_rows():
    spec = plots.bubble_chart(_table()).to_dict()
    enc, rows = _points(spec)
    assert enc["stroke"]["field"] == "front"
    assert "pareto" in enc["strokeWidth"]["condition"]["test"]
    front = {r["model"] for r in rows if r["front"] == "Pareto-optimal"}
    assert front == {"MobileNetV2"}


def test_bubble_is_interactive_and_draws_the_front_and_the_constraints():
    table = _table()
    spec = plots.bubble_chart(table, constraints={"min_metric": 0.8}).to_dict()
    enc, rows = _points(spec)
    params = spec["layer"][-1].get("params") or spec["params"]  # altair may hoist them to the top
    assert any(p["select"]["type"] == "interval" and p.get("bind") == "scales" for p in params)  # zoom, pan
    assert any(p["name"] == "variant_filter" and p["bind"]["input"] == "select" for p in params)
    fields = {t["field"] for t in enc["tooltip"]}
    assert {"accuracy", "inference_time_s", "size_mb", "feasible"} <= fields
    feasible = {r["model"] + r["variant"]: r["feasible"] for r in rows}
    real = table[table["row"] == "variant"]
    for _, row in real.iterrows():
        expected = "meets every constraint" if row["accuracy"] >= 0.8 else "breaks min_metric"
        assert feasible[row["model"] + row["variant"]] == expected
    if real["pareto"].sum() > 1:
        assert spec["layer"][0]["mark"]["type"] == "line"


def test_bubble_without_pareto_column():
    table = _table().drop(columns=["pareto", "opscore"])
    enc, _ = _points(plots.bubble_chart(table).to_dict())
    assert "stroke" not in enc
    assert "opscore" not in {t["field"] for t in enc["tooltip"]}


def test_min_max_rows_dropped():
    table = _table()  # six variants, then the MIN and MAX rows
    _, rows = _points(plots.bubble_chart(table).to_dict())
    assert len(rows) == (table["row"] == "variant").sum() == 6
    assert {r["model"] for r in rows} == set(MODELS)
    bar_rows = _data_rows(plots.accuracy_bars(table).to_dict())
    assert not {"MIN", "MAX"} & {r["model"] for r in bar_rows}


def test_nonpositive_time_dropped_with_warning():
    table = _table(with_refs=False)
    table.loc[0, "inference_time_s"] = 0.0
    with pytest.warns(UserWarning, match="non-positive"):
        rows = _data_rows(plots.bubble_chart(table).to_dict())
    assert len(rows) == 5


def test_missing_column_raises():
    with pytest.raises(ValueError, match="size_mb"):
        plots.bubble_chart(_table().drop(columns=["size_mb"]))


def test_theme_is_shared():
    cfg = plots.theme_config()
    for chart in (plots.bubble_chart(_table()), plots.accuracy_bars(_table()), plots.training_curves(_history())):
        spec = chart.to_dict()
        assert spec["config"]["axis"]["labelFontSize"] == cfg["axis"]["labelFontSize"]
        assert spec["config"]["title"]["fontSize"] == plots.FONT_SIZES["title"]


# ------------------------------------------------------------------------------ curves


def test_training_curves_train_and_validation_faceted():
    spec = plots.training_curves(_history(), title="curves").to_dict()
    rows = _data_rows(spec)
    assert {r["curve"] for r in rows} == {"train", "validation"}
    assert len(rows) == 2 * len(_history())
    # validation values come from val_accuracy
    val = [r for r in rows if r["curve"] == "validation" and r["model"] == "ResNet50" and r["epoch"] == 1]
    assert val and all(abs(r["accuracy"] - 0.55) < 1e-9 for r in val)
    assert spec["facet"]["field"] == "panel"
    encs = _all_encodings(spec)
    assert any(e.get("strokeDash", {}).get("field") == "curve" for e in encs)
    assert all(e["color"]["field"] == "model" for e in encs)
    assert {r["panel"] for r in rows} == {"fe · unfreeze 0", "ft · unfreeze 20"}


def test_training_curves_single_combo_not_faceted():
    spec = plots.training_curves(_history(combos=(("ft", "20"),))).to_dict()
    assert "facet" not in spec
    assert {r["curve"] for r in _data_rows(spec)} == {"train", "validation"}


# ------------------------------------------------------------------------------ bars


def test_accuracy_bars_sorted_descending():
    table = _table()
    spec = plots.accuracy_bars(table).to_dict()
    rows = _data_rows(spec)
    y = next(e["y"] for e in _all_encodings(spec) if "y" in e)
    order = y["sort"]
    acc = {r["label"]: r["accuracy"] for r in rows}
    assert len(order) == 6
    assert [acc[label] for label in order] == sorted(acc.values(), reverse=True)
    assert order[0].startswith("ResNet50 · ft")


def test_accuracy_bars_average_over_seeds():
    table = _table(with_refs=False)
    second = table.copy()
    second["seed"] = 2
    second["accuracy"] = second["accuracy"] - 0.1
    rows = _data_rows(plots.accuracy_bars(pd.concat([table, second])).to_dict())
    assert len(rows) == 6
    r = next(r for r in rows if r["model"] == "VGG16" and r["variant"] == "fe")
    assert r["accuracy"] == pytest.approx(0.80) and r["n"] == 2


# ------------------------------------------------------------------------------ saving


def test_svg_written_and_valid(saved):
    out, paths = saved
    path = paths[".svg"]
    assert path.parent == out and path.is_file()
    root = ET.parse(path).getroot()
    assert root.tag.endswith("svg")
    text = path.read_text()
    for model in MODELS:
        assert model in text
    assert "MIN" not in re.findall(r">([^<]*)<", text)


def test_png_magic(saved):
    _, paths = saved
    data = paths[".png"].read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    # scale 2: wider than the 520 px plot area alone times two
    width = int.from_bytes(data[16:20], "big")
    assert width > 2 * 520


def test_html_inline_offline(saved):
    _, paths = saved
    html = paths[".html"].read_text()
    scripts = re.findall(r"<script[^>]*>", html)
    assert scripts, "no script tags"
    assert not any("src=" in s for s in scripts), scripts
    assert "https://cdn" not in html
    assert "vegaEmbed" in html and "MobileNetV2" in html


def test_html_is_altairs_inline_html_with_the_bundle_read_from_the_cache(tmp_path, monkeypatch):
    """vl-convert builds the bundle once per machine (~1.4 CPU-s a figure job otherwise)."""
    import io

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    chart = plots.bubble_chart(_table(), title="cached")
    altairs = io.StringIO()
    chart.save(altairs, format="html", inline=True)
    written = plots.save_chart(chart, tmp_path / "first.html")
    assert written.read_text() == altairs.getvalue()
    (cached,) = (tmp_path / "opscore").glob("vega-embed-*.js")
    assert cached.read_text() in altairs.getvalue()
    cached.write_text("/* the cached bundle */")
    assert "/* the cached bundle */" in plots.save_chart(chart, tmp_path / "second.html").read_text()


def test_no_temp_files_left(saved):
    out, paths = saved
    names = [p.name for p in paths.values()]
    # each figure and its integrity record (opscore.integrity), nothing else
    assert sorted(p.name for p in out.iterdir()) == sorted(names + [f".{name}.sha256" for name in names])


def test_bad_suffix_raises(tmp_path):
    chart = plots.bubble_chart(_table())
    with pytest.raises(ValueError, match="suffix"):
        plots.save_chart(chart, tmp_path / "fig.jpeg")
    with pytest.raises(ValueError):
        plots.save_chart(chart, tmp_path / "fig")
    assert list(tmp_path.iterdir()) == []


def test_save_replaces_existing(tmp_path):
    path = tmp_path / "fig.svg"
    path.write_text("old")
    plots.save_chart(plots.accuracy_bars(_table()), path)
    assert path.read_text().lstrip().startswith("<svg")


def test_the_runtime_is_a_dimension_of_the_figures():
    """With a runtime column: the bubbles' and Pareto points' shape, each bubble labelled with its
    variant, the accuracy bars' colour."""
    from opscore.report.pareto_plots import pareto_plots

    table = _table().assign(runtime=["tensorflow", "onnxruntime"] * 3 + ["", ""])
    layers = plots.bubble_chart(table).to_dict()["layer"]
    points = next(layer for layer in layers if layer["mark"]["type"] == "point")
    assert points["encoding"]["shape"]["field"] == "runtime" and points["encoding"]["color"]["field"] == "model"
    assert layers[-1]["mark"]["type"] == "text" and layers[-1]["encoding"]["text"]["field"] == "variant"
    assert plots.accuracy_bars(table).to_dict()["layer"][0]["encoding"]["color"]["field"] == "runtime"
    assert all(panel["layer"][1]["encoding"]["shape"]["field"] == "runtime"
               for panel in pareto_plots(table).to_dict()["hconcat"])
