"""The generated C engine compiled for the host: the fast int8 reference.

The same code generator that writes the mote's engine writes one for the host (unstreamed, the
portable kernels, int8 weights), compiled with ``-O3 -march=native -DEM_HOST_SIMD`` (the conv
kernel's host-only vectorisable path, firmware/kernels/conv2d_s8.c) and called through ctypes.
It gives the bytes the ``tflite-micro`` interpreter gives (tests/export/test_host_engine_speed.py
holds both the identity and the speed-up on SEA-64), several times faster, so ``evaluate --numeric
int8`` (``export.embedders``) runs it whenever it builds; :func:`int8_runner` falls back to the
interpreter when there is no C compiler or the model has an op the generator does not support.
"""

from __future__ import annotations

import ctypes
import hashlib
from pathlib import Path

import numpy as np

from edgel3_mote.errors import ExportError, ToolchainError

HOST_ENGINE_FLAGS = ["-O3", "-march=native"]
_HOST_TICKS_C = "#include <stdint.h>\nuint32_t em_board_ticks(void) { return 0u; }\n"


class HostEngine:
    """``invoke(x int8) -> int8`` like :class:`export.reference.TflmRunner`, on the generated C."""

    runner = "host-engine"

    def __init__(self, tflite: bytes, work_dir: str | Path, model_name: str = "model"):
        from edgel3_mote.export.boards import FIRMWARE_DIR
        from edgel3_mote.export.codegen import generate_engine
        from edgel3_mote.export.hostbuild import load_shared
        from edgel3_mote.export.ir import read_tflite

        graph = read_tflite(tflite)
        self.input_shape = tuple(int(d) for d in graph.tensor(graph.inputs[0]).shape)
        self.output_shape = tuple(int(d) for d in graph.tensor(graph.outputs[0]).shape)
        out = Path(work_dir) / f"host-engine-{hashlib.sha256(tflite).hexdigest()[:16]}"
        info = generate_engine(
            tflite, out, model_name=model_name, streaming="off", use_dsp=False, weight_format="dense"
        )
        self.n_layers = len(info.layers)
        ticks = out / "host_ticks.c"
        ticks.write_text(_HOST_TICKS_C)
        kernels = sorted((FIRMWARE_DIR / "kernels").glob("*.c"))
        self._lib = load_shared(
            [out / "model_engine.c", out / "model_weights.c", *kernels, ticks],
            include_dirs=[out, FIRMWARE_DIR / "kernels"],
            defines={"EM_HOST_SIMD": None},
            extra_flags=HOST_ENGINE_FLAGS,
            name=f"host-engine-{model_name}",
        )
        self._lib.em_model_input.restype = ctypes.POINTER(ctypes.c_int8)
        self._out = (ctypes.c_int8 * int(np.prod(self.output_shape)))()
        self._ticks = (ctypes.c_uint32 * max(1, self.n_layers))()

    def invoke(self, x: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.int8)
        if x.size != int(np.prod(self.input_shape)):
            raise ExportError(f"host engine: input of {x.size} values, the model takes {self.input_shape}")
        ctypes.memmove(self._lib.em_model_input(), x.ctypes.data, x.size)
        rc = self._lib.em_model_invoke(self._out, self._ticks)
        if rc != 0:
            raise ExportError(f"host engine: em_model_invoke returned {rc}")
        return np.frombuffer(bytes(self._out), np.int8).reshape(self.output_shape).copy()


def int8_runner(tflite: bytes, work_dir: str | Path, model_name: str = "model"):
    """The host engine when it builds (a C compiler, supported ops), else the tflite-micro interpreter.

    The returned object has ``invoke``, ``input_shape`` and ``runner`` ("host-engine" / "tflite-micro").
    """
    from edgel3_mote.export.reference import TflmRunner

    class InterpreterRunner(TflmRunner):
        runner = "tflite-micro"

    try:
        return HostEngine(tflite, work_dir, model_name)
    except (ExportError, ToolchainError):
        return InterpreterRunner(tflite)
