"""Training inputs: audio clips cut into model windows, and a resumable tf.data pipeline.

The shuffling order of epoch ``e`` is a pure function of ``(seed, e)``, so a run resumed at
epoch ``k`` sees exactly the batches an uninterrupted run would have seen from epoch ``k`` on
(tf.data's own reshuffling restarts its sequence when the iterator is rebuilt).
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from edgel3_mote.errors import InvalidInputError

if TYPE_CHECKING:
    import tensorflow as tf

    from edgel3_mote.compress.data.audioset import Segment


@dataclasses.dataclass
class ClipWindows:
    """Model windows of a set of clips: ``frames (N, window)`` at the model rate."""

    frames: np.ndarray
    clip_index: np.ndarray  # (N,) index into ``paths``
    timestamps: np.ndarray  # (N,) seconds
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


def clip_windows(
    paths: Sequence[str | Path],
    model_name: str,
    hop_size: float = 0.1,
    center: bool = True,
    max_windows_per_clip: int | None = None,
    progress: bool = True,
) -> ClipWindows:
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
    return ClipWindows(
        np.concatenate(frames).astype(np.float32),
        np.concatenate(index),
        np.concatenate(stamps),
        [str(p) for p in files],
    )


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


def epoch_dataset(
    inputs: np.ndarray | Sequence[np.ndarray],
    targets: np.ndarray,
    batch_size: int,
    seed: int,
    first_epoch: int,
    last_epoch: int,
    shuffle: bool = True,
) -> tf.data.Dataset:
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
    orders = np.stack(
        [epoch_order(n, seed, e) if shuffle else np.arange(n) for e in range(first_epoch, last_epoch)]
    ).astype(np.int64)
    x = tuple(tf.constant(a) for a in inputs) if several else tf.constant(inputs)
    y = tf.constant(targets)
    ds = tf.data.Dataset.from_tensor_slices(orders)
    ds = ds.flat_map(lambda order: tf.data.Dataset.from_tensor_slices(order).batch(batch_size))

    def gather(idx):
        xs = tuple(tf.gather(a, idx) for a in x) if several else tf.gather(x, idx)
        return xs, tf.gather(y, idx)

    ds = ds.map(gather, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options).prefetch(tf.data.AUTOTUNE)


def inference_dataset(inputs: np.ndarray | Sequence[np.ndarray], batch_size: int) -> tf.data.Dataset:
    import tensorflow as tf

    return tf.data.Dataset.from_tensor_slices(inputs).batch(batch_size).prefetch(tf.data.AUTOTUNE)


# --- AudioSet-format segments ------------------------------------------------------------------


def load_segment_audio(segment: Segment, sr: int) -> np.ndarray:
    """Mono float32 audio of a matched segment, resampled to ``sr`` (ffmpeg seeks in videos)."""
    from edgel3_mote.compress.data.media import VIDEO_EXTENSIONS, load_audio, read_audio_ffmpeg

    if segment.media is None:
        raise InvalidInputError(f"segment {segment.ytid} has no local media: match it first")
    if Path(segment.media).suffix.lower() in VIDEO_EXTENSIONS:
        return read_audio_ffmpeg(segment.media, sr, segment.offset, segment.duration)[0]
    return load_audio(segment.media, sr, segment.offset, segment.duration)


def segment_windows(
    segments: Sequence[Segment], model_name: str, hop_size: float = 0.5, center: bool = False, progress: bool = True
) -> ClipWindows:
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
    return ClipWindows(
        np.concatenate(frames),
        np.concatenate(index),
        np.concatenate(stamps),
        [f"{s.media}@{s.start:.3f}" for s in segments],
    )


def streaming_dataset(
    segments: Sequence[Segment],
    model_name: str,
    batch_size: int,
    seed: int = 0,
    shuffle_buffer: int = 256,
    hop_size: float = 1.0,
    labels: Sequence[str] = (),
) -> tf.data.Dataset:
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

    ds = tf.data.Dataset.from_generator(
        generate,
        output_signature=(tf.TensorSpec((1, window), tf.float32), tf.TensorSpec((len(label_index),), tf.float32)),
    )
    return ds.shuffle(shuffle_buffer, seed=seed).batch(batch_size).prefetch(tf.data.AUTOTUNE)


# --- a corpus larger than memory: decoded once to a cache, random crops, augmentation -----------


@dataclasses.dataclass
class AudioCache:
    """Mono audio of a set of files at one rate, decoded and resampled once to ``<cache>/<key>.npy``
    (int16, memory-mapped): later epochs and reruns read it without decoding."""

    paths: list[str]
    arrays: list[np.ndarray]  # (n,) int16, memory-mapped
    sr: int

    def seconds(self) -> float:
        return float(sum(a.size for a in self.arrays)) / self.sr


def _cache_key(path: Path, sr: int) -> str:
    stat = path.stat()
    return hashlib.sha256(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{sr}".encode()).hexdigest()[:24]


def decode_to_cache(paths: Sequence[str | Path], sr: int, cache_dir: str | Path, progress: bool = True) -> AudioCache:
    """Decode + resample each file once (soundfile/librosa/ffmpeg, soxr) into ``cache_dir``."""
    from tqdm import tqdm

    from edgel3_mote.atomic import atomic_file
    from edgel3_mote.compress.audio import find_audio_files
    from edgel3_mote.compress.data.media import load_audio

    files = find_audio_files(paths, what="training audio")
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    arrays = []
    for path in tqdm(files, desc=f"decoding to {cache_dir.name} at {sr} Hz", unit="file", disable=not progress):
        target = cache_dir / f"{_cache_key(Path(path), sr)}.npy"
        if not target.exists():
            audio = load_audio(path, sr)
            pcm = np.clip(np.round(audio * 32768.0), -32768, 32767).astype(np.int16)
            with atomic_file(target, suffix=".npy") as tmp:
                np.save(tmp, pcm)
        arrays.append(np.load(target, mmap_mode="r"))
    return AudioCache([str(p) for p in files], arrays, int(sr))


@dataclasses.dataclass
class Augmentation:
    """Per-crop augmentation: random gain, mixing with a second crop, additive white noise."""

    gain_db: float = 6.0  # gain uniform in [-gain_db, +gain_db]
    mix_probability: float = 0.5  # add a second random crop ...
    mix_db: tuple[float, float] = (-12.0, 0.0)  # ... at this level relative to the first
    noise_probability: float = 0.5  # add white noise ...
    snr_db: tuple[float, float] = (10.0, 40.0)  # ... at this SNR

    def check(self) -> None:
        if self.gain_db < 0 or not 0 <= self.mix_probability <= 1 or not 0 <= self.noise_probability <= 1:
            raise InvalidInputError("augmentation: gain >= 0 dB and probabilities in [0, 1]")
        for lo, hi in (self.mix_db, self.snr_db):
            if lo > hi:
                raise InvalidInputError(f"augmentation range ({lo}, {hi}) is reversed: give (low, high)")


@dataclasses.dataclass
class CropSource:
    """Training windows drawn at random from a decoded corpus: ``crops_per_epoch`` 1-s crops per
    epoch, files weighted by length, each crop augmented. Epoch ``e``'s crops depend only on
    ``(seed, e)``, so a resumed run sees exactly the crops an uninterrupted run would."""

    cache: AudioCache
    window: int
    crops_per_epoch: int
    augmentation: Augmentation | None = None

    def __post_init__(self):
        if self.crops_per_epoch < 1:
            raise InvalidInputError(f"crops per epoch must be >= 1, got {self.crops_per_epoch}")
        if self.augmentation is not None:
            self.augmentation.check()

    def __len__(self) -> int:
        return self.crops_per_epoch

    def _crop(self, rng: np.random.Generator, lengths: np.ndarray) -> np.ndarray:
        i = int(rng.choice(len(lengths), p=lengths / lengths.sum()))
        audio = self.cache.arrays[i]
        start = int(rng.integers(0, max(audio.size - self.window, 0) + 1))
        crop = np.zeros(self.window, np.float32)
        piece = np.asarray(audio[start : start + self.window], dtype=np.float32) / 32768.0
        crop[: piece.size] = piece
        return crop

    def epoch_crops(self, seed: int, epoch: int) -> np.ndarray:
        """``(crops_per_epoch, window)`` float32: the (augmented) training crops of one epoch.

        Where the crops are cut and how they are augmented come from two RNG streams, so the
        same crops are cut with or without augmentation."""
        return self._crops([int(seed), int(epoch), 0x63726F70], self.crops_per_epoch, self.augmentation)

    def fixed_crops(self, n: int, seed: int) -> np.ndarray:
        """``(n, window)``: crops without augmentation, apart from every epoch's (for evaluation)."""
        return self._crops([int(seed), 0x6576616C], n, None)

    def _crops(self, key: list[int], n: int, aug: Augmentation | None) -> np.ndarray:
        where, how = np.random.default_rng(key + [0]), np.random.default_rng(key + [1])
        lengths = np.array([max(a.size, 1) for a in self.cache.arrays], dtype=np.float64)
        out = np.empty((n, self.window), np.float32)
        for k in range(n):
            crop = self._crop(where, lengths)
            if aug is not None:
                crop = _augment(crop, how, aug, lambda: self._crop(how, lengths))
            out[k] = crop
        return out

    def dataset(self, batch_size: int, seed: int, first_epoch: int, last_epoch: int) -> tf.data.Dataset:
        """tf.data of ``(batch, 1, window)`` crop batches for epochs ``[first_epoch, last_epoch)``
        (crops of one epoch drawn in an input thread while the previous batches train)."""
        import tensorflow as tf

        last_epoch = max(last_epoch, first_epoch + 1)

        def batches():
            for epoch in range(first_epoch, last_epoch):
                crops = self.epoch_crops(seed, epoch)
                for i in range(0, len(crops), batch_size):
                    yield crops[i : i + batch_size, None, :]

        ds = tf.data.Dataset.from_generator(batches, output_signature=tf.TensorSpec((None, 1, self.window), tf.float32))
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        return ds.with_options(options).prefetch(tf.data.AUTOTUNE)

    def steps_per_epoch(self, batch_size: int) -> int:
        return steps_per_epoch(self.crops_per_epoch, batch_size)


