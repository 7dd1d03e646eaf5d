"""Full-integer int8 TFLite export of a model's backbone, calibrated on real audio.

What is converted is the *backbone* (``build_model(name, include_frontend=False)``): its input
is the log-mel spectrogram after the 1-channel input BatchNormalization, ``(n_mels, n_frames, 1)``.
The front-end and that BN (a scalar affine, ``input_affine``) run on the device in float before
quantisation, so the int8 graph starts with the first CONV_2D reading the int8 input directly
(no QUANTIZE op, no leftover float BatchNormalization). What the converter makes of the rest,
checked on every export by reading the flatbuffer (``export.opset``):

- Conv2D -> BatchNormalization -> ReLU becomes one CONV_2D: BN folded into the per-channel int8
  weights and the int32 bias, ReLU fused (fused_activation_function RELU).
- MaxPooling2D(2) -> MAX_POOL_2D; the final MaxPooling2D(8, 6) over the whole 8x6 map is one more
  MAX_POOL_2D (global pooling), and Flatten a RESHAPE (1,1,1,C) -> (1,C).
- input and output int8 (``inference_input_type/inference_output_type``), activations int8 per
  tensor, conv weights int8 symmetric per output channel, biases int32.

The representative dataset is the reference front-end (``compress.frontend.log_mel_spectrogram``)
then the input affine, on 1-s windows framed from real clips exactly as the embedding API frames
them; ``calibration_steps`` windows are drawn with a fixed seed.
"""

from __future__ import annotations

import hashlib
import json
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from edgel3_mote.atomic import atomic_dir, check_output_dir
from edgel3_mote.compress.audio import find_audio_files, read_audio
from edgel3_mote.errors import ExportError, InvalidInputError
from edgel3_mote.export.manifest import Manifest
from edgel3_mote.export.opset import check_int8_opset, check_int8_quantization, read_model, weight_stats
from edgel3_mote.quiet import StepLog, captured, collecting

if TYPE_CHECKING:
    from edgel3_mote.compress.models.registry import ModelSpec

DEFAULT_CALIBRATION_STEPS = 300
DEFAULT_HOP_SIZE = 0.1
INT8_NAME = "model_int8.tflite"
FLOAT_NAME = "model_float.tflite"
MANIFEST_NAME = "manifest.json"
LOG_NAME = "export.log"  # every step, and what the converter and TensorFlow printed
EXPORT_FILES = (INT8_NAME, FLOAT_NAME, MANIFEST_NAME, LOG_NAME)
# an export folder written before output folders carried their marker (atomic.OUTPUT_MARKER)
EXPORT_LEGACY = (MANIFEST_NAME, {"sha256": None, "ops": None})


@dataclass
class ExportResult:
    out_dir: Path
    int8_path: Path
    float_path: Path
    manifest_path: Path
    manifest: Manifest

    @property
    def int8_tflite(self) -> bytes:
        return self.int8_path.read_bytes()


@dataclass
class _Backbone:
    """A model resolved for export: the Keras backbone plus what the manifest says about it."""

    model: Any  # the tf_keras.Model backbone
    spec: ModelSpec  # registry spec (made up for a plain Keras backbone)
    input_affine: tuple[float, float]
    weights: str | None
    random_weights: bool
    seed: int | None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def frontend(self):
        return self.spec.frontend

    @property
    def window_samples(self) -> int:
        return int(self.spec.window_samples)


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr)


