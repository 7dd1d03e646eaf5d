"""The README's real-time figures: SEA-64 (real weights, ../shared) on qemu-netduinoplus2 (its streamed
128 KiB plan), qemu-mps2-an386 and the nRF52840 budget board qemu-mps2-an386-nrf52840, estimated cycles of
one 1-s window through the serial bench's cycle trace (board_tests.bench.window_cycles), with each board's
memory model (export/memory_model.py): zero-wait cycles, the memory-aware estimate and the upper bound the
real-time verdict is taken on, and the energy per window at the datasheet's currents.

The traced window's instructions must equal the device's own ticks, front-end, engine and every layer
(exactly with TIM2's one tick per instruction; within one 40-instruction tick per reading on MPS2); the
estimated cycles, instructions and real-time factor must be the figures results/results.json (and so the
README) states, to 0.5 % (convolutions' cycles per MAC to 0.02), and the "real time" verdict must follow
from them at the board's clock. Record new values with `make results ONLY=sea64.`.
"""

from __future__ import annotations

import pytest

from edgel3_mote.export.boards import get_board
from tests.support.traced_window import trace_first_window

pytestmark = [pytest.mark.qemu, pytest.mark.slow]

# results.json key prefix per board (window 0 of cat.mp3, hop 0.1 s, calibrated on the ten clips)
FIGURE_PREFIX = {
    "qemu-netduinoplus2": "sea64.netduinoplus2",
    "qemu-mps2-an386": "sea64.mps2_an386",
    "qemu-mps2-an386-nrf52840": "sea64.nrf52840",
    "qemu-mps2-an500-h743": "sea64.h743",
}
# the boards whose zero-wait figures the README states (the others' are the same machines' or the M7 model's)
ZERO_WAIT_FIGURES = ("qemu-netduinoplus2", "qemu-mps2-an386")
MAX_INSTRUCTIONS_PER_WINDOW = 150_000_000  # issue 12's bound for the 168 MHz STM32F405


@pytest.fixture(scope="module", params=sorted(FIGURE_PREFIX))
def traced(request, sea64_weights, sea64_project, clips_dir, tmp_path_factory):
    board = request.param
    tmp = tmp_path_factory.mktemp(f"cycles-sea64-{board}")
    info = sea64_project(board)
    return trace_first_window(board, "sea-64", str(sea64_weights), info.project_dir, clips_dir / "cat.mp3", tmp)


def test_trace_instructions_equal_device_ticks(traced):
    results, c = traced
    assert results["summary"]["int8_exact_windows"] == 1
    assert c["instructions_match_ticks"] and c["layers_mapped"]
    res = c["tick_resolution"]
    assert res == (1 if results["board"] == "qemu-netduinoplus2" else 40)
    assert abs(c["frontend"]["instructions"] - c["frontend"]["ticks"]) < res
    assert abs(c["engine"]["instructions"] - c["engine"]["ticks"]) < res
    w = results["clips"][0]["windows"][0]
    for layer, ticks in zip(c["layers"], w["layer_ticks"], strict=True):
        assert abs(layer["instructions"] - ticks) <= max(layer["runs"], 1) * (res - 1)


def test_estimated_cycles_per_window_are_the_stated_figure(traced, figure):
    results, c = traced
    key = FIGURE_PREFIX[results["board"]]
    if results["board"] not in ZERO_WAIT_FIGURES:
        return
    figure(f"{key}.cycles_per_window", c["total"]["cycles"])
    figure(f"{key}.instructions_per_window", c["total"]["instructions"])
    figure(f"{key}.frontend_instructions", c["frontend"]["instructions"])
    figure(f"{key}.engine_instructions", c["engine"]["instructions"])
    figure(f"{key}.frontend_cycles", c["frontend"]["cycles"])
    figure(f"{key}.engine_cycles", c["engine"]["cycles"])
    figure(f"{key}.real_time_factor", c["real_time_factor_zero_wait"])
    if results["board"] == "qemu-netduinoplus2":
        # issue 12's instruction bound on the 168 MHz STM32F405 (its zero-wait real-time goal gave way to issue
        # 18's: the engine is planned for the flash's wait states -- tiled convs, int8 weights in flash -- and the
        # verdict is the upper bound's, test_memory_aware_cycles_and_energy_are_the_stated_figures)
        assert c["total"]["instructions"] <= MAX_INSTRUCTIONS_PER_WINDOW
    layers = sum(layer["cycles"] for layer in c["layers"])
    assert 0.95 * c["engine"]["cycles"] <= layers <= c["engine"]["cycles"]  # glue between layers is small
    assert c["total"]["cycles"] == c["frontend"]["cycles"] + c["engine"]["cycles"]
    assert c["clock_hz"] == get_board(results["board"]).clock_hz
    assert c["real_time_zero_wait"] == (c["total"]["cycles"] <= c["clock_hz"] * c["window_s"])
    assert c["real_time_factor_zero_wait"] == pytest.approx(c["clock_hz"] * c["window_s"] / c["total"]["cycles"])
    lo, hi = c["total"]["cycles_p_range"]  # P = 1 and P = 3 around the table's P = 2
    assert lo < c["total"]["cycles"] < hi and hi - lo == 2 * c["total"]["branches_taken"]

    convs = [layer for layer in c["layers"] if "conv" in layer["name"]]
    assert len(convs) == 8
    for layer in convs:
        assert layer["cycles_per_mac"] == layer["cycles"] / layer["macs"]
        figure(f"{key}.conv_cycles_per_mac.l{layer['name'][:2]}", layer["cycles"] / layer["macs"])


