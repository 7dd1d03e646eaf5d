"""The real SEA-64 weights embed the ten real clips: finite 64-d embeddings, one per window."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import soundfile as sf

import edgel3_mote  # noqa: F401
from edgel3_mote.compress.audio import read_audio
from edgel3_mote.compress.embedding import EdgeL3MoteWarning, get_embedding, process_file
from edgel3_mote.compress.models.registry import build_model

HOP = 0.5


def test_real_weights_embed_every_real_clip(sea64_weights, clip_paths, tmp_path):
    model = build_model("sea-64", weights=sea64_weights)
    with warnings.catch_warnings():
        warnings.simplefilter("error", EdgeL3MoteWarning)  # real weights: nothing to warn about
        warnings.filterwarnings("ignore", message=r"audio of .*sheep.mp3 is shorter", category=EdgeL3MoteWarning)
        outputs = process_file(clip_paths, output_dir=tmp_path, model=model, hop_size=HOP, batch_size=64)
    assert [p.name for p in outputs] == [p.stem + ".npz" for p in clip_paths]
    means = []
    for clip, out in zip(clip_paths, outputs):
        with np.load(out) as data:
            emb, ts = data["embedding"], data["timestamps"]
        n = math.ceil(sf.info(str(clip)).frames * 8000 / sf.info(str(clip)).samplerate)
        # centred: 4000 zeros first; windows every 4000 samples until every sample is seen
        expected = 1 + max(0, math.ceil((n + 4000 - 8000) / 4000))
        assert emb.shape == (expected, 64), clip.name
        assert emb.dtype == np.float32 and np.all(np.isfinite(emb)), clip.name
        np.testing.assert_allclose(ts, np.arange(expected) * HOP)
        assert np.all(emb >= 0)  # global max-pool of a ReLU output
        means.append(emb.mean(axis=0))
    means = np.array(means)
    # Different animals give different embeddings (a dead or constant network would not).
    distances = np.linalg.norm(means[:, None] - means[None], axis=-1)[np.triu_indices(10, 1)]
    assert distances.min() > 1e-3 and np.std(means) > 1e-3

    # get_embedding with the same Keras model gives the same numbers as process_file.
    audio, sr = read_audio(clip_paths[-1])  # sheep: 0.9 s, shorter than a window
    with pytest.warns(EdgeL3MoteWarning, match="shorter than one window"):
        emb, ts = get_embedding(audio, sr, model=model, hop_size=HOP, batch_size=3)
    with np.load(outputs[-1]) as data:
        np.testing.assert_allclose(emb, data["embedding"], rtol=1e-5, atol=1e-5)
