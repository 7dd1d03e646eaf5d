/*
 * Memory micro-benchmark firmware (semihosting): access patterns whose flash traffic follows from
 * the reference manual, for testing the cycle estimator's memory model
 * (board_tests/harness/tbtrace.c + export/memory_model.py) on qemu-netduinoplus2 (STM32F405:
 * 128-bit flash lines, ART data cache of 8 lines, instruction cache of 64 lines). Every region sits
 * between two em_board_ticks() readings and prints "<region>_ticks=N"; the table is const and
 * volatile, so it stays in flash and every read is one load:
 *
 *   seq        every byte of a 4 KiB flash table in order   4096 loads, 256 lines
 *   stride16   one byte per 16 B                            256 loads, 256 lines
 *   stride32   one byte per 32 B                            128 loads, 128 lines
 *   stride128  one byte per 128 B                           32 loads, 32 lines
 *   reuse8     8 lines (128 B) read word by word, 16 times  512 loads, 8 lines (fits the data
 * cache) reuse9     9 lines (144 B) read word by word, 16 times  576 loads, 144 line misses under
 * LRU bigloop    8 calls of 2 KiB of straight-line code       128 lines a call: more than the
 * I-cache smallloop  8 calls of 512 B of straight-line code       32 lines, fetched once
 */
#include <stdint.h>

#include "em_board.h"
#include "em_fmt.h"

#define TABLE_BYTES 4096
#define CALLS 8

/* explicitly in .rodata (flash): GCC places a const volatile object in .data otherwise */
static const volatile uint8_t table[TABLE_BYTES]
    __attribute__((aligned(16), section(".rodata.memtable"))) = {1, 2, 3, 4};

static void report(const char *name, uint32_t value) {
  char line[64];
  int n = 0;
  em_fmt_cat(line, &n, name);
  em_fmt_cat(line, &n, "=");
  n += em_fmt_u32(line + n, value);
  line[n++] = '\n';
  line[n] = 0;
  em_semihost_write(line);
}

static uint32_t __attribute__((noinline)) read_stride(uint32_t stride) {
  uint32_t acc = 0;
  for (uint32_t i = 0; i < TABLE_BYTES; i += stride) acc += table[i];
  return acc;
}

static uint32_t __attribute__((noinline)) read_reuse(uint32_t lines) {
  const volatile uint32_t *w = (const volatile uint32_t *)table;
  uint32_t acc = 0;
  for (uint32_t pass = 0; pass < 16; ++pass) {
    for (uint32_t i = 0; i < lines * 4; ++i) acc += w[i];
  }
  return acc;
}

/* 1024 / 256 two-byte NOPs: 2 KiB / 512 B of code run straight through. */
static void __attribute__((noinline, aligned(16))) big_body(void) {
  __asm volatile(".rept 1024\n\tnop\n\t.endr");
}
static void __attribute__((noinline, aligned(16))) small_body(void) {
  __asm volatile(".rept 256\n\tnop\n\t.endr");
}

int main(void) {
  uint32_t acc = 0;
  uint32_t t[9];
  t[0] = em_board_ticks();
  acc += read_stride(1);
  t[1] = em_board_ticks();
  acc += read_stride(16);
  t[2] = em_board_ticks();
  acc += read_stride(32);
  t[3] = em_board_ticks();
  acc += read_stride(128);
  t[4] = em_board_ticks();
  acc += read_reuse(8);
  t[5] = em_board_ticks();
  acc += read_reuse(9);
  t[6] = em_board_ticks();
  for (int i = 0; i < CALLS; ++i) big_body();
  t[7] = em_board_ticks();
  for (int i = 0; i < CALLS; ++i) small_body();
  t[8] = em_board_ticks();
  static const char *const names[8] = {"seq_ticks",       "stride16_ticks", "stride32_ticks",
                                       "stride128_ticks", "reuse8_ticks",   "reuse9_ticks",
                                       "bigloop_ticks",   "smallloop_ticks"};
  for (int i = 0; i < 8; ++i) report(names[i], t[i + 1] - t[i]);
  report("table_addr", (uint32_t)(uintptr_t)table);
  report("checksum", acc);
  em_board_exit(0);
}
