"""The project's one audio module: which files are audio, finding them, decoding, resampling.

Every reader of audio (embedding, export calibration, evaluation, the board bench, the training
data) goes through here, so an mp3 that one command accepts is accepted by all of them, with the
same samples.

- :data:`AUDIO_EXTENSIONS` -- the suffixes a folder walk picks up.
- :func:`find_audio_files` -- files as given, folders expanded (recursively, sorted) to their audio.
- :func:`read_audio` -- ``(audio float32 (n,) or (n, channels), sr)``: soundfile, then librosa
  (audioread), then ffmpeg for containers; empty or non-finite audio, or a sample rate below
  :data:`MIN_SAMPLE_RATE`, is an error naming the file.
- :func:`resample` -- soxr "very high quality" through librosa.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Iterable

import numpy as np

from edgel3_mote.errors import InvalidInputError

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif", ".au", ".m4a", ".opus")
MIN_SAMPLE_RATE = 1000
"""Hz: a file that says it was sampled slower is no recording of sound (a wrong header, a sensor log):
refused naming the file, instead of being resampled into a few samples of nonsense."""


def is_audio_file(path: str | os.PathLike) -> bool:
    p = Path(path)
    return p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file() and not p.name.startswith(".")


def find_audio_files(items: str | os.PathLike | Iterable[str | os.PathLike], what: str = "audio") -> list[Path]:
    """Files as given, folders expanded to the audio files below them (recursively, sorted).

    ``items`` is one path or several. A missing path, or a folder without audio, is an error
    naming it; ``what`` says in the message what the files are for ("calibration clips", ...).
    """
    if isinstance(items, (str, os.PathLike)):
        items = [items]
    paths: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found = sorted(q for q in p.rglob("*") if is_audio_file(q))
            if not found:
                raise InvalidInputError(
                    f"no {what} files ({', '.join(AUDIO_EXTENSIONS)}) in folder {p}: give a folder with audio in it"
                )
            paths += found
        elif p.is_file():
            paths.append(p)
        else:
            raise InvalidInputError(f"{what} file or folder {p} does not exist: check the path")
    if not paths:
        raise InvalidInputError(f"no {what} files given: give at least one audio file or folder")
    return paths


def _decode(path: Path) -> tuple[np.ndarray, int]:
    import soundfile as sf

    from edgel3_mote.quiet import fd2_muted

    try:
        with fd2_muted():  # libmpg123 prints ID3 notices of some mp3 files straight to fd 2
            audio, sr = sf.read(str(path), always_2d=False, dtype="float32")
        return np.asarray(audio), int(sr)
    except Exception:  # noqa: BLE001 - not a libsndfile format (mp3 on old libsndfile, m4a, ...)
        pass
    try:
        import librosa

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            audio, sr = librosa.load(str(path), sr=None, mono=False)
        return (audio.T if audio.ndim == 2 else audio).astype(np.float32), int(sr)
    except Exception as exc:  # noqa: BLE001 - last resort: any container ffmpeg reads
        from edgel3_mote.compress.data.media import read_audio_ffmpeg

        try:
            return read_audio_ffmpeg(path)
        except Exception:  # noqa: BLE001
            raise InvalidInputError(
                f"could not decode audio file {path} ({exc}): give a wav/flac/ogg/mp3 file"
            ) from None


def _check_rate(path: Path, sr: int) -> None:
    if sr < MIN_SAMPLE_RATE:
        raise InvalidInputError(
            f"audio file {path} says it is sampled at {sr} Hz, below {MIN_SAMPLE_RATE} Hz: that is no "
            f"recording of sound (a wrong header?); repair it or resample it to 8 kHz or more"
        )


def check_audio_headers(paths: Iterable[str | os.PathLike]) -> None:
    """Before any long work: refuse a file whose header (read by libsndfile, without decoding) gives an
    implausible sample rate. Files libsndfile cannot read are checked when they are decoded."""
    import soundfile as sf

    for path in paths:
        try:
            sr = int(sf.info(str(path)).samplerate)
        except Exception:  # noqa: BLE001 - not a libsndfile format: read_audio checks it
            continue
        _check_rate(Path(path), sr)


def read_audio(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """``(audio float32 (n,) or (n, channels), sr)`` of one file, at the file's own rate."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"audio file {path} could not be found: check the path")
    audio, sr = _decode(path)
    _check_rate(path, sr)
    if audio.size == 0:
        raise InvalidInputError(f"audio file {path} is empty: remove it or give another file")
    if not np.all(np.isfinite(audio)):
        raise InvalidInputError(f"audio file {path} contains NaN or Inf samples: repair or remove it")
    return audio, sr


def resample(audio: np.ndarray, sr: int, target_sr: int) -> np.ndarray:
    """``audio`` (float, any shape with time first) from ``sr`` to ``target_sr``.

    soxr "very high quality" (through librosa): as accurate as resampy's kaiser_best, which edgel3
    used, and ~50x faster -- long recordings and the test suite both need the speed.
    """
    if int(sr) == int(target_sr):
        return audio
    import librosa

    return librosa.resample(np.asarray(audio), orig_sr=int(sr), target_sr=int(target_sr), res_type="soxr_vhq", axis=0)
