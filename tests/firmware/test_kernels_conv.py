"""em_conv2d_s8 (portable and DSP paths) and em_conv2d_sparse_s8 against TFLite Micro, byte for byte.

Random Conv2D layers (channels 1..64, odd sizes, 1x1 / 3x3 / 5x3 / 3x5 kernels, stride 1 and 2,
dilation, same / valid, ReLU / ReLU6 / none, bias or not, input ranges that move the zero point)
are converted by TensorFlow's real converter and run by the tflite-micro interpreter; the kernels
get their arguments the way the code generator derives them (export.quant_params).
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.support.kernel_lib import EM_ERR_WINDOW, EM_OK, KernelLib, RowWindow, rows_needed
from tests.support.kernel_models import ConvSpec, cached_model, conv_args, random_conv_specs

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # TF converter deprecation chatter

HAND_PICKED = (
    ConvSpec(9, 7, 3, 4),
    ConvSpec(8, 6, 5, 6, (5, 3), (2, 2), "valid", "relu", input_range=(0.0, 3.0)),
    ConvSpec(1, 1, 64, 8, (1, 1)),
    ConvSpec(13, 11, 1, 16, (3, 3), (1, 1), "same", "relu", input_range=(-4.0, 0.5)),
    ConvSpec(16, 12, 32, 32, (3, 3), (1, 1), "same", "relu", input_range=(0.0, 6.0)),
    ConvSpec(7, 5, 8, 3, (5, 3), (2, 2), "same", None, use_bias=False),
    ConvSpec(10, 10, 4, 64, (1, 1), (2, 2), "valid", "relu6", input_range=(-1.0, 5.0)),
    ConvSpec(11, 9, 6, 5, (3, 3), (2, 1), "same", None, input_range=(-0.1, 0.1)),
    ConvSpec(12, 8, 3, 7, (3, 3), (1, 1), "same", None, dilation=(2, 2)),
    ConvSpec(6, 20, 17, 9, (3, 5), (1, 2), "valid", "relu", input_range=(-2.0, 8.0)),
    ConvSpec(5, 5, 2, 1, (3, 3), (1, 1), "same", None, use_bias=False, input_range=(0.0, 1.0)),
    ConvSpec(32, 25, 32, 32, (3, 3), (1, 1), "same", "relu", input_range=(0.0, 4.0)),  # SEA-64-like layer
    ConvSpec(15, 13, 24, 20, (3, 3), (1, 1), "same", "relu", input_range=(0.0, 2.0), sparsity=0.9),
    ConvSpec(9, 9, 7, 12, (5, 3), (2, 2), "same", None, input_range=(-3.0, 1.0), sparsity=0.9),
    # one input channel (the w16 DSP path's own case): odd tap counts, strides, dilation, out_c % 4 != 0
    ConvSpec(12, 9, 1, 6, (5, 3), (2, 1), "same", "relu", input_range=(-1.0, 2.0)),
    ConvSpec(10, 9, 1, 5, (3, 3), (1, 1), "same", None, dilation=(2, 2)),
    ConvSpec(8, 7, 1, 4, (2, 2), (1, 1), "valid", None, input_range=(0.0, 3.0)),
)


RANDOM = random_conv_specs(12, seed=1234)
ALL_SPECS = HAND_PICKED + RANDOM


@pytest.fixture(scope="module")
def conv_cases():
    """[(spec, conv_args, [(x, tflm_y), ...])] with three random inputs per layer."""
    model = cached_model(ALL_SPECS, seed=7)
    rng = np.random.default_rng(99)
    runs = [model.random_inputs(rng) for _ in range(3)]
    outs = [model.run_tflm(xs) for xs in runs]
    cases = []
    for br in model.branches:
        assert [o.op for o in br.ops] == ["CONV_2D"], br.ops
        args = conv_args(br.ops[0])
        if not br.spec.use_bias:
            # The converter adds an all-zero bias; the kernels take NULL for "no bias".
            assert args["bias"] is not None and not args["bias"].any()
            args["bias"] = None
        pairs = [
            (xs[br.graph_input].reshape(args["in_shape"]), ys[br.graph_output].reshape(args["out_shape"]))
            for xs, ys in zip(runs, outs)
        ]
        cases.append((br.spec, args, pairs))
    assert len(cases) == len(ALL_SPECS)
    return cases


@pytest.fixture(scope="module", params=[False, True], ids=["portable", "dsp"])
def lib(request):
    return KernelLib(dsp=request.param)


def _mismatches(lib: KernelLib, cases, **kw) -> list[str]:
    bad = []
    for spec, args, pairs in cases:
        for x, want in pairs:
            got = lib.conv2d(x, **args, **kw)
            if not np.array_equal(got, want):
                bad.append(f"{spec}: {np.count_nonzero(got != want)}/{want.size} bytes differ")
    return bad


def test_conv_matches_tflm_bytes(lib, conv_cases):
    assert _mismatches(lib, conv_cases) == []


def test_conv_w16_matches_tflm_bytes(lib, conv_cases):
    # The same layers with the weights pre-expanded to int16 pairs (em_conv2d_s8_w16).
    assert _mismatches(lib, conv_cases, w16=True) == []


def test_conv_tiled_matches_tflm_bytes(lib, conv_cases):
    # Weights-stationary (em_conv2d_s8_tiled): int8 weights expanded per pass into a RAM tile. Passes
    # of 1 (rounded up to a pair), 3 (odd: rounded up), 6 pixels and the whole tensor, so the last pass
    # is partial and a pair may end the call with one pixel.
    for pass_pixels in (1, 3, 6, 4096):
        assert _mismatches(lib, conv_cases, tiled=pass_pixels) == [], pass_pixels


def test_tiled_buffer_size_is_the_macro(lib):
    """em_conv2d_s8_tiled_get_buffer_size against the formula em_kernels.h gives (DSP build), and
    the code generator's own (export.codegen.ops.conv2d.tiled_scratch_bytes)."""
    import ctypes as C

    from edgel3_mote.export.codegen.ops.conv2d import tiled_scratch_bytes
    from tests.support.kernel_lib import Dims

    for out_c, fh, fw, in_c, pass_pixels in (
        (32, 3, 3, 1, 50),
        (32, 3, 3, 32, 50),
        (6, 5, 3, 7, 3),
        (128, 3, 3, 128, 12),
    ):
        got = lib.lib.em_conv2d_s8_tiled_get_buffer_size(
            C.byref(Dims(fh, fw, in_c)), C.byref(Dims(4, 4, out_c)), pass_pixels
        )
        want = tiled_scratch_bytes(out_c, fh, fw, in_c, pass_pixels)
        assert got == (want if lib.dsp else 0), (out_c, fh, fw, in_c, pass_pixels)
    assert lib.lib.em_conv2d_s8_tiled_get_buffer_size(C.byref(Dims(3, 3, 4)), C.byref(Dims(4, 4, 4)), 0) == 0


