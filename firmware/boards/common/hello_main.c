/*
 * Board bring-up firmware ("hello"), used by tests/firmware/test_boards_*.py.
 *
 * 1. semihosting: "hello <board> <core>", the ticks a fixed busy loop took,
 *    and a float result (the FPU must be on: CPACR set in the reset handler);
 * 2. UART: "HELLO <board>\n"; if QEMU's -append command line says "echo" (semihosting
 *    SYS_GET_CMDLINE), it then waits for one byte and answers "ECHO <byte>\n";
 * 3. exits through SYS_EXIT_EXTENDED with 42 (echo done) or 43 (no echo asked for).
 */
#include <stdint.h>

#include "em_board.h"
#include "em_fmt.h"

#define LOOP_ITERATIONS 100000u
#define SYS_GET_CMDLINE 0x15

/* The -append text, through semihosting (QEMU boards only; empty elsewhere). */
static int cmdline_has_echo(void) {
#ifdef EM_SEMIHOSTING
  static char cmdline[128];
  uint32_t block[2] = {(uint32_t)(uintptr_t)cmdline, sizeof(cmdline) - 1u};
  register int r0 __asm__("r0") = SYS_GET_CMDLINE;
  register void *r1 __asm__("r1") = block;
  __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
  if (r0 != 0) {
    return 0;
  }
  for (const char *p = cmdline; p[0] && p[1] && p[2] && p[3]; p++) {
    if (p[0] == 'e' && p[1] == 'c' && p[2] == 'h' && p[3] == 'o' &&
        (p == cmdline || p[-1] == ' ')) {
      return 1;
    }
  }
#endif
  return 0;
}

static volatile uint32_t sink;

static uint32_t busy_loop(void) {
  uint32_t start = em_board_ticks();
  for (uint32_t i = 0; i < LOOP_ITERATIONS; i++) {
    sink += i;
  }
  return em_board_ticks() - start;
}

static void write_line(const char *key, uint32_t value) {
  char line[64];
  int n = 0;
  em_fmt_cat(line, &n, key);
  n += em_fmt_u32(line + n, value);
  em_fmt_cat(line, &n, "\n");
  em_semihost_write(line);
}

static void uart_text(const char *s) {
  uint32_t n = 0;
  while (s[n]) {
    n++;
  }
  em_uart_write((const uint8_t *)s, n);
}

int main(void) {
  em_board_init();
  em_stack_paint();

  em_semihost_write("hello ");
  em_semihost_write(em_board_name());
  em_semihost_write(" ");
  em_semihost_write(em_board_core());
  em_semihost_write("\n");

  write_line("loop_ticks=", busy_loop());
  write_line("ticks_are_instructions=", (uint32_t)em_board_ticks_are_instructions());

  volatile float a = 1.5f, b = 2.25f;
  write_line("float_x1000=", (uint32_t)(a * b * 1000.0f)); /* 3375 */

  uart_text("HELLO ");
  uart_text(em_board_name());
  uart_text("\n");

  uint8_t byte;
  int got = 0;
  if (cmdline_has_echo()) {
    while (!em_uart_read(&byte)) {
    }
    got = 1;
  }
  if (got) {
    char reply[8] = "ECHO x\n";
    reply[5] = (char)byte;
    uart_text(reply);
  }
  write_line("stack_high_water=", em_stack_high_water());
  write_line("stack_size=", em_board_stack_size());
  return got ? 42 : 43;
}
