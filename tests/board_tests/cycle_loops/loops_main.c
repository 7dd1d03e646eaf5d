/*
 * Runs each loop of loops.S twice (N1 and N2 iterations), each between two em_board_ticks()
 * readings, and prints "name_n=ticks" lines over semihosting; then exits 0.
 */
#include <stdint.h>

#include "em_board.h"
#include "em_fmt.h"

void loop_smlad(uint32_t n, uint32_t *buf);
void loop_ldr(uint32_t n, uint32_t *buf);
void loop_mix(uint32_t n, uint32_t *buf);
void loop_call(uint32_t n, uint32_t *buf);

static uint32_t buf[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

static void report(const char *name, uint32_t n, uint32_t value) {
  char line[64];
  int k = 0;
  em_fmt_cat(line, &k, name);
  em_fmt_cat(line, &k, "_");
  k += em_fmt_u32(line + k, n);
  em_fmt_cat(line, &k, "=");
  k += em_fmt_u32(line + k, value);
  line[k++] = '\n';
  line[k] = 0;
  em_semihost_write(line);
}

typedef void (*loop_fn)(uint32_t, uint32_t *);

/* One measured region; not inlined, so every region runs the same glue around its loop. */
static __attribute__((noinline)) uint32_t measure(loop_fn fn, uint32_t n) {
  em_board_ticks_sync();
  uint32_t t0 = em_board_ticks();
  fn(n, buf);
  return em_board_ticks() - t0;
}

int main(void) {
  static const loop_fn fns[] = {loop_smlad, loop_ldr, loop_mix, loop_call};
  static const char *const names[] = {"smlad", "ldr", "mix", "call"};
  static const uint32_t ns[] = {LOOP_N1, LOOP_N2};
  uint32_t ticks[4][2];
  em_board_init();
  for (int f = 0; f < 4; ++f) {
    for (int i = 0; i < 2; ++i) ticks[f][i] = measure(fns[f], ns[i]);
  }
  for (int f = 0; f < 4; ++f) {
    for (int i = 0; i < 2; ++i) report(names[f], ns[i], ticks[f][i]);
  }
  em_board_exit(0);
  return 0;
}
