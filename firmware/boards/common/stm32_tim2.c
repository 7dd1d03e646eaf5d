/*
 * STM32 TIM2 (32-bit general-purpose timer at 0x40000000) as the tick source.
 * Registers: CR1 0x00 (bit0 CEN), EGR 0x14 (bit0 UG), CNT 0x24, PSC 0x28, ARR 0x2C.
 *
 * QEMU's netduinoplus2 clocks TIM2 at 1 GHz of virtual time; under
 * `-icount shift=0` (1 ns per instruction) and prescaler 0, one tick is one
 * instruction. The counter wraps at 2^32 (ARR = 0xFFFFFFFF).
 */
#include <stdint.h>

#include "em_board.h"
#include "em_board_config.h"

#define TIM2_BASE EM_TIMER_BASE
#define TIM2_CR1 (*(volatile uint32_t *)(TIM2_BASE + 0x00u))
#define TIM2_EGR (*(volatile uint32_t *)(TIM2_BASE + 0x14u))
#define TIM2_CNT (*(volatile uint32_t *)(TIM2_BASE + 0x24u))
#define TIM2_PSC (*(volatile uint32_t *)(TIM2_BASE + 0x28u))
#define TIM2_ARR (*(volatile uint32_t *)(TIM2_BASE + 0x2Cu))

void em_stm32_tim2_init(void) {
  TIM2_CR1 = 0u;
  TIM2_PSC = 0u;
  TIM2_ARR = 0xFFFFFFFFu;
  TIM2_EGR = 1u; /* load the prescaler now */
  TIM2_CR1 = 1u;
}

uint32_t em_board_ticks(void) {
  return TIM2_CNT;
}

void em_board_ticks_sync(void) {
  /* one tick = one instruction / cycle: no phase to fix */
}

int em_board_ticks_are_instructions(void) {
  return 1;
}
