"""Training inputs: audio clips cut into model windows, and a resumable tf.data pipeline.

The shuffling order of epoch ``e`` is a pure function of ``(seed, e)``, so a run resumed at
epoch ``k`` sees exactly the batches an uninterrupted run would have seen from epoch ``k`` on
(tf.data's own reshuffling restarts its sequence when the iterator is rebuilt).
"""
from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Sequence

import numpy as np

from edgel3_mote.errors import InvalidInputError


@dataclasses.dataclass
class ClipWindows:
    """Model windows of a set of clips: ``frames (N, window)`` at the model rate."""

    frames: np.ndarray
    clip_index: np.ndarray          # (N,) index into ``paths``
    timestamps: np.ndarray          # (N,) seconds
    paths: list[str]

    def __len__(self) -> int:
        return int(self.frames.shape[0])

    def subset(self, clip_ids: Sequence[int]) -> "ClipWindows":
        keep = np.isin(self.clip_index, list(clip_ids))
        return ClipWindows(self.frames[keep], self.clip_index[keep], self.timestamps[keep], self.paths)

    def fingerprint(self) -> str:
        """sha256 of the frames: keys caches of teacher targets computed from them."""
        return hashlib.sha256(np.ascontiguousarray(self.frames).tobytes()).hexdigest()

    def model_inputs(self) -> np.ndarray:
        """``(N, 1, window)``: the audio models' (channels-first mono) input."""
        return self.frames[:, None, :]


def clip_windows(paths: Sequence[str | Path], model_name: str, hop_size: float = 0.1,
                 center: bool = True, max_windows_per_clip: int | None = None,
                 progress: bool = True) -> ClipWindows:
    """Decode each clip (soundfile / librosa / ffmpeg), resample, cut into model windows."""
    import warnings

    from tqdm import tqdm

    from edgel3_mote.compress.audio import find_audio_files, read_audio
    from edgel3_mote.compress.embedding import frame_audio

    files = find_audio_files(paths, what="training clip")
    frames, index, stamps = [], [], []
    for i, path in enumerate(tqdm(files, desc="decoding clips", unit="clip", disable=not progress)):
        audio, sr = read_audio(path)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # short clips are padded: fine for training
            f, t = frame_audio(audio, sr, model_name, center=center, hop_size=hop_size)
        if max_windows_per_clip:
            f, t = f[:max_windows_per_clip], t[:max_windows_per_clip]
        frames.append(f)
        index.append(np.full(len(f), i, dtype=np.int32))
        stamps.append(t)
    return ClipWindows(np.concatenate(frames).astype(np.float32), np.concatenate(index),
                       np.concatenate(stamps), [str(p) for p in files])


def split_clips(n_clips: int, val_fraction: float, seed: int = 0) -> tuple[list[int], list[int]]:
    """Split clip ids (not windows: no clip in both) into train and validation."""
    if not 0.0 <= val_fraction < 1.0:
        raise InvalidInputError(f"validation fraction must be in [0, 1), got {val_fraction}")
    order = np.random.default_rng(seed).permutation(n_clips)
    n_val = int(round(val_fraction * n_clips))
    if val_fraction > 0 and n_clips > 1:
        n_val = max(1, min(n_val, n_clips - 1))
    return sorted(order[n_val:].tolist()), sorted(order[:n_val].tolist())


def epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    """The shuffled sample order of one epoch (depends only on seed and epoch)."""
    return np.random.default_rng([int(seed), int(epoch)]).permutation(n)


