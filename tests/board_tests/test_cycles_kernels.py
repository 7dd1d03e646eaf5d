"""`make bench-kernels` reports estimated cycles next to instructions (the cycle-estimator hook).

Every ``<name>_ticks`` region of the kernel benchmark firmware must be found in the TB trace with the
same instruction count (within one 40-instruction tick of the MPS2 timer), and the estimated
cycles per MAC must be the figures the README states (results/results.json, to 1 %). With the weights
in flash (the STM32F405's memory system), the engine's two weights-in-flash paths (tiled, Winograd) on
SEA-64's shapes: zero-wait / memory-aware estimate / upper bound cycles per MAC, and the engine's cost
model against their measured instructions.
"""

from __future__ import annotations

import pytest

from edgel3_mote.board_tests.harness.kernel_bench import run_bench

pytestmark = pytest.mark.qemu


@pytest.fixture(scope="module", params=[True, False], ids=["dsp", "portable"])
def dsp_bench(request, tmp_path_factory):
    return request.param, run_bench("qemu-mps2-an386", dsp=request.param, out_dir=tmp_path_factory.mktemp("kbench"))


def test_every_timed_region_is_traced_with_its_instruction_count(dsp_bench):
    _, r = dsp_bench
    assert r["exit_code"] == 0
    for name in ("conv_dense", "conv_sparse", "fc"):
        assert abs(r[f"{name}_traced_instructions"] - r[f"{name}_ticks"]) < 40
        assert r[f"{name}_cycles"] > r[f"{name}_traced_instructions"]  # no M4 instruction takes < 1 cycle


def test_cycles_per_mac_are_the_stated_figures(dsp_bench, figure):
    """Instructions and estimated M4 cycles per MAC on qemu-mps2-an386 (sparse: per dense MAC)."""
    dsp, r = dsp_bench
    build = "dsp" if dsp else "portable"
    macs = {"conv_dense": r["conv_macs"], "conv_sparse": r["conv_macs"], "fc": r["fc_macs"]}
    for name, n in macs.items():
        figure(f"kernels.{build}.{name}.instr_per_mac", r[f"{name}_ticks"] / n)
        figure(f"kernels.{build}.{name}.cycles_per_mac", r[f"{name}_cycles"] / n)


@pytest.mark.parametrize("dsp_bench", [True], ids=["dsp"], indirect=True)  # the bounds are the DSP build's
def test_sea64_layer_shapes_meet_the_real_time_kernel_bounds(dsp_bench, figure):
    """Issue #12's kernel bounds on SEA-64's eight conv shapes with int16-expanded (w16) weights, DSP build:
    <= 1.0 instruction and <= 1.3 estimated M4 cycles per MAC over the whole network; the per-layer cycles too,
    the first (one-channel) layer excepted, whose 9 taps per output cannot amortise the requantisation."""
    from edgel3_mote.board_tests.harness.kernel_bench import SEA64_LAYERS, sea64_per_mac

    dsp, r = dsp_bench
    assert dsp and r["sea_w16_equals_s8"] == 1
    instr, cycles = sea64_per_mac(r, "w16"), sea64_per_mac(r, "w16", "cycles")
    figure("kernels.dsp.sea64_w16.instr_per_mac", instr)
    figure("kernels.dsp.sea64_w16.cycles_per_mac", cycles)
    assert instr <= 1.0 and cycles <= 1.3
    per_layer = [r[f"sea_l{i}_w16_cycles"] / r[f"sea_l{i}_macs"] for i in range(SEA64_LAYERS)]
    figure("kernels.dsp.sea64_w16.max_cycles_per_mac_l1_l7", max(per_layer[1:]))
    figure("kernels.dsp.sea64_w16.l0_cycles_per_mac", per_layer[0])


@pytest.fixture(scope="module")
def flash_bench(tmp_path_factory):
    """bench-kernels' DSP build with its weights in flash, costed with the STM32F405's memory system: the run
    that times the engine's weights-in-flash paths (em_conv2d_s8_tiled, em_conv2d_s8_wino) on SEA-64's shapes."""
    from edgel3_mote.board_tests.harness.kernel_bench import flash_memory_model

    board = "qemu-mps2-an386"
    model = flash_memory_model(board)
    return run_bench(board, True, tmp_path_factory.mktemp("kflash"), flash_weights=True, memory=model)


