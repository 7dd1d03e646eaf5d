/*
 * Core clock 480 MHz from PLL1 on the 64 MHz HSI (no crystal needed), STM32H743 revision V.
 * Register map and sequence from RM0433 (STM32H742/743/750/753), sections 6 (PWR), 8 (RCC),
 * 4 (FLASH): LDO supply -> voltage scale 1 -> VOS0 (overdrive, SYSCFG_PWRCR.ODEN) -> 4 flash
 * wait states (WRHIGHFREQ 2, AXI at 240 MHz) -> bus prescalers -> PLL1 -> switch SYSCLK.
 *   HSI 64 MHz / DIVM1 4 = 16 MHz (PLL1RGE 8-16 MHz, wide VCO) x DIVN1 60 = 960 MHz VCO
 *   / DIVP1 2 = 480 MHz sys_ck = core; HPRE /2: AXI/AHB 240 MHz; APB1..4 /2: 120 MHz.
 * Build-only: untested on hardware (see README.md). Revision Y silicon tops out at 400 MHz.
 */
#include <stdint.h>

#include "em_board_config.h"

#define REG(addr) (*(volatile uint32_t *)(addr))
#define PWR_CR3 REG(0x5802480Cu)       /* bit0 BYPASS, bit1 LDOEN, bit2 SCUEN */
#define PWR_CSR1 REG(0x58024804u)      /* bit13 ACTVOSRDY */
#define PWR_D3CR REG(0x58024818u)      /* bits 15:14 VOS, bit13 VOSRDY */
#define SYSCFG_PWRCR REG(0x5800042Cu)  /* bit0 ODEN: VOS0 on top of VOS1 */
#define FLASH_ACR REG(0x52002000u)     /* bits 3:0 LATENCY, bits 5:4 WRHIGHFREQ */
#define RCC_CR REG(0x58024400u)        /* bit24 PLL1ON, bit25 PLL1RDY */
#define RCC_CFGR REG(0x58024410u)      /* bits 2:0 SW, bits 5:3 SWS */
#define RCC_D1CFGR REG(0x58024418u)    /* bits 3:0 HPRE, 6:4 D1PPRE, 11:8 D1CPRE */
#define RCC_D2CFGR REG(0x5802441Cu)    /* bits 6:4 D2PPRE1, 10:8 D2PPRE2 */
#define RCC_D3CFGR REG(0x58024420u)    /* bits 6:4 D3PPRE */
#define RCC_PLLCKSELR REG(0x58024428u) /* bits 1:0 PLLSRC, 9:4 DIVM1 */
#define RCC_PLLCFGR \
  REG(0x5802442Cu) /* bit0 PLL1FRACEN, bit1 PLL1VCOSEL, 3:2 PLL1RGE, 16..18 DIVP1/Q1/R1EN */
#define RCC_PLL1DIVR REG(0x58024430u) /* N-1 in 8:0, P-1 in 15:9, Q-1 in 22:16, R-1 in 30:24 */
#define RCC_APB4ENR REG(0x580244F4u)  /* bit1 SYSCFGEN */

#define PLL1_M 4u
#define PLL1_N 60u
#define PLL1_P 2u
#define PLL1_Q 8u
#define PLL1_R 2u
#define APB_DIV2 4u /* D1PPRE/D2PPRE1/D2PPRE2/D3PPRE encoding of /2 */
#define HPRE_DIV2 8u

typedef char em_pll_gives_the_core_clock[(64000000u / PLL1_M * PLL1_N / PLL1_P == EM_BOARD_CLOCK_HZ)
                                             ? 1
                                             : -1];

void em_h7_clock_init(void) {
  /* Supply from the LDO (the NUCLEO's default wiring), then wait until the setting is active. */
  PWR_CR3 = (PWR_CR3 & ~((1u << 0) | (1u << 2))) | (1u << 1);
  while (!(PWR_CSR1 & (1u << 13))) {
  }
  /* Voltage scale 1, then the overdrive: VOS0, needed above 400 MHz. */
  PWR_D3CR = (PWR_D3CR & ~(3u << 14)) | (3u << 14);
  while (!(PWR_D3CR & (1u << 13))) {
  }
  RCC_APB4ENR |= 1u << 1;
  (void)RCC_APB4ENR;
  SYSCFG_PWRCR |= 1u;
  while (!(PWR_D3CR & (1u << 13))) {
  }
  /* Flash wait states before the clock goes up; read back so the write has landed. */
  FLASH_ACR = (FLASH_ACR & ~0x3Fu) | 4u | (2u << 4);
  while ((FLASH_ACR & 0x3Fu) != (4u | (2u << 4))) {
  }
  /* Bus prescalers first, so no bus ever runs above its limit. */
  RCC_D1CFGR = (RCC_D1CFGR & ~0xF7Fu) | HPRE_DIV2 | (APB_DIV2 << 4);
  RCC_D2CFGR = (RCC_D2CFGR & ~0x770u) | (APB_DIV2 << 4) | (APB_DIV2 << 8);
  RCC_D3CFGR = (RCC_D3CFGR & ~0x70u) | (APB_DIV2 << 4);
  /* PLL1 on the HSI. */
  RCC_PLLCKSELR = (RCC_PLLCKSELR & ~(0x3Fu << 4 | 3u)) | (PLL1_M << 4);
  RCC_PLLCFGR = (RCC_PLLCFGR & ~0xFu) | (3u << 2) | (7u << 16);
  RCC_PLL1DIVR =
      (PLL1_N - 1u) | ((PLL1_P - 1u) << 9) | ((PLL1_Q - 1u) << 16) | ((PLL1_R - 1u) << 24);
  RCC_CR |= 1u << 24;
  while (!(RCC_CR & (1u << 25))) {
  }
  RCC_CFGR = (RCC_CFGR & ~7u) | 3u;
  while (((RCC_CFGR >> 3) & 7u) != 3u) {
  }
}