def steps_per_epoch(n: int, batch_size: int) -> int:
    return -(-n // batch_size)


def epoch_dataset(inputs, targets, batch_size: int, seed: int, first_epoch: int, last_epoch: int,
                  shuffle: bool = True):
    """tf.data over epochs ``[first_epoch, last_epoch)``: per-epoch shuffled batches, prefetched.

    ``inputs`` is an array or a tuple of arrays (a multi-input model), ``targets`` an array.

    ``model.fit(ds, steps_per_epoch=steps_per_epoch(n, batch_size), initial_epoch=first_epoch,
    epochs=last_epoch)`` consumes exactly one epoch of batches per Keras epoch.
    """
    import tensorflow as tf

    several = isinstance(inputs, (tuple, list))
    n = len(inputs[0]) if several else len(inputs)
    if n == 0:
        raise InvalidInputError("no training windows: give longer or more clips")
    if last_epoch <= first_epoch:
        last_epoch = first_epoch + 1
    orders = np.stack([epoch_order(n, seed, e) if shuffle else np.arange(n)
                       for e in range(first_epoch, last_epoch)]).astype(np.int64)
    x = tuple(tf.constant(a) for a in inputs) if several else tf.constant(inputs)
    y = tf.constant(targets)
    ds = tf.data.Dataset.from_tensor_slices(orders)
    ds = ds.flat_map(lambda order: tf.data.Dataset.from_tensor_slices(order).batch(batch_size))

    def gather(idx):
        xs = tuple(tf.gather(a, idx) for a in x) if several else tf.gather(x, idx)
        return xs, tf.gather(y, idx)

    ds = ds.map(gather,
                num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options).prefetch(tf.data.AUTOTUNE)


def inference_dataset(inputs, batch_size: int):
    import tensorflow as tf

    return tf.data.Dataset.from_tensor_slices(inputs).batch(batch_size).prefetch(tf.data.AUTOTUNE)


# --- AudioSet-format segments ------------------------------------------------------------------

def load_segment_audio(segment, sr: int) -> np.ndarray:
    """Mono float32 audio of a matched segment, resampled to ``sr`` (ffmpeg seeks in videos)."""
    from edgel3_mote.compress.data.media import VIDEO_EXTENSIONS, load_audio, read_audio_ffmpeg

    if segment.media is None:
        raise InvalidInputError(f"segment {segment.ytid} has no local media: match it first")
    if Path(segment.media).suffix.lower() in VIDEO_EXTENSIONS:
        return read_audio_ffmpeg(segment.media, sr, segment.offset, segment.duration)[0]
    return load_audio(segment.media, sr, segment.offset, segment.duration)


def segment_windows(segments, model_name: str, hop_size: float = 0.5, center: bool = False,
                    progress: bool = True) -> ClipWindows:
    """Model windows of matched AudioSet segments (``paths`` = one entry per segment)."""
    import warnings

    from tqdm import tqdm

    from edgel3_mote.compress.embedding import frame_audio
    from edgel3_mote.compress.models.registry import get_spec

    spec = get_spec(model_name)
    frames, index, stamps = [], [], []
    for i, seg in enumerate(tqdm(segments, desc="decoding segments", unit="seg", disable=not progress)):
        audio = load_segment_audio(seg, spec.frontend.sr)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            f, t = frame_audio(audio, spec.frontend.sr, spec, center=center, hop_size=hop_size)
        frames.append(f)
        index.append(np.full(len(f), i, dtype=np.int32))
        stamps.append(t + seg.start)
    if not frames:
        raise InvalidInputError("no segments to decode: check the label filters and media folders")
    return ClipWindows(np.concatenate(frames), np.concatenate(index), np.concatenate(stamps),
                       [f"{s.media}@{s.start:.3f}" for s in segments])


def streaming_dataset(segments, model_name: str, batch_size: int, seed: int = 0,
                      shuffle_buffer: int = 256, hop_size: float = 1.0, labels: Sequence[str] = ()):
    """tf.data that decodes segments on the fly: shuffled windows (+ multi-hot labels), prefetched.

    For sets too large to hold in memory; decoding runs in tf.data's input threads.
    """
    import tensorflow as tf

    from edgel3_mote.compress.models.registry import get_spec

    spec = get_spec(model_name)
    window = int(spec.window_samples)
    label_index = {mid: i for i, mid in enumerate(labels)}

    def generate():
        for seg in segments:
            one = segment_windows([seg], model_name, hop_size, progress=False)
            target = np.zeros(len(label_index), np.float32)
            for mid in seg.labels:
                if mid in label_index:
                    target[label_index[mid]] = 1.0
            for frame in one.frames:
                yield frame[None, :], target

    ds = tf.data.Dataset.from_generator(generate, output_signature=(
        tf.TensorSpec((1, window), tf.float32), tf.TensorSpec((len(label_index),), tf.float32)))
    return ds.shuffle(shuffle_buffer, seed=seed).batch(batch_size).prefetch(tf.data.AUTOTUNE)
