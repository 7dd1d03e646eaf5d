"""What every op emitter provides: weights for flash, static params, one C call per op.

Emitters describe the C they need as data -- :class:`CArray` (weights in flash) and :class:`CDecl`
(one static parameter struct, its fields by name) -- and :func:`render_decl` is the one place that
writes a declaration as C text (a C99 designated initialiser, ``{.stride_h = 1, ...}``). Which
declarations an engine keeps follows from the names each generated call says it uses
(:meth:`OpEmitter.call_uses`, :meth:`OpEmitter.fold_uses`), not from reading the C back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from edgel3_mote.errors import ExportError
from edgel3_mote.export.ir import Graph, Op


@dataclass
class CArray:
    """A constant array of integers for model_weights.c (flash); parameter structs are :class:`CDecl`."""

    name: str
    ctype: str  # 'int8_t' | 'uint8_t' | 'int32_t'
    values: np.ndarray  # written flat, in C order

    @property
    def count(self) -> int:
        """Elements in the C array."""
        return int(self.values.size)

    @property
    def nbytes(self) -> int:
        return int(self.values.size * self.values.dtype.itemsize)


@dataclass(frozen=True)
class CDecl:
    """One C declaration with a struct initialiser: ``<storage> <ctype> <name> = {.field = value, ...};``.

    ``fields`` are (C field name, C expression) in the struct's declaration order; ``comment``, if
    any, goes after the declaration as ``/* comment */``.
    """

    name: str
    ctype: str
    fields: tuple[tuple[str, str | int], ...]
    storage: str = "static const"
    comment: str = ""


def designated(fields: Sequence[tuple[str, str | int]]) -> str:
    """A C99 designated initialiser: ``{.a = 1, .b = x}``."""
    return "{" + ", ".join(f".{name} = {value}" for name, value in fields) + "}"


def render_decl(decl: CDecl) -> str:
    """The single writer of a :class:`CDecl` as one line of C."""
    comment = f" /* {decl.comment} */" if decl.comment else ""
    return f"{decl.storage} {decl.ctype} {decl.name} = {designated(decl.fields)};{comment}"


def rows_literal(in_h: int, out_h: int) -> str:
    """A pointer to an ``em_rows`` for whole tensors (em_rows_full as a C99 compound literal)."""
    fields = (("in_row_begin", 0), ("in_rows", in_h), ("out_row_begin", 0), ("out_row_end", out_h), ("out_row_base", 0))
    return f"&(const em_rows){designated(fields)}"


def zero_point(tensor) -> int:
    """The (per-tensor) zero point of a quantised activation tensor; a float one is an ExportError."""
    if tensor.zero_point is None:
        raise ExportError(f"tensor '{tensor.name}' is not quantised: convert the model to full int8")
    return int(tensor.zero_point[0])


def c_float(x: float) -> str:
    """The shortest C float literal that reads back as the same float32 (non-finite values are an error)."""
    value = np.float32(x)
    if not np.isfinite(value):
        raise ExportError(
            f"constant {x} is not finite: it cannot be a C float literal; check the model's "
            f"quantisation and input BatchNormalization"
        )
    return np.format_float_scientific(value, unique=True, trim="0") + "f"


def dims_decl(name: str, shape_hwc: Sequence[int]) -> CDecl:
    """An ``em_dims`` declaration of an (H, W, C) shape."""
    h, w, c = (int(v) for v in shape_hwc)
    return CDecl(name, "em_dims", (("h", h), ("w", w), ("c", c)))


class OpEmitter:
    """Base class: one subclass per op kind, in export/codegen/ops/<op>.py.

    ``prefix`` names the op's C symbols uniquely (e.g. ``l03``). Call expressions are C
    expressions returning int (0 = EM_OK) that the engine template checks.
    """

    kind = ""
    streamable = False  # can run on a row window (em_rows) through line buffers
    rows_per_call: int | None = None  # output rows per generated call (1 inside a streamed chain; None: all)
    call_rows: int = 1  # output rows per call the kernel wants inside a streamed chain (2: Winograd pairs)

    def __init__(self, graph: Graph, op: Op, prefix: str, use_dsp: bool):
        self.graph, self.op, self.prefix, self.use_dsp = graph, op, prefix, use_dsp
        self.input = graph.tensor(op.inputs[0])
        self.output = graph.tensor(op.outputs[0])

    # --- data ---------------------------------------------------------------------------
    def weights(self) -> list[CArray]:
        return []

    def declarations(self) -> list[CDecl]:
        """Static const parameter structs for model_engine.c."""
        return []

    def call_uses(self) -> set[str]:
        """The names of :meth:`declarations` that :meth:`call` refers to."""
        return {d.name for d in self.declarations()}

    def fold_uses(self) -> set[str]:
        """The names of :meth:`declarations` that :meth:`fold_call` refers to."""
        return set()

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
