#!/usr/bin/env python
"""Build a small real downstream set from ../shared/audio/cc0_animals.

Each recording is cut into non-overlapping 1-second segments (16-bit WAV at the source
rate) written as ``OUT/<animal>/<animal>_<k>.wav`` -- the folder-per-class layout that
``edgel3-mote evaluate --dataset folder`` reads. Animals with fewer segments than folds
are left out (a class must reach every fold). Limits, stated in the report: ten
recordings only, so segments of one class come from ONE recording (same animal, same
session) -- folds separate segments, not recordings, and accuracy is optimistic.

    python tools/make_animal_segments.py ../shared/audio/cc0_animals build/animals --folds 3
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("clips", type=Path, help="folder of recordings (one animal per file, named <animal>.*)")
    ap.add_argument("out", type=Path, help="output folder (folder-per-class layout)")
    ap.add_argument("--folds", type=int, default=3, help="classes need at least this many segments")
    ap.add_argument("--seconds", type=float, default=1.0, help="segment length")
    args = ap.parse_args(argv)

    import soundfile as sf

    import edgel3_mote  # noqa: F401
    from edgel3_mote.atomic import atomic_dir
    from edgel3_mote.compress.audio import read_audio

    files = sorted(p for p in args.clips.iterdir() if p.suffix.lower() in (".mp3", ".wav", ".flac", ".ogg"))
    if not files:
        print(f"make_animal_segments: error: no audio in {args.clips}", file=sys.stderr)
        return 2
    kept, dropped = {}, {}
    with atomic_dir(args.out) as tmp:
        for f in files:
            audio, sr = read_audio(f)
            if audio.ndim == 2:
                audio = audio.mean(axis=1)
            n = int(round(args.seconds * sr))
            count = len(audio) // n
            if count < args.folds:
                dropped[f.stem] = count
                continue
            (tmp / f.stem).mkdir()
            for k in range(count):
                seg = np.clip(audio[k * n : (k + 1) * n], -1, 1)
                sf.write(tmp / f.stem / f"{f.stem}_{k}.wav", seg, sr, subtype="PCM_16")
            kept[f.stem] = count
    print(f"wrote {sum(kept.values())} segments of {args.seconds:g} s in {len(kept)} classes to {args.out}: {kept}")
    if dropped:
        print(f"left out (fewer than {args.folds} segments): {dropped}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
