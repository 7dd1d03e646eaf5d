"""The ``edgel3-mote`` command: one entry point, one subcommand per job.

Each sub-package contributes its subcommands through a ``register(subparsers)`` function in
its own ``cli`` module, so the package that owns a job owns its command line too. Those
modules must import nothing heavy at module level (TensorFlow is imported inside the
handlers), so ``edgel3-mote --help`` answers at once.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys

from edgel3_mote import __version__
from edgel3_mote.errors import EdgeL3MoteError

# Order here is the order in `--help`: the data flow compress -> export -> firmware -> board.
COMMAND_MODULES = [
    "edgel3_mote.compress.cli",            # models, embed
    "edgel3_mote.compress.pruning.cli",    # prune, sensitivity
    "edgel3_mote.compress.retrain.cli",    # distill, finetune, jobs
    "edgel3_mote.compress.evaluate.cli",   # evaluate
    "edgel3_mote.export.cli",              # export tflite|report|carrays|firmware
    "edgel3_mote.board_tests.selftest_cli",  # selftest
    "edgel3_mote.board_tests.cli",         # bench, emulate, demo
    "edgel3_mote.board_tests.sweep",       # sweep (compress -> export -> mote, per sparsity)
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edgel3-mote",
        description="EdgeL3 audio embeddings from Keras to a microcontroller mote.",
    )
    parser.add_argument("--version", action="version", version=f"edgel3-mote {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            if importlib.util.find_spec(name) is None:
                continue
        except ModuleNotFoundError:  # parent sub-package not there (partial checkout)
            continue
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        rc = args.func(args)
    except EdgeL3MoteError as exc:
        print(f"edgel3-mote: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("edgel3-mote: interrupted", file=sys.stderr)
        return 130
    return int(rc or 0)


if __name__ == "__main__":
    sys.exit(main())
