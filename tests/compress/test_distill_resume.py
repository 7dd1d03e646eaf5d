"""Distillation keeps masked zeros exact, lowers the loss, and resumes exactly after a kill."""

import numpy as np
import pytest
import tf_keras as keras

import edgel3_mote  # noqa: F401
from edgel3_mote.compress.data import pipeline
from edgel3_mote.compress.frontend import SEA_FRONTEND
from edgel3_mote.compress.models.l3 import build_audio_network
from edgel3_mote.compress.pruning import layerwise, masked
from edgel3_mote.compress.pruning.masked import MaskedConv2D
from edgel3_mote.compress.retrain import distill as D

TINY = [4, 4, 8, 8, 8, 8, 8, 8]


def tiny(conv_cls=None, seed=0):
    keras.utils.set_random_seed(seed)
    return build_audio_network(
        SEA_FRONTEND, include_frontend=True, num_filters=TINY, conv_cls=conv_cls, embedding_bn=True, pool_size=(8, 6)
    )


def models_fn():
    teacher = tiny(seed=1)
    student = masked.masked_copy(teacher, lambda conv_cls: tiny(conv_cls, seed=2))
    layerwise.prune_one_shot(student, [0.0, 0.5, 0.5, 0.5, 0.7, 0.7, 0.8, 0.8])
    return student, teacher


@pytest.fixture(scope="module")
def windows(clip_paths):
    data = pipeline.clip_windows(clip_paths[:3], "sea-64", hop_size=0.5, max_windows_per_clip=4, progress=False)
    return data.subset([0, 1]), data.subset([2])


def config(epochs, **kw):
    return D.TrainConfig(epochs=epochs, batch_size=4, learning_rate=3e-3, seed=7, tensorboard=False, verbose=0, **kw)


class Kill(keras.callbacks.Callback):
    """Simulates a killed job: dies in the middle of epoch ``at`` (0-based)."""

    def __init__(self, at):
        super().__init__()
        self.at = at

    def on_train_batch_end(self, batch, logs=None):
        if self.epoch == self.at and batch == 1:
            raise KeyboardInterrupt("killed")

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch


@pytest.fixture(scope="module")
def straight(windows, tmp_path_factory):
    train, val = windows
    run = tmp_path_factory.mktemp("straight")
    return run, D.distill(models_fn, train, run, config(4), val=val)


def test_masked_student_keeps_exact_zeros_and_gets_closer(straight):
    run, result = straight
    student = result["student"]
    for conv in layerwise.conv_layers(student):
        assert isinstance(conv, MaskedConv2D)
        kernel, mask = conv.kernel.numpy(), conv.kernel_mask.numpy()
        assert np.all(kernel[mask == 0] == 0.0), conv.name
    assert layerwise.total_sparsity(layerwise.layer_sparsity(student)) > 60
    assert result["after"]["train"]["mse"] < result["before"]["train"]["mse"]
    assert (run / "logs" / "training.csv").read_text().count("\n") == 5
    assert (run / D.TARGETS_FILE).exists()


def test_killed_run_resumes_to_the_uninterrupted_result(windows, straight, tmp_path):
    train, val = windows
    straight = straight[1]
    with pytest.raises(KeyboardInterrupt):
        D.distill(models_fn, train, tmp_path / "killed", config(4), val=val, callbacks=[Kill(2)])
    assert D.latest_state(tmp_path / "killed")["epoch"] == 2
    resumed = D.distill(models_fn, train, tmp_path / "killed", config(4), val=val)
    assert resumed["epochs_run"] == 4
    for a, b in zip(straight["student"].get_weights(), resumed["student"].get_weights()):
        np.testing.assert_array_equal(a, b)
    assert [h["loss"] for h in straight["history"]] == [h["loss"] for h in resumed["history"]]


def test_random_crop_distillation_resumes_exactly_after_a_kill(clip_paths, windows, tmp_path):
    """The corpus path: augmented random crops of decoded audio, teacher on the fly."""
    cache = pipeline.decode_to_cache(clip_paths[:2], 8000, tmp_path / "audio", progress=False)
    source = pipeline.CropSource(cache, 8000, 12, pipeline.Augmentation())
    val = windows[1]
    cfg = lambda: config(3, on_the_fly=True)  # noqa: E731
    straight = D.distill(models_fn, source, tmp_path / "straight", cfg(), val=val, eval_crops=8)
    assert straight["train_crops_per_epoch"] == 12 and straight["train_windows"] is None
    assert straight["after"]["train"]["windows"] == 8
    assert straight["after"]["val"]["mse"] < straight["before"]["val"]["mse"]
    with pytest.raises(KeyboardInterrupt):
        D.distill(models_fn, source, tmp_path / "killed", cfg(), val=val, eval_crops=8, callbacks=[Kill(1)])
    resumed = D.distill(models_fn, source, tmp_path / "killed", cfg(), val=val, eval_crops=8)
    for a, b in zip(straight["student"].get_weights(), resumed["student"].get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(Exception, match="on-the-fly"):
        D.distill(models_fn, source, tmp_path / "x", config(1), val=val)


def test_gradual_polynomial_pruning_while_distilling_resumes_exactly(windows, tmp_path):
    train, val = windows

    def dense_models():
        return tiny(seed=2), tiny(seed=1)

    cfg = lambda: config(4, gradual=(0.0, 0.5, 0.5, 0.5, 0.7, 0.7, 0.8, 0.8))  # noqa: E731
    straight = D.distill(dense_models, train, tmp_path / "straight", cfg(), val=val)
    rows = layerwise.layer_sparsity(straight["student"])
    assert [round(r["sparsity"]) for r in rows] == [0, 50, 50, 50, 70, 70, 80, 80]
    assert straight["after"]["val"]["mse"] < straight["before"]["val"]["mse"]
    with pytest.raises(KeyboardInterrupt):
        D.distill(dense_models, train, tmp_path / "killed", cfg(), val=val, callbacks=[Kill(1)])
    resumed = D.distill(dense_models, train, tmp_path / "killed", cfg(), val=val)
    for a, b in zip(straight["student"].get_weights(), resumed["student"].get_weights()):
        np.testing.assert_array_equal(a, b)


def test_the_best_epoch_by_validation_cosine_is_restored(windows, tmp_path):
    """A learning rate that wrecks the student after its first steps: early stopping on the validation
    cosine acts and the weights of the best epoch (not the last) come back, as the log shows them."""
    train, val = windows
    cfg = D.TrainConfig(
        epochs=6, batch_size=4, learning_rate=0.3, seed=7, tensorboard=False, verbose=0, patience=2, lr_patience=50
    )
    result = D.distill(models_fn, train, tmp_path / "run", cfg, val=val)
    history = [row["val_cosine"] for row in result["history"]]
    best = int(np.argmax(history)) + 1
    assert result["best_monitor"] == "val_cosine" and result["best_epoch"] == best
    assert result["stopped_early"] and result["epochs_run"] == best + 2 < 6  # patience 2
    assert result["restored_best"] and history[-1] < history[best - 1]
    # the returned student is the best epoch's: its validation cosine, re-measured, is the logged one
    assert result["after"]["val"]["cosine_mean"] == pytest.approx(history[best - 1], abs=2e-3)
