"""The fixed-point helpers (em_common.h), export.quant_params, and the Cortex-M builds of the kernels."""

from __future__ import annotations

import ctypes as C
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgel3_mote.export import quant_params as qp
from edgel3_mote.export.hostbuild import INCLUDE_DIR, load_shared
from tests.support.kernel_lib import EM_ERR_ARG, KERNEL_SOURCES, KernelLib, RowWindow

SHIM = Path(__file__).resolve().parents[1] / "support" / "em_common_shim.c"
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


def _wrap32(v: int) -> int:
    return (v + 2**31) % 2**32 - 2**31


# Python statements of gemmlowp / TFLite's definitions (big integers, explicit truncation).
def ref_srdhm(a: int, b: int) -> int:
    if a == b == INT32_MIN:
        return INT32_MAX
    ab = a * b
    nudge = (1 << 30) if ab >= 0 else 1 - (1 << 30)
    q = abs(ab + nudge) // (1 << 31)
    return q if ab + nudge >= 0 else -q  # C++ division truncates toward zero


def ref_rdbpot(x: int, e: int) -> int:
    mask = (1 << e) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> e) + (1 if remainder > threshold else 0)


def ref_mbqm_double(x: int, m: int, s: int) -> int:
    left, right = max(s, 0), max(-s, 0)
    return ref_rdbpot(ref_srdhm(_wrap32(x * (1 << left)), m), right)


def ref_mbqm_single(x: int, m: int, s: int) -> int:
    total = 31 - s
    return (x * m + (1 << (total - 1))) >> total


@pytest.fixture(scope="module", params=[0, 1], ids=["double_rounding", "single_rounding"])
def shim(request):
    lib = load_shared([SHIM], defines={"EM_SINGLE_ROUNDING": request.param}, name=f"em_common_shim{request.param}")
    for fn in (lib.shim_srdhm, lib.shim_rdbpot):
        fn.argtypes, fn.restype = [C.c_int32, C.c_int32], C.c_int32
    lib.shim_mbqm.argtypes, lib.shim_mbqm.restype = [C.c_int32] * 3, C.c_int32
    lib.single = bool(request.param)
    return lib


def test_fixed_point_helpers_match_their_definitions(shim):
    rng = np.random.default_rng(0)
    edge = [INT32_MIN, INT32_MIN + 1, -1, 0, 1, INT32_MAX, 1 << 30, -(1 << 30), 12345, -12345]
    xs = (
        edge
        + [int(v) for v in rng.integers(INT32_MIN, INT32_MAX, 300)]
        + [int(v) for v in rng.integers(-100000, 100000, 300)]
    )
    for a in xs[:60]:
        for b in edge + [int(v) for v in rng.integers(INT32_MIN, INT32_MAX, 5)]:
            assert shim.shim_srdhm(a, b) == ref_srdhm(a, b), (a, b)
    for x in xs:
        for e in (0, 1, 2, 7, 15, 30, 31):
            assert shim.shim_rdbpot(x, e) == ref_rdbpot(x, e), (x, e)
    ref = ref_mbqm_single if shim.single else ref_mbqm_double
    n_diff = 0
    for x in xs[10:]:
        m = int(rng.integers(1 << 30, 1 << 31))
        s = int(rng.integers(-20, 3))
        if shim.single and _wrap32(x * (1 << max(s, 0))) != x * (1 << max(s, 0)):
            continue
        got = shim.shim_mbqm(x, m, s)
        assert got == ref(x, m, s), (x, m, s)
        n_diff += got != (ref_mbqm_double(x, m, s) if shim.single else ref_mbqm_single(x, m, s))
    assert n_diff > 0  # the two variants really are different functions


def test_quantize_multiplier():
    assert qp.quantize_multiplier(0.0) == (0, 0)
    assert qp.quantize_multiplier(0.5) == (1 << 30, 0)
    assert qp.quantize_multiplier(1.0) == (1 << 30, 1)
    assert qp.quantize_multiplier(0.75) == (3 << 29, 0)
    assert qp.quantize_multiplier(1 - 2**-40) == (1 << 30, 1)  # rounds up to 2^31: renormalised
    assert qp.quantize_multiplier(1e-12) == (0, 0)  # below 2^-31: flushed like TFLite
    for real in np.random.default_rng(1).uniform(1e-6, 4.0, 200):
        m, s = qp.quantize_multiplier(real)
        assert (1 << 30) <= m < (1 << 31)
        assert abs(m * 2.0 ** (s - 31) - real) <= 2.0 ** (s - 32)


