"""Core timing tables: estimated cycles of each Thumb-2 instruction class, one table per core.

Every figure assumes **zero-wait-state memory** (the TRMs' own assumption): flash wait states,
bus contention, caches and the STM32's ART accelerator are not modelled, so a real board with
wait states runs slower than these estimates.

Cortex-M4 (``CORTEX_M4``): ARM Cortex-M4 Processor Technical Reference Manual r0p1
(ARM 100166_0001_00), section 3.3.1 "Table of processor instructions" (Table 3-1, cycles of
each instruction), section 3.3.2 "Load/store timings" (the pipelining rules), and the FPU chapter's
instruction table (7.2.3, "FPU instruction set" cycle counts). Where the TRM gives a range the
table takes one stated value:

- ``P`` (pipeline refill after a taken branch, "1 to 3 depending on the alignment and width of
  the target instruction"): 2.
- ``SDIV``/``UDIV`` ("2 to 12", operand-dependent, not visible in a block trace): 12, the upper
  bound, so a real-time claim is not flattered.
- ``IT`` (1, or 0 when folded onto a preceding 16-bit instruction): 1.
- Instructions inside an IT block whose condition fails are charged as if executed.

Cortex-M7 (``CORTEX_M7``): ARM publishes no per-instruction cycle table for the M7 (its TRM,
ARM DDI 0489, chapter 2 "Functional description" only describes the six-stage, dual-issue
pipeline with a 64-bit load/store path and a branch predictor). The model here is a stated
simplification of that description, not a TRM table: every listed class issues in the cycles
below; two adjacent single-cycle instructions issue together (the second costs 0) unless both
access memory, both use the multiplier, the second reads a general register the first writes
(condition flags are not a dependency: a compare pairs with its branch), the first is itself the
second of a pair, or either is a branch (except a branch second), a divide, a multiple
load/store, an FP instruction or an IT; a load's result is ready one cycle later (one stall
cycle if the next instruction reads it); taken branches cost 1 + P with P = 1 (loop branches
predicted correctly); LDRD/STRD take one cycle and LDM/STM/PUSH/POP ceil(N / 2) (two registers
a cycle).
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Instruction classes (board_tests.harness.cycles classifies every decoded instruction into one).
CLASSES = (
    "alu",  # data processing, moves, shifts, extends, saturate, bit-field, CLZ, REV, ...
    "mul",  # MUL, MLA, MLS, (S|U)MULL, (S|U)MLAL, SMLAD, SMLA<x><y>, SMUAD, SMMUL, ...
    "div",  # SDIV, UDIV
    "load",  # LDR/LDRB/LDRH/LDRSB/LDRSH/LDREX (one register)
    "store_imm",  # STR/STRB/STRH with an immediate offset
    "store_reg",  # STR/STRB/STRH with a register offset, STREX
    "load_double",  # LDRD
    "store_double",  # STRD
    "load_multiple",  # LDM, POP: cycles = base + N
    "store_multiple",  # STM, PUSH: cycles = base + N
    "branch",  # B, BL, BX, BLX, CBZ/CBNZ, writes to PC: cycles when not taken (taken adds P)
    "table_branch",  # TBB/TBH (always taken)
    "it",  # IT
    "fp_alu",  # VADD, VSUB, VMUL, VABS, VNEG, VCVT, VCMP, VMOV, VMRS, ...
    "fp_mac",  # VMLA, VMLS, VNMLA, VNMLS, VFMA, VFMS, VFNMA, VFNMS
    "fp_div",  # VDIV, VSQRT
    "fp_load",  # VLDR
    "fp_store",  # VSTR
    "fp_multiple",  # VLDM, VSTM, VPUSH, VPOP: cycles = base + N
    "barrier",  # DMB, DSB, ISB (the TRM's minimum)
    "other",  # NOP, hints, MRS/MSR, BKPT, SVC, CPS, ...
)


@dataclass(frozen=True)
class CoreTiming:
    """One core's table: cycles per instruction class and the model's stated parameters."""

    name: str
    source: str  # the document (and section) the figures come from
    cycles: dict[str, int]  # class -> cycles (multiples: the part before "+ N")
    pipeline_refill: int  # P: extra cycles of a taken branch
    dual_issue: bool  # the M7 pairing model
    multiple_per_cycle: int = 1  # registers moved per cycle by LDM/STM/PUSH/POP/VLDM/VSTM
    notes: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        missing = set(CLASSES) - set(self.cycles)
        if missing:
            raise ValueError(f"timing table {self.name} lacks classes {sorted(missing)}")


CORTEX_M4 = CoreTiming(
    name="cortex-m4",
    source="ARM Cortex-M4 TRM r0p1 (ARM 100166_0001_00) 3.3.1 Table 3-1, 3.3.2 load/store timings, "
    "7.2.3 FPU instruction timings; zero wait states",
    cycles={
        "alu": 1,
        "mul": 1,
        "div": 12,
        "load": 2,
        "store_imm": 1,
        "store_reg": 2,
        "load_double": 3,
        "store_double": 3,
        "load_multiple": 1,
        "store_multiple": 1,  # 1 + N
        "branch": 1,
        "table_branch": 2,  # B: 1 (+P taken); TBB/TBH: 2 + P
        "it": 1,
        "fp_alu": 1,
        "fp_mac": 3,
        "fp_div": 14,
        "fp_load": 2,
        "fp_store": 2,
        "fp_multiple": 1,  # VLDM/VSTM: 1 + N
        "barrier": 1,
        "other": 1,
    },
    pipeline_refill=2,
    dual_issue=False,
    notes=(
        "a single LDR/STR right after a single LDR takes 1 cycle (address and data phases pipelined) "
        "unless its address uses a register the LDR wrote (3.3.2)",
        "STR Rx,[Ry,#imm] is always 1 cycle; nothing is pipelined after a store (3.3.2)",
        "a load or store whose address uses a register written by the immediately preceding data-processing "
        "instruction stalls 1 cycle: there is no forwarding path (3.3.2)",
        "LDRD/STRD are not pipelined with their neighbours (3.3.2)",
        "P = 2 of the TRM's 1..3; UDIV/SDIV = 12 (upper bound of 2..12); IT = 1 (not folded)",
    ),
)

CORTEX_M7 = CoreTiming(
    name="cortex-m7",
    source="stated dual-issue model after ARM Cortex-M7 TRM (ARM DDI 0489) chapter 2 (pipeline description; "
    "ARM publishes no M7 cycle table); zero wait states (TCM / cache hits)",
    cycles={
        "alu": 1,
        "mul": 1,
        "div": 12,
        "load": 1,
        "store_imm": 1,
        "store_reg": 1,
        "load_double": 1,
        "store_double": 1,
        "load_multiple": 0,
        "store_multiple": 0,  # 0 + ceil(N / 2)
        "branch": 1,
        "table_branch": 2,
        "it": 1,
        "fp_alu": 1,
        "fp_mac": 1,
        "fp_div": 14,
        "fp_load": 1,
        "fp_store": 1,
        "fp_multiple": 0,  # 0 + ceil(N / 2)
        "barrier": 1,
        "other": 1,
    },
    pipeline_refill=1,
    dual_issue=True,
    multiple_per_cycle=2,
    notes=(
        "dual issue of two adjacent instructions unless both access memory, both multiply, the second reads "
        "the first's result, or either is a non-final branch, divide, multiple transfer, FP or IT",
        "load-to-use: +1 cycle when the next instruction reads a loaded register",
        "taken branch 1 + 1 (predicted), not taken 1; LDM/STM/PUSH/POP ceil(N/2) (64-bit path)",
    ),
)

CORES = {"cortex-m4": CORTEX_M4, "cortex-m7": CORTEX_M7}


def timing_for_cpu(cpu: str) -> CoreTiming:
    """The table of a board's ``-mcpu`` (BoardSpec.cpu)."""
    try:
        return CORES[cpu]
    except KeyError:
        raise ValueError(f"no cycle table for core '{cpu}': tables exist for {', '.join(CORES)}") from None