def _augment(crop: np.ndarray, rng: np.random.Generator, aug: Augmentation, other) -> np.ndarray:
    if rng.random() < aug.mix_probability:
        second = other()
        rms = lambda a: float(np.sqrt(np.mean(a.astype(np.float64) ** 2)) + 1e-8)  # noqa: E731
        crop = crop + second * (rms(crop) / rms(second)) * 10 ** (rng.uniform(*aug.mix_db) / 20)
    if rng.random() < aug.noise_probability:
        power = float(np.mean(crop.astype(np.float64) ** 2)) + 1e-10
        sigma = np.sqrt(power / 10 ** (rng.uniform(*aug.snr_db) / 10))
        crop = crop + rng.normal(0.0, sigma, crop.size).astype(np.float32)
    crop = crop * np.float32(10 ** (rng.uniform(-aug.gain_db, aug.gain_db) / 20))
    return np.clip(crop, -1.0, 1.0).astype(np.float32)


def read_corpus_manifest(path: str | Path, split: str) -> list[str]:
    """The files of one split (``train`` / ``val``) of a corpus manifest CSV
    (``tools/make_distill_corpus.py``: columns file, package, ..., split)."""
    import csv

    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(
            f"corpus manifest {path} could not be found: build it with tools/make_distill_corpus.py"
        )
    import io

    from edgel3_mote.errors import read_text

    text = read_text(path, "corpus manifest", "build it with tools/make_distill_corpus.py")
    with io.StringIO(text, newline="") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or not {"file", "split"} <= set(reader.fieldnames):
            raise InvalidInputError(
                f"{path} is not a corpus manifest (needs 'file' and 'split' columns): "
                f"build it with tools/make_distill_corpus.py"
            )
        files = [row["file"] for row in reader if row["split"] == split]
    if not files:
        raise InvalidInputError(f"{path} lists no '{split}' files: check its split column")
    return files
