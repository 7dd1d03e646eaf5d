"""AVC fine-tuning on a tiny real ffmpeg dataset: vision frozen, masked audio keeps its zeros."""

import numpy as np
import pytest
import tf_keras as keras

import edgel3_mote  # noqa: F401
from edgel3_mote.compress.data import audioset, synthetic
from edgel3_mote.compress.frontend import SEA_FRONTEND
from edgel3_mote.compress.models.avc import build_avc_model
from edgel3_mote.compress.models.l3 import build_audio_network
from edgel3_mote.compress.models.vision import build_vision_model
from edgel3_mote.compress.pruning import layerwise
from edgel3_mote.compress.pruning.masked import MaskedConv2D
from edgel3_mote.compress.retrain import finetune as F
from edgel3_mote.compress.retrain.distill import TrainConfig


@pytest.fixture(scope="module")
def segments(tmp_path_factory):
    root = tmp_path_factory.mktemp("avc")
    csv_path = synthetic.make_test_videos(root, n_videos=3, seconds=3.0)
    matched, missing = audioset.match_media(audioset.read_segments(csv_path), [root / "media"])
    assert not missing
    return matched


def tiny_avc():
    keras.utils.set_random_seed(0)
    vision = build_vision_model(num_filters=[2] * 8)
    audio = build_audio_network(
        SEA_FRONTEND, num_filters=[2, 2, 4, 4, 4, 4, 8, 8], conv_cls=MaskedConv2D, embedding_bn=True, pool_size=None
    )
    layerwise.prune_one_shot(audio, [0.0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5])
    return build_avc_model(vision, audio, hidden_units=8, compile=False)


def test_avc_pairs_are_balanced_and_correspond(segments):
    pairs = F.make_avc_pairs(segments, 8, sr=8000, seed=0, progress=False)
    assert pairs.images.shape == (8, 224, 224, 3) and pairs.audio.shape == (8, 1, 8000)
    assert pairs.labels[:, 1].sum() == 4
    for (a_vid, a_t, f_vid, f_t), label in zip(pairs.sources, pairs.labels):
        assert (a_vid == f_vid and a_t == f_t) == bool(label[1])
    assert -1.0 <= pairs.images.min() and pairs.images.max() <= 1.0 and np.abs(pairs.audio).max() > 0.05


def test_finetune_freezes_vision_and_keeps_audio_zeros(segments, tmp_path):
    train = F.make_avc_pairs(segments, 8, sr=8000, seed=0, progress=False)
    config = TrainConfig(epochs=1, batch_size=4, learning_rate=1e-2, tensorboard=False, verbose=0)
    holder = {}

    def models():
        holder["avc"] = tiny_avc()
        holder["audio_before"] = [
            c.kernel.numpy().copy() for c in layerwise.conv_layers(holder["avc"].get_layer("audio_model"))
        ]
        return holder["avc"]

    result = F.finetune(models, train, tmp_path / "ft", config)
    assert result["vision_unchanged"] and result["epochs_run"] == 1
    audio = result["model"].get_layer("audio_model")
    changed = False
    for conv, before in zip(layerwise.conv_layers(audio), holder["audio_before"]):
        kernel, mask = conv.kernel.numpy(), conv.kernel_mask.numpy()
        assert np.all(kernel[mask == 0] == 0.0)
        changed |= not np.array_equal(kernel, before)
    assert changed
    assert (tmp_path / "ft" / "checkpoints" / "state.json").exists()