def test_conv_multipliers_use_double_products():
    mult, shift = qp.conv_multipliers(0.1, [0.02, 0.5], 0.3)
    assert mult.dtype == np.int32 and shift.tolist() == [-7, -2]
    expect = qp.quantize_multiplier(float(np.float32(0.1)) * float(np.float32(0.02)) / float(np.float32(0.3)))
    assert (int(mult[0]), int(shift[0])) == expect


def test_padding_and_activation_ranges():
    assert qp.out_size_and_padding(64, 3, 1, 1, "same") == (64, 1)
    assert qp.out_size_and_padding(9, 2, 2, 1, "same") == (5, 0)  # odd total: the extra row goes last
    assert qp.out_size_and_padding(13, 3, 2, 1, "same") == (7, 1)
    assert qp.out_size_and_padding(8, 5, 2, 1, "valid") == (2, 0)
    assert qp.out_size_and_padding(12, 3, 1, 2, "same") == (12, 2)
    assert qp.activation_range("NONE", 0.1, 3) == (-128, 127)
    assert qp.activation_range("RELU", 0.1, -10) == (-10, 127)
    assert qp.activation_range("RELU6", 0.05, -128) == (-128, -8)
    assert qp.activation_range("RELU6", 0.01, 0) == (0, 127)
    with pytest.raises(ValueError):
        qp.activation_range("GELU", 0.1, 0)


def test_bad_arguments_are_rejected():
    lib = KernelLib()
    filt = np.ones((2, 3, 3, 4), np.int8)
    good = dict(
        stride_h=1,
        stride_w=1,
        pad_top=1,
        pad_left=1,
        dilation_h=1,
        dilation_w=1,
        input_offset=0,
        output_offset=0,
        activation_min=-128,
        activation_max=127,
    )
    assert lib.conv2d_status((5, 5, 4), filt, good, (5, 5, 2), RowWindow(0, 5, 0, 5, 0)) == 0
    assert lib.conv2d_status((5, 5, 4), filt, dict(good, stride_h=0), (5, 5, 2), RowWindow(0, 5, 0, 5, 0)) == EM_ERR_ARG
    assert lib.conv2d_status((5, 5, 3), filt, good, (5, 5, 2), RowWindow(0, 5, 0, 5, 0)) == EM_ERR_ARG
    assert lib.conv2d_status((5, 5, 4), filt, good, (5, 5, 2), RowWindow(0, 5, 0, 6, 0)) == EM_ERR_ARG


ARM_FLAGS = {
    "cortex-m4": ["-mcpu=cortex-m4", "-mthumb", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard"],
    "cortex-m7": ["-mcpu=cortex-m7", "-mthumb", "-mfpu=fpv5-d16", "-mfloat-abi=hard"],
    "cortex-m0": ["-mcpu=cortex-m0", "-mthumb"],  # no DSP extension: the C emulation is used
}


@pytest.mark.parametrize("cpu", list(ARM_FLAGS))
def test_kernels_cross_compile_for_cortex_m(cpu, tmp_path):
    cc = shutil.which("arm-none-eabi-gcc")
    assert cc, "arm-none-eabi-gcc is part of the toolchain (make setup)"
    for dsp in (False, True):
        out_dir = tmp_path / ("dsp" if dsp else "plain")
        out_dir.mkdir()
        cmd = [
            cc,
            *ARM_FLAGS[cpu],
            "-O2",
            "-std=c99",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-Wno-unused-parameter",
            f"-I{INCLUDE_DIR}",
            *(["-DEM_USE_DSP"] if dsp else []),
            "-c",
            *map(str, KERNEL_SOURCES),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=out_dir)  # one .o per source
        assert proc.returncode == 0, proc.stderr
        assert len(list(out_dir.glob("*.o"))) == len(KERNEL_SOURCES)
    objdump = shutil.which("arm-none-eabi-objdump")
    dis = subprocess.run([objdump, "-d", str(tmp_path / "dsp" / "conv2d_s8.o")], capture_output=True, text=True).stdout
    fc = subprocess.run(
        [objdump, "-d", str(tmp_path / "dsp" / "fully_connected_s8.o")], capture_output=True, text=True
    ).stdout
    has_dsp = cpu != "cortex-m0"
    assert ("smlad" in dis and "sxtb16" in dis and "smlad" in fc) == has_dsp
    plain = subprocess.run(
        [objdump, "-d", str(tmp_path / "plain" / "conv2d_s8.o")], capture_output=True, text=True
    ).stdout
    assert "smlad" not in plain
