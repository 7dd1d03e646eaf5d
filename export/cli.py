"""``edgel3-mote export tflite|report|carrays`` (and ``firmware``, from ``export.project_cli``).

No TensorFlow at import time: the handlers import what they need, so ``--help`` stays instant.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
from pathlib import Path

from edgel3_mote.cli_types import add_hop_argument, add_output_argument
from edgel3_mote.cli_types import positive_int as _positive_int

DEFAULT_MODEL = "sea-64"


def _add_model_args(p: argparse.ArgumentParser) -> None:
    from edgel3_mote.export.tflite import DEFAULT_CALIBRATION_STEPS, DEFAULT_HOP_SIZE

    p.add_argument("--model", default=DEFAULT_MODEL, help=f"registry model name (default {DEFAULT_MODEL})")
    p.add_argument(
        "--weights", default=None, help="trained weights (.h5 / .h5.gz); without it the model has seeded RANDOM weights"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the random weights and the calibration draw")
    p.add_argument(
        "--calibration-steps",
        type=_positive_int,
        default=DEFAULT_CALIBRATION_STEPS,
        help=f"calibration windows drawn from the clips (default {DEFAULT_CALIBRATION_STEPS})",
    )
    add_hop_argument(
        p, f"seconds between 1-s windows when framing clips (default {DEFAULT_HOP_SIZE})", default=DEFAULT_HOP_SIZE
    )


def _tflite_output(args) -> Path:
    return Path("build") / "tflite" / args.model


def _report_output(args) -> Path:
    return Path("build") / "report" / "parity" / args.model


def _check_inputs(args) -> None:
    """What can be checked without TensorFlow: input files and folders exist."""
    from edgel3_mote.errors import InvalidInputError

    if args.weights is not None and not Path(args.weights).is_file():
        raise InvalidInputError(
            f"weights file {args.weights} does not exist: give the path of a trained .h5 "
            f"(or .h5.gz), or leave --weights out for seeded random weights"
        )
    for flag in ("calibration", "clips"):
        folder = getattr(args, flag, None)
        if folder is not None and not Path(folder).exists():
            raise InvalidInputError(f"--{flag} {folder} does not exist: give a folder of audio clips")


def _cmd_tflite(args) -> int:
    from edgel3_mote.atomic import check_output_dir
    from edgel3_mote.export.tflite import EXPORT_FILES, EXPORT_LEGACY, export_tflite

    out = Path(args.output) if args.output else args.output_default(args)
    check_output_dir(out, "export tflite", EXPORT_FILES, EXPORT_LEGACY)
    _check_inputs(args)
    result = export_tflite(
        args.model,
        weights=args.weights,
        calibration=args.calibration,
        out_dir=out,
        seed=args.seed,
        calibration_steps=args.calibration_steps,
        hop_size=args.hop_size,
    )
    m = result.manifest
    print(f"exported {m.model} to {result.out_dir}")
    if m.random_weights:
        print(f"  RANDOM WEIGHTS (seed {m.seed}): no --weights given; embeddings are not meaningful")
    else:
        print(f"  weights: {m.weights}")
    print(f"  int8:  {result.int8_path} ({m.sizes['int8_tflite_bytes']} bytes, sha256 {m.sha256})")
    print(f"  float: {result.float_path} ({m.sizes['float_tflite_bytes']} bytes)")
    x, y = m.input, m.output
    print(
        f"  input {list(x.shape)} scale {x.scale:.6g} zero point {x.zero_point}; "
        f"output {list(y.shape)} scale {y.scale:.6g} zero point {y.zero_point}"
    )
    print(f"  ops: {' '.join(m.ops)}")
    return 0


def _cmd_report(args) -> int:
    from edgel3_mote.atomic import check_output_dir
    from edgel3_mote.export.report import REPORT_FILES, REPORT_LEGACY, parity_report
    from edgel3_mote.export.tflite import EXPORT_FILES, EXPORT_LEGACY, INT8_NAME

    tflite_dir = args.tflite_dir or _tflite_output(args)
    out = Path(args.output) if args.output else args.output_default(args)
    check_output_dir(out, "export report", REPORT_FILES, REPORT_LEGACY)
    if not (Path(tflite_dir) / INT8_NAME).is_file():  # exported there first
        check_output_dir(tflite_dir, "export tflite", EXPORT_FILES, EXPORT_LEGACY, flag="--tflite-dir")
    _check_inputs(args)
    report = parity_report(
        args.model,
        weights=args.weights,
        tflite_dir=tflite_dir,
        clips=args.clips,
        out_dir=out,
        hop_size=args.hop_size,
        seed=args.seed,
        calibration_steps=args.calibration_steps,
    )
    s = report["summary"]
    print(f"parity report for {report['model']} in {out}" + ("  [RANDOM WEIGHTS]" if report["random_weights"] else ""))
    print(f"  {report['clips']} clips, {report['windows']} windows")
    print(
        f"  cosine int8 vs float per clip: median {s['cosine_per_clip']['median']:.5f}, "
        f"min {s['cosine_per_clip']['min']:.5f}; per window: median {s['cosine_per_window']['median']:.5f}, "
        f"min {s['cosine_per_window']['min']:.5f}"
    )
    print(
        f"  TFLite-Micro = BUILTIN_REF on {100 * s['tflm_vs_builtin_ref_exact_rate']:.1f} % of windows; "
        f"arena {report['tflm_arena_bytes']} bytes"
    )
    return 0


def _check_int8_tflite(path: Path) -> None:
    """An int8 model is required: refuse a float, truncated or corrupt .tflite, naming the file."""
    import struct

    from edgel3_mote.errors import ExportError, InvalidInputError
    from edgel3_mote.export.opset import check_int8_opset, read_model

    if path.is_dir():
        path = path / "model_int8.tflite"
    if not path.is_file():
        raise InvalidInputError(f"{path} does not exist: give an int8 .tflite or an 'export tflite' folder")
    try:
        check_int8_opset(read_model(path.read_bytes()))
    except ExportError as exc:
        raise ExportError(f"{path}: {exc}") from None
    except (struct.error, IndexError, ValueError, TypeError, UnicodeDecodeError) as exc:
        raise InvalidInputError(
            f"{path} is not a complete .tflite ({type(exc).__name__}: {exc}): it is truncated "
            f"or corrupt; export it again (edgel3-mote export tflite)"
        ) from None


def _cmd_carrays(args) -> int:
    from edgel3_mote.atomic import check_output_dir
    from edgel3_mote.errors import InvalidInputError
    from edgel3_mote.export.carrays import write_carrays

    if not Path(args.tflite).exists():
        raise InvalidInputError(
            f"--tflite {args.tflite} does not exist: give an int8 .tflite or an 'export tflite' folder"
        )
    check_output_dir(args.output, "export carrays")  # an existing project folder is fine: two files are (re)written
    _check_int8_tflite(Path(args.tflite))
    result = write_carrays(args.tflite, args.output, array_name=args.array_name, header_name=args.header_name)
    print(
        f"wrote {result.header} and {result.source}: {result.array_name}[{result.length}] "
        f"(16-byte aligned), sha256 {result.sha256}"
    )
    return 0


def register(subparsers) -> None:
    export = subparsers.add_parser(
        "export",
        help="int8 TFLite export, C arrays, parity report, firmware projects",
        description="Export a model for the mote: int8 TFLite, C arrays for TFLite Micro, a float-vs-int8 "
        "parity report, and (when installed) the generated firmware project.",
    )
    commands = export.add_subparsers(dest="export_command", metavar="EXPORT_COMMAND")

    def _help(args) -> int:
        export.print_help()
        return 2

    export.set_defaults(func=_help)

    p = commands.add_parser(
        "tflite",
        help="full-integer int8 (and float) TFLite + manifest.json",
        description="Convert a model's backbone to a full-integer int8 TFLite, calibrated "
        "on real clips; writes model_int8.tflite, model_float.tflite and "
        "manifest.json atomically.",
    )
    _add_model_args(p)
    p.add_argument(
        "--calibration",
        default=None,
        metavar="DIR",
        help="folder of real audio clips for calibration (default: synthetic signals, with a warning)",
    )
    add_output_argument(p, "output folder (default build/tflite/<model>, under the working directory)")
    p.set_defaults(func=_cmd_tflite, output_default=_tflite_output)

    p = commands.add_parser(
        "report",
        help="float vs int8 (TFLite Micro) parity report on clips",
        description="Compare the float Keras embedding with the int8 TFLite-Micro embedding on "
        "every 1-s window of the clips; writes report.json/.md/.png.",
    )
    _add_model_args(p)
    p.add_argument(
        "--tflite-dir",
        default=None,
        help="an 'export tflite' folder (default build/tflite/<model>; exported there if missing)",
    )
    p.add_argument("--clips", required=True, metavar="DIR", help="folder of audio clips")
    add_output_argument(p, "report folder (default build/report/parity/<model>, under the working directory)")
    p.set_defaults(func=_cmd_report, output_default=_report_output)

    p = commands.add_parser(
        "carrays",
        help="model_data.h/.c: the .tflite as an aligned C array",
        description="Write the int8 .tflite as a 16-byte aligned const unsigned char array "
        "(g_model_data, g_model_data_len) for any TFLite-Micro project.",
    )
    p.add_argument("--tflite", required=True, help="a .tflite file or an 'export tflite' folder")
    add_output_argument(p, "folder for model_data.h and model_data.c", required=True)
    p.add_argument("--array-name", default="g_model_data", help="C array name (default g_model_data)")
    p.add_argument("--header-name", default="model_data", help="file stem (default model_data)")
    p.set_defaults(func=_cmd_carrays)

    # The board engineer's `export firmware` lives in its own module.
    try:
        has_project_cli = importlib.util.find_spec("edgel3_mote.export.project_cli") is not None
    except ModuleNotFoundError:
        has_project_cli = False
    if has_project_cli:
        importlib.import_module("edgel3_mote.export.project_cli").register(commands)
