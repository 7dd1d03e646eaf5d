"""Silence what a user cannot act on: C libraries that write to file descriptor 2 directly."""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Iterator


@contextlib.contextmanager
def fd2_muted() -> Iterator[None]:
    """Mute file descriptor 2 itself (C++/C libraries write there past ``sys.stderr``): TensorFlow's
    start-up lines, libmpg123's ID3 notices. Python exceptions still propagate as usual."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
