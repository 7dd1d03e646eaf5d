"""Embedders: one interface over the numeric paths a model can run on.

``make_embedder(model, weights, numeric)`` gives a callable ``(audio, sr) -> (T x D, times)``
with a cache ``key`` and a ``describe()`` dict, for:

- ``float``: the Keras model (front-end included), exactly ``get_embedding``;
- ``int8``: the model exported to full-integer TFLite and run on the host-quantised spectrogram
  by the generated C engine compiled for the host (``export.host_engine``: the bytes of the
  ``tflite-micro`` interpreter, several times faster), or by the interpreter itself where the
  engine does not build (the numbers the mote will produce, either way).

The embedders join compress/ (the float model, the front-end) with export/ (the int8 TFLite, its
reference interpreter), so they live in export/, which may import compress/; nothing in compress/
imports them (``edgel3-mote evaluate``'s handler is ``export/evaluate_cli.py`` for that reason).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from edgel3_mote.errors import InvalidInputError


def _weights_tag(weights: str | None, seed: int) -> str:
    if weights is None:
        return f"random{seed}"
    p = Path(weights)
    if not p.is_file():
        raise InvalidInputError(f"weights file {weights} not found")
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:10]


class FloatEmbedder:
    numeric = "float"

    def __init__(
        self, model: str, weights: str | None = None, hop_size: float = 0.1, seed: int = 0, batch_size: int = 32
    ):
        from edgel3_mote.compress.models.registry import build_model

        self.model_name, self.weights, self.hop_size, self.seed = model, weights, hop_size, seed
        self.batch_size = batch_size
        self.model = build_model(model, weights=weights, seed=seed, include_frontend=True)
        self.key = f"{model}-{_weights_tag(weights, seed)}-float-hop{hop_size:g}"

    def __call__(self, audio: np.ndarray, sr: int):
        from edgel3_mote.compress.embedding import get_embedding

        return get_embedding(audio, sr, model=self.model, hop_size=self.hop_size, batch_size=self.batch_size)

    def describe(self) -> dict:
        # Sizes count conv/dense kernels and biases (what a deployment stores), not the
        # front-end's DFT/mel tables or BatchNorm statistics (folded away on export).
        params = [w.numpy() for w in self.model.trainable_weights if any(k in w.name for k in ("kernel", "bias"))]
        total = sum(p.size for p in params)
        nz = sum(int(np.count_nonzero(p)) for p in params)
        return {
            "key": self.key,
            "model": self.model_name,
            "weights": self.weights,
            "numeric": "float",
            "random_weights": self.weights is None,
            "parameters": total,
            "nonzero_weights": nz,
            "size_bytes": 4 * total,
            "sparsity": 1.0 - nz / total if total else None,
        }


class Int8Embedder:
    numeric = "int8"

    def __init__(
        self,
        model: str,
        weights: str | None,
        calibration: Sequence[str | Path] | str | Path,
        work_dir: str | Path,
        hop_size: float = 0.1,
        seed: int = 0,
        calibration_steps: int | None = None,
    ):
        from edgel3_mote.compress.models.registry import get_spec
        from edgel3_mote.export.host_engine import int8_runner
        from edgel3_mote.export.manifest import MANIFEST_NAME, Manifest
        from edgel3_mote.export.tflite import export_tflite

        self.model_name, self.weights, self.hop_size, self.seed = model, weights, hop_size, seed
        self.spec = get_spec(model)
        self.key = f"{model}-{_weights_tag(weights, seed)}-int8-hop{hop_size:g}"
        out = Path(work_dir) / self.key
        if not (out / MANIFEST_NAME).is_file():
            kw: dict[str, Any] = {"calibration_steps": calibration_steps} if calibration_steps else {}
            export_tflite(model, weights=weights, calibration=calibration, out_dir=out, seed=seed, **kw)
        self.manifest = Manifest.load(out)
        self.runner = int8_runner((out / "model_int8.tflite").read_bytes(), out, model_name=model)

    def spectrogram_int8(self, frame: np.ndarray) -> np.ndarray:
        from edgel3_mote.compress.frontend import log_mel_spectrogram
        from edgel3_mote.export.frontend_tables import quantize_input

        m = self.manifest
        db = log_mel_spectrogram(frame, self.spec.frontend)
        return quantize_input(db, m.input_affine, *m.input_quant)

    def __call__(self, audio: np.ndarray, sr: int):
        from edgel3_mote.compress.embedding import frame_audio

        frames, ts = frame_audio(audio, sr, self.spec, center=True, hop_size=self.hop_size)
        q = np.stack([self.runner.invoke(self.spectrogram_int8(f)).reshape(-1) for f in frames])
        return self.manifest.dequantize_output(q), ts

    def describe(self) -> dict:
        sizes = self.manifest.sizes
        total, nz = sizes.get("weight_bytes"), sizes.get("nonzero_weight_bytes")
        return {
            "key": self.key,
            "model": self.model_name,
            "weights": self.weights,
            "numeric": "int8",
            "random_weights": self.weights is None,
            "nonzero_weights": nz,
            "size_bytes": total,
            "sparsity": (1.0 - nz / total) if total and nz is not None else None,
            "tflite_sha256": self.manifest.sha256,
            "int8_runner": self.runner.runner,
        }


def make_embedder(
    model: str,
    weights: str | None = None,
    numeric: str = "float",
    hop_size: float = 0.1,
    seed: int = 0,
    calibration=None,
    work_dir: str | Path = "build/exports",
    calibration_steps: int | None = None,
):
    if numeric == "float":
        return FloatEmbedder(model, weights, hop_size, seed)
    if numeric == "int8":
        if calibration is None:
            raise InvalidInputError("int8 evaluation needs calibration audio (--calibration DIR)")
        return Int8Embedder(model, weights, calibration, work_dir, hop_size, seed, calibration_steps)
    raise InvalidInputError(f"unknown numeric path '{numeric}'; choose float or int8")
