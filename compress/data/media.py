"""Decoding video containers and frames with ffmpeg (audio files: :mod:`edgel3_mote.compress.audio`).

Audio comes back as float ``(n,)`` or ``(n, channels)`` at the file's rate (:func:`load_audio` cuts a
segment and resamples it to the model rate); frames as uint8 RGB ``(H, W, 3)``.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np

from edgel3_mote.errors import InvalidInputError, ToolchainError

VIDEO_EXTENSIONS = (".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4a", ".m4v", ".3gp")


def ffmpeg_path() -> str:
    path = shutil.which("ffmpeg")
    if path is None:
        raise ToolchainError("ffmpeg is not installed: install it (apt-get install ffmpeg) to read video files")
    return path


def _run_ffmpeg(args: list[str], what: str) -> bytes:
    cmd = [ffmpeg_path(), "-nostdin", "-hide_banner", "-loglevel", "error", *args]
    proc = subprocess.run(cmd, capture_output=True, check=False)
    if proc.returncode != 0:
        msg = proc.stderr.decode(errors="replace").strip().splitlines()
        raise InvalidInputError(f"ffmpeg could not {what} ({msg[-1] if msg else 'no message'}): check the file")
    return proc.stdout


def read_audio_ffmpeg(
    path: str | Path, sr: int | None = None, start: float = 0.0, duration: float | None = None
) -> tuple[np.ndarray, int]:
    """Decode the audio stream of any container ffmpeg reads, as float32 ``(n, channels)``."""
    path = Path(path)
    if sr is None:
        sr = probe_sample_rate(path) or 48000
    args = ["-ss", f"{start:.6f}"] if start else []
    args += ["-i", str(path)]
    if duration is not None:
        args += ["-t", f"{duration:.6f}"]
    raw = _run_ffmpeg(
        args + ["-vn", "-f", "f32le", "-acodec", "pcm_f32le", "-ar", str(int(sr)), "-ac", "1", "-"],
        f"decode the audio of {path}",
    )
    audio = np.frombuffer(raw, dtype="<f4").astype(np.float32)
    if audio.size == 0:
        raise InvalidInputError(f"{path} has no audio stream: give a file with sound")
    return audio, int(sr)


def probe_sample_rate(path: str | Path) -> int | None:
    probe = shutil.which("ffprobe")
    if probe is None:
        return None
    proc = subprocess.run(
        [
            probe,
            "-v",
            "error",
            "-select_streams",
            "a:0",
            "-show_entries",
            "stream=sample_rate",
            "-of",
            "csv=p=0",
            str(path),
        ],
        capture_output=True,
        check=False,
    )
    text = proc.stdout.decode().strip()
    return int(text) if proc.returncode == 0 and text.isdigit() else None


def load_audio(path: str | Path, target_sr: int, start: float = 0.0, duration: float | None = None) -> np.ndarray:
    """Mono float32 audio at ``target_sr``, optionally the segment [start, start + duration)."""
    path = Path(path)
    from edgel3_mote.compress.audio import read_audio, resample

    if path.suffix.lower() in VIDEO_EXTENSIONS:  # an AudioSet-style clip: ffmpeg reads the container
        audio, sr = read_audio_ffmpeg(path)
    else:
        audio, sr = read_audio(path)
    if audio.ndim == 2:
        audio = audio.mean(axis=1)
    begin = int(round(start * sr))
    end = audio.size if duration is None else begin + int(round(duration * sr))
    return resample(audio[begin:end], sr, target_sr).astype(np.float32)


def read_video_frame(path: str | Path, time_s: float, size: tuple[int, int] = (224, 224)) -> np.ndarray:
    """One RGB frame (uint8 ``(H, W, 3)``) at ``time_s``, scaled to ``size`` (W, H) by ffmpeg."""
    width, height = size
    raw = _run_ffmpeg(
        [
            "-ss",
            f"{max(time_s, 0.0):.6f}",
            "-i",
            str(path),
            "-frames:v",
            "1",
            "-vf",
            f"scale={width}:{height}",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-",
        ],
        f"read a frame of {path} at {time_s:.3f} s",
    )
    if len(raw) != width * height * 3:
        raise InvalidInputError(f"{path} has no video frame at {time_s:.3f} s: give a time inside the video")
    return np.frombuffer(raw, dtype=np.uint8).reshape(height, width, 3)


def read_video_frames(
    path: str | Path, fps: float, size: tuple[int, int] = (224, 224), start: float = 0.0, duration: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Frames sampled at ``fps`` (uint8 ``(N, H, W, 3)``) and their times in s (from ``start``)."""
    width, height = size
    args = ["-ss", f"{start:.6f}"] if start else []
    args += ["-i", str(path)]
    if duration is not None:
        args += ["-t", f"{duration:.6f}"]
    raw = _run_ffmpeg(
        args + ["-vf", f"fps={fps},scale={width}:{height}", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        f"read the frames of {path}",
    )
    frames = np.frombuffer(raw, dtype=np.uint8).reshape(-1, height, width, 3)
    if not len(frames):
        raise InvalidInputError(f"{path} has no video frames: give a video file")
    return frames, start + np.arange(len(frames)) / fps


def frame_to_model_input(frame: np.ndarray) -> np.ndarray:
    """uint8 RGB -> float32 in [-1, 1], as the L3 vision network expects."""
    return frame.astype(np.float32) / 127.5 - 1.0
