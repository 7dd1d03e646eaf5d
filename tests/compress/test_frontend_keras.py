"""The tf_keras MelSpectrogram layer against the numpy reference and kapre's weight layout."""

import h5py
import numpy as np
import pytest
import tf_keras as keras

from edgel3_mote.compress.frontend import (
    L3_FRONTEND,
    SEA_FRONTEND,
    MelSpectrogram,
    dft_kernels,
    log_mel_spectrogram,
    mel_matrix,
)


@pytest.fixture(scope="module")
def sea_layer():
    layer = MelSpectrogram(SEA_FRONTEND)
    layer.build((None, 1, 8000))
    return layer


def test_layer_equals_reference_on_real_clips(sea_layer, sea_clips):
    out = sea_layer(sea_clips[:, None, :]).numpy()
    assert out.shape == (10, 64, 50, 1) and out.dtype == np.float32
    ref = log_mel_spectrogram(sea_clips, SEA_FRONTEND)
    assert np.abs(out[..., 0] - ref).max() < 1e-3


def test_layer_equals_reference_on_noise_and_silence(sea_layer):
    rng = np.random.default_rng(0)
    audio = np.stack([rng.uniform(-1, 1, 8000), 1e-3 * rng.standard_normal(8000), np.zeros(8000)])
    out = sea_layer(audio[:, None, :].astype(np.float32)).numpy()[..., 0]
    assert np.all(np.isfinite(out))
    assert np.abs(out - log_mel_spectrogram(audio, SEA_FRONTEND)).max() < 1e-3


def test_weights_follow_kapre_names_and_order(sea_layer, sea64_weights):
    names = [w.name.split("/")[-1] for w in sea_layer.weights]
    assert names == ["real_kernels:0", "imag_kernels:0", "Variable:0"]
    assert not sea_layer.trainable_weights
    real, imag, mel = sea_layer.get_weights()
    assert real.shape == imag.shape == (1024, 1, 1, 513) and mel.shape == (513, 64)
    with h5py.File(sea64_weights, "r") as f:
        group = f["model_weights/melspectrogram_1/melspectrogram_1"]
        stored = [group[n][()] for n in ("real_kernels:0", "imag_kernels:0", "Variable:0")]
    for ours, theirs in zip((real, imag, mel), stored):
        assert ours.shape == theirs.shape and np.abs(ours - theirs).max() < 1e-7
    np.testing.assert_array_equal(mel, mel_matrix(SEA_FRONTEND))
    np.testing.assert_array_equal(real[:, 0, 0, :], dft_kernels(SEA_FRONTEND)[0])


def test_layer_in_a_model_round_trips_its_config(sea_layer):
    inputs = keras.Input((1, 8000))
    model = keras.Model(inputs, MelSpectrogram(SEA_FRONTEND, name="melspectrogram_1")(inputs))
    assert model.output_shape == (None, 64, 50, 1)
    clone = keras.Model.from_config(model.get_config(), custom_objects={"MelSpectrogram": MelSpectrogram})
    assert clone.layers[-1].cfg == SEA_FRONTEND and clone.layers[-1].name == "melspectrogram_1"
    x = np.random.default_rng(3).uniform(-1, 1, (1, 1, 8000)).astype(np.float32)
    clone.set_weights(model.get_weights())
    np.testing.assert_array_equal(clone(x).numpy(), model(x).numpy())


def test_l3_layer_shape_and_values():
    audio = np.random.default_rng(4).uniform(-1, 1, (1, 48000)).astype(np.float32)
    out = MelSpectrogram(L3_FRONTEND)(audio[:, None, :]).numpy()
    assert out.shape == (1, 256, 199, 1)
    assert np.abs(out[0, ..., 0] - log_mel_spectrogram(audio[0], L3_FRONTEND)).max() < 1e-3
