"""em_conv2d_s8_wino (integer-exact Winograd F(2x2, 3x3)) against TFLite Micro, byte for byte: random
3x3 stride-1 layers it takes (in_c a multiple of 8, odd and even heights and widths, same / valid, ReLU /
none, bias or not, inputs that move the zero point, weights at the int8 extremes), whole tensors, one and
two output rows per call from partial windows, passes of 1, 2, 3 and all tile rows (the weights transformed once
per pass), on the DSP path (emulated on the host) and the portable one."""

from __future__ import annotations

import numpy as np
import pytest

from tests.support.kernel_lib import KernelLib, RowWindow, rows_needed
from tests.support.kernel_models import ConvSpec, cached_model, conv_args

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

SPECS = (
    ConvSpec(9, 7, 8, 4),
    ConvSpec(8, 6, 16, 12, padding="valid", activation="relu", input_range=(0.0, 3.0)),
    ConvSpec(7, 5, 24, 5, use_bias=False, input_range=(-4.0, 0.5)),
    ConvSpec(16, 12, 32, 32, activation="relu", input_range=(0.0, 6.0)),  # SEA-64-like
    ConvSpec(6, 13, 64, 8, activation="relu", input_range=(-0.1, 0.1)),
    ConvSpec(5, 4, 128, 4, input_range=(-2.0, 8.0)),
    ConvSpec(3, 3, 8, 3, padding="valid"),
    ConvSpec(10, 9, 16, 6, sparsity=0.5, input_range=(0.0, 1.0)),
)


@pytest.fixture(scope="module")
def cases():
    model = cached_model(SPECS, seed=18)
    rng = np.random.default_rng(18)
    runs = [model.random_inputs(rng) for _ in range(2)]
    outs = [model.run_tflm(xs) for xs in runs]
    got = []
    for br in model.branches:
        args = conv_args(br.ops[0])
        if not br.spec.use_bias:
            args["bias"] = None
        pairs = [
            (xs[br.graph_input].reshape(args["in_shape"]), ys[br.graph_output].reshape(args["out_shape"]))
            for xs, ys in zip(runs, outs)
        ]
        got.append((br.spec, args, pairs))
    return got


@pytest.fixture(scope="module", params=[False, True], ids=["portable", "dsp"])
def lib(request):
    return KernelLib(dsp=request.param)


@pytest.mark.parametrize("pass_tile_rows", [1, 2, 3, 64])
def test_wino_matches_tflm_bytes(lib, cases, pass_tile_rows):
    bad = []
    for spec, args, pairs in cases:
        for x, want in pairs:
            got = lib.conv2d(x, **args, wino=pass_tile_rows)
            if not np.array_equal(got, want):
                bad.append(f"{spec}: {np.count_nonzero(got != want)}/{want.size} bytes differ")
    assert bad == []


@pytest.mark.parametrize("rows_per_call, pass_tile_rows", [(1, 1), (2, 1), (3, 1), (4, 2), (5, 2), (7, 4)])
def test_wino_row_windows(lib, cases, rows_per_call, pass_tile_rows):
    for spec, args, pairs in cases:
        x, want = pairs[0]
        p, in_h, out_h = args["params"], args["in_shape"][0], args["out_shape"][0]
        out = np.zeros_like(want)
        for b in range(0, out_h, rows_per_call):
            e = min(b + rows_per_call, out_h)
            lo, hi = rows_needed(b, e, 1, p["pad_top"], 3, in_h)
            got = lib.conv2d(x[lo:hi], **args, rows=RowWindow(lo, hi - lo, b, e, b), wino=pass_tile_rows)
            out[b:e] = got
        assert np.array_equal(out, want), (spec, rows_per_call, pass_tile_rows)


def test_wino_refuses_other_shapes():
    from tests.support.kernel_lib import KernelError

    lib = KernelLib(dsp=True)
    p = dict(
        stride_h=1,
        stride_w=1,
        pad_top=1,
        pad_left=1,
        dilation_h=1,
        dilation_w=1,
        input_offset=0,
        output_offset=0,
        activation_min=-128,
        activation_max=127,
    )
    one = np.ones(4, np.int32) << 30
    for in_c, stride in ((12, 1), (8, 2), (200, 1)):
        out = (-(-6 // stride), 6, 4)
        with pytest.raises(KernelError):
            lib.conv2d(
                np.zeros((6, 6, in_c), np.int8),
                (6, 6, in_c),
                np.zeros((4, 3, 3, in_c), np.int8),
                None,
                one,
                np.zeros(4, np.int32),
                dict(p, stride_h=stride),
                out,
                wino=True,
            )


def test_wino_buffer_size_is_the_code_generators(lib):
    """em_conv2d_s8_wino_get_buffer_size (EM_CONV2D_S8_WINO_DSP_BUFFER_BYTES) against the code generator's
    mirror, export.codegen.ops.conv2d.wino_scratch_bytes."""
    import ctypes as C

    from edgel3_mote.export.codegen.ops.conv2d import wino_scratch_bytes
    from tests.support.kernel_lib import Dims

    for in_c, out_w, tile_rows in ((8, 1, 1), (32, 50, 1), (64, 25, 2), (128, 12, 3), (192, 7, 4), (64, 6, 8)):
        got = lib.lib.em_conv2d_s8_wino_get_buffer_size(
            C.byref(Dims(3, 3, in_c)), C.byref(Dims(4, out_w, 8)), tile_rows
        )
        assert got == (wino_scratch_bytes(in_c, out_w, tile_rows) if lib.dsp else 0), (in_c, out_w, tile_rows)
    assert wino_scratch_bytes(64, 25) == wino_scratch_bytes(64, 25, 1)  # one tile row a pass by default
