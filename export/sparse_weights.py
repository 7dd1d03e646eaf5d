"""The compact sparse weight format of ``em_conv2d_sparse_s8`` (firmware/kernels/conv2d_sparse_s8.c).

The nonzeros of an int8 OHWI filter, in row-major order, are stored as

* ``value``: the nonzero weights, one int8 each;
* ``index``: the gaps between their flat positions (gap = position - previous - 1, the first
  from -1), Rice-coded with a per-layer parameter ``k``: ``gap >> k`` zero bits, a one bit, then
  the ``k`` low bits of the gap, most significant bit first, packed into bytes MSB first.

The best ``k`` is found by measuring every candidate on the layer's own gaps (the bit count is
exact, so "measuring" is counting). For a 75-98 % sparse 3x3 layer this is about 1.4-1.9 bytes
per nonzero, indices included; the kernel decodes it once per output channel and pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_FILTER_TAPS = 64  # EM_SPARSE_MAX_FILTER_TAPS in em_kernels.h
MAX_RICE_K = 24  # the kernel's bit reader refills to > 24 bits
MAX_TABLE_OFFSET = 65536  # 16-bit relayout offsets in the kernel's per-channel table
HEADER_BYTES = 28  # sizeof(em_sparse_filter) on a 32-bit target: 2 pointers + 5 int32

__all__ = [
    "SparseFilter",
    "encode",
    "decode",
    "rice_bits",
    "best_rice_k",
    "relayout_geometry",
    "scratch_bytes",
    "fits_kernel",
    "MAX_FILTER_TAPS",
    "HEADER_BYTES",
]


@dataclass(frozen=True)
class SparseFilter:
    """One filter in the kernel's format (the fields of ``em_sparse_filter`` but ``pass_rows``)."""

    shape: tuple[int, int, int, int]  # OHWI
    index: np.ndarray  # uint8, the Rice-coded gaps
    value: np.ndarray  # int8 [nnz]
    rice_k: int
    max_channel_nnz: int

    @property
    def nnz(self) -> int:
        return int(self.value.size)

    @property
    def nbytes(self) -> int:
        """Flash: values + index stream + the em_sparse_filter struct."""
        return int(self.value.size + self.index.size + HEADER_BYTES)

    @property
    def bytes_per_nonzero(self) -> float:
        return self.nbytes / max(self.nnz, 1)


def _gaps(flat_positions: np.ndarray) -> np.ndarray:
    return np.diff(np.concatenate([[-1], flat_positions.astype(np.int64)])) - 1


def rice_bits(gaps: np.ndarray, k: int) -> int:
    """Exact length in bits of ``gaps`` Rice-coded with parameter ``k``."""
    gaps = np.asarray(gaps, dtype=np.int64)
    return int(np.sum(gaps >> k) + gaps.size * (k + 1))


def best_rice_k(gaps: np.ndarray) -> int:
    """The ``k`` in 0..24 giving the fewest bits (the smallest on ties)."""
    return min(range(MAX_RICE_K + 1), key=lambda k: (rice_bits(gaps, k), k))


def encode(filter_ohwi: np.ndarray, rice_k: int | None = None) -> SparseFilter:
    """Pack an int8 OHWI filter; ``rice_k`` None picks the best one."""
    f = np.asarray(filter_ohwi)
    if f.ndim != 4 or f.dtype != np.int8:
        raise ValueError(f"expected an int8 OHWI filter, got {f.dtype} of shape {f.shape}")
    if f.shape[1] * f.shape[2] > MAX_FILTER_TAPS:
        raise ValueError(f"filter {f.shape}: more than {MAX_FILTER_TAPS} taps per input channel for the sparse kernel")
    flat = f.reshape(-1)
    pos = np.flatnonzero(flat)
    gaps = _gaps(pos)
    k = best_rice_k(gaps) if rice_k is None else int(rice_k)
    if not 0 <= k <= MAX_RICE_K:
        raise ValueError(f"rice_k={k} outside 0..{MAX_RICE_K}")
    q = gaps >> k
    lengths = q + 1 + k
    starts = np.cumsum(lengths) - lengths
    bits = np.zeros(int(lengths.sum()), dtype=np.uint8)
    ones = starts + q
    bits[ones] = 1
    for j in range(k):  # remainder bits, most significant first
        bits[ones + 1 + j] = (gaps >> (k - 1 - j)) & 1
    per_channel = np.count_nonzero(f.reshape(f.shape[0], -1), axis=1)
    out_c, kh, kw, in_c = (int(d) for d in f.shape)
    return SparseFilter(
        (out_c, kh, kw, in_c),
        np.packbits(bits),
        flat[pos].astype(np.int8),
        k,
        int(per_channel.max()) if per_channel.size else 0,
    )


def decode(sf: SparseFilter) -> np.ndarray:
    """The dense OHWI filter back (a plain bit-by-bit reader: the format's independent check)."""
    bits = np.unpackbits(sf.index)
    flat = np.zeros(int(np.prod(sf.shape)), dtype=np.int8)
    i, pos = 0, -1
    for v in sf.value:
        q = 0
        while bits[i] == 0:
            q, i = q + 1, i + 1
        i += 1
        r = 0
        for _ in range(sf.rice_k):
            r, i = (r << 1) | int(bits[i]), i + 1
        pos += (q << sf.rice_k | r) + 1
        flat[pos] = v
    return flat.reshape(sf.shape)


def relayout_geometry(
    out_hw: tuple[int, int],
    kernel_hw: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
    pass_rows: int,
) -> tuple[int, int]:
    """``(pass_in_rows, row_len)`` of the kernel's input relayout (see em_kernels.h)."""
    (out_h, out_w), (kh, kw), (sh, sw), (dh, dw) = out_hw, kernel_hw, stride, dilation
    eff_h, eff_w = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    span = (out_w - 1) * sw + eff_w
    row_len = sw * -(-span // sw)
    return (min(pass_rows, out_h) - 1) * sh + eff_h, row_len


def scratch_bytes(
    in_c: int,
    max_channel_nnz: int,
    out_hw: tuple[int, int],
    kernel_hw: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
    pass_rows: int,
) -> int:
    """``em_conv2d_sparse_s8_get_buffer_size``: the per-channel table plus the int8 relayout."""
    pass_in_rows, row_len = relayout_geometry(out_hw, kernel_hw, stride, dilation, pass_rows)
    return 4 * max_channel_nnz + pass_in_rows * in_c * row_len


def fits_kernel(
    in_c: int, out_hw: tuple[int, int], kernel_hw: tuple[int, int], stride: tuple[int, int], dilation: tuple[int, int]
) -> bool:
    """Whether ``em_conv2d_sparse_s8`` can run the layer (taps limit, 16-bit table offsets)."""
    kh, kw = kernel_hw
    if kh * kw > MAX_FILTER_TAPS:
        return False
    _, row_len = relayout_geometry(out_hw, kernel_hw, stride, dilation, 1)
    eff_h = (kh - 1) * dilation[0] + 1
    return ((eff_h - 1) * in_c + in_c) * row_len <= MAX_TABLE_OFFSET
