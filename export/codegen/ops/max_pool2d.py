"""MAX_POOL_2D -> em_max_pool2d_s8 (row windows: streams at the end of conv chains)."""

from __future__ import annotations

from edgel3_mote.errors import ExportError
from edgel3_mote.export import quant_params as qp
from edgel3_mote.export.codegen.ops.base import CDecl, OpEmitter, dims_decl, rows_literal


class MaxPool2DEmitter(OpEmitter):
    kind = "MAX_POOL_2D"
    streamable = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        o = self.op.options
        if (self.input.scale[0], self.input.zero_point[0]) != (self.output.scale[0], self.output.zero_point[0]):
            raise ExportError(
                f"op {self.op.index} MAX_POOL_2D: input and output quantisation differ (TFLM requires them equal)"
            )
        in_h, in_w, _ = self.input.hwc
        _, self.pad_top = qp.out_size_and_padding(in_h, o["filter_h"], o["stride_h"], 1, o["padding"])
        _, self.pad_left = qp.out_size_and_padding(in_w, o["filter_w"], o["stride_w"], 1, o["padding"])
        self.act_min, self.act_max = qp.activation_range(
            o["fused_activation"], self.output.scale[0], int(self.output.zero_point[0])
        )

    def declarations(self) -> list[CDecl]:
        p, o = self.prefix, self.op.options
        params = (
            ("stride_h", o["stride_h"]),
            ("stride_w", o["stride_w"]),
            ("filter_h", o["filter_h"]),
            ("filter_w", o["filter_w"]),
            ("pad_top", self.pad_top),
            ("pad_left", self.pad_left),
            ("activation_min", self.act_min),
            ("activation_max", self.act_max),
        )
        return [
            CDecl(f"{p}_params", "em_pool_params", params),
            dims_decl(f"{p}_in_dims", self.input.hwc),
            dims_decl(f"{p}_out_dims", self.output.hwc),
        ]

    def fold_uses(self) -> set[str]:
        return {f"{self.prefix}_in_dims"}

    def call(self, input_ptr, output_ptr, rows, scratch_ptr):
        p = self.prefix
        rows = rows or rows_literal(self.input.hwc[0], self.output.hwc[0])
        return f"em_max_pool2d_s8(&{p}_params, &{p}_in_dims, {input_ptr}, &{p}_out_dims, {output_ptr}, {rows})"

    def fold_call(self, input_ptr, in_rows, accumulate, output_ptr):
        # A max over the whole map = a running per-channel max over row chunks (same bytes).
        return f"em_reduce_max_s8(&{self.prefix}_in_dims, {input_ptr}, {in_rows}, {accumulate}, {output_ptr})"
