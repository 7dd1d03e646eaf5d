"""``edgel3-mote bench | emulate | demo``: the serial harness on the command line.

- ``bench``   a real board (``--port URL``) or, with no port and a ``qemu-*`` board, QEMU;
- ``emulate`` always QEMU (started on a free loopback port, killed by pid afterwards);
- ``demo``    the README's first command: build the default board + model, run it in QEMU over
  a few clips (yours, else synthesised ones) and print the report.

Nothing heavy is imported at module level (``edgel3-mote --help`` stays instant).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from edgel3_mote.cli_types import (
    add_hop_argument,
    add_output_argument,
    declare_outputs,
    output_dir,
    positive_float,
    positive_int,
)

BENCH_DESCRIPTION = """Stream clips window by window (framed exactly as get_embedding) to a board and
report, per clip and in summary: int8 exactness vs the tflite-micro interpreter on the
device's own spectrogram, front-end agreement with the numpy reference, cosine / L2 / MAE vs
the float Keras model, latency (instructions under QEMU, cycles on silicon) split front-end /
engine / per layer, and memory. Under QEMU the first window is also traced and weighted with
the core's published timing: estimated cycles per window and per layer at zero wait states, the
memory-aware estimate and the upper bound with the board's flash wait states and caches (the
real-time verdict is the upper bound's), the real-time factor at the board's clock and the energy
per window at its datasheet currents (--no-cycles skips it). Writes bench.json, bench.md,
layers.png and parity.png into the -o/--output folder.

A real board: --port URL (any pyserial URL) with the firmware of --project flashed.
No --port and a qemu-* board: the firmware is built (or reused) and run in QEMU."""

DEFAULT_BOARD = "qemu-mps2-an386"
DEFAULT_MODEL = "sea-64"


def _add_common(p: argparse.ArgumentParser, port: bool) -> None:
    p.add_argument("--board", default=DEFAULT_BOARD, help=f"board name (default {DEFAULT_BOARD})")
    p.add_argument("--model", default=DEFAULT_MODEL, help=f"model name (default {DEFAULT_MODEL})")
    p.add_argument(
        "--weights", default=None, help="trained .h5 weights; without them the model has seeded RANDOM weights"
    )
    p.add_argument(
        "--clips", default=None, help="directory of audio clips (default: synthesised tones/chirp/noise, said so)"
    )
    if port:
        p.add_argument(
            "--port",
            default=None,
            help="pyserial URL of a real board (/dev/ttyACM0, socket://HOST:PORT, rfc2217://...); "
            "default: start QEMU for a qemu-* board",
        )
        p.add_argument("--baud", type=positive_int, default=115200, help="baud rate for --port (default 115200)")
        p.add_argument(
            "--project",
            default=None,
            help="the generated project directory of the firmware on the board "
            "(default: build/reuse build/<board>/<model>)",
        )
    p.add_argument(
        "--classifier",
        default=None,
        metavar="HEAD.h5",
        help="build the firmware with this classifier head (edgel3-mote evaluate --save-classifier) "
        "and check its int8 logits and classes on every window",
    )
    add_output_argument(p, "report folder (default build/report/<board>/<model>, under the working directory)")
    add_hop_argument(
        p, "hop between windows in seconds (default 0.1, like get_embedding; coarser is faster)", default=0.1
    )
    p.set_defaults(output_default=report_output)
    declare_outputs(p, _report_outputs)
    p.add_argument("--max-windows", type=positive_int, default=None, help="at most this many windows per clip")
    p.add_argument("--no-layer-ticks", action="store_true", help="do not ask for per-layer ticks")
    p.add_argument(
        "--no-cycles",
        action="store_true",
        help="QEMU boards: skip the estimated-cycles trace of the first window (core timing table)",
    )
    p.add_argument(
        "--timeout",
        type=positive_float,
        default=600.0,
        help="seconds to wait for one INFER answer (default 600); a port that does not open or answer fails within it",
    )
    p.add_argument(
        "--compare-to",
        default=None,
        metavar="BENCH_JSON",
        help="a previous run's bench.json: report whether the same windows gave the same ticks",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--inject-faults",
        type=_fault_rate,
        default=0.0,
        metavar="RATE",
        help="QEMU only, the soak: damage the line on purpose at this rate per frame (dropped bytes, "
        "flipped bits, garbage bursts, TCP reconnects) and count the faults recovered",
    )
    p.add_argument("--fault-seed", type=int, default=0, help="seed of the injected faults (default 0)")


def _fault_rate(text: str) -> float:
    value = positive_float(text)
    if value >= 1:
        raise argparse.ArgumentTypeError(f"{value} is not a rate below 1 (e.g. 0.05)")
    return value


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "bench",
        help="stream clips to a board (or QEMU): parity, latency, memory report",
        description=BENCH_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_common(p, port=True)
    p.set_defaults(func=_cmd_bench)

    p = subparsers.add_parser(
        "emulate",
        help="start QEMU, run the serial bench against it, stop QEMU",
        description="Build (or reuse) the firmware of a qemu-* board, start QEMU with its "
        "UART on a free loopback TCP port, run the serial bench against it (the "
        "same reports as bench) and kill QEMU by pid afterwards.",
    )
    _add_common(p, port=False)
    p.set_defaults(func=_cmd_emulate)

    p = subparsers.add_parser(
        "demo",
        help="the main job: build, run in QEMU, bench a few clips, print the report",
        description="The first command to try: build the default board + model firmware "
        "(int8 calibration and self-test vectors on --clips, else ../shared's CC0 "
        "animal clips when present, else synthesised tones -- said as it runs), "
        "run it in QEMU over a few clips and print the bench report.",
    )
    _add_common(p, port=False)
    p.set_defaults(func=_cmd_demo)


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def report_output(args) -> Path:
    """The report folder without -o/--output: ``build/report/<board>/<model>`` under the working directory."""
    return Path("build") / "report" / args.board / args.model


def _report_dir(args) -> Path:
    return Path(args.output) if args.output else report_output(args)


def _report_outputs(args) -> list:
    """The output gate's view: the report folder this run will use, and the reports it writes there."""
    from edgel3_mote.board_tests.harness.bench_report import JSON_NAME, LAYERS_PNG, MD_NAME, PARITY_PNG

    names = (MD_NAME, JSON_NAME, LAYERS_PNG, PARITY_PNG)
    return [output_dir(_next_report_dir(_report_dir(args)), "bench", names, flag="-o/--output")]


