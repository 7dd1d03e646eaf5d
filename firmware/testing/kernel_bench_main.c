/*
 * Kernel micro-benchmark firmware (semihosting): times one SEA-64-sized 3x3 conv layer dense
 * and 90 %-sparse, and a fully-connected layer, in em_board_ticks() (instructions under QEMU
 * -icount). Built twice by firmware/testing/kernel_bench.py: portable and -DEM_USE_DSP.
 * Prints "name=ticks" lines and a checksum; exits 0, or 1 if sparse and dense bytes differ.
 */
#include <stdint.h>

#include "em_board.h"
#include "em_fmt.h"
#include "em_kernels.h"

#define H 32
#define W 25
#define CIN 32
#define COUT 32
#define TAPS (3 * 3 * CIN)
#define FC_IN 512
#define FC_OUT 64

static int8_t input[H * W * CIN];
static int8_t filter[COUT * TAPS];
static int32_t bias[COUT], mult[COUT], shift[COUT];
static int8_t out_dense[H * W * COUT], out_sparse[H * W * COUT];
static int32_t scratch[EM_CONV2D_S8_DSP_BUFFER_BYTES(3, 3, CIN) / 4 + 1];
/* sparse: one pass over all rows (table of at most TAPS words + (H + 2) relayout rows) */
static int32_t sparse_scratch[EM_CONV2D_SPARSE_S8_BUFFER_BYTES(H + 2, CIN, W + 2, TAPS) / 4];
static uint8_t sp_index[COUT * TAPS];
static int8_t sp_val[COUT * TAPS];
static int8_t fc_in[FC_IN], fc_w[FC_OUT * FC_IN], fc_out[FC_OUT];

static uint32_t lcg = 12345u;
static int8_t rnd8(void) {
  lcg = lcg * 1664525u + 1013904223u;
  return (int8_t)(lcg >> 24);
}

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

int main(void) {
  em_board_init();
  for (int i = 0; i < H * W * CIN; ++i) input[i] = rnd8();
  for (int oc = 0; oc < COUT; ++oc) {
    for (int k = 0; k < TAPS; ++k) {
      int8_t w = rnd8();
      if ((lcg >> 8) % 10u != 0u) w = 0; /* 90 % zeros */
      filter[oc * TAPS + k] = w;
    }
    bias[oc] = (int32_t)rnd8() * 64;
    mult[oc] = 1300000000 + oc * 1000;
    shift[oc] = -7;
  }

  const em_conv_params p = {1, 1, 1, 1, 1, 1, 3, -5, -128, 127};
  const em_quant q = {mult, shift, 1};
  const em_dims in_d = {H, W, CIN}, f_d = {3, 3, CIN}, out_d = {H, W, COUT};
  const em_rows rows = em_rows_full(H, H);
  em_sparse_filter sf;
  const int s0 = em_conv2d_sparse_s8_pack(filter, COUT, &f_d, 3, sp_index, (int32_t)sizeof sp_index, sp_val,
                                          (int32_t)sizeof sp_val, H, &sf);

  uint32_t t0 = em_board_ticks();
  int s1 = em_conv2d_s8(&p, &q, &in_d, input, &f_d, filter, bias, &out_d, out_dense, &rows, scratch);
  uint32_t t1 = em_board_ticks();
  int s2 = em_conv2d_sparse_s8(&p, &q, &in_d, input, &f_d, &sf, bias, &out_d, out_sparse, &rows,
                               sparse_scratch);
  uint32_t t2 = em_board_ticks();

  for (int i = 0; i < FC_IN; ++i) fc_in[i] = rnd8();
  for (int i = 0; i < FC_OUT * FC_IN; ++i) fc_w[i] = rnd8();
  const em_fc_params fp = {7, 0, 2, -128, 127};
  const em_quant fq = {mult, shift, 0};
  uint32_t t3 = em_board_ticks();
  int s3 = em_fully_connected_s8(&fp, &fq, 1, FC_IN, fc_in, FC_OUT, fc_w, 0, fc_out);
  uint32_t t4 = em_board_ticks();

  uint32_t checksum = 0;
  int same = 1;
  for (int i = 0; i < H * W * COUT; ++i) {
    checksum = checksum * 31u + (uint8_t)out_dense[i];
    same &= out_dense[i] == out_sparse[i];
  }
  for (int i = 0; i < FC_OUT; ++i) checksum = checksum * 31u + (uint8_t)fc_out[i];
  report("conv_macs", (uint32_t)(H * W * COUT * TAPS));
  report("conv_dense_ticks", t1 - t0);
  report("conv_sparse_ticks", t2 - t1);
  report("conv_nonzeros", (uint32_t)sf.nnz);
  report("fc_macs", FC_IN * FC_OUT);
  report("fc_ticks", t4 - t3);
  report("ticks_are_instructions", (uint32_t)em_board_ticks_are_instructions());
  report("checksum", checksum);
  report("status_ok", (uint32_t)(s0 > 0 && s1 == EM_OK && s2 == EM_OK && s3 == EM_OK));
  report("sparse_equals_dense", (uint32_t)same);
  em_board_exit(same && s1 == EM_OK && s2 == EM_OK && s3 == EM_OK ? 0 : 1);
}
