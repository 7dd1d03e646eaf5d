"""The kernels cross-compiled for a Cortex-M4F and run in QEMU: the real SXTB16/SMLAD instructions
(not the host's C emulations) must give the portable path's bytes, and sparse must equal dense."""
from __future__ import annotations

import subprocess

from edgel3_mote.firmware.testing.kernel_bench import host_checksum, run_bench


def test_dsp_and_portable_builds_agree_on_cortex_m4(tmp_path):
    portable = run_bench("qemu-mps2-an386", dsp=False, out_dir=tmp_path)
    dsp = run_bench("qemu-mps2-an386", dsp=True, out_dir=tmp_path)
    dis = subprocess.run(["arm-none-eabi-objdump", "-d", str(tmp_path / "bench_dsp.elf")],
                         capture_output=True, text=True, check=True).stdout
    plain = subprocess.run(["arm-none-eabi-objdump", "-d", str(tmp_path / "bench.elf")],
                           capture_output=True, text=True, check=True).stdout
    assert "smlad" in dis and "smlad" not in plain
    for r in (portable, dsp):
        assert r["exit_code"] == 0 and r["status_ok"] == 1 and r["sparse_equals_dense"] == 1, r
        assert r["ticks_are_instructions"] == 1
    assert portable["checksum"] == dsp["checksum"] == host_checksum()
    # The dual-MAC path must actually be cheaper (instructions under -icount).
    assert dsp["conv_dense_ticks"] < 0.6 * portable["conv_dense_ticks"]
    assert dsp["fc_ticks"] < portable["fc_ticks"]
