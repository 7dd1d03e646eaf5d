"""The corpus pipeline: decode + resample once to an int16 cache, seeded random crops per epoch, augmentation."""

from __future__ import annotations

import numpy as np
import pytest

import edgel3_mote  # noqa: F401
from edgel3_mote.compress.data import pipeline
from edgel3_mote.compress.data.media import load_audio
from edgel3_mote.errors import InvalidInputError


@pytest.fixture(scope="module")
def cache(clip_paths, tmp_path_factory):
    return pipeline.decode_to_cache(clip_paths[:3], 8000, tmp_path_factory.mktemp("audio"), progress=False)


def test_decoded_once_to_the_cache_equal_to_the_reader(cache, clip_paths):
    assert len(list(cache.arrays)) == 3 and all(a.dtype == np.int16 for a in cache.arrays)
    reference = load_audio(clip_paths[1], 8000)  # the one audio reader, resampled with soxr
    np.testing.assert_allclose(cache.arrays[1] / 32768.0, reference, atol=1.0 / 32768 + 1e-7)
    cache_dir = cache_dir_of(cache)
    before = {p: p.stat().st_mtime_ns for p in cache_dir.iterdir()}
    again = pipeline.decode_to_cache(clip_paths[:3], 8000, cache_dir, progress=False)
    assert {p: p.stat().st_mtime_ns for p in cache_dir.iterdir()} == before  # read, not decoded again
    assert again.seconds() == pytest.approx(cache.seconds())


def cache_dir_of(cache):
    from pathlib import Path

    return Path(cache.arrays[0].filename).parent


def test_crops_are_seeded_per_epoch_and_come_from_the_audio(cache):
    source = pipeline.CropSource(cache, 8000, 16)
    a, b, c = source.epoch_crops(0, 3), source.epoch_crops(0, 3), source.epoch_crops(0, 4)
    assert a.shape == (16, 8000) and np.array_equal(a, b) and not np.array_equal(a, c)
    # without augmentation every crop is a slice of one decoded file
    pcm = [np.asarray(x, np.float32) / 32768.0 for x in cache.arrays]
    for crop in a[:4]:
        assert any(_contains(p, crop) for p in pcm)
    batches = list(source.dataset(4, 0, 3, 5).as_numpy_iterator())
    assert len(batches) == 2 * source.steps_per_epoch(4) and batches[0].shape == (4, 1, 8000)
    np.testing.assert_array_equal(np.concatenate(batches[:4])[:, 0], a)  # epoch 3 first, in order


def _contains(audio: np.ndarray, crop: np.ndarray) -> bool:
    hits = np.flatnonzero(np.isclose(audio[: audio.size - crop.size + 1], crop[0], atol=0))
    return any(np.array_equal(audio[h : h + crop.size], crop) for h in hits[:2000])


def test_augmentation_gain_mix_noise(cache):
    plain = pipeline.CropSource(cache, 8000, 64)
    gain_only = pipeline.CropSource(
        cache, 8000, 64, pipeline.Augmentation(gain_db=6, mix_probability=0, noise_probability=0)
    )
    x, y = plain.epoch_crops(1, 0), gain_only.epoch_crops(1, 0)
    loud = np.abs(x).max(1) > 1e-3
    ratio = np.abs(y[loud]).max(1) / np.abs(x[loud]).max(1)
    assert np.all(ratio <= 10 ** (6 / 20) + 1e-3) and np.all(ratio >= 10 ** (-6 / 20) - 1e-3)
    assert ratio.std() > 0.05  # gains differ crop to crop
    noisy = pipeline.CropSource(
        cache, 8000, 64, pipeline.Augmentation(gain_db=0, mix_probability=0, noise_probability=1, snr_db=(20, 20))
    )
    z = noisy.epoch_crops(1, 0)
    power = np.mean(x[loud].astype(np.float64) ** 2, 1)
    snr = 10 * np.log10(power / np.mean((z[loud] - x[loud]).astype(np.float64) ** 2, 1))
    assert np.median(snr) == pytest.approx(20, abs=0.5)
    mixed = pipeline.CropSource(
        cache, 8000, 64, pipeline.Augmentation(gain_db=0, mix_probability=1, noise_probability=0)
    )
    assert not np.array_equal(mixed.epoch_crops(1, 0), x)
    with pytest.raises(InvalidInputError):
        pipeline.CropSource(cache, 8000, 4, pipeline.Augmentation(snr_db=(30, 10)))


def test_balanced_crops_give_every_package_the_same_share():
    """Three 'packages' of 1, 4 and 45 minutes: by length the long one is 90 % of the crops;
    balanced, each is a third (counted over drawn crops), and within a package files go by length."""
    sr, window = 100, 100
    lengths = {"short": [60 * sr], "mid": [120 * sr, 120 * sr], "long": [45 * 60 * sr]}
    arrays, index = [], []
    for k, sizes in enumerate(lengths.values()):
        for n in sizes:
            arrays.append(np.full(n, k + 1, np.int16))  # the value names the package
            index.append(k)
    cache = pipeline.AudioCache([f"f{i}" for i in range(len(arrays))], arrays, sr)
    index = np.array(index)
    assert pipeline.group_shares(cache, index)[2] == pytest.approx(0.9)
    weights = pipeline.balanced_weights(cache, index)
    assert pipeline.group_shares(cache, index, weights) == pytest.approx([1 / 3] * 3)
    assert weights[1] == pytest.approx(weights[2])
    crops = pipeline.CropSource(cache, window, 3000, None, weights).epoch_crops(0, 0)
    which = np.round(crops[:, 0] * 32768).astype(int)
    counts = np.bincount(which, minlength=4)[1:] / len(crops)
    assert np.all(np.abs(counts - 1 / 3) < 0.04) and counts.max() < 0.3 + 0.07
    with pytest.raises(InvalidInputError):
        pipeline.CropSource(cache, window, 10, None, np.ones(4))


def test_validation_cosine_per_package_and_balanced():
    import tf_keras as keras

    from edgel3_mote.compress.retrain.distill import evaluate_embeddings

    rng = np.random.default_rng(0)
    x = rng.standard_normal((9, 4)).astype(np.float32)
    targets = x.copy()
    targets[6:] = -x[6:]  # package c: cosine -1; a and b: +1
    model = keras.Sequential([keras.Input((4,)), keras.layers.Lambda(lambda t: t)])
    windows = pipeline.ClipWindows(x, np.repeat(np.arange(3, dtype=np.int32), 3), np.zeros(9), ["a", "b", "c"])
    out = evaluate_embeddings(model, x, targets, windows)
    assert out["cosine_per_package"] == pytest.approx({"a": 1.0, "b": 1.0, "c": -1.0}, abs=1e-5)
    assert out["cosine_balanced"] == pytest.approx(1 / 3, abs=1e-5)
