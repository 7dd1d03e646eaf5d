/*
 * STM32F405 clock tree at its maximum, 168 MHz, as the real Netduino Plus 2 needs it (RM0090
 * section 6): 25 MHz HSE crystal -> PLL (M = 25, N = 336, P = 2: 168 MHz SYSCLK; Q = 7:
 * 48 MHz for USB), AHB /1, APB1 /4 (42 MHz), APB2 /2 (84 MHz: EM_UART_CLOCK_HZ), regulator
 * scale 1, and flash at 5 wait states with prefetch, instruction and data caches on (set
 * BEFORE the switch: at 168 MHz and 3.3 V the flash needs 5). Should the crystal not start,
 * the PLL runs from the 16 MHz HSI (M = 16) to the same frequencies.
 *
 * QEMU's netduinoplus2 does not model RCC, PWR or the flash interface (writes are ignored,
 * reads give 0): every wait below is bounded, and when a ready flag never comes the clock is
 * left as it is -- the emulation counts instructions, not cycles, either way.
 *
 * The registers come in as pointers so the host tests can run this against fake registers.
 */
#include <stdint.h>

#include "stm32f4_clock.h"

#define RCC_CR (0x00u / 4u)
#define RCC_PLLCFGR (0x04u / 4u)
#define RCC_CFGR (0x08u / 4u)
#define RCC_APB1ENR (0x40u / 4u)

#define CR_HSEON (1u << 16)
#define CR_HSERDY (1u << 17)
#define CR_PLLON (1u << 24)
#define CR_PLLRDY (1u << 25)
#define APB1ENR_PWREN (1u << 28)
#define PWR_CR_VOS (1u << 14)
#define FLASH_ACR_LATENCY_5WS 5u
#define FLASH_ACR_PRFTEN (1u << 8)
#define FLASH_ACR_ICEN (1u << 9)
#define FLASH_ACR_DCEN (1u << 10)
#define CFGR_SW_PLL 2u
#define CFGR_PPRE1_DIV4 (5u << 10)
#define CFGR_PPRE2_DIV2 (4u << 13)

/* PLLCFGR fields: M [5:0], N [14:6], P [17:16] (0 = /2), SRC [22] (1 = HSE), Q [27:24]. */
#define PLLCFGR(m, src_hse) \
  ((uint32_t)(m) | (336u << 6) | (0u << 16) | ((src_hse) << 22) | (7u << 24))

/* Polls until (*reg & mask) == want, at most `tries` times; returns 1 on success. */
static int wait_for(volatile uint32_t *reg, uint32_t mask, uint32_t want, uint32_t tries) {
  for (uint32_t i = 0; i < tries; ++i)
    if ((*reg & mask) == want) return 1;
  return 0;
}

int em_stm32f4_clock_168mhz(volatile uint32_t *rcc, volatile uint32_t *pwr,
                            volatile uint32_t *flash_acr) {
  rcc[RCC_APB1ENR] |= APB1ENR_PWREN;
  pwr[0] |= PWR_CR_VOS; /* regulator scale 1: needed above 144 MHz */

  rcc[RCC_CR] |= CR_HSEON;
  const int hse = wait_for(&rcc[RCC_CR], CR_HSERDY, CR_HSERDY, EM_CLOCK_WAIT_TRIES);
  if (!hse) rcc[RCC_CR] &= ~CR_HSEON;
  rcc[RCC_PLLCFGR] = hse ? PLLCFGR(25u, 1u) : PLLCFGR(16u, 0u);
  rcc[RCC_CFGR] = (rcc[RCC_CFGR] & ~0xFCF0u) | CFGR_PPRE1_DIV4 | CFGR_PPRE2_DIV2; /* HPRE /1 */
  rcc[RCC_CR] |= CR_PLLON;
  if (!wait_for(&rcc[RCC_CR], CR_PLLRDY, CR_PLLRDY, EM_CLOCK_WAIT_TRIES)) return EM_CLOCK_NO_PLL;

  *flash_acr = FLASH_ACR_LATENCY_5WS | FLASH_ACR_PRFTEN | FLASH_ACR_ICEN | FLASH_ACR_DCEN;
  if ((*flash_acr & 7u) != FLASH_ACR_LATENCY_5WS)
    return EM_CLOCK_NO_PLL; /* never overclock flash */
  rcc[RCC_CFGR] = (rcc[RCC_CFGR] & ~3u) | CFGR_SW_PLL;
  if (!wait_for(&rcc[RCC_CFGR], 3u << 2, CFGR_SW_PLL << 2, EM_CLOCK_WAIT_TRIES))
    return EM_CLOCK_NO_PLL;
  return hse ? EM_CLOCK_PLL_HSE : EM_CLOCK_PLL_HSI;
}
