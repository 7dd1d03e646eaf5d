"""The firmware self-test of the board/model under test passes in QEMU, and fits the board.

Also the proof of the mote claim (no serial app needed, so it runs where only selftest.elf fits):

    pytest board_tests/test_board_selftest_fit.py --board qemu-mps2-an500-h743 --board-model edgel3-95.45

reuses the project `make selftest BOARD=qemu-mps2-an500-h743 MODEL=edgel3-95.45` built (or builds it)
and checks: the self-test passes; at least 4 real-audio windows give tflite-micro's embedding byte
for byte; flash and RAM from the ELF within the board's limits (the H743 mote budget: 1,000,000 B
flash, 500,000 B RAM); and the running RAM -- static RAM less the stack reservation, plus the painted
stack high-water -- below the ELF figure.
"""

from __future__ import annotations

import re

import pytest

from edgel3_mote.board_tests.harness.qemu import run_elf
from edgel3_mote.export.boards import elf_memory_usage, get_board
from edgel3_mote.export.project import build_firmware_project


@pytest.fixture(scope="module")
def selftest_run(request):
    board = get_board(request.config.getoption("--board"))
    if not board.runnable_in_qemu or request.config.getoption("--port"):
        pytest.skip(f"{board.name}: the self-test runs in QEMU only (semihosting); a real board runs the serial tests")
    info = build_firmware_project(
        board,
        request.config.getoption("--board-model"),
        weights=request.config.getoption("--board-weights"),
        log=lambda m: None,
    )
    code, out = run_elf(board, info.selftest_elf, timeout=1800)
    return board, info, code, out


def test_selftest_passes_and_fits_the_board(selftest_run):
    board, info, code, out = selftest_run
    assert "selftest: PASS" in out and code == 0, out
    n = int(re.search(r"(\d+) vectors, arena (\d+) bytes", out).group(1))
    exact = re.findall(r"^vector \d+ \S+: \(a\) engine exact, (\d+) instructions", out, re.M)
    assert len(exact) == n >= 4  # every vector, at least 4 real-audio windows, byte-exact
    use = elf_memory_usage(info.selftest_elf, board)
    assert use.flash_bytes <= board.flash_size and use.ram_bytes <= board.ram_size
    assert use.ram_bytes >= info.arena_bytes + board.stack_size
    high_water = int(re.search(r"stack high-water (\d+) of (\d+) bytes", out).group(1))
    running = use.ram_bytes - use.stack_bytes + high_water
    assert 0 < high_water < use.stack_bytes and running < use.ram_bytes
    print(
        f"\n{info.model} on {board.name}: {n} windows exact; flash {use.flash_bytes:,} / {board.flash_size:,} B, "
        f"RAM {use.ram_bytes:,} / {board.ram_size:,} B (ELF), {running:,} B running "
        f"(stack high-water {high_water:,})"
    )
