"""FULLY_CONNECTED -> em_fully_connected_s8 (per-tensor or per-channel int8 weights)."""

from __future__ import annotations

import numpy as np

from edgel3_mote.errors import ExportError
from edgel3_mote.export import quant_params as qp
from edgel3_mote.export.codegen.ops.base import CArray, CDecl, OpEmitter, zero_point


class FullyConnectedEmitter(OpEmitter):
    kind = "FULLY_CONNECTED"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        g, op = self.graph, self.op
        self.filter = g.tensor(op.inputs[1])
        self.bias = g.tensor(op.inputs[2]) if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
        if not self.filter.is_constant or self.filter.dtype != "int8" or len(self.filter.shape) != 2:
            raise ExportError(f"op {op.index} FULLY_CONNECTED: weights must be a constant int8 matrix")
        if op.options.get("weights_format", 0) != 0 or op.weight_format != "dense":
            raise ExportError(f"op {op.index} FULLY_CONNECTED: only dense (DEFAULT) weights are supported")
        self.out_features, self.in_features = self.filter.shape
        self.batches = self.input.size // self.in_features
        in_s, out_s = self.input.scale[0], self.output.scale[0]
        if self.filter.per_channel:
            self.multiplier, self.shift = qp.conv_multipliers(in_s, self.filter.scale, out_s)
        else:
            m, s = qp.fc_multiplier(in_s, self.filter.scale[0], out_s)
            self.multiplier, self.shift = np.array([m], np.int32), np.array([s], np.int32)
        self.act_min, self.act_max = qp.activation_range(
            op.options["fused_activation"], out_s, int(self.output.zero_point[0])
        )

    def weights(self):
        p = self.prefix
        arrays = [
            CArray(f"{p}_filter", "int8_t", self.filter.data.astype(np.int8)),
            CArray(f"{p}_multiplier", "int32_t", self.multiplier),
            CArray(f"{p}_shift", "int32_t", self.shift),
        ]
        if self.bias is not None:
            arrays.append(CArray(f"{p}_bias", "int32_t", self.bias.data.astype(np.int32)))
        return arrays

    def declarations(self) -> list[CDecl]:
        p = self.prefix
        filter_zp = int(self.filter.zero_point[0]) if self.filter.zero_point is not None else 0
        params = (
            ("input_offset", -zero_point(self.input)),
            ("filter_offset", -filter_zp),
            ("output_offset", zero_point(self.output)),
            ("activation_min", self.act_min),
            ("activation_max", self.act_max),
        )
        quant = (
            ("multiplier", f"{p}_multiplier"),
            ("shift", f"{p}_shift"),
            ("per_channel", int(self.filter.per_channel)),
        )
        return [CDecl(f"{p}_params", "em_fc_params", params), CDecl(f"{p}_quant", "em_quant", quant)]

    def macs(self):
        return self.batches * self.in_features * self.out_features

    def call(self, input_ptr, output_ptr, rows, scratch_ptr):
        p = self.prefix
        bias = f"{p}_bias" if self.bias is not None else "0"
        return (
            f"em_fully_connected_s8(&{p}_params, &{p}_quant, {self.batches}, {self.in_features}, "
            f"{input_ptr}, {self.out_features}, {p}_filter, {bias}, {output_ptr})"
        )
