"""CONV_2D -> em_conv2d_s8 (dense), em_conv2d_s8_w16 (dense, weights pre-expanded to int16 for the
DSP path, where flash allows) or em_conv2d_sparse_s8 (pruned weights as nonzero lists).

All take the same row windows, so any can stream; all give TFLM's bytes.
"""
from __future__ import annotations

import numpy as np

from edgel3_mote.errors import ExportError
from edgel3_mote.export import quant_params as qp
from edgel3_mote.export.codegen.ops.base import CArray, OpEmitter, dims

SPARSE_MAX_FILTER_TAPS = 64  # EM_SPARSE_MAX_FILTER_TAPS in em_kernels.h


def sparse_bytes(filter_data: np.ndarray) -> int:
    """Flash for the sparse layout: channel starts (int32) + 5 bytes per nonzero (tap + value)."""
    return 4 * (filter_data.shape[0] + 1) + 5 * int(np.count_nonzero(filter_data))


def padded_taps(filter_h: int, filter_w: int, in_c: int) -> int:
    """EM_CONV2D_S8_PADDED_TAPS: a filter's taps rounded up to a multiple of 8."""
    return -(-filter_h * filter_w * in_c // 8) * 8


def pack_w16(filter_data: np.ndarray) -> np.ndarray:
    """OHWI int8 weights in em_conv2d_s8_w16's layout (em_kernels.h): int32 words, each two int16
    weights (low half first); output channels in fours (zero channels fill the last four), taps
    zero-padded to P = ``padded_taps``; word [(oc // 4) * 2P + 4k + oc % 4] = channel oc's taps
    2k, 2k + 1."""
    out_c, fh, fw, in_c = filter_data.shape
    taps, padded = fh * fw * in_c, padded_taps(fh, fw, in_c)
    w = np.zeros((-(-out_c // 4) * 4, padded), np.int32)
    w[:out_c, :taps] = filter_data.reshape(out_c, taps)
    words = (w[:, 0::2] & 0xFFFF) | (w[:, 1::2] << 16)          # [oc][k]
    return np.ascontiguousarray(words.reshape(-1, 4, padded // 2).transpose(0, 2, 1)).ravel().astype(np.int32)


def can_be_sparse(filter_data: np.ndarray) -> bool:
    return filter_data.shape[1] * filter_data.shape[2] <= SPARSE_MAX_FILTER_TAPS


def w16_extra_bytes(filter_data: np.ndarray) -> int:
    """Flash that int16-expanded weights (pack_w16) take beyond the int8 ones."""
    out_c, fh, fw, in_c = filter_data.shape
    return 4 * 2 * (-(-out_c // 4)) * padded_taps(fh, fw, in_c) - filter_data.size


def choose_w16_layers(graph, extra_flash_bytes: int) -> list[int]:
    """Mark dense CONV_2D ops ``weight_format='w16'`` while their extra flash fits the budget.

    Every weight is used once per output pixel, so the instructions saved per extra byte grow
    with the output's pixel count: layers go by pixel count, largest first (SEA-64: its
    early, wide-map layers), each taken if it still fits. Returns the chosen op indices.
    """
    chosen, left = [], int(extra_flash_bytes)
    convs = [op for op in graph.ops if op.kind == "CONV_2D" and op.weight_format == "dense"
             and graph.tensor(op.inputs[1]).is_constant]
    convs.sort(key=lambda op: (-int(np.prod(graph.tensor(op.outputs[0]).hwc[:2])), op.index))
    for op in convs:
        extra = w16_extra_bytes(graph.tensor(op.inputs[1]).data)
        if extra <= left:
            op.weight_format = "w16"
            left -= extra
            chosen.append(op.index)
    return sorted(chosen)


class Conv2DEmitter(OpEmitter):
    kind = "CONV_2D"
    streamable = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        g, op = self.graph, self.op
        self.filter = g.tensor(op.inputs[1])
        self.bias = g.tensor(op.inputs[2]) if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
        if not self.filter.is_constant or self.filter.dtype != "int8":
            raise ExportError(f"op {op.index} CONV_2D: weights must be constant int8")
        if self.filter.zero_point is not None and np.any(self.filter.zero_point != 0):
            raise ExportError(f"op {op.index} CONV_2D: asymmetric weights are not supported; re-quantise per-channel symmetric")
        self.sparse = op.weight_format == "sparse"
        self.w16 = op.weight_format == "w16"
        if self.w16 and not self.use_dsp:
            raise ExportError(f"op {op.index} CONV_2D: int16-expanded weights (w16) are for the DSP path; "
                              f"generate with use_dsp=True or weight_format='dense'")
        if self.sparse and not can_be_sparse(self.filter.data):
            raise ExportError(f"op {op.index} CONV_2D: a {self.filter.shape[1]}x{self.filter.shape[2]} filter has more "
                              f"than {SPARSE_MAX_FILTER_TAPS} taps for the sparse kernel; use weight_format='dense'")
        o = op.options
        in_h, in_w, _ = self.input.hwc
        _, fh, fw, in_c = self.filter.shape
        self.fh, self.fw, self.in_c = fh, fw, in_c
        _, self.pad_top = qp.out_size_and_padding(in_h, fh, o["stride_h"], o["dilation_h"], o["padding"])
        _, self.pad_left = qp.out_size_and_padding(in_w, fw, o["stride_w"], o["dilation_w"], o["padding"])
        scales = self.filter.scale
        if len(scales) == 1:
            scales = np.repeat(scales, self.filter.shape[0])
        self.multiplier, self.shift = qp.conv_multipliers(self.input.scale[0], scales, self.output.scale[0])
        self.act_min, self.act_max = qp.activation_range(o["fused_activation"], self.output.scale[0],
                                                         int(self.output.zero_point[0]))

    def _sparse_arrays(self) -> list[CArray]:
        p, w = self.prefix, self.filter.data.astype(np.int8)
        starts, taps, values = [0], [], []
        for oc in range(w.shape[0]):
            ky, kx, ic = np.nonzero(w[oc])
            taps += list(zip((ky * self.fw + kx).tolist(), ic.tolist()))
            values += w[oc][ky, kx, ic].tolist()
            starts.append(len(values))
        if not values:  # C has no empty arrays; the channel starts say there is nothing to read
            taps, values = [(0, 0)], [0]
        return [CArray(f"{p}_channel_start", "int32_t", np.array(starts, np.int32)),
                CArray(f"{p}_tap", "em_sparse_tap", np.array(taps, np.uint16).reshape(-1, 2)),
                CArray(f"{p}_value", "int8_t", np.array(values, np.int8))]

    def weights(self):
        p = self.prefix
        if self.sparse:
            arrays = self._sparse_arrays()
        elif self.w16:  # int32 words: word-aligned for the kernel's LDRD
            arrays = [CArray(f"{p}_filter_w16", "int32_t", pack_w16(self.filter.data.astype(np.int8)))]
        else:
            arrays = [CArray(f"{p}_filter", "int8_t", self.filter.data.astype(np.int8))]
        arrays += [CArray(f"{p}_multiplier", "int32_t", self.multiplier), CArray(f"{p}_shift", "int32_t", self.shift)]
        if self.bias is not None:
            arrays.append(CArray(f"{p}_bias", "int32_t", self.bias.data.astype(np.int32)))
        return arrays

    def declarations(self):
        p, o = self.prefix, self.op.options
        sparse = (f"static const em_sparse_filter {p}_sparse = {{{p}_channel_start, {p}_tap, {p}_value}};\n"
                  if self.sparse else "")
        return (
            f"static const em_conv_params {p}_params = {{{o['stride_h']}, {o['stride_w']}, {self.pad_top}, "
            f"{self.pad_left}, {o['dilation_h']}, {o['dilation_w']}, {-int(self.input.zero_point[0])}, "
            f"{int(self.output.zero_point[0])}, {self.act_min}, {self.act_max}}};\n"
            f"static const em_quant {p}_quant = {{{p}_multiplier, {p}_shift, 1}};\n"
            f"static const em_dims {p}_in_dims = {dims(self.input.hwc)};\n"
            f"static const em_dims {p}_filter_dims = {{{self.fh}, {self.fw}, {self.in_c}}};\n"
            f"static const em_dims {p}_out_dims = {dims(self.output.hwc)};\n" + sparse
        )

    def scratch_bytes(self):
        if self.sparse:  # one int32 input offset per nonzero of the densest channel
            return 4 * int(np.count_nonzero(self.filter.data.reshape(self.filter.shape[0], -1), axis=1).max())
        # The DSP path's im2col columns (EM_CONV2D_S8_DSP_BUFFER_BYTES); checked at compile time.
        return 2 * padded_taps(self.fh, self.fw, self.in_c) * 2 + 4 if self.use_dsp else 0

    def static_checks(self):
        if self.sparse:
            return []
        checks = [f"EM_CONV2D_S8_BUFFER_BYTES({self.fh}, {self.fw}, {self.in_c}) <= {self.scratch_bytes()}"]
        if self.w16:  # pack_w16's layout is the one em_kernels.h documents
            checks.append(f"sizeof({self.prefix}_filter_w16) == 4 * EM_CONV2D_S8_W16_WORDS("
                          f"{self.filter.shape[0]}, {self.fh}, {self.fw}, {self.in_c})")
        return checks

    def macs(self):
        out_h, out_w, out_c = self.output.hwc
        return out_h * out_w * out_c * self.fh * self.fw * self.in_c

    def call(self, input_ptr, output_ptr, rows, scratch_ptr):
        p = self.prefix
        bias = f"{p}_bias" if self.bias is not None else "0"
        rows = rows or f"&(const em_rows){{0, {self.input.hwc[0]}, 0, {self.output.hwc[0]}, 0}}"
        if self.sparse:
            return (f"em_conv2d_sparse_s8(&{p}_params, &{p}_quant, &{p}_in_dims, {input_ptr}, &{p}_filter_dims, "
                    f"&{p}_sparse, {bias}, &{p}_out_dims, {output_ptr}, {rows}, {scratch_ptr})")
        kernel, filt = ("em_conv2d_s8_w16", f"{p}_filter_w16") if self.w16 else ("em_conv2d_s8", f"{p}_filter")
        return (f"{kernel}(&{p}_params, &{p}_quant, &{p}_in_dims, {input_ptr}, &{p}_filter_dims, "
                f"{filt}, {bias}, &{p}_out_dims, {output_ptr}, {rows}, {scratch_ptr})")
