/*
 * Stack high-water measurement by painting.
 *
 * The linker script puts the stack at the bottom of RAM, [__stack_start,
 * __stack_end), growing down towards __stack_start, so an overflow runs off
 * the start of RAM (a bus fault) instead of silently corrupting .bss.
 */
#include <stdint.h>

#include "em_board.h"

#define STACK_PAINT 0xC5AC5AC5u
/* Leave the words just below the current SP alone: the painting code's own frame. */
#define PAINT_MARGIN_BYTES 64u

extern uint32_t __stack_start;
extern uint32_t __stack_end;

void em_stack_paint(void) {
  uintptr_t sp;
  __asm__ volatile("mov %0, sp" : "=r"(sp));
  volatile uint32_t *p = &__stack_start;
  volatile uint32_t *stop = (volatile uint32_t *)(sp - PAINT_MARGIN_BYTES);
  while (p < stop) {
    *p++ = STACK_PAINT;
  }
}

uint32_t em_stack_high_water(void) {
  const volatile uint32_t *p = &__stack_start;
  const volatile uint32_t *end = &__stack_end;
  while (p < end && *p == STACK_PAINT) {
    p++;
  }
  return (uint32_t)((uintptr_t)end - (uintptr_t)p);
}

uint32_t em_board_stack_size(void) {
  return (uint32_t)((uintptr_t)&__stack_end - (uintptr_t)&__stack_start);
}
