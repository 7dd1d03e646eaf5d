"""``edgel3-mote flash`` (``make flash BOARD=...``): write the built serial firmware to a real board with OpenOCD.

The board facts (flash address, the OpenOCD probe and target configuration, which probe that is)
are :class:`~edgel3_mote.export.boards.BoardSpec`'s. The image is the project's ``firmware.bin``
(the serial app that ``bench --port`` talks to; a raw image from the flash base, so its address is
given), or any ``--image`` (``.bin`` at the board's flash base, ``.hex``/``.elf`` carry their own
addresses). Nothing is built here: flash exactly what ``export firmware`` built. ``--dry-run``
prints the command without running it. OpenOCD is a Debian package that ``make setup`` installs.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import subprocess
from pathlib import Path

from edgel3_mote.cli_types import declare_outputs, writes_nothing
from edgel3_mote.errors import DeviceError, InvalidInputError, ToolchainError


def flash_command(board: str, image: Path) -> tuple[list[str], int | None]:
    """The OpenOCD command that writes ``image`` to ``board`` (verify, reset, exit), and the address written."""
    from edgel3_mote.export.boards import get_board

    spec = get_board(board)
    if not spec.flash_openocd:
        where = "emulated in QEMU" if spec.runnable_in_qemu else "not flashable from here"
        raise InvalidInputError(
            f"board {spec.name} is {where}: nothing to flash (run it with make emulate / make bench "
            f"BOARD={spec.name}); real boards: "
            f"{', '.join(b for b, s in _boards().items() if s.flash_openocd)}"
        )
    address = spec.flash_origin if image.suffix == ".bin" else None
    where = f" 0x{address:08x}" if address is not None else ""
    program = f"program {{{image.resolve()}}}{where} verify reset exit"
    return ["openocd", *spec.flash_openocd, "-c", program], address


def _boards():
    from edgel3_mote.export.boards import BOARDS

    return BOARDS


def _project_image(board: str, model: str, project: str | None) -> Path:
    from edgel3_mote.export.project import default_project_dir, load_project

    folder = Path(project) if project else default_project_dir(board, model)
    build = f"make export BOARD={board} MODEL={model} WEIGHTS=..."
    if not (folder / "project.json").is_file():
        raise InvalidInputError(f"no firmware built in {folder}: build it first ({build}), then make flash")
    info = load_project(folder)
    if info.board != board:
        raise InvalidInputError(
            f"{folder} was built for {info.board}, not {board}: pass BOARD={info.board} or build for {board} ({build})"
        )
    elf = info.firmware_elf
    if elf is None:
        raise InvalidInputError(
            f"{folder} has no serial firmware ({info.serial_app_skipped or 'not built'}): only the self-test was built"
        )
    image = elf.with_suffix(".bin")
    if not image.is_file():
        raise InvalidInputError(f"{image} is missing: rebuild with `make -C {folder}` or `{build}`")
    return image


def flash(
    board: str, model: str, project: str | None = None, image: str | None = None, dry_run: bool = False, log=print
) -> int:
    from edgel3_mote.export.boards import get_board

    spec = get_board(board)
    if image is not None:
        path = Path(image)
        if not path.is_file():
            raise InvalidInputError(f"--image {image}: no such file: give the firmware .bin/.hex/.elf to flash")
        if path.suffix not in (".bin", ".hex", ".elf"):
            raise InvalidInputError(f"--image {image}: give a .bin (raw, at the flash base), .hex or .elf")
    flash_command(spec.name, Path("firmware.bin"))  # an emulated board is refused before looking for a build
    path = Path(image) if image else _project_image(spec.name, model, project)
    cmd, address = flash_command(spec.name, path)
    size = path.stat().st_size
    if path.suffix == ".bin" and size > spec.flash_size:
        raise InvalidInputError(f"{path} is {size:,} B but {spec.name} links {spec.flash_size:,} B of flash")
    at = f"at 0x{address:08x}" if address is not None else "at the addresses it holds"
    log(f"flash: {path} ({size:,} B) -> {spec.name} {at}, through {spec.flash_probe} with OpenOCD")
    log("  " + shlex.join(cmd))
    if dry_run:
        log("flash: dry run, nothing written")
        return 0
    if shutil.which("openocd") is None:
        raise ToolchainError("openocd is not installed: run make setup (Debian package openocd)")
    run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode != 0:
        errors = [l for l in (run.stderr + run.stdout).splitlines() if l.startswith("Error")]
        raise DeviceError(
            f"OpenOCD could not flash {spec.name} ({'; '.join(errors[:2]) or f'exit {run.returncode}'}): is the board "
            f"plugged in through {spec.flash_probe}, powered, and not held by another debugger?"
        )
    log(f"flash: written and verified; {spec.name} reset and running {path.name}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "flash",
        help="write the built firmware to a real board with OpenOCD (make flash BOARD=...)",
        description="Write the serial firmware that `export firmware` built (build/<board>/<model>/firmware.bin) "
        "to a real board through its on-board probe with OpenOCD, verify it and reset the board. Prints the "
        "file, the address and the command; --dry-run only prints. Boards: nucleo-h743zi (ST-LINK), "
        "nrf52840dk (J-Link OB).",
    )
    p.add_argument("--board", required=True, help="a real board: nucleo-h743zi or nrf52840dk")
    p.add_argument("--model", default="sea-64", help="the model of the build to flash (default sea-64)")
    p.add_argument("--project", default=None, metavar="DIR", help="a generated project (default build/<board>/<model>)")
    p.add_argument("--image", default=None, metavar="FILE", help="flash this .bin/.hex/.elf instead of a project's")
    p.add_argument("--dry-run", action="store_true", help="print the OpenOCD command, do not run it")
    p.set_defaults(func=lambda args: flash(args.board, args.model, args.project, args.image, args.dry_run))
    declare_outputs(p, writes_nothing)  # it writes to the board, no file on the host
