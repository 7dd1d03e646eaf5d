"""Conv widths of the L3 family, importable without TensorFlow (the CLI lists models fast)."""

from __future__ import annotations

L3_FILTERS = (64, 64, 128, 128, 256, 256, 512, 512)

# Per-block filter reduction factors of the edgel3 package's SEA students, by embedding size.
SEA_REDUCTION = {
    512: (1, 1, 1, 1),
    256: (2, 2, 2, 2),
    128: (2, 2, 2, 4),
    64: (2, 2, 2, 8),
}


def sea_filters(embedding_dim: int) -> tuple[int, ...]:
    """The 8 conv widths of the SEA student with this embedding size."""
    from edgel3_mote.errors import InvalidInputError

    if embedding_dim not in SEA_REDUCTION:
        raise InvalidInputError(
            f"no SEA model with a {embedding_dim}-d embedding: choose one of {sorted(SEA_REDUCTION)}"
        )
    factors = SEA_REDUCTION[embedding_dim]
    return tuple(L3_FILTERS[i] // factors[i // 2] for i in range(8))
