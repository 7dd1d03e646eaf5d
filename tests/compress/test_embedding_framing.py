"""frame_audio: the one framing everything uses; input validation of the embedding API."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import edgel3_mote  # noqa: F401
from edgel3_mote.compress.embedding import EdgeL3MoteWarning, frame_audio, get_embedding
from edgel3_mote.errors import InvalidInputError


def expected_frames(n, window, hop, center):
    """edgel3's rule, written out independently: centre pad, end pad, then count."""
    if center:
        n += window // 2
    if n < window:
        n_padded = window
    else:
        n_padded = window + int(np.ceil((n - window) / hop)) * hop
    return 1 + (n_padded - window) // hop


@pytest.mark.parametrize("n", [1, 3999, 4000, 8000, 8001, 12345, 40000])
@pytest.mark.parametrize("hop_size", [0.1, 0.25, 1.0, 0.0125])
@pytest.mark.parametrize("center", [True, False])
def test_frame_count_formula(n, hop_size, center):
    audio = np.random.default_rng(n).uniform(-1, 1, n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EdgeL3MoteWarning)
        frames, ts = frame_audio(audio, 8000, "sea-64", center=center, hop_size=hop_size)
    hop = int(round(hop_size * 8000))
    assert frames.shape == (expected_frames(n, 8000, hop, center), 8000)
    assert frames.dtype == np.float32
    np.testing.assert_allclose(ts, np.arange(len(frames)) * hop_size)
    # Every sample is seen, in place: window t starts at t*hop in the (centred) signal.
    offset = 4000 if center else 0
    t = len(frames) - 1
    start = t * hop - offset
    seen = frames[t][max(0, -start) : min(8000, n - start)]
    np.testing.assert_array_equal(seen, audio[max(0, start) : start + 8000].astype(np.float32)[: len(seen)])
    assert start + 8000 >= n  # the last window reaches the end


def test_centering_puts_the_first_sample_mid_window():
    audio = np.arange(1, 8001, dtype=np.float64) / 8000
    frames, _ = frame_audio(audio, 8000, "sea-64", center=True, hop_size=0.5)
    assert np.all(frames[0][:4000] == 0) and frames[0][4000] == np.float32(audio[0])
    frames, _ = frame_audio(audio, 8000, "sea-64", center=False, hop_size=0.5)
    assert frames[0][0] == np.float32(audio[0]) and len(frames) == 1


def test_resampling_and_downmix():
    sr = 16000
    t = np.arange(2 * sr) / sr
    tone = 0.5 * np.sin(2 * np.pi * 440 * t)
    stereo = np.stack([tone, -tone + 0.2], axis=1)  # (n, channels) as soundfile reads
    frames, ts = frame_audio(stereo, sr, "sea-64", center=False, hop_size=1.0)
    assert frames.shape == (2, 8000)  # resampled to 8 kHz
    np.testing.assert_allclose(frames[0][1000:7000], 0.1, atol=2e-3)  # (x + (-x + .2)) / 2
    frames, _ = frame_audio(tone, sr, "l3-melspec2", center=False, hop_size=1.0)
    assert frames.shape == (2, 48000)
    spectrum = np.abs(np.fft.rfft(frames[0]))
    assert abs(int(np.argmax(spectrum)) - 440) <= 1  # 1 Hz bins: the tone survives
    ints = (tone * 32767).astype(np.int16)  # PCM integers are scaled to [-1, 1]
    frames, _ = frame_audio(ints, sr, "sea-64", center=False, hop_size=1.0)
    assert np.abs(frames).max() < 0.6


def test_warnings_for_silence_and_short_audio():
    with pytest.warns(EdgeL3MoteWarning, match="all zeros"):
        frame_audio(np.zeros(16000), 8000, "sea-64")
    with pytest.warns(EdgeL3MoteWarning, match="shorter than one window"):
        frames, _ = frame_audio(np.ones(100) * 0.1, 8000, "sea-64", center=False)
    assert frames.shape == (1, 8000)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(audio=np.zeros(0)), "empty audio"),
        (dict(audio=np.zeros((2, 3, 4))), "dimensions"),
        (dict(audio=np.array([0.1, np.nan])), "NaN"),
        (dict(audio=np.array(["a", "b"])), "numeric"),
        (dict(hop_size=0), "hop size"),
        (dict(hop_size=-0.1), "hop size"),
        (dict(hop_size="0.1"), "hop size"),
        (dict(hop_size=float("nan")), "hop size"),
        (dict(hop_size=1e-6), "below one sample"),
        (dict(sr=0), "sample rate"),
        (dict(sr=-8000), "sample rate"),
        (dict(sr=8000.5), "sample rate"),
        (dict(center="yes"), "center"),
        (dict(spec="sea-65"), "unknown model"),
    ],
)
def test_invalid_inputs_raise_clear_errors(kwargs, match):
    args = dict(audio=np.ones(8000) * 0.1, sr=8000, spec="sea-64", center=True, hop_size=0.1)
    args.update(kwargs)
    with pytest.raises(InvalidInputError, match=match):
        frame_audio(args["audio"], args["sr"], args["spec"], center=args["center"], hop_size=args["hop_size"])


def test_get_embedding_validates_before_building_a_model():
    audio = np.ones(8000) * 0.1
    with pytest.raises(InvalidInputError, match="empty audio"):
        get_embedding(np.zeros(0), 8000)
    with pytest.raises(InvalidInputError, match="batch size"):
        get_embedding(audio, 8000, batch_size=0)
    with pytest.raises(InvalidInputError, match="invalid model"):
        get_embedding(audio, 8000, model=object())
    with pytest.raises(InvalidInputError, match="not an embedding model"):
        get_embedding(audio, 8000, model="l3-avc")
    with pytest.raises(InvalidInputError, match="unknown model"):
        get_embedding(audio, 8000, model="openl3")
