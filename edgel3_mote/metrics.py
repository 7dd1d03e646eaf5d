"""Small numeric and file helpers every part shares (one definition each).

- :func:`cosine_similarity` -- how every report compares two embeddings;
- :func:`sha256_file` -- how every cache key and build record fingerprints a file.
"""

from __future__ import annotations

import hashlib
import os

import numpy as np


def cosine_similarity(a, b) -> np.ndarray | float:
    """Cosine of ``a`` and ``b``: one float for vectors, one per row for ``(N, D)`` arrays.

    Two all-zero vectors count as identical (1.0); a zero vector against a nonzero one as 0.0,
    so a dead output is never reported as a perfect match.
    """
    a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
    vector = a64.ndim == 1
    a2, b2 = a64.reshape(len(a64) if not vector else 1, -1), b64.reshape(len(b64) if not vector else 1, -1)
    na, nb = np.linalg.norm(a2, axis=1), np.linalg.norm(b2, axis=1)
    denom = na * nb
    cos = np.where(
        denom > 0, np.sum(a2 * b2, axis=1) / np.where(denom > 0, denom, 1.0), np.where((na == 0) & (nb == 0), 1.0, 0.0)
    )
    return float(cos[0]) if vector else cos


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
