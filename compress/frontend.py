"""The log-mel front-end of the L3 / EdgeL3 models, exactly as kapre 0.1's ``Melspectrogram``.

Two implementations of one definition:

- ``log_mel_spectrogram`` -- numpy, float64 inside: THE reference the Keras layer and the
  on-device C front-end (``firmware/frontend``) are held to.
- ``MelSpectrogram`` -- a tf_keras layer with kapre 0.1's weights (``real_kernels``,
  ``imag_kernels``, then the mel matrix) so the original h5 files load into it.

The chain (kapre 0.1.3+, ``Melspectrogram(power_spectrogram=2.0, return_decibel_melgram=True)``):
TF 'same' padding with stride = hop, frames at stride hop, periodic-Hann-windowed DFT as two
convolutions -> power re^2 + im^2 -> mel matrix -> ``sqrt(.) ** power_melgram`` (skipped when
power_melgram == 2) -> ``10*log10(max(x, amin))`` -> minus the per-example maximum -> clipped
at ``-dynamic_range``. Note kapre takes 10*log10 of the *amplitude* (sqrt of the mel power),
not 20*log10: that is what the pretrained models saw, so we keep it.

``quantize_input`` is the host reference of the device's final step: the model's input affine
(the 1-channel BatchNormalization) then TFLite's float->int8 QUANTIZE.

The int8 model input (``model_input_int8``) follows a third, float32 definition,
``log_mel_spectrogram_f32``: the device's own arithmetic (``firmware/frontend``: window product,
radix-2 FFT, sparse mel sums, the power-domain floor and a portable natural log), written out in
numpy float32 operation by operation, so host and device give identical int8 on every input. The
float64 chain cannot be matched bit for bit by a float32 device: kapre's -80 "dB" (10*log10 of an
amplitude) spans 160 dB of power, while float32 FFT roundoff sits about 145 dB below a frame's peak,
so spectrally empty bands (DC, digital tones) and band-limited material's quiet upper bands would
otherwise round differently. ``tests/compress/test_frontend_f32.py`` holds the float32 chain to the
float64 one.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Mapping

import numpy as np

from edgel3_mote.errors import InvalidInputError

__all__ = [
    "FrontendConfig",
    "SEA_FRONTEND",
    "L3_FRONTEND",
    "dft_kernels",
    "mel_matrix",
    "log_mel_spectrogram",
    "log_mel_db_f32",
    "log_mel_spectrogram_f32",
    "fft_twiddles",
    "sparse_mel",
    "db_constants",
    "quantize_input",
    "model_input_int8",
    "MelSpectrogram",  # noqa: F822  (built on first access by the module's __getattr__)
]


@dataclasses.dataclass(frozen=True)
class FrontendConfig:
    """Parameters of a kapre-0.1 log-mel front-end (names follow kapre's where they exist)."""

    sr: int
    n_dft: int
    n_hop: int
    n_mels: int
    fmin: float = 0.0
    fmax: float | None = None  # None = sr / 2, as kapre
    power_melgram: float = 1.0
    return_decibel: bool = True
    htk: bool = True
    norm: str | None = "slaney"
    amin: float = 1e-10
    dynamic_range: float = 80.0

    def __post_init__(self):
        for field in ("sr", "n_dft", "n_hop", "n_mels"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
                raise InvalidInputError(f"FrontendConfig.{field}={value!r} is invalid: give a positive integer")
        # kapre 0.1 asserts a power-of-two n_dft (and the device FFT is radix-2).
        if self.n_dft < 2 or self.n_dft & (self.n_dft - 1):
            raise InvalidInputError(
                f"FrontendConfig.n_dft={self.n_dft} is not a power of two: use e.g. 1024 or 2048 as kapre 0.1 requires"
            )
        fmax = self.sr / 2.0 if self.fmax is None else float(self.fmax)
        if self.fmax is not None and fmax == self.sr / 2.0:
            # one canonical form, so configs read from files compare equal to the presets
            object.__setattr__(self, "fmax", None)
        if not 0.0 <= self.fmin < fmax <= self.sr / 2.0:
            raise InvalidInputError(
                f"FrontendConfig fmin={self.fmin}, fmax={self.fmax} are invalid: "
                f"need 0 <= fmin < fmax <= sr/2 = {self.sr / 2}"
            )
        if self.norm not in (None, "slaney"):
            raise InvalidInputError(f"FrontendConfig.norm={self.norm!r} is unsupported: use 'slaney' or None")
        if self.amin <= 0 or self.dynamic_range <= 0 or self.power_melgram <= 0:
            raise InvalidInputError(
                "FrontendConfig amin, dynamic_range and power_melgram must be positive: fix the configuration"
            )

    @property
    def n_bins(self) -> int:
        """Number of one-sided DFT bins, n_dft // 2 + 1."""
        return self.n_dft // 2 + 1

    @property
    def fmax_hz(self) -> float:
        return self.sr / 2.0 if self.fmax is None else float(self.fmax)

    def n_frames(self, n_samples: int) -> int:
        """Frames of TF 'same' padding with stride = hop: ceil(n / hop)."""
        return -(-int(n_samples) // self.n_hop)

    def pad_total(self, n_samples: int) -> int:
        return max((self.n_frames(n_samples) - 1) * self.n_hop + self.n_dft - int(n_samples), 0)

    def pad_left(self, n_samples: int) -> int:
        """Zeros TF's 'same' padding puts before the signal (the smaller half goes left)."""
        return self.pad_total(n_samples) // 2

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "FrontendConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise InvalidInputError(
                f"unknown front-end config keys {sorted(unknown)}: expected a subset of {sorted(names)}"
            )
        return cls(**dict(data))

    @classmethod
    def from_kapre_config(cls, config: Mapping[str, Any]) -> "FrontendConfig":
        """From a kapre 0.1 ``Melspectrogram`` layer config (as stored in a Keras 2 h5)."""
        if config.get("power_spectrogram", 2.0) != 2.0:
            raise InvalidInputError(
                "kapre Melspectrogram with power_spectrogram != 2 is not supported: kapre 0.1 itself requires 2.0"
            )
        if config.get("padding", "same") != "same":
            raise InvalidInputError(f"kapre padding {config.get('padding')!r} is unsupported: only 'same'")
        norm = config.get("norm", 1)
        return cls(
            sr=int(config["sr"]),
            n_dft=int(config["n_dft"]),
            n_hop=int(config["n_hop"]),
            n_mels=int(config["n_mels"]),
            fmin=float(config.get("fmin", 0.0)),
            fmax=None if config.get("fmax") is None else float(config["fmax"]),
            power_melgram=float(config.get("power_melgram", 1.0)),
            return_decibel=bool(config.get("return_decibel_melgram", False)),
            htk=bool(config.get("htk", False)),
            norm="slaney" if norm in (1, "slaney") else None,
        )


# The EdgeL3 SEA students: 1 s at 8 kHz -> 64 x 50 (432 samples padded each side).
SEA_FRONTEND = FrontendConfig(sr=8000, n_dft=1024, n_hop=160, n_mels=64)
# L3-Net cnn_L3_melspec2: 1 s at 48 kHz -> 256 x 199.
L3_FRONTEND = FrontendConfig(sr=48000, n_dft=2048, n_hop=242, n_mels=256)


@functools.lru_cache(maxsize=8)
def _dft_kernels_cached(n_dft: int) -> tuple[np.ndarray, np.ndarray]:
    # kapre 0.1 backend.get_stft_kernels: real = cos(w k n) * hann, imag = -sin(w k n) * hann,
    # window = periodic Hann (librosa get_window('hann', fftbins=True)) cast to float32 first.
    n = np.arange(n_dft, dtype=np.float64)
    k = np.arange(n_dft // 2 + 1, dtype=np.float64)
    phase = np.outer(n, k) * (2.0 * np.pi / n_dft)
    window = (0.5 - 0.5 * np.cos(2.0 * np.pi * n / n_dft)).astype(np.float32).astype(np.float64)
    real = (np.cos(phase) * window[:, None]).astype(np.float32)
    imag = (-np.sin(phase) * window[:, None]).astype(np.float32)
    real.setflags(write=False)
    imag.setflags(write=False)
    return real, imag


def hann_window(n_dft: int) -> np.ndarray:
    """Periodic Hann window (float32) as kapre 0.1 applies it."""
    n = np.arange(n_dft, dtype=np.float64)
    return (0.5 - 0.5 * np.cos(2.0 * np.pi * n / n_dft)).astype(np.float32)


def dft_kernels(cfg: FrontendConfig) -> tuple[np.ndarray, np.ndarray]:
    """kapre-0.1 STFT kernels ``(real, imag)``, each float32 ``(n_dft, n_bins)`` (window applied)."""
    real, imag = _dft_kernels_cached(cfg.n_dft)
    return real.copy(), imag.copy()


@functools.lru_cache(maxsize=8)
def _mel_matrix_cached(cfg: FrontendConfig) -> np.ndarray:
    import warnings

    import librosa

    with warnings.catch_warnings():
        # L3's 256 htk bands over 1025 bins leave bands 0 and 7 empty; kapre's matrices have them
        # empty too (they floor at amin, as the pretrained models saw), so the warning is noise.
        warnings.filterwarnings("ignore", "Empty filters detected", UserWarning)
        mel = librosa.filters.mel(
            sr=cfg.sr,
            n_fft=cfg.n_dft,
            n_mels=cfg.n_mels,
            fmin=cfg.fmin,
            fmax=cfg.fmax_hz,
            htk=cfg.htk,
            norm=cfg.norm,  # type: ignore[arg-type]  # 'slaney' or None (__post_init__ checks it)
            dtype=np.float32,
        )
    out = np.ascontiguousarray(mel.T, dtype=np.float32)
    out.setflags(write=False)
    return out


def mel_matrix(cfg: FrontendConfig) -> np.ndarray:
    """Mel filterbank ``(n_bins, n_mels)`` float32 (librosa, as kapre 0.1 stores it)."""
    return _mel_matrix_cached(cfg).copy()


def _frames(audio: np.ndarray, cfg: FrontendConfig) -> np.ndarray:
    """(batch, n) -> (batch, n_frames, n_dft) float64 frames of the 'same'-padded signal."""
    n = audio.shape[-1]
    n_frames = cfg.n_frames(n)
    left = cfg.pad_left(n)
    right = cfg.pad_total(n) - left
    padded = np.pad(audio.astype(np.float64), ((0, 0), (left, right)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, cfg.n_dft, axis=-1)
    return windows[:, :: cfg.n_hop][:, :n_frames]


def _check_audio(audio) -> np.ndarray:
    audio = np.asarray(audio)
    if audio.ndim not in (1, 2) or audio.shape[-1] == 0:
        raise InvalidInputError(
            f"audio of shape {audio.shape} is invalid: give (n_samples,) or (batch, n_samples) with n_samples > 0"
        )
    if not np.all(np.isfinite(audio)):
        raise InvalidInputError("audio contains NaN or Inf: clean the signal first")
    return audio


def log_mel_spectrogram(
    audio: np.ndarray,
    cfg: FrontendConfig,
    real: np.ndarray | None = None,
    imag: np.ndarray | None = None,
    mel: np.ndarray | None = None,
) -> np.ndarray:
    """kapre-0.1 log-mel spectrogram of ``audio`` (n,) or (batch, n) -> float32
    ``(n_mels, n_frames)`` or ``(batch, n_mels, n_frames)``; float64 arithmetic inside.

    ``real``/``imag`` (n_dft, n_bins) and ``mel`` (n_bins, n_mels) default to ``dft_kernels(cfg)``
    and ``mel_matrix(cfg)``; pass a file's stored weights to reproduce that file exactly.
    """
    audio = _check_audio(audio)
    batch = audio[None] if audio.ndim == 1 else audio
    if real is None or imag is None:
        real, imag = dft_kernels(cfg)
    if mel is None:
        mel = mel_matrix(cfg)
    real = np.asarray(real, np.float64).reshape(cfg.n_dft, cfg.n_bins)
    imag = np.asarray(imag, np.float64).reshape(cfg.n_dft, cfg.n_bins)
    mel = np.asarray(mel, np.float64).reshape(cfg.n_bins, cfg.n_mels)

    frames = _frames(batch, cfg)  # (B, T, n_dft)
    b, t = frames.shape[:2]
    flat = frames.reshape(b * t, cfg.n_dft)  # one BLAS GEMM: a batched 3-D matmul is ~15x slower
    power = (flat @ real) ** 2 + (flat @ imag) ** 2  # (B*T, n_bins)
    out = (power @ mel).reshape(b, t, cfg.n_mels)  # (B, T, n_mels)
    if cfg.power_melgram != 2.0:
        out = np.sqrt(out) ** cfg.power_melgram
    if cfg.return_decibel:
        out = 10.0 * np.log10(np.maximum(out, cfg.amin))
        out = out - out.max(axis=(1, 2), keepdims=True)
        out = np.maximum(out, -cfg.dynamic_range)
    out = np.transpose(out, (0, 2, 1)).astype(np.float32)  # (B, n_mels, T)
    return out[0] if audio.ndim == 1 else out


def fft_twiddles(n_dft: int) -> np.ndarray:
    """W_n^k = exp(-2 pi i k / n) for k in [0, n/2), interleaved (re, im) float32: em_rfft_f32's table."""
    k = np.arange(n_dft // 2, dtype=np.float64)
    angle = 2.0 * np.pi * k / n_dft
    table = np.empty(n_dft, dtype=np.float64)
    table[0::2] = np.cos(angle)
    table[1::2] = -np.sin(angle)
    return table.astype(np.float32)


def sparse_mel(cfg: FrontendConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The mel matrix per band as (start bin, length, offset, packed weights).

    A band is the bins from its first to its last non-zero weight (an empty band has length 0:
    it floors at amin, exactly as the dense matrix does).
    """
    mel = mel_matrix(cfg)  # (n_bins, n_mels)
    starts: list[int] = []
    lengths: list[int] = []
    offsets: list[int] = []
    weights: list[np.ndarray] = []
    for band in mel.T:
        nonzero = np.flatnonzero(band)
        start = int(nonzero[0]) if nonzero.size else 0
        length = int(nonzero[-1] - nonzero[0] + 1) if nonzero.size else 0
        starts.append(start)
        lengths.append(length)
        offsets.append(sum(len(w) for w in weights))
        weights.append(band[start : start + length])
    packed = np.concatenate(weights).astype(np.float32) if any(lengths) else np.zeros(0, np.float32)
    return (np.array(starts, np.uint16), np.array(lengths, np.uint16), np.array(offsets, np.uint32), packed)


def db_constants(cfg: FrontendConfig) -> tuple[np.float32, np.float32, np.float32]:
    """``(p_min, k, db_amin)`` float32: the power-domain floor of the float32 chain.

    kapre's ``10*log10(max(sqrt(p)**power_melgram, amin))`` is decided on the mel power ``p`` itself:
    ``p > p_min = amin**(2/power_melgram)`` gives ``k * ln(p)`` with ``k = 5*power_melgram/ln(10)``,
    anything else ``db_amin = 10*log10(amin)`` -- one comparison of one float32 value against one
    constant, the same on every machine (``EM_FE_P_MIN``, ``EM_FE_DB_K``, ``EM_FE_DB_AMIN``).
    """
    return (
        np.float32(cfg.amin ** (2.0 / cfg.power_melgram)),
        np.float32(5.0 * cfg.power_melgram / np.log(10.0)),
        np.float32(10.0 * np.log10(cfg.amin)),
    )


# cephes logf's minimax polynomial for ln(1+x), |x| <= sqrt(2)-1 (about 1 ulp in float32); em_ln_f32.
_LN_POLY = tuple(
    np.float32(c)
    for c in (
        7.0376836292e-2,
        -1.1514610310e-1,
        1.1676998740e-1,
        -1.2420140846e-1,
        1.4249322787e-1,
        -1.6668057665e-1,
        2.0000714765e-1,
        -2.4999993993e-1,
        3.3333331174e-1,
    )
)


def _ln_f32(x: np.ndarray) -> np.ndarray:
    """Natural log of positive normal float32 ``x``, operation for operation as ``em_ln_f32``."""
    f32 = np.float32
    bits = np.ascontiguousarray(x, np.float32).view(np.uint32)
    e = ((bits >> np.uint32(23)) & np.uint32(0xFF)).astype(np.int32) - 126
    m = ((bits & np.uint32(0x807FFFFF)) | np.uint32(126 << 23)).view(np.float32)  # [0.5, 1)
    low = m < f32(0.70710678118654752440)
    e = np.where(low, e - 1, e).astype(np.float32)
    m = np.where(low, (m + m) - f32(1.0), m - f32(1.0)).astype(np.float32)
    z = m * m
    y = np.full_like(m, _LN_POLY[0])
    for c in _LN_POLY[1:]:
        y = y * m + c
    y = (y * m) * z
    y = y + f32(-2.12194440e-4) * e
    y = y + f32(-0.5) * z
    m = m + y
    return (m + f32(0.693359375) * e).astype(np.float32)


def _rfft_power_f32(frames: np.ndarray, twiddles: np.ndarray) -> np.ndarray:
    """``(F, n)`` float32 windowed frames -> ``(F, n/2 + 1)`` float32 power, as ``em_rfft_f32`` then
    ``em_logmel_power`` compute it: the n/2-point radix-2 DIT complex FFT of ``x[2t] + i x[2t+1]``
    (Gold-Rader bit reversal, butterflies ``b*w`` then ``a -+ b*w``), the real post-processing, ``re^2 + im^2``."""
    f32 = np.float32
    n_frames, n = frames.shape
    m = n // 2
    re = np.ascontiguousarray(frames[:, 0::2])
    im = np.ascontiguousarray(frames[:, 1::2])
    bits = max(m.bit_length() - 1, 0)
    rev = np.array([int(format(i, f"0{bits}b")[::-1], 2) if bits else 0 for i in range(m)])
    re, im = re[:, rev], im[:, rev]
    size = 2
    while size <= m:
        half = size // 2
        step = (m // size) * 2
        k = np.arange(half)
        wr, wi = twiddles[2 * k * step], twiddles[2 * k * step + 1]
        r3, i3 = re.reshape(n_frames, m // size, size), im.reshape(n_frames, m // size, size)
        a0, a1, b0, b1 = r3[..., :half], i3[..., :half], r3[..., half:], i3[..., half:]
        br = b0 * wr - b1 * wi
        bi = b0 * wi + b1 * wr
        re, im = np.concatenate([a0 + br, a0 - br], axis=-1), np.concatenate([a1 + bi, a1 - bi], axis=-1)
        re, im = re.reshape(n_frames, m), im.reshape(n_frames, m)
        size *= 2
    # post-processing: X[0] = Zr + Zi, X[m] = Zr - Zi; pairs (k, m-k) for k = 1..m/2
    power = np.empty((n_frames, m + 1), np.float32)
    power[:, 0] = (re[:, 0] + im[:, 0]) * (re[:, 0] + im[:, 0])
    power[:, m] = (re[:, 0] - im[:, 0]) * (re[:, 0] - im[:, 0])
    if m >= 2:
        k = np.arange(1, m // 2 + 1)
        a, b, c, d = re[:, k], im[:, k], re[:, m - k], im[:, m - k]
        er, ei = f32(0.5) * (a + c), f32(0.5) * (b - d)
        orr, oi = f32(0.5) * (b + d), f32(-0.5) * (a - c)
        wr, wi = twiddles[2 * k], twiddles[2 * k + 1]
        tr = wr * orr - wi * oi
        ti = wr * oi + wi * orr
        xr, xi = er + tr, ei + ti  # X[k]
        yr, yi = er - tr, ti - ei  # X[m-k] (k = m/2 pairs with itself: this one is stored last)
        power[:, k] = xr * xr + xi * xi
        power[:, m - k] = yr * yr + yi * yi
    return power


def log_mel_db_f32(audio: np.ndarray, cfg: FrontendConfig) -> np.ndarray:
    """The float32 chain's dB values before normalisation: ``(batch, n_mels, n_frames)`` float32.

    Exactly ``em_logmel_frame_db``'s operations: float32 audio times the float32 periodic Hann window
    (one rounding), ``_rfft_power_f32``, each mel band summed in float32 from its first to its last
    non-zero weight in bin order, then the power-domain floor (``db_constants``) and ``k * ln(p)``.
    """
    f32 = np.float32
    batch = np.asarray(audio)
    batch = batch[None] if batch.ndim == 1 else batch
    n = batch.shape[-1]
    left = cfg.pad_left(n)
    padded = np.pad(batch.astype(np.float32), ((0, 0), (left, cfg.pad_total(n) - left)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, cfg.n_dft, axis=-1)[:, :: cfg.n_hop]
    windows = windows[:, : cfg.n_frames(n)]
    b, t = windows.shape[:2]
    frames = windows.reshape(b * t, cfg.n_dft) * hann_window(cfg.n_dft)
    power = _rfft_power_f32(frames.astype(np.float32), fft_twiddles(cfg.n_dft))
    starts, lengths, offsets, weights = sparse_mel(cfg)
    acc = np.zeros((b * t, cfg.n_mels), np.float32)
    padded_power = np.pad(power, ((0, 0), (0, int(lengths.max(initial=0)))))
    for i in range(int(lengths.max(initial=0))):
        active = lengths > i
        w = np.where(active, weights[np.minimum(offsets + i, max(len(weights) - 1, 0))], f32(0.0))
        acc = np.where(active, acc + padded_power[:, starts.astype(np.int64) + i] * w.astype(np.float32), acc)
    p_min, k, db_amin = db_constants(cfg)
    floor = ~(acc > p_min)
    db = np.where(floor, db_amin, k * _ln_f32(np.where(floor, f32(1.0), acc))).astype(np.float32)
    return np.transpose(db.reshape(b, t, cfg.n_mels), (0, 2, 1))


def log_mel_spectrogram_f32(audio: np.ndarray, cfg: FrontendConfig) -> np.ndarray:
    """The float32 chain (``log_mel_db_f32``) minus the per-example maximum, clipped at -dynamic_range:
    ``(n_mels, n_frames)`` or ``(batch, n_mels, n_frames)`` float32 -- what the device quantises."""
    audio = _check_audio(audio)
    if not cfg.return_decibel:
        raise InvalidInputError("the float32 chain implements only dB output: use a config with return_decibel=True")
    db = log_mel_db_f32(audio, cfg)
    out = np.maximum(db - db.max(axis=(1, 2), keepdims=True), np.float32(-cfg.dynamic_range)).astype(np.float32)
    return out[0] if audio.ndim == 1 else out


def quantize_input(spec_db: np.ndarray, input_affine: tuple[float, float], scale: float, zero_point: int) -> np.ndarray:
    """Host reference of the device's int8 model input (what ``em_logmel_s8`` must produce).

    ``y = a*x + b`` (the input BatchNormalization, float32), then TFLite's QUANTIZE:
    ``clamp(round_half_away_from_zero(y / scale) + zero_point, -128, 127)`` in float32
    (TFLite's AffineQuantize divides by the scale, it does not multiply by its inverse).
    """
    a, b = input_affine
    x = np.asarray(spec_db, dtype=np.float32)
    y = x * np.float32(a) + np.float32(b)
    quotient = (y / np.float32(scale)).astype(np.float64)  # the float32 quotient, exactly
    rounded = np.sign(quotient) * np.floor(np.abs(quotient) + 0.5)  # std::round, exact in float64
    q = np.clip(rounded, -1024, 1024).astype(np.int32) + int(zero_point)
    return np.clip(q, -128, 127).astype(np.int8)


def model_input_int8(
    audio: np.ndarray, cfg: FrontendConfig, input_affine: tuple[float, float], scale: float, zero_point: int
) -> np.ndarray:
    """THE host int8 model input: ``log_mel_spectrogram_f32`` -> the input affine -> ``quantize_input``.

    ``audio``: float windows at ``cfg.sr``, ``(n,)`` or ``(batch, n)``. Everything that needs the int8
    spectrogram on the host (the export report, the board bench, the int8 embedders, the device
    front-end's reference) computes it here.
    """
    return quantize_input(log_mel_spectrogram_f32(audio, cfg), input_affine, scale, zero_point)


def _keras_layer_class():
    import tensorflow as tf
    import tf_keras as keras

    class MelSpectrogram(keras.layers.Layer):
        """kapre-0.1 ``Melspectrogram`` as a tf_keras layer.

        Input ``(batch, 1, n_samples)`` (kapre's channels-first mono audio; ``(batch, n)`` is
        accepted too); output ``(batch, n_mels, n_frames, 1)`` float32. Non-trainable weights,
        in kapre's order: ``real_kernels`` and ``imag_kernels`` ``(n_dft, 1, 1, n_bins)``, then
        the mel matrix ``(n_bins, n_mels)`` named ``Variable`` like kapre's unnamed
        ``K.variable`` so h5 weight names line up.

        On Ampere-or-newer GPUs TensorFlow runs float32 conv/matmul as TF32 by default, which
        moves quiet bands by far more than the 1e-3 dB this layer is tested to on CPU; call
        ``tf.config.experimental.enable_tensor_float_32_execution(False)`` where exactness matters.
        """

        def __init__(self, cfg: FrontendConfig | Mapping[str, Any], name: str = "melspectrogram", **kwargs):
            kwargs.setdefault("trainable", False)
            # Always float32, even under a mixed-precision policy: the dB range needs it.
            kwargs.setdefault("dtype", "float32")
            super().__init__(name=name, **kwargs)
            self.cfg = cfg if isinstance(cfg, FrontendConfig) else FrontendConfig.from_dict(cfg)

        def build(self, input_shape):
            cfg = self.cfg
            real, imag = dft_kernels(cfg)
            shape = (cfg.n_dft, 1, 1, cfg.n_bins)
            self.real_kernels = self.add_weight(
                name="real_kernels",
                shape=shape,
                dtype="float32",
                trainable=False,
                initializer=keras.initializers.Constant(real.reshape(shape)),
            )
            self.imag_kernels = self.add_weight(
                name="imag_kernels",
                shape=shape,
                dtype="float32",
                trainable=False,
                initializer=keras.initializers.Constant(imag.reshape(shape)),
            )
            self.freq2mel = self.add_weight(
                name="Variable",
                shape=(cfg.n_bins, cfg.n_mels),
                dtype="float32",
                trainable=False,
                initializer=keras.initializers.Constant(mel_matrix(cfg)),
            )
            super().build(input_shape)

        def call(self, inputs):
            cfg = self.cfg
            x = tf.cast(inputs, tf.float32)
            if x.shape.rank == 3:
                x = x[:, 0, :]  # kapre: mono channel 0
            x = x[:, :, None, None]  # (B, n, 1, 1)
            strides = (1, cfg.n_hop, 1, 1)
            re = tf.nn.conv2d(x, self.real_kernels, strides=strides, padding="SAME")
            im = tf.nn.conv2d(x, self.imag_kernels, strides=strides, padding="SAME")
            power = tf.square(re[:, :, 0, :]) + tf.square(im[:, :, 0, :])  # (B, T, n_bins)
            out = tf.matmul(power, self.freq2mel)  # (B, T, n_mels)
            if cfg.power_melgram != 2.0:
                out = tf.pow(tf.sqrt(out), cfg.power_melgram)
            if cfg.return_decibel:
                out = 10.0 * tf.math.log(tf.maximum(out, cfg.amin)) / np.float32(np.log(10.0))
                out = out - tf.reduce_max(out, axis=(1, 2), keepdims=True)
                out = tf.maximum(out, -cfg.dynamic_range)
            return tf.transpose(out, (0, 2, 1))[..., None]  # (B, n_mels, T, 1)

        def compute_output_shape(self, input_shape):
            n = input_shape[-1]
            frames = None if n is None else self.cfg.n_frames(n)
            return (input_shape[0], self.cfg.n_mels, frames, 1)

        def get_config(self):
            config = super().get_config()
            config["cfg"] = self.cfg.to_dict()
            return config

        @classmethod
        def from_config(cls, config):
            config = dict(config)
            return cls(FrontendConfig.from_dict(config.pop("cfg")), **config)

    return MelSpectrogram


def __getattr__(name):
    # The Keras layer is built lazily so importing this module never imports TensorFlow.
    if name == "MelSpectrogram":
        cls = _keras_layer_class()
        globals()["MelSpectrogram"] = cls
        import tf_keras as keras

        keras.utils.get_custom_objects()["MelSpectrogram"] = cls  # saved models load without custom_objects
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
