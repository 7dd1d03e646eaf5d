/*
 * Sparsity-sweep firmware (semihosting): one 3x3 'same' conv layer SW_H x SW_W x SW_CIN ->
 * SW_COUT with SW_DENSITY permille nonzero weights, run by the dense kernel (em_conv2d_s8) and
 * by the sparse kernel with SW_PASS_ROWS output rows per pass, timed in em_board_ticks()
 * (instructions under QEMU -icount). The weights are packed on the device with the Rice
 * parameter 0..12 that gives the fewest index bytes. Built per point by
 * board_tests/harness/sparsity_sweep.py. Prints "name=value" lines; exits 0, or 1 when the
 * sparse bytes differ from the dense ones or a kernel fails.
 */
#include <stdint.h>

#include "em_board.h"
#include "em_fmt.h"
#include "em_kernels.h"

#define TAPS (9 * SW_CIN)
#define ROW_LEN (SW_W + 2)
#define PASS_IN_ROWS (((SW_PASS_ROWS) < (SW_H) ? (SW_PASS_ROWS) : (SW_H)) + 2)

static int8_t input[SW_H * SW_W * SW_CIN];
static int8_t filter[SW_COUT * TAPS];
static int32_t bias[SW_COUT], mult[SW_COUT], shift[SW_COUT];
static int8_t out_dense[SW_H * SW_W * SW_COUT], out_sparse[SW_H * SW_W * SW_COUT];
static int32_t dense_scratch[EM_CONV2D_S8_DSP_BUFFER_BYTES(3, 3, SW_CIN) / 4 + 1];
static int32_t
    sparse_scratch[EM_CONV2D_SPARSE_S8_BUFFER_BYTES(PASS_IN_ROWS, SW_CIN, ROW_LEN, TAPS) / 4];
/* room for the expected nonzeros + 10 % + 1024, and 2 index bytes each (k = 0..12 needs less) */
#define VALUE_CAP (SW_COUT * TAPS / 1000 * SW_DENSITY * 11 / 10 + 1024)
static int8_t sp_value[VALUE_CAP < SW_COUT * TAPS ? VALUE_CAP : SW_COUT * TAPS];
static uint8_t sp_index[2 * sizeof sp_value];

static uint32_t lcg = 2024u;
static uint32_t rnd32(void) {
  lcg = lcg * 1664525u + 1013904223u;
  return lcg;
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
  for (int i = 0; i < SW_H * SW_W * SW_CIN; ++i) input[i] = (int8_t)(rnd32() >> 24);
  for (int i = 0; i < SW_COUT * TAPS; ++i) {
    const uint32_t r = rnd32();
    int8_t w = (int8_t)((r >> 24) % 255u) - 127; /* narrow range, as TFLite's int8 weights */
    if ((r >> 8) % 1000u >= (uint32_t)SW_DENSITY) w = 0;
    filter[i] = w;
  }
  for (int oc = 0; oc < SW_COUT; ++oc) {
    bias[oc] = (int32_t)(rnd32() >> 20) - 2048;
    mult[oc] = 1200000000 + oc * 1000;
    shift[oc] = -9;
  }
  const em_conv_params p = {1, 1, 1, 1, 1, 1, 5, -3, -128, 127};
  const em_quant q = {mult, shift, 1};
  const em_dims in_d = {SW_H, SW_W, SW_CIN}, f_d = {3, 3, SW_CIN}, out_d = {SW_H, SW_W, SW_COUT};
  const em_rows rows = em_rows_full(SW_H, SW_H);

  em_sparse_filter sf;
  int32_t best_bytes = -1, best_k = 0;
  for (int32_t k = 0; k <= 12; ++k) {
    const int32_t used =
        em_conv2d_sparse_s8_pack(filter, SW_COUT, &f_d, k, sp_index, (int32_t)sizeof sp_index,
                                 sp_value, (int32_t)sizeof sp_value, SW_PASS_ROWS, &sf);
    if (used >= 0 && (best_bytes < 0 || used < best_bytes)) {
      best_bytes = used;
      best_k = k;
    }
  }
  const int32_t packed =
      em_conv2d_sparse_s8_pack(filter, SW_COUT, &f_d, best_k, sp_index, (int32_t)sizeof sp_index,
                               sp_value, (int32_t)sizeof sp_value, SW_PASS_ROWS, &sf);
  const int32_t need = em_conv2d_sparse_s8_get_buffer_size(&p, &f_d, &out_d, &sf);

  uint32_t t0 = em_board_ticks();
  int s1 = em_conv2d_s8(&p, &q, &in_d, input, &f_d, filter, bias, &out_d, out_dense, &rows,
                        dense_scratch);
  uint32_t t1 = em_board_ticks();
  int s2 = need > 0 && need <= (int32_t)sizeof sparse_scratch
               ? em_conv2d_sparse_s8(&p, &q, &in_d, input, &f_d, &sf, bias, &out_d, out_sparse,
                                     &rows, sparse_scratch)
               : EM_ERR_ARG;
  uint32_t t2 = em_board_ticks();

  int same = 1;
  uint32_t checksum = 0;
  for (int i = 0; i < SW_H * SW_W * SW_COUT; ++i) {
    checksum = checksum * 31u + (uint8_t)out_dense[i];
    same &= out_dense[i] == out_sparse[i];
  }
  report("macs", (uint32_t)(SW_H * SW_W * SW_COUT * TAPS));
  report("dense_ticks", t1 - t0);
  report("sparse_ticks", t2 - t1);
  report("nonzeros", (uint32_t)sf.nnz);
  report("index_bytes", (uint32_t)packed);
  report("rice_k", (uint32_t)sf.rice_k);
  report("max_channel_nnz", (uint32_t)sf.max_channel_nnz);
  report("sparse_scratch_bytes", (uint32_t)need);
  report("ticks_are_instructions", (uint32_t)em_board_ticks_are_instructions());
  report("checksum", checksum);
  report("status_ok", (uint32_t)(packed >= 0 && s1 == EM_OK && s2 == EM_OK));
  report("sparse_equals_dense", (uint32_t)same);
  em_board_exit(same && packed >= 0 && s1 == EM_OK && s2 == EM_OK ? 0 : 1);
}
