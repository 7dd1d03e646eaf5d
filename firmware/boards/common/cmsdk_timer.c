/*
 * ARM CMSDK APB timer as a free-running 32-bit tick source (MPS2 boards).
 * Registers: CTRL 0x00 (bit0 enable), VALUE 0x04 (counts down), RELOAD 0x08.
 *
 * The timer runs at the peripheral clock (25 MHz on QEMU's MPS2 machines).
 * Under `-icount shift=0` one instruction is 1 ns of virtual time, so one
 * timer tick is EM_INSNS_PER_TIMER_TICK (= 1e9 / 25e6 = 40) instructions:
 * em_board_ticks() returns instructions, with a resolution of 40. The
 * product stays wrap-safe modulo 2^32 because the raw count wraps at 2^32.
 */
#include <stdint.h>

#include "em_board.h"
#include "em_board_config.h"

#define TIMER_CTRL (*(volatile uint32_t *)(EM_TIMER_BASE + 0x00u))
#define TIMER_VALUE (*(volatile uint32_t *)(EM_TIMER_BASE + 0x04u))
#define TIMER_RELOAD (*(volatile uint32_t *)(EM_TIMER_BASE + 0x08u))

void em_cmsdk_timer_init(void) {
  TIMER_CTRL = 0u;
  TIMER_RELOAD = 0xFFFFFFFFu;
  TIMER_VALUE = 0xFFFFFFFFu;
  TIMER_CTRL = 1u;
}

uint32_t em_board_ticks(void) {
  return (0xFFFFFFFFu - TIMER_VALUE) * (uint32_t)EM_INSNS_PER_TIMER_TICK;
}

void em_board_ticks_sync(void) {
  /* QEMU's cmsdk-apb-timer reloads its ptimer on a VALUE write, so the next tick lands
   * one full period (40 instructions) after this store: the phase is now fixed. */
  uint32_t value = TIMER_VALUE;
  TIMER_VALUE = value;
}

int em_board_ticks_are_instructions(void) {
  return 1;
}
