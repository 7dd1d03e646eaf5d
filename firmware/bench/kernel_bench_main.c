/*
 * Kernel micro-benchmark firmware (semihosting): times one SEA-64-sized 3x3 conv layer dense
 * and 90 %-sparse, and a fully-connected layer, then the eight conv layer shapes of SEA-64
 * with int8 (em_conv2d_s8) and int16-expanded (em_conv2d_s8_w16) weights, in em_board_ticks()
 * (instructions under QEMU -icount). Built twice by board_tests/harness/kernel_bench.py: portable
 * and -DEM_USE_DSP. The DSP build also times the two weights-in-flash paths the engine plans for
 * the STM32F405 (issue 18) on the same int8 weights: em_conv2d_s8_tiled on every shape and
 * em_conv2d_s8_wino on the 3x3 stride-1 shapes with in_c a multiple of 8 (all but the one-channel
 * layer 0), called as the F405 plan's streamed chain calls them (see bench_sea64_flash_paths); on
 * the portable path both are em_conv2d_s8 itself, so that build skips them. Prints "name=ticks"
 * lines and checksums; exits 0, or 1 if sparse and dense bytes differ, or any other form of a
 * SEA-64 layer (w16, tiled, Winograd) differs from em_conv2d_s8's bytes.
 *
 * -DEM_BENCH_WEIGHTS_IN_FLASH places the weights, biases and requantisation tables in the FLASH
 * region (section .rodata.em_bench_weights), where a generated firmware keeps them, so the cycle
 * estimator's memory model sees the kernels read them from flash. They are still filled at
 * start-up: the MPS2 boards' code SSRAM that stands for flash is writable in QEMU (bench-kernels
 * runs there).
 */
#include <stdint.h>

#include "em_bench_sea64.h"
#include "em_board.h"
#include "em_fmt.h"
#include "em_kernels.h"

#ifdef EM_BENCH_WEIGHTS_IN_FLASH
#define EM_WEIGHTS __attribute__((section(".rodata.em_bench_weights")))
#else
#define EM_WEIGHTS
#endif

#define H 32
#define W 25
#define CIN 32
#define COUT 32
#define TAPS (3 * 3 * CIN)
#define FC_IN 512
#define FC_OUT 64

static int8_t input[H * W * CIN];
static int8_t filter[COUT * TAPS] EM_WEIGHTS;
static int32_t bias[COUT] EM_WEIGHTS, mult[COUT] EM_WEIGHTS, shift[COUT] EM_WEIGHTS;
static int8_t out_dense[H * W * COUT], out_sparse[H * W * COUT];
static int32_t scratch[EM_CONV2D_S8_DSP_BUFFER_BYTES(3, 3, CIN) / 4 + 1];
/* sparse: one pass over all rows (table of at most TAPS words + (H + 2) relayout rows) */
static int32_t sparse_scratch[EM_CONV2D_SPARSE_S8_BUFFER_BYTES(H + 2, CIN, W + 2, TAPS) / 4];
static uint8_t sp_index[COUT * TAPS] EM_WEIGHTS;
static int8_t sp_val[COUT * TAPS] EM_WEIGHTS;
static int8_t fc_in[FC_IN], fc_out[FC_OUT];
static int8_t fc_w[FC_OUT * FC_IN] EM_WEIGHTS;

static int8_t sea_in[SEA_MAX_IN], sea_out_s8[SEA_MAX_IN], sea_out_w16[SEA_MAX_IN];
static int8_t sea_filter[128 * SEA_MAX_TAPS] EM_WEIGHTS;
static int32_t sea_w16[EM_CONV2D_S8_W16_WORDS(128, 3, 3, 128)] EM_WEIGHTS;
static int32_t sea_bias[128] EM_WEIGHTS, sea_mult[128] EM_WEIGHTS, sea_shift[128] EM_WEIGHTS;
static int32_t sea_scratch[EM_CONV2D_S8_DSP_BUFFER_BYTES(3, 3, 128) / 4 + 1];

#if defined(EM_USE_DSP)
#define SEA_MAX(a, b) ((a) > (b) ? (a) : (b))
/* em_conv2d_s8_tiled, one output row a pass (pass_pixels = out_w), on sea_layers[] (h, w, cin,
 * cout) */
