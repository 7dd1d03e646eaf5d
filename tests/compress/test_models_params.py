"""Architectures of the model family: parameter counts, names, variants, random weights."""

from __future__ import annotations

import numpy as np
import pytest

import edgel3_mote  # noqa: F401
from edgel3_mote.compress.models import registry
from edgel3_mote.errors import EdgeL3MoteError, InvalidInputError

L3_CONV_PARAMS = 4_684_224


def _conv_params(model) -> int:
    import tf_keras as keras

    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            total += _conv_params(layer)
        elif isinstance(layer, keras.layers.Conv2D):
            total += layer.count_params()
    return total


def _network_params(model) -> int:
    """Every parameter except the fixed front-end tables."""
    import tf_keras as keras

    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            total += _network_params(layer)
        elif layer.name != "melspectrogram_1":
            total += layer.count_params()
    return total


@pytest.fixture(scope="module")
def l3_model():
    return registry.build_model("l3-melspec2", seed=0)


@pytest.fixture(scope="module")
def avc_model():
    return registry.build_model("l3-avc", seed=0)


def test_l3_audio_conv_params_and_shapes(l3_model):
    assert _conv_params(l3_model) == L3_CONV_PARAMS == registry.conv_param_count("l3-melspec2")
    assert _network_params(l3_model) == registry.network_param_count("l3-melspec2")
    assert l3_model.input_shape == (None, 1, 48000)
    assert l3_model.output_shape == (None, 512)
    assert l3_model.get_layer("melspectrogram_1").output_shape == (None, 256, 199, 1)
    emb = l3_model.get_layer("audio_embedding_layer")
    assert emb.output_shape == (None, 32, 24, 512)
    # EdgeL3's embedding model pools the raw conv-8 output: nothing between conv 8 and the pool.
    assert emb.outbound_nodes[0].outbound_layer.name == "max_pooling2d_4"
    convs = [l.name for l in l3_model.layers if l.__class__.__name__ == "Conv2D"]
    assert convs == [f"conv2d_{i}" for i in range(1, 8)] + ["audio_embedding_layer"]


def test_every_registry_model_matches_its_param_figures(l3_model, avc_model):
    import tf_keras as keras

    from edgel3_mote.compress.models.l3 import build_l3_audio_model
    from edgel3_mote.compress.models.sea import build_sea_model

    expected_conv = {"sea-512": L3_CONV_PARAMS, "sea-256": 1_171_680, "sea-128": 581_600, "sea-64": 397_152}
    for name, conv in expected_conv.items():
        dim = int(name.split("-")[1])
        model = build_sea_model(dim)
        assert _conv_params(model) == conv == registry.conv_param_count(name), name
        assert _network_params(model) == registry.network_param_count(name), name
        assert model.output_shape == (None, dim)
        assert model.get_layer("melspectrogram_1").output_shape == (None, 64, 50, 1)
    assert registry.network_param_count("sea-64") == 399_460  # "~0.40 M" of the release
    wide = build_l3_audio_model(pool_size=(8, 8))
    assert wide.output_shape == (None, 6144)
    assert _network_params(wide) == registry.network_param_count("l3-melspec2-6144")
    # AVC: vision (224x224x3, 3-channel input BN) + audio with BN after conv 8 + 2 dense layers.
    vision = avc_model.get_layer("vision_model")
    assert vision.input_shape == (None, 224, 224, 3) and vision.output_shape == (None, 512)
    assert _conv_params(vision) == L3_CONV_PARAMS - 640 + 1792
    assert _network_params(avc_model) == registry.network_param_count("l3-avc") == 9_516_434
    assert avc_model.output_shape == (None, 2)
    assert avc_model.get_layer("dense_1").units == 128
    assert avc_model.optimizer.__class__.__name__ == "Adam"
    assert avc_model.loss == "categorical_crossentropy"
    assert isinstance(avc_model.get_layer("audio_model"), keras.Model)


def test_reduced_variant_skips_convs_and_their_pools():
    from edgel3_mote.compress.models.l3 import build_l3_audio_model

    flags = [True, True, True, False, True, True, True, True]  # drop conv 4 (block 2's second)
    widths = [8, 8, 16, 16, 16, 16, 32, 32]
    model = build_l3_audio_model(include_frontend=False, include_layers=flags, num_filters=widths)
    names = [l.name for l in model.layers]
    assert "conv2d_4" not in names and "batch_normalization_5" not in names
    assert "max_pooling2d_2" not in names  # its block lost its 2nd conv
    assert "max_pooling2d_1" in names and "max_pooling2d_3" in names
    assert model.get_layer("conv2d_5").kernel.shape == (3, 3, 16, 16)
    assert model.get_layer("audio_embedding_layer").output_shape == (None, 64, 49, 32)
    assert model.output_shape == (None, 32)
    with pytest.raises(InvalidInputError, match="8 flags"):
        build_l3_audio_model(include_frontend=False, include_layers=[True] * 7)


