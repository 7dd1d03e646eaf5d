"""edgel3-95.45 on the mote: the serial app of qemu-mps2-an500-h743 (STM32H743 budget: 1,000,000 B
flash, 500,000 B RAM) fits, runs, and gives tflite-micro's embedding byte for byte on real audio.

Opt-in (marker ``mote``): a cold run exports the 4.7 M-parameter model to int8 first (the export is
cached under build/.cache/export, keyed by its inputs; the project is reused while its sources are
unchanged), then runs ~4.2 G instructions per window in QEMU and tflite-micro on the host:

    .venv/bin/python -m pytest -m mote board_tests/test_board_mote_l3.py

Without ``-m mote`` the test is skipped with this command as the reason (``-ra`` lists it). It
builds or reuses the project of ``make export BOARD=qemu-mps2-an500-h743 MODEL=edgel3-95.45``,
serves 4 windows of a real clip (../shared/audio/cc0_animals) through the serial protocol, and
holds the README figures (results/results.json): flash and static RAM from the ELF, total RAM =
static RAM less the stack reservation plus the painted stack high-water (read from the running
firmware), front-end and engine instructions per window, the sparse layers' instructions per
nonzero MAC, and the windows identical to tflite-micro.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from edgel3_mote.export.boards import elf_memory_usage, get_board
from edgel3_mote.export.codegen.engine import LayerInfo
from edgel3_mote.export.project import nonzero_macs

MODEL = "edgel3-95.45"
BOARD = "qemu-mps2-an500-h743"
N_WINDOWS = 4
SHARED = Path(os.environ.get("EDGEL3_MOTE_SHARED", Path(__file__).resolve().parents[1].parent / "shared"))
OPT_IN = "opt-in (minutes cold): .venv/bin/python -m pytest -m mote board_tests/test_board_mote_l3.py"

pytestmark = [pytest.mark.mote, pytest.mark.qemu, pytest.mark.board]


@pytest.fixture(scope="module")
def mote_bench(request):
    if "mote" not in (request.config.getoption("markexpr") or ""):
        pytest.skip(OPT_IN)
    from edgel3_mote.board_tests.harness.bench import run_bench
    from edgel3_mote.board_tests.harness.deploy import open_board, resolve_deployment

    clips = sorted((SHARED / "audio" / "cc0_animals").glob("*.mp3"))
    if not clips:
        pytest.fail(f"{SHARED}/audio/cc0_animals is missing: this test needs the workplace's ../shared folder")
    setup, elf = resolve_deployment(BOARD, MODEL, None, need_elf=True, log=lambda m: None)
    with open_board(setup, elf, infer_timeout=900, log=lambda m: None) as client:
        report = run_bench(
            client,
            setup,
            [clips[0]],
            hop=0.5,
            layer_ticks=True,
            max_windows=N_WINDOWS,
            progress=False,
            log=lambda m: None,
        )
    project = json.loads((Path(setup.project_dir) / "project.json").read_text())
    return setup, elf, report, project


def test_serial_app_fits_the_mote_and_is_bit_exact(mote_bench, figure):
    setup, elf, report, project = mote_bench
    board = get_board(BOARD)
    s, mem = report["summary"], report["device_mem"]
    # every window byte-identical to tflite-micro on the device's own spectrogram; at least 4 of real audio
    assert s["windows"] == N_WINDOWS and s["int8_exact_windows"] == N_WINDOWS
    assert s["repeat_identical"]
    figure("mote.l3.windows_identical_percent", s["int8_exact_percent"])
    # flash and RAM from the ELF, within the budget the linker enforced
    use = elf_memory_usage(elf, board)
    assert use.flash_bytes <= board.flash_size and use.ram_bytes <= board.ram_size
    # the firmware's own span (stack start .. end of .bss) adds the linker's alignment gaps to the ELF's sections
    assert 0 <= mem["static_ram_bytes"] - use.ram_bytes <= 16
    assert mem["stack_bytes"] == board.stack_size == use.stack_bytes
    # ... and from the running firmware: the stack it really used instead of its reservation
    assert mem["heap_bytes"] == 0 and 256 <= mem["stack_high_water"] < mem["stack_bytes"]
    total_ram = mem["static_ram_bytes"] - mem["stack_bytes"] + mem["stack_high_water"]
    assert total_ram <= 500_000
    figure("mote.l3.flash_bytes", use.flash_bytes)
    figure("mote.l3.ram_bytes_elf", use.ram_bytes)
    figure("mote.l3.ram_bytes_total", total_ram)
    figure("mote.l3.arena_bytes", mem["arena_bytes"])
    # instructions per window (QEMU -icount: ticks are instructions)
    assert report["ticks_unit"] == "instructions"
    figure("mote.l3.frontend_instructions", s["frontend_ticks_mean"])
    figure("mote.l3.engine_instructions", s["engine_ticks_mean"])
    # the sparse convs' instructions per nonzero MAC, from the device's per-layer ticks
    layers = project["engine"]["layers"]
    ticks = np.mean([w["layer_ticks"] for w in report["clips"][0]["windows"]], axis=0)
    assert len(ticks) == len(layers)
    sparse = [i for i, layer in enumerate(layers) if layer["weight_format"] == "sparse"]
    assert sparse
    per_nonzero = sum(ticks[i] for i in sparse) / sum(nonzero_macs(LayerInfo(**layers[i])) for i in sparse)
    print(
        f"\n{MODEL} on {BOARD}: flash {use.flash_bytes:,} B, RAM {use.ram_bytes:,} B (ELF), {total_ram:,} B "
        f"running; front-end {s['frontend_ticks_mean']:,.0f}, engine {s['engine_ticks_mean']:,.0f} instructions "
        f"per window; sparse layers {per_nonzero:.3f} instructions per nonzero MAC"
    )
    figure("mote.l3.sparse_instr_per_nonzero_mac", per_nonzero)


def test_nucleo_h743zi_links_the_same_model_in_the_same_budget(mote_bench):
    """The real board (build-only) links the serial app and the self-test of the same model at the same budget
    and plan as the QEMU mote board (its clock and drivers differ; its README says what is untested)."""
    from edgel3_mote.export.project import build_firmware_project

    _, qemu_elf, report, _ = mote_bench
    board = get_board("nucleo-h743zi")
    assert (board.flash_size, board.ram_size, board.stack_size) == (
        get_board(BOARD).flash_size,
        get_board(BOARD).ram_size,
        get_board(BOARD).stack_size,
    )
    info = build_firmware_project(board, MODEL, log=lambda m: None)
    assert info.serial_app_skipped is None
    assert info.arena_bytes == report["device_mem"]["arena_bytes"]
    for elf in (info.firmware_elf, info.selftest_elf):
        use = elf_memory_usage(elf, board)
        assert use.flash_bytes <= 1_000_000 and use.ram_bytes <= 500_000, (elf, use)
    # the same engine and tables: flash within the drivers' few KiB of the QEMU board's
    assert (
        abs(
            elf_memory_usage(info.firmware_elf, board).flash_bytes
            - elf_memory_usage(qemu_elf, get_board(BOARD)).flash_bytes
        )
        < 16 * 1024
    )
