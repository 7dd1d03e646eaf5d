"""REDUCE_MAX over H and W (global max pooling) -> em_reduce_max_s8."""

from __future__ import annotations

from edgel3_mote.errors import ExportError
from edgel3_mote.export.codegen.ops.base import CDecl, OpEmitter, dims_decl


class ReduceMaxEmitter(OpEmitter):
    kind = "REDUCE_MAX"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        axis_t = self.graph.tensor(self.op.inputs[1])
        rank = len(self.input.shape)
        axes = sorted({int(a) % rank for a in axis_t.data.reshape(-1)}) if axis_t.is_constant else None
        if rank != 4 or axes != [1, 2]:
            raise ExportError(
                f"op {self.op.index} REDUCE_MAX: only the max over H and W of an NHWC tensor is "
                f"supported (got axes {axes} of rank {rank}); use GlobalMaxPooling2D"
            )
        if (self.input.scale[0], self.input.zero_point[0]) != (self.output.scale[0], self.output.zero_point[0]):
            raise ExportError(
                f"op {self.op.index} REDUCE_MAX: input and output quantisation differ (TFLM requires them equal)"
            )

    def declarations(self) -> list[CDecl]:
        return [dims_decl(f"{self.prefix}_in_dims", self.input.hwc)]

    def fold_uses(self) -> set[str]:
        return {f"{self.prefix}_in_dims"}

    def call(self, input_ptr, output_ptr, rows, scratch_ptr):
        return f"em_reduce_max_s8(&{self.prefix}_in_dims, {input_ptr}, {self.input.hwc[0]}, 0, {output_ptr})"

    def fold_call(self, input_ptr, in_rows, accumulate, output_ptr):
        # A max over the whole map = a running per-channel max over row chunks (same bytes).
        return f"em_reduce_max_s8(&{self.prefix}_in_dims, {input_ptr}, {in_rows}, {accumulate}, {output_ptr})"
