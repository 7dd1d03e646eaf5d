"""Embedding API, as edgel3 / openl3 users know it: ``get_embedding``, ``process_file``.

``frame_audio`` is the one framing everything uses (the board harness streams exactly these
windows): mono downmix, resampling to the model rate, centering (``window // 2`` zeros before
the first sample, so timestamps are window centres), zero padding at the end so every sample
is seen, then ``1 + (N_padded - window) // hop`` windows.
"""

from __future__ import annotations

import os
import warnings
from numbers import Real
from pathlib import Path
from typing import TYPE_CHECKING, Sequence, cast

import numpy as np

from edgel3_mote.atomic import atomic_file
from edgel3_mote.compress.audio import find_audio_files, read_audio, resample
from edgel3_mote.errors import EdgeL3MoteWarning, InvalidInputError  # noqa: F401  (re-exported)

if TYPE_CHECKING:
    import tf_keras as keras

    from edgel3_mote.compress.models.registry import ModelSpec

DEFAULT_MODEL = "sea-64"


# ---------------------------------------------------------------- validation helpers


def _check_hop(hop_size) -> float:
    number = cast(float, hop_size)  # any numbers.Real (int, float, numpy scalars), checked first below
    if isinstance(hop_size, bool) or not isinstance(hop_size, Real) or not np.isfinite(number) or number <= 0:
        raise InvalidInputError(f"invalid hop size {hop_size!r}: give a positive number of seconds, e.g. 0.1")
    return float(hop_size)


def _check_sr(sr) -> int:
    number = cast(float, sr)  # any numbers.Real (int, float, numpy scalars), checked first below
    if (
        isinstance(sr, bool)
        or not isinstance(sr, Real)
        or not np.isfinite(number)
        or number <= 0
        or int(number) != number
    ):
        raise InvalidInputError(f"invalid sample rate {sr!r}: give a positive integer in Hz")
    return int(number)


def _check_center(center) -> bool:
    if center not in (True, False):
        raise InvalidInputError(f"invalid center value {center!r}: give True or False")
    return bool(center)


def _as_mono(audio) -> np.ndarray:
    audio = np.asarray(audio)
    if audio.size == 0:
        raise InvalidInputError("got empty audio: give at least one sample")
    if not np.issubdtype(audio.dtype, np.number):
        raise InvalidInputError(f"audio has dtype {audio.dtype}: give a numeric array")
    if audio.ndim == 2:
        audio = audio.mean(axis=1)  # (n_samples, n_channels), as soundfile reads it
    elif audio.ndim != 1:
        raise InvalidInputError(f"audio has {audio.ndim} dimensions: give (n_samples,) or (n_samples, n_channels)")
    if np.issubdtype(audio.dtype, np.integer):  # PCM integers -> [-1, 1]
        audio = audio / float(np.iinfo(audio.dtype).max + 1)
    audio = audio.astype(np.float64)
    if not np.all(np.isfinite(audio)):
        raise InvalidInputError("audio contains NaN or Inf: clean the signal first")
    return audio


def _spec_of(spec_or_name):
    from edgel3_mote.compress.models.registry import ModelSpec, get_spec

    if isinstance(spec_or_name, ModelSpec):
        return spec_or_name
    return get_spec(spec_or_name)


# ---------------------------------------------------------------- framing


