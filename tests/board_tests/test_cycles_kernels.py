"""`make bench-kernels` reports estimated cycles next to instructions (the cycle-estimator hook).

Every ``<name>_ticks`` region of the kernel benchmark firmware must be found in the TB trace with the
same instruction count (within one 40-instruction tick of the MPS2 timer), and the estimated
cycles per MAC must be the figures the README states (results/results.json, to 1 %).
"""

from __future__ import annotations

import pytest

from edgel3_mote.board_tests.harness.kernel_bench import run_bench

pytestmark = pytest.mark.qemu


@pytest.fixture(scope="module", params=[True, False], ids=["dsp", "portable"])
def dsp_bench(request, tmp_path_factory):
    return request.param, run_bench("qemu-mps2-an386", dsp=request.param, out_dir=tmp_path_factory.mktemp("kbench"))


def test_every_timed_region_is_traced_with_its_instruction_count(dsp_bench):
    _, r = dsp_bench
    assert r["exit_code"] == 0
    for name in ("conv_dense", "conv_sparse", "fc"):
        assert abs(r[f"{name}_traced_instructions"] - r[f"{name}_ticks"]) < 40
        assert r[f"{name}_cycles"] > r[f"{name}_traced_instructions"]  # no M4 instruction takes < 1 cycle


def test_cycles_per_mac_are_the_stated_figures(dsp_bench, figure):
    """Instructions and estimated M4 cycles per MAC on qemu-mps2-an386 (sparse: per dense MAC)."""
    dsp, r = dsp_bench
    build = "dsp" if dsp else "portable"
    macs = {"conv_dense": r["conv_macs"], "conv_sparse": r["conv_macs"], "fc": r["fc_macs"]}
    for name, n in macs.items():
        figure(f"kernels.{build}.{name}.instr_per_mac", r[f"{name}_ticks"] / n)
        figure(f"kernels.{build}.{name}.cycles_per_mac", r[f"{name}_cycles"] / n)
