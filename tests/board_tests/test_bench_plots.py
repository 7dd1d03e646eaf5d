"""The bench's plots are readable: parity.png's tick labels do not overlap (values that differ in the 4th
digit), layers.png draws the real-time budget (one 1-s window per second) and the per-hop budget."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from edgel3_mote.board_tests.harness.bench import summarize  # noqa: E402
from edgel3_mote.board_tests.harness.bench_report import (  # noqa: E402
    _layers_plot,
    _ticks_per_second,
)
from tests.board_tests.test_protocol_reports import _results, _window  # noqa: E402

LAYER_TICKS = [9e6, 30e6, 1e6, 15e6, 28e6]


def _bench(n=60, unit="instructions", cpi=1.5):
    rng = np.random.default_rng(0)
    ws = []
    for i in range(n):
        w = _window(i, layers=[int(t) for t in LAYER_TICKS], fe=5_600_000, eng=int(sum(LAYER_TICKS)))
        w["cosine"] = 0.99985 + 1e-4 * rng.random()  # SEA-64's real spread: 4th-digit differences
        w["l2_relative"] = 0.012 + 0.004 * rng.random()
        ws.append(w)
    res = _results(ws)
    res["summary"] = summarize(res["clips"], ["00_conv_2d", "01_conv_2d", "02_max_pool_2d", "03_conv_2d", "04_conv"])
    res["ticks_unit"] = unit
    if cpi:
        res["cycles"] = {"cpi": cpi}
    return res


def _overlaps(labels) -> bool:
    boxes = [l.get_window_extent() for l in labels if l.get_text()]
    return any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])


def test_parity_tick_labels_do_not_overlap(tmp_path, monkeypatch):
    from edgel3_mote.board_tests.harness import bench_report

    figs = []
    monkeypatch.setattr(bench_report, "save_png", lambda fig, path: (figs.append(fig), path)[1])
    bench_report._plots(_bench(), tmp_path)
    parity = figs[-1]
    parity.canvas.draw()
    for ax in parity.axes:
        labels = ax.get_xticklabels()
        assert 2 <= len([l for l in labels if l.get_text()]) <= 7
        assert not _overlaps(labels), [l.get_text() for l in labels]
        assert not any("e-" in l.get_text() or "+" in l.get_text() for l in labels)  # no offset/exponent notation
    plt.close("all")


def test_layers_plot_has_real_time_and_hop_budgets():
    res = _bench()
    fig = _layers_plot(res, plt)
    ax = fig.axes[0]
    per_s, how = _ticks_per_second(res)
    assert per_s == 25_000_000 / 1.5 and "1.50 cycles/instruction" in how
    vertical = {round(line.get_xdata()[0]) for line in ax.lines if len(set(line.get_xdata())) == 1}
    assert vertical == {round(per_s * 1.0), round(per_s * 0.1)}  # 1-s window per second; one per 0.1-s hop
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any(t.startswith("real time: one 1-s window per second") for t in legend)
    assert any("every hop (0.1 s)" in t for t in legend)
    total = [line for line in ax.lines if line.get_label() == "running total"][0]
    assert total.get_xdata()[-1] == 5_600_000 + sum(LAYER_TICKS)  # front-end + every layer
    plt.close(fig)


def test_real_board_budget_is_its_clock():
    res = _bench(unit="cycles", cpi=None)
    res["clock_hz"] = 480_000_000
    assert _ticks_per_second(res) == (480_000_000, "480 MHz")