#define SEA_TILED_BYTES(w, cin, cout) EM_CONV2D_S8_TILED_DSP_BUFFER_BYTES(cout, 3, 3, cin, w)
#define SEA_TILED_MAX                                                                   \
  SEA_MAX(SEA_MAX(SEA_MAX(SEA_TILED_BYTES(50, 1, 32), SEA_TILED_BYTES(50, 32, 32)),     \
                  SEA_MAX(SEA_TILED_BYTES(25, 32, 64), SEA_TILED_BYTES(25, 64, 64))),   \
          SEA_MAX(SEA_MAX(SEA_TILED_BYTES(12, 64, 128), SEA_TILED_BYTES(12, 128, 128)), \
                  SEA_MAX(SEA_TILED_BYTES(6, 128, 64), SEA_TILED_BYTES(6, 64, 64))))
/* em_conv2d_s8_wino, one tile row (output row pair) a pass, on the seven shapes it takes */
#define SEA_WINO_BYTES(w, cin) EM_CONV2D_S8_WINO_DSP_BUFFER_BYTES(cin, w, 1)
#define SEA_WINO_MAX                                                    \
  SEA_MAX(                                                              \
      SEA_MAX(SEA_MAX(SEA_WINO_BYTES(50, 32), SEA_WINO_BYTES(25, 32)),  \
              SEA_MAX(SEA_WINO_BYTES(25, 64), SEA_WINO_BYTES(12, 64))), \
      SEA_MAX(SEA_MAX(SEA_WINO_BYTES(12, 128), SEA_WINO_BYTES(6, 128)), SEA_WINO_BYTES(6, 64)))
static int32_t sea_flash_scratch[SEA_MAX(SEA_TILED_MAX, SEA_WINO_MAX) / 4 + 1];
static int8_t sea_out_alt[SEA_MAX_IN];
#endif

/* "name<index><suffix>=value" (index < 0: "name=value"). */
static void report_indexed(const char *name, int32_t index, const char *suffix, uint32_t value) {
  char line[64];
  int n = 0;
  em_fmt_cat(line, &n, name);
  if (index >= 0) {
    n += em_fmt_u32(line + n, (uint32_t)index);
    em_fmt_cat(line, &n, suffix);
  }
  em_fmt_cat(line, &n, "=");
  n += em_fmt_u32(line + n, value);
  line[n++] = '\n';
  line[n] = 0;
  em_semihost_write(line);
}

static void report(const char *name, uint32_t value) {
  report_indexed(name, -1, "", value);
}

#if defined(EM_USE_DSP)
/* Layer l's data (sea_in, sea_filter: already filled) through em_conv2d_s8_tiled and
 * em_conv2d_s8_wino, called as the engine calls them on the STM32F405 plan (streamed 128 KiB:
 * SEA-64's convs run inside streamed chains, export/codegen/ops/conv2d.py): tiled one output row a
 * call and a pass (pass_pixels = out_w: the int8 flash weights expanded into the RAM tile once per
 * row, the cost model's passes = out_h); Winograd one output row pair a call, one tile row a pass
 * (the weights transformed once per row pair). The input buffer holds the whole tensor: a call
 * reads only its rows' inputs, as from a line buffer. Prints sea_l<l>_tiled_ticks (and
 * sea_l<l>_wino_ticks where the shape takes Winograd); returns 1 if every call succeeded and both
 * paths gave ref's bytes (em_conv2d_s8's). */
static int bench_sea64_flash_paths(int32_t l, const em_conv_params *p, const em_quant *q,
                                   const int8_t *ref) {
  const int32_t h = sea_layers[l][0], w = sea_layers[l][1], cin = sea_layers[l][2];
  const int32_t cout = sea_layers[l][3], n = h * w * cout;
  const em_dims in_d = {h, w, cin}, f_d = {3, 3, cin}, out_d = {h, w, cout};
  int same =
      em_conv2d_s8_tiled_get_buffer_size(&f_d, &out_d, w) <= (int32_t)sizeof sea_flash_scratch;
  if (!same) return 0;
  for (int32_t i = 0; i < n; ++i) sea_out_alt[i] = 0x55; /* no stale bytes pass the check */
  const uint32_t t0 = em_board_ticks();
  for (int32_t r = 0; r < h; ++r) {
    const em_rows rows = {0, h, r, r + 1, 0};
    same &= em_conv2d_s8_tiled(p, q, &in_d, sea_in, &f_d, sea_filter, sea_bias, &out_d, sea_out_alt,
                               &rows, w, sea_flash_scratch) == EM_OK;
  }
  const uint32_t t1 = em_board_ticks();
  for (int32_t i = 0; i < n; ++i) same &= sea_out_alt[i] == ref[i];
  report_indexed("sea_l", l, "_tiled_ticks", t1 - t0);
  if (cin % 8 != 0) return same; /* em_conv2d_s8_wino takes in_c a multiple of 8 */
  if (em_conv2d_s8_wino_get_buffer_size(&f_d, &out_d, 1) > (int32_t)sizeof sea_flash_scratch)
    return 0;
  for (int32_t i = 0; i < n; ++i) sea_out_alt[i] = 0x55;
  const uint32_t t2 = em_board_ticks();
  for (int32_t r = 0; r < h; r += 2) {
    const em_rows rows = {0, h, r, r + 2 < h ? r + 2 : h, 0};
    same &= em_conv2d_s8_wino(p, q, &in_d, sea_in, &f_d, sea_filter, sea_bias, &out_d, sea_out_alt,
                              &rows, 1, sea_flash_scratch) == EM_OK;
  }
  const uint32_t t3 = em_board_ticks();
  for (int32_t i = 0; i < n; ++i) same &= sea_out_alt[i] == ref[i];
  report_indexed("sea_l", l, "_wino_ticks", t3 - t2);
  return same;
}
#endif

