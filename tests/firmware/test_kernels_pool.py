"""em_max_pool2d_s8 and em_reduce_max_s8 against TFLite Micro, byte for byte.

Covers what the converter emits for a global max: GlobalMaxPooling2D -> REDUCE_MAX, and
MaxPooling2D((H, W)) + Flatten -> MAX_POOL_2D + RESHAPE (SEA-64 ends that way).
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.support.kernel_lib import KernelLib, RowWindow, rows_needed
from tests.support.kernel_models import GlobalMaxSpec, PoolSpec, cached_model, pool_args

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # TF converter deprecation chatter

SPECS = (
    PoolSpec(8, 6, 5),
    PoolSpec(9, 7, 3, (2, 2), None, "same", input_range=(0.0, 4.0)),
    PoolSpec(13, 11, 16, (3, 3), (2, 2), "same", input_range=(-3.0, 0.5)),
    PoolSpec(12, 10, 8, (3, 2), (1, 1), "valid"),
    PoolSpec(7, 9, 1, (3, 3), (3, 2), "same", input_range=(-0.2, 0.1)),
    PoolSpec(16, 12, 32, (2, 2), None, "valid", input_range=(0.0, 6.0)),
    PoolSpec(5, 5, 64, (5, 5), (1, 1), "same"),
    GlobalMaxSpec(8, 6, 64, "global", input_range=(0.0, 3.0)),
    GlobalMaxSpec(8, 6, 64, "pool_flatten", input_range=(0.0, 3.0)),
    GlobalMaxSpec(5, 3, 7, "global", input_range=(-2.0, -1.0)),
    GlobalMaxSpec(7, 9, 3, "pool_flatten", input_range=(-1.0, 1.0)),
)


@pytest.fixture(scope="module")
def pool_runs():
    model = cached_model(SPECS, seed=3)
    rng = np.random.default_rng(11)
    runs = [model.random_inputs(rng) for _ in range(3)]
    outs = [model.run_tflm(xs) for xs in runs]
    return model, runs, outs


@pytest.fixture(scope="module", params=[False, True], ids=["portable", "dsp"])
def lib(request):
    return KernelLib(dsp=request.param)


def _branches(model, kind):
    return [b for b in model.branches if isinstance(b.spec, kind)]


def test_max_pool_matches_tflm(lib, pool_runs):
    model, runs, outs = pool_runs
    branches = _branches(model, PoolSpec)
    assert len(branches) == 7
    for br in branches:
        assert [o.op for o in br.ops] == ["MAX_POOL_2D"]
        args = pool_args(br.ops[0])
        for xs, ys in zip(runs, outs):
            got = lib.max_pool2d(xs[br.graph_input], **args)
            assert np.array_equal(got, ys[br.graph_output].reshape(args["out_shape"])), br.spec


def test_global_max_forms_match_tflm(lib, pool_runs):
    model, runs, outs = pool_runs
    seen = set()
    for br in _branches(model, GlobalMaxSpec):
        ops = [o.op for o in br.ops]
        spec = br.spec
        shape = (spec.h, spec.w, spec.c)
        for xs, ys in zip(runs, outs):
            want = ys[br.graph_output].reshape(-1)
            x = xs[br.graph_input]
            if ops == ["REDUCE_MAX"]:
                op = br.ops[0]
                # TFLM's int8 REDUCE_MAX requires equal in/out quantisation: nothing to requantise.
                assert (op.input.scale1, op.input.zp1) == (op.output.scale1, op.output.zp1)
                got = lib.reduce_max(x, shape)
                got_streamed = lib.reduce_max(x, shape, row_chunks=[1, spec.h - 3, 2])
                assert np.array_equal(got_streamed, want), spec
            else:
                assert ops == ["MAX_POOL_2D", "RESHAPE"], ops
                args = pool_args(br.ops[0])
                assert args["params"]["filter_h"] == spec.h and args["params"]["filter_w"] == spec.w
                got = lib.max_pool2d(x, **args).reshape(-1)
            assert np.array_equal(got, want), spec
        seen.add(tuple(ops))
    assert seen == {("REDUCE_MAX",), ("MAX_POOL_2D", "RESHAPE")}


def test_pool_row_windows_and_clamp(lib, pool_runs):
    model, runs, outs = pool_runs
    for br in _branches(model, PoolSpec):
        args = pool_args(br.ops[0])
        p = args["params"]
        in_h, out_h = args["in_shape"][0], args["out_shape"][0]
        x = runs[0][br.graph_input].reshape(args["in_shape"])
        want = outs[0][br.graph_output].reshape(args["out_shape"])
        got = np.zeros_like(want)
        for r in range(out_h):  # one output row per call, from exactly the rows it needs
            lo, hi = rows_needed(r, r + 1, p["stride_h"], p["pad_top"], p["filter_h"], in_h)
            got[r : r + 1] = lib.max_pool2d(x[lo:hi], **args, rows=RowWindow(lo, hi - lo, r, r + 1, r))
        assert np.array_equal(got, want), br.spec
        clamped = lib.max_pool2d(x, **dict(args, params=dict(p, activation_min=-5, activation_max=40)))
        assert np.array_equal(clamped, np.clip(want, -5, 40)), br.spec


def test_reduce_max_is_not_a_tautology():
    lib = KernelLib()
    x = np.full((4, 3, 2), -128, dtype=np.int8)
    x[3, 2, 1] = 5
    x[0, 0, 0] = -7
    assert lib.reduce_max(x, (4, 3, 2)).tolist() == [-7, 5]
    assert lib.reduce_max(x, (4, 3, 2), row_chunks=[3, 1]).tolist() == [-7, 5]