@pytest.mark.parametrize("form", ["tiled", "wino"])
def test_flash_paths_are_the_stated_figures(flash_bench, figure, form):
    """Issue 18's bench-kernels with weights in flash, for the two paths the engine plans for the F405: tiled
    (one output row a call) on SEA-64's eight conv shapes, Winograd (row-pair calls) on the seven with in_c a
    multiple of 8; outputs byte-identical to em_conv2d_s8's (the firmware exits 1 otherwise). Instructions and
    zero-wait / memory-aware estimate / upper bound cycles per MAC (of the direct convolution) over the shapes;
    the int8 weights are read from flash once per pass (per row, per row pair), never in the MAC loop."""
    from edgel3_mote.board_tests.harness.kernel_bench import SEA64_LAYERS, sea64_layers, sea64_per_mac, sea64_shapes

    r = flash_bench
    assert r["exit_code"] == 0 and r["sea_tiled_wino_equal_s8"] == 1
    layers = sea64_layers(r, form)
    assert layers == list(range(SEA64_LAYERS) if form == "tiled" else range(1, SEA64_LAYERS))
    for i in layers:
        h, w, cin, cout = sea64_shapes()[i]
        assert r[f"sea_l{i}_macs"] == h * w * cout * 9 * cin
        assert abs(r[f"sea_l{i}_{form}_traced_instructions"] - r[f"sea_l{i}_{form}_ticks"]) < 40
        if cin > 1:  # the one-channel layer 0 keeps every channel group's tile: another read pattern
            # every weight word read once per pass (4 int8 a word), plus each pass's tables and pointers
            once_per_pass = cout * 9 * cin / 4 * (h if form == "tiled" else h // 2)
            assert once_per_pass <= r[f"sea_l{i}_{form}_flash_data_reads"] <= 2 * once_per_pass
            # em_conv2d_s8 reads every weight once per pixel pair: out_w / 2 times as often a row (w >= 6 here)
            assert r[f"sea_l{i}_{form}_flash_data_reads"] < r[f"sea_l{i}_s8_flash_data_reads"] / 2
    instr = sea64_per_mac(r, form)
    zero_wait, estimate, bound = (sea64_per_mac(r, form, u) for u in ("cycles", "est_cycles", "bound_cycles"))
    assert instr < zero_wait < estimate < bound
    # the point of both paths: on the same shapes, below the upper bound of the int8 and w16 kernels, whose
    # MAC loops read the flash
    macs = sum(r[f"sea_l{i}_macs"] for i in layers)
    for other in ("s8", "w16"):
        assert bound < sum(r[f"sea_l{i}_{other}_bound_cycles"] for i in layers) / macs
    figure(f"kernels.flash.sea64_{form}.instr_per_mac", instr)
    figure(f"kernels.flash.sea64_{form}.zero_wait_cycles_per_mac", zero_wait)
    figure(f"kernels.flash.sea64_{form}.estimate_cycles_per_mac", estimate)
    figure(f"kernels.flash.sea64_{form}.upper_bound_cycles_per_mac", bound)


def test_cost_model_estimates_the_measured_instructions(flash_bench, figure):
    """The engine chooses tiled / Winograd on estimate_tiled_instructions (one output row a call: passes =
    out_h) and estimate_wino_instructions (row-pair calls), export/codegen/ops/conv2d.py: over the SEA-64
    shapes each path ran they are within 2 % of the instructions measured in QEMU; per layer, tiled within
    6 % on layers 1-7 (its comment's claim; the one-channel layer 0 is over-estimated, never under) and
    Winograd within 1 % on each of its seven shapes."""
    from edgel3_mote.board_tests.harness.kernel_bench import cost_model_rows

    rows = {c["path"]: c for c in cost_model_rows(flash_bench)}
    assert set(rows) == {"tiled", "wino"}
    for form, c in rows.items():
        assert abs(c["estimate_over_measured"] - 1) <= 0.02, c
        figure(f"kernels.flash.sea64_{form}.cost_model_ratio", c["estimate_over_measured"])
    tiled = rows["tiled"]["per_layer_estimate_over_measured"]
    assert all(abs(x - 1) <= 0.06 for x in tiled[1:]) and 1 <= tiled[0] <= 1.3, tiled
    assert all(abs(x - 1) <= 0.01 for x in rows["wino"]["per_layer_estimate_over_measured"]), rows["wino"]
