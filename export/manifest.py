"""The export manifest (``manifest.json`` beside ``model_int8.tflite``): one typed record, one reader.

Every part that needs to know what an export holds -- the report, the firmware project, the
board harness, the int8 embedders -- reads it through :func:`Manifest.load`, never by string keys
into raw JSON. The file format is the JSON object documented in ``docs/ARCHITECTURE.md``;
:meth:`Manifest.to_dict` writes exactly that object.

:meth:`Manifest.model_input_int8` is THE host computation of the int8 model input (log-mel
spectrogram -> input BatchNormalization affine -> quantisation) that the device front-end is held to.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from edgel3_mote.atomic import atomic_write_text
from edgel3_mote.compress.frontend import FrontendConfig
from edgel3_mote.errors import InvalidInputError

MANIFEST_NAME = "manifest.json"


@dataclass(frozen=True)
class TensorInfo:
    """One graph input or output: name, shape, dtype and its (per-tensor) quantisation."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    scale: float | None
    zero_point: int | None

    @property
    def size(self) -> int:
        """Elements of one example (the batch dimension, if any, counted as 1)."""
        return int(np.prod(self.shape[1:] if len(self.shape) > 1 and self.shape[0] in (1, -1) else self.shape))

    @property
    def quant(self) -> tuple[float, int]:
        """(scale, zero_point) of an int8 tensor; a float one raises InvalidInputError naming it."""
        if self.scale is None or self.zero_point is None:
            raise InvalidInputError(f"tensor '{self.name}' has no int8 scale/zero_point: re-run the int8 export")
        return self.scale, self.zero_point

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "shape": list(self.shape),
            "dtype": self.dtype,
            "scale": self.scale,
            "zero_point": self.zero_point,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TensorInfo:
        return cls(
            str(data.get("name", "")),
            tuple(int(d) for d in data["shape"]),
            str(data.get("dtype", "int8")),
            None if data.get("scale") is None else float(data["scale"]),
            None if data.get("zero_point") is None else int(data["zero_point"]),
        )


@dataclass(frozen=True)
class Manifest:
    """What an int8 export is: the model, its weights, front-end, quantisation, ops and sizes."""

    model: str
    weights: str | None
    random_weights: bool
    seed: int
    frontend: FrontendConfig
    window_samples: int
    input_affine: tuple[float, float]  # the input BatchNormalization as y = scale * x + offset
    input: TensorInfo
    output: TensorInfo
    ops: tuple[str, ...]
    sha256: str
    layers: tuple[dict, ...] = ()
    float_sha256: str | None = None
    sizes: dict[str, int] = field(default_factory=dict)  # *_tflite_bytes, weight_bytes, nonzero_weight_* ...
    calibration: dict | None = None

    # ---------------------------------------------------------------- (de)serialisation
    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "weights": self.weights,
            "random_weights": self.random_weights,
            "seed": self.seed,
            "frontend": self.frontend.to_dict(),
            "window_samples": self.window_samples,
            "input_affine": {"scale": self.input_affine[0], "offset": self.input_affine[1]},
            "input": self.input.to_dict(),
            "output": self.output.to_dict(),
            "ops": list(self.ops),
            "layers": [dict(layer) for layer in self.layers],
            "sha256": self.sha256,
            "float_sha256": self.float_sha256,
            "sizes": dict(self.sizes),
            "calibration": self.calibration,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "the manifest") -> Manifest:
        required = ("model", "frontend", "window_samples", "input_affine", "input", "output", "ops", "sha256")
        missing = [k for k in required if k not in data]
        if missing:
            raise InvalidInputError(
                f"{source} lacks {', '.join(missing)}: it is not an edgel3-mote export "
                f"manifest; re-run `edgel3-mote export tflite`"
            )
        try:
            return cls(
                model=str(data["model"]),
                weights=data.get("weights"),
                random_weights=bool(data.get("random_weights", False)),
                seed=int(data.get("seed") or 0),
                frontend=FrontendConfig.from_dict(data["frontend"]),
                window_samples=int(data["window_samples"]),
                input_affine=(float(data["input_affine"]["scale"]), float(data["input_affine"]["offset"])),
                input=TensorInfo.from_dict(data["input"]),
                output=TensorInfo.from_dict(data["output"]),
                ops=tuple(data["ops"]),
                sha256=str(data["sha256"]),
                layers=tuple(data.get("layers") or ()),
                float_sha256=data.get("float_sha256"),
                sizes={k: int(v) for k, v in (data.get("sizes") or {}).items()},
                calibration=data.get("calibration"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInputError(
                f"{source} is malformed ({type(exc).__name__}: {exc}): re-run `edgel3-mote export tflite`"
            ) from None

    @classmethod
    def load(cls, path: str | Path) -> Manifest:
        """From ``path`` (the JSON file, or the export folder holding ``manifest.json``)."""
        path = Path(path)
        if path.is_dir():
            path = path / MANIFEST_NAME
        if not path.is_file():
            raise InvalidInputError(
                f"export manifest {path} not found: give an export folder (edgel3-mote export tflite -o DIR)"
            )
        try:
            data = json.loads(path.read_text())
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InvalidInputError(f"export manifest {path} is not JSON ({exc}): re-run the export") from None
        if not isinstance(data, dict):
            raise InvalidInputError(f"export manifest {path} is not a JSON object: re-run the export")
        return cls.from_dict(data, source=f"export manifest {path}")

    def save(self, path: str | Path) -> Path:
        """Write atomically (temp file + rename) to ``path`` (a file, or a folder: its manifest.json)."""
        path = Path(path)
        if path.is_dir():
            path = path / MANIFEST_NAME
        atomic_write_text(path, json.dumps(self.to_dict(), indent=2) + "\n")
        return path

    def replace(self, **changes: Any) -> Manifest:
        return dataclasses.replace(self, **changes)

    # ---------------------------------------------------------------- numerics
    @property
    def input_quant(self) -> tuple[float, int]:
        """(scale, zero_point) of the int8 model input."""
        if self.input.scale is None or self.input.zero_point is None:
            raise InvalidInputError(f"the export of {self.model} has a float input: re-run the int8 export")
        return self.input.scale, self.input.zero_point

    def model_input_int8(self, audio: np.ndarray) -> np.ndarray:
        """Float audio windows at the model rate, ``(window,)`` or ``(N, window)`` -> the int8 model
        input ``(n_mels, n_frames)`` (or ``(N, n_mels, n_frames)``): what the device front-end computes."""
        from edgel3_mote.compress.frontend import model_input_int8

        return model_input_int8(audio, self.frontend, self.input_affine, *self.input_quant)

    def dequantize_output(self, q: np.ndarray) -> np.ndarray:
        """int8 embeddings -> float32 with the output tensor's scale and zero point."""
        if self.output.scale is None or self.output.zero_point is None:
            raise InvalidInputError(f"the export of {self.model} has a float output: re-run the int8 export")
        return (np.asarray(q, np.float32) - np.float32(self.output.zero_point)) * np.float32(self.output.scale)
