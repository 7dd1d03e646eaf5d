/*
 * Semihosting (ARM "BKPT 0xAB" calls) for QEMU boards, and the program exit.
 *
 * QEMU must run with `-semihosting-config enable=on,target=native`. On real
 * boards (EM_SEMIHOSTING undefined) a BKPT without a debugger attached halts
 * or faults the core, so text is dropped and exit parks the core instead.
 */
#include <stdint.h>

#include "em_board.h"

#define SYS_WRITE0 0x04
#define SYS_EXIT_EXTENDED 0x20
#define ADP_STOPPED_APPLICATION_EXIT 0x20026

#ifdef EM_SEMIHOSTING
static int semihost_call(int op, const void *arg) {
  register int r0 __asm__("r0") = op;
  register const void *r1 __asm__("r1") = arg;
  __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
  return r0;
}
#endif

void em_semihost_write(const char *s) {
#ifdef EM_SEMIHOSTING
  semihost_call(SYS_WRITE0, s);
#else
  (void)s;
#endif
}

void em_board_exit(int code) {
#ifdef EM_SEMIHOSTING
  /* SYS_EXIT_EXTENDED takes {reason, subcode}; QEMU exits with subcode. */
  const uint32_t block[2] = {ADP_STOPPED_APPLICATION_EXIT, (uint32_t)code};
  semihost_call(SYS_EXIT_EXTENDED, block);
#else
  (void)code;
#endif
  for (;;) {
    __asm__ volatile("wfi");
  }
}
