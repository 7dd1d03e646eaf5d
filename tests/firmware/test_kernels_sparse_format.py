"""The compact sparse weight format: Python encoder, on-device packer and a plain decoder agree,
and it stays within 2.0 bytes per nonzero (indices and the filter struct included) on L3's
pruned layer shapes."""

from __future__ import annotations

import numpy as np
import pytest

from edgel3_mote.export import sparse_weights as sw
from tests.support.kernel_lib import KernelLib

# L3's pruned 3x3 convs (in -> out channels) with the edgel3-95.45 plan's sparsity (Table II of the
# paper) and the bytes per nonzero of the seeded edgel3-95.45 export (`edgel3-mote export tflite
# --model edgel3-95.45`, then generate_engine(weight_format='auto'): each layer's bytes_per_nonzero)
L3_LAYERS = [
    ((64, 64), 85, 1.5166),
    ((64, 128), 85, 1.5139),
    ((128, 128), 85, 1.5125),
    ((128, 256), 75, 1.4112),
    ((256, 256), 95, 1.7243),
    ((256, 512), 98, 1.8887),
    ((512, 512), 98, 1.8881),
]


def _pruned(rng, out_c, in_c, sparsity, kh=3, kw=3):
    w = rng.integers(-127, 128, size=(out_c, kh, kw, in_c)).astype(np.int8)
    w[rng.random(w.shape) < sparsity] = 0
    return w


@pytest.mark.parametrize("sparsity", [0.0, 0.5, 0.9, 0.99, 1.0])
def test_encode_decode_round_trip(sparsity):
    rng = np.random.default_rng(int(sparsity * 100))
    w = _pruned(rng, 7, 5, sparsity, 3, 5)
    for k in (None, 0, 3, 11):
        packed = sw.encode(w, k)
        assert packed.nnz == np.count_nonzero(w)
        assert np.array_equal(sw.decode(packed), w)


def test_device_packer_matches_python_encoder():
    lib = KernelLib()
    rng = np.random.default_rng(5)
    for shape, sparsity, k in [
        ((9, 3, 3, 17), 0.8, 2),
        ((4, 1, 1, 300), 0.97, 5),
        ((3, 5, 3, 2), 0.0, 0),
        ((2, 3, 3, 4), 1.0, 4),
    ]:
        w = _pruned(rng, shape[0], shape[3], sparsity, shape[1], shape[2])
        packed = sw.encode(w, k)
        index, values, max_nnz = lib.sparse_pack(w, k)
        assert index == packed.index.tobytes()
        assert np.array_equal(values, packed.value) and max_nnz == packed.max_channel_nnz


def test_best_rice_k_is_measured():
    gaps = np.random.default_rng(0).geometric(0.05, size=5000) - 1
    k = sw.best_rice_k(gaps)
    assert all(sw.rice_bits(gaps, k) <= sw.rice_bits(gaps, j) for j in range(25))
    assert sw.rice_bits(gaps, k) == len(np.unpackbits(sw.encode(_with_gaps(gaps), k).index)) - _pad_bits(gaps, k)


def _with_gaps(gaps: np.ndarray) -> np.ndarray:
    pos = np.cumsum(gaps + 1) - 1
    flat = np.zeros(int(pos[-1]) + 1, np.int8)
    flat[pos] = 1
    return flat.reshape(1, 1, 1, -1)


def _pad_bits(gaps, k):
    return (-sw.rice_bits(gaps, k)) % 8


@pytest.mark.parametrize("channels, sparsity, exported", L3_LAYERS)
def test_l3_layers_take_at_most_two_bytes_per_nonzero(channels, sparsity, exported):
    """Random pruning at the plan's sparsity: the format's flash per nonzero (values, index, struct),
    as the seeded model's magnitude pruning gives it (within 0.005 B)."""
    rng = np.random.default_rng(sparsity)
    in_c, out_c = channels
    packed = sw.encode(_pruned(rng, out_c, in_c, sparsity / 100))
    assert packed.bytes_per_nonzero <= 2.0, (channels, sparsity, packed.bytes_per_nonzero, packed.rice_k)
    assert packed.bytes_per_nonzero == pytest.approx(exported, abs=0.005)
    # ... and at the sparsity's entropy bound plus the Rice code's overhead (< 0.1 byte)
    p = 1 - sparsity / 100
    entropy_bits = (-p * np.log2(p) - (1 - p) * np.log2(1 - p)) / p
    assert packed.bytes_per_nonzero < 1 + (entropy_bits + 0.8) / 8


def test_kernel_geometry_limits():
    # 16-bit relayout offsets: 3x3 on 512 channels fits a 24-wide map, not a 64-wide one
    assert sw.fits_kernel(512, (32, 24), (3, 3), (1, 1), (1, 1))
    assert not sw.fits_kernel(512, (32, 64), (3, 3), (1, 1), (1, 1))
    assert not sw.fits_kernel(4, (8, 8), (9, 9), (1, 1), (1, 1))  # 81 taps > 64
    # scratch = table + (pass rows - 1 + 3) input rows of int8 relayout
    assert sw.scratch_bytes(16, 10, (8, 6), (3, 3), (1, 1), (1, 1), 4) == 4 * 10 + 6 * 16 * 8
    assert sw.relayout_geometry((8, 6), (3, 3), (1, 2), (1, 1), 100) == (10, 2 * 7)
