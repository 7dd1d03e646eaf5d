"""CONV_2D -> em_conv2d_s8 (dense), em_conv2d_s8_w16 (dense, weights pre-expanded to int16 for the
DSP path, where flash allows), em_conv2d_s8_tiled (dense int8 weights in flash, expanded per pass into
a RAM tile: the DSP path where flash has wait states) or em_conv2d_sparse_s8 (pruned weights, compact
sparse format).

All take the same row windows, so any can stream; all give TFLM's bytes.
"""

from __future__ import annotations

import numpy as np

from edgel3_mote.errors import ExportError
from edgel3_mote.export import quant_params as qp
from edgel3_mote.export import sparse_weights
from edgel3_mote.export.codegen.ops.base import CArray, CDecl, OpEmitter, dims_decl, rows_literal, zero_point

SPARSE_MAX_FILTER_TAPS = sparse_weights.MAX_FILTER_TAPS  # EM_SPARSE_MAX_FILTER_TAPS in em_kernels.h
# Scratch the sparse kernel may take per layer: the most output rows per pass (fewer decodes of
# the weights) whose int8 input relayout stays under this; at least one row.
SPARSE_SCRATCH_BUDGET = 96 * 1024


def can_be_sparse(
    filter_data: np.ndarray,
    out_hw: tuple[int, int] = (1, 1),
    stride: tuple[int, int] = (1, 1),
    dilation: tuple[int, int] = (1, 1),
) -> bool:
    """Whether em_conv2d_sparse_s8 can run this filter on an output of ``out_hw``."""
    _, kh, kw, in_c = filter_data.shape
    return sparse_weights.fits_kernel(in_c, out_hw, (kh, kw), stride, dilation)


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
    words = (w[:, 0::2] & 0xFFFF) | (w[:, 1::2] << 16)  # [oc][k]
    return np.ascontiguousarray(words.reshape(-1, 4, padded // 2).transpose(0, 2, 1)).ravel().astype(np.int32)


def sparse_pass_rows(
    in_c: int,
    max_channel_nnz: int,
    out_hw: tuple[int, int],
    kernel_hw: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
    budget: int = SPARSE_SCRATCH_BUDGET,
) -> int:
    """The most output rows per pass whose scratch fits ``budget`` (at least 1)."""
    rows = 1
    for r in range(2, out_hw[0] + 1):
        if sparse_weights.scratch_bytes(in_c, max_channel_nnz, out_hw, kernel_hw, stride, dilation, r) > budget:
            break
        rows = r
    return rows


def dsp_scratch_bytes(filter_h: int, filter_w: int, in_c: int) -> int:
    """EM_CONV2D_S8_DSP_BUFFER_BYTES: the DSP path's two padded int16 im2col columns (+4 for alignment)."""
    return 2 * padded_taps(filter_h, filter_w, in_c) * 2 + 4


def tiled_scratch_bytes(out_c: int, filter_h: int, filter_w: int, in_c: int, pass_pixels: int) -> int:
    """EM_CONV2D_S8_TILED_DSP_BUFFER_BYTES: em_conv2d_s8_tiled's RAM tile and im2col columns. One input
    channel: every channel group's w16 tile plus the one-channel path's columns; else one group's tile
    (2P words) plus ceil(pass_pixels / 2) pixel pairs' columns (P words each)."""
    padded = padded_taps(filter_h, filter_w, in_c)
    if in_c == 1:
        return 4 * 2 * (-(-out_c // 4)) * padded + dsp_scratch_bytes(filter_h, filter_w, 1)
    return 4 * padded * (2 + (pass_pixels + 1) // 2)


def wino_scratch_bytes(in_c: int, out_w: int, pass_tile_rows: int = 1) -> int:
    """EM_CONV2D_S8_WINO_DSP_BUFFER_BYTES: the input transforms of a pass's tiles (``pass_tile_rows`` output row
    pairs; 16 per tile, in_c int16 each) and one channel group's weight transforms (16 x 4 channels x in_c int16)."""
    return 64 * in_c * ((out_w + 3) // 4 * pass_tile_rows + 2)


def wino_eligible(kernel_hw: tuple[int, int], in_c: int, stride: tuple[int, int], dilation: tuple[int, int]) -> bool:
    """The shapes em_conv2d_s8_wino takes: 3x3, stride and dilation 1, in_c a multiple of 8 up to 192."""
    return (
        tuple(kernel_hw) == (3, 3)
        and tuple(stride) == (1, 1)
        and tuple(dilation) == (1, 1)
        and in_c % 8 == 0
        and in_c <= 192
    )


def w16_extra_bytes(filter_data: np.ndarray) -> int:
    """Flash that int16-expanded weights (pack_w16) take beyond the int8 ones."""
    out_c, fh, fw, in_c = filter_data.shape
    return 4 * 2 * (-(-out_c // 4)) * padded_taps(fh, fw, in_c) - filter_data.size


def choose_w16_layers(graph, extra_flash_bytes: int, use_wino: bool = True) -> list[int]:
    """Mark dense CONV_2D ops ``weight_format='w16'`` where the int16 expansion pays for its flash.

    A layer is a candidate where the w16 kernel is estimated faster than the best format that keeps the
    weights int8 (dense, or Winograd where the shape allows it and ``use_wino``); candidates go by the
    instructions saved per extra flash byte, most first, each taken if it still fits ``extra_flash_bytes``.
    (SEA-64: the late 8x6 layers, where Winograd's per-row weight transforms do not amortise; its wide early
    layers keep int8 weights under Winograd.) Returns the chosen op indices."""
    candidates = []
    for op in graph.ops:
        if op.kind != "CONV_2D" or op.weight_format != "dense" or not graph.tensor(op.inputs[1]).is_constant:
            continue
        w = graph.tensor(op.inputs[1]).data
        shape = conv_shape(graph, op)
        int8_best = estimate_dense_instructions(**shape)
        if use_wino and wino_eligible(shape["kernel_hw"], shape["in_c"], shape["stride"], shape["dilation"]):
            int8_best = min(int8_best, estimate_wino_instructions(shape["out_hw"], shape["in_c"], shape["out_c"]))
        saved = int8_best - W16_INSTR_FACTOR * estimate_dense_instructions(**shape)
        if saved > 0:
            candidates.append((saved / max(1, w16_extra_bytes(w)), op))
    chosen, left = [], int(extra_flash_bytes)
    for _, op in sorted(candidates, key=lambda c: (-c[0], c[1].index)):
        extra = w16_extra_bytes(graph.tensor(op.inputs[1]).data)
        if extra <= left:
            op.weight_format = "w16"
            left -= extra
            chosen.append(op.index)
    return sorted(chosen)


def conv_shape(graph, op) -> dict:
    """A CONV_2D op's shape as the estimators take it (out_hw, in_c, out_c, kernel_hw, stride, dilation)."""
    w = graph.tensor(op.inputs[1]).data
    o = op.options
    return dict(
        out_hw=graph.tensor(op.outputs[0]).hwc[:2],
        in_c=w.shape[3],
        out_c=w.shape[0],
        kernel_hw=(w.shape[1], w.shape[2]),
        stride=(o["stride_h"], o["stride_w"]),
        dilation=(o["dilation_h"], o["dilation_w"]),
    )


# Instructions of em_conv2d_s8_w16 / em_conv2d_s8 (DSP path) on SEA-64's eight conv shapes: 0.810 / 1.485
# (make bench-kernels, kernels.dsp.sea64_w16.instr_per_mac). The w16 estimate is the int8 one scaled by it.
W16_INSTR_FACTOR = 0.55


def prefer_w16_over_sparse(graph, extra_flash_bytes: int, reasons: dict[int, str]) -> list[int]:
    """Turn auto-chosen sparse convs (``reasons`` says 'sparse: less flash ...') into w16 where the
    int16-expanded dense weights are estimated faster than the sparse kernel and their extra flash
    (w16 bytes less the sparse bytes) fits what the w16 budget has left after choose_w16_layers:
    a 50 %-sparse layer saves flash but is slower than the w16 path, a 90 %-sparse one is not.
    Largest output map first, as choose_w16_layers. Updates ``reasons``; returns the op indices."""
    spent = sum(
        w16_extra_bytes(graph.tensor(op.inputs[1]).data)
        for op in graph.ops
        if op.kind == "CONV_2D" and op.weight_format == "w16"
    )
    left = int(extra_flash_bytes) - spent
    candidates = [
        op
        for op in graph.ops
        if op.kind == "CONV_2D"
        and op.weight_format == "sparse"
        and reasons.get(op.index, "").startswith("sparse: less flash")
    ]
    candidates.sort(key=lambda op: (-int(np.prod(graph.tensor(op.outputs[0]).hwc[:2])), op.index))
    chosen = []
    for op in candidates:
        w = graph.tensor(op.inputs[1]).data
        shape = conv_shape(graph, op)
        out_hw, in_c, stride, dilation = shape["out_hw"], shape["in_c"], shape["stride"], shape["dilation"]
        kh, kw = shape["kernel_hw"]
        packed = sparse_weights.encode(w)
        pass_rows = sparse_pass_rows(in_c, packed.max_channel_nnz, out_hw, (kh, kw), stride, dilation)
        sparse_est = estimate_sparse_instructions(**shape, nonzeros=packed.nnz, pass_rows=pass_rows)
        w16_est = W16_INSTR_FACTOR * estimate_dense_instructions(**shape)
        extra = w16_extra_bytes(w) + w.size - packed.nbytes
        if w16_est < sparse_est and extra <= left:
            op.weight_format = "w16"
            left -= extra
            chosen.append(op.index)
            reasons[op.index] = (
                f"w16: the int16-expanded dense weights are estimated faster than sparse (est. "
                f"{w16_est / 1e6:.2f} M vs {sparse_est / 1e6:.2f} M instructions) and the w16 flash budget "
                f"holds their {extra:,} extra bytes"
            )
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
            raise ExportError(
                f"op {op.index} CONV_2D: asymmetric weights are not supported; re-quantise per-channel symmetric"
            )
        self.w16 = op.weight_format == "w16"
        if self.w16 and not self.use_dsp:
            raise ExportError(
                f"op {op.index} CONV_2D: int16-expanded weights (w16) are for the DSP path; "
                f"generate with use_dsp=True or weight_format='dense'"
            )
        self.tiled = op.weight_format == "tiled"
        self.wino = op.weight_format == "wino"
        if self.wino:
            if not self.use_dsp:
                raise ExportError(
                    f"op {op.index} CONV_2D: the Winograd kernel (wino) is for the DSP path; generate with "
                    f"use_dsp=True or weight_format='dense'"
                )
            self.call_rows = 2  # output rows in pairs: two per call inside a streamed chain
        # the most tile rows (output row pairs) a Winograd pass may hold (None: every one of a call); the engine
        # generator lowers it when the arena does not fit the RAM budget
        self.wino_max_tile_rows: int | None = None
        if self.tiled and not self.use_dsp:
            raise ExportError(
                f"op {op.index} CONV_2D: weights-stationary tiling (tiled) is for the DSP path; "
                f"generate with use_dsp=True or weight_format='dense'"
            )
        # the scratch a tiled layer may take (its pass: as many pixels of a call as fit); the engine
        # generator lowers it when the arena does not fit the RAM budget
        self.tiled_budget: int | None = None
        o = op.options
        self.sparse = op.weight_format == "sparse"
        self.stride, self.dilation = (o["stride_h"], o["stride_w"]), (o["dilation_h"], o["dilation_w"])
        if self.sparse and not can_be_sparse(self.filter.data, self.output.hwc[:2], self.stride, self.dilation):
            raise ExportError(
                f"op {op.index} CONV_2D: a {self.filter.shape[1]}x{self.filter.shape[2]} filter on a "
                f"{self.output.hwc[1]}-wide output is beyond the sparse kernel (at most "
                f"{SPARSE_MAX_FILTER_TAPS} taps, 16-bit relayout offsets); use weight_format='dense'"
            )
        in_h, in_w, _ = self.input.hwc
        _, fh, fw, in_c = self.filter.shape
        self.fh, self.fw, self.in_c = fh, fw, in_c
        _, self.pad_top = qp.out_size_and_padding(in_h, fh, o["stride_h"], o["dilation_h"], o["padding"])
        _, self.pad_left = qp.out_size_and_padding(in_w, fw, o["stride_w"], o["dilation_w"], o["padding"])
        scales = self.filter.scale
        if len(scales) == 1:
            scales = np.repeat(scales, self.filter.shape[0])
        self.multiplier, self.shift = qp.conv_multipliers(self.input.scale[0], scales, self.output.scale[0])
        self.act_min, self.act_max = qp.activation_range(
            o["fused_activation"], self.output.scale[0], int(self.output.zero_point[0])
        )

    @property
    def packed(self) -> sparse_weights.SparseFilter:
        """The filter in the compact sparse format (computed once)."""
        if not hasattr(self, "_packed"):
            self._packed = sparse_weights.encode(self.filter.data.astype(np.int8))
        return self._packed

    @property
    def pass_rows(self) -> int:
        rows = sparse_pass_rows(
            self.in_c, self.packed.max_channel_nnz, self.output.hwc[:2], (self.fh, self.fw), self.stride, self.dilation
        )
        # inside a streamed chain every call computes rows_per_call rows: a longer pass is scratch for nothing
        limit = getattr(self, "rows_per_call", None)
        return min(rows, limit) if limit else rows

    @property
    def pass_tile_rows(self) -> int:
        """em_conv2d_s8_wino's pass: the tile rows (output row pairs) of one call (rows_per_call rows; all
        without streaming), at most ``wino_max_tile_rows``; the weights are transformed once per pass."""
        out_h = self.output.hwc[0]
        rows = min(self.rows_per_call, out_h) if self.rows_per_call else out_h
        tile_rows = (rows + 1) // 2
        return max(1, min(tile_rows, self.wino_max_tile_rows or tile_rows))

    @property
    def pass_pixels(self) -> int:
        """em_conv2d_s8_tiled's pass: the output pixels of one call (rows_per_call rows; all without
        streaming), fewer when its scratch would exceed ``tiled_budget`` (at least one pixel pair)."""
        out_h, out_w, out_c = self.output.hwc
        pixels = (min(self.rows_per_call, out_h) if self.rows_per_call else out_h) * out_w
        if self.tiled_budget is None or self.in_c == 1:
            return pixels
        while pixels > 2 and tiled_scratch_bytes(out_c, self.fh, self.fw, self.in_c, pixels) > self.tiled_budget:
            pixels = (pixels + 1) // 2
        return pixels

    def _sparse_arrays(self) -> list[CArray]:
        p, sf = self.prefix, self.packed
        # C has no empty arrays; nnz = 0 says there is nothing to read
        index = sf.index if sf.index.size else np.zeros(1, np.uint8)
        value = sf.value if sf.value.size else np.zeros(1, np.int8)
        return [CArray(f"{p}_index", "uint8_t", index), CArray(f"{p}_value", "int8_t", value)]

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

    def declarations(self) -> list[CDecl]:
        p, o = self.prefix, self.op.options
        decls = [
            CDecl(
                f"{p}_params",
                "em_conv_params",
                (
                    ("stride_h", o["stride_h"]),
                    ("stride_w", o["stride_w"]),
                    ("pad_top", self.pad_top),
                    ("pad_left", self.pad_left),
                    ("dilation_h", o["dilation_h"]),
                    ("dilation_w", o["dilation_w"]),
                    ("input_offset", -zero_point(self.input)),
                    ("output_offset", zero_point(self.output)),
                    ("activation_min", self.act_min),
                    ("activation_max", self.act_max),
                ),
            ),
            CDecl(
                f"{p}_quant",
                "em_quant",
                (("multiplier", f"{p}_multiplier"), ("shift", f"{p}_shift"), ("per_channel", 1)),
            ),
            dims_decl(f"{p}_in_dims", self.input.hwc),
            dims_decl(f"{p}_filter_dims", (self.fh, self.fw, self.in_c)),
            dims_decl(f"{p}_out_dims", self.output.hwc),
        ]
        if self.sparse:
            sf = self.packed
            decls.append(
                CDecl(
                    f"{p}_sparse",
                    "em_sparse_filter",
                    (
                        ("index", f"{p}_index"),
                        ("value", f"{p}_value"),
                        ("index_bytes", sf.index.size),
                        ("nnz", sf.nnz),
                        ("rice_k", sf.rice_k),
                        ("max_channel_nnz", sf.max_channel_nnz),
                        ("pass_rows", self.pass_rows),
                    ),
                )
            )
        return decls

    def scratch_bytes(self):
        if self.wino:  # a pass's input transforms and one channel group's weight transforms
            return wino_scratch_bytes(self.in_c, self.output.hwc[1], self.pass_tile_rows)
        if self.tiled:  # the RAM tile and the pass's im2col columns
            return tiled_scratch_bytes(self.output.hwc[2], self.fh, self.fw, self.in_c, self.pass_pixels)
        if self.sparse:  # the per-channel table and the input relayout of one pass
            return sparse_weights.scratch_bytes(
                self.in_c,
                self.packed.max_channel_nnz,
                self.output.hwc[:2],
                (self.fh, self.fw),
                self.stride,
                self.dilation,
                self.pass_rows,
            )
        # The DSP path's im2col columns (EM_CONV2D_S8_DSP_BUFFER_BYTES); checked at compile time.
        return dsp_scratch_bytes(self.fh, self.fw, self.in_c) if self.use_dsp else 0

    def static_checks(self):
        if self.sparse:
            pass_in_rows, row_len = sparse_weights.relayout_geometry(
                self.output.hwc[:2], (self.fh, self.fw), self.stride, self.dilation, self.pass_rows
            )
            return [
                f"EM_CONV2D_SPARSE_S8_BUFFER_BYTES({pass_in_rows}, {self.in_c}, {row_len}, "
                f"{self.packed.max_channel_nnz}) <= {self.scratch_bytes()}"
            ]
        if self.wino:
            return [
                f"EM_CONV2D_S8_WINO_BUFFER_BYTES({self.in_c}, {self.output.hwc[1]}, {self.pass_tile_rows}) "
                f"<= {self.scratch_bytes()}"
            ]
        if self.tiled:
            return [
                f"EM_CONV2D_S8_TILED_BUFFER_BYTES({self.output.hwc[2]}, {self.fh}, {self.fw}, {self.in_c}, "
                f"{self.pass_pixels}) <= {self.scratch_bytes()}"
            ]
        checks = [f"EM_CONV2D_S8_BUFFER_BYTES({self.fh}, {self.fw}, {self.in_c}) <= {self.scratch_bytes()}"]
        if self.w16:  # pack_w16's layout is the one em_kernels.h documents
            checks.append(
                f"sizeof({self.prefix}_filter_w16) == 4 * EM_CONV2D_S8_W16_WORDS("
                f"{self.filter.shape[0]}, {self.fh}, {self.fw}, {self.in_c})"
            )
        return checks

    def macs(self):
        out_h, out_w, out_c = self.output.hwc
        return out_h * out_w * out_c * self.fh * self.fw * self.in_c

    def call(self, input_ptr, output_ptr, rows, scratch_ptr):
        p = self.prefix
        bias = f"{p}_bias" if self.bias is not None else "0"
        rows = rows or rows_literal(self.input.hwc[0], self.output.hwc[0])
        if self.sparse:
            return (
                f"em_conv2d_sparse_s8(&{p}_params, &{p}_quant, &{p}_in_dims, {input_ptr}, &{p}_filter_dims, "
                f"&{p}_sparse, {bias}, &{p}_out_dims, {output_ptr}, {rows}, {scratch_ptr})"
            )
        if self.wino:
            return (
                f"em_conv2d_s8_wino(&{p}_params, &{p}_quant, &{p}_in_dims, {input_ptr}, &{p}_filter_dims, "
                f"{p}_filter, {bias}, &{p}_out_dims, {output_ptr}, {rows}, {self.pass_tile_rows}, {scratch_ptr})"
            )
        if self.tiled:
            return (
                f"em_conv2d_s8_tiled(&{p}_params, &{p}_quant, &{p}_in_dims, {input_ptr}, &{p}_filter_dims, "
                f"{p}_filter, {bias}, &{p}_out_dims, {output_ptr}, {rows}, {self.pass_pixels}, {scratch_ptr})"
            )
        kernel, filt = ("em_conv2d_s8_w16", f"{p}_filter_w16") if self.w16 else ("em_conv2d_s8", f"{p}_filter")
        return (
            f"{kernel}(&{p}_params, &{p}_quant, &{p}_in_dims, {input_ptr}, &{p}_filter_dims, "
            f"{filt}, {bias}, &{p}_out_dims, {output_ptr}, {rows}, {scratch_ptr})"
        )


# ---------------------------------------------------------------------------------------------
# Cost model: dense or sparse per layer, by flash and by estimated instructions.
# Constants: instructions on a Cortex-M4 in QEMU (-icount shift=0). Dense (em_conv2d_s8, int8 weights, the
# DSP path's 4x2 blocks): least-squares fit over six 3x3 shapes of `sparsity_sweep.run_point` (L3's
# 256 -> 256 on 32 x 24, the sweep's --small shape, 64 -> 128 on 16 x 12, 16 -> 64 on 10 x 31,
# 48 -> 16 on 6 x 13, 32 -> 32 on 20 x 25; within 2.5 % on all). Sparse (int8 relayout, the gap decoder,
# a row's 8-pixel blocks in one assembly routine): a relative least-squares fit (scipy nnls) over 15
# points of `sparsity_sweep.run_point`: 3x3 256 -> 256 on 32 x 24 at 90 % (one pass, one row per pass)
# and 98 % (one pass), 32 -> 24 on 8 x 20 at 0/80/95 %, 16 -> 24 on 8 x 11 at 0/90 % (both pass
# modes), 40 -> 16 on 8 x 4 at 0/90 %; within 13 % on all (`tools/fit_sparse_cost_model.py` reruns it).
# tests/firmware/test_kernels_sparse_qemu.py holds the model to a third shape. Without the DSP path the
# kernels take about *_PORTABLE_SLOWDOWN times as many instructions (`make bench-kernels`).
# ---------------------------------------------------------------------------------------------
DENSE_INSTR_PER_MAC = 1.245  # em_conv2d_s8, DSP path: SMLAD, two MACs per instruction
DENSE_INSTR_PER_IM2COL = 3.85  # per int16 of its im2col columns (per output pixel: taps * in_c)
DENSE_INSTR_PER_OUTPUT = 54.8  # per output value beyond that (requantisation, block set-up)
SPARSE_INSTR_PER_NONZERO_MAC = 1.911  # em_conv2d_sparse_s8: the 8-pixel SXTB16 + SMLATB/SMLATT loop ...
SPARSE_INSTR_PER_NONZERO_MAC_4 = 2.971  # ... the 4-pixel one (a row's remainder)
SPARSE_INSTR_PER_NONZERO_MAC_1 = 7.904  # ... and single pixels
SPARSE_INSTR_PER_OUTPUT = 14.89  # requantisation and block set-up per output value
SPARSE_INSTR_PER_RELAYOUT = 9.882  # per int8 written by the input relayout
SPARSE_INSTR_PER_DECODE = 47.2  # per nonzero and pass: Rice decode + table entry
DENSE_PORTABLE_SLOWDOWN = 3.10  # portable / DSP instructions, em_conv2d_s8 (bench-kernels conv 32x25x32->32; refitted
# after the portable dot products of the tiled/Winograd work: 3.54 before)
SPARSE_PORTABLE_SLOWDOWN = 1.42  # portable / DSP instructions, em_conv2d_sparse_s8 (bench-kernels)
SPARSE_COST_CONSTANTS = (
    SPARSE_INSTR_PER_NONZERO_MAC,
    SPARSE_INSTR_PER_NONZERO_MAC_4,
    SPARSE_INSTR_PER_NONZERO_MAC_1,
    SPARSE_INSTR_PER_OUTPUT,
    SPARSE_INSTR_PER_RELAYOUT,
    SPARSE_INSTR_PER_DECODE,
)


def estimate_dense_instructions(
    out_hw: tuple[int, int],
    in_c: int,
    out_c: int,
    kernel_hw: tuple[int, int],
    stride: tuple[int, int] = (1, 1),
    dilation: tuple[int, int] = (1, 1),
    use_dsp: bool = True,
) -> float:
    """Instructions of em_conv2d_s8 on the layer (Cortex-M4, the fitted constants above)."""
    pixels = out_hw[0] * out_hw[1]
    taps = kernel_hw[0] * kernel_hw[1] * in_c
    n = (
        DENSE_INSTR_PER_MAC * pixels * out_c * taps
        + DENSE_INSTR_PER_IM2COL * pixels * taps
        + DENSE_INSTR_PER_OUTPUT * pixels * out_c
    )
    return n if use_dsp else n * DENSE_PORTABLE_SLOWDOWN


def sparse_cost_features(
    out_hw: tuple[int, int],
    in_c: int,
    out_c: int,
    kernel_hw: tuple[int, int],
    nonzeros: int,
    pass_rows: int,
    stride: tuple[int, int] = (1, 1),
    dilation: tuple[int, int] = (1, 1),
) -> tuple[float, ...]:
    """What em_conv2d_sparse_s8's cost grows with, in the order of SPARSE_COST_CONSTANTS: nonzero MACs
    in 8-, 4- and 1-pixel blocks, outputs, int8 written by the relayout, nonzeros decoded."""
    out_h, out_w = out_hw
    passes = -(-out_h // max(1, min(pass_rows, out_h)))
    full_in_rows, row_len = sparse_weights.relayout_geometry(out_hw, kernel_hw, stride, dilation, pass_rows)
    # the last pass may be shorter; every pass re-lays out its own input rows
    eff_h = full_in_rows - (min(pass_rows, out_h) - 1) * stride[0]
    relayout_rows = (out_h - passes) * stride[0] + passes * eff_h
    px8, px4 = out_w // 8 * 8, out_w % 8 // 4 * 4
    return (
        float(nonzeros * out_h * px8),
        float(nonzeros * out_h * px4),
        float(nonzeros * out_h * (out_w - px8 - px4)),
        float(out_h * out_w * out_c),
        float(relayout_rows * in_c * row_len),
        float(nonzeros * passes),
    )


def estimate_sparse_instructions(
    out_hw: tuple[int, int],
    in_c: int,
    out_c: int,
    kernel_hw: tuple[int, int],
    nonzeros: int,
    pass_rows: int,
    stride: tuple[int, int] = (1, 1),
    dilation: tuple[int, int] = (1, 1),
    use_dsp: bool = True,
) -> float:
    """Instructions of em_conv2d_sparse_s8 on the layer, whole tensor in passes of ``pass_rows``."""
    features = sparse_cost_features(out_hw, in_c, out_c, kernel_hw, nonzeros, pass_rows, stride, dilation)
    n = sum(c * f for c, f in zip(SPARSE_COST_CONSTANTS, features))
    return n if use_dsp else n * SPARSE_PORTABLE_SLOWDOWN


def choose_format(
    dense_bytes: int, sparse_bytes_: int, dense_instructions: float, sparse_instructions: float
) -> tuple[str, str]:
    """('sparse' | 'dense', why): sparse when it takes less flash and is not estimated slower."""
    flash = f"{sparse_bytes_:,} B sparse vs {dense_bytes:,} B dense"
    time = f"est. {sparse_instructions / 1e6:.2f} M vs {dense_instructions / 1e6:.2f} M instructions"
    if sparse_bytes_ >= dense_bytes:
        return "dense", f"dense: sparse saves no flash ({flash})"
    if sparse_instructions > dense_instructions:
        return "dense", f"dense: sparse would be slower ({time}; {flash})"
    return "sparse", f"sparse: less flash ({flash}) and faster ({time})"


# ---------------------------------------------------------------------------------------------
# Memory-aware cost (issue 18): the weights live in flash, and on a chip with flash wait states every
# weight the MAC loop reads from flash may stall it. The choice between int8 (em_conv2d_s8), w16
# (em_conv2d_s8_w16), tiled (em_conv2d_s8_tiled) and sparse is made on the estimated UPPER BOUND of a
# layer's cycles: zero-wait cycles (instructions x CYCLES_PER_INSTRUCTION) plus, for every read of
# flash, the board's flash wait states (no cache hit for flash data, no prefetch benefit -- the bound
# the real-time verdict is decided on). Flash reads per layer, as the kernels make them:
#   int8  -- conv_dsp_s8 reads each channel's taps, four per word, once per pixel pair: MACs / 8 words;
#   w16   -- conv_dot_w16 reads 2P words per 4 channels and pixel pair: ~ MACs / 4 words;
#   tiled -- w16_expand_group reads each channel's int8 taps once per pass: weights / 4 words a pass;
#   sparse-- the decoder reads every index and value byte once per pass (its table is in RAM).
# A streamed layer's call computes one output row, so a tiled layer's passes are its output rows (the
# conservative count the chooser uses: a whole-tensor call has fewer).
# ---------------------------------------------------------------------------------------------
CYCLES_PER_INSTRUCTION = 1.516  # SEA-64 on qemu-netduinoplus2: 163.4 M est. cycles / 107.8 M instructions
# Per weight and pass beyond the w16 kernel's instructions: the expansion (w16_expand_group: per 16 weights four
# LDRs, eight SXTB16, eight PKH, eight STRs and the loop) plus each pass's tables and pointers. With the w16
# estimate above, the tiled estimate is within 6 % of the instructions measured on SEA-64's layers 1-10 in QEMU
# (qemu-netduinoplus2 bench, one row per call; the one-channel layer 0 is over-estimated by about 26 %: bench-kernels).
TILED_INSTR_PER_WEIGHT = 2.75
TILED_INSTR_PER_BLOCK = 12  # per 4x2 block beyond the w16 kernel's: the output pointers (tiled_out_px)


def flash_reads(fmt: str, macs: int, weights: int, passes: int, sparse_bytes: int = 0) -> float:
    """Reads of flash a conv layer's kernel makes per window (see the table above)."""
    if fmt == "dense":
        return macs / 8
    if fmt == "w16":
        return macs / 4
    if fmt == "tiled":
        return weights / 4 * passes
    if fmt == "sparse":
        return float(sparse_bytes * passes)
    raise ValueError(fmt)


def estimate_tiled_instructions(
    out_hw: tuple[int, int],
    in_c: int,
    out_c: int,
    kernel_hw: tuple[int, int],
    stride: tuple[int, int] = (1, 1),
    dilation: tuple[int, int] = (1, 1),
    passes: int = 1,
) -> float:
    """Instructions of em_conv2d_s8_tiled: the w16 kernel's, plus the expansion of every weight once per
    pass and the per-block output pointers."""
    weights = out_c * kernel_hw[0] * kernel_hw[1] * in_c
    blocks = -(-out_c // 4) * -(-(out_hw[0] * out_hw[1]) // 2)
    return (
        W16_INSTR_FACTOR * estimate_dense_instructions(out_hw, in_c, out_c, kernel_hw, stride, dilation)
        + TILED_INSTR_PER_WEIGHT * weights * passes
        + TILED_INSTR_PER_BLOCK * blocks
    )


# em_conv2d_s8_wino (Winograd F(2x2, 3x3)) per window, on the DSP path: per MAC of the 16 transformed products per
# tile and channel pair (the w16 dot, 11 instructions per 16 MACs, and its loop), per dot (one transform, 4
# channels x 2 tiles: set-up, accumulators in and out), per tile and input channel (the input transform), per output
# (the output transform and requantisation) and per weight and tile row (the weight transform). Fitted (scipy nnls,
# relative) on the instructions of SEA-64's seven 3x3 layers in QEMU (qemu-netduinoplus2 bench, row-pair calls):
# within 0.03 % on each -- five constants on seven layers, so a fit more than a test; the one-channel layer is tiled.
WINO_INSTR_PER_MAC = 0.7188
WINO_INSTR_PER_DOT_CALL = 63.3
WINO_INSTR_PER_INPUT = 178.7
WINO_INSTR_PER_OUTPUT = 29.9
WINO_INSTR_PER_WEIGHT = 7.2


def estimate_wino_instructions(out_hw: tuple[int, int], in_c: int, out_c: int) -> float:
    """Instructions of em_conv2d_s8_wino on the layer, called for output row pairs."""
    tile_rows, tile_pairs = -(-out_hw[0] // 2), -(-out_hw[1] // 4)
    tiles = tile_rows * 2 * tile_pairs
    groups = -(-out_c // 4)
    return (
        WINO_INSTR_PER_MAC * 16 * tiles * in_c * groups * 4
        + WINO_INSTR_PER_DOT_CALL * 16 * groups * tile_pairs * tile_rows
        + WINO_INSTR_PER_INPUT * tiles * in_c
        + WINO_INSTR_PER_OUTPUT * out_hw[0] * out_hw[1] * out_c
        + WINO_INSTR_PER_WEIGHT * out_c * 9 * in_c * tile_rows
    )


def upper_bound_cycles(instructions: float, reads: float, flash_wait_states: int) -> float:
    """Zero-wait cycles plus every flash read's wait states (the upper bound's assumption)."""
    return CYCLES_PER_INSTRUCTION * instructions + flash_wait_states * reads


def choose_memory_aware_formats(graph, flash_wait_states: int, reasons: dict[int, str]) -> list[int]:
    """Turn dense, w16 and sparse convs into ``tiled`` (em_conv2d_s8_tiled) or ``wino`` (em_conv2d_s8_wino, where
    the shape allows) where that format's upper bound of cycles (flash reads charged at ``flash_wait_states``) is
    the lowest. Updates ``reasons`` (the engine report's why); returns the op indices changed. At 0 wait states
    the bound is the zero-wait cycles: a dense layer becomes Winograd or tiled where that takes fewer
    instructions (int8 weights, no extra flash); the w16 layers (chosen where they pay for their flash) and the
    sparse ones (chosen for less flash) stay."""
    chosen = []
    for op in graph.ops:
        if op.kind != "CONV_2D" or not graph.tensor(op.inputs[1]).is_constant:
            continue
        if flash_wait_states <= 0 and op.weight_format != "dense":
            continue
        w = graph.tensor(op.inputs[1]).data
        shape = conv_shape(graph, op)
        out_hw, in_c, stride, dilation = shape["out_hw"], shape["in_c"], shape["stride"], shape["dilation"]
        kh, kw = shape["kernel_hw"]
        macs = out_hw[0] * out_hw[1] * w.size
        passes = out_hw[0]  # one output row per call (streamed): the most passes
        fmt = op.weight_format
        if fmt == "sparse" and not reasons.get(op.index, "").startswith("sparse: less flash"):
            continue  # sparse asked for (weight_format='sparse'), not chosen by the cost model
        if fmt == "sparse":
            packed = sparse_weights.encode(w)
            pass_rows = sparse_pass_rows(in_c, packed.max_channel_nnz, out_hw, (kh, kw), stride, dilation)
            current = estimate_sparse_instructions(**shape, nonzeros=packed.nnz, pass_rows=pass_rows)
            reads = flash_reads(fmt, macs, w.size, -(-out_hw[0] // pass_rows), packed.nbytes)
        elif fmt == "w16":
            current = W16_INSTR_FACTOR * estimate_dense_instructions(**shape)
            reads = flash_reads(fmt, macs, w.size, passes)
        else:
            current = estimate_dense_instructions(**shape)
            reads = flash_reads("dense", macs, w.size, passes)
        bounds = {fmt: upper_bound_cycles(current, reads, flash_wait_states)}
        bounds["tiled"] = upper_bound_cycles(
            estimate_tiled_instructions(**shape, passes=passes),
            flash_reads("tiled", macs, w.size, passes),
            flash_wait_states,
        )
        if wino_eligible((kh, kw), in_c, stride, dilation):
            bounds["wino"] = upper_bound_cycles(
                estimate_wino_instructions(out_hw, in_c, w.shape[0]),
                flash_reads("tiled", macs, w.size, -(-out_hw[0] // 2)),  # the weights once per row pair
                flash_wait_states,
            )
        best = min(bounds, key=lambda f: (bounds[f], f != fmt))
        others = ", ".join(f"{f} {b / 1e6:.2f} M" for f, b in bounds.items() if f != best)
        why = (
            f"est. upper bound {bounds[best] / 1e6:.2f} M cycles vs {others} ({flash_wait_states} flash wait states)"
            if flash_wait_states > 0
            else f"est. {bounds[best] / 1e6:.2f} M zero-wait cycles vs {others}"
        )
        if best == fmt:
            reasons[op.index] = reasons.get(op.index, fmt) + f"; kept: {why}"
            continue
        op.weight_format = best
        chosen.append(op.index)
        reasons[op.index] = (
            "wino: Winograd F(2x2, 3x3), int8 weights in flash transformed per row pair into a RAM tile; "
            if best == "wino"
            else "tiled: int8 weights in flash, expanded per row into a RAM tile; "
        ) + why
    return chosen