def test_conv_cls_builds_every_conv():
    import tf_keras as keras

    from edgel3_mote.compress.models.l3 import build_l3_audio_model

    class TaggedConv2D(keras.layers.Conv2D):
        pass

    model = build_l3_audio_model(include_frontend=False, num_filters=[4] * 8, conv_cls=TaggedConv2D)
    convs = [l for l in model.layers if isinstance(l, keras.layers.Conv2D)]
    assert len(convs) == 8 and all(isinstance(l, TaggedConv2D) for l in convs)


@pytest.fixture(scope="module")
def sea64_random():
    return registry.build_model("sea-64", seed=3)


def test_random_weights_are_seeded_and_bn_is_not_identity(sea64_random):
    a = sea64_random
    assert a.edgel3_random_weights is True and a.edgel3_seed == 3
    first = a.get_weights()
    gamma, beta, mean, var = a.get_layer("batch_normalization_4").get_weights()
    assert np.all(var != 1.0) and np.all(mean != 0.0) and np.all(gamma != 1.0)
    scale, offset = registry.input_affine(a)
    assert 0.05 < scale < 0.2 and 1.0 < offset < 5.0  # dB-scale statistics
    x = np.random.default_rng(0).uniform(-0.5, 0.5, (2, 1, 8000)).astype(np.float32)
    y = a(x).numpy()
    assert y.shape == (2, 64) and np.all(np.isfinite(y)) and np.std(y) > 0
    try:
        registry.randomize_weights(a, 4)
        assert not np.array_equal(a.get_layer("conv2d_3").get_weights()[0], first[6])
        registry.randomize_weights(a, 3)  # same seed, same weights
        for wa, wb in zip(a.get_weights(), first):
            np.testing.assert_array_equal(wa, wb)
    finally:
        a.set_weights(first)


def test_backbone_shares_names_and_weights_with_the_full_model(sea64_random):
    full = sea64_random
    backbone = registry.build_model("sea-64", seed=3, include_frontend=False)
    assert backbone.input_shape == (None, 64, 50, 1) and backbone.output_shape == (None, 64)
    assert backbone.layers[1].name == "conv2d_1"
    full_weights = {w.name: w.numpy() for w in full.weights}
    for w in backbone.weights:
        np.testing.assert_array_equal(w.numpy(), full_weights[w.name])
    assert registry.input_affine(backbone) == registry.input_affine(full)
    assert backbone.edgel3_model_name == "sea-64"


def test_registry_names_and_errors():
    assert set(registry.MODEL_NAMES) >= {
        "l3-melspec2",
        "l3-melspec2-6144",
        "l3-avc",
        "sea-512",
        "sea-256",
        "sea-128",
        "sea-64",
        "edgel3-95.45",
        "edgel3-53.49",
        "edgel3-99.00",
    }
    spec = registry.get_spec("sea-64")
    assert (spec.window_samples, spec.embedding_dim, spec.input_bn) == (8000, 64, True)
    assert spec.frontend.n_mels == 64 and spec.frontend.n_frames(8000) == 50
    assert registry.get_spec("l3-melspec2-6144").embedding_dim == 6144
    with pytest.raises(InvalidInputError, match="sea-64"):  # lists the valid names
        registry.get_spec("sea-32")
    with pytest.raises(InvalidInputError, match="backbone"):
        registry.build_model("l3-avc", include_frontend=False)
    with pytest.raises(InvalidInputError, match="seed"):
        registry.build_model("sea-64", seed=1.5)


def test_pruned_preset_applies_the_plan(monkeypatch):
    try:
        import edgel3_mote.compress.pruning.presets  # noqa: F401
    except ImportError:
        with pytest.raises(EdgeL3MoteError, match="apply_plan"):
            registry.build_model("edgel3-95.45")
        return
    from edgel3_mote.compress.models.l3 import build_l3_audio_model

    # The plan acts on the 8 convs of the L3 structure; narrow widths keep the test fast.
    monkeypatch.setattr(
        registry, "_build_full", lambda spec: build_l3_audio_model(num_filters=[8, 8, 16, 16, 32, 32, 64, 64])
    )
    model = registry.build_model("edgel3-95.45", seed=0, include_frontend=False)
    kernels = [l.kernel.numpy() for l in model.layers if l.__class__.__name__ == "Conv2D"]
    sparsity = [100.0 * np.mean(k == 0) for k in kernels]
    np.testing.assert_allclose(sparsity, [0, 85, 85, 85, 75, 95, 98, 98], atol=1.0)
    assert model.edgel3_model_name == "edgel3-95.45"
