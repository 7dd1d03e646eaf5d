"""``edgel3-mote export firmware``: generate and build ``build/<board>/<model>/``.

``register(export_subparsers)`` is called by ``export/cli.py`` with the ``export`` command's
sub-parsers. Nothing heavy is imported here: TensorFlow loads inside the handler.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from edgel3_mote.cli_types import add_output_argument


def add_project_arguments(p: argparse.ArgumentParser) -> None:
    """The arguments that pick a project (shared with ``edgel3-mote selftest``)."""
    from edgel3_mote.export.boards import BOARD_NAMES

    p.add_argument("--board", default="qemu-mps2-an386", help=f"target board: {', '.join(BOARD_NAMES)}")
    p.add_argument("--model", default="sea-64", help="registry model name (edgel3-mote models)")
    p.add_argument(
        "--weights", default=None, help="trained .h5 weights; without it: seeded RANDOM weights, said in every output"
    )
    p.add_argument(
        "--clips",
        default=None,
        help="folder of audio clips for the self-test vectors and int8 calibration "
        "(default ../shared/audio/cc0_animals if present, else synthesised tones)",
    )
    p.add_argument("--calibration", default=None, help="separate calibration clips (default: --clips)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random weights (default 0)")
    add_output_argument(p, "project directory (default build/<board>/<model>, under the working directory)")
    p.add_argument(
        "--streaming",
        choices=("auto", "on", "off"),
        default="auto",
        help="stream conv chains through line buffers: auto = only as needed to fit the board",
    )
    p.add_argument("--force", action="store_true", help="regenerate even if the inputs are unchanged")
    p.set_defaults(output_default=project_output)
    from edgel3_mote.cli_types import declare_outputs

    declare_outputs(p, project_outputs)


def project_outputs(args) -> list:
    """The project folder for the output gate (``export firmware``, ``selftest``)."""
    from edgel3_mote.cli_types import output_dir
    from edgel3_mote.export.project import OUTPUT_FLAG, PROJECT_FILES, PROJECT_LEGACY

    return [
        output_dir(args.output or project_output(args), "export firmware", PROJECT_FILES, PROJECT_LEGACY, OUTPUT_FLAG)
    ]


def project_output(args) -> Path:
    """The project folder without -o/--output: ``build/<board>/<model>`` under the working directory."""
    from edgel3_mote.export.boards import get_board
    from edgel3_mote.export.project import default_project_dir

    return default_project_dir(get_board(args.board).name, args.model)


def add_classifier_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--classifier",
        default=None,
        metavar="HEAD.h5",
        help="a classifier saved by `edgel3-mote evaluate --save-classifier` (its .classes.json "
        "beside it): the firmware also runs it, int8, on each embedding (INFER flag bit 1)",
    )


def register(export_subparsers) -> None:
    p = export_subparsers.add_parser(
        "firmware",
        help="generate + build a standalone firmware project for a board",
        description="Convert the model to int8 (cached), generate the C engine, front-end tables and "
        "self-test vectors, write build/<board>/<model>/ (Makefile, README, sources) and "
        "build firmware.elf + selftest.elf with arm-none-eabi-gcc; prints flash/RAM use "
        "against the board's limits.",
    )
    add_project_arguments(p)
    add_classifier_argument(p)
    p.add_argument("--no-build", action="store_true", help="generate the project without compiling it")
    p.set_defaults(func=_run)


def print_project(info) -> None:
    from edgel3_mote.export.boards import get_board

    board = get_board(info.board)
    print(f"project: {info.project_dir}{'  (reused: inputs unchanged)' if info.reused else ''}")
    print(f"model:   {info.model} on {info.board}; {info.weights_line}")
    tflm = f"{info.tflm_arena_bytes:,}" if info.tflm_arena_bytes else "n/a"
    print(
        f"arena:   {info.arena_bytes:,} bytes (unstreamed {info.unstreamed_arena_bytes:,}; "
        f"TFLite Micro would need {tflm}); weights {info.weights_in_flash}"
    )
    for name, use in info.memory.items():
        print(
            f"{name + '.elf':<13} flash {use['flash_bytes']:>9,} / {board.flash_size:,}   "
            f"RAM {use['ram_bytes']:>9,} / {board.ram_size:,} (stack {use['stack_bytes']:,})   "
            f"{info.elfs[name]}"
        )
    if info.head:
        print(
            f"head:    {info.head['num_classes']} classes ({', '.join(info.head['classes'])}), arena "
            f"{info.head['arena_bytes']:,} bytes, weights {info.head['weight_bytes']:,} bytes"
        )
    if info.serial_app_skipped:
        print(f"note:    {info.serial_app_skipped}")
    if not board.runnable_in_qemu:
        print(f"note:    {board.name} is build-only: untested on hardware")


def _run(args) -> int:
    from edgel3_mote.atomic import check_output_dir
    from edgel3_mote.export.project import OUTPUT_FLAG, PROJECT_FILES, PROJECT_LEGACY, build_firmware_project

    if args.output is not None:  # the default folder is checked inside, once the board's name is known
        check_output_dir(args.output, "export firmware", PROJECT_FILES, PROJECT_LEGACY, flag=OUTPUT_FLAG)

    info = build_firmware_project(
        args.board,
        args.model,
        weights=args.weights,
        clips=args.clips,
        calibration=args.calibration,
        out_dir=args.output,
        seed=args.seed,
        build=not args.no_build,
        streaming=args.streaming,
        force=args.force,
        classifier=args.classifier,
    )
    print_project(info)
    return 0