# ----------------------------------------------------------------------------- inputs
def _resolve_model(model, weights, seed, frontend, input_affine) -> _Backbone:
    import tf_keras as keras

    from edgel3_mote.compress.frontend import L3_FRONTEND, SEA_FRONTEND
    from edgel3_mote.compress.models import registry

    if isinstance(model, str):
        spec = registry.get_spec(model)  # unknown names: InvalidInputError listing the names
        backbone = registry.build_model(
            model, weights=None if weights is None else str(weights), seed=seed, include_frontend=False
        )
        scale, offset = registry.input_affine(backbone)
        return _Backbone(
            backbone,
            spec,
            (float(scale), float(offset)),
            None if weights is None else str(Path(weights).resolve()),
            weights is None,
            int(seed) if weights is None else None,
        )
    if isinstance(model, keras.Model):
        if weights is not None:
            raise InvalidInputError(
                "weights are only loaded for registry model names; load them into "
                "your Keras model yourself, or pass the model's registry name"
            )
        shape = tuple(model.input_shape[1:]) if not isinstance(model.input_shape, list) else None
        if frontend is None:  # the front-end whose 1-s output fits the model input
            frontend = next(
                (cfg for cfg in (SEA_FRONTEND, L3_FRONTEND) if shape == (cfg.n_mels, cfg.n_frames(cfg.sr), 1)),
                SEA_FRONTEND,
            )
        random = bool(getattr(model, "edgel3_random_weights", False))
        out_shape = model.output_shape
        dim = int(out_shape[-1] or 0) if not isinstance(out_shape, list) else 0
        spec = registry.ModelSpec(
            getattr(model, "edgel3_model_name", model.name),
            "custom",
            frontend,
            frontend.sr,
            dim,
            True,
            "a Keras backbone",
        )
        scale, offset = input_affine or getattr(model, "edgel3_input_affine", (1.0, 0.0))
        return _Backbone(
            model,
            spec,
            (float(scale), float(offset)),
            getattr(model, "edgel3_weights", None),
            random,
            getattr(model, "edgel3_seed", None) if random else None,
        )
    raise InvalidInputError(
        f"cannot export {type(model).__name__} {model!r}: give a registry model name "
        f"(edgel3-mote models) or a tf_keras.Model backbone"
    )


def _check_backbone_shape(bb: _Backbone) -> None:
    cfg = bb.frontend
    want = (cfg.n_mels, cfg.n_frames(bb.window_samples), 1)
    got = bb.model.input_shape
    if isinstance(got, list) or tuple(got[1:]) != want:
        raise InvalidInputError(
            f"model {bb.name!r} takes input {got}, but the {cfg.sr} Hz front-end gives "
            f"(None, {want[0]}, {want[1]}, 1): export the backbone "
            f"(build_model(..., include_frontend=False)) of a model for this front-end"
        )
    out = bb.model.output_shape
    if isinstance(out, list) or len(out) != 2:
        raise InvalidInputError(
            f"model {bb.name!r} has output {out}: an embedding model must output (None, embedding_dim)"
        )


def clip_windows(path: str | Path, spec, hop_size: float = DEFAULT_HOP_SIZE) -> np.ndarray:
    """``(T, window_samples)`` windows of a clip at the model rate, framed exactly as
    ``get_embedding`` frames them (``compress.embedding.frame_audio``, centred)."""
    import warnings

    from edgel3_mote.compress.embedding import frame_audio

    audio, sr = read_audio(path)
    with warnings.catch_warnings():  # short clips are padded: expected for calibration
        warnings.simplefilter("ignore")
        return frame_audio(audio, sr, spec, center=True, hop_size=hop_size)[0]


