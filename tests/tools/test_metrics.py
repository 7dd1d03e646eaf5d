"""The shared helpers: one cosine, one file digest."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from edgel3_mote.metrics import cosine_similarity, sha256_file


def test_cosine_matches_scipy_and_handles_zero_vectors():
    from scipy.spatial.distance import cosine as scipy_cosine_distance

    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((5, 7)), rng.standard_normal((5, 7))
    np.testing.assert_allclose(cosine_similarity(a, b), [1 - scipy_cosine_distance(x, y) for x, y in zip(a, b)])
    assert cosine_similarity(a[0], b[0]) == pytest.approx(1 - scipy_cosine_distance(a[0], b[0]))
    zero = np.zeros(7)
    assert cosine_similarity(zero, zero) == 1.0 and cosine_similarity(zero, a[0]) == 0.0


def test_sha256_file_streams_large_files(tmp_path):
    data = np.random.default_rng(2).bytes(3 * (1 << 20) + 5)
    (tmp_path / "f").write_bytes(data)
    assert sha256_file(tmp_path / "f") == hashlib.sha256(data).hexdigest()
