"""The cycle estimator's per-block timing and segment arithmetic, without QEMU.

The code bytes below were assembled with arm-none-eabi-as (-mcpu=cortex-m4 -mthumb) from the listing
beside them; the expected cycles are the TRM rules of timing_tables.py applied by hand.
"""

from __future__ import annotations

import pytest

from edgel3_mote.board_tests.harness.cycles import CycleEstimator, Segment, block_timing, decode_block
from edgel3_mote.board_tests.harness.timing_tables import CORTEX_M4, CORTEX_M7, timing_for_cpu

CODE = bytes.fromhex("0a6813688b50086804310868c1e900231cc910bd")
LISTING = [
    ("ldr r2, [r1]", 2, 1),  # M4: load 2                     M7: 1
    ("ldr r3, [r2]", 2, 2),  # address is the loaded r2: not pipelined; M7: load-to-use +1
    ("str r3, [r1, r2]", 1, 2),  # store after a load: pipelined; M7: uses the loaded r3
    ("ldr r0, [r1]", 2, 1),  # nothing pipelines after a store
    ("adds r1, r1, #4", 1, 0),  # M7: pairs with the load before it
    ("ldr r0, [r1]", 3, 1),  # base written by the ALU just before: +1 (no forwarding)
    ("strd r2, r3, [r1]", 3, 1),  # LDRD/STRD 1 + N, never pipelined; M7: one 64-bit access
    ("ldm r1!, {r2, r3, r4}", 4, 2),  # 1 + N; M7: ceil(3 / 2)
    ("pop {r4, pc}", 3, 1),  # 1 + N (+ P for writing PC, added per execution)
]


def test_decoder_sees_the_listing():
    insns = decode_block(0x100, CODE)
    assert len(insns) == len(LISTING)
    assert [i.cls for i in insns] == [
        "load",
        "load",
        "store_reg",
        "load",
        "alu",
        "load",
        "store_double",
        "load_multiple",
        "load_multiple",
    ]
    assert insns[-1].branch == "always" and not any(i.branch for i in insns[:-1])


@pytest.mark.parametrize("timing,column", [(CORTEX_M4, 1), (CORTEX_M7, 2)])
def test_block_cycles_follow_the_table(timing, column):
    bt = block_timing(0x100, CODE, timing)
    assert list(bt.cycles) == [row[column] for row in LISTING]


def test_segment_charges_taken_branches_and_cut_blocks():
    # TB 0: "subs r0, r0, #1; bne <TB 0>" run 10 times, taken 9; TB 1: the 20-byte block above, once,
    # and once cut short at 0x10a (the 6th instruction): only the first five ran in that execution
    loop = bytes.fromhex("0138fcd1")
    blocks = {0: (0x200, 2, loop), 1: (0x100, len(LISTING), CODE)}
    est = CycleEstimator("cortex-m4", blocks)
    p = CORTEX_M4.pipeline_refill
    seg = Segment(0, 0, counts={0: [10, 9]}, inside={})
    assert est.segment(seg).instructions == 20
    assert est.segment(seg).cycles == 10 * (1 + 1) + 9 * p
    assert est.segment(seg).branches_taken == 9
    full = sum(r[1] for r in LISTING) + p
    seg = Segment(0, 0, counts={1: [2, 2]}, inside={1: [(0x10A, 1)]})
    cost = est.segment(seg)
    assert cost.instructions == len(LISTING) + 5
    assert cost.cycles == full + sum(r[1] for r in LISTING[:5])
    assert cost.branches_taken == 1  # the POP {pc} of the full execution only


def test_unknown_core_is_refused():
    with pytest.raises(ValueError, match="no cycle table"):
        timing_for_cpu("cortex-m0plus")
