"""Embedding extraction for a whole dataset, cached per clip and resumable.

An *embedder* is anything with a ``key`` (a string that identifies the model, its weights,
its numeric path -- float or int8 -- and the framing; it names the cache folder) and a
``__call__(audio, sr) -> (embeddings (T, D), timestamps (T,))``. Each clip's frames are
written to ``<cache>/<key>/<clip id>.npz`` atomically, so an interrupted extraction resumes
where it stopped and a finished one costs nothing the second time.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Iterable, Protocol

import numpy as np
from tqdm import tqdm

from edgel3_mote.atomic import atomic_file
from edgel3_mote.compress.audio import read_audio

from .datasets import Clip


class Embedder(Protocol):
    key: str

    def __call__(self, audio: np.ndarray, sr: int) -> tuple[np.ndarray, np.ndarray]: ...


def _cache_name(clip_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "__", clip_id) + ".npz"


def cache_path(cache_dir: str | Path, embedder_key: str, clip: Clip) -> Path:
    return Path(cache_dir) / embedder_key / _cache_name(clip.clip_id)


def load_cached(path: Path) -> np.ndarray | None:
    try:
        with np.load(path) as z:
            return np.asarray(z["embedding"])
    except (FileNotFoundError, OSError, KeyError, ValueError):
        return None  # absent or damaged: recompute


def extract_embeddings(
    clips: Iterable[Clip],
    embedder: Embedder,
    cache_dir: str | Path,
    reader: Callable[[Path], tuple[np.ndarray, int]] = read_audio,
    prefetch: int = 2,
    progress: bool = True,
) -> dict[str, np.ndarray]:
    """Return ``{clip_id: (T, D) embeddings}``, computing only what the cache lacks.

    Audio decoding runs ``prefetch`` files ahead on threads (decoding is I/O and C code);
    the embedder itself runs in this thread, batching frames within a clip.
    """
    clips = list(clips)
    out: dict[str, np.ndarray] = {}
    todo: list[Clip] = []
    for clip in clips:
        cached = load_cached(cache_path(cache_dir, embedder.key, clip))
        if cached is not None:
            out[clip.clip_id] = cached
        else:
            todo.append(clip)
    bar = tqdm(
        total=len(clips),
        initial=len(clips) - len(todo),
        desc=f"embeddings [{embedder.key}]",
        unit="clip",
        disable=not progress,
    )
    with ThreadPoolExecutor(max_workers=max(1, prefetch)) as pool:
        futures = [pool.submit(reader, c.path) for c in todo[:prefetch]]
        for i, clip in enumerate(todo):
            audio, sr = futures[i].result()
            if i + prefetch < len(todo):
                futures.append(pool.submit(reader, todo[i + prefetch].path))
            emb, ts = embedder(audio, sr)
            emb = np.asarray(emb, dtype=np.float32)
            with atomic_file(cache_path(cache_dir, embedder.key, clip), suffix=".npz") as tmp:
                np.savez(tmp, embedding=emb, timestamps=np.asarray(ts, dtype=np.float32))
            out[clip.clip_id] = emb
            bar.update(1)
    bar.close()
    return out
