"""RESHAPE: no code. The planner aliases its output to its input (same bytes, NHWC order)."""

from __future__ import annotations

from edgel3_mote.export.codegen.ops.base import OpEmitter


class ReshapeEmitter(OpEmitter):
    kind = "RESHAPE"

    @property
    def emits_code(self) -> bool:
        return False

    def call(self, input_ptr, output_ptr, rows, scratch_ptr):
        return "EM_OK"