def _next_report_dir(report: Path) -> Path:
    """``report``, or -- when it holds an earlier run's reports -- the first free ``report.2``, ``.3`` ..."""
    from edgel3_mote.atomic import check_output_dir
    from edgel3_mote.board_tests.harness.bench_report import JSON_NAME

    check_output_dir(report, "bench", flag="-o/--output")
    chosen, n = report, 1
    while (chosen / JSON_NAME).exists():
        n += 1
        chosen = report.with_name(f"{report.name}.{n}")
        check_output_dir(chosen, "bench", flag="-o/--output")
    return chosen


def _fresh_report_dir(report: Path) -> Path:
    """``report``, or -- when it holds an earlier run's reports -- the first free ``report.2``, ``.3`` ...:
    a second run never overwrites the first. Checked (and said) before the bench starts."""
    chosen = _next_report_dir(report)
    if chosen != report:
        _log(f"{report} holds an earlier run's reports (kept): this run's go to {chosen}")
    return chosen


def fault_summary(client) -> dict:
    """Faults a ``FaultyLink`` injected and how many hit an exchange that still succeeded."""
    link = client.link
    return {
        "rate": link.rate,
        "injected": link.faults_injected,
        "by_kind": dict(link.injected),
        "recovered": client.faults_recovered,
        "resends": client.resends,
    }


def _previous_run(path: str) -> dict:
    """The bench.json given to --compare-to, checked to be one before the bench runs."""
    import json

    from edgel3_mote.errors import InvalidInputError

    try:
        doc = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise InvalidInputError(f"--compare-to {path} not found: give a previous run's bench.json") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InvalidInputError(
            f"--compare-to {path} is not a bench report ({type(exc).__name__}: {exc}): give a previous run's bench.json"
        ) from None
    clips = doc.get("clips") if isinstance(doc, dict) else None
    window_keys = {"start_sample", "frontend_ticks", "engine_ticks", "layer_ticks", "embedding_int8"}
    if not (
        isinstance(clips, list)
        and isinstance(doc.get("summary"), dict)
        and all(
            isinstance(c, dict)
            and "path" in c
            and isinstance(c.get("windows"), list)
            and all(isinstance(w, dict) and window_keys <= w.keys() for w in c["windows"])
            for c in clips
        )
    ):
        raise InvalidInputError(
            f"--compare-to {path} is not a bench report (no summary and clips with windows): "
            f"give a previous run's bench.json"
        )
    return doc


def _clips(args, tmp: Path) -> tuple[list[Path], bool]:
    from edgel3_mote.board_tests.harness.bench import find_clips
    from edgel3_mote.board_tests.harness.synth import synthesise_clips

    if args.clips:
        return find_clips(args.clips), False
    _log(f"no --clips given: using 3 SYNTHESISED clips (tone, chirp, noise bursts) written to {tmp}")
    return synthesise_clips(tmp), True


