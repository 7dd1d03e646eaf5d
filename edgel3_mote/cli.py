"""The ``edgel3-mote`` command: one entry point, one subcommand per job.

Each sub-package contributes its subcommands through a ``register(subparsers)`` function in
its own ``cli`` module, so the package that owns a job owns its command line too. Those
modules must import nothing heavy at module level (TensorFlow is imported inside the
handlers), so ``edgel3-mote --help`` answers at once.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import warnings

from edgel3_mote import __version__
from edgel3_mote.errors import EdgeL3MoteError
from edgel3_mote.quiet import fd2_muted

# Order here is the order in `--help`: the data flow compress -> export -> firmware -> board.
COMMAND_MODULES = [
    "edgel3_mote.compress.cli",  # models, embed
    "edgel3_mote.compress.weights_fetch",  # weights fetch|list
    "edgel3_mote.compress.pruning.cli",  # prune, sensitivity
    "edgel3_mote.compress.retrain.cli",  # distill, finetune, jobs
    "edgel3_mote.export.evaluate_cli",  # evaluate (runs export.embedders)
    "edgel3_mote.export.cli",  # export tflite|report|carrays|firmware
    "edgel3_mote.board_tests.harness.selftest_cli",  # selftest
    "edgel3_mote.board_tests.harness.cli",  # bench, emulate, demo
    "edgel3_mote.board_tests.harness.flash",  # flash (a real board, OpenOCD)
    "edgel3_mote.board_tests.harness.sweep",  # sweep (compress -> export -> mote, per sparsity)
]


class _QuietTensorFlowImport(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """TensorFlow's C++ start-up lines (absl before InitializeLog: oneDNN notice, missing CUDA stubs) ignore
    TF_CPP_MIN_LOG_LEVEL and are nothing a user can act on: fd 2 is muted while ``tensorflow`` executes its
    ``__init__`` and lists its devices. An import error still raises (and is reported) as usual."""

    def find_spec(self, name, path, target=None):
        if name != "tensorflow":
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        self._loader = spec.loader
        spec.loader = self
        return spec

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module) -> None:
        with fd2_muted():
            self._loader.exec_module(module)
            with contextlib.suppress(Exception):  # device discovery (cuInit on a machine without a GPU) logs too
                module.config.list_physical_devices()


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """One form for every warning a user can act on: ``edgel3-mote: warning: <message>``."""
    print(f"edgel3-mote: warning: {message}", file=file or sys.stderr)


def _quiet_start() -> None:
    if "tensorflow" not in sys.modules and not any(isinstance(f, _QuietTensorFlowImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietTensorFlowImport())
    from edgel3_mote.errors import EdgeL3MoteWarning

    default = warnings.showwarning

    def show(message, category, *args, **kwargs):
        (_show_warning if issubclass(category, EdgeL3MoteWarning) else default)(message, category, *args, **kwargs)

    warnings.showwarning = show


class _Parser(argparse.ArgumentParser):
    """argparse with one error line in the same form as every other error (and a pointer to --help)."""

    def error(self, message: str):
        command = self.prog.removeprefix("edgel3-mote").strip()
        self.exit(2, f"edgel3-mote: error: {command + ': ' if command else ''}{message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
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
    _document_weights_names(subparsers)
    return parser


def _document_weights_names(action: argparse._SubParsersAction) -> None:
    """Every ``--weights`` also takes a published model name (``_published_weights``): say so in each --help."""
    for sub in action.choices.values():
        for a in sub._actions:
            if isinstance(a, argparse._SubParsersAction):
                _document_weights_names(a)
            elif any(o.endswith("weights") for o in a.option_strings) and a.help and "weights fetch" not in a.help:
                a.help += "; or a published model name (sea-64) for its file from `edgel3-mote weights fetch`"


def command_names() -> list[str]:
    """Every ``edgel3-mote`` subcommand name (what ``jobs slurm -- CMD`` may run)."""
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sorted(sub.choices)


def _close_progress_bars() -> None:
    """Close every live tqdm bar (ended by an exception mid-loop) so that the error starts its own line."""
    tqdm = sys.modules.get("tqdm")
    if tqdm is None:
        return
    for bar in list(getattr(tqdm.tqdm, "_instances", ())):
        with contextlib.suppress(Exception):
            bar.close()


def _published_weights(args: argparse.Namespace) -> None:
    """Every weights option (``--weights``, ``--teacher-weights``, ...) given a published model name means that
    model's file from the cache (``weights fetch``); without ``--weights`` the model stays seeded-random, and
    when its published weights are cached that is said."""
    names = [k for k in vars(args) if k == "weights" or k.endswith("_weights")]
    if not names:
        return
    from edgel3_mote.compress.weights_fetch import cached_path, resolve_weights

    for name in names:
        setattr(args, name, resolve_weights(getattr(args, name)))
    if "weights" not in names:
        return
    models = args.model if isinstance(getattr(args, "model", None), list) else [getattr(args, "model", None)]
    cached = [m for m in models if isinstance(m, str) and cached_path(m)]
    if not args.weights and cached:
        print(
            f"note: the published {cached[0]} weights are cached but not used (no --weights): "
            f"--weights {cached[0]} uses them",
            file=sys.stderr,
        )


def main(argv: list[str] | None = None) -> int:
    from edgel3_mote.atomic import claim, gate
    from edgel3_mote.cli_types import OUTPUTS_KEY

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    _quiet_start()
    written = {}
    try:
        # the output gate: every declared output checked before any work (one line, exit 2)
        declared = getattr(args, OUTPUTS_KEY, None)
        written = gate(declared(args) if declared else ())
        _published_weights(args)
        rc = args.func(args)
    except EdgeL3MoteError as exc:
        _close_progress_bars()
        print(f"edgel3-mote: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        _close_progress_bars()
        print("edgel3-mote: interrupted", file=sys.stderr)
        return 130
    finally:
        claim(written)  # the declared files this run wrote are its own: a rerun may replace them
    return int(rc or 0)


if __name__ == "__main__":
    sys.exit(main())
