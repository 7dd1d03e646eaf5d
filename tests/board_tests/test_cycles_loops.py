"""The cycle estimator (board_tests/harness/cycles.py) on hand-written Thumb-2 loops in QEMU.

``cycle_loops/loops.S`` runs four loops, each measured twice (N1 and N2 iterations) between two
em_board_ticks() readings by the same non-inlined C function, so the two regions differ by exactly
N2 - N1 loop iterations. The estimator must give exactly (N2 - N1) x the per-iteration cycles
computed below by hand from the core's table (timing_tables.py), and its instruction count of every
region must equal the firmware's own tick difference (exact at TIM2's 1 tick per instruction on
netduinoplus2; within the 40-instruction tick of the MPS2 timer).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from edgel3_mote.board_tests.harness.cycles import CycleEstimator, run_traced
from edgel3_mote.export.boards import build_elf, get_board

pytestmark = pytest.mark.qemu

LOOPS = Path(__file__).with_name("cycle_loops")
N1, N2 = 10, 110
NAMES = ("smlad", "ldr", "mix", "call")

# Per-iteration cycles, by hand from the tables (P = pipeline refill after a taken branch).
M4_P = 2
M4 = {
    # 8 x SMLAD (1 each) + SUBS (1) + taken BNE (1 + P)
    "smlad": 8 + 1 + (1 + M4_P),
    # LDR (2) + three LDRs pipelined behind it (1 each) + SUBS + taken BNE
    "ldr": 2 + 1 + 1 + 1 + 1 + (1 + M4_P),
    # ADDS 1; LDR 2 + 1 (base written by the ADDS); STR imm 1; LDRD 3; STR reg 2 (LDRD does not pipeline);
    # LDR 2 (nothing pipelines after a store); UDIV 12 (upper bound); PUSH {2} 1+2; POP {2} 1+2; SUBS 1; BNE 1+P
    "mix": 1 + 3 + 1 + 3 + 2 + 2 + 12 + 3 + 3 + 1 + (1 + M4_P),
    # BL (1 + P) + BX LR (1 + P) + SUBS + taken BNE
    "call": (1 + M4_P) + (1 + M4_P) + 1 + (1 + M4_P),
}
M7_P = 1
M7 = {
    # 8 dependent SMLADs (one multiplier: no pairs), SUBS pairs with the last (0), BNE alone 1 + P
    "smlad": 8 + 0 + (1 + M7_P),
    # 4 LDRs (one load/store port: no pairs), SUBS pairs with the last LDR, BNE 1 + P
    "ldr": 4 + 0 + (1 + M7_P),
    # ADDS 1; LDR 1 (reads ADDS's r1: no pair); STR 1 + 1 (uses the loaded r2); LDRD 1; STR reg 1 + 1 (load-to-use);
    # LDR 1; UDIV 12; PUSH {2} 1; POP {2} 1; SUBS 1; BNE pairs with SUBS (0) + P
    "mix": 1 + 1 + 2 + 1 + 2 + 1 + 12 + 1 + 1 + 1 + (0 + M7_P),
    # BL 1 + P; BX LR 1 + P; SUBS 1; BNE paired 0 + P
    "call": (1 + M7_P) + (1 + M7_P) + 1 + (0 + M7_P),
}
EXPECTED = {"qemu-mps2-an386": (M4, 40), "qemu-netduinoplus2": (M4, 1), "qemu-mps2-an500": (M7, 40)}


@pytest.fixture(scope="module", params=sorted(EXPECTED))
def traced(request, tmp_path_factory):
    board = request.param
    out = tmp_path_factory.mktemp(f"loops-{board}")
    elf = build_elf(
        board,
        [LOOPS / "loops.S", LOOPS / "loops_main.c"],
        out / "loops.elf",
        defines={"LOOP_N1": N1, "LOOP_N2": N2},
        extra_flags=["-Werror"],
    )
    code, output, trace = run_traced(board, elf, timeout=60, out=out / "trace.txt")
    assert code == 0, output
    ticks = {k: int(v) for k, v in re.findall(r"^(\w+)=(\d+)$", output, re.M)}
    assert len(trace.spans) == 1
    est = CycleEstimator(get_board(board).cpu, trace.blocks)
    # segment 0: start-up up to the first reading; then (region, glue) pairs
    regions = [est.segment(s) for s in trace.spans[0][1::2]]
    assert len(regions) >= 2 * len(NAMES)
    costs = {(name, n): regions[2 * f + i] for f, name in enumerate(NAMES) for i, n in enumerate((N1, N2))}
    return board, ticks, costs


def test_cycles_match_the_hand_computed_table_exactly(traced):
    board, _, costs = traced
    per_iter, _ = EXPECTED[board]
    for name in NAMES:
        got = costs[(name, N2)].cycles - costs[(name, N1)].cycles
        assert got == (N2 - N1) * per_iter[name], (board, name, got, per_iter[name])


def test_instructions_equal_the_firmware_ticks(traced):
    board, ticks, costs = traced
    _, resolution = EXPECTED[board]
    for (name, n), cost in costs.items():
        assert abs(cost.instructions - ticks[f"{name}_{n}"]) < resolution, (board, name, n, cost, ticks)
    for name in NAMES:  # and the loops themselves, to the instruction
        loop_insns = {"smlad": 10, "ldr": 6, "mix": 11, "call": 4}[name]
        assert costs[(name, N2)].instructions - costs[(name, N1)].instructions == (N2 - N1) * loop_insns
