"""The C log-mel front-end (em_logmel_s8) against the numpy reference chain: real clips, and the signal classes a
deployed mote hears (band-limited material, DC, digital silence, full-scale clipping) -- 100 % identical int8."""

import ctypes
import re
import shutil
import subprocess

import h5py
import librosa
import numpy as np
import pytest

from edgel3_mote.compress.frontend import (
    L3_FRONTEND,
    SEA_FRONTEND,
    FrontendConfig,
    hann_window,
    log_mel_spectrogram,
    mel_matrix,
    quantize_input,
)
from edgel3_mote.errors import ExportError, InvalidInputError
from edgel3_mote.export.frontend_tables import (
    FRONTEND_C_DIR,
    generate_frontend_tables,
    reference_logmel_s8,
    render_frontend_tables,
    scratch_bytes,
    sparse_mel,
)
from edgel3_mote.export.hostbuild import load_shared


@pytest.fixture(scope="module")
def sea_input_params(sea64_weights):
    """The real SEA-64 input BatchNormalization and an int8 scale covering its output for [-80, 0] dB."""
    with h5py.File(sea64_weights, "r") as f:
        g = f["model_weights/batch_normalization_1/batch_normalization_1"]
        gamma, beta, mean, var = (float(g[f"{k}:0"][0]) for k in ("gamma", "beta", "moving_mean", "moving_variance"))
    scale = gamma / np.sqrt(var + 1e-3)
    offset = beta - mean * scale
    lo, hi = sorted([-80.0 * scale + offset, offset])
    q_scale = (hi - lo) / 255.0
    return (scale, offset), (q_scale, int(round(-128 - lo / q_scale)))