def _synthetic_windows(n: int, window_samples: int, sr: int, seed: int) -> np.ndarray:
    """Tones, chirps, noise and bursts at random levels: a stand-in when no clips are given."""
    rng = np.random.default_rng(seed)
    t = np.arange(window_samples) / sr
    out = np.empty((n, window_samples), np.float32)
    for i in range(n):
        kind = i % 4
        if kind == 0:
            x = sum(np.sin(2 * np.pi * rng.uniform(50, sr / 2.2) * t + rng.uniform(0, 6)) for _ in range(3))
        elif kind == 1:
            f0, f1 = rng.uniform(50, sr / 2.2, 2)
            x = np.sin(2 * np.pi * (f0 * t + (f1 - f0) * t**2 / 2))
        elif kind == 2:
            x = np.cumsum(rng.standard_normal(window_samples)) * 0.02 + rng.standard_normal(window_samples)
        else:  # noise bursts: 100-sample blocks switched on at random
            gate = (rng.random(window_samples // 100 + 1) > 0.6).repeat(100)[:window_samples]
            x = rng.standard_normal(window_samples) * gate
        out[i] = x / (np.max(np.abs(x)) + 1e-9) * rng.uniform(0.01, 0.9)
    return out


def calibration_spectrograms(
    bb: _Backbone,
    calibration,
    steps: int,
    hop_size: float,
    seed: int,
    progress: bool = True,
    log: Callable[[str], None] = _stderr,
) -> tuple[np.ndarray, dict]:
    """``(N, n_mels, n_frames, 1)`` float32 backbone inputs (front-end then input affine)."""
    from tqdm import tqdm

    from edgel3_mote.compress.frontend import log_mel_spectrogram

    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise InvalidInputError(f"calibration steps {steps!r} is invalid: give a positive integer")
    cfg = bb.frontend
    if calibration is None:
        log(
            "note: no calibration clips given: calibrating on synthetic tones, chirps and noise; "
            "int8 accuracy on real audio may suffer -- pass --calibration DIR with real clips"
        )
        windows = _synthetic_windows(steps, bb.window_samples, cfg.sr, seed)
        source: dict[str, Any] = {"source": "synthetic", "clips": [], "windows_available": int(steps)}
    else:
        paths = find_audio_files(calibration)
        framed = [
            clip_windows(p, bb.spec, hop_size)
            for p in tqdm(paths, desc="calibration clips", unit="clip", disable=not progress)
        ]
        windows = np.concatenate(framed)
        source = {"source": "clips", "clips": [p.name for p in paths], "windows_available": int(len(windows))}
        if len(windows) > steps:  # a fixed-seed draw, kept in clip order
            windows = windows[np.sort(np.random.default_rng(seed).choice(len(windows), steps, replace=False))]
    specs = []
    chunk = 32
    for start in tqdm(
        range(0, len(windows), chunk), desc="calibration spectrograms", unit="batch", disable=not progress
    ):
        specs.append(log_mel_spectrogram(windows[start : start + chunk], cfg))
    scale, offset = bb.input_affine
    x = np.concatenate(specs).astype(np.float32) * np.float32(scale) + np.float32(offset)
    source.update(windows=int(len(x)), hop_size=float(hop_size), seed=int(seed))
    if not np.any(windows) or float(np.ptp(x)) < 1e-6:
        from edgel3_mote.errors import EdgeL3MoteWarning

        where = calibration if isinstance(calibration, (str, Path)) else ", ".join(source["clips"][:3]) or "synthetic"
        warnings.warn(
            EdgeL3MoteWarning(
                f"calibration set {where} is all silence ({len(x)} windows): the int8 input scale is degenerate and "
                f"real audio will saturate; calibrate on clips with real sound (--calibration DIR)"
            ),
            stacklevel=2,
        )
        source["all_silent"] = True
    return x[..., None], source


# ----------------------------------------------------------------------------- conversion
def _convert(model, representative: np.ndarray | None) -> bytes:
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if representative is not None:

        def dataset():
            for x in representative:
                yield [x[None]]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = dataset
        # Int8 kernels only: an op without one fails here instead of staying float.
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    try:
        with warnings.catch_warnings():  # "Statistics for quantized inputs were expected": by design
            warnings.filterwarnings("ignore", message="Statistics for quantized inputs")
            return bytes(converter.convert())
    except Exception as exc:  # ConverterError and friends carry pages of MLIR: keep the gist
        lines = [ln.strip() for ln in str(exc).splitlines() if "error" in ln.lower()] or [str(exc).strip()]
        kind = "int8" if representative is not None else "float"
        raise ExportError(
            f"TFLite {kind} conversion failed: {lines[0][:300]}; the model has a layer "
            f"without an int8 TFLite kernel -- replace it with supported layers"
        ) from None


def _keras_conv_layers(model) -> list[str]:
    import tf_keras as keras

    names = []
    for layer in model.submodules if hasattr(model, "submodules") else model.layers:
        if isinstance(layer, keras.layers.Conv2D) and not isinstance(layer, keras.layers.Conv2DTranspose):
            names.append(layer.name)
    return names


def _tensor_record(info, index: int) -> dict:
    t = info.tensors[index]
    return {
        "name": t.name,
        "shape": list(t.shape),
        "dtype": t.dtype,
        "scale": float(t.scales[0]) if len(t.scales) else None,
        "zero_point": int(t.zero_points[0]) if len(t.zero_points) else None,
    }


def export_tflite(
    model,
    weights=None,
    calibration=None,
    out_dir: str | Path | None = None,
    seed: int = 0,
    calibration_steps: int = DEFAULT_CALIBRATION_STEPS,
    hop_size: float = DEFAULT_HOP_SIZE,
    *,
    frontend=None,
    input_affine: tuple[float, float] | None = None,
    progress: bool = True,
    log: Callable[[str], None] = _stderr,
) -> ExportResult:
    """Convert ``model`` (a registry name, or a tf_keras backbone) to int8 + float TFLite.

    Writes ``model_int8.tflite``, ``model_float.tflite`` and ``manifest.json`` into ``out_dir``
    (default ``build/tflite/<model>``) atomically: every check runs before anything is written,
    and a failure leaves no directory. ``calibration`` is a folder (searched recursively) or a
    list of audio files; None calibrates on synthetic signals, with a warning.
    ``weights=None`` means seeded random weights, said plainly in the log and the manifest.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise InvalidInputError(f"seed must be an integer, got {seed!r}")
    # Cheap checks first, so a typo fails before a model is built or converted.
    if isinstance(model, str):
        from edgel3_mote.compress.models.registry import get_spec

        get_spec(model)
        if weights is not None and not Path(weights).is_file():
            raise InvalidInputError(
                f"weights file {weights} does not exist: give the path of a trained "
                f".h5 (or .h5.gz), or leave --weights out for seeded random weights"
            )
    if out_dir is not None:
        check_output_dir(out_dir, "export tflite", EXPORT_FILES, EXPORT_LEGACY)
    if calibration is not None:
        calibration = find_audio_files(calibration)
    step = StepLog(log)  # one line per step on screen; these and the converter's chatter in export.log
    with collecting(step.chatter):
        return _export_tflite(
            model,
            weights,
            calibration,
            out_dir,
            seed,
            calibration_steps,
            hop_size,
            frontend,
            input_affine,
            progress,
            step,
        )


def _export_tflite(
    model, weights, calibration, out_dir, seed, calibration_steps, hop_size, frontend, input_affine, progress, step
) -> ExportResult:
    bb = _resolve_model(model, weights, seed, frontend, input_affine)
    _check_backbone_shape(bb)
    if bb.random_weights:
        step(
            f"WARNING: {bb.name} has RANDOM weights (seed {bb.seed}): no --weights given, so its "
            f"embeddings mean nothing; pass trained weights for a real deployment"
        )
    x_cal, calibration_info = calibration_spectrograms(
        bb, calibration, calibration_steps, hop_size, seed, progress=progress, log=step
    )
    step(f"converting {bb.name} to float and int8 TFLite ({len(x_cal)} calibration windows)")
    with captured("TFLite converter, int8"):
        int8_tflite = _convert(bb.model, x_cal)
    info = read_model(int8_tflite)
    info.output_layers = {i: name for i, name in zip(info.outputs, bb.model.output_names)}
    check_int8_opset(info)
    check_int8_quantization(info)
    n_keras_convs, n_convs = len(_keras_conv_layers(bb.model)), info.op_names.count("CONV_2D")
    if n_keras_convs != n_convs:
        raise ExportError(
            f"the int8 model has {n_convs} CONV_2D ops for {n_keras_convs} Keras Conv2D layers: "
            f"the converter split or merged convolutions; export a plain Conv2D stack"
        )

    with captured("TFLite converter, float"):
        float_tflite = _convert(bb.model, None)
    float_info = read_model(float_tflite)
    int8_stats = weight_stats(info)
    manifest = {
        "model": bb.name,
        "weights": bb.weights,
        "random_weights": bb.random_weights,
        "seed": bb.seed if bb.random_weights else int(seed),
        "frontend": bb.frontend.to_dict(),
        "window_samples": int(bb.window_samples),
        "input_affine": {"scale": bb.input_affine[0], "offset": bb.input_affine[1]},
        "input": _tensor_record(info, info.inputs[0]),
        "output": _tensor_record(info, info.outputs[0]),
        "ops": info.op_names,
        "layers": [
            {
                "index": op.index,
                "op": op.name,
                "output": info.tensors[op.outputs[0]].name,
                "fused_activation": op.fused_activation,
            }
            for op in info.ops
        ],
        "sha256": hashlib.sha256(int8_tflite).hexdigest(),
        "float_sha256": hashlib.sha256(float_tflite).hexdigest(),
        "sizes": {
            "float_tflite_bytes": len(float_tflite),
            "int8_tflite_bytes": len(int8_tflite),
            "float_weight_bytes": weight_stats(float_info)["weight_bytes"],
            **int8_stats,
        },
        "calibration": calibration_info,
    }
    out_dir = Path(out_dir) if out_dir is not None else Path("build") / "tflite" / bb.name
    with atomic_dir(out_dir, "export tflite", legacy=EXPORT_LEGACY) as tmp:
        (tmp / INT8_NAME).write_bytes(int8_tflite)
        (tmp / FLOAT_NAME).write_bytes(float_tflite)
        (tmp / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n")
        (tmp / LOG_NAME).write_text(step.text())
    sizes = manifest["sizes"]
    step(
        f"wrote {out_dir}: int8 {sizes['int8_tflite_bytes']} B, float {sizes['float_tflite_bytes']} B, "
        f"weights {sizes['weight_bytes']} B ({sizes['nonzero_weight_bytes']} B nonzero), ops {' '.join(info.op_names)}"
        + ("  [RANDOM WEIGHTS]" if bb.random_weights else "")
    )
    return ExportResult(
        out_dir,
        out_dir / INT8_NAME,
        out_dir / FLOAT_NAME,
        out_dir / MANIFEST_NAME,
        Manifest.from_dict(manifest, source=str(out_dir / MANIFEST_NAME)),
    )


def load_export(tflite_dir: str | Path) -> tuple[bytes, Manifest]:
    """(int8 .tflite bytes, manifest) of an export directory, checked against each other."""
    tflite_dir = Path(tflite_dir)
    int8_path, manifest_path = tflite_dir / INT8_NAME, tflite_dir / MANIFEST_NAME
    if not int8_path.is_file() or not manifest_path.is_file():
        raise InvalidInputError(
            f"{tflite_dir} is not an export directory (needs {INT8_NAME} and {MANIFEST_NAME}): "
            f"run edgel3-mote export tflite -o {tflite_dir}"
        )
    data = int8_path.read_bytes()
    manifest = Manifest.load(manifest_path)
    if hashlib.sha256(data).hexdigest() != manifest.sha256:
        raise ExportError(f"{int8_path} does not match its manifest's sha256: re-run the export")
    return data, manifest


__all__ = [
    "ExportResult",
    "export_tflite",
    "load_export",
    "clip_windows",
    "calibration_spectrograms",
    "DEFAULT_CALIBRATION_STEPS",
]
