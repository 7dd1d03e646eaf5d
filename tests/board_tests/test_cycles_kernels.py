"""`make bench-kernels` reports estimated cycles next to instructions (the cycle-estimator hook).

Every ``<name>_ticks`` region of the kernel benchmark firmware must be found in the TB trace with the
same instruction count (within one 40-instruction tick of the MPS2 timer), and the estimated
cycles per MAC must be the figures the README states, to 1 %.
"""
from __future__ import annotations

import pytest

from edgel3_mote.firmware.testing.kernel_bench import run_bench

pytestmark = pytest.mark.qemu

# (instructions/MAC, estimated M4 cycles/MAC) on qemu-mps2-an386, today's kernels; sparse: per dense MAC
STATED = {
    True: {"conv_dense": (2.12, 2.64), "conv_sparse": (1.16, 1.67), "fc": (3.17, 3.98)},    # -DEM_USE_DSP
    False: {"conv_dense": (5.52, 7.88), "conv_sparse": (1.16, 1.67), "fc": (6.14, 9.19)},   # portable C
}


@pytest.fixture(scope="module", params=[True, False], ids=["dsp", "portable"])
def dsp_bench(request, tmp_path_factory):
    return request.param, run_bench("qemu-mps2-an386", dsp=request.param, out_dir=tmp_path_factory.mktemp("kbench"))


def test_every_timed_region_is_traced_with_its_instruction_count(dsp_bench):
    _, r = dsp_bench
    assert r["exit_code"] == 0
    for name in ("conv_dense", "conv_sparse", "fc"):
        assert abs(r[f"{name}_traced_instructions"] - r[f"{name}_ticks"]) < 40
        assert r[f"{name}_cycles"] > r[f"{name}_traced_instructions"]  # no M4 instruction takes < 1 cycle


def test_cycles_per_mac_are_the_stated_figures(dsp_bench):
    dsp, r = dsp_bench
    macs = {"conv_dense": r["conv_macs"], "conv_sparse": r["conv_macs"], "fc": r["fc_macs"]}
    for name, (ipm, cpm) in STATED[dsp].items():
        assert r[f"{name}_ticks"] / macs[name] == pytest.approx(ipm, rel=0.01)
        assert r[f"{name}_cycles"] / macs[name] == pytest.approx(cpm, rel=0.01)
