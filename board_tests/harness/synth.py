"""Synthetic demo clips (tones, a chirp, noise bursts) for a machine with no audio of its own."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgel3_mote.atomic import atomic_file


def synthesise_clips(out_dir: str | Path, sr: int = 16000, seconds: float = 2.0, seed: int = 0) -> list[Path]:
    """Write three short wav clips into ``out_dir`` and return their paths."""
    import soundfile as sf

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    t = np.arange(int(sr * seconds)) / sr
    fade = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.05)  # no clicks at the ends
    tone = sum(a * np.sin(2 * np.pi * f * t) for f, a in ((440, 0.4), (880, 0.2), (1320, 0.1)))
    f0, f1 = 200.0, 3500.0  # exponential chirp
    k = np.log(f1 / f0) / seconds
    chirp = 0.5 * np.sin(2 * np.pi * f0 * (np.exp(k * t) - 1) / k)
    noise = rng.standard_normal(t.size) * 0.2 * (np.sin(2 * np.pi * 2.0 * t) > 0)  # 2 Hz bursts
    clips = {"synth_tone.wav": tone, "synth_chirp.wav": chirp, "synth_noise_bursts.wav": noise}
    paths = []
    for name, x in clips.items():
        path = out_dir / name
        with atomic_file(path) as tmp:
            sf.write(str(tmp), np.clip(x * fade, -1, 1).astype(np.float32), sr, subtype="PCM_16", format="WAV")
        paths.append(path)
    return paths
