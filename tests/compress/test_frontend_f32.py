"""The float32 chain (``log_mel_spectrogram_f32``, what the device computes and ``model_input_int8`` quantises)
against the float64 kapre chain (``log_mel_spectrogram``, the float model's definition) and numpy's own FFT/log."""

import librosa
import numpy as np

from edgel3_mote.compress.frontend import (
    L3_FRONTEND,
    SEA_FRONTEND,
    _ln_f32,
    _rfft_power_f32,
    db_constants,
    fft_twiddles,
    log_mel_spectrogram,
    log_mel_spectrogram_f32,
    model_input_int8,
    quantize_input,
)


def test_ln_f32_is_within_two_ulp_of_the_true_log():
    x = np.float32(10.0) ** np.random.default_rng(0).uniform(-19.9, 3.0, 200_000).astype(np.float32)
    x = np.concatenate([x, np.float32([1e-20, 0.5, 0.70710677, 0.70710683, 1.0, 1.5, 2.0, 3.4e38])]).astype(np.float32)
    got, true = _ln_f32(x).astype(np.float64), np.log(x.astype(np.float64))
    ulp = np.spacing(np.abs(true).astype(np.float32)).astype(np.float64)
    ok = np.abs(true) > 1e-30
    assert np.max(np.abs(got - true)[ok] / ulp[ok]) <= 2.0
    assert _ln_f32(np.float32([1.0]))[0] == 0.0


def test_rfft_power_f32_is_the_power_spectrum():
    for n in (4, 16, 1024, 2048):
        frames = np.random.default_rng(n).uniform(-1, 1, (3, n)).astype(np.float32)
        got = _rfft_power_f32(frames, fft_twiddles(n)).astype(np.float64)
        true = np.abs(np.fft.rfft(frames.astype(np.float64), axis=-1)) ** 2
        assert got.shape == true.shape == (3, n // 2 + 1)
        assert np.max(np.abs(got - true)) <= 1e-5 * true.max(), n


def test_the_power_domain_floor_constants():
    p_min, k, db_amin = db_constants(SEA_FRONTEND)
    assert p_min == np.float32(1e-20) and db_amin == np.float32(-100.0)
    assert abs(float(k) * np.log(1e-12) - 10 * np.log10(np.sqrt(1e-12))) < 1e-5  # 10 log10(sqrt p)


def _int16_clips(clip_paths, sr, n):
    clips = [librosa.load(p, sr=sr, duration=1.0)[0][:sr] for p in clip_paths[:n]]
    return np.stack([np.clip(np.round(np.pad(y, (0, sr - len(y))) * 32768), -32768, 32767) / 32768 for y in clips])


def test_float32_chain_follows_the_float64_chain_on_real_clips(clip_paths):
    """int16 audio as the device hears it: the two chains within 0.05 dB everywhere (SEA: 1e-3 dB), and their
    int8 inputs (identity affine, 0.31 dB per LSB) identical but for rare 1-LSB rounding-boundary flips."""
    for cfg, n, tol in ((SEA_FRONTEND, 5, 1e-3), (L3_FRONTEND, 2, 0.05)):
        audio = _int16_clips(clip_paths, cfg.sr, n)
        f32, f64 = log_mel_spectrogram_f32(audio, cfg), log_mel_spectrogram(audio, cfg)
        assert f32.dtype == np.float32 and f32.shape == f64.shape == (n, cfg.n_mels, cfg.n_frames(cfg.sr))
        assert np.abs(f32 - f64).max() < tol, cfg
        quant = ((1.0, 0.0), 80.0 / 255.0, 127)
        q32, q64 = model_input_int8(audio, cfg, *quant).astype(int), quantize_input(f64, *quant).astype(int)
        assert np.abs(q32 - q64).max() <= 1 and np.mean(q32 == q64) >= 0.999, cfg


def test_float32_chain_departs_only_below_its_roundoff_floor():
    """Where the exact spectrum is empty (DC, a tone on an exact bin) the float32 FFT leaves roundoff about
    72 dB (kapre's amplitude dB) under the peak: only values the float64 chain puts below -70 dB move by more
    than 0.1 dB."""
    sr = SEA_FRONTEND.sr
    signals = np.stack([np.full(sr, -1.0), np.full(sr, 1000 / 32768), np.sin(2 * np.pi * 500 * np.arange(sr) / sr)])
    for cfg in (SEA_FRONTEND, L3_FRONTEND):
        audio = signals if cfg.sr == sr else np.stack([np.full(cfg.sr, -1.0)])
        f32, f64 = log_mel_spectrogram_f32(audio, cfg), log_mel_spectrogram(audio, cfg)
        moved = np.abs(f32 - f64) > 0.1
        assert np.all(f64[moved] < -70.0), cfg
        assert np.all(f32 >= -cfg.dynamic_range) and np.all(np.isfinite(f32))


def test_silence_is_flat_and_the_single_window_shape():
    out = log_mel_spectrogram_f32(np.zeros(8000), SEA_FRONTEND)
    assert out.shape == (64, 50) and np.all(out == 0.0)
