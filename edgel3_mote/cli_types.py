"""argparse types for numbers that must be meaningful: checked while parsing, before any import.

A bad value gives argparse's one-line ``error: argument --x: ...`` and exit 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

if TYPE_CHECKING:
    from edgel3_mote.atomic import Output


def positive_int(text: str) -> int:
    """An integer >= 1 (window counts, steps, baud rates)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not positive: give 1 or more")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0 (seconds, hops, timeouts)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{value} is not a positive finite number")
    return value


# ------------------------------------------------------------------------------ one set of flag names
# Every command names its output folder -o/--output and its hop --hop-size. The spellings some
# commands used before (--out, --report, --output-dir, --hop) still parse, hidden from --help,
# with a one-line deprecation warning on stderr, so users' scripts keep working.
OUTPUT_FLAGS = ("-o", "--output")
OLD_OUTPUT_FLAGS = ("--out", "--report", "--output-dir")


class DeprecatedAlias(argparse.Action):
    """An old spelling of an option: stores into the canonical option's ``dest`` and says once on
    stderr that it is deprecated (``--help`` does not list it)."""

    def __init__(self, option_strings, dest, canonical: str = "", **kwargs):
        kwargs["help"] = argparse.SUPPRESS
        super().__init__(option_strings, dest, **kwargs)
        self.canonical = canonical

    def __call__(self, parser, namespace, values, option_string=None):
        print(
            f"{parser.prog}: warning: {option_string} is deprecated, use {self.canonical} (same meaning)",
            file=sys.stderr,
        )
        setattr(namespace, self.dest, values)


def add_output_argument(
    parser: argparse.ArgumentParser,
    help: str,
    *,
    default=None,
    required: bool = False,
    type=None,
    old: tuple[str, ...] = OLD_OUTPUT_FLAGS,
) -> None:
    """``-o/--output`` (dest ``output``) and the hidden deprecated spellings ``old``.

    required=True: one of the spellings must be given (checked as argparse checks required options).
    """
    group = parser.add_mutually_exclusive_group(required=required) if required else parser
    group.add_argument(*OUTPUT_FLAGS, dest="output", default=default, type=type, metavar="DIR", help=help)
    for flag in old:
        group.add_argument(flag, dest="output", type=type, action=DeprecatedAlias, canonical="-o/--output")


def add_hop_argument(parser: argparse.ArgumentParser, help: str, *, default: float, type=None) -> None:
    """``--hop-size`` (dest ``hop_size``) and the hidden deprecated ``--hop``."""
    parser.add_argument(
        "--hop-size", dest="hop_size", default=default, type=type or positive_float, metavar="SECONDS", help=help
    )
    parser.add_argument(
        "--hop", dest="hop_size", type=type or positive_float, action=DeprecatedAlias, canonical="--hop-size"
    )


# ------------------------------------------------------------------------------ the output gate
OUTPUTS_KEY = "_outputs"
"""The parser default under which a subcommand declares what it writes (not saved in run configs: ``_``)."""


def declare_outputs(parser: argparse.ArgumentParser, outputs: Callable[[argparse.Namespace], Sequence[Output]]) -> None:
    """Say what the subcommand writes: ``outputs(args)`` lists its ``edgel3_mote.atomic.Output`` s, resolved from
    the parsed arguments (defaults included) without any heavy import. ``edgel3_mote.cli.main`` checks them all
    before the handler runs and records the files written afterwards. Every subcommand declares (a command that
    writes nothing: ``writes_nothing``); tests/robustness/test_output_gate.py enumerates the parser to hold it."""
    parser.set_defaults(**{OUTPUTS_KEY: outputs})


def writes_nothing(args: argparse.Namespace) -> list[Output]:
    """The declaration of a subcommand that writes no file (it prints)."""
    return []


def output_dir(
    path,
    command: str,
    names: Sequence[str] = (),
    legacy=None,
    flag: str = "-o",
    ours: Callable[[Path], bool] | None = None,
) -> Output:
    """An output folder (see ``edgel3_mote.atomic.Output``); imported lazily so that parsing stays light."""
    from edgel3_mote.atomic import Output

    return Output(Path(path), command, tuple(names), flag=flag, legacy=legacy, ours=ours)


def output_file(path, command: str, siblings: Sequence[str] = (), legacy=None, flag: str = "-o") -> Output:
    """An output file (and its ``siblings`` in the same folder)."""
    from edgel3_mote.atomic import Output

    return Output(Path(path), command, flag=flag, kind="file", legacy=legacy, siblings=tuple(siblings))