def frame_audio(
    audio: np.ndarray,
    sr: float,
    spec_or_name: ModelSpec | str,
    center: bool = True,
    hop_size: float = 0.1,
    source: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Cut ``audio`` into the model's windows: ``(frames (T, window) float32, timestamps (T,))``.

    ``audio`` is ``(n,)`` or ``(n, channels)`` (downmixed); it is resampled to the model rate.
    Timestamps are in seconds (window starts in the original signal; window centres when
    ``center``). Empty audio is an error; all-zero audio and audio shorter than one window
    give an :class:`EdgeL3MoteWarning` (naming ``source``, the file, when given).
    """
    spec = _spec_of(spec_or_name)
    hop_size = _check_hop(hop_size)
    sr = _check_sr(sr)
    center = _check_center(center)
    audio = _as_mono(audio)
    what = f"audio of {source}" if source else "provided audio"
    if not np.any(audio):
        warnings.warn(f"{what} is all zeros", EdgeL3MoteWarning, stacklevel=2)
    target_sr, window = int(spec.frontend.sr), int(spec.window_samples)
    audio = resample(audio, sr, target_sr)
    hop = int(round(hop_size * target_sr))
    if hop < 1:
        raise InvalidInputError(
            f"hop size {hop_size} s is below one sample at {target_sr} Hz: give at least {1 / target_sr:.2e} s"
        )
    if audio.size < window:
        warnings.warn(
            f"{what} is shorter than one window ({audio.size / target_sr:.3f} s < "
            f"{window / target_sr:.3f} s): it is zero-padded",
            EdgeL3MoteWarning,
            stacklevel=2,
        )
    if center:
        audio = np.pad(audio, (window // 2, 0))
    n = audio.size
    pad = window - n if n < window else -(-(n - window) // hop) * hop - (n - window)
    if pad > 0:
        audio = np.pad(audio, (0, pad))
    n_frames = 1 + (audio.size - window) // hop
    frames = np.lib.stride_tricks.sliding_window_view(audio, window)[::hop][:n_frames]
    timestamps = np.arange(n_frames) * (hop / target_sr)
    return np.ascontiguousarray(frames, dtype=np.float32), timestamps


# ---------------------------------------------------------------- models


def _resolve_model(model, weights):
    """A registry name (built with ``weights``) or a tf_keras model -> (keras model, spec)."""
    import tf_keras as keras

    from edgel3_mote.compress.models.registry import build_model, get_spec

    if isinstance(model, str):
        spec = get_spec(model)
        if spec.family == "avc":
            raise InvalidInputError(
                "l3-avc is the audio-visual training model, not an embedding "
                "model: use l3-melspec2, an edgel3-* preset or a sea-* model"
            )
        if weights is None:
            warnings.warn(
                f"no weights given for {model}: using seeded RANDOM weights, the embeddings are not meaningful",
                EdgeL3MoteWarning,
                stacklevel=3,
            )
        return build_model(model, weights=weights), spec
    if not isinstance(model, keras.Model):
        raise InvalidInputError(
            f"invalid model {type(model).__name__}: give a registry name (e.g. 'sea-64') or a tf_keras.Model"
        )
    if weights is not None:
        raise InvalidInputError(
            "weights are only used with a model name: load them into your Keras model yourself, or pass the name"
        )
    name = getattr(model, "edgel3_model_name", None)
    if name is not None:
        return model, get_spec(name)
    shape = tuple(model.input_shape) if not isinstance(model.input_shape, list) else None
    if shape is None or len(shape) != 3 or shape[1] != 1:
        raise InvalidInputError(
            f"model input shape {model.input_shape} is not (batch, 1, "
            f"n_samples) audio: give a full audio model (with front-end)"
        )
    for candidate in ("sea-64", "l3-melspec2"):
        if get_spec(candidate).window_samples == shape[2]:
            return model, get_spec(candidate)
    raise InvalidInputError(
        f"model input of {shape[2]} samples matches no known front-end (8000 or 48000): give a registry model"
    )


def _check_batch_size(batch_size) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise InvalidInputError(f"invalid batch size {batch_size!r}: give a positive integer")
    return int(batch_size)


def _embed_frames(model, frames: np.ndarray, batch_size: int, verbose: bool) -> np.ndarray:
    from tqdm import tqdm

    outputs = []
    starts = range(0, len(frames), batch_size)
    for start in tqdm(starts, desc="windows", unit="batch", disable=not verbose):
        batch = frames[start : start + batch_size, None, :]
        outputs.append(np.asarray(model(batch, training=False)))
    return np.concatenate(outputs, axis=0).astype(np.float32)


def get_embedding(
    audio: np.ndarray,
    sr: float,
    model: str | keras.Model = DEFAULT_MODEL,
    weights: str | os.PathLike | None = None,
    center: bool = True,
    hop_size: float = 0.1,
    batch_size: int = 32,
    verbose: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Embeddings of ``audio`` every ``hop_size`` seconds: ``(embedding (T, D), timestamps (T,))``.

    ``model`` is a registry name (built with ``weights``, an original h5 / .h5.gz; without
    weights the model is random and an :class:`EdgeL3MoteWarning` says so) or a tf_keras model
    with audio input ``(batch, 1, n_samples)``.
    """
    batch_size = _check_batch_size(batch_size)
    hop_size = _check_hop(hop_size)
    _check_sr(sr)
    _check_center(center)
    _as_mono(audio)  # validate before building a model
    keras_model, spec = _resolve_model(model, weights)
    frames, timestamps = frame_audio(audio, sr, spec, center=center, hop_size=hop_size)
    return _embed_frames(keras_model, frames, batch_size, verbose), timestamps


# ---------------------------------------------------------------- files


def output_path(
    path: str | os.PathLike, output_dir: str | os.PathLike | None = None, suffix: str | None = None
) -> Path:
    """``<output_dir or the file's folder>/<stem>[_<suffix>].npz`` (edgel3's naming)."""
    path = Path(path)
    name = path.stem + (f"_{suffix}" if suffix else "") + ".npz"
    return Path(output_dir if output_dir else path.parent) / name


def process_file(
    filepath: str | os.PathLike | Sequence[str | os.PathLike],
    output_dir: str | os.PathLike | None = None,
    suffix: str | None = None,
    model: str | keras.Model = DEFAULT_MODEL,
    weights: str | os.PathLike | None = None,
    center: bool = True,
    hop_size: float = 0.1,
    batch_size: int = 32,
    verbose: bool = False,
) -> Path | list[Path]:
    """Embed one file or several and write ``<name>.npz`` (``embedding``, ``timestamps``) each.

    ``filepath`` is a path or a list of paths (folders are expanded). The model is built once.
    Returns the output path (one input) or the list of output paths. Each .npz is written
    atomically: a failure leaves no partial file.
    """
    from tqdm import tqdm

    single = isinstance(filepath, (str, os.PathLike)) and not Path(filepath).is_dir()
    paths = find_audio_files([filepath] if isinstance(filepath, (str, os.PathLike)) else list(filepath))
    _check_hop(hop_size)
    _check_center(center)
    batch_size = _check_batch_size(batch_size)
    if output_dir is not None and Path(output_dir).exists() and not Path(output_dir).is_dir():
        raise InvalidInputError(f"output directory {output_dir} is a file: give a folder")
    targets = [output_path(p, output_dir, suffix) for p in paths]
    clashes = sorted({str(t) for t in targets if targets.count(t) > 1})
    if clashes:
        raise InvalidInputError(
            f"several inputs would write {clashes[0]}: give files with "
            f"different names or process them into different -o/--output folders"
        )
    keras_model, spec = _resolve_model(model, weights)
    outputs = []
    for path, out in tqdm(list(zip(paths, targets)), desc="files", unit="file", disable=not verbose or len(paths) < 2):
        audio, sr = read_audio(path)
        frames, timestamps = frame_audio(audio, sr, spec, center=center, hop_size=hop_size, source=str(path))
        embedding = _embed_frames(keras_model, frames, batch_size, verbose=False)
        with atomic_file(out) as tmp, open(tmp, "wb") as f:
            np.savez(f, embedding=embedding, timestamps=timestamps)
        outputs.append(out)
    return outputs[0] if single else outputs
