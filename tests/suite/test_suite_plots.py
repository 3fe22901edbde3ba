"""The suite plots: a categorical factor (pruner, sampler) is drawn as bars with the seeds' min–max as
error bars, a numeric one (memory, CPUs, nodes) as a line; no Ray needed."""

from __future__ import annotations

from pathlib import Path

from matplotlib.collections import LineCollection
from matplotlib.patches import Rectangle
from PIL import Image

from raybench.suite._plots import PLOTS, draw_suite_plot, write_suite_plots


def _doc(values: list, labels: list[str], seeds: list[int]) -> dict:
    by_value = []
    for i, (v, label) in enumerate(zip(values, labels)):
        med = 100.0 + 10 * i
        by_value.append({"index": i + 1, "label": label, "value": v, "status": "completed", "provenance": "measured",
                         "currency": "USD", "jct_s": {"median": med, "min": med - 5, "max": med + 8, "n": len(seeds)},
                         "energy_j": {"median": 10 * med, "min": 9 * med, "max": 11 * med, "n": len(seeds)}})
    return {"name": "s", "variant": "quick", "factor": "pruner", "seeds": seeds, "by_value": by_value, "converge": None}


def _bars(ax) -> list[Rectangle]:
    return [p for p in ax.patches if isinstance(p, Rectangle)]


def test_a_categorical_factor_is_bars_with_the_seeds_spread() -> None:
    doc = _doc([{"type": "none"}, {"type": "median"}, {"type": "asha"}], ["none", "median", "asha"], [0, 1, 2])
    fig = draw_suite_plot(doc, "jct_s", "job completion time, s", "JCT", numeric=False)
    ax = fig.axes[0]
    bars = _bars(ax)
    assert [round(b.get_height(), 6) for b in bars] == [100.0, 110.0, 120.0]
    assert [b.get_x() + b.get_width() / 2 for b in bars] == [0, 1, 2]
    joined = [ln for ln in ax.get_lines() if len(ln.get_xdata()) > 1 and ln.get_linestyle() not in ("None", "")]
    assert not joined  # no line joins the categories (the error bars' caps are markers only)
    spans = [seg for c in ax.collections if isinstance(c, LineCollection) for seg in c.get_segments()]
    assert sorted((round(s[0][1], 6), round(s[1][1], 6)) for s in spans) == [(95.0, 108.0), (105.0, 118.0), (115.0, 128.0)]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["none", "median", "asha"]


def test_a_numeric_factor_stays_a_line_and_one_seed_has_no_error_bars() -> None:
    doc = _doc([1024, 2048, 4096], ["1024", "2048", "4096"], [0])
    ax = draw_suite_plot(doc, "energy_j", "energy, J", "Energy", numeric=True).axes[0]
    line = next(ln for ln in ax.get_lines() if len(ln.get_xdata()) == 3)
    assert list(line.get_xdata()) == [1024.0, 2048.0, 4096.0] and list(line.get_ydata()) == [1000.0, 1100.0, 1200.0]
    assert not _bars(ax) and not [c for c in ax.collections if isinstance(c, LineCollection)]


def test_every_suite_plot_is_written(tmp_path: Path) -> None:
    doc = _doc(["tpe", "random"], ["tpe", "random"], [0, 1])
    paths = write_suite_plots(doc, str(tmp_path), numeric=False)
    assert [Path(p).name for p in paths] == [f"{name}.png" for name, *_ in PLOTS]
    for p in paths:
        with Image.open(p) as im:
            assert im.size[0] > 300