def test_conv_host_simd_path_matches_tflm_bytes(conv_cases):
    # The host int8 engine's conv path (EM_HOST_SIMD, export.host_engine), whole tensors and row windows.
    host = KernelLib(defines={"EM_HOST_SIMD": None})
    assert _mismatches(host, conv_cases) == []
    for _spec, args, pairs in conv_cases:
        x, want = pairs[0]
        assert np.array_equal(_chunked(host, x, args, list(range(args["out_shape"][0] + 1))), want)


def test_w16_pack_layout(lib, conv_cases):
    """em_conv2d_s8_w16_pack against the layout em_kernels.h documents, computed in numpy, and
    against the code generator's packer (the one that writes the weights into flash)."""
    from edgel3_mote.export.codegen.ops.conv2d import pack_w16

    for _, args, _ in conv_cases:
        filt = args["filt"]
        out_c = filt.shape[0]
        taps = filt[0].size
        padded = -(-taps // 8) * 8
        w = np.zeros((-(-out_c // 4) * 4, padded), np.int64)
        w[:out_c, :taps] = filt.reshape(out_c, taps)
        want = np.zeros((w.shape[0] // 4, padded // 2, 4), np.int64)  # [quad][k][channel in quad]
        for c in range(4):
            lo, hi = w[c::4, 0::2], w[c::4, 1::2]
            want[:, :, c] = (lo & 0xFFFF) | (hi << 16)
        got = lib.w16_pack(filt)
        assert np.array_equal(got.view(np.uint32), want.ravel().astype(np.uint32))
        assert np.array_equal(pack_w16(filt), got)


def test_cases_exercise_the_quantisation(conv_cases):
    # The converter really produced varied zero points, per-channel scales and clamps.
    zps = {a["params"]["input_offset"] for _, a, _ in conv_cases}
    assert len(zps) >= 5
    # Calibrated ReLU outputs start at zero, so the converter's output zero point is -128 and
    # the fused clamp is a no-op; test_activation_clamp covers the clamp itself.
    assert any(a["params"]["output_offset"] == -128 for _, a, _ in conv_cases)
    assert any(len(set(a["mult"].tolist())) > 1 for _, a, _ in conv_cases)
    assert any(a["bias"] is None for _, a, _ in conv_cases)
    # ... and outputs are not trivially saturated.
    ys = np.concatenate([y.ravel() for _, _, pairs in conv_cases for _, y in pairs])
    assert len(np.unique(ys)) > 200


def test_activation_clamp(lib, conv_cases):
    # The clamp is the last step of TFLM's conv: a narrower range must equal the clipped oracle.
    for spec, args, pairs in conv_cases[:8]:
        x, want = pairs[0]
        params = dict(args["params"], activation_min=-20, activation_max=35)
        got = lib.conv2d(x, **dict(args, params=params))
        assert np.array_equal(got, np.clip(want, -20, 35)), spec


def test_sparse_conv_matches_dense_and_tflm(lib, conv_cases):
    sparse = [c for c in conv_cases if c[0].sparsity > 0]
    assert sparse and all(np.mean(c[1]["filt"] == 0) > 0.85 for c in sparse)
    assert _mismatches(lib, sparse, sparse=True) == []
    assert _mismatches(lib, sparse, sparse=True, sparse_pass_rows=1) == []  # one row per pass
    assert _mismatches(lib, sparse, sparse=True, sparse_pass_rows=3, rice_k=0) == []  # unary gaps only
    for _spec, args, pairs in sparse:  # row windows, one output row at a time
        x, want = pairs[0]
        assert np.array_equal(_chunked(lib, x, args, list(range(args["out_shape"][0] + 1)), sparse=True), want)
    # Dense weights through the sparse kernel too (it must not depend on sparsity), every layer.
    assert _mismatches(lib, conv_cases, sparse=True, sparse_pass_rows=2) == []


def test_wheel_uses_double_rounding(conv_cases):
    """The oracle's MultiplyByQuantizedMultiplier is the double-rounding (gemmlowp) variant:
    the default build matches it, the TFLITE_SINGLE_ROUNDING variant does not."""
    single = KernelLib(dsp=False, defines={"EM_SINGLE_ROUNDING": 1})
    assert _mismatches(KernelLib(dsp=False), conv_cases) == []
    assert len(_mismatches(single, conv_cases)) > 0


def _chunked(lib, x, args, bounds, margin=0, base_shift=0, **kw):
    """Compute output rows chunk by chunk from partial input windows."""
    p = args["params"]
    in_h = args["in_shape"][0]
    out_h = args["out_shape"][0]
    eff_h = (args["filt"].shape[1] - 1) * p["dilation_h"] + 1
    out = np.zeros(args["out_shape"], dtype=np.int8)
    for b, e in zip(bounds[:-1], bounds[1:]):
        lo, hi = rows_needed(b, e, p["stride_h"], p["pad_top"], eff_h, in_h)
        lo, hi = max(lo - margin, 0), min(hi + margin, in_h)
        base = max(b - base_shift, 0)
        rows = RowWindow(lo, hi - lo, b, e, base)
        got = lib.conv2d(x[lo:hi], **args, rows=rows, **kw)
        assert got.shape[0] == e - base
        out[b:e] = got[b - base :]
        assert (got[: b - base] == 77).all(), "rows before out_row_begin must stay untouched"
    assert bounds[0] == 0 and bounds[-1] == out_h
    return out


def test_row_windows_give_full_tensor_bytes(lib, conv_cases):
    rng = np.random.default_rng(5)
    checked = 0
    for spec, args, pairs in conv_cases:
        out_h = args["out_shape"][0]
        if out_h < 3:
            continue
        x, want = pairs[0]
        cuts = sorted(set(rng.integers(1, out_h, size=2).tolist()))
        for margin, base_shift in ((0, 0), (1, 2)):
            got = _chunked(lib, x, args, [0, *cuts, out_h], margin, base_shift)
            assert np.array_equal(got, want), spec
        # one output row at a time: the smallest line buffer
        assert np.array_equal(_chunked(lib, x, args, list(range(out_h + 1))), want), spec
        assert np.array_equal(_chunked(lib, x, args, [0, *cuts, out_h], 1, 2, w16=True), want), spec
        assert np.array_equal(_chunked(lib, x, args, list(range(out_h + 1)), tiled=4), want), spec
        checked += 1
    assert checked >= 15


def test_window_missing_rows_is_an_error(lib, conv_cases):
    spec, args, _ = conv_cases[4]  # 16x12, 3x3 same
    p = args["params"]
    # output rows 5..8 need input rows 4..9; give 5..9 only
    status = lib.conv2d_status(args["in_shape"], args["filt"], p, args["out_shape"], RowWindow(5, 5, 5, 8, 5))
    assert status == EM_ERR_WINDOW
    assert lib.conv2d_status(args["in_shape"], args["filt"], p, args["out_shape"], RowWindow(4, 6, 5, 8, 5)) == EM_OK
    # rows above the image are padding, never needed in the buffer
    assert lib.conv2d_status(args["in_shape"], args["filt"], p, args["out_shape"], RowWindow(0, 2, 0, 1, 0)) == EM_OK
