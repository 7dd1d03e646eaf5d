"""`make flash BOARD=...`: the OpenOCD command, its address and file printed (DRY_RUN=1), the boards' OpenOCD
configurations valid for the installed OpenOCD, and a missing probe / build / emulated board as one line."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from edgel3_mote.board_tests.harness.flash import flash_command
from edgel3_mote.cli import main
from edgel3_mote.export.boards import BOARDS

REPO = Path(__file__).resolve().parents[2]
REAL_BOARDS = [name for name, spec in BOARDS.items() if spec.flash_openocd]


def _make(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "-s", "flash", *args], cwd=REPO, capture_output=True, text=True, timeout=300)


def test_real_boards_are_flashable_and_qemu_boards_not():
    assert set(REAL_BOARDS) == {name for name, spec in BOARDS.items() if not spec.runnable_in_qemu}
    assert REAL_BOARDS == ["nucleo-h743zi", "nrf52840dk"]


def test_make_flash_dry_run_prints_address_file_and_command(tmp_path):
    image = tmp_path / "my fw.bin"  # a space: the path is braced for OpenOCD's Tcl
    image.write_bytes(b"\0" * 1000)
    run = _make("BOARD=nucleo-h743zi", f"IMAGE={image}".replace(" ", "\\ "), "DRY_RUN=1")
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert f"{image} (1,000 B) -> nucleo-h743zi at 0x08000000, through the on-board ST-LINK" in out
    assert f"openocd -f board/st_nucleo_h743zi.cfg -c 'program {{{image}}} 0x08000000 verify reset exit'" in out
    assert "dry run, nothing written" in out


def test_nrf_hex_carries_its_own_addresses(tmp_path):
    cmd, address = flash_command("nrf52840dk", tmp_path / "firmware.hex")
    assert address is None and cmd[-1] == f"program {{{tmp_path / 'firmware.hex'}}} verify reset exit"
    cmd, address = flash_command("nrf52840dk", tmp_path / "firmware.bin")
    assert address == 0 and cmd[-1].endswith("firmware.bin} 0x00000000 verify reset exit")
    assert cmd[:4] == ["openocd", "-f", "interface/jlink.cfg", "-c"]


@pytest.mark.parametrize("board", REAL_BOARDS)
def test_openocd_accepts_the_board_configuration(board):
    """The probe/target scripts exist in the OpenOCD `make setup` installs and parse (no board needed)."""
    assert shutil.which("openocd"), "openocd missing: make setup installs it (Debian package openocd)"
    run = subprocess.run(
        ["openocd", *BOARDS[board].flash_openocd, "-c", "shutdown"], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr
    assert "shutdown command invoked" in run.stderr


def test_refusals_are_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    image = tmp_path / "fw.bin"
    image.write_bytes(b"\0" * 16)
    assert main(["flash", "--board", "qemu-mps2-an386", "--image", str(image)]) == 2
    assert main(["flash", "--board", "nucleo-h743zi"]) == 2  # nothing built in build/nucleo-h743zi/sea-64
    assert main(["flash", "--board", "nucleo-h743zi", "--image", str(tmp_path / "nope.bin")]) == 2
    (tmp_path / "big.bin").write_bytes(b"\0" * 1_000_001)
    assert main(["flash", "--board", "nucleo-h743zi", "--image", str(tmp_path / "big.bin")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 4 and all(l.startswith("edgel3-mote: error: ") for l in err), err
    assert "emulated in QEMU" in err[0] and "make export BOARD=nucleo-h743zi" in err[1]
    assert "no such file" in err[2] and "1,000,000 B of flash" in err[3]


def test_no_probe_attached_is_one_line(tmp_path, capsys):
    """The real OpenOCD run with no board plugged in (as on CI): an error naming the probe, exit 2."""
    image = tmp_path / "fw.bin"
    image.write_bytes(b"\0" * 16)
    assert main(["flash", "--board", "nucleo-h743zi", "--image", str(image)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "OpenOCD could not flash nucleo-h743zi" in err[0] and "ST-LINK" in err[0], err
