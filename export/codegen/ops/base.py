"""What every op emitter provides: weights for flash, static params, one C call per op."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgel3_mote.errors import ExportError
from edgel3_mote.export.ir import Graph, Op


@dataclass
class CArray:
    """A constant array for model_weights.c (flash)."""

    name: str
    ctype: str  # 'int8_t' | 'int32_t' | a kernel struct such as 'em_sparse_tap'
    values: np.ndarray  # 1-D; or 2-D for an array of structs (one row per element)

    @property
    def is_struct(self) -> bool:
        return self.ctype.startswith("em_")

    @property
    def count(self) -> int:
        """Elements in the C array (structs count once)."""
        return len(self.values) if self.is_struct else int(self.values.size)

    @property
    def nbytes(self) -> int:
        return int(self.values.size * self.values.dtype.itemsize)


def c_float(x: float) -> str:
    """The shortest C float literal that reads back as the same float32 (non-finite values are an error)."""
    value = np.float32(x)
    if not np.isfinite(value):
        raise ExportError(
            f"constant {x} is not finite: it cannot be a C float literal; check the model's "
            f"quantisation and input BatchNormalization"
        )
    return np.format_float_scientific(value, unique=True, trim="0") + "f"


def dims(shape_hwc) -> str:
    h, w, c = shape_hwc
    return f"{{{h}, {w}, {c}}}"


class OpEmitter:
    """Base class: one subclass per op kind, in export/codegen/ops/<op>.py.

    ``prefix`` names the op's C symbols uniquely (e.g. ``l03``). Call expressions are C
    expressions returning int (0 = EM_OK) that the engine template checks.
    """

    kind = ""
    streamable = False  # can run on a row window (em_rows) through line buffers
    rows_per_call: int | None = None  # output rows per generated call (1 inside a streamed chain; None: all)

    def __init__(self, graph: Graph, op: Op, prefix: str, use_dsp: bool):
        self.graph, self.op, self.prefix, self.use_dsp = graph, op, prefix, use_dsp
        self.input = graph.tensor(op.inputs[0])
        self.output = graph.tensor(op.outputs[0])

    # --- data ---------------------------------------------------------------------------
    def weights(self) -> list[CArray]:
        return []

    def declarations(self) -> str:
        """Static const parameter structs for model_engine.c."""
        return ""

    def static_checks(self) -> list[str]:
        """C constant expressions that must be true (checked at compile time)."""
        return []

    # --- planning -----------------------------------------------------------------------
    def scratch_bytes(self) -> int:
        return 0

    def macs(self) -> int:
        return 0

    # --- code ---------------------------------------------------------------------------
    def call(self, input_ptr: str, output_ptr: str, rows: str | None, scratch_ptr: str) -> str:
        """C expression running this op; ``rows`` names an ``em_rows`` (None = whole tensors)."""
        raise NotImplementedError

    def fold_call(self, input_ptr: str, in_rows: str, accumulate: str, output_ptr: str) -> str:
        """C expression folding ``in_rows`` input rows into a running result (global max ops)."""
        raise NotImplementedError(f"{self.kind} cannot fold rows")

    @property
    def emits_code(self) -> bool:
        return True
