"""make bench-kernels' CMSIS-NN column: SEA-64's eight conv shapes through the engine's em_conv2d_s8 and
CMSIS-NN's arm_convolve_wrapper_s8 (compiled from TFLM_PATH) in QEMU (qemu-mps2-an386, Cortex-M4 DSP):
byte-identical outputs on every shape, instructions and estimated cycles per MAC for both."""

from __future__ import annotations

import pytest

from edgel3_mote.board_tests.harness.kernel_bench import cmsis_nn_rows, run_cmsis_nn_bench

pytestmark = pytest.mark.qemu


def test_engine_conv_and_cmsis_nn_agree_byte_for_byte(tmp_path):
    r = run_cmsis_nn_bench("qemu-mps2-an386", tmp_path)
    assert r["exit_code"] == 0
    rows = cmsis_nn_rows(r)
    assert len(rows) == 9 and all(row["identical"] for row in rows)
    for row in rows:  # an M4's DSP conv is between ~1 and ~20 instructions per MAC either way
        assert 0.5 < row["s8_ticks"] < 20 and 0.5 < row["cmsis_ticks"] < 20
        assert row["s8_cycles"] >= row["s8_ticks"] * 0.9 and row["cmsis_cycles"] >= row["cmsis_ticks"] * 0.9
