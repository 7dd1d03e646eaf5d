"""A 90 %-sparse model pruned with TF-MOT keeps its zeros through int8 conversion."""

from __future__ import annotations

import numpy as np
import pytest

import edgel3_mote  # noqa: F401
from edgel3_mote.export.opset import read_model
from edgel3_mote.export.tflite import export_tflite

SPARSITY = 0.9


def pruned_backbone(seed: int = 0):
    """A seeded SEA-shaped backbone, pruned to 90 % per conv by TF-MOT, then stripped."""
    import tensorflow_model_optimization as tfmot
    import tf_keras as keras

    keras.utils.set_random_seed(seed)
    x = inp = keras.Input((64, 50, 1))
    for i, filters in enumerate((16, 32, 32)):
        x = keras.layers.Conv2D(filters, 3, padding="same", name=f"conv_{i + 1}")(x)
        x = keras.layers.BatchNormalization(name=f"bn_{i + 1}")(x)
        x = keras.layers.Activation("relu")(x)
        if i < 2:
            x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.MaxPooling2D((16, 12))(x)
    x = keras.layers.Flatten()(x)
    dense = keras.Model(inp, x, name="pruned_sea")

    schedule = tfmot.sparsity.keras.ConstantSparsity(SPARSITY, begin_step=0, frequency=1)
    pruned = tfmot.sparsity.keras.prune_low_magnitude(dense, pruning_schedule=schedule)
    pruned.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    rng = np.random.default_rng(seed)
    x_train = rng.uniform(-4.7, 2.0, (8, 64, 50, 1)).astype(np.float32)
    y_train = rng.normal(0, 1, (8, 32)).astype(np.float32)
    pruned.fit(
        x_train, y_train, batch_size=4, epochs=1, verbose=0, callbacks=[tfmot.sparsity.keras.UpdatePruningStep()]
    )
    return tfmot.sparsity.keras.strip_pruning(pruned)


@pytest.fixture(scope="module")
def pruned(tmp_path_factory, clip_paths):
    model = pruned_backbone()
    kernels = {layer.name: layer.kernel.numpy() for layer in model.layers if hasattr(layer, "kernel")}
    result = export_tflite(
        model,
        calibration=clip_paths[-1:],
        out_dir=tmp_path_factory.mktemp("pruned") / "out",
        calibration_steps=4,
        hop_size=0.5,
        progress=False,
    )
    return kernels, result


def test_keras_model_is_90_percent_sparse(pruned):
    kernels, _ = pruned
    for name, kernel in kernels.items():
        assert abs(np.mean(kernel == 0) - SPARSITY) < 0.01, name


def test_int8_weights_keep_the_zeros(pruned):
    kernels, result = pruned
    info = read_model(result.int8_path.read_bytes())
    convs = [op for op in info.ops if op.name == "CONV_2D"]
    assert len(convs) == 3
    for op, (name, kernel) in zip(convs, kernels.items()):
        weights = info.tensors[op.inputs[1]].data  # (out, kh, kw, in) int8
        zeros = weights == 0
        # Every weight TF-MOT zeroed is still exactly zero (BN folding scales, never shifts).
        assert np.all(zeros[np.transpose(kernel, (3, 0, 1, 2)) == 0]), name
        assert SPARSITY - 0.01 <= zeros.mean() <= SPARSITY + 0.03, (name, zeros.mean())
    sizes = result.manifest.sizes
    assert 0.89 <= 1 - sizes["nonzero_weight_params"] / sizes["weight_params"] <= 0.93
    assert sizes["nonzero_weight_bytes"] < 0.2 * sizes["weight_bytes"]
