"""ctypes bindings of the int8 kernels (``firmware/include/em_kernels.h``) for host tests.

``KernelLib(dsp=False)`` compiles every ``firmware/kernels/*.c`` with the host gcc (cached by
``edgel3_mote.export.hostbuild``); ``dsp=True`` adds ``-DEM_USE_DSP`` so the SMLAD path runs
through its portable intrinsic emulations. The methods take numpy arrays and return numpy
arrays; structures mirror the C header field for field.
"""

from __future__ import annotations

import ctypes as C
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgel3_mote.export.boards import KERNEL_DIR, KERNEL_SOURCES  # noqa: F401  (re-exported for the tests)
from edgel3_mote.export.hostbuild import load_shared

EM_OK, EM_ERR_ARG, EM_ERR_WINDOW = 0, -1, -2


class Dims(C.Structure):
    _fields_ = [("h", C.c_int32), ("w", C.c_int32), ("c", C.c_int32)]


class Rows(C.Structure):
    _fields_ = [(n, C.c_int32) for n in ("in_row_begin", "in_rows", "out_row_begin", "out_row_end", "out_row_base")]


class Quant(C.Structure):
    _fields_ = [("multiplier", C.POINTER(C.c_int32)), ("shift", C.POINTER(C.c_int32)), ("per_channel", C.c_int32)]


class ConvParams(C.Structure):
    _fields_ = [
        (n, C.c_int32)
        for n in (
            "stride_h",
            "stride_w",
            "pad_top",
            "pad_left",
            "dilation_h",
            "dilation_w",
            "input_offset",
            "output_offset",
            "activation_min",
            "activation_max",
        )
    ]


class PoolParams(C.Structure):
    _fields_ = [
        (n, C.c_int32)
        for n in (
            "stride_h",
            "stride_w",
            "filter_h",
            "filter_w",
            "pad_top",
            "pad_left",
            "activation_min",
            "activation_max",
        )
    ]


class FcParams(C.Structure):
    _fields_ = [
        (n, C.c_int32) for n in ("input_offset", "filter_offset", "output_offset", "activation_min", "activation_max")
    ]


class SparseFilter(C.Structure):
    _fields_ = [
        ("index", C.POINTER(C.c_uint8)),
        ("value", C.POINTER(C.c_int8)),
        ("index_bytes", C.c_int32),
        ("nnz", C.c_int32),
        ("rice_k", C.c_int32),
        ("max_channel_nnz", C.c_int32),
        ("pass_rows", C.c_int32),
    ]


@dataclass
class RowWindow:
    """Python twin of ``em_rows``: which rows the buffers hold / receive."""

    in_row_begin: int
    in_rows: int
    out_row_begin: int
    out_row_end: int
    out_row_base: int

    def to_c(self) -> Rows:
        return Rows(self.in_row_begin, self.in_rows, self.out_row_begin, self.out_row_end, self.out_row_base)


class KernelError(RuntimeError):
    def __init__(self, fn: str, status: int):
        super().__init__(f"{fn} returned {status}")
        self.status = status


def _ptr(a: np.ndarray, ctype):
    return a.ctypes.data_as(C.POINTER(ctype))


def _i8(a) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.int8)


def _i32(a) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.int32)


