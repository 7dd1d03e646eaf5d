"""Silence what a user cannot act on: C libraries that write to file descriptor 2 directly, and the
converter's / TensorFlow's chatter during an export (kept for the export's log file instead)."""

from __future__ import annotations

import contextlib
import contextvars
import os
import sys
import tempfile
import warnings
from typing import Callable, Iterator


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


_SINK: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("edgel3_mote_chatter", default=None)


@contextlib.contextmanager
def collecting(sink: list[str]) -> Iterator[list[str]]:
    """Within this block, what :func:`captured` catches is appended to ``sink`` (an export's log file)."""
    outer = _SINK.get()
    token = _SINK.set(sink)
    try:
        yield sink
    finally:
        _SINK.reset(token)
        if outer is not None:  # a nested export's chatter belongs to the enclosing log too
            outer.extend(sink)


class StepLog:
    """An export's log: each step's line goes to the screen (``screen``) and to the log file, which also gets
    the chatter :func:`captured` caught (use it with ``collecting(step_log.chatter)``)."""

    def __init__(self, screen: Callable[[str], None]) -> None:
        self.screen = screen
        self.lines: list[str] = []
        self.chatter: list[str] = []

    def __call__(self, message: str) -> None:
        self.lines.append(message)
        self.screen(message)

    def text(self) -> str:
        parts = ["\n".join(self.lines)]
        if self.chatter:
            parts += ["what the converter and TensorFlow printed:", *self.chatter]
        return "\n\n".join(parts) + "\n"


@contextlib.contextmanager
def captured(label: str) -> Iterator[None]:
    """Catch a library's chatter -- what it writes to file descriptors 1 and 2 (C++ logging such as the
    TFLite converter's ``fully_quantize: 0, ...`` or ``Created TensorFlow Lite XNNPACK delegate``) and the
    Python warnings it raises (``tf.lite.Interpreter is deprecated``) -- for the log file, off the screen.

    Inside :func:`collecting`, the text goes to its sink under ``[label]``; otherwise it is dropped. When
    the block raises, the caught text is shown on stderr (it may explain the error). Our own warnings
    (:class:`~edgel3_mote.errors.EdgeL3MoteWarning`) are never caught: they are re-issued."""
    from edgel3_mote.errors import EdgeL3MoteWarning

    sys.stdout.flush()
    sys.stderr.flush()
    ok = False
    with tempfile.TemporaryFile() as tmp:
        saved = os.dup(1), os.dup(2)
        os.dup2(tmp.fileno(), 1)
        os.dup2(tmp.fileno(), 2)
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                yield
            ok = True
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
            tmp.seek(0)
            text = tmp.read().decode("utf-8", errors="replace")
            ours = [w for w in caught if issubclass(w.category, EdgeL3MoteWarning)]
            text += "".join(
                f"{w.category.__name__}: {str(w.message).strip()}\n"
                for w in caught
                if not issubclass(w.category, EdgeL3MoteWarning)
            )
            sink = _SINK.get()
            if sink is not None and text.strip():
                sink.append(f"[{label}]\n{text.rstrip()}")
            elif not ok and text.strip():
                sys.stderr.write(text)
        for w in ours:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
