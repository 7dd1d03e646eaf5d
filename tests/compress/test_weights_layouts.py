"""Weight files in the layouts Keras 2 wrote: AVC single-GPU, AVC multi-GPU, weights-only.

The files are written here with h5py following Keras 2.0's ``save_weights_to_hdf5_group``:
root ``layer_names``; one group per layer with ``weight_names``; a nested model's group lists
its layers' weights with the *trainable ones first* (``Model.weights``); the AVC checkpoints'
auto-numbered names (vision conv2d_1..7, audio conv2d_8..14, batch_normalization_10.. for
the audio network) differ from ours, so those load by position.
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest

import edgel3_mote  # noqa: F401
from edgel3_mote.errors import WeightsError

SMALL = [4, 4, 8, 8, 8, 8, 16, 16]  # narrow widths: the layouts, not the size, are tested


def write_keras2_h5(path, groups, full_model=False):
    """``groups``: [(group name, [(weight name, array), ...])] in layer order."""
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = b"2.0.9"
        f.attrs["backend"] = b"tensorflow"
        root = f.create_group("model_weights") if full_model else f
        if full_model:
            f.attrs["model_config"] = b'{"class_name": "Model"}'
        root.attrs["layer_names"] = [name.encode() for name, _ in groups]
        for name, weights in groups:
            g = root.create_group(name)
            g.attrs["weight_names"] = [w.encode() for w, _ in weights]
            for weight_name, array in weights:
                g.create_dataset(weight_name, data=array)


def original_names(network, conv_offset, bn_offset):
    """Our layer name -> the name Keras 2 auto-numbering gave it inside the AVC model."""
    mapping = {}
    for layer in network.layers:
        n = layer.name
        if n.startswith("conv2d_"):
            mapping[n] = f"conv2d_{int(n.split('_')[1]) + conv_offset}"
        elif n.startswith("batch_normalization_"):
            mapping[n] = f"batch_normalization_{int(n.split('_')[2]) + bn_offset}"
        else:
            mapping[n] = n
    return mapping


def nested_weights(network, names, values):
    """Keras 2 ``Model.weights`` order: trainable weights of all layers, then non-trainable."""

    def entries(trainable):
        out = []
        for layer in network.layers:
            for w in layer.trainable_weights if trainable else layer.non_trainable_weights:
                short = w.name.split("/")[-1]
                out.append((f"{names[layer.name]}/{short}", values[id(w)]))
        return out

    return entries(True) + entries(False)


@pytest.fixture(scope="module")
def avc_pair():
    """(source, target): two small AVC models with different random weights."""
    from edgel3_mote.compress.models.avc import build_avc_model
    from edgel3_mote.compress.models.l3 import build_l3_audio_model
    from edgel3_mote.compress.models.registry import randomize_weights
    from edgel3_mote.compress.models.vision import build_vision_model

    models = []
    for seed in (1, 2):
        model = build_avc_model(
            build_vision_model(num_filters=SMALL),
            build_l3_audio_model(num_filters=SMALL, embedding_bn=True),
            compile=False,
        )
        randomize_weights(model, seed)
        models.append(model)
    return models


@pytest.fixture(scope="module")
def small_audio():
    from edgel3_mote.compress.models.l3 import build_l3_audio_model

    return build_l3_audio_model(num_filters=SMALL)


def _avc_groups(source, multi_gpu):
    values = {id(w): w.numpy() for w in source.weights}
    vision, audio = source.get_layer("vision_model"), source.get_layer("audio_model")
    vision_w = nested_weights(vision, original_names(vision, 0, 0), values)
    audio_w = nested_weights(audio, original_names(audio, 7, 9), values)
    dense = [
        (f"{l.name}/{w.name.split('/')[-1]}", values[id(w)])
        for l in (source.get_layer("dense_1"), source.get_layer("dense_2"))
        for w in l.weights
    ]
    if not multi_gpu:
        return [
            ("input_1", []),
            ("input_2", []),
            ("vision_model", vision_w),
            ("audio_model", audio_w),
            ("concatenate_1", []),
            (dense[0][0].split("/")[0], dense[:2]),
            (dense[2][0].split("/")[0], dense[2:]),
        ]
    # multi_gpu_model: slices, the inner AVC model as one layer, the merged output named dense_2.
    split = lambda entries: (  # noqa: E731
        [e for e in entries if "moving" not in e[0] and "kernels" not in e[0] and "Variable" not in e[0]],
        [e for e in entries if "moving" in e[0] or "kernels" in e[0] or "Variable" in e[0]],
    )
    (vt, vn), (at, an) = split(vision_w), split(audio_w)
    inner = vt + at + dense + vn + an
    lambdas = [(f"lambda_{i}", []) for i in range(1, 9)]
    return [("input_1", []), ("input_2", [])] + lambdas + [("cnn_L3_melspec2", inner), ("dense_2", [])]


@pytest.mark.parametrize("multi_gpu", [False, True], ids=["single-gpu", "multi-gpu"])
def test_avc_checkpoint_layouts_load_every_weight(avc_pair, small_audio, tmp_path, multi_gpu):
    from edgel3_mote.compress.models.registry import randomize_weights
    from edgel3_mote.compress.weights import load_weights

    source, target = avc_pair
    path = tmp_path / "avc.h5"
    write_keras2_h5(path, _avc_groups(source, multi_gpu))
    randomize_weights(target, 2)
    assert not np.array_equal(source.weights[2].numpy(), target.weights[2].numpy())
    report = load_weights(target, path)
    assert report.layout == ("avc-multi-gpu" if multi_gpu else "avc-single-gpu")
    assert report.matched_arrays == report.file_arrays == len(target.weights)
    assert report.modes["audio_model"] == "by-position"  # conv2d_8.. in the file
    assert report.modes["vision_model"] == "by-name"
    assert report.unused_layers == []
    for a, b in zip(source.weights, target.weights):
        assert a.name == b.name
        np.testing.assert_array_equal(a.numpy(), b.numpy())

    # The audio network alone (EdgeL3's embedding model: no BN after conv 8) from the same file.
    audio = small_audio
    randomize_weights(audio, 3)
    report = load_weights(audio, path)
    assert "batch_normalization_18" in report.unused_layers  # BN after conv 8
    assert "vision_embedding_layer" in report.unused_layers
    src_audio = source.get_layer("audio_model")
    for name in ("conv2d_3", "audio_embedding_layer", "batch_normalization_1", "batch_normalization_8"):
        for a, b in zip(src_audio.get_layer(name).weights, audio.get_layer(name).weights):
            np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_weights_only_file_loads_into_full_model_and_backbone(avc_pair, small_audio, tmp_path):
    from edgel3_mote.compress.models.l3 import build_l3_audio_model
    from edgel3_mote.compress.models.registry import randomize_weights
    from edgel3_mote.compress.weights import load_weights

    source = small_audio
    randomize_weights(source, 5)
    groups = [(l.name, [(w.name, w.numpy()) for w in l.weights]) for l in source.layers]
    path = tmp_path / "weights_only.h5"
    write_keras2_h5(path, groups)
    target = avc_pair[1].get_layer("audio_model")  # same layers + a BN after conv 8
    with pytest.raises(WeightsError, match="batch_normalization_9"):
        load_weights(target, path)
    target = build_l3_audio_model(num_filters=SMALL)
    report = load_weights(target, path)
    assert report.layout == "weights-only" and report.modes == {"audio_model": "by-name"}
    assert report.matched_arrays == report.file_arrays == len(target.weights)
    for a, b in zip(source.weights, target.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())

    backbone = build_l3_audio_model(num_filters=SMALL, include_frontend=False)
    report = load_weights(backbone, path)
    assert sorted(report.unused_layers) == ["batch_normalization_1", "melspectrogram_1"]
    np.testing.assert_array_equal(
        backbone.get_layer("conv2d_7").kernel.numpy(), source.get_layer("conv2d_7").kernel.numpy()
    )

    # A file without the front-end (a backbone's weights) keeps the computed DFT/mel tables.
    write_keras2_h5(path, [g for g in groups if g[0] != "melspectrogram_1"])
    report = load_weights(target, path)
    assert not report.frontend_from_file and report.matched_arrays == len(target.weights) - 3