def _run(args, mode: str) -> int:
    from edgel3_mote.board_tests.harness.bench import cycle_trace_plugin, run_bench, window_cycles
    from edgel3_mote.board_tests.harness.bench_report import write_reports
    from edgel3_mote.board_tests.harness.deploy import open_board, resolve_deployment
    from edgel3_mote.errors import DeviceError, InvalidInputError

    previous = _previous_run(args.compare_to) if args.compare_to else None
    if args.clips and not Path(args.clips).exists():
        raise InvalidInputError(f"--clips {args.clips} does not exist: give a folder of audio clips")
    if args.weights is not None:
        from edgel3_mote.compress.weights import check_model_file

        check_model_file(args.weights, "--weights")  # before the build is announced
    report_dir = _fresh_report_dir(_report_dir(args))
    port = getattr(args, "port", None)
    if port and args.inject_faults:
        raise InvalidInputError("--inject-faults damages QEMU's line only: leave out --port")
    if not port:
        from edgel3_mote.export.boards import get_board

        if not get_board(args.board).runnable_in_qemu:
            raise InvalidInputError(
                f"board '{args.board}' does not run in QEMU: connect it, flash its firmware "
                f"and pass --port URL (e.g. /dev/ttyACM0)"
            )
    if not args.clips and not getattr(args, "project", None):
        from edgel3_mote.export.project import DEFAULT_CLIPS

        if DEFAULT_CLIPS.is_dir():
            _log(
                f"no --clips given: a firmware build calibrates int8 and takes its self-test vectors from "
                f"{DEFAULT_CLIPS} (the workplace's CC0 clips); pass --clips DIR to use yours"
            )
    with tempfile.TemporaryDirectory(prefix="edgel3-mote-clips-") as tmp:
        clips, synthetic = _clips(args, Path(tmp))
        setup, elf = resolve_deployment(
            args.board,
            args.model,
            args.weights,
            project=getattr(args, "project", None),
            clips=args.clips,
            need_elf=port is None,
            classifier=getattr(args, "classifier", None),
            log=_log,
        )
        if setup.weights is None:
            _log(
                f"NOTE: {args.model} runs with RANDOM weights (seed {setup.seed}): no --weights given; "
                f"parity/latency/memory are real, the embeddings are meaningless"
            )
        trace = Path(tmp) / "tbtrace.txt"  # QEMU: the first INFER's instruction stream, for estimated cycles
        plugin = None if port or args.no_cycles else cycle_trace_plugin(elf, trace, args.board)
        with open_board(
            setup,
            elf,
            port=port,
            baud=getattr(args, "baud", 115200),
            infer_timeout=args.timeout,
            log=_log,
            plugin=plugin,
            faults=args.inject_faults,
            fault_seed=args.fault_seed,
        ) as client:
            results = run_bench(
                client,
                setup,
                clips,
                hop=args.hop_size,
                layer_ticks=not args.no_layer_ticks,
                max_windows=args.max_windows,
                progress=not args.quiet,
                log=_log,
            )
            if args.inject_faults:
                results["faults"] = fault_summary(client)
                _log(
                    f"faults: {results['faults']['injected']} injected ({results['faults']['by_kind']}), "
                    f"{results['faults']['recovered']} recovered, {client.resends} requests resent"
                )
        if plugin:
            try:
                results["cycles"] = window_cycles(results, elf, trace)
            except DeviceError as exc:  # the bench's evidence is still written
                results["warnings"].append(f"no cycle estimate: {exc}")
                _log(f"WARNING: no cycle estimate: {exc}")
    results["synthetic_clips"] = synthetic
    results["mode"] = mode
    if previous is not None:
        from edgel3_mote.board_tests.harness.bench_report import compare_runs

        results["comparison"] = compare_runs(results, previous)
    paths = write_reports(results, report_dir)
    s = results["summary"]
    if mode == "demo":
        print(paths["markdown"].read_text())
    _log("reports: " + ", ".join(str(p) for p in paths.values()))
    faults = results.get("faults")
    if faults and faults["recovered"] != faults["injected"]:
        _log(f"FAIL: {faults['injected'] - faults['recovered']} of {faults['injected']} injected faults not recovered")
        return 1
    if s.get("windows") and s["int8_exact_windows"] != s["windows"]:
        _log(f"FAIL: only {s['int8_exact_windows']}/{s['windows']} windows are int8-exact vs tflite-micro")
        return 1
    head = s.get("head")
    if head and head["windows"] and head["logits_exact_windows"] != head["windows"]:
        _log(
            f"FAIL: only {head['logits_exact_windows']}/{head['windows']} windows have head logits identical "
            f"to tflite-micro"
        )
        return 1
    return 0


def _cmd_bench(args) -> int:
    return _run(args, "bench")


def _require_qemu_board(args) -> None:
    from edgel3_mote.errors import InvalidInputError

    if not args.board.startswith("qemu-"):
        raise InvalidInputError(
            f"{args.command} runs QEMU boards only, not '{args.board}': use a qemu-* board, "
            f"or `edgel3-mote bench --port URL` for a real board"
        )


def _cmd_emulate(args) -> int:
    _require_qemu_board(args)
    return _run(args, "emulate")


def _cmd_demo(args) -> int:
    _require_qemu_board(args)
    return _run(args, "demo")
