"""The int8 reference interpreters: TFLite Micro (THE oracle) and TFLite's BUILTIN_REF.

"Bit-exact" in this project always means: the same bytes as the ``tflite-micro`` wheel
pinned in pyproject.toml, whose interpreter runs TFLM's reference kernels on the host.
TFLite's own ``BUILTIN_REF`` resolver is a second opinion (it matches TFLM except for
FULLY_CONNECTED); TFLite's default optimised kernels differ by +-1 LSB and are never used
as a reference.
"""

from __future__ import annotations

import contextlib
import os
from typing import Sequence

import numpy as np

from edgel3_mote.errors import ExportError

# Generous default: the interpreter only reserves what it uses.
DEFAULT_ARENA_BYTES = 64 * 1024 * 1024


@contextlib.contextmanager
def _quiet_stderr():
    """TFLM prints allocation failures on the C stderr; the arena search expects many."""
    try:
        fd = os.dup(2)
    except OSError:  # no stderr to silence
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(fd, 2)
        os.close(fd)
        os.close(devnull)


class TflmRunner:
    """A TFLite Micro interpreter over one model, reused across invocations.

    >>> runner = TflmRunner(open("model_int8.tflite", "rb").read())
    >>> y = runner.invoke(x_int8)          # x with or without the batch dimension
    """

    def __init__(self, tflite: bytes, arena_size: int | None = None):
        from tflite_micro import runtime

        self._tflite = bytes(tflite)
        try:
            self._interp = runtime.Interpreter.from_bytes(self._tflite, arena_size=arena_size or DEFAULT_ARENA_BYTES)
        except RuntimeError as exc:
            raise ExportError(f"TFLite Micro cannot load this model: {exc}") from exc
        self.input_details = self._interp.get_input_details(0)
        self.output_details = self._interp.get_output_details(0)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.input_details["shape"])

    @property
    def output_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.output_details["shape"])

    def invoke(self, x: np.ndarray) -> np.ndarray:
        """Run one example; returns the raw output tensor (int8 for an int8 model)."""
        want = self.input_shape
        x = np.asarray(x)
        if x.dtype != self.input_details["dtype"]:
            raise ExportError(
                f"input dtype {x.dtype} does not match the model's {np.dtype(self.input_details['dtype'])}"
            )
        if x.size != int(np.prod(want)):
            raise ExportError(f"input of shape {x.shape} does not fit the model input {want}")
        self._interp.reset()
        self._interp.set_input(x.reshape(want), 0)
        self._interp.invoke()
        return np.array(self._interp.get_output(0), copy=True)

    def invoke_batch(self, xs: Sequence[np.ndarray]) -> np.ndarray:
        return np.stack([self.invoke(x).reshape(self.output_shape[1:]) for x in xs])


def tflm_invoke(tflite: bytes, x: np.ndarray) -> np.ndarray:
    """One-shot convenience: ``TflmRunner(tflite).invoke(x)``."""
    return TflmRunner(tflite).invoke(x)


def tflm_arena_bytes(tflite: bytes, x: np.ndarray | None = None, upper: int = DEFAULT_ARENA_BYTES) -> int:
    """Smallest TFLM arena (bytes, 16-byte granularity) that loads and runs the model.

    Found by bisection: the interpreter's allocation either succeeds or raises.
    """
    from tflite_micro import runtime

    def works(size: int) -> bool:
        try:
            with _quiet_stderr():
                it = runtime.Interpreter.from_bytes(bytes(tflite), arena_size=size)
                if x is not None:
                    it.set_input(x.reshape(tuple(it.get_input_details(0)["shape"])), 0)
                it.invoke()
            return True
        except RuntimeError:
            return False

    if not works(upper):
        raise ExportError(f"the model does not run in TFLite Micro even with a {upper}-byte arena")
    lo, hi = 0, upper  # works(hi) is True, works(lo) assumed False
    while hi - lo > 16:
        mid = (lo + hi) // 2 // 16 * 16
        if mid <= lo:
            break
        if works(mid):
            hi = mid
        else:
            lo = mid
    return hi


def tflite_interpreter(tflite: bytes, builtin_ref: bool = False):
    """A ``tf.lite.Interpreter`` with its tensors allocated, its chatter (the deprecation warning, the XNNPACK
    delegate line) captured for the export log (``quiet.captured``), off the screen."""
    import tensorflow as tf

    from edgel3_mote.quiet import captured

    kwargs = {"experimental_op_resolver_type": tf.lite.experimental.OpResolverType.BUILTIN_REF} if builtin_ref else {}
    with captured("tf.lite.Interpreter"):
        interp = tf.lite.Interpreter(model_content=bytes(tflite), **kwargs)
        interp.allocate_tensors()
    return interp


def builtin_ref_invoke(tflite: bytes, x: np.ndarray) -> np.ndarray:
    """Run TFLite's BUILTIN_REF kernels (the second int8 opinion)."""
    interp = tflite_interpreter(tflite, builtin_ref=True)
    inp = interp.get_input_details()[0]
    out = interp.get_output_details()[0]
    interp.set_tensor(inp["index"], np.asarray(x).reshape(inp["shape"]).astype(inp["dtype"]))
    interp.invoke()
    return np.array(interp.get_tensor(out["index"]), copy=True)
