/*
 * DWT CYCCNT (Cortex-M3/M4/M7 cycle counter) as the tick source on real boards.
 * QEMU does not model the DWT (CYCCNT reads 0), so QEMU boards use a timer.
 */
#include <stdint.h>

#include "em_board.h"

#define DEMCR (*(volatile uint32_t *)0xE000EDFCu)
#define DWT_CTRL (*(volatile uint32_t *)0xE0001000u)
#define DWT_CYCCNT (*(volatile uint32_t *)0xE0001004u)
#define DWT_LAR (*(volatile uint32_t *)0xE0001FB0u)

void em_dwt_cycles_init(void) {
  DEMCR |= 1u << 24;     /* TRCENA */
  DWT_LAR = 0xC5ACCE55u; /* unlock (needed on Cortex-M7) */
  DWT_CYCCNT = 0u;
  DWT_CTRL |= 1u; /* CYCCNTENA */
}

uint32_t em_board_ticks(void) {
  return DWT_CYCCNT;
}

void em_board_ticks_sync(void) {
  /* one tick = one instruction / cycle: no phase to fix */
}

int em_board_ticks_are_instructions(void) {
  return 0;
}
