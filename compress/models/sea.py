"""The SEA student models of the edgel3 package (Kumari et al.): L3 at 8 kHz, fewer filters.

Same structure as the L3 audio network, on the 8 kHz front-end (n_dft 1024, hop 160, 64 mels
-> 64x50), with each block's two convs divided by a reduction factor, BN + ReLU after conv 8
and a global max-pool (8, 6). The released ``edgel3_sea_ust_audio_emb_64.h5`` is ``sea-64``.
"""

from __future__ import annotations

from typing import Callable

import tf_keras as keras

from edgel3_mote.compress.models.l3 import build_audio_network
from edgel3_mote.compress.models.widths import SEA_REDUCTION, sea_filters  # noqa: F401 (re-export)


def build_sea_model(
    embedding_dim: int, *, include_frontend: bool = True, conv_cls: Callable | None = None, name: str = "audio_model"
) -> keras.Model:
    """SEA student ``sea-<embedding_dim>``: input (1, 8000) audio at 8 kHz -> embedding."""
    from edgel3_mote.compress.frontend import SEA_FRONTEND

    return build_audio_network(
        SEA_FRONTEND,
        include_frontend=include_frontend,
        num_filters=sea_filters(embedding_dim),
        conv_cls=conv_cls,
        embedding_bn=True,
        pool_size=(8, 6),
        embedding_pool_padding="valid",
        name=name,
    )