def test_memory_aware_cycles_and_energy_are_the_stated_figures(traced, figure):
    results, c = traced
    key = FIGURE_PREFIX[results["board"]]
    board = get_board(results["board"])
    m = c["memory"]
    w = m["window"]
    assert m["traced"] and w["zero_wait"] == c["total"]["cycles"]
    assert w["zero_wait"] <= w["estimate"] <= w["upper_bound"]
    # the verdict is the upper bound's
    # at the chip's clock the wait states hold for (the H743 budget board states the FPGA's 25 MHz)
    assert m["clock_hz"] == (board.memory.clock_hz or board.clock_hz)
    assert c["real_time"] == (w["upper_bound"] <= m["clock_hz"] * c["window_s"])
    assert m["real_time_factor"]["upper_bound"] == pytest.approx(m["clock_hz"] * c["window_s"] / w["upper_bound"])
    # per part and per layer the figures add up to the window's
    for fig in ("zero_wait", "estimate", "upper_bound"):
        assert c["frontend"]["memory_cycles"][fig] + c["engine"]["memory_cycles"][fig] == w[fig]
        assert sum(layer["memory_cycles"][fig] for layer in c["layers"]) <= c["engine"]["memory_cycles"][fig]
    f = m["flash"]
    if board.memory.zero_wait:
        assert w["estimate"] == w["upper_bound"] == w["zero_wait"] and c["energy"] is None
        return
    # the weights are read from flash: at least one data read per word of SEA-64's int8 weights (398,880 B; the
    # tiled / Winograd convs read them once per pass, never in the MAC loop)
    assert f["data_reads"] > 398_880 // 4 and f["data_misses"] <= f["data_reads"]
    ws = board.memory.flash_wait_states
    assert w["upper_bound"] - w["zero_wait"] == ws * (f["data_reads"] + f["instr_misses"])
    figure(f"{key}.estimate_cycles", w["estimate"])
    figure(f"{key}.upper_bound_cycles", w["upper_bound"])
    figure(f"{key}.upper_bound_real_time_factor", m["real_time_factor"]["upper_bound"])
    e = c["energy"]["figures"]
    figure(f"{key}.energy_mj_estimate", e["estimate"]["energy_per_window_mj"])
    figure(f"{key}.energy_mj_upper_bound", e["upper_bound"]["energy_per_window_mj"])
    life = e["upper_bound"]["battery_life_days"]
    figure(f"{key}.battery_days_2aa_hop10", life["2 x AA alkaline"]["10"])
    figure(f"{key}.battery_days_cr2032_hop10", life["CR2032"]["10"])
    if life["2 x AA alkaline"]["1"] is not None:
        figure(f"{key}.battery_days_2aa_hop1", life["2 x AA alkaline"]["1"])
    # at a 1-s hop a cell lasts only if the window fits the hop on the upper bound
    assert (life["CR2032"]["1"] is not None) == e["upper_bound"]["fits_hop"]["1"]
    p = board.power
    assert e["upper_bound"]["energy_per_window_mj"] == pytest.approx(
        1e3 * p.energy_per_window(w["upper_bound"] / p.clock_hz, 1.0)
    )


def test_bench_report_states_cycles_and_the_real_time_verdict(traced):
    from edgel3_mote.board_tests.harness.bench_report import markdown

    results, c = traced
    md = markdown(results | {"cycles": c, "elapsed_s": 0.0})
    assert f"**real time on zero-wait memory only: {'yes' if c['real_time_zero_wait'] else 'no'}**" in md
    assert f"{c['total']['cycles']:,}" in md and f"real-time factor {c['real_time_factor_zero_wait']:.2f}" in md
    assert "zero-wait-state memory" in md
    if c["memory"]:
        assert f"**real time (on the upper bound): {'yes' if c['real_time'] else 'no'}**" in md
        assert f"{c['memory']['window']['upper_bound']:,}" in md and f"{c['memory']['window']['estimate']:,}" in md
    for layer in c["layers"]:
        if layer["cycles"]:
            assert f"{layer['cycles']:,}" in md
