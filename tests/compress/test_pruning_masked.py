"""MaskedConv2D keeps its sparsity pattern through training and saving; TF-MOT gradual pruning."""

import numpy as np
import pytest
import tf_keras as keras

import edgel3_mote  # noqa: F401
from edgel3_mote.compress.frontend import SEA_FRONTEND
from edgel3_mote.compress.models.l3 import build_audio_network
from edgel3_mote.compress.pruning import layerwise, masked
from edgel3_mote.compress.pruning.masked import MaskedConv2D
from edgel3_mote.compress.retrain.rundir import save_model
from edgel3_mote.errors import InvalidInputError

TINY = [4, 4, 8, 8, 8, 8, 8, 8]


def tiny(conv_cls=None, seed=0):
    keras.utils.set_random_seed(seed)
    return build_audio_network(
        SEA_FRONTEND, include_frontend=False, num_filters=TINY, conv_cls=conv_cls, embedding_bn=True, pool_size=(8, 6)
    )


def batch(n=8, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 64, 50, 1)).astype("float32"), rng.normal(size=(n, 8)).astype("float32")


def test_masked_zeros_stay_exact_zeros_through_adam_training(tmp_path):
    model = tiny(MaskedConv2D)
    masks = layerwise.prune_one_shot(model, [0.9] * 8)
    before = [c.kernel.numpy().copy() for c in layerwise.conv_layers(model)]
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    x, y = batch()
    model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    for conv, mask, old in zip(layerwise.conv_layers(model), masks, before):
        kernel = conv.kernel.numpy()
        assert np.all(kernel[mask == 0] == 0.0), conv.name  # exact zeros, not tiny numbers
        assert not np.allclose(kernel[mask == 1], old[mask == 1])  # the kept weights did train
        np.testing.assert_array_equal(conv.kernel_mask.numpy(), mask)
    # the mask travels with the model file
    path = save_model(model, tmp_path / "masked.h5")
    loaded = keras.models.load_model(path, custom_objects=masked.custom_objects(), compile=False)
    for a, b in zip(layerwise.conv_layers(loaded), layerwise.conv_layers(model)):
        assert isinstance(a, MaskedConv2D)
        np.testing.assert_array_equal(a.kernel_mask.numpy(), b.kernel_mask.numpy())
    np.testing.assert_allclose(loaded(x, training=False).numpy(), model(x, training=False).numpy(), atol=1e-6)


def test_mask_from_thresholds_masks_and_config():
    model = tiny(MaskedConv2D)
    convs = layerwise.conv_layers(model)
    kernels = [c.kernel.numpy().copy() for c in convs]
    thresholds = [float(np.median(np.abs(k))) for k in kernels]
    masked.set_masks(model, thresholds=thresholds)
    for conv, k, t in zip(convs, kernels, thresholds):
        np.testing.assert_array_equal(conv.kernel_mask.numpy(), (np.abs(k) > t).astype("float32"))
        assert 0.45 < conv.sparsity < 0.55
    config = convs[3].get_config()
    clone = MaskedConv2D.from_config({**config, "mask_threshold": 0.1})
    assert clone.filters == convs[3].filters and clone.mask_threshold == 0.1
    with pytest.raises(InvalidInputError):
        convs[0].set_mask(np.ones((2, 2)))
    with pytest.raises(InvalidInputError):
        masked.set_masks(tiny(), thresholds=thresholds)  # plain Conv2D model


def test_masked_copy_and_unmasked_copy_compute_the_same_function():
    plain = tiny(seed=3)
    layerwise.prune_one_shot(plain, [0.5] * 8)
    copy = masked.masked_copy(plain, lambda conv_cls: tiny(conv_cls, seed=9))
    x, _ = batch(4, seed=1)
    np.testing.assert_allclose(copy(x, training=False).numpy(), plain(x, training=False).numpy(), atol=1e-6)
    assert all(abs(c.sparsity - 0.5) < 0.01 for c in layerwise.conv_layers(copy))
    back = masked.unmasked_copy(copy)
    assert not any(isinstance(c, MaskedConv2D) for c in layerwise.conv_layers(back))
    np.testing.assert_allclose(back(x, training=False).numpy(), plain(x, training=False).numpy(), atol=1e-6)


def test_tfmot_gradual_pruning_reaches_the_per_layer_targets():
    model = tiny(seed=1)
    targets = [0.0, 0.5, 0.5, 0.6, 0.3, 0.7, 0.8, 0.8]
    wrapped = layerwise.wrap_for_gradual_pruning(
        model, targets, kind="polynomial", begin_step=0, end_step=2, frequency=1
    )
    wrapped.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    x, y = batch(8)
    wrapped.fit(x, y, epochs=1, batch_size=2, verbose=0, callbacks=layerwise.pruning_callbacks())
    stripped = layerwise.strip(wrapped)
    rows = layerwise.layer_sparsity(stripped)
    for row, target in zip(rows, targets):
        assert abs(row["sparsity"] - 100 * target) < 2.0, row
    np.testing.assert_allclose(stripped(x, training=False).numpy(), wrapped(x, training=False).numpy(), atol=1e-5)