/* Every SEA-64 conv shape with both weight forms (and, DSP build, the tiled and Winograd paths);
 * returns 1 if their bytes agree everywhere; *flash_same: whether tiled and Winograd agreed. */
static int bench_sea64(uint32_t *checksum, int *flash_same) {
  int same = 1;
  *flash_same = 1;
  for (int32_t l = 0; l < 8; ++l) {
    const int32_t h = sea_layers[l][0], w = sea_layers[l][1], cin = sea_layers[l][2];
    const int32_t cout = sea_layers[l][3], taps = 9 * cin;
    sea64_fill_layer(l, sea_in, sea_filter, sea_bias, sea_mult, sea_shift);
    const em_dims in_d = {h, w, cin}, f_d = {3, 3, cin}, out_d = {h, w, cout};
    em_conv2d_s8_w16_pack(sea_filter, cout, &f_d, sea_w16);
    const em_conv_params p = {1, 1, 1, 1, 1, 1, 128, -128, -128, 127}; /* ReLU input at zp -128 */
    const em_quant q = {sea_mult, sea_shift, 1};
    const em_rows rows = em_rows_full(h, h);
    const uint32_t t0 = em_board_ticks();
    const int s1 = em_conv2d_s8(&p, &q, &in_d, sea_in, &f_d, sea_filter, sea_bias, &out_d,
                                sea_out_s8, &rows, sea_scratch);
    const uint32_t t1 = em_board_ticks();
    const int s2 = em_conv2d_s8_w16(&p, &q, &in_d, sea_in, &f_d, sea_w16, sea_bias, &out_d,
                                    sea_out_w16, &rows, sea_scratch);
    const uint32_t t2 = em_board_ticks();
    same &= s1 == EM_OK && s2 == EM_OK;
    for (int32_t i = 0; i < h * w * cout; ++i) {
      same &= sea_out_s8[i] == sea_out_w16[i];
      *checksum = *checksum * 31u + (uint8_t)sea_out_s8[i];
    }
    report_indexed("sea_l", l, "_macs", (uint32_t)(h * w * cout * taps));
    report_indexed("sea_l", l, "_s8_ticks", t1 - t0);
    report_indexed("sea_l", l, "_w16_ticks", t2 - t1);
#if defined(EM_USE_DSP)
    *flash_same &= bench_sea64_flash_paths(l, &p, &q, sea_out_s8);
#endif
  }
  return same;
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
  const int s0 = em_conv2d_sparse_s8_pack(filter, COUT, &f_d, 3, sp_index, (int32_t)sizeof sp_index,
                                          sp_val, (int32_t)sizeof sp_val, H, &sf);

  uint32_t t0 = em_board_ticks();
  int s1 =
      em_conv2d_s8(&p, &q, &in_d, input, &f_d, filter, bias, &out_d, out_dense, &rows, scratch);
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
  uint32_t sea_checksum = 0;
  int flash_same = 1;
  const int sea_same = bench_sea64(&sea_checksum, &flash_same);
  report("sea_checksum", sea_checksum);
  report("sea_w16_equals_s8", (uint32_t)sea_same);
#if defined(EM_USE_DSP)
  report("sea_tiled_wino_equal_s8", (uint32_t)flash_same);
#endif
  em_board_exit(same && sea_same && flash_same && s1 == EM_OK && s2 == EM_OK && s3 == EM_OK ? 0
                                                                                            : 1);
}
