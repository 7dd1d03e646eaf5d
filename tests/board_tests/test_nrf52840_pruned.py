"""Pruned SEA-64 on the nRF52840 mote (qemu-mps2-an386-nrf52840, 64 MHz, weights in flash behind 2 wait
states, no data cache): the upper-bound cycles, real-time verdict and energy per window of the real SEA-64
magnitude-pruned one-shot to 90 % and 95 % zeros in all eight convolutions (``edgel3-mote prune --mode
one-shot``; not distilled, so these are timing and energy figures, not accuracy ones: the cost depends on
the zero pattern's density, which the sweep's distilled points share).

Opt-in (marker ``mote``, minutes: prune + int8 export + a bench per point):
    .venv/bin/python -m pytest -m mote tests/board_tests/test_nrf52840_pruned.py
Every traced window must be identical to tflite-micro and the verdict must follow from the upper bound.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from edgel3_mote.export.boards import get_board
from tests.support.traced_window import trace_first_window

BOARD = "qemu-mps2-an386-nrf52840"
OPT_IN = "opt-in (minutes): .venv/bin/python -m pytest -m mote tests/board_tests/test_nrf52840_pruned.py"

pytestmark = [pytest.mark.mote, pytest.mark.qemu, pytest.mark.slow]


@pytest.fixture(scope="module", params=[90, 95], ids=["90pct", "95pct"])
def pruned_bench(request, sea64_weights, clips_dir, tmp_path_factory):
    if "mote" not in (request.config.getoption("markexpr") or ""):
        pytest.skip(OPT_IN)
    from edgel3_mote.export.project import build_firmware_project

    sp = request.param
    tmp = tmp_path_factory.mktemp(f"nrf-pruned-{sp}")
    cmd = [sys.executable, "-m", "edgel3_mote", "prune", "--model", "sea-64", "--weights", str(sea64_weights)]
    cmd += ["--plan", *[str(sp)] * 8, "--mode", "one-shot", "-o", str(tmp / "pruned")]
    subprocess.run(cmd, check=True, capture_output=True)
    weights = tmp / "pruned" / "model.h5"
    info = build_firmware_project(
        BOARD, "sea-64", weights=str(weights), clips=str(clips_dir), out_dir=tmp / "project", log=lambda m: None
    )
    results, cycles = trace_first_window(BOARD, "sea-64", str(weights), info.project_dir, clips_dir / "cat.mp3", tmp)
    return sp, results, cycles


def test_pruned_sea64_verdict_and_energy_on_the_nrf52840(pruned_bench, figure):
    sp, results, c = pruned_bench
    assert results["summary"]["int8_exact_windows"] == results["summary"]["windows"] == 1
    m, board = c["memory"], get_board(BOARD)
    w = m["window"]
    assert m["clock_hz"] == 64_000_000 and w["zero_wait"] <= w["estimate"] <= w["upper_bound"]
    assert c["real_time"] == (w["upper_bound"] <= 64_000_000 * c["window_s"])
    key = f"sea64.nrf52840.pruned{sp}"
    figure(f"{key}.upper_bound_cycles", w["upper_bound"])
    figure(f"{key}.upper_bound_real_time_factor", m["real_time_factor"]["upper_bound"])
    e = c["energy"]["figures"]["upper_bound"]
    figure(f"{key}.energy_mj_upper_bound", e["energy_per_window_mj"])
    assert e["energy_per_window_mj"] == pytest.approx(
        1e3 * board.power.energy_per_window(w["upper_bound"] / board.power.clock_hz, 1.0)
    )
