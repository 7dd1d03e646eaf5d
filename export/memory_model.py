"""What a board's memory system and supply cost: the facts ``BoardSpec.memory`` / ``BoardSpec.power`` carry.

The cycle estimator (``board_tests/harness/cycles.py``) counts every instruction a QEMU run executes with
the core's timing table, which assumes **zero-wait-state memory**. Real chips fetch code and read
constant data (the weights) from flash behind wait states and a small cache. A ``MemoryModel`` states,
for one board at its configured clock and voltage and with a citation to the vendor's manual:

- ``flash_wait_states``: the wait states of one flash read at the configured clock (a miss costs that
  many extra core cycles; the read returns one ``line_bytes`` line);
- ``icache`` / ``dcache``: the flash accelerator's caches (``CacheGeometry``: line size, sets x ways,
  LRU); ``None`` = none;
- ``prefetch``: the accelerator prefetches the next sequential instruction line (the estimate hides a
  sequential instruction-line miss; the upper bound does not);
- ``zero_wait_regions``: RAM regions read and written at zero wait states (SRAM, CCM, TCM).

Three figures follow from it (``cycles.py``): the zero-wait estimate (today's), the **memory-aware
estimate** (LRU caches simulated on the traced addresses, prefetch hides sequential instruction-line
misses) and the **upper bound** (every flash data read misses, every instruction-line miss pays: no
data-cache hit, no prefetch). Real-time verdicts are taken on the upper bound.

A ``PowerModel`` holds the datasheet run-mode current at the configured clock and a sleep current;
``energy_per_window`` and ``battery_life_hours`` use it (bench.md/json, README). Numbers are the
datasheets' *typical* values at 25 degC; each carries its source. Where this session could not open the
table itself, ``verified`` says so.

API (for the engine's cost model as well): ``board.memory.stall_cycles(flash_data_misses,
instr_line_misses)``, ``board.memory.flash_contains(addr)``, ``board.power.energy_per_window(busy_s, hop_s)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class CacheGeometry:
    """A set-associative LRU cache in front of the flash (fully associative: ``sets == 1``)."""

    line_bytes: int
    sets: int
    ways: int
    source: str

    @property
    def size_bytes(self) -> int:
        return self.line_bytes * self.sets * self.ways

    def plugin_arg(self) -> str:
        """``line:sets:ways`` for the QEMU plugin (tbtrace.c)."""
        return f"{self.line_bytes}:{self.sets}:{self.ways}"

    def describe(self) -> str:
        kind = "fully associative" if self.sets == 1 else f"{self.ways}-way"
        return f"{self.size_bytes:,} B ({self.sets * self.ways} x {self.line_bytes} B lines, {kind}, LRU)"


@dataclass(frozen=True)
class MemoryRegion:
    name: str
    origin: int
    size: int

    def contains(self, addr: int) -> bool:
        return self.origin <= addr < self.origin + self.size


@dataclass(frozen=True)
class MemoryModel:
    """The memory system of one board at its configured clock (see the module docstring)."""

    chip: str
    flash: MemoryRegion
    flash_wait_states: int
    source: str  # the manual section / table the wait states come from
    icache: CacheGeometry | None = None
    dcache: CacheGeometry | None = None
    prefetch: bool = False
    zero_wait_regions: tuple[MemoryRegion, ...] = ()
    notes: str = ""
    # the core clock these wait states hold at (the verdicts' clock); None: the board's clock_hz
    clock_hz: int | None = None

    def flash_contains(self, addr: int) -> bool:
        return self.flash.contains(addr)

    def stall_cycles(self, flash_data_misses: int, instr_line_misses: int) -> int:
        """Extra core cycles of that many flash reads that missed (each waits ``flash_wait_states``)."""
        return self.flash_wait_states * (int(flash_data_misses) + int(instr_line_misses))

    @property
    def zero_wait(self) -> bool:
        """True where flash itself has no wait states (the MPS2 SSRAM boards)."""
        return self.flash_wait_states == 0

    def plugin_args(self) -> list[str]:
        """The tbtrace.c arguments that make the plugin simulate this memory system."""
        args = [f"flash={self.flash.origin:#x}:{self.flash.size:#x}"]
        if self.icache:
            args.append(f"icache={self.icache.plugin_arg()}")
        if self.dcache:
            args.append(f"dcache={self.dcache.plugin_arg()}")
        return args

    def to_dict(self) -> dict:
        return {
            "chip": self.chip,
            "flash": {"origin": self.flash.origin, "size": self.flash.size},
            "flash_wait_states": self.flash_wait_states,
            "icache": self.icache.describe() if self.icache else None,
            "dcache": self.dcache.describe() if self.dcache else None,
            "prefetch": self.prefetch,
            "zero_wait_regions": [{"name": r.name, "origin": r.origin, "size": r.size} for r in self.zero_wait_regions],
            "source": self.source,
            "notes": self.notes,
            "clock_hz": self.clock_hz,
        }


@dataclass(frozen=True)
class Cell:
    """A battery: nominal voltage and usable capacity (typical datasheet figures, at light loads)."""

    name: str
    volts: float
    mah: float


CELLS = (
    Cell("2 x AA alkaline", 3.0, 2500.0),  # Energizer E91-class: ~2,500 mAh to 0.8 V/cell at low drain
    Cell("CR2032", 3.0, 225.0),  # Energizer CR2032 datasheet: 225 mAh to 2.0 V
)
HOPS_S = (1.0, 10.0)


@dataclass(frozen=True)
class PowerModel:
    """Datasheet supply current of the chip: running the engine (``run_ma``) and between windows (``sleep_ma``)."""

    chip: str
    volts: float  # supply voltage of the datasheet figures (and of the energy figures)
    run_ma: float  # typical run-mode current at the configured clock, code from flash
    sleep_ma: float  # typical current of the state the mote waits in between windows
    clock_hz: int
    source: str
    sleep_source: str
    verified: bool = False  # True only where this session read the table itself
    notes: str = ""

    def energy_j(self, busy_s: float) -> float:
        """Energy of ``busy_s`` seconds at the run-mode current."""
        return self.volts * self.run_ma * 1e-3 * busy_s

    def energy_per_window(self, busy_s: float, hop_s: float = 1.0) -> float:
        """Joules per window at one window per ``hop_s``: run for ``busy_s``, sleep for the rest of the hop
        (none when the window takes longer than the hop: the mote then cannot keep up, see ``keeps_up``)."""
        return self.energy_j(busy_s) + self.volts * self.sleep_ma * 1e-3 * max(0.0, hop_s - busy_s)

    @staticmethod
    def keeps_up(busy_s: float, hop_s: float) -> bool:
        return busy_s <= hop_s

    def average_ma(self, busy_s: float, hop_s: float) -> float:
        return self.energy_per_window(busy_s, hop_s) / (self.volts * max(hop_s, busy_s)) * 1e3

    def battery_life_hours(self, busy_s: float, hop_s: float, cell: Cell) -> float | None:
        """Hours a ``cell`` lasts at one window per ``hop_s`` (capacity / average current; no derating);
        None when a window takes longer than the hop (the mote does not keep up)."""
        if not self.keeps_up(busy_s, hop_s):
            return None
        return cell.mah / self.average_ma(busy_s, hop_s)

    def to_dict(self) -> dict:
        return {
            "chip": self.chip,
            "volts": self.volts,
            "run_ma": self.run_ma,
            "sleep_ma": self.sleep_ma,
            "clock_hz": self.clock_hz,
            "source": self.source,
            "sleep_source": self.sleep_source,
            "verified": self.verified,
            "notes": self.notes,
        }


def energy_summary(power: PowerModel, busy_s: dict[str, float]) -> dict:
    """Energy per 1-s window and battery life at each hop and cell, for each named busy time (estimate, bound)."""
    out: dict = {"power_model": power.to_dict(), "figures": {}}
    for label, t in busy_s.items():
        fig: dict = {
            "busy_s": t,
            "energy_per_window_mj": 1e3 * power.energy_per_window(t, 1.0),
            "fits_hop": {f"{h:g}": bool(t <= h) for h in HOPS_S},
            "battery_life_days": {},
        }
        for cell in CELLS:
            life = {f"{h:g}": power.battery_life_hours(t, h, cell) for h in HOPS_S}
            fig["battery_life_days"][cell.name] = {h: (v / 24.0 if v is not None else None) for h, v in life.items()}
        out["figures"][label] = fig
    return out


# ------------------------------------------------------------------------------------------- the chips
# STM32F405/407 (RM0090 Rev 19, section 3.5.1 "Relation between CPU clock frequency and Flash memory read
# time", Table 10 "Number of wait states according to CPU clock (HCLK) frequency": 2.7-3.6 V,
# 150 < HCLK <= 168 MHz -> 5 WS (6 CPU cycles); section 3.5.2 "Adaptive real-time memory accelerator (ART
# Accelerator)": 128-bit flash reads, instruction cache of 64 lines x 128 bits (1 KB), data cache of 8
# lines x 128 bits, prefetch for sequential instructions only (the data cache has no prefetch).
F405_FLASH = MemoryRegion("flash", 0x08000000, 1024 * 1024)
STM32F405_MEMORY = MemoryModel(
    chip="STM32F405RG at 168 MHz, 3.3 V",
    flash=F405_FLASH,
    flash_wait_states=5,
    source="RM0090 s3.5.1 Table 10 (150-168 MHz at 2.7-3.6 V: 5 WS); s3.5.2 ART accelerator",
    icache=CacheGeometry(16, 1, 64, "RM0090 s3.5.2: instruction cache 64 lines x 128 bits"),
    dcache=CacheGeometry(16, 1, 8, "RM0090 s3.5.2: data cache 8 lines x 128 bits (literal pools, constants)"),
    prefetch=True,
    zero_wait_regions=(
        MemoryRegion("SRAM1/SRAM2", 0x20000000, 128 * 1024),
        MemoryRegion("CCM (data only, D-bus)", 0x10000000, 64 * 1024),
    ),
    notes="LRU replacement is this model's assumption (RM0090 does not name the policy). A miss stalls the "
    "core for the 5 wait states; the 128-bit line then serves the following accesses.",
    clock_hz=168_000_000,
)

# STM32H743 (RM0433 Rev 7, section 4.3.8 "FLASH read access latency", Table 17 "FLASH recommended number of
# wait states and programming delay": VOS0, AXI clock 225-240 MHz -> 2 WS (the core at 480 MHz runs at
# 2x the AXI clock, so a flash read costs 2 x (2 + 1) = 6 core cycles, 4 of them waiting beyond the
# bus's own). Cortex-M7 L1 caches as configured on the H7 (RM0433 s2.1 / the M7 TRM): I-cache 16 KB
# 2-way, D-cache 16 KB 4-way, 32-byte lines. ITCM (64 KB) and DTCM (128 KB) are zero-wait.
H743_MEMORY = MemoryModel(
    chip="STM32H743 at 480 MHz (VOS0)",
    flash=MemoryRegion("flash", 0x08000000, 1_000_000),
    flash_wait_states=4,
    source="RM0433 s4.3.8 Table 17 (VOS0, 240 MHz AXI: 2 WS = 6 core cycles a read, 4 beyond the bus); "
    "Cortex-M7 L1 I/D caches 16 KB each, 32 B lines",
    icache=CacheGeometry(32, 256, 2, "Cortex-M7 I-cache 16 KB, 2-way, 32 B lines (as on the STM32H7)"),
    dcache=CacheGeometry(32, 128, 4, "Cortex-M7 D-cache 16 KB, 4-way, 32 B lines (as on the STM32H7)"),
    prefetch=False,
    zero_wait_regions=(
        MemoryRegion("ITCM", 0x00000000, 64 * 1024),
        MemoryRegion("DTCM", 0x20000000, 128 * 1024),
        MemoryRegion("AXI SRAM (through the D-cache; modelled zero-wait)", 0x24000000, 512 * 1024),
    ),
    notes="AXI SRAM misses of the D-cache are not charged (a stated simplification).",
    clock_hz=480_000_000,
)

# nRF52840 (Product Specification v1.x, section 4.3 "Memory" / 4.4 NVMC "Cache" (ICACHECNF): code executes
# from flash behind the NVMC's instruction cache (enabled by the firmware), 2-way set-associative; no data
# cache. Flash reads at 64 MHz have wait states; this model charges 2 per uncached read.
NRF52840_MEMORY = MemoryModel(
    chip="nRF52840 at 64 MHz",
    flash=MemoryRegion("flash", 0x00000000, 1024 * 1024),
    flash_wait_states=2,
    source="nRF52840 PS s4.4 NVMC (instruction cache, ICACHECNF); flash wait states: this model's 2 per read "
    "(not re-verified against the PS table in this session)",
    icache=CacheGeometry(16, 256, 2, "nRF52840 NVMC instruction cache, 8 KB 2-way (modelled with 16 B lines)"),
    dcache=None,
    prefetch=False,
    zero_wait_regions=(MemoryRegion("RAM", 0x20000000, 256 * 1024),),
    notes="No data cache: every weight read from flash pays the wait states in both the estimate and the bound.",
    clock_hz=64_000_000,
)


def zero_wait_ssram(chip: str, flash_origin: int, flash_size: int) -> MemoryModel:
    """The MPS2 FPGA boards: ZBT SSRAM at zero wait states (the assumption is explicit, not silicon)."""
    return MemoryModel(
        chip=chip,
        flash=MemoryRegion("code SSRAM (stands in for flash)", flash_origin, flash_size),
        flash_wait_states=0,
        source="ARM MPS2 FPGA images (AN386/AN500): code and data in ZBT SSRAM, assumed zero-wait",
        zero_wait_regions=(MemoryRegion("data SSRAM", 0x20000000, 4 * 1024 * 1024),),
        notes="assumption: zero-wait SSRAM for code and data -- the estimate equals the zero-wait figure",
    )


# ------------------------------------------------------------------------------------------- power
STM32F405_POWER = PowerModel(
    chip="STM32F405",
    volts=3.3,
    run_ma=40.0,
    sleep_ma=0.45,
    clock_hz=168_000_000,
    source="STM32F405xx/407xx datasheet DS8626 Rev 12, Table 20 'Typical and maximum current consumption in Run "
    "mode, code with data processing running from flash memory (ART accelerator enabled) or RAM': external "
    "clock, all peripherals disabled, 168 MHz, typ 25 degC: 40 mA (max 54 mA at 85 degC)",
    sleep_source="DS8626 Rev 12, Table 23: Stop mode, main regulator, flash in Stop mode, typ 25 degC: 0.45 mA",
    verified=True,
    notes="The microphone / ADC capture path is not counted (all peripherals enabled: 87 mA, Table 20).",
)

H743_POWER = PowerModel(
    chip="STM32H743",
    volts=3.3,
    run_ma=110.0,
    sleep_ma=1.27,
    clock_hz=480_000_000,
    source="STM32H743/753 datasheet DS12110 Rev 10, Table 130 (silicon revision V; 480 MHz needs it): Run mode, "
    "code from flash, cache ON, LDO, all peripherals disabled, VOS0 480 MHz, typ 25 degC: 110 mA "
    "(rev Y at VOS1 400 MHz: 105 mA, Table 31)",
    sleep_source="DS12110 Rev 10, Table 133: Stop mode, all domains stopped, flash in low-power mode, SVOS5, typ: "
    "1.27 mA (rev V)",
    verified=True,
)

NRF52840_POWER = PowerModel(
    chip="nRF52840",
    volts=3.0,
    run_ma=3.3,
    sleep_ma=0.00316,
    clock_hz=64_000_000,
    source="nRF52840 Product Specification (v1.x), 'CPU running', ICPU0: CoreMark at 64 MHz from flash, cache "
    "enabled, HFXO, DC/DC, 3 V: 3.3 mA (6.3 mA with the LDO)",
    sleep_source="nRF52840 PS 'Sleep', ION_RAMON_RTC: System ON, full 256 kB RAM retention, wake on RTC: 3.16 uA",
    notes="Both figures as quoted from the PS by public code (PS v1.11); Nordic's PDF itself was not read.",
)

# The MLPerf Tiny v0.5 reference board (power only: it runs no firmware here). STM32L4R5ZI at 120 MHz
# (Range 1 boost, 5 WS) supplied at 1.8 V by the energy monitor.
L4R5_POWER = PowerModel(
    chip="STM32L4R5ZI",
    volts=1.8,
    run_ma=18.5,
    sleep_ma=0.0,
    clock_hz=120_000_000,
    source="STM32L4R5xx datasheet DS12023, Run mode, code from flash, ICACHE on, Range 1 boost, 120 MHz, "
    "typ 25 degC: ~18.5 mA (~155 uA/MHz at 120 MHz), as entered; DS12023 could not be found to check it",
    sleep_source="not used (MLPerf runs back-to-back inferences)",
    notes="MLPerf Tiny v0.5's own log of this board (Nucleo-L4R5ZI kws, energy/log.txt) reads 40,835.7 uW at 1.8 V: "
    "22.7 mA for everything on the metered supply while inferring.",
)


def mps2_power_note() -> str:
    return "no power model: an MPS2 FPGA image stands for no chip (energy figures are not given)"


@dataclass(frozen=True)
class MlperfReference:
    """A measurement on silicon that the power model is checked against (MLPerf Tiny v0.5, closed/reference)."""

    board: str
    benchmark: str
    energy_uj_per_inference: float
    throughput_inf_per_s: float  # in energy mode (the time per inference the energy is spent in)
    volts: float
    files: tuple[str, ...] = field(default=())

    @property
    def seconds_per_inference(self) -> float:
        return 1.0 / self.throughput_inf_per_s


# mlcommons/tiny_results_v0.5 closed/reference/results/Nucleo-L4R5ZI/kws/energy/results.txt: median
# 7373.704 uJ/inf., median throughput 5.539 inf./sec. in energy mode; log.txt: emon voltage 1800 mV;
# systems/Nucleo_L4R5ZI_System_Description.json: 120 MHz, "Operating at 1.8V".
MLPERF_L4R5_KWS = MlperfReference(
    board="Nucleo-L4R5ZI",
    benchmark="kws01 (DS-CNN)",
    energy_uj_per_inference=7373.704,
    throughput_inf_per_s=5.539,
    volts=1.8,
    files=(
        "closed/reference/results/Nucleo-L4R5ZI/kws/energy/results.txt",
        "closed/reference/results/Nucleo-L4R5ZI/kws/energy/log.txt",
        "closed/reference/systems/Nucleo_L4R5ZI_System_Description.json",
    ),
)


def mlperf_ratio(ref: MlperfReference = MLPERF_L4R5_KWS, power: PowerModel = L4R5_POWER) -> float:
    """Measured energy per inference / the power model's energy for the measured time (1.0 = exact)."""
    predicted_uj = 1e6 * power.energy_j(ref.seconds_per_inference)
    return ref.energy_uj_per_inference / predicted_uj
