"""The hand-written real FFT (firmware/frontend/em_fft.c) against numpy.fft.rfft."""

import ctypes

import numpy as np
import pytest

from edgel3_mote.export.frontend_tables import FRONTEND_C_DIR, fft_twiddles
from edgel3_mote.export.hostbuild import load_shared


@pytest.fixture(scope="module")
def fft_lib():
    return load_shared([FRONTEND_C_DIR / "em_fft.c"], include_dirs=[FRONTEND_C_DIR], name="em_fft")


def _rfft(lib, x):
    buf = np.ascontiguousarray(x, dtype=np.float32).copy()
    table = fft_twiddles(len(buf))
    lib.em_rfft_f32(
        buf.ctypes.data_as(ctypes.c_void_p), ctypes.c_int32(len(buf)), table.ctypes.data_as(ctypes.c_void_p)
    )
    n = len(buf)
    spectrum = np.empty(n // 2 + 1, np.complex128)
    spectrum[0], spectrum[-1] = buf[0], buf[1]
    spectrum[1:-1] = buf[2::2] + 1j * buf[3::2]
    return spectrum


@pytest.mark.parametrize("n", [1024, 2048, 4, 8, 64])
def test_rfft_matches_numpy_on_noise(fft_lib, n):
    x = np.random.default_rng(n).standard_normal(n).astype(np.float32)
    ref = np.fft.rfft(x.astype(np.float64))
    got = _rfft(fft_lib, x)
    assert np.abs(got - ref).max() / np.abs(ref).max() < 1e-6


@pytest.mark.parametrize("n", [1024, 2048])
def test_rfft_of_a_tone_puts_energy_in_its_bins(fft_lib, n):
    t = np.arange(n)
    x = np.cos(2 * np.pi * 37 * t / n) + 0.5 * np.sin(2 * np.pi * 200 * t / n)
    got = _rfft(fft_lib, x)
    ref = np.fft.rfft(x)
    assert np.abs(got - ref).max() < 1e-6 * n
    assert abs(got[37] - n / 2) < 1e-3 and abs(got[200] - (-0.25j * n)) < 1e-3
    assert np.sort(np.abs(got))[-3] < 1e-3  # everything else ~0


def test_twiddle_table_layout():
    table = fft_twiddles(8)
    assert table.dtype == np.float32 and table.shape == (8,)
    w = np.exp(-2j * np.pi * np.arange(4) / 8)
    np.testing.assert_allclose(table[0::2], w.real, atol=1e-7)
    np.testing.assert_allclose(table[1::2], w.imag, atol=1e-7)
