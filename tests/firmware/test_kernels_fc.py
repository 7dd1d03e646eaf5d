"""em_fully_connected_s8 (portable and DSP), em_quantize_s8 and em_dequantize_s8 against TFLite Micro.

The converter emits per-channel FULLY_CONNECTED weights by default and per-tensor ones with
``_experimental_disable_per_channel_quantization_for_dense_layers``; both are tested, with
batches. A float-I/O model (QUANTIZE -> FULLY_CONNECTED -> DEQUANTIZE) checks the (de)quantise
kernels bit for bit, including exact rounding ties and saturation.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.support.kernel_lib import KernelLib
from tests.support.kernel_models import DenseSpec, cached_model, fc_args

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # TF converter deprecation chatter

SPECS = (
    DenseSpec(13, 7),
    DenseSpec(64, 64, "relu", input_range=(0.0, 4.0)),
    DenseSpec(1, 5, input_range=(-3.0, -1.0)),
    DenseSpec(100, 10, use_bias=False),
    DenseSpec(37, 128, input_range=(-0.5, 2.0)),
    DenseSpec(20, 6, rows=4, input_range=(-1.0, 3.0)),
    DenseSpec(3, 2, "relu", rows=2),
)
FLOAT_IO = (DenseSpec(600, 4, input_range=(-2.0, 2.0)),)


@pytest.fixture(scope="module", params=[False, True], ids=["portable", "dsp"])
def lib(request):
    return KernelLib(dsp=request.param)


@pytest.mark.parametrize("per_channel", [True, False], ids=["per_channel", "per_tensor"])
def test_fully_connected_matches_tflm(lib, per_channel):
    model = cached_model(SPECS, seed=5, per_channel_dense=per_channel)
    rng = np.random.default_rng(21)
    n_checked = 0
    for _ in range(3):
        xs = model.random_inputs(rng)
        ys = model.run_tflm(xs)
        for br in model.branches:
            assert [o.op for o in br.ops] == ["FULLY_CONNECTED"], br.ops
            op = br.ops[0]
            assert (op.inputs[1].scale.size > 1) == per_channel
            args = fc_args(op)
            if not br.spec.use_bias:  # the kernels take NULL for "no bias"
                assert args["bias"] is None or not args["bias"].any()
                args["bias"] = None
            batches = br.spec.batch
            got = lib.fully_connected(xs[br.graph_input].reshape(batches, -1), **args)
            assert np.array_equal(got, ys[br.graph_output].reshape(batches, -1)), br.spec
            n_checked += 1
    assert n_checked == 3 * len(SPECS)


def test_float_io_chain_matches_tflm_bits(lib):
    model = cached_model(FLOAT_IO, seed=9, float_io=True)
    (br,) = model.branches
    assert [o.op for o in br.ops] == ["QUANTIZE", "FULLY_CONNECTED", "DEQUANTIZE"], br.ops
    q_op, fc_op, dq_op = br.ops
    in_scale, in_zp = q_op.output.scale1, q_op.output.zp1
    out_scale, out_zp = dq_op.input.scale1, dq_op.input.zp1
    args = fc_args(fc_op)

    rng = np.random.default_rng(2)
    k = np.arange(-300, 300, dtype=np.float32)
    inputs = [
        rng.uniform(-2.5, 2.5, 600).astype(np.float32),
        (k * np.float32(0.5) * np.float32(in_scale)).astype(np.float32),  # rounding ties
        # saturation (x / scale beyond int32 is undefined behaviour in TFLM's cast: not tested)
        np.concatenate([np.float32([1e6, -1e6, 3e7, -3e7, 0.0, -0.0]), rng.normal(0, 50, 594)]).astype(np.float32),
    ]
    ties = 0
    for x in inputs:
        want = model.run_tflm([x.reshape(1, -1)])[0].reshape(-1)
        q = lib.quantize(x, in_scale, in_zp)
        y = lib.fully_connected(q.reshape(1, -1), **args)
        got = lib.dequantize(y, out_scale, out_zp).reshape(-1)
        assert np.array_equal(got.view(np.int32), want.view(np.int32)), (got, want)
        ties += int(np.sum(np.abs((x / np.float32(in_scale)) % 1) == 0.5))
    assert ties > 100  # the tie inputs really are ties


def test_quantize_rounding_and_saturation():
    lib = KernelLib()
    x = np.float32([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 1000.0, -1000.0, 0.49999997])
    assert lib.quantize(x, 1.0, 0).tolist() == [1, 2, 3, -1, -2, -3, 127, -128, 0]
    assert lib.quantize(np.float32([0.0, 0.25]), 0.5, -128).tolist() == [-128, -127]
    assert lib.dequantize(np.int8([-128, 0, 127]), 0.5, 3).tolist() == [-65.5, -1.5, 62.0]
