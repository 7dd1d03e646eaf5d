"""A tiny real AudioSet-format dataset made with ffmpeg: test-pattern videos with sine tones.

For tests and smoke runs of the data pipeline and AVC fine-tuning without downloading
YouTube: each "video" is a different lavfi test pattern with a different tone, named by a
made-up YTID, listed in a segments CSV with real AudioSet mids.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from edgel3_mote.compress.data.audioset import Segment, write_segments
from edgel3_mote.compress.data.media import ffmpeg_path

PATTERNS = ("testsrc", "smptebars", "rgbtestsrc", "testsrc2", "yuvtestsrc", "pal75bars")
# real AudioSet mids: Sine wave, Beep/bleep, Music, Speech, Dog, Bird
LABELS = ("/m/01v_m0", "/m/02fs_r", "/m/04rlf", "/m/09x0r", "/m/0bt9lr", "/m/015p6")


def make_test_videos(
    out_dir: str | Path,
    n_videos: int = 3,
    seconds: float = 3.0,
    size: str = "96x72",
    rate: int = 5,
    sample_rate: int = 16000,
) -> Path:
    """Write ``out_dir/media/<ytid>.mp4`` and ``out_dir/segments.csv``; returns the CSV path."""
    if not 1 <= n_videos <= len(PATTERNS):
        raise ValueError(f"n_videos must be 1..{len(PATTERNS)}")
    out_dir = Path(out_dir)
    media = out_dir / "media"
    media.mkdir(parents=True, exist_ok=True)
    segments = []
    for i in range(n_videos):
        ytid = f"synth{i:02d}-_x"
        tone = 220 * (i + 2)
        path = media / f"{ytid}.mp4"
        subprocess.run(
            [
                ffmpeg_path(),
                "-nostdin",
                "-loglevel",
                "error",
                "-y",
                "-f",
                "lavfi",
                "-i",
                f"{PATTERNS[i]}=duration={seconds}:size={size}:rate={rate}",
                "-f",
                "lavfi",
                "-i",
                f"sine=frequency={tone}:duration={seconds}:sample_rate={sample_rate}",
                "-c:v",
                "mpeg4",
                "-q:v",
                "5",
                "-c:a",
                "aac",
                "-b:a",
                "64k",
                "-shortest",
                str(path),
            ],
            check=True,
            capture_output=True,
        )
        segments.append(Segment(ytid, 0.0, seconds, (LABELS[0], LABELS[1 + i % (len(LABELS) - 1)])))
    return write_segments(out_dir / "segments.csv", segments, note="synthetic test set (ffmpeg lavfi)")
