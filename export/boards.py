"""Board specifications and the arm-none-eabi build of firmware for them.

A board is everything the generator and the QEMU runner need to know: the core and its
compiler flags, the memory map the firmware links against, the clock, the QEMU machine
(if it runs there) and the board support sources under ``firmware/boards/``. A BoardSpec is the
one owner of these numbers: each board's ``memory.ld`` and ``em_board_config.h`` are generated
from it (``export/board_files.py``).

``build_elf`` compiles and links a list of C sources for a board (used by the project's
tests and by the hello bring-up firmware; generated projects carry their own Makefile with
the same flags), and ``elf_memory_usage`` reads flash and RAM use back from the ELF.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable

from edgel3_mote.errors import ExportError, InvalidInputError, ToolchainError
from edgel3_mote.export.memory_model import (
    H743_MEMORY,
    H743_POWER,
    NRF52840_MEMORY,
    NRF52840_POWER,
    STM32F405_MEMORY,
    STM32F405_POWER,
    MemoryModel,
    MemoryRegion,
    PowerModel,
    zero_wait_ssram,
)

FIRMWARE_DIR = Path(__file__).resolve().parent.parent / "firmware"
BOARDS_DIR = FIRMWARE_DIR / "boards"
COMMON_DIR = BOARDS_DIR / "common"
KERNEL_DIR = FIRMWARE_DIR / "kernels"
KERNEL_SOURCES = sorted(KERNEL_DIR.glob("*.c"))  # the int8 kernel library, one op per file
BENCH_DIR = FIRMWARE_DIR / "bench"  # the benchmark firmwares' mains (make bench-kernels, bench-sparsity)
CC = "arm-none-eabi-gcc"

KIB = 1024
MIB = 1024 * 1024

# The mote budget of an STM32H743 (the SONYC-class node): both H743 boards link against it.
H743_FLASH_BUDGET = 1_000_000
H743_RAM_BUDGET = 500_000

# The MPS2 FPGA images' system clock, which QEMU's CMSDK timer counts (whatever clock_hz a budget board states).
MPS2_SYSCLK_HZ = 25_000_000

MPS2_MEMORY_NOTES = "QEMU MPS2: ZBT SSRAM1 (code, 4 MiB) at 0x0, ZBT SSRAM2/3 (data, 4 MiB) at 0x20000000."

# The H743's memory system as the QEMU budget board places it: its flash budget at 0x0 (the code SSRAM), so
# the flash region the caches and wait states apply to moves there; everything else is the H743's.
H743_MEMORY_ON_MPS2 = replace(
    H743_MEMORY,
    flash=MemoryRegion("flash (H743 budget, at the MPS2 code SSRAM)", 0x0, H743_FLASH_BUDGET),
    zero_wait_regions=(MemoryRegion("RAM (H743 AXI SRAM budget, modelled zero-wait)", 0x20000000, H743_RAM_BUDGET),),
)

# Board-independent sources every firmware links (startup, vectors, semihosting, stack, no-heap syscalls).
COMMON_SOURCES = ("startup_cortexm.S", "vectors.c", "semihost.c", "stack.c", "syscalls.c")


@dataclass(frozen=True)
class BoardSpec:
    name: str
    cpu: str  # -mcpu
    fpu: str  # -mfpu
    float_abi: str  # -mfloat-abi
    flash_origin: int
    flash_size: int
    ram_origin: int
    ram_size: int
    clock_hz: int
    qemu_machine: str | None  # None: build-only board
    uart: str  # the UART the protocol uses
    timer: str  # the tick source of em_board_ticks()
    notes: str
    num_irqs: int
    stack_size: int  # memory.ld's __stack_size
    uart_base: int  # peripheral base address of the protocol's UART (EM_UART_BASE)
    timer_base: int | None  # base of the tick timer (EM_TIMER_BASE); None: the core's DWT cycle counter
    driver_sources: tuple[str, ...] = field(default=())  # relative to firmware/boards/common
    dsp: bool = True  # Cortex-M4/M7: SMLAD kernels (-DEM_USE_DSP)
    uart_clock_hz: int | None = None  # the UART's kernel clock (baud divisor); None: clock_hz
    uart_baud: int = 115_200
    insns_per_timer_tick: int | None = None  # QEMU: instructions per timer tick under -icount shift=0
    memory_notes: str = ""  # why these regions (the comment of the generated memory.ld)
    # the memory system at the configured clock (wait states, flash caches, zero-wait RAM; export/memory_model.py):
    # the cycle estimator's memory-aware estimate and upper bound come from it
    memory: MemoryModel | None = None
    power: PowerModel | None = None  # datasheet run / sleep current (energy per window); None: no silicon
    flash_openocd: tuple[str, ...] = ()  # OpenOCD arguments selecting probe + chip (`make flash`); (): not flashable
    flash_probe: str = ""  # the debug probe `make flash` talks to, in words

    @property
    def runnable_in_qemu(self) -> bool:
        return self.qemu_machine is not None

    @property
    def board_dir(self) -> Path:
        return BOARDS_DIR / self.name

    @property
    def ticks_unit(self) -> str:
        return "instructions" if self.runnable_in_qemu else "cycles"

    def cflags(self) -> list[str]:
        flags = [
            f"-mcpu={self.cpu}",
            "-mthumb",
            f"-mfpu={self.fpu}",
            f"-mfloat-abi={self.float_abi}",
            f"-DEM_NUM_IRQS={self.num_irqs}",
        ]
        if self.dsp:
            flags.append("-DEM_USE_DSP")
        if self.runnable_in_qemu:
            flags.append("-DEM_SEMIHOSTING")
        return flags

    def board_sources(self) -> list[Path]:
        """Every board-support C/asm file, ``firmware/boards/common`` first."""
        srcs = [COMMON_DIR / s for s in (*COMMON_SOURCES, *self.driver_sources)]
        srcs += sorted(p for p in self.board_dir.iterdir() if p.suffix in (".c", ".S"))
        return srcs

    def include_dirs(self) -> list[Path]:
        return [FIRMWARE_DIR / "include", COMMON_DIR, self.board_dir]

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "cpu": self.cpu,
            "fpu": self.fpu,
            "float_abi": self.float_abi,
            "flash_origin": self.flash_origin,
            "flash_size": self.flash_size,
            "ram_origin": self.ram_origin,
            "ram_size": self.ram_size,
            "clock_hz": self.clock_hz,
            "qemu_machine": self.qemu_machine,
            "runnable_in_qemu": self.runnable_in_qemu,
            "uart": self.uart,
            "timer": self.timer,
            "ticks_unit": self.ticks_unit,
            "stack_size": self.stack_size,
            "uart_base": self.uart_base,
            "uart_clock_hz": self.uart_clock_hz or self.clock_hz,
            "uart_baud": self.uart_baud,
            "timer_base": self.timer_base,
            "insns_per_timer_tick": self.insns_per_timer_tick,
            "notes": self.notes,
            "memory_model": self.memory.to_dict() if self.memory else None,
            "power_model": self.power.to_dict() if self.power else None,
        }


# ARM's MPS2 FPGA image AN386 (Cortex-M4F): the plain QEMU M4 board, and the base of the nRF52840 budget board.
# The CMSDK timer counts the FPGA's 25 MHz (MPS2_SYSCLK_HZ) whatever clock a board derived from it states.
_AN386 = BoardSpec(
    name="qemu-mps2-an386",
    cpu="cortex-m4",
    fpu="fpv4-sp-d16",
    float_abi="hard",
    flash_origin=0x0,
    flash_size=4 * MIB,
    ram_origin=0x20000000,
    ram_size=4 * MIB,
    clock_hz=25_000_000,
    qemu_machine="mps2-an386",
    uart="CMSDK APB UART0 @ 0x40004000",
    timer="CMSDK APB TIMER0 @ 0x40000000 (x40 = instructions)",
    notes="ARM MPS2 FPGA image AN386 (Cortex-M4F) in QEMU; ticks are instructions with "
    "-icount shift=0, resolution 40 (the 25 MHz timer at 1 ns per instruction)",
    num_irqs=32,
    stack_size=16 * KIB,
    uart_base=0x40004000,
    timer_base=0x40000000,
    insns_per_timer_tick=40,  # 1e9 ns / 25 MHz, at 1 ns per instruction
    memory_notes=MPS2_MEMORY_NOTES,
    driver_sources=("cmsdk_uart.c", "cmsdk_timer.c"),
    memory=zero_wait_ssram("MPS2 AN386 FPGA (Cortex-M4F) at 25 MHz", 0x0, 4 * MIB),
)

_BOARD_LIST = [
    _AN386,
    BoardSpec(
        name="qemu-mps2-an500",
        cpu="cortex-m7",
        fpu="fpv5-d16",
        float_abi="hard",
        flash_origin=0x0,
        flash_size=4 * MIB,
        ram_origin=0x20000000,
        ram_size=4 * MIB,
        clock_hz=25_000_000,
        qemu_machine="mps2-an500",
        uart="CMSDK APB UART0 @ 0x40004000",
        timer="CMSDK APB TIMER0 @ 0x40000000 (x40 = instructions)",
        notes="ARM MPS2 FPGA image AN500 (Cortex-M7, DP FPU) in QEMU; same memory map and "
        "peripherals as AN386 (4 MiB ZBT SSRAM1 at 0x0, 4 MiB SSRAM2/3 at 0x20000000)",
        num_irqs=32,
        stack_size=16 * KIB,
        uart_base=0x40004000,
        timer_base=0x40000000,
        insns_per_timer_tick=40,
        memory_notes=MPS2_MEMORY_NOTES,
        driver_sources=("cmsdk_uart.c", "cmsdk_timer.c"),
        memory=zero_wait_ssram("MPS2 AN500 FPGA (Cortex-M7) at 25 MHz", 0x0, 4 * MIB),
    ),
    BoardSpec(
        name="qemu-mps2-an500-h743",
        cpu="cortex-m7",
        fpu="fpv5-d16",
        float_abi="hard",
        flash_origin=0x0,
        flash_size=H743_FLASH_BUDGET,
        ram_origin=0x20000000,
        ram_size=H743_RAM_BUDGET,
        clock_hz=25_000_000,
        qemu_machine="mps2-an500",
        uart="CMSDK APB UART0 @ 0x40004000",
        timer="CMSDK APB TIMER0 @ 0x40000000 (x40 = instructions)",
        notes="the mote in QEMU: MPS2-AN500 hardware (Cortex-M7) linked with the STM32H743 mote budget "
        "(1,000,000 B flash, 500,000 B RAM incl. the stack), so a firmware that runs here fits it; "
        "8 KiB stack (the engines' measured high-water is ~1.1 KiB)",
        num_irqs=32,
        stack_size=8 * KIB,
        uart_base=0x40004000,
        timer_base=0x40000000,
        insns_per_timer_tick=40,
        memory_notes="QEMU MPS2-AN500 hardware (code SSRAM at 0x0, data SSRAM at 0x20000000, 4 MiB each), linked "
        "with the mote's budget on an STM32H743: 1,000,000 B of flash (of its 2 MiB) and 500,000 B of RAM (of its "
        "512 KiB AXI SRAM, the board nucleo-h743zi links against the same numbers). A firmware that links here fits "
        "the budget; one that does not fails at link time. 8 KiB stack: the engines' measured high-water is ~1.1 KiB "
        "(see the board test).",
        driver_sources=("cmsdk_uart.c", "cmsdk_timer.c"),
        memory=H743_MEMORY_ON_MPS2,
        power=H743_POWER,
    ),
    replace(
        _AN386,
        name="qemu-mps2-an386-nrf52840",
        flash_size=1 * MIB,
        ram_size=256 * KIB,
        clock_hz=64_000_000,
        notes="the nRF52840 mote in QEMU: MPS2-AN386 hardware (Cortex-M4F) linked with the nRF52840's 1 MiB flash "
        "and 256 KiB RAM at its addresses, clocked (for the real-time verdict) at its 64 MHz, with its memory and "
        "power model; nrf52840dk is the build-only real board",
        memory_notes="QEMU MPS2-AN386 hardware (code SSRAM at 0x0, data SSRAM at 0x20000000, 4 MiB each), linked "
        "with the nRF52840's memory: 1 MiB of flash at 0x0 and 256 KiB of RAM at 0x20000000 (no SoftDevice), the "
        "numbers of the board nrf52840dk. A firmware that links here fits the chip.",
        memory=NRF52840_MEMORY,
        power=NRF52840_POWER,
    ),
    BoardSpec(
        name="qemu-netduinoplus2",
        cpu="cortex-m4",
        fpu="fpv4-sp-d16",
        float_abi="hard",
        flash_origin=0x08000000,
        flash_size=1 * MIB,
        ram_origin=0x20000000,
        ram_size=128 * KIB,
        clock_hz=168_000_000,
        qemu_machine="netduinoplus2",
        uart="STM32 USART1 @ 0x40011000",
        timer="STM32 TIM2 @ 0x40000000 (1 tick = 1 instruction)",
        notes="Netduino Plus 2 (STM32F405RG) in QEMU, linked against the real chip's 1 MiB flash "
        "and 128 KiB SRAM (QEMU maps 192 KiB; the 64 KiB CCM is not used)",
        num_irqs=82,
        stack_size=8 * KIB,
        uart_base=0x40011000,
        timer_base=0x40000000,
        uart_clock_hz=84_000_000,  # APB2 at SYSCLK/2 (stm32f4_clock.c)
        memory_notes="STM32F405RG: 1 MiB flash at 0x08000000 (aliased at 0x0 at boot). QEMU gives 192 KiB of SRAM, "
        "the real chip has 128 KiB SRAM1/2 at 0x20000000 plus 64 KiB CCM at 0x10000000: we link against the 128 KiB "
        "only, like real hardware.",
        driver_sources=("stm32_usart.c", "stm32_tim2.c"),
        memory=STM32F405_MEMORY,
        power=STM32F405_POWER,
    ),
    BoardSpec(
        name="nucleo-h743zi",
        cpu="cortex-m7",
        fpu="fpv5-d16",
        float_abi="hard",
        flash_origin=0x08000000,
        flash_size=H743_FLASH_BUDGET,
        ram_origin=0x24000000,
        ram_size=H743_RAM_BUDGET,
        clock_hz=480_000_000,
        qemu_machine=None,
        uart="USART3 @ 0x40004800 (PD8/PD9, ST-LINK VCP)",
        timer="DWT CYCCNT (core cycles)",
        notes="STM32H743ZI (2 MiB flash, 1 MiB RAM in blocks) linked with the mote budget: 1,000,000 B "
        "of flash, 500,000 B of the 512 KiB AXI SRAM; core at 480 MHz from PLL1 on the HSI "
        "(VOS0); 8 KiB stack, as the QEMU mote board. Build-only: untested on hardware",
        num_irqs=150,
        stack_size=8 * KIB,  # as qemu-mps2-an500-h743: the same firmware must link in the same budget
        uart_base=0x40004800,
        timer_base=None,
        uart_clock_hz=120_000_000,  # APB1 (rcc_pclk1, the reset choice): USART3's kernel clock
        memory_notes="STM32H743ZI: 2 MiB flash at 0x08000000. Of its 1 MiB of RAM we link into the 512 KiB AXI SRAM "
        "(D1 domain, 0x24000000), the one block that is contiguous and reachable by every bus master; DTCM (128 KiB "
        "at 0x20000000) and the D2/D3 SRAMs are left free for the application. Both regions are linked at the mote "
        "budget (1,000,000 B flash, 500,000 B RAM), the same as the QEMU board qemu-mps2-an500-h743.",
        driver_sources=("dwt_cycles.c",),
        memory=H743_MEMORY,
        power=H743_POWER,
        flash_openocd=("-f", "board/st_nucleo_h743zi.cfg"),  # ST-LINK/V3 on the board, SWD
        flash_probe="the on-board ST-LINK (USB connector CN1)",
    ),
    BoardSpec(
        name="nrf52840dk",
        cpu="cortex-m4",
        fpu="fpv4-sp-d16",
        float_abi="hard",
        flash_origin=0x0,
        flash_size=1 * MIB,
        ram_origin=0x20000000,
        ram_size=256 * KIB,
        clock_hz=64_000_000,
        qemu_machine=None,
        uart="UART0 @ 0x40002000 (P0.06/P0.08, J-Link VCP)",
        timer="DWT CYCCNT (core cycles)",
        notes="nRF52840 (1 MiB flash, 256 KiB RAM, no SoftDevice). Build-only: untested on hardware",
        num_irqs=48,
        stack_size=16 * KIB,
        uart_base=0x40002000,
        timer_base=None,
        memory_notes="nRF52840: 1 MiB flash at 0x0, 256 KiB RAM at 0x20000000 (no SoftDevice).",
        driver_sources=("dwt_cycles.c",),
        memory=NRF52840_MEMORY,
        power=NRF52840_POWER,
        flash_openocd=("-f", "interface/jlink.cfg", "-c", "transport select swd", "-f", "target/nrf52.cfg"),
        flash_probe="the on-board SEGGER J-Link OB (USB connector J2)",
    ),
]

BOARDS: dict[str, BoardSpec] = {b.name: b for b in _BOARD_LIST}
BOARD_NAMES = tuple(BOARDS)
QEMU_BOARD_NAMES = tuple(b.name for b in _BOARD_LIST if b.runnable_in_qemu)


def get_board(name: str | BoardSpec) -> BoardSpec:
    if isinstance(name, BoardSpec):
        return name
    try:
        return BOARDS[name]
    except KeyError:
        raise InvalidInputError(f"unknown board '{name}': choose one of {', '.join(BOARD_NAMES)}") from None


# -------------------------------------------------------------------------------- building

OPT_FLAGS = [
    "-O2",
    "-std=c99",
    "-Wall",
    "-Wextra",
    "-Wno-unused-parameter",
    "-ffunction-sections",
    "-fdata-sections",
    "-fno-strict-aliasing",
]
LINK_FLAGS = ["--specs=nano.specs", "-nostartfiles", "-Wl,--gc-sections"]


def require_toolchain() -> str:
    if shutil.which(CC) is None:
        raise ToolchainError(f"{CC} not found: run `make setup` (or apt-get install gcc-arm-none-eabi)")
    return CC


_OVERFLOW = re.compile(r"region [`']?(\w+)'? overflowed by (\d+) bytes")


def link_overflow_error(board: BoardSpec, stderr: str, what: str) -> ExportError | None:
    """An ExportError with the numbers when the linker says a memory region overflowed."""
    hits = _OVERFLOW.findall(stderr)
    if not hits:
        return None
    parts = []
    for region, over in hits:
        limit = board.ram_size if region == "RAM" else board.flash_size
        parts.append(f"{region} needs {limit + int(over)} bytes but {board.name} has {limit} (over by {int(over)})")
    return ExportError(
        f"{what} does not fit {board.name}: {'; '.join(parts)}; choose a smaller model or a board with more memory"
    )


def build_elf(
    board: str | BoardSpec,
    sources: Iterable[str | Path],
    out_elf: str | Path,
    include_dirs: Iterable[str | Path] = (),
    defines: dict | None = None,
    extra_flags: Iterable[str] = (),
) -> Path:
    """Compile + link ``sources`` with the board support files into ``out_elf``."""
    board = get_board(board)
    cc = require_toolchain()
    out_elf = Path(out_elf)
    out_elf.parent.mkdir(parents=True, exist_ok=True)
    incs = [*map(Path, include_dirs), *board.include_dirs()]
    cmd = [cc, *board.cflags(), *OPT_FLAGS, *extra_flags]
    cmd += [f"-I{i}" for i in incs]
    cmd += [f"-D{k}" if v is None else f"-D{k}={v}" for k, v in (defines or {}).items()]
    cmd += [str(s) for s in (*map(Path, sources), *board.board_sources())]
    cmd += [
        *LINK_FLAGS,
        f"-L{COMMON_DIR}",
        f"-L{board.board_dir}",
        f"-T{board.board_dir / 'memory.ld'}",
        f"-Wl,-Map={out_elf.with_suffix('.map')}",
        "-o",
        str(out_elf),
        "-lm",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        err = link_overflow_error(board, proc.stderr, out_elf.name)
        if err is not None:
            raise err
        raise ToolchainError(f"building {out_elf.name} for {board.name} failed:\n{proc.stderr.strip()}")
    return out_elf


@dataclass
class MemoryUsage:
    flash_bytes: int  # code + const data + the load image of .data
    ram_bytes: int  # .data + .bss + stack (static RAM: there is no heap)
    stack_bytes: int
    flash_size: int
    ram_size: int
    sections: dict[str, int]

    def to_dict(self) -> dict:
        return {
            "flash_bytes": self.flash_bytes,
            "flash_size": self.flash_size,
            "ram_bytes": self.ram_bytes,
            "ram_size": self.ram_size,
            "stack_bytes": self.stack_bytes,
            "sections": self.sections,
        }

    def table(self, board_name: str) -> str:
        def row(what, used, size):
            return f"  {what:<6} {used:>9,d} / {size:>9,d} bytes  ({100.0 * used / size:5.1f} %)"

        return "\n".join(
            [
                f"memory on {board_name}:",
                row("flash", self.flash_bytes, self.flash_size),
                row("RAM", self.ram_bytes, self.ram_size) + f"  incl. {self.stack_bytes:,d} stack",
            ]
        )


def elf_memory_usage(elf: str | Path, board: str | BoardSpec) -> MemoryUsage:
    """Flash and static RAM use of a linked firmware, from its section headers."""
    from elftools.elf.constants import SH_FLAGS
    from elftools.elf.elffile import ELFFile

    board = get_board(board)
    flash = ram = stack = 0
    sections: dict[str, int] = {}
    with open(elf, "rb") as f:
        for sec in ELFFile(f).iter_sections():
            if not sec["sh_flags"] & SH_FLAGS.SHF_ALLOC or sec["sh_size"] == 0:
                continue
            addr, size = sec["sh_addr"], sec["sh_size"]
            sections[sec.name] = size
            if board.ram_origin <= addr < board.ram_origin + board.ram_size:
                ram += size
                if sec["sh_type"] != "SHT_NOBITS":
                    flash += size  # initial values are copied from flash at reset
                if sec.name == ".stack":
                    stack = size
            else:
                flash += size
    return MemoryUsage(flash, ram, stack, board.flash_size, board.ram_size, sections)
