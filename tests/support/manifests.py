"""Export manifests for tests that need one without running an export."""

from __future__ import annotations

from typing import Any

from edgel3_mote.compress.frontend import SEA_FRONTEND
from edgel3_mote.export.manifest import Manifest, TensorInfo


def synthetic_manifest(
    window_samples: int = 8000,
    input_shape: tuple[int, ...] = (1, 64, 50, 1),
    output_shape: tuple[int, ...] = (1, 64),
    **changes: Any,
) -> Manifest:
    """A SEA-64-shaped manifest (front-end, window, int8 input/output); ``changes`` replace its fields."""
    manifest = Manifest(
        model="sea-64",
        weights=None,
        random_weights=True,
        seed=0,
        frontend=SEA_FRONTEND,
        window_samples=window_samples,
        input_affine=(1.0, 0.0),
        input=TensorInfo("input", tuple(input_shape), "int8", 0.1, -128),
        output=TensorInfo("output", tuple(output_shape), "int8", 0.05, 0),
        ops=("CONV_2D",),
        sha256="0" * 64,
    )
    return manifest.replace(**changes)
