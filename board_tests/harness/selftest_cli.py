"""``edgel3-mote selftest``: build (or reuse) the firmware project and run selftest.elf in QEMU.

Prints the firmware's own report (semihosting) and exits with the firmware's exit code
(0 = pass, 1 = fail; 2 = a user error such as a build-only board). ``register(subparsers)``
adds the top-level command; TensorFlow is only imported inside the handler.
"""

from __future__ import annotations

import sys

from edgel3_mote.cli_types import positive_float


def register(subparsers) -> None:
    from edgel3_mote.export.project_cli import add_classifier_argument, add_project_arguments

    p = subparsers.add_parser(
        "selftest",
        help="run the firmware self-test of a model on a QEMU board",
        description="Builds build/<board>/<model>/ if needed (edgel3-mote export firmware), runs "
        "selftest.elf in QEMU (-icount shift=0: ticks are instructions) and exits with "
        "the firmware's code. Checks: engine == tflite-micro byte for byte, device "
        "front-end within 1 LSB of the host (>= 99.9 % identical), end-to-end cosine; with "
        "--classifier, the head's int8 logits == tflite-micro.",
    )
    add_project_arguments(p)
    add_classifier_argument(p)
    p.add_argument("--timeout", type=positive_float, default=900.0, help="seconds before QEMU is killed (default 900)")
    p.set_defaults(func=_run)


def _run(args) -> int:
    from edgel3_mote.atomic import check_output_dir
    from edgel3_mote.board_tests.harness.qemu import QemuBoard
    from edgel3_mote.errors import InvalidInputError
    from edgel3_mote.export.boards import QEMU_BOARD_NAMES, get_board
    from edgel3_mote.export.project import OUTPUT_FLAG, PROJECT_FILES, PROJECT_LEGACY, build_firmware_project
    from edgel3_mote.export.project_cli import print_project

    board = get_board(args.board)
    if not board.runnable_in_qemu:
        raise InvalidInputError(f"{board.name} does not run in QEMU: pick one of {', '.join(QEMU_BOARD_NAMES)}")
    if args.output is not None:
        check_output_dir(args.output, "export firmware", PROJECT_FILES, PROJECT_LEGACY, flag=OUTPUT_FLAG)
    info = build_firmware_project(
        board,
        args.model,
        weights=args.weights,
        clips=args.clips,
        calibration=args.calibration,
        out_dir=args.output,
        seed=args.seed,
        streaming=args.streaming,
        force=args.force,
        require_serial=False,
        classifier=args.classifier,
        runtime=args.runtime,
        tflite=args.tflite,
    )
    print_project(info)
    print(f"running {info.selftest_elf} in QEMU ({board.qemu_machine}, -icount shift=0) ...", flush=True)
    with QemuBoard(board, info.selftest_elf, serial=False, timeout=args.timeout) as qemu:
        code = qemu.wait()
        sys.stdout.write(qemu.output)
    print(f"selftest exit code {code} ({'pass' if code == 0 else 'FAIL'})")
    return code
