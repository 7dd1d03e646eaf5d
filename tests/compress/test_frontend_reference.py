"""The numpy log-mel reference against the real SEA-64 file, librosa and edge cases."""

import json

import h5py
import librosa
import numpy as np
import pytest

from edgel3_mote.compress.frontend import (
    L3_FRONTEND,
    SEA_FRONTEND,
    FrontendConfig,
    dft_kernels,
    log_mel_spectrogram,
    mel_matrix,
    quantize_input,
)
from edgel3_mote.errors import InvalidInputError


@pytest.fixture(scope="module")
def kapre_weights(sea64_weights):
    with h5py.File(sea64_weights, "r") as f:
        group = f["model_weights/melspectrogram_1/melspectrogram_1"]
        layers = json.loads(f.attrs["model_config"])["config"]["layers"]
        config = next(l["config"] for l in layers if l["class_name"] == "Melspectrogram")
        return {
            "real": group["real_kernels:0"][()],
            "imag": group["imag_kernels:0"][()],
            "mel": group["Variable:0"][()],
            "config": config,
        }


def test_config_geometry():
    assert SEA_FRONTEND.n_bins == 513 and L3_FRONTEND.n_bins == 1025
    assert SEA_FRONTEND.n_frames(8000) == 50 and SEA_FRONTEND.pad_left(8000) == 432
    assert SEA_FRONTEND.pad_total(8000) == 864
    assert L3_FRONTEND.n_frames(48000) == 199
    assert SEA_FRONTEND.n_frames(8001) == 51 and SEA_FRONTEND.n_frames(1) == 1
    assert FrontendConfig.from_dict(SEA_FRONTEND.to_dict()) == SEA_FRONTEND
    with pytest.raises(InvalidInputError):
        FrontendConfig(sr=8000, n_dft=1000, n_hop=160, n_mels=64)
    with pytest.raises(InvalidInputError):
        FrontendConfig.from_dict({**SEA_FRONTEND.to_dict(), "bogus": 1})


def test_config_from_the_files_kapre_layer(kapre_weights):
    assert FrontendConfig.from_kapre_config(kapre_weights["config"]) == SEA_FRONTEND


def test_dft_kernels_equal_the_files(kapre_weights):
    real, imag = dft_kernels(SEA_FRONTEND)
    assert real.shape == imag.shape == (1024, 513) and real.dtype == np.float32
    np.testing.assert_allclose(real, kapre_weights["real"][:, 0, 0, :], rtol=0, atol=1e-7)
    np.testing.assert_allclose(imag, kapre_weights["imag"][:, 0, 0, :], rtol=0, atol=1e-7)
    assert np.abs(imag).max() > 0.9  # the sign convention is checked, not a zero kernel


def test_mel_matrix_equals_librosa_and_the_file(kapre_weights):
    mel = mel_matrix(SEA_FRONTEND)
    assert mel.shape == (513, 64) and mel.dtype == np.float32
    ref = librosa.filters.mel(sr=8000, n_fft=1024, n_mels=64, fmin=0, fmax=4000, htk=True, norm="slaney").T
    np.testing.assert_allclose(mel, ref, rtol=0, atol=1e-8)
    np.testing.assert_allclose(mel, kapre_weights["mel"], rtol=0, atol=1e-8)
    assert mel_matrix(L3_FRONTEND).shape == (1025, 256)


def _independent_reference(audio, cfg):
    # librosa's STFT on the manually 'same'-padded signal: an independent path to the same numbers.
    n = len(audio)
    left = cfg.pad_left(n)
    padded = np.pad(audio.astype(np.float64), (left, cfg.pad_total(n) - left))
    stft = librosa.stft(
        padded, n_fft=cfg.n_dft, hop_length=cfg.n_hop, window="hann", center=False, dtype=np.complex128
    )[:, : cfg.n_frames(n)]
    mel = mel_matrix(cfg).astype(np.float64).T @ (np.abs(stft) ** 2)
    db = 10 * np.log10(np.maximum(np.sqrt(mel), cfg.amin))
    return np.maximum(db - db.max(), -cfg.dynamic_range)


def test_reference_matches_librosa_stft_on_real_clips(sea_clips):
    spec = log_mel_spectrogram(sea_clips, SEA_FRONTEND)
    assert spec.shape == (10, 64, 50) and spec.dtype == np.float32
    for clip, got in zip(sea_clips, spec):
        np.testing.assert_allclose(got, _independent_reference(clip, SEA_FRONTEND), rtol=0, atol=2e-3)
        assert got.max() == 0.0 and got.min() >= -80.0
    # a single clip gives the same as its row of the batch (per-example max, not batch max)
    np.testing.assert_array_equal(log_mel_spectrogram(sea_clips[3], SEA_FRONTEND), spec[3])


def test_reference_with_the_files_weights(sea_clips, kapre_weights):
    own = log_mel_spectrogram(sea_clips[:2], SEA_FRONTEND)
    stored = log_mel_spectrogram(
        sea_clips[:2], SEA_FRONTEND, kapre_weights["real"], kapre_weights["imag"], kapre_weights["mel"]
    )
    assert np.abs(own - stored).max() < 1e-3


def test_l3_geometry_on_noise():
    audio = np.random.default_rng(1).uniform(-1, 1, 48000)
    spec = log_mel_spectrogram(audio, L3_FRONTEND)
    assert spec.shape == (256, 199)
    np.testing.assert_allclose(spec, _independent_reference(audio, L3_FRONTEND), rtol=0, atol=2e-3)


def test_silence_is_flat_not_nan():
    spec = log_mel_spectrogram(np.zeros(8000), SEA_FRONTEND)
    assert np.all(np.isfinite(spec)) and np.all(spec == spec.flat[0])


def test_amin_floor_and_dynamic_range_clip():
    rng = np.random.default_rng(2)
    # Amplitudes far below amin everywhere: everything sits on the floor -> flat zeros.
    tiny = log_mel_spectrogram(rng.standard_normal(8000) * 1e-14, SEA_FRONTEND)
    assert np.all(tiny == 0.0)
    # Loud first half, digital silence after: silent frames are clipped to exactly -80 dB.
    half = np.concatenate([rng.uniform(-1, 1, 4000), np.zeros(4000)])
    spec = log_mel_spectrogram(half, SEA_FRONTEND)
    assert np.all(spec[:, -10:] == -80.0) and spec.max() == 0.0 and spec[:, :20].min() > -80.0


def test_bad_audio_is_a_clear_error():
    with pytest.raises(InvalidInputError):
        log_mel_spectrogram(np.zeros((2, 2, 8000)), SEA_FRONTEND)
    with pytest.raises(InvalidInputError):
        log_mel_spectrogram(np.array([0.0, np.nan]), SEA_FRONTEND)


def test_quantize_input_rounds_half_away_from_zero():
    # affine identity, scale 1: ties go away from zero like TFLite's QUANTIZE (std::round)
    below_half = np.nextafter(np.float32(0.5), np.float32(0))
    x = np.array([0.5, 1.5, -0.5, -1.5, 2.4999, 300.0, -300.0, below_half, -below_half, 1e30], np.float32)
    q = quantize_input(x, (1.0, 0.0), 1.0, 0)
    assert q.tolist() == [1, 2, -1, -2, 2, 127, -128, 0, 0, 127]
    q = quantize_input(np.array([-80.0, 0.0], np.float32), (0.5, 10.0), 0.25, -3)
    assert q.tolist() == [-123, 37] and q.dtype == np.int8
