"""The netduinoplus2 firmware's 168 MHz clock set-up (stm32f4_clock.c) against fake STM32F405
registers on the host: the PLL, bus dividers and flash wait states RM0090 gives for 168 MHz, the
HSI fallback, and no switch to an unlocked PLL (QEMU's case: its RCC reads 0)."""

from __future__ import annotations

import ctypes

import pytest

from edgel3_mote.export.boards import get_board
from edgel3_mote.export.hostbuild import load_shared

BOARD = get_board("qemu-netduinoplus2")
CR_HSERDY, CR_PLLRDY, SWS_PLL = 1 << 17, 1 << 25, 2 << 2


@pytest.fixture(scope="module")
def clock_lib():
    lib = load_shared([BOARD.board_dir / "stm32f4_clock.c"], include_dirs=[BOARD.board_dir], name="stm32f4_clock")
    P = ctypes.POINTER(ctypes.c_uint32)
    lib.em_stm32f4_clock_168mhz.argtypes = [P, P, P]
    return lib


def _run(lib, cr: int, cfgr: int, acr_mask: int = 0xFFFFFFFF):
    """Fake RCC / PWR / FLASH_ACR words with the "hardware" ready flags preset."""
    rcc = (ctypes.c_uint32 * 32)()
    rcc[0], rcc[2] = cr, cfgr
    pwr, acr = (ctypes.c_uint32 * 2)(), (ctypes.c_uint32 * 1)()
    status = lib.em_stm32f4_clock_168mhz(rcc, pwr, acr)
    return status, list(rcc), pwr[0], acr[0]


def _sysclk(pllcfgr: int, source_hz: int) -> tuple[float, float]:
    m, n, p, q = pllcfgr & 0x3F, (pllcfgr >> 6) & 0x1FF, 2 * (((pllcfgr >> 16) & 3) + 1), (pllcfgr >> 24) & 0xF
    vco = source_hz / m * n
    assert 1e6 <= source_hz / m <= 2e6 and 100e6 <= vco <= 432e6  # RM0090 PLL input / VCO ranges
    return vco / p, vco / q


def test_pll_from_the_25_mhz_crystal(clock_lib):
    status, rcc, pwr, acr = _run(clock_lib, CR_HSERDY | CR_PLLRDY, SWS_PLL)
    assert status == 1  # EM_CLOCK_PLL_HSE
    assert rcc[1] >> 22 & 1 == 1  # PLL source HSE
    assert _sysclk(rcc[1], 25_000_000) == (BOARD.clock_hz, 48e6)
    cfgr = rcc[2]
    assert cfgr & 3 == 2 and (cfgr >> 4) & 0xF == 0  # SW = PLL, AHB /1
    assert (cfgr >> 10) & 7 == 5 and (cfgr >> 13) & 7 == 4  # APB1 /4 (42 MHz), APB2 /2 (84 MHz)
    assert acr == 5 | 1 << 8 | 1 << 9 | 1 << 10  # 5 wait states, prefetch, I- and D-cache
    assert pwr & 1 << 14 and rcc[0x40 // 4] & 1 << 28  # regulator scale 1, PWR clocked
    usart_pclk = int(
        next(
            line.split()[2].rstrip("u")
            for line in (BOARD.board_dir / "em_board_config.h").read_text().splitlines()
            if line.startswith("#define EM_UART_CLOCK_HZ")
        )
    )
    assert usart_pclk == BOARD.clock_hz // 2  # the UART's baud divisor assumes this APB2 clock


def test_pll_from_hsi_when_the_crystal_does_not_start(clock_lib):
    status, rcc, _, acr = _run(clock_lib, CR_PLLRDY, SWS_PLL)
    assert status == 2 and rcc[1] >> 22 & 1 == 0 and not rcc[0] & 1 << 16  # HSE switched off again
    assert _sysclk(rcc[1], 16_000_000) == (BOARD.clock_hz, 48e6)
    assert rcc[2] & 3 == 2 and acr & 7 == 5


def test_no_switch_without_a_locked_pll(clock_lib):
    # QEMU: RCC reads 0, so no flag ever comes; SYSCLK must stay on the HSI, flash untouched
    status, rcc, _, acr = _run(clock_lib, 0, 0)
    assert status == 0 and rcc[2] & 3 == 0 and acr == 0


def test_board_spec_clock_is_168_mhz():
    assert BOARD.clock_hz == 168_000_000
    assert "EM_BOARD_CLOCK_HZ 168000000u" in (BOARD.board_dir / "em_board_config.h").read_text()
