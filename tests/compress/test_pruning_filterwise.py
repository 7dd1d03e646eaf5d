"""Filter-wise pruning removes filters physically and keeps outputs when they were dead;
depth reduction; sensitivity sweep."""

import numpy as np
import pytest
import tf_keras as keras

import edgel3_mote  # noqa: F401
from edgel3_mote.compress.frontend import SEA_FRONTEND
from edgel3_mote.compress.models.l3 import build_audio_network, conv_bn_name
from edgel3_mote.compress.pruning import filterwise, layerwise
from edgel3_mote.compress.pruning.masked import MaskedConv2D
from edgel3_mote.errors import InvalidInputError

TINY = [4, 6, 8, 8, 8, 8, 8, 8]


def tiny(conv_cls=None, embedding_bn=True, seed=0):
    keras.utils.set_random_seed(seed)
    model = build_audio_network(
        SEA_FRONTEND,
        include_frontend=False,
        num_filters=TINY,
        conv_cls=conv_cls,
        embedding_bn=embedding_bn,
        pool_size=None,
    )
    rng = np.random.default_rng(seed)
    for layer in model.layers:  # non-trivial BN statistics, as a trained model has
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.gamma.shape[0]
            layer.set_weights(
                [rng.uniform(0.5, 1.5, n), rng.normal(0, 0.1, n), rng.normal(0, 0.1, n), rng.uniform(0.5, 1.5, n)]
            )
    return model


def kill_filters(model, dead):
    """Make filters dead: zero kernel and bias, and BN+ReLU maps their output to 0."""
    for i, conv in enumerate(layerwise.conv_layers(model)):
        if not len(dead[i]):
            continue
        kernel, bias = conv.kernel.numpy(), conv.bias.numpy()
        kernel[..., dead[i]] = 0.0
        bias[dead[i]] = 0.0
        conv.kernel.assign(kernel)
        conv.bias.assign(bias)
        try:
            bn = model.get_layer(conv_bn_name(i))
        except ValueError:
            continue
        gamma, beta, mean, var = bn.get_weights()
        beta[dead[i]] = -1.0
        mean[dead[i]] = 0.0
        bn.set_weights([gamma, beta, mean, var])


@pytest.mark.parametrize("conv_cls", [None, MaskedConv2D])
def test_dropping_dead_filters_keeps_the_outputs_identical(conv_cls):
    model = tiny(conv_cls)
    dead = [[1], [0, 5], [2, 3], [], [7], [0], [4, 6], []]
    kill_filters(model, dead)
    assert [list(d) for d in filterwise.dead_filters(model)] == dead
    widths = [w - len(d) for w, d in zip(TINY, dead)]
    reduced, kept = filterwise.prune_filters(model, widths)
    for i, k in enumerate(kept):  # exactly the dead filters went
        assert sorted(set(range(TINY[i])) - set(k.tolist())) == dead[i]
    assert [c.filters for c in layerwise.conv_layers(reduced)] == widths
    assert reduced.count_params() < model.count_params()
    x = np.random.default_rng(1).normal(size=(3, 64, 50, 1)).astype("float32")
    np.testing.assert_allclose(
        reduced(x, training=False).numpy(), model(x, training=False).numpy(), rtol=1e-5, atol=1e-5
    )


def test_l1_choice_drops_the_smallest_filters_and_changes_outputs():
    model = tiny(embedding_bn=False, seed=2)
    conv = layerwise.conv_layers(model)[3]
    norms = filterwise.filter_l1_norms(conv)
    reduced, kept = filterwise.prune_filters(model, [4, 6, 8, 4, 8, 8, 8, 8])
    assert sorted(kept[3].tolist()) == sorted(np.argsort(-norms)[:4].tolist())
    x = np.random.default_rng(1).normal(size=(2, 64, 50, 1)).astype("float32")
    assert not np.allclose(reduced(x, training=False).numpy(), model(x, training=False).numpy())
    # the BN parameters of the kept channels are carried over, not re-initialised
    np.testing.assert_array_equal(
        reduced.get_layer(conv_bn_name(3)).get_weights()[3], model.get_layer(conv_bn_name(3)).get_weights()[3][kept[3]]
    )
    with pytest.raises(InvalidInputError):
        filterwise.prune_filters(model, [4, 6, 8, 9, 8, 8, 8, 8])


def test_depth_reduction_takes_the_embedding_from_an_earlier_conv():
    from edgel3_mote.compress.models.registry import build_model

    model = build_model("sea-64", seed=0)
    for last in (7, 5):
        reduced = filterwise.reduce_depth(model, "sea-64", last)
        assert reduced.input_shape == model.input_shape
        convs = layerwise.conv_layers(reduced)
        assert len(convs) == last and convs[-1].name == f"conv2d_{last}"
        assert reduced.output_shape[-1] == convs[-1].filters
        np.testing.assert_array_equal(convs[0].kernel.numpy(), layerwise.conv_layers(model)[0].kernel.numpy())
        # same function as the original model's conv-`last` BN+ReLU map, max-pooled whole
        probe = keras.Model(model.input, model.get_layer(f"activation_{last}").output)
        x = np.random.default_rng(0).uniform(-0.5, 0.5, size=(2, 1, 8000)).astype("float32")
        expected = probe(x, training=False).numpy().max(axis=(1, 2))
        np.testing.assert_allclose(reduced(x, training=False).numpy(), expected, rtol=1e-5, atol=1e-5)
