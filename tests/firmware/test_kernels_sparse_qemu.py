"""The sparse kernel on an emulated Cortex-M4 (qemu-mps2-an386, -icount shift=0): its bytes equal
the dense kernel's, and the sparsity sweep's figures hold (instructions per nonzero MAC, bytes
per nonzero, the cost model's estimates).

Figures (README, `make bench-sparsity`): L3's 3x3 256 -> 256 layer on the 32 x 24 map, every
output row in one pass. Tolerances: instructions +-3 % (the kernel's code, not noise: QEMU
-icount is deterministic; the margin lets compiler versions differ), bytes per nonzero +-0.02
(the random pruning of the firmware's generator is fixed), cost model +-20 % on a shape it was
not fitted to (TEST_SHAPE; its 13-wide rows also take the 4- and 1-pixel blocks).
"""
from __future__ import annotations

import pytest

from edgel3_mote.firmware.testing import sparsity_sweep as sweep

pytestmark = pytest.mark.qemu

# sparsity (%) -> (instructions per nonzero MAC, bytes per nonzero), measured by make bench-sparsity
L3_FIGURES = {90: (2.09, 1.596), 98: (2.68, 1.891)}
# edgel3-95.45's pruned convs (sweep --l3-layers: 16-row stripes, one pass): instructions per nonzero MAC,
# bytes per nonzero
L3_LAYER_FIGURES = {"conv2d_5": (2.15, 1.413), "conv2d_6": (2.46, 1.725), "conv2d_7": (2.71, 1.890),
                    "audio_embedding_layer": (2.55, 1.889)}
TEST_SHAPE = dict(h=6, w=13, in_c=48, out_c=16)


@pytest.fixture(scope="module")
def small_points(tmp_path_factory):
    out = tmp_path_factory.mktemp("sparsity")
    return [sweep.run_point(s, p, out_dir=out, **TEST_SHAPE) for s in (0, 80, 95) for p in (TEST_SHAPE["h"], 1)]


def test_small_sweep_runs_bit_exact_and_compact(small_points):
    # run_point raises unless the firmware saw sparse bytes == dense bytes and status OK
    for pt in small_points:
        assert pt.exit_code == 0
        if pt.sparsity >= 75:
            assert pt.bytes_per_nonzero <= 2.0, pt
    by = {(pt.sparsity, pt.pass_rows): pt for pt in small_points}
    # one pass decodes the weights once: never slower than a pass per row
    for s in (0, 80, 95):
        assert by[(s, TEST_SHAPE["h"])].sparse_instructions < by[(s, 1)].sparse_instructions


def test_cost_model_predicts_the_small_shape(small_points):
    for pt in small_points:
        est = sweep.estimate(pt)
        assert est["dense_estimate"] == pytest.approx(pt.dense_instructions, rel=0.20), pt
        assert est["sparse_estimate"] == pytest.approx(pt.sparse_instructions, rel=0.20), pt
        # the choice follows the measured instructions where they differ by more than the model's error
        ratio = pt.sparse_instructions / pt.dense_instructions
        if ratio < 0.7:
            assert est["choice"] == "sparse", (pt, est)
        if ratio > 1.4 or pt.flash_sparse >= pt.macs // (pt.h * pt.w):
            assert est["choice"] == "dense", (pt, est)


@pytest.mark.parametrize("sparsity", sorted(L3_FIGURES))
def test_l3_layer_figures(tmp_path, sparsity):
    per_mac, per_nonzero = L3_FIGURES[sparsity]
    pt = sweep.run_point(sparsity, sweep.L3_SHAPE["h"], out_dir=tmp_path, **sweep.L3_SHAPE)
    assert pt.sparse_per_nonzero_mac == pytest.approx(per_mac, rel=0.03)
    assert pt.bytes_per_nonzero == pytest.approx(per_nonzero, abs=0.02)
    assert pt.sparse_instructions < 0.15 * pt.dense_instructions


@pytest.mark.parametrize("layer", sorted(L3_LAYER_FIGURES))
def test_edgel3_layer_figures(tmp_path, layer):
    name, in_c, out_c, w, zeros = next(spec for spec in sweep.L3_LAYERS if spec[0] == layer)
    per_mac, per_nonzero = L3_LAYER_FIGURES[layer]
    rows = sweep.L3_STRIPE_ROWS
    pt = sweep.run_point(zeros, rows, rows, w, in_c, out_c, out_dir=tmp_path)
    assert pt.sparse_per_nonzero_mac == pytest.approx(per_mac, rel=0.03)
    assert pt.bytes_per_nonzero == pytest.approx(per_nonzero, abs=0.02)


def test_portable_slowdowns_of_the_cost_model(tmp_path):
    """The model's portable/DSP factors are the kernel bench's (10 %)."""
    from edgel3_mote.export.codegen.ops import conv2d as c2
    from edgel3_mote.firmware.testing.kernel_bench import run_bench

    portable, dsp = run_bench(dsp=False, out_dir=tmp_path), run_bench(dsp=True, out_dir=tmp_path)
    assert portable["conv_dense_ticks"] / dsp["conv_dense_ticks"] == pytest.approx(c2.DENSE_PORTABLE_SLOWDOWN, rel=0.1)
    assert portable["conv_sparse_ticks"] / dsp["conv_sparse_ticks"] == pytest.approx(c2.SPARSE_PORTABLE_SLOWDOWN,
                                                                                      rel=0.1)
