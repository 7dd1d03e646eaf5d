/*
 * SEA-64's eight 3x3 conv shapes and the random data the kernel benches draw for them: one
 * definition for the benches that compare kernels on the same bytes (kernel_bench_main.c,
 * cmsis_nn_bench_main.c). Each bench places its own buffers (RAM, or the FLASH region with
 * EM_BENCH_WEIGHTS_IN_FLASH).
 */
#ifndef EM_BENCH_SEA64_H
#define EM_BENCH_SEA64_H

#include <stdint.h>

/* SEA-64's convolutions (3x3, same, stride 1): input h, w, c and output channels. */
static const int32_t sea_layers[8][4] = {{64, 50, 1, 32},  {64, 50, 32, 32},  {32, 25, 32, 64},
                                         {32, 25, 64, 64}, {16, 12, 64, 128}, {16, 12, 128, 128},
                                         {8, 6, 128, 64},  {8, 6, 64, 64}};
#define SEA_MAX_IN (64 * 50 * 32)
#define SEA_MAX_TAPS (9 * 128)

static uint32_t lcg = 12345u;
static int8_t rnd8(void) {
  lcg = lcg * 1664525u + 1013904223u;
  return (int8_t)(lcg >> 24);
}

/* Layer l's input, filter, bias and requantisation, drawn in one order so that every bench sees the
 * same bytes (after the same earlier draws). */
static void sea64_fill_layer(int32_t l, int8_t *in, int8_t *filter, int32_t *bias, int32_t *mult,
                             int32_t *shift) {
  const int32_t h = sea_layers[l][0], w = sea_layers[l][1], cin = sea_layers[l][2];
  const int32_t cout = sea_layers[l][3], taps = 9 * cin;
  for (int32_t i = 0; i < h * w * cin; ++i) in[i] = rnd8();
  for (int32_t i = 0; i < cout * taps; ++i) filter[i] = rnd8();
  for (int32_t oc = 0; oc < cout; ++oc) {
    bias[oc] = (int32_t)rnd8() * 256;
    mult[oc] = 1100000000 + oc * 7919;
    shift[oc] = -9 - (cin >= 64);
  }
}

#endif /* EM_BENCH_SEA64_H */