class KernelLib:
    def __init__(self, dsp: bool = False, defines: dict | None = None, sources: list[Path] | None = None):
        defs = dict(defines or {})
        if dsp:
            defs["EM_USE_DSP"] = None
        self.dsp = dsp
        # KERNEL_DIR as an include dir: its internal headers (em_window.h) join the cache key.
        self.lib = load_shared(
            sources or KERNEL_SOURCES,
            include_dirs=[KERNEL_DIR],
            defines=defs,
            name="em_kernels_dsp" if dsp else "em_kernels",
        )
        L = self.lib
        P = C.POINTER
        L.em_conv2d_s8_get_buffer_size.restype = C.c_int32
        L.em_conv2d_s8_get_buffer_size.argtypes = [P(Dims), P(Dims), P(Dims)]
        L.em_conv2d_s8.argtypes = [
            P(ConvParams),
            P(Quant),
            P(Dims),
            P(C.c_int8),
            P(Dims),
            P(C.c_int8),
            P(C.c_int32),
            P(Dims),
            P(C.c_int8),
            P(Rows),
            C.c_void_p,
        ]
        L.em_conv2d_s8_w16_pack.restype = None
        L.em_conv2d_s8_w16_pack.argtypes = [P(C.c_int8), C.c_int32, P(Dims), P(C.c_int32)]
        L.em_conv2d_s8_w16.argtypes = [
            P(ConvParams),
            P(Quant),
            P(Dims),
            P(C.c_int8),
            P(Dims),
            P(C.c_int32),
            P(C.c_int32),
            P(Dims),
            P(C.c_int8),
            P(Rows),
            C.c_void_p,
        ]
        L.em_conv2d_s8_tiled_get_buffer_size.restype = C.c_int32
        L.em_conv2d_s8_tiled_get_buffer_size.argtypes = [P(Dims), P(Dims), C.c_int32]
        L.em_conv2d_s8_tiled.argtypes = [
            P(ConvParams),
            P(Quant),
            P(Dims),
            P(C.c_int8),
            P(Dims),
            P(C.c_int8),
            P(C.c_int32),
            P(Dims),
            P(C.c_int8),
            P(Rows),
            C.c_int32,
            C.c_void_p,
        ]
        L.em_conv2d_s8_wino_get_buffer_size.restype = C.c_int32
        L.em_conv2d_s8_wino_get_buffer_size.argtypes = [P(Dims), P(Dims), C.c_int32]
        L.em_conv2d_s8_wino.argtypes = L.em_conv2d_s8_tiled.argtypes  # ..., rows, pass_tile_rows, scratch
        L.em_conv2d_sparse_s8_get_buffer_size.restype = C.c_int32
        L.em_conv2d_sparse_s8_get_buffer_size.argtypes = [P(ConvParams), P(Dims), P(Dims), P(SparseFilter)]
        L.em_conv2d_sparse_s8.argtypes = [
            P(ConvParams),
            P(Quant),
            P(Dims),
            P(C.c_int8),
            P(Dims),
            P(SparseFilter),
            P(C.c_int32),
            P(Dims),
            P(C.c_int8),
            P(Rows),
            C.c_void_p,
        ]
        L.em_conv2d_sparse_s8_pack.restype = C.c_int32
        L.em_conv2d_sparse_s8_pack.argtypes = [
            P(C.c_int8),
            C.c_int32,
            P(Dims),
            C.c_int32,
            P(C.c_uint8),
            C.c_int32,
            P(C.c_int8),
            C.c_int32,
            C.c_int32,
            P(SparseFilter),
        ]
        L.em_max_pool2d_s8.argtypes = [P(PoolParams), P(Dims), P(C.c_int8), P(Dims), P(C.c_int8), P(Rows)]
        L.em_reduce_max_s8.argtypes = [P(Dims), P(C.c_int8), C.c_int32, C.c_int32, P(C.c_int8)]
        L.em_fully_connected_s8.argtypes = [
            P(FcParams),
            P(Quant),
            C.c_int32,
            C.c_int32,
            P(C.c_int8),
            C.c_int32,
            P(C.c_int8),
            P(C.c_int32),
            P(C.c_int8),
        ]
        L.em_quantize_s8.argtypes = [P(C.c_float), C.c_int32, C.c_float, C.c_int32, P(C.c_int8)]
        L.em_dequantize_s8.argtypes = [P(C.c_int8), C.c_int32, C.c_float, C.c_int32, P(C.c_float)]

    # -- helpers -------------------------------------------------------------------------
    @staticmethod
    def _check(fn: str, status: int, expect_ok: bool = True) -> int:
        if expect_ok and status != EM_OK:
            raise KernelError(fn, status)
        return status

    @staticmethod
    def _quant(mult, shift):
        mult, shift = _i32(np.atleast_1d(mult)), _i32(np.atleast_1d(shift))
        q = Quant(_ptr(mult, C.c_int32), _ptr(shift, C.c_int32), int(mult.size > 1))
        return q, (mult, shift)

    # -- kernels -------------------------------------------------------------------------
    def conv2d(
        self,
        x,
        in_shape,
        filt,
        bias,
        mult,
        shift,
        params: dict,
        out_shape,
        rows: RowWindow | None = None,
        sparse: bool = False,
        sparse_pass_rows: int | None = None,
        rice_k: int | None = None,
        w16: bool = False,
        tiled: int | None = None,
        wino: bool | int = False,
    ) -> np.ndarray:
        """Run em_conv2d_s8; with ``sparse`` em_conv2d_sparse_s8 on the filter packed by
        ``export.sparse_weights.encode`` (``rice_k`` None: the best one; ``sparse_pass_rows``
        None: every output row in one pass); with ``w16`` em_conv2d_s8_w16 on the weights packed
        by em_conv2d_s8_w16_pack; with ``tiled`` (pass pixels) em_conv2d_s8_tiled, its scratch filled
        with garbage first; with ``wino`` em_conv2d_s8_wino (Winograd F(2x2, 3x3)), likewise (``wino`` an int:
        the tile rows of a pass; True: one). ``x`` holds the
        rows of ``rows`` (all rows by default); returns
        the output buffer (rows out_row_base.. out_row_end)."""
        in_d, out_d = Dims(*in_shape), Dims(*out_shape)
        filt = _i8(filt)
        f_d = Dims(filt.shape[1], filt.shape[2], filt.shape[3])
        rows = rows or RowWindow(0, in_shape[0], 0, out_shape[0], 0)
        x = _i8(x)
        assert x.size == rows.in_rows * in_shape[1] * in_shape[2], "input buffer size vs window"
        n_out_rows = max(rows.out_row_end - rows.out_row_base, 0)
        out = np.full((n_out_rows, out_shape[1], out_shape[2]), 77, dtype=np.int8)
        q, keep = self._quant(mult, shift)
        p = ConvParams(**params)
        b = None if bias is None else _i32(bias)
        b_ptr = None if b is None else _ptr(b, C.c_int32)
        r = rows.to_c()
        if sparse:
            sf, keep_sf = self.sparse_filter(filt, sparse_pass_rows or out_shape[0], rice_k)
            n_scratch = self.lib.em_conv2d_sparse_s8_get_buffer_size(
                C.byref(p), C.byref(f_d), C.byref(out_d), C.byref(sf)
            )
            if n_scratch <= 0:
                raise KernelError("em_conv2d_sparse_s8_get_buffer_size", n_scratch)
            scratch = np.zeros(n_scratch // 4 + 1, dtype=np.int32)
            status = self.lib.em_conv2d_sparse_s8(
                C.byref(p),
                C.byref(q),
                C.byref(in_d),
                _ptr(x, C.c_int8),
                C.byref(f_d),
                C.byref(sf),
                b_ptr,
                C.byref(out_d),
                _ptr(out, C.c_int8),
                C.byref(r),
                scratch.ctypes.data_as(C.c_void_p),
            )
            self._check("em_conv2d_sparse_s8", status)
            return out
        if wino or tiled is not None:
            # the two weights-in-flash paths share one signature: their last argument is the pass length
            # (row pairs a pass for Winograd, output pixels a pass for tiled) and the scratch it needs
            name, passes = ("em_conv2d_s8_wino", int(wino)) if wino else ("em_conv2d_s8_tiled", tiled)
            n_scratch = getattr(self.lib, f"{name}_get_buffer_size")(C.byref(f_d), C.byref(out_d), passes)
            assert n_scratch >= 0 and (n_scratch > 0) == self.dsp, n_scratch
            scratch = np.full(max(n_scratch, 4) // 4, 0x5A5A5A5A, dtype=np.int32)
            status = getattr(self.lib, name)(
                C.byref(p),
                C.byref(q),
                C.byref(in_d),
                _ptr(x, C.c_int8),
                C.byref(f_d),
                _ptr(filt, C.c_int8),
                b_ptr,
                C.byref(out_d),
                _ptr(out, C.c_int8),
                C.byref(r),
                passes,
                scratch.ctypes.data_as(C.c_void_p) if n_scratch else None,
            )
            self._check(name, status)
            return out
        n_scratch = self.lib.em_conv2d_s8_get_buffer_size(C.byref(in_d), C.byref(f_d), C.byref(out_d))
        scratch = np.zeros(max(n_scratch, 4) // 4 + 1, dtype=np.int32)
        if w16:
            packed = self.w16_pack(filt)
            status = self.lib.em_conv2d_s8_w16(
                C.byref(p),
                C.byref(q),
                C.byref(in_d),
                _ptr(x, C.c_int8),
                C.byref(f_d),
                _ptr(packed, C.c_int32),
                b_ptr,
                C.byref(out_d),
                _ptr(out, C.c_int8),
                C.byref(r),
                scratch.ctypes.data_as(C.c_void_p),
            )
            self._check("em_conv2d_s8_w16", status)
            return out
        status = self.lib.em_conv2d_s8(
            C.byref(p),
            C.byref(q),
            C.byref(in_d),
            _ptr(x, C.c_int8),
            C.byref(f_d),
            _ptr(filt, C.c_int8),
            b_ptr,
            C.byref(out_d),
            _ptr(out, C.c_int8),
            C.byref(r),
            scratch.ctypes.data_as(C.c_void_p),
        )
        self._check("em_conv2d_s8", status)
        return out

    def w16_pack(self, filt) -> np.ndarray:
        """OHWI int8 weights in em_conv2d_s8_w16's layout, packed by the C library."""
        filt = _i8(filt)
        out_c, fh, fw, in_c = filt.shape
        f_d = Dims(fh, fw, in_c)
        padded = (fh * fw * in_c + 7) // 8 * 8  # EM_CONV2D_S8_PADDED_TAPS
        packed = np.full((out_c + 3) // 4 * 2 * padded, 0x5A5A5A5A, dtype=np.int32)
        self.lib.em_conv2d_s8_w16_pack(_ptr(filt, C.c_int8), out_c, C.byref(f_d), _ptr(packed, C.c_int32))
        return packed

    @staticmethod
    def sparse_filter(filt: np.ndarray, pass_rows: int, rice_k: int | None = None):
        """``(SparseFilter struct, arrays it points into)``: keep the arrays alive while it is used."""
        from edgel3_mote.export import sparse_weights

        packed = sparse_weights.encode(_i8(filt), rice_k)
        index = np.ascontiguousarray(packed.index if packed.index.size else np.zeros(1, np.uint8), dtype=np.uint8)
        value = _i8(packed.value if packed.value.size else np.zeros(1, np.int8))
        sf = SparseFilter(
            index.ctypes.data_as(C.POINTER(C.c_uint8)),
            _ptr(value, C.c_int8),
            packed.index.size,
            packed.nnz,
            packed.rice_k,
            packed.max_channel_nnz,
            pass_rows,
        )
        return sf, (index, value, packed)

    def sparse_pack(self, filt: np.ndarray, rice_k: int) -> tuple[bytes, np.ndarray, int]:
        """em_conv2d_sparse_s8_pack (the on-device packer): (index bytes, values, max_channel_nnz)."""
        filt = _i8(filt)
        f_d = Dims(filt.shape[1], filt.shape[2], filt.shape[3])
        index = np.zeros(filt.size * 4 + 16, dtype=np.uint8)
        value = np.zeros(filt.size + 1, dtype=np.int8)
        sf = SparseFilter()
        used = self.lib.em_conv2d_sparse_s8_pack(
            _ptr(filt, C.c_int8),
            filt.shape[0],
            C.byref(f_d),
            rice_k,
            index.ctypes.data_as(C.POINTER(C.c_uint8)),
            index.size,
            _ptr(value, C.c_int8),
            value.size,
            1,
            C.byref(sf),
        )
        self._check("em_conv2d_sparse_s8_pack", min(used, 0))
        return index[:used].tobytes(), value[: sf.nnz].copy(), sf.max_channel_nnz

    def conv2d_status(self, in_shape, filt, params: dict, out_shape, rows: RowWindow) -> int:
        """Status code only (for window-error tests); buffers are sized generously."""
        in_d, out_d = Dims(*in_shape), Dims(*out_shape)
        filt = _i8(filt)
        f_d = Dims(filt.shape[1], filt.shape[2], filt.shape[3])
        x = np.zeros(in_shape, dtype=np.int8)
        out = np.zeros(out_shape, dtype=np.int8)
        one = np.ones(filt.shape[0], dtype=np.int32) << 30
        q, keep = self._quant(one, np.zeros_like(one))
        p = ConvParams(**params)
        scratch = np.zeros(
            self.lib.em_conv2d_s8_get_buffer_size(C.byref(in_d), C.byref(f_d), C.byref(out_d)) // 4 + 2, dtype=np.int32
        )
        r = rows.to_c()
        return self.lib.em_conv2d_s8(
            C.byref(p),
            C.byref(q),
            C.byref(in_d),
            _ptr(x, C.c_int8),
            C.byref(f_d),
            _ptr(filt, C.c_int8),
            None,
            C.byref(out_d),
            _ptr(out, C.c_int8),
            C.byref(r),
            scratch.ctypes.data_as(C.c_void_p),
        )

    def max_pool2d(self, x, in_shape, params: dict, out_shape, rows: RowWindow | None = None) -> np.ndarray:
        in_d, out_d = Dims(*in_shape), Dims(*out_shape)
        rows = rows or RowWindow(0, in_shape[0], 0, out_shape[0], 0)
        x = _i8(x)
        out = np.full((max(rows.out_row_end - rows.out_row_base, 0), out_shape[1], out_shape[2]), 77, dtype=np.int8)
        p = PoolParams(**params)
        r = rows.to_c()
        status = self.lib.em_max_pool2d_s8(
            C.byref(p), C.byref(in_d), _ptr(x, C.c_int8), C.byref(out_d), _ptr(out, C.c_int8), C.byref(r)
        )
        self._check("em_max_pool2d_s8", status)
        return out

    def reduce_max(self, x, in_shape, row_chunks: list[int] | None = None) -> np.ndarray:
        """Global max over H, W; ``row_chunks`` feeds the rows in several streaming calls."""
        x = _i8(x).reshape(in_shape)
        in_d = Dims(*in_shape)
        out = np.full(in_shape[2], 77, dtype=np.int8)
        chunks = row_chunks or [in_shape[0]]
        assert sum(chunks) == in_shape[0]
        y = 0
        for i, n in enumerate(chunks):
            part = np.ascontiguousarray(x[y : y + n])
            status = self.lib.em_reduce_max_s8(C.byref(in_d), _ptr(part, C.c_int8), n, int(i > 0), _ptr(out, C.c_int8))
            self._check("em_reduce_max_s8", status)
            y += n
        return out

    def fully_connected(self, x, filt, bias, mult, shift, params: dict) -> np.ndarray:
        """``x`` (batches, in_features), ``filt`` (out_features, in_features)."""
        x, filt = _i8(x), _i8(filt)
        batches, n_in = x.shape
        n_out = filt.shape[0]
        out = np.full((batches, n_out), 77, dtype=np.int8)
        q, keep = self._quant(mult, shift)
        p = FcParams(**params)
        b = None if bias is None else _i32(bias)
        status = self.lib.em_fully_connected_s8(
            C.byref(p),
            C.byref(q),
            batches,
            n_in,
            _ptr(x, C.c_int8),
            n_out,
            _ptr(filt, C.c_int8),
            None if b is None else _ptr(b, C.c_int32),
            _ptr(out, C.c_int8),
        )
        self._check("em_fully_connected_s8", status)
        return out

    def quantize(self, x, scale: float, zero_point: int) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float32)
        out = np.empty(x.shape, dtype=np.int8)
        self._check(
            "em_quantize_s8",
            self.lib.em_quantize_s8(_ptr(x, C.c_float), x.size, scale, zero_point, _ptr(out, C.c_int8)),
        )
        return out

    def dequantize(self, x, scale: float, zero_point: int) -> np.ndarray:
        x = _i8(x)
        out = np.empty(x.shape, dtype=np.float32)
        self._check(
            "em_dequantize_s8",
            self.lib.em_dequantize_s8(_ptr(x, C.c_int8), x.size, scale, zero_point, _ptr(out, C.c_float)),
        )
        return out


def rows_needed(
    out_begin: int, out_end: int, stride: int, pad_top: int, effective_filter_h: int, in_h: int
) -> tuple[int, int]:
    """Python twin of ``em_rows_needed``: input rows [first, end) read by output rows [begin, end)."""
    lo = max(out_begin * stride - pad_top, 0)
    hi = min((out_end - 1) * stride - pad_top + effective_filter_h, in_h)
    if out_end <= out_begin or hi < lo:
        hi = lo
    return lo, hi


def host_checksum() -> int:
    """The checksum ``kernel_bench_main.c`` prints, computed with the host build of the kernels
    (the build the TFLM comparison tests validate), from the same pseudo-random data."""
    import numpy as np

    h, w, cin, cout, fc_in, fc_out = 32, 25, 32, 32, 512, 64
    taps = 9 * cin
    state = [12345]

    def rnd8() -> int:
        state[0] = (state[0] * 1664525 + 1013904223) % 2**32
        return (state[0] >> 24) - 256 * ((state[0] >> 24) > 127)

    x = np.array([rnd8() for _ in range(h * w * cin)], np.int8).reshape(h, w, cin)
    filt = np.zeros((cout, taps), np.int8)
    bias = np.zeros(cout, np.int32)
    for oc in range(cout):
        for k in range(taps):
            v = rnd8()
            filt[oc, k] = 0 if (state[0] >> 8) % 10 != 0 else v
        bias[oc] = rnd8() * 64
    mult = 1300000000 + 1000 * np.arange(cout, dtype=np.int32)
    shift = np.full(cout, -7, np.int32)
    params = dict(
        stride_h=1,
        stride_w=1,
        pad_top=1,
        pad_left=1,
        dilation_h=1,
        dilation_w=1,
        input_offset=3,
        output_offset=-5,
        activation_min=-128,
        activation_max=127,
    )
    lib = KernelLib()
    y = lib.conv2d(x, (h, w, cin), filt.reshape(cout, 3, 3, cin), bias, mult, shift, params, (h, w, cout))
    fx = np.array([rnd8() for _ in range(fc_in)], np.int8).reshape(1, -1)
    fw = np.array([rnd8() for _ in range(fc_out * fc_in)], np.int8).reshape(fc_out, fc_in)
    fy = lib.fully_connected(
        fx,
        fw,
        None,
        mult[:1],
        shift[:1],
        dict(input_offset=7, filter_offset=0, output_offset=2, activation_min=-128, activation_max=127),
    )
    checksum = 0
    for v in np.concatenate([y.ravel(), fy.ravel()]).view(np.uint8):
        checksum = (checksum * 31 + int(v)) % 2**32
    return checksum
