"""Board specs agree with the linker scripts, every board links, overflows are clear errors."""

from __future__ import annotations

import re

import pytest

from edgel3_mote.errors import ExportError, InvalidInputError
from edgel3_mote.export.boards import BOARD_NAMES, COMMON_DIR, QEMU_BOARD_NAMES, build_elf, elf_memory_usage, get_board

HELLO = COMMON_DIR / "hello_main.c"


def _size(text: str) -> int:
    m = re.fullmatch(r"(0x[0-9a-fA-F]+|\d+)([KM]?)", text.strip())
    assert m, text
    return int(m.group(1), 0) * {"": 1, "K": 1024, "M": 1024 * 1024}[m.group(2)]


def test_board_list():
    assert set(BOARD_NAMES) == {
        "qemu-mps2-an386",
        "qemu-mps2-an500",
        "qemu-mps2-an500-h743",
        "qemu-mps2-an386-nrf52840",
        "qemu-netduinoplus2",
        "nucleo-h743zi",
        "nrf52840dk",
    }
    assert set(QEMU_BOARD_NAMES) == {
        "qemu-mps2-an386",
        "qemu-mps2-an500",
        "qemu-mps2-an500-h743",
        "qemu-mps2-an386-nrf52840",
        "qemu-netduinoplus2",
    }
    nd = get_board("qemu-netduinoplus2")
    assert (nd.ram_size, nd.flash_size, nd.flash_origin) == (128 * 1024, 1024 * 1024, 0x08000000)
    assert get_board("qemu-mps2-an500").cpu == "cortex-m7"
    assert not get_board("nrf52840dk").runnable_in_qemu


def test_h743_boards_share_the_mote_budget():
    """The QEMU mote and the real board link against the same 1,000,000 B flash / 500,000 B RAM."""
    qemu, nucleo = get_board("qemu-mps2-an500-h743"), get_board("nucleo-h743zi")
    for board in (qemu, nucleo):
        assert (board.flash_size, board.ram_size, board.cpu) == (1_000_000, 500_000, "cortex-m7")
    assert qemu.qemu_machine == "mps2-an500" and nucleo.clock_hz == 480_000_000


def test_nrf52840_boards_share_the_chip():
    """The QEMU budget board links at the nRF52840's memory and carries its clock, memory and power model."""
    qemu, dk = get_board("qemu-mps2-an386-nrf52840"), get_board("nrf52840dk")
    for attr in ("flash_origin", "flash_size", "ram_origin", "ram_size", "clock_hz", "cpu", "memory", "power"):
        assert getattr(qemu, attr) == getattr(dk, attr), attr
    assert qemu.qemu_machine == "mps2-an386" and qemu.clock_hz == 64_000_000 and qemu.ram_size == 256 * 1024


def test_unknown_board_lists_boards():
    with pytest.raises(InvalidInputError) as exc:
        get_board("arduino-uno")
    assert "arduino-uno" in str(exc.value) and "qemu-netduinoplus2" in str(exc.value)


@pytest.mark.parametrize("name", BOARD_NAMES)
def test_linker_script_matches_spec(name):
    board = get_board(name)
    text = (board.board_dir / "memory.ld").read_text()
    regions = dict(
        (m[0], (int(m[1], 16), _size(m[2])))
        for m in re.findall(r"(\w+)\s*\([rwx]+\)\s*:\s*ORIGIN\s*=\s*(0x[0-9a-fA-F]+),\s*LENGTH\s*=\s*(\w+)", text)
    )
    assert regions["FLASH"] == (board.flash_origin, board.flash_size)
    assert regions["RAM"] == (board.ram_origin, board.ram_size)
    assert _size(re.search(r"__stack_size\s*=\s*(\w+);", text).group(1)) == board.stack_size


@pytest.mark.parametrize("name", BOARD_NAMES)
def test_hello_links_for_every_board(name, tmp_path):
    board = get_board(name)
    elf = build_elf(board, [HELLO], tmp_path / "hello.elf", extra_flags=["-Werror"])
    use = elf_memory_usage(elf, board)
    assert use.stack_bytes == board.stack_size
    assert 0 < use.flash_bytes < 16 * 1024
    assert board.stack_size < use.ram_bytes < board.stack_size + 1024
    assert ".isr_vector" in use.sections and use.sections[".isr_vector"] == 4 * (16 + board.num_irqs)


def test_ram_overflow_is_a_clear_error(tmp_path):
    big = tmp_path / "big.c"
    big.write_text(
        "#include <stdint.h>\nuint8_t em_too_big[200 * 1024];\n"
        "int main(void) { em_too_big[5] = 1; return em_too_big[5]; }\n"
    )
    with pytest.raises(ExportError) as exc:
        build_elf("qemu-netduinoplus2", [big], tmp_path / "big.elf")
    msg = str(exc.value)
    assert "RAM" in msg and "131072" in msg and "qemu-netduinoplus2" in msg


def test_reset_handler_enables_fpu_before_any_float(tmp_path):
    """CPACR (0xE000ED88) is written before any VFP instruction in Reset_Handler, and
    Reset_Handler itself has none (a float op with CP10/CP11 off is a UsageFault)."""
    import subprocess

    elf = build_elf("qemu-mps2-an386", [HELLO], tmp_path / "hello.elf")
    dis = subprocess.run(
        ["arm-none-eabi-objdump", "-d", "--disassemble=Reset_Handler", str(elf)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    body = [ln.split("\t") for ln in dis.splitlines() if re.match(r"\s+[0-9a-f]+:\t", ln)]
    mnemonics = [parts[2].split()[0] for parts in body if len(parts) > 2]
    assert mnemonics, dis
    assert not [m for m in mnemonics if m.startswith("v")], mnemonics
    # CP10/CP11 = 0b1111 << 20 is OR-ed in and stored before the first call into C.
    set_bits = next(i for i, parts in enumerate(body) if "0xf00000" in parts[-1])
    assert mnemonics[set_bits + 1] == "str" and set_bits < mnemonics.index("bl")