class FrontEnd:
    def __init__(self, cfg, affine, quant, out_dir):
        self.cfg, self.affine, self.quant = cfg, affine, quant
        generate_frontend_tables(cfg, affine, quant, out_dir)
        self.lib = load_shared(
            [FRONTEND_C_DIR / "em_fft.c", FRONTEND_C_DIR / "em_logmel.c", out_dir / "em_frontend_tables.c"],
            include_dirs=[FRONTEND_C_DIR, out_dir],
            name=f"em_logmel_{cfg.n_dft}",
        )
        self.scratch = np.zeros(self.lib.em_logmel_get_buffer_size() // 4 + 1, np.float32)
        self.n_out = cfg.n_mels * cfg.n_frames(cfg.sr)

    def run(self, pcm, n_samples=None, scratch_offset=0):
        out = np.zeros(self.n_out, np.int8)
        pcm = np.ascontiguousarray(pcm, np.int16)
        rc = self.lib.em_logmel_s8(
            pcm.ctypes.data_as(ctypes.c_void_p),
            ctypes.c_int32(len(pcm) if n_samples is None else n_samples),
            out.ctypes.data_as(ctypes.c_void_p),
            ctypes.c_void_p(self.scratch.ctypes.data + scratch_offset),
        )
        return rc, out.reshape(self.cfg.n_mels, -1)

    def reference(self, pcm):
        return reference_logmel_s8(np.asarray(pcm, np.int16), self.cfg, self.affine, self.quant)


def _pcm_from_float(y):
    return np.clip(np.round(np.asarray(y) * 32768.0), -32768, 32767).astype(np.int16)


def _pcm(path, sr):
    y, _ = librosa.load(path, sr=sr, duration=1.0)
    return _pcm_from_float(y[:sr])  # resampling may give one sample more than the 1-s window


@pytest.fixture(scope="module")
def sea_frontend(sea_input_params, tmp_path_factory):
    return FrontEnd(SEA_FRONTEND, *sea_input_params, tmp_path_factory.mktemp("sea_tables"))


def test_reference_logmel_s8_is_the_documented_chain(sea_input_params):
    pcm = (np.random.default_rng(6).standard_normal(5000) * 2000).astype(np.int16)
    audio = np.concatenate([pcm / 32768.0, np.zeros(3000)])
    expected = quantize_input(log_mel_spectrogram(audio, SEA_FRONTEND), *sea_input_params[:1], *sea_input_params[1])
    np.testing.assert_array_equal(reference_logmel_s8(pcm, SEA_FRONTEND, *sea_input_params), expected)
    with pytest.raises(InvalidInputError):
        reference_logmel_s8(np.zeros(8001, np.int16), SEA_FRONTEND, *sea_input_params)


def _agreement(got, ref):
    diff = np.abs(got.astype(np.int32) - ref.astype(np.int32))
    return (diff == 0).mean(), int(diff.max())


def test_sea_matches_reference_on_real_clips(sea_frontend, clip_paths, figure):
    assert sea_frontend.lib.em_logmel_get_buffer_size() == scratch_bytes(SEA_FRONTEND) == 4352
    got, ref = [], []
    for path in clip_paths:
        pcm = _pcm(path, 8000)
        rc, out = sea_frontend.run(pcm)
        assert rc == 0
        got.append(out)
        ref.append(sea_frontend.reference(pcm))
    got, ref = np.stack(got), np.stack(ref)
    assert got.shape == (10, 64, 50)
    identical, max_lsb = _agreement(got, ref)
    print(f"SEA 10 clips: {identical:.4%} identical, max {max_lsb} LSB")
    figure("frontend.sea.identical_pct", 100 * identical)
    figure("frontend.sea.max_lsb", max_lsb)
    assert len(np.unique(ref)) > 100  # real dynamic range, not a saturated comparison


def test_sea_with_identity_affine(clip_paths, tmp_path):
    # A plain [-80, 0] dB -> int8 mapping: a finer check of the dB values themselves.
    fe = FrontEnd(SEA_FRONTEND, (1.0, 0.0), (80.0 / 255.0, 127), tmp_path)
    got, ref = zip(*[(fe.run(p)[1], fe.reference(p)) for p in (_pcm(c, 8000) for c in clip_paths[:4])])
    identical, max_lsb = _agreement(np.stack(got), np.stack(ref))
    assert identical == 1.0 and max_lsb == 0


def test_l3_matches_reference_on_real_clips(clip_paths, tmp_path, figure):
    fe = FrontEnd(L3_FRONTEND, (0.1, 2.0), (7.0 / 255.0, 58), tmp_path)
    assert fe.lib.em_logmel_get_buffer_size() == scratch_bytes(L3_FRONTEND) == 9216
    got, ref = [], []
    for path in clip_paths[:4]:
        pcm = _pcm(path, 48000)
        rc, out = fe.run(pcm)
        assert rc == 0 and out.shape == (256, 199)
        got.append(out)
        ref.append(fe.reference(pcm))
    identical, max_lsb = _agreement(np.stack(got), np.stack(ref))
    print(f"L3 4 clips: {identical:.4%} identical, max {max_lsb} LSB")
    figure("frontend.l3.identical_pct", 100 * identical)
    figure("frontend.l3.max_lsb", max_lsb)


def test_short_input_is_zero_padded_and_silence_is_flat(sea_frontend):
    rng = np.random.default_rng(5)
    pcm = (rng.standard_normal(3000) * 3000).astype(np.int16)
    rc, out = sea_frontend.run(pcm)
    assert rc == 0
    np.testing.assert_array_equal(out, sea_frontend.reference(pcm))
    rc, silent = sea_frontend.run(np.zeros(0, np.int16))
    assert rc == 0 and np.all(silent == silent.flat[0])
    np.testing.assert_array_equal(silent, sea_frontend.reference(np.zeros(0, np.int16)))


@pytest.fixture(scope="module", params=["sea", "l3"])
def any_frontend(request, sea_input_params, tmp_path_factory):
    """Both front-ends: SEA with the real SEA-64 input affine, L3 with an L3-like one."""
    if request.param == "sea":
        return FrontEnd(SEA_FRONTEND, *sea_input_params, tmp_path_factory.mktemp("sea_signals"))
    return FrontEnd(L3_FRONTEND, (0.1, 2.0), (7.0 / 255.0, 58), tmp_path_factory.mktemp("l3_signals"))


def _band_limited(path, material_sr, model_sr):
    """1 s of a clip as material_sr material (a phone, a field recorder's low-rate mode), resampled to the
    model rate as a user's pipeline would (compress.audio.resample), as int16."""
    from edgel3_mote.compress.audio import resample

    y, _ = librosa.load(path, sr=material_sr, duration=1.0)
    return _pcm_from_float(resample(y, material_sr, model_sr)[:model_sr])


# material rates below each model's rate: the empty upper bands sit at the -80 dB floor
BAND_LIMITED_RATES = {8000: (2000, 4000, 6000), 48000: (8000, 11025, 16000, 22050)}


def test_band_limited_material_is_bit_exact(any_frontend, clip_paths):
    fe, sr = any_frontend, any_frontend.cfg.sr
    floor = quantize_input(np.float32([-fe.cfg.dynamic_range]), fe.affine, *fe.quant)[0]
    at_floor = []
    for path in clip_paths[:2]:
        for material_sr in BAND_LIMITED_RATES[sr]:
            pcm = _band_limited(path, material_sr, sr)
            rc, out = fe.run(pcm)
            assert rc == 0
            np.testing.assert_array_equal(out, fe.reference(pcm), err_msg=f"{path.name} at {material_sr} Hz")
            at_floor.append(np.mean(out == floor))
    print(f"{fe.cfg.sr} Hz: values at the -80 dB floor per window {np.round(at_floor, 3)}")
    assert max(at_floor) > 0.05  # the empty upper bands really reach the floor


def _constant_and_extreme_signals(sr):
    rng = np.random.default_rng(11)
    t = np.arange(sr) / sr
    click = np.zeros(sr, np.int16)
    click[sr // 3] = 32767
    return {
        "digital silence": np.zeros(sr, np.int16),
        "silence then a click": click,
        "DC -32768": np.full(sr, -32768, np.int16),
        "DC +1": np.full(sr, 1, np.int16),
        "DC +1000": np.full(sr, 1000, np.int16),
        "DC + quiet tone": (1000 + 20 * np.sin(2 * np.pi * 300 * t)).astype(np.int16),
        "full-scale square 440 Hz": np.where(np.sin(2 * np.pi * 440 * t) >= 0, 32767, -32768).astype(np.int16),
        "full-scale square, integer period": np.where((np.arange(sr) // 20) % 2, 32767, -32768).astype(np.int16),
        "hard-clipped noise": np.clip(rng.normal(0, 4 * 32768, sr), -32768, 32767).astype(np.int16),
        "short burst, zero-padded": (rng.standard_normal(sr // 4) * 3000).astype(np.int16),
    }


def test_dc_silence_and_clipping_are_bit_exact(any_frontend, clip_paths):
    fe = any_frontend
    signals = _constant_and_extreme_signals(fe.cfg.sr)
    y, _ = librosa.load(clip_paths[0], sr=fe.cfg.sr, duration=1.0)
    signals["real clip x16, hard-clipped"] = _pcm_from_float(16 * y[: fe.cfg.sr])
    for what, pcm in signals.items():
        rc, out = fe.run(pcm)
        assert rc == 0
        np.testing.assert_array_equal(out, fe.reference(pcm), err_msg=what)
    assert len(np.unique(fe.run(signals["DC -32768"])[1])) > 2  # a real spectrum, not one constant


def test_bad_arguments_are_rejected(sea_frontend):
    pcm = np.zeros(8001, np.int16)
    assert sea_frontend.run(pcm)[0] == -1  # longer than the window
    assert sea_frontend.run(pcm[:10], n_samples=-1)[0] == -1
    assert sea_frontend.run(pcm[:100], scratch_offset=2)[0] == -2  # misaligned scratch


def test_sparse_mel_tables_rebuild_the_dense_matrix():
    for cfg in (SEA_FRONTEND, L3_FRONTEND):
        starts, lengths, offsets, weights = sparse_mel(cfg)
        dense = np.zeros((cfg.n_bins, cfg.n_mels), np.float32)
        for m in range(cfg.n_mels):
            dense[starts[m] : starts[m] + lengths[m], m] = weights[offsets[m] : offsets[m] + lengths[m]]
        np.testing.assert_array_equal(dense, mel_matrix(cfg))
        assert len(weights) < 0.1 * dense.size


def test_generated_header_and_float_literals(sea_input_params):
    header, source = render_frontend_tables(SEA_FRONTEND, *sea_input_params)
    defines = dict(re.findall(r"#define (EM_FE_\w+) (\S+)", header))
    assert defines["EM_FE_N_FRAMES"] == "50" and defines["EM_FE_PAD_LEFT"] == "432"
    assert defines["EM_FE_WINDOW_SAMPLES"] == "8000" and defines["EM_FE_N_MELS"] == "64"
    assert np.float32(defines["EM_FE_AFFINE_SCALE"].rstrip("f")) == np.float32(sea_input_params[0][0])
    window = source.split("em_fe_window[EM_FE_N_DFT] = {")[1].split("};")[0]
    values = np.array([float(v.rstrip("f")) for v in window.replace("\n", " ").split(",") if v.strip()], np.float32)
    # the shortest float32 literals read back bit-exactly, and the window is the periodic Hann
    np.testing.assert_array_equal(values, hann_window(1024))
    assert values[0] == 0.0 and values[512] == 1.0 and values[256] == np.float32(0.5)


def test_export_rejects_what_the_device_cannot_do(tmp_path):
    no_db = FrontendConfig(sr=8000, n_dft=1024, n_hop=160, n_mels=64, return_decibel=False)
    with pytest.raises(ExportError):
        generate_frontend_tables(no_db, (1.0, 0.0), (0.3, 0), tmp_path)
    with pytest.raises(ExportError):
        generate_frontend_tables(SEA_FRONTEND, (1.0, 0.0), (0.3, 200), tmp_path)
    with pytest.raises(ExportError):
        generate_frontend_tables(SEA_FRONTEND, (float("nan"), 0.0), (0.3, 0), tmp_path)
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_cross_compiles_warning_free_for_cortex_m4f(sea_input_params, tmp_path):
    cc = shutil.which("arm-none-eabi-gcc")
    assert cc, "arm-none-eabi-gcc is missing: run make setup"
    generate_frontend_tables(SEA_FRONTEND, *sea_input_params, tmp_path)
    flags = [
        "-std=c99",
        "-O2",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-Wdouble-promotion",
        "-Wconversion",
        "-mthumb",
        "-mcpu=cortex-m4",
        "-mfpu=fpv4-sp-d16",
        "-mfloat-abi=hard",
        f"-I{FRONTEND_C_DIR}",
        f"-I{tmp_path}",
    ]
    for src in (FRONTEND_C_DIR / "em_fft.c", FRONTEND_C_DIR / "em_logmel.c", tmp_path / "em_frontend_tables.c"):
        obj = tmp_path / (src.stem + ".o")
        proc = subprocess.run([cc, *flags, "-c", str(src), "-o", str(obj)], capture_output=True, text=True)
        assert proc.returncode == 0 and not proc.stderr, proc.stderr
        # single-precision FPU only: no soft-float double helpers may be pulled in
        nm = subprocess.run(["arm-none-eabi-nm", "-u", str(obj)], capture_output=True, text=True, check=True)
        assert "__aeabi_d" not in nm.stdout, nm.stdout


def test_two_passes_frame_by_frame_equal_the_whole_window(sea_frontend, clip_paths):
    """Pass 1 + pass 2 one frame at a time into rows (out_stride 1, the transposed layout a streamed
    pipeline consumes) give exactly em_logmel_s8's output, with only the FFT + one frame of scratch."""
    lib, cfg = sea_frontend.lib, sea_frontend.cfg
    pcm = _pcm(clip_paths[1], 8000)
    _, whole = sea_frontend.run(pcm)
    scratch = np.zeros(lib.em_logmel_get_buffer_size() // 4, np.float32)
    db_max = ctypes.c_float()
    args = (pcm.ctypes.data_as(ctypes.c_void_p), ctypes.c_int32(len(pcm)))
    assert lib.em_logmel_max_db(*args, ctypes.byref(db_max), scratch.ctypes.data_as(ctypes.c_void_p)) == 0
    rows = np.zeros((cfg.n_frames(cfg.sr), cfg.n_mels), np.int8)
    for t in range(rows.shape[0]):
        rc = lib.em_logmel_frame_s8(
            *args,
            ctypes.c_int32(t),
            db_max,
            rows[t].ctypes.data_as(ctypes.c_void_p),
            ctypes.c_int32(1),
            scratch.ctypes.data_as(ctypes.c_void_p),
        )
        assert rc == 0
    np.testing.assert_array_equal(rows.T, whole)
    bad = lib.em_logmel_frame_s8(
        *args,
        ctypes.c_int32(rows.shape[0]),
        db_max,
        rows[0].ctypes.data_as(ctypes.c_void_p),
        ctypes.c_int32(1),
        scratch.ctypes.data_as(ctypes.c_void_p),
    )
    assert bad == -1  # frame index past the window


def test_one_pass_equals_two_passes_on_every_clip(sea_frontend, clip_paths):
    """em_logmel_s8_scratch with the room for every frame's dB values computes each frame once and gives exactly
    em_logmel_s8's int8 (the same float operations); with less room it is the two-pass path; too little is refused."""
    lib, cfg = sea_frontend.lib, sea_frontend.cfg
    one_pass = lib.em_logmel_get_buffer_size_one_pass()
    assert one_pass == 4 * (cfg.n_dft + cfg.n_mels * cfg.n_frames(cfg.sr)) == 16_896
    big = np.zeros(one_pass // 4, np.float32)
    for path in clip_paths:
        pcm = _pcm(path, 8000)
        _, whole = sea_frontend.run(pcm)
        for scratch, n_bytes in ((big, one_pass), (sea_frontend.scratch, one_pass - 4)):
            out = np.zeros(sea_frontend.n_out, np.int8)
            rc = lib.em_logmel_s8_scratch(
                pcm.ctypes.data_as(ctypes.c_void_p),
                ctypes.c_int32(len(pcm)),
                out.ctypes.data_as(ctypes.c_void_p),
                scratch.ctypes.data_as(ctypes.c_void_p),
                ctypes.c_int32(min(n_bytes, scratch.nbytes)),
            )
            assert rc == 0
            np.testing.assert_array_equal(out.reshape(cfg.n_mels, -1), whole, err_msg=str(path))
    out = np.zeros(sea_frontend.n_out, np.int8)
    too_small = lib.em_logmel_get_buffer_size() - 4
    args = (pcm.ctypes.data_as(ctypes.c_void_p), ctypes.c_int32(len(pcm)), out.ctypes.data_as(ctypes.c_void_p))
    assert lib.em_logmel_s8_scratch(*args, big.ctypes.data_as(ctypes.c_void_p), ctypes.c_int32(too_small)) == -1
