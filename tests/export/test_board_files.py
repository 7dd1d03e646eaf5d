"""Board files from the BoardSpec: each board's memory.ld and em_board_config.h are what export/boards.py generates.

- the committed copies under firmware/boards/<board>/ equal the generated text (regenerate with
  ``python -m edgel3_mote.export.board_files``), and a changed spec is caught;
- the generated numbers are the spec's, read back from the compiled header and the linked ELF;
- the free-text descriptions of a board (UART, ticks) name the same addresses as its fields;
- a generated project carries the files of the spec it was built for (also a modified one).
"""

from __future__ import annotations

import ctypes as C
import dataclasses
import re

import pytest

from edgel3_mote.export import board_files
from edgel3_mote.export.boards import (
    BOARD_NAMES,
    COMMON_DIR,
    MPS2_SYSCLK_HZ,
    build_elf,
    elf_memory_usage,
    get_board,
)
from edgel3_mote.export.hostbuild import load_shared


def test_committed_board_files_are_generated(tmp_path):
    for name in BOARD_NAMES:
        board = get_board(name)
        written = board_files.write_board_files(board, tmp_path / name)
        assert [p.name for p in written] == list(board_files.GENERATED_FILES)
        for fresh in written:
            committed = board.board_dir / fresh.name
            assert fresh.read_bytes() == committed.read_bytes(), (
                f"{committed} is out of date with export/boards.py: run python -m edgel3_mote.export.board_files"
            )
    assert board_files.stale_board_files() == []
    assert board_files.main(["--check"]) == 0


def test_a_changed_spec_is_caught(monkeypatch):
    board = get_board("qemu-netduinoplus2")
    moved = dataclasses.replace(board, stack_size=4096, uart_base=0x40004400)
    monkeypatch.setitem(board_files.BOARDS, board.name, moved)
    stale = board_files.stale_board_files()
    assert stale == [board.board_dir / "memory.ld", board.board_dir / "em_board_config.h"]
    assert board_files.main(["--check"]) == 1
    assert "__stack_size = 0x1000;" in board_files.render_memory_ld(moved)
    assert "#define EM_UART_BASE 0x40004400u" in board_files.render_board_config(moved)


@pytest.mark.parametrize("name", BOARD_NAMES)
def test_board_config_values_are_the_spec(name, tmp_path):
    board = get_board(name)
    src = tmp_path / "config_values.c"
    src.write_text(
        '#include <stdint.h>\n#include <string.h>\n#include "em_board_config.h"\n'
        "#ifndef EM_TIMER_BASE\n#define EM_TIMER_BASE 0u\n#endif\n"
        "#ifndef EM_INSNS_PER_TIMER_TICK\n#define EM_INSNS_PER_TIMER_TICK 0u\n#endif\n"
        "uint64_t em_values[] = {EM_BOARD_CLOCK_HZ, EM_UART_BASE, EM_UART_CLOCK_HZ, EM_UART_BAUD,\n"
        "                        EM_TIMER_BASE, EM_INSNS_PER_TIMER_TICK};\n"
        "const char *em_name(void) { return EM_BOARD_NAME; }\nconst char *em_core(void) { return EM_BOARD_CORE; }\n"
    )
    lib = load_shared([src], include_dirs=[board.board_dir], name=f"board_config_{name}")
    lib.em_name.restype = lib.em_core.restype = C.c_char_p
    values = list((C.c_uint64 * 6).in_dll(lib, "em_values"))
    assert values == [
        board.clock_hz,
        board.uart_base,
        board.uart_clock_hz or board.clock_hz,
        board.uart_baud,
        board.timer_base or 0,
        board.insns_per_timer_tick or 0,
    ]
    assert (lib.em_name().decode(), lib.em_core().decode()) == (board.name, board.cpu)


@pytest.mark.parametrize("name", BOARD_NAMES)
def test_descriptions_name_the_spec_addresses(name):
    board = get_board(name)
    assert f"@ 0x{board.uart_base:08x}" in board.uart
    if board.timer_base is not None:
        assert f"@ 0x{board.timer_base:08x}" in board.timer
    else:
        assert "DWT" in board.timer and not board.runnable_in_qemu
    if board.insns_per_timer_tick is not None:
        assert f"x{board.insns_per_timer_tick} = instructions" in board.timer
        # 1 ns per instruction; QEMU's MPS2 timer counts the FPGA's 25 MHz whatever clock a budget board states
        timer_hz = MPS2_SYSCLK_HZ if board.qemu_machine and board.qemu_machine.startswith("mps2") else board.clock_hz
        assert board.insns_per_timer_tick == 1_000_000_000 // timer_hz


def test_a_firmware_links_to_the_spec_memory_map(tmp_path):
    """The generated memory.ld reaches the linker: regions and the stack are the spec's."""
    board = get_board("qemu-mps2-an500-h743")
    elf = build_elf(board, [COMMON_DIR / "hello_main.c"], tmp_path / "hello.elf")
    use = elf_memory_usage(elf, board)
    assert use.stack_bytes == board.stack_size == 8 * 1024
    symbols = (tmp_path / "hello.map").read_text()
    for region, origin, length in (
        ("FLASH", board.flash_origin, board.flash_size),
        ("RAM", board.ram_origin, board.ram_size),
    ):
        m = re.search(rf"^{region}\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)", symbols, re.M)
        assert m and (int(m.group(1), 16), int(m.group(2), 16)) == (origin, length), region
