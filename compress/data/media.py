"""Decoding local media: audio with soundfile / librosa, video containers and frames with ffmpeg.

Audio comes back as float ``(n,)`` or ``(n, channels)`` at the file's rate (resampling to the
model rate is :func:`load_audio`'s job); frames as uint8 RGB ``(H, W, 3)``.
"""
from __future__ import annotations

import shutil
import subprocess
import warnings
from pathlib import Path

import numpy as np

from edgel3_mote.errors import InvalidInputError, ToolchainError

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif", ".au")
VIDEO_EXTENSIONS = (".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4a", ".m4v", ".3gp")


def ffmpeg_path() -> str:
    path = shutil.which("ffmpeg")
    if path is None:
        raise ToolchainError("ffmpeg is not installed: install it (apt-get install ffmpeg) to "
                             "read video files")
    return path


def _run_ffmpeg(args: list[str], what: str) -> bytes:
    cmd = [ffmpeg_path(), "-nostdin", "-hide_banner", "-loglevel", "error", *args]
    proc = subprocess.run(cmd, capture_output=True, check=False)
    if proc.returncode != 0:
        msg = proc.stderr.decode(errors="replace").strip().splitlines()
        raise InvalidInputError(f"ffmpeg could not {what} ({msg[-1] if msg else 'no message'}): "
                                f"check the file")
    return proc.stdout


def read_audio_ffmpeg(path: str | Path, sr: int | None = None, start: float = 0.0,
                      duration: float | None = None) -> tuple[np.ndarray, int]:
    """Decode the audio stream of any container ffmpeg reads, as float32 ``(n, channels)``."""
    path = Path(path)
    if sr is None:
        sr = probe_sample_rate(path) or 48000
    args = ["-ss", f"{start:.6f}"] if start else []
    args += ["-i", str(path)]
    if duration is not None:
        args += ["-t", f"{duration:.6f}"]
    raw = _run_ffmpeg(args + ["-vn", "-f", "f32le", "-acodec", "pcm_f32le", "-ar", str(int(sr)),
                              "-ac", "1", "-"], f"decode the audio of {path}")
    audio = np.frombuffer(raw, dtype="<f4").astype(np.float32)
    if audio.size == 0:
        raise InvalidInputError(f"{path} has no audio stream: give a file with sound")
    return audio, int(sr)


def probe_sample_rate(path: str | Path) -> int | None:
    probe = shutil.which("ffprobe")
    if probe is None:
        return None
    proc = subprocess.run([probe, "-v", "error", "-select_streams", "a:0", "-show_entries",
                           "stream=sample_rate", "-of", "csv=p=0", str(path)],
                          capture_output=True, check=False)
    text = proc.stdout.decode().strip()
    return int(text) if proc.returncode == 0 and text.isdigit() else None


def read_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """``(audio, sr)`` of an audio file (soundfile, then librosa) or a video container (ffmpeg)."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"file {path} could not be found: check the path")
    if path.suffix.lower() in VIDEO_EXTENSIONS:
        return read_audio_ffmpeg(path)
    import soundfile as sf

    from edgel3_mote.quiet import fd2_muted

    try:
        with fd2_muted():  # libmpg123 prints ID3 notices of some mp3 files straight to fd 2
            audio, sr = sf.read(str(path), always_2d=False, dtype="float32")
    except Exception:  # noqa: BLE001 - not a soundfile format: try librosa, then ffmpeg
        pass
    else:
        if not np.all(np.isfinite(audio)):  # a float WAV can hold them
            raise InvalidInputError(f"audio file {path} contains NaN or Inf samples: clean it or remove it from "
                                    f"the set")
        return np.asarray(audio), int(sr)
    try:
        import librosa

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            audio, sr = librosa.load(str(path), sr=None, mono=False)
        return (audio.T if audio.ndim == 2 else audio), int(sr)
    except Exception:  # noqa: BLE001
        return read_audio_ffmpeg(path)


def resample(audio: np.ndarray, sr: int, target_sr: int) -> np.ndarray:
    if int(sr) == int(target_sr):
        return audio
    import librosa

    return librosa.resample(np.asarray(audio, dtype=np.float32), orig_sr=int(sr),
                            target_sr=int(target_sr), res_type="soxr_hq")


def load_audio(path: str | Path, target_sr: int, start: float = 0.0,
               duration: float | None = None) -> np.ndarray:
    """Mono float32 audio at ``target_sr``, optionally the segment [start, start + duration)."""
    audio, sr = read_audio(path)
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 2:
        audio = audio.mean(axis=1)
    begin = int(round(start * sr))
    end = audio.size if duration is None else begin + int(round(duration * sr))
    return resample(audio[begin:end], sr, target_sr).astype(np.float32)


def read_video_frame(path: str | Path, time_s: float, size: tuple[int, int] = (224, 224)) -> np.ndarray:
    """One RGB frame (uint8 ``(H, W, 3)``) at ``time_s``, scaled to ``size`` (W, H) by ffmpeg."""
    width, height = size
    raw = _run_ffmpeg(["-ss", f"{max(time_s, 0.0):.6f}", "-i", str(path), "-frames:v", "1",
                       "-vf", f"scale={width}:{height}", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                      f"read a frame of {path} at {time_s:.3f} s")
    if len(raw) != width * height * 3:
        raise InvalidInputError(f"{path} has no video frame at {time_s:.3f} s: give a time inside "
                                f"the video")
    return np.frombuffer(raw, dtype=np.uint8).reshape(height, width, 3)


def read_video_frames(path: str | Path, fps: float, size: tuple[int, int] = (224, 224),
                      start: float = 0.0, duration: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Frames sampled at ``fps`` (uint8 ``(N, H, W, 3)``) and their times in s (from ``start``)."""
    width, height = size
    args = ["-ss", f"{start:.6f}"] if start else []
    args += ["-i", str(path)]
    if duration is not None:
        args += ["-t", f"{duration:.6f}"]
    raw = _run_ffmpeg(args + ["-vf", f"fps={fps},scale={width}:{height}", "-f", "rawvideo",
                              "-pix_fmt", "rgb24", "-"], f"read the frames of {path}")
    frames = np.frombuffer(raw, dtype=np.uint8).reshape(-1, height, width, 3)
    if not len(frames):
        raise InvalidInputError(f"{path} has no video frames: give a video file")
    return frames, start + np.arange(len(frames)) / fps


def frame_to_model_input(frame: np.ndarray) -> np.ndarray:
    """uint8 RGB -> float32 in [-1, 1], as the L3 vision network expects."""
    return frame.astype(np.float32) / 127.5 - 1.0
