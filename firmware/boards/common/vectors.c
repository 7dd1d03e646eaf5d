/*
 * The vector table: initial stack pointer, the 15 system exceptions and
 * EM_NUM_IRQS external interrupts (set per board by its build flags).
 *
 * Nothing in the firmware uses interrupts (drivers poll, timers free-run),
 * so every entry but reset goes to em_fault_handler, which reports the
 * exception number and exits with code 3 under QEMU.
 */
#include <stdint.h>

#include "em_board.h"

#ifndef EM_NUM_IRQS
#error "EM_NUM_IRQS must be defined by the board's build flags"
#endif

extern uint32_t _estack;
void Reset_Handler(void);

static void u32_to_dec(uint32_t v, char *out) {
  char tmp[11];
  int n = 0;
  do {
    tmp[n++] = (char)('0' + v % 10u);
    v /= 10u;
  } while (v != 0u);
  while (n > 0) {
    *out++ = tmp[--n];
  }
  *out = '\0';
}

void em_fault_handler(void) {
  uint32_t ipsr;
  char msg[48] = "edgel3-mote: unexpected exception ";
  __asm__ volatile("mrs %0, ipsr" : "=r"(ipsr));
  u32_to_dec(ipsr & 0x1FFu, msg + 34);
  em_semihost_write(msg);
  em_semihost_write("\n");
  em_board_exit(3);
}

typedef void (*em_vector_t)(void);

__attribute__((section(".isr_vector"), used))
const em_vector_t em_vector_table[16 + EM_NUM_IRQS] = {
    [0] = (em_vector_t)(uintptr_t)&_estack,
    [1] = Reset_Handler,
    [2 ... 15 + EM_NUM_IRQS] = em_fault_handler,
};
