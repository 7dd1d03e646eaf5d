"""Estimated core cycles of firmware regions run in QEMU: instruction stream x core timing table.

QEMU with ``-icount shift=0`` counts instructions, not cycles. This module replays what a region
executed, with the published timing of the core (``timing_tables``; zero-wait-state memory
assumed), and returns instructions **and** estimated cycles for it:

1. ``tbtrace.c``, a QEMU TCG plugin built here with the host gcc (cached like
   ``export.hostbuild``), counts per segment how often every translation block (TB) ran and how
   often it ended in a taken branch; it cuts segments at every entry of ``em_board_ticks()``, so a
   segment is exactly what the firmware measured between two tick readings.
2. Python decodes each TB once with ``capstone`` and weighs its instructions with the table
   (``block_timing``), including the M4's load pipelining and address-dependency stalls inside a
   block, or the M7's dual-issue pairing; a conditional branch costs its taken price only as often
   as it was taken. Pairing and stalls are not carried across blocks: a block starts after a branch
   (taken or not), where the pipeline has no load to pipeline with anyway.

    code, output, trace = run_traced("qemu-netduinoplus2", "bench.elf")   # a semihosting firmware
    est = CycleEstimator("cortex-m4", trace.blocks)
    est.segment(trace.spans[0][1])   # Cost(instructions, cycles, branches_taken) from reading 1 to 2

``cycles_for_ticks`` matches a firmware's printed ``<name>_ticks`` to trace segments (bench-kernels);
``infer_cycles`` splits a traced INFER of the serial app into front-end, engine and layers (bench).

The plugin's instruction count of a segment equals the firmware's own tick difference under
``-icount shift=0`` (tests check this), so the cycle figure stands next to the measured one.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from edgel3_mote.board_tests.harness.timing_tables import CoreTiming, timing_for_cpu
from edgel3_mote.errors import DeviceError, InvalidInputError

if TYPE_CHECKING:
    from edgel3_mote.export.memory_model import MemoryModel

HARNESS_DIR = Path(__file__).resolve().parent
PLUGIN_SOURCE = HARNESS_DIR / "tbtrace.c"
MARK_SYMBOL = "em_board_ticks"


def build_plugin() -> Path:
    """Compile the TB-trace plugin (cached by source hash) and return the .so path."""
    from edgel3_mote.export.hostbuild import compile_shared

    return compile_shared([PLUGIN_SOURCE], include_dirs=[HARNESS_DIR], name="tbtrace")


def elf_symbols(elf: str | os.PathLike, names: list[str]) -> dict[str, int]:
    """Addresses of function symbols (Thumb bit cleared); raises if one is missing."""
    from elftools.elf.elffile import ELFFile
    from elftools.elf.sections import SymbolTableSection

    found: dict[str, int] = {}
    with open(elf, "rb") as f:
        for sec in ELFFile(f).iter_sections():
            if isinstance(sec, SymbolTableSection):
                for name in names:
                    for sym in sec.get_symbol_by_name(name) or []:
                        if sym["st_info"]["type"] == "STT_FUNC":
                            found[name] = sym["st_value"] & ~1
    missing = [n for n in names if n not in found]
    if missing:
        raise InvalidInputError(
            f"{elf}: no function symbol {', '.join(missing)}: the cycle trace needs them "
            f"(build the firmware from this project's sources)"
        )
    return found


def plugin_arg(
    elf: str | os.PathLike,
    out: str | os.PathLike,
    arm: str | None = None,
    disarm: str | None = None,
    spans: int = 1,
    memory: MemoryModel | None = None,
) -> str:
    """The ``-plugin`` argument that traces ``elf``: segments cut at em_board_ticks(); with ``arm`` /
    ``disarm`` symbols, only the first ``spans`` spans between them are recorded. With ``memory`` (a
    board's ``MemoryModel``) the plugin also counts flash traffic through the board's caches per segment."""
    names = [MARK_SYMBOL] + [n for n in (arm, disarm) if n]
    syms = elf_symbols(elf, names)
    parts = [str(build_plugin()), f"out={out}", f"mark={syms[MARK_SYMBOL]:#x}"]
    if arm:
        parts.append(f"arm={syms[arm]:#x}")
    if disarm:
        parts.append(f"disarm={syms[disarm]:#x}")
    parts.append(f"spans={int(spans)}")
    if memory is not None:
        parts += memory.plugin_args()
    return ",".join(parts)


# ---------------------------------------------------------------------------------------------- the trace
@dataclass
class Segment:
    """What ran between two em_board_ticks() entries: TB id -> [execs, taken], inside edges."""

    start_key: int  # return address of the call that opened it (0 = span start)
    end_key: int  # return address of the call that closed it
    counts: dict[int, list[int]] = field(default_factory=dict)
    inside: dict[int, list[tuple[int, int]]] = field(default_factory=dict)
    mem: "MemCounts | None" = None  # flash traffic (plugin run with a board's memory model), else None


@dataclass(frozen=True)
class MemCounts:
    """A segment's traffic to flash, as tbtrace.c counts it with the board's caches simulated (LRU)."""

    data_reads: int = 0  # loads from flash
    data_misses: int = 0  # of those, data-cache misses (all of them on a chip without a data cache)
    instr_lines: int = 0  # instruction lines fetched from flash
    instr_misses: int = 0  # of those, instruction-cache misses
    instr_misses_sequential: int = 0  # misses on the line after the previous one (a prefetcher's to hide)

    def __add__(self, other: "MemCounts") -> "MemCounts":
        return MemCounts(*(a + b for a, b in zip(self.astuple(), other.astuple(), strict=True)))

    def astuple(self) -> tuple[int, ...]:
        return (
            self.data_reads,
            self.data_misses,
            self.instr_lines,
            self.instr_misses,
            self.instr_misses_sequential,
        )

    def to_dict(self) -> dict:
        return dict(zip(MEM_FIELDS, self.astuple(), strict=True))


MEM_FIELDS = ("data_reads", "data_misses", "instr_lines", "instr_misses", "instr_misses_sequential")
NO_MEM = MemCounts()


def memory_cycles(zero_wait_cycles: int, mem: MemCounts, model: MemoryModel) -> dict:
    """The three cycle figures of a region (``model``: the board's ``export.memory_model.MemoryModel``).

    - ``zero_wait``: the core's table alone (every access at zero wait states);
    - ``estimate``: + the wait states of every data-cache miss and every instruction-cache miss the
      prefetcher cannot hide (with ``model.prefetch``, a miss on the next sequential line is hidden);
    - ``upper_bound``: + the wait states of **every** flash data read (no data-cache hit) and every
      instruction-cache miss (no prefetch benefit).
    """
    instr_est = mem.instr_misses - (mem.instr_misses_sequential if model.prefetch else 0)
    return {
        "zero_wait": int(zero_wait_cycles),
        "estimate": int(zero_wait_cycles) + model.stall_cycles(mem.data_misses, instr_est),
        "upper_bound": int(zero_wait_cycles) + model.stall_cycles(mem.data_reads, mem.instr_misses),
        "flash": mem.to_dict(),
    }


@dataclass
class Trace:
    blocks: dict[int, tuple[int, int, bytes]]  # TB id -> (vaddr, n_insns, code bytes)
    spans: list[list[Segment]]


def parse_trace(path: str | os.PathLike) -> Trace:
    """Read the plugin's output (format in tbtrace.c)."""
    blocks: dict[int, tuple[int, int, bytes]] = {}
    spans: list[list[Segment]] = []
    counts: dict[int, list[int]] = {}
    inside: dict[int, list[tuple[int, int]]] = {}
    mem: MemCounts | None = None
    with open(path) as f:
        for line in f:
            kind = line[:1]
            if kind == "c":
                _, tb, execs, taken = line.split()
                counts[int(tb)] = [int(execs), int(taken)]
            elif kind == "x":
                _, tb, vaddr, n = line.split()
                inside.setdefault(int(tb), []).append((int(vaddr, 16), int(n)))
            elif kind == "T":
                _, tb, vaddr, n, code = line.split()
                blocks[int(tb)] = (int(vaddr, 16), int(n), bytes.fromhex(code))
            elif kind == "S":
                _, start, end = line.split()
                if not spans:
                    raise DeviceError(f"{path}: segment before any span start")
                spans[-1].append(Segment(int(start, 16), int(end, 16), counts, inside, mem))
                counts, inside, mem = {}, {}, None
            elif kind == "m":
                mem = MemCounts(*(int(v) for v in line.split()[1:]))
            elif kind == "B":
                spans.append([])
                counts, inside, mem = {}, {}, None
            elif kind == "E":
                counts, inside, mem = {}, {}, None
    return Trace(blocks, spans)


# ---------------------------------------------------------------------------------------------- decoding
@dataclass(frozen=True)
class Insn:
    address: int
    size: int
    cls: str
    n_regs: int  # registers moved by a multiple transfer
    reads: frozenset
    writes: frozenset
    addr_regs: frozenset  # registers that form a memory address
    branch: str  # "" / "cond" / "always"
    target: int | None  # direct branch target


def _decoder():
    import capstone

    md = capstone.Cs(capstone.CS_ARCH_ARM, capstone.CS_MODE_THUMB | capstone.CS_MODE_MCLASS)
    md.detail = True
    return md


_MUL = {
    "mul",
    "mla",
    "mls",
    "smull",
    "umull",
    "smlal",
    "umlal",
    "umaal",
    "smlad",
    "smladx",
    "smlsd",
    "smlsdx",
    "smlald",
    "smlaldx",
    "smlsld",
    "smlsldx",
    "smuad",
    "smuadx",
    "smusd",
    "smusdx",
    "smmul",
    "smmulr",
    "smmla",
    "smmlar",
    "smmls",
    "smmlsr",
    "smulbb",
    "smulbt",
    "smultb",
    "smultt",
    "smulwb",
    "smulwt",
    "smlabb",
    "smlabt",
    "smlatb",
    "smlatt",
    "smlawb",
    "smlawt",
    "smlalbb",
    "smlalbt",
    "smlaltb",
    "smlaltt",
    "usad8",
    "usada8",
}
_LOAD = {
    "ldr",
    "ldrb",
    "ldrh",
    "ldrsb",
    "ldrsh",
    "ldrt",
    "ldrbt",
    "ldrht",
    "ldrsbt",
    "ldrsht",
    "ldrex",
    "ldrexb",
    "ldrexh",
}
_STORE = {"str", "strb", "strh", "strt", "strbt", "strht"}
_FP_MAC = {"vmla", "vmls", "vnmla", "vnmls", "vfma", "vfms", "vfnma", "vfnms"}


def _base_mnemonic(mnemonic: str, cond: bool) -> str:
    m = mnemonic.split(".")[0]
    if (
        cond
        and len(m) > 2
        and m[-2:] in ("eq", "ne", "cs", "hs", "cc", "lo", "mi", "pl", "vs", "vc", "hi", "ls", "ge", "lt", "gt", "le")
    ):
        m = m[:-2]
    return m


def _classify(ins) -> Insn:
    import capstone.arm as A

    reads, writes = (frozenset(ins.reg_name(r) for r in rs) for rs in ins.regs_access())
    cond = ins.cc not in (A.ARM_CC_AL, A.ARM_CC_INVALID)
    m = _base_mnemonic(ins.mnemonic, cond)
    if m.endswith("s") and m[:-1] in {"mul", "mla", "smull", "umull", "smlal", "umlal"}:
        m = m[:-1]  # flag-setting forms
    ops = ins.operands
    addr_regs = frozenset()
    for op in ops:
        if op.type == A.ARM_OP_MEM:
            addr_regs = frozenset(ins.reg_name(r) for r in (op.mem.base, op.mem.index) if r)
    n_regs = 0
    target = None
    branch = ""
    writes_pc = "pc" in writes
    if m in ("b", "bl", "cbz", "cbnz"):
        target = next((op.imm for op in ops if op.type == A.ARM_OP_IMM), None)
    if m in ("it",):
        cls = "it"
    elif m in ("tbb", "tbh"):
        cls, branch = "table_branch", "always"
    elif m in ("push", "pop", "ldm", "ldmia", "ldmfd", "ldmdb", "stm", "stmia", "stmea", "stmdb", "stmfd"):
        regs = [op for op in ops if op.type == A.ARM_OP_REG]
        n_regs = len(regs) - (0 if m in ("push", "pop") else 1)
        cls = "load_multiple" if m in ("pop", "ldm", "ldmia", "ldmfd", "ldmdb") else "store_multiple"
        addr_regs = frozenset({"sp"} if m in ("push", "pop") else {ins.reg_name(regs[0].reg)})
    elif m in ("vpush", "vpop", "vldmia", "vldmdb", "vstmia", "vstmdb", "vldm", "vstm"):
        regs = [op for op in ops if op.type == A.ARM_OP_REG]
        n_regs = len(regs) - (0 if m in ("vpush", "vpop") else 1)
        if any(ins.reg_name(op.reg).startswith("d") for op in regs):
            n_regs *= 2  # double registers move two words
        cls = "fp_multiple"
    elif m in ("ldrd", "ldrexd"):
        cls = "load_double"
    elif m in ("strd", "strexd"):
        cls = "store_double"
    elif m in _LOAD:
        cls = "load"
    elif m in _STORE:
        mem = next(op for op in ops if op.type == A.ARM_OP_MEM)
        cls = "store_reg" if mem.mem.index else "store_imm"
    elif m in ("strex", "strexb", "strexh"):
        cls = "store_reg"
    elif m in ("vldr",):
        cls = "fp_load"
    elif m in ("vstr",):
        cls = "fp_store"
    elif m in _MUL:
        cls = "mul"
    elif m in ("sdiv", "udiv"):
        cls = "div"
    elif m in _FP_MAC:
        cls = "fp_mac"
    elif m in ("vdiv", "vsqrt"):
        cls = "fp_div"
    elif m.startswith("v"):
        cls = "fp_alu"
    elif m in ("dmb", "dsb", "isb"):
        cls = "barrier"
    elif m in ("b", "bl", "bx", "blx", "cbz", "cbnz"):
        cls = "branch"
    elif m in ("nop", "bkpt", "svc", "wfi", "wfe", "sev", "yield", "cpsid", "cpsie", "mrs", "msr", "udf"):
        cls = "other"
    else:
        cls = "alu"
    if m in ("b", "bl", "bx", "blx", "cbz", "cbnz") or writes_pc:
        branch = "cond" if (cond or m in ("cbz", "cbnz")) else "always"
        if m == "bl" or m == "blx":
            branch = "always"
    if cls == "table_branch":
        branch = "always"
    return Insn(ins.address, ins.size, cls, n_regs, reads, writes, addr_regs, branch, target)


@lru_cache(maxsize=None)
def decode_block(vaddr: int, code: bytes) -> tuple[Insn, ...]:
    """The Thumb-2 instructions of one TB (raises if capstone cannot decode all of it)."""
    insns = tuple(_classify(i) for i in _decoder().disasm(code, vaddr))
    if sum(i.size for i in insns) != len(code):
        raise DeviceError(f"capstone could not decode the TB at {vaddr:#x} ({code.hex()})")
    return insns


# ---------------------------------------------------------------------------------------------- timing
_MEMORY = {
    "load",
    "store_imm",
    "store_reg",
    "load_double",
    "store_double",
    "load_multiple",
    "store_multiple",
    "fp_load",
    "fp_store",
    "fp_multiple",
    "table_branch",
}
_DATA_PROCESSING = {"alu", "mul", "div"}


def _issue_cycles(insn: Insn, t: CoreTiming) -> int:
    c = t.cycles[insn.cls]
    if insn.cls in ("load_multiple", "store_multiple", "fp_multiple"):
        c += -(-insn.n_regs // t.multiple_per_cycle)
    return c


def _m4_cycles(insns: tuple[Insn, ...], t: CoreTiming) -> list[int]:
    """Sequential M4 timing (TRM 3.3.1-3.3.2): per-instruction cycles, branches as not taken."""
    out = []
    prev = None
    for ins in insns:
        c = _issue_cycles(ins, t)
        if prev is not None and ins.cls in _MEMORY:
            if (
                ins.cls in ("load", "store_reg", "store_imm")
                and prev.cls == "load"
                and not (ins.addr_regs & prev.writes)
            ):
                c = 1  # pipelined behind the preceding LDR
            elif prev.cls in _DATA_PROCESSING and (ins.addr_regs & prev.writes):
                c += 1  # address from the previous ALU result: no forwarding
        out.append(c)
        prev = ins
    return out


def _pairable(a: Insn, b: Insn) -> bool:
    single = ("alu", "mul", "load", "store_imm", "store_reg", "load_double", "store_double")
    if a.cls not in single or a.branch:
        return False
    if b.cls not in single + ("branch",):
        return False
    if a.cls in _MEMORY and b.cls in _MEMORY:
        return False
    if a.cls == "mul" and b.cls == "mul":
        return False
    return not (b.reads & a.writes)


def _m7_cycles(insns: tuple[Insn, ...], t: CoreTiming) -> list[int]:
    """The stated M7 dual-issue model (timing_tables): per-instruction cycles, branches not taken."""
    out = []
    prev = None
    paired = False  # prev issued as the second of a pair
    for ins in insns:
        c = _issue_cycles(ins, t)
        if prev is not None:
            if prev.cls in ("load", "load_double", "load_multiple", "fp_load") and (ins.reads & prev.writes):
                c += 1  # load-to-use
            elif not paired and _pairable(prev, ins) and c == 1 and out[-1] == 1:
                c = 0  # issues with prev
        paired = c == 0
        out.append(c)
        prev = ins
    return out


@dataclass(frozen=True)
class BlockTiming:
    n_insns: int
    addresses: tuple[int, ...]
    cycles: tuple[int, ...]  # per instruction, every branch as not taken
    branch: str  # the last instruction: "" / "cond" / "always"
    target: int | None


def block_timing(vaddr: int, code: bytes, timing: CoreTiming) -> BlockTiming:
    """Per-instruction cycles of one TB under ``timing`` (the last instruction's branch not taken)."""
    insns = decode_block(vaddr, code)
    cyc = _m7_cycles(insns, timing) if timing.dual_issue else _m4_cycles(insns, timing)
    last = insns[-1]
    return BlockTiming(len(insns), tuple(i.address for i in insns), tuple(cyc), last.branch, last.target)


@dataclass(frozen=True)
class Cost:
    instructions: int
    cycles: int
    branches_taken: int = 0  # each adds the refill P: cycles at another P = cycles + (P' - P) * this

    def __add__(self, other: "Cost") -> "Cost":
        return Cost(
            self.instructions + other.instructions,
            self.cycles + other.cycles,
            self.branches_taken + other.branches_taken,
        )

    @property
    def cpi(self) -> float:
        return self.cycles / self.instructions if self.instructions else 0.0


ZERO = Cost(0, 0)


class CycleEstimator:
    """Instructions and estimated cycles of trace segments under one core's table."""

    def __init__(self, timing: CoreTiming | str, blocks: dict[int, tuple[int, int, bytes]] | None = None):
        self.timing = timing_for_cpu(timing) if isinstance(timing, str) else timing
        self.blocks = blocks or {}
        self._cache: dict[int, BlockTiming] = {}

    def _block(self, tb: int) -> BlockTiming:
        bt = self._cache.get(tb)
        if bt is None:
            vaddr, n, code = self.blocks[tb]
            bt = self._cache[tb] = block_timing(vaddr, code, self.timing)
            if bt.n_insns != n:
                raise DeviceError(
                    f"TB {tb} at {vaddr:#x}: capstone decoded {bt.n_insns} instructions, QEMU translated {n}"
                )
        return bt

    def segment(self, seg: Segment) -> Cost:
        p = self.timing.pipeline_refill
        insns = cycles = branches = 0
        for tb, (execs, taken) in seg.counts.items():
            bt = self._block(tb)
            full = sum(bt.cycles) + (p if bt.branch == "always" else 0)
            insns += execs * bt.n_insns
            cycles += execs * full
            cut = 0
            for vaddr, n in seg.inside.get(tb, ()):
                if bt.branch and bt.target == vaddr:
                    continue  # a branch back into its own block: taken, fully executed
                # cut short: only the instructions before vaddr ran in this block (QEMU re-ran an I/O
                # access as its own uninstrumented block, then started a new block at vaddr)
                k = sum(1 for a in bt.addresses if a < vaddr)
                insns -= n * (bt.n_insns - k)
                cycles -= n * (full - sum(bt.cycles[:k]))
                cut += n
            if bt.branch == "cond":
                cycles += p * (taken - cut)
                branches += taken - cut
            elif bt.branch == "always":
                branches += execs - cut
        return Cost(insns, cycles, branches)

    def segments(self, segs: list[Segment]) -> Cost:
        total = ZERO
        for s in segs:
            total = total + self.segment(s)
        return total

    @staticmethod
    def memory(segs: list[Segment]) -> MemCounts:
        """The flash traffic of segments (zero where the trace carries none)."""
        total = NO_MEM
        for s in segs:
            if s.mem is not None:
                total = total + s.mem
        return total


def run_traced(
    board: str,
    elf: str | os.PathLike,
    timeout: float = 600.0,
    append: str | None = None,
    out: str | os.PathLike | None = None,
    memory: MemoryModel | None = None,
) -> tuple[int, str, Trace]:
    """Run a semihosting firmware to its end under the plugin: (exit code, output, trace). The flash
    traffic is counted with ``memory`` (a ``MemoryModel``; default: the board's own)."""
    from edgel3_mote.board_tests.harness.qemu import run_elf

    if out is None:
        fd, out = tempfile.mkstemp(prefix="em-tbtrace-", suffix=".txt")
        os.close(fd)
    out = Path(out)
    from edgel3_mote.export.boards import get_board

    plugin = plugin_arg(elf, out, memory=memory or get_board(board).memory)
    code, output = run_elf(board, elf, timeout=timeout, append=append, plugin=plugin)
    return code, output, parse_trace(out)


def tick_resolution(board: str) -> int:
    """Instructions per em_board_ticks() step under QEMU (40 on the MPS2 timer, 1 on TIM2), from the
    BoardSpec (the one source; its generated header carries the same number)."""
    from edgel3_mote.export.boards import get_board

    return get_board(board).insns_per_timer_tick or 1


def cycles_for_ticks(
    board: str, trace: Trace, values: dict[str, int], suffix: str = "_ticks", memory: MemoryModel | None = None
) -> dict[str, int]:
    """``<name>_cycles`` (and ``<name>_traced_instructions``) for every ``<name>_ticks`` a semihosting
    firmware printed: each tick figure is matched to the contiguous run of trace segments whose
    instruction count equals it (within one tick step), so no firmware layout is assumed.

    Where the trace carries flash traffic (the board has a memory model with wait states), also
    ``<name>_est_cycles`` and ``<name>_bound_cycles`` (``memory_cycles``: the memory-aware estimate
    and the upper bound) and ``<name>_flash_<field>`` for each of ``MEM_FIELDS`` (``memory``: the
    ``MemoryModel`` the trace was counted with; default the board's)."""
    from edgel3_mote.export.boards import get_board

    model = memory or get_board(board).memory
    est = CycleEstimator(timing_for_cpu(_cpu(board)), trace.blocks)
    res = tick_resolution(board)
    segs = trace.spans[0] if trace.spans else []
    costs = [est.segment(s) for s in segs]
    has_mem = any(s.mem is not None for s in segs)
    out: dict[str, int] = {}
    for key, ticks in values.items():
        if not key.endswith(suffix) or not isinstance(ticks, int) or ticks <= 0:
            continue
        best = None
        for i in range(len(costs)):
            total = ZERO
            for j in range(i, len(costs)):
                total = total + costs[j]
                diff = abs(total.instructions - ticks)
                if diff < res and (best is None or diff < best[0]):
                    best = (diff, total, i, j)
                if total.instructions >= ticks + res:
                    break
        if best is None:
            raise DeviceError(
                f"no traced region has the {ticks:,} instructions of {key} ({board}): the trace and "
                f"the firmware's ticks disagree"
            )
        name = key[: -len(suffix)]
        out[f"{name}_cycles"] = best[1].cycles
        out[f"{name}_traced_instructions"] = best[1].instructions
        if has_mem and model is not None:
            mem = CycleEstimator.memory(segs[best[2] : best[3] + 1])
            figs = memory_cycles(best[1].cycles, mem, model)
            out[f"{name}_est_cycles"] = figs["estimate"]
            out[f"{name}_bound_cycles"] = figs["upper_bound"]
            for f, v in mem.to_dict().items():
                out[f"{name}_flash_{f}"] = v
    return out


def _cpu(board: str) -> str:
    from edgel3_mote.export.boards import get_board

    return get_board(board).cpu


class FunctionMap:
    """Which ELF function holds an address (from the symbol table's sized STT_FUNC entries)."""

    def __init__(self, elf: str | os.PathLike):
        import bisect

        from elftools.elf.elffile import ELFFile
        from elftools.elf.sections import SymbolTableSection

        funcs = set()
        with open(elf, "rb") as f:
            for sec in ELFFile(f).iter_sections():
                if isinstance(sec, SymbolTableSection):
                    for sym in sec.iter_symbols():
                        if sym["st_info"]["type"] == "STT_FUNC" and sym["st_size"]:
                            start = sym["st_value"] & ~1
                            funcs.add((start, start + sym["st_size"], sym.name))
        self._funcs = sorted(funcs)
        self._starts = [f[0] for f in self._funcs]
        self._bisect = bisect.bisect_right

    def name(self, addr: int) -> str | None:
        i = self._bisect(self._starts, addr) - 1
        if i >= 0 and self._funcs[i][0] <= addr < self._funcs[i][1]:
            return self._funcs[i][2]
        return None


def infer_cycles(
    span: list[Segment], est: CycleEstimator, funcs: FunctionMap, layer_ticks: list[int], resolution: int
) -> dict:
    """Front-end, engine and per-layer instructions + estimated cycles of one traced INFER.

    The serial app (firmware/app/serial_main.c) reads em_board_ticks() at t0/t1 around the front-end
    and t2/t3 around em_model_invoke(), all from one function; inside, the engine's EM_RUN reads it
    before and after every layer call (many times per layer when a chain streams rows). So the marks
    of a span are: t0, t1, t2, then (before, after) pairs from the engine, then t3. Per-layer figures
    group the pairs by call site; sites in order of first execution are the layers with code in
    index order (a chain starts each stage after the one before it), each matched to a layer whose
    ticks equal its instructions (``layers_mapped`` is False if some site matches none).
    """
    marks = [s.end_key for s in span]
    if len(marks) < 4:
        raise DeviceError(f"the traced INFER has {len(marks)} tick readings, expected at least 4")
    app = funcs.name(marks[0])
    end = next((j for j in range(3, len(marks)) if funcs.name(marks[j]) == app), None)
    if end is None or (end - 3) % 2:
        raise DeviceError("the traced INFER's tick readings do not pair up as the serial app takes them")
    frontend = est.segment(span[1])
    engine = est.segments(span[3 : end + 1])
    sites: dict[int, list] = {}
    for k in range(4, end, 2):
        site = sites.setdefault(span[k].end_key, [ZERO, 0, NO_MEM])
        site[0] = site[0] + est.segment(span[k])
        site[1] += 1
        site[2] = site[2] + CycleEstimator.memory([span[k]])
    # sites in order of first execution -> layers in index order: each site takes the next layer whose
    # ticks it matches (within one tick step per run); layers left over have no code (aliases)
    layers: list[dict] = [
        {"instructions": 0, "cycles": 0, "runs": 0, "ticks": int(t), "flash": NO_MEM.to_dict()} for t in layer_ticks
    ]
    j = 0
    mapped = True
    for cost, runs, mem in sites.values():
        while j < len(layer_ticks) and abs(cost.instructions - layer_ticks[j]) > runs * resolution:
            j += 1
        if j == len(layer_ticks):
            mapped = False
            break
        layers[j].update(instructions=cost.instructions, cycles=cost.cycles, runs=runs, flash=mem.to_dict())
        j += 1
    return {
        "frontend": {
            "instructions": frontend.instructions,
            "cycles": frontend.cycles,
            "branches_taken": frontend.branches_taken,
            "flash": CycleEstimator.memory([span[1]]).to_dict(),
        },
        "engine": {
            "instructions": engine.instructions,
            "cycles": engine.cycles,
            "branches_taken": engine.branches_taken,
            "flash": CycleEstimator.memory(span[3 : end + 1]).to_dict(),
        },
        "layers": layers if mapped else [],
        "layer_sites": len(sites),
        "layers_mapped": mapped,
    }
