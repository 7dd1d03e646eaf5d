"""argparse types for numbers that must be meaningful: checked while parsing, before any import.

A bad value gives argparse's one-line ``error: argument --x: ...`` and exit 2.
"""

from __future__ import annotations

import argparse


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
