/*
 * CMSIS-NN beside the engine's kernel (semihosting; make bench-kernels' CMSIS-NN column): SEA-64's
 * eight 3x3 conv shapes (kernel_bench_main.c's sea_layers) through em_conv2d_s8 and CMSIS-NN's
 * arm_convolve_wrapper_s8 (compiled from TFLM_PATH's third_party/cmsis_nn, the kernels TFLM's
 * cmsis_nn conv calls) on the same random int8 data and quantisation, in em_board_ticks()
 * (instructions under QEMU -icount). Prints "sea_l<i>_macs", "sea_l<i>_s8_ticks",
 * "sea_l<i>_cmsis_ticks" lines; exits 0, or 1 if the two kernels' bytes differ anywhere.
 */
#include <stdint.h>

#include "arm_nnfunctions.h"
#include "em_bench_sea64.h"
#include "em_board.h"
#include "em_fmt.h"
#include "em_kernels.h"

static int8_t sea_in[SEA_MAX_IN], out_em[SEA_MAX_IN], out_cmsis[SEA_MAX_IN];
static int8_t sea_filter[128 * SEA_MAX_TAPS];
static int32_t sea_bias[128], sea_mult[128], sea_shift[128];
static int32_t em_scratch[EM_CONV2D_S8_DSP_BUFFER_BYTES(3, 3, 128) / 4 + 1];
static int32_t
    cmsis_scratch[(4 * SEA_MAX_TAPS + 64) / 4]; /* >= arm_convolve_wrapper_s8_get_buffer_size */

static void report(int32_t layer, const char *suffix, uint32_t value) {
  char line[64];
  int n = 0;
  em_fmt_cat(line, &n, "sea_l");
  n += em_fmt_u32(line + n, (uint32_t)layer);
  em_fmt_cat(line, &n, suffix);
  em_fmt_cat(line, &n, "=");
  n += em_fmt_u32(line + n, value);
  line[n++] = '\n';
  line[n] = 0;
  em_semihost_write(line);
}

int main(void) {
  em_board_init();
  int same = 1;
  for (int32_t l = 0; l < 8; ++l) {
    const int32_t h = sea_layers[l][0], w = sea_layers[l][1], cin = sea_layers[l][2];
    const int32_t cout = sea_layers[l][3], taps = 9 * cin;
    sea64_fill_layer(l, sea_in, sea_filter, sea_bias, sea_mult, sea_shift);
    /* the engine's kernel: ReLU input at zero point -128 */
    const em_dims in_d = {h, w, cin}, f_d = {3, 3, cin}, out_d = {h, w, cout};
    const em_conv_params p = {1, 1, 1, 1, 1, 1, 128, -128, -128, 127};
    const em_quant q = {sea_mult, sea_shift, 1};
    const em_rows rows = em_rows_full(h, h);
    /* CMSIS-NN: the same convolution in its terms */
    const cmsis_nn_conv_params cp = {128, -128, {1, 1}, {1, 1}, {1, 1}, {-128, 127}};
    const cmsis_nn_per_channel_quant_params cq = {sea_mult, sea_shift};
    const cmsis_nn_dims ci = {1, h, w, cin}, cf = {cout, 3, 3, cin}, cb = {1, 1, 1, cout},
                        co = {1, h, w, cout};
    const int32_t need = arm_convolve_wrapper_s8_get_buffer_size(&cp, &ci, &cf, &co);
    const cmsis_nn_context ctx = {cmsis_scratch, need};
    if (need > (int32_t)sizeof(cmsis_scratch)) {
      em_semihost_write("cmsis_nn_bench: scratch too small\n");
      em_board_exit(1);
    }
    const uint32_t t0 = em_board_ticks();
    const int s1 = em_conv2d_s8(&p, &q, &in_d, sea_in, &f_d, sea_filter, sea_bias, &out_d, out_em,
                                &rows, em_scratch);
    const uint32_t t1 = em_board_ticks();
    const arm_cmsis_nn_status s2 = arm_convolve_wrapper_s8(
        &ctx, &cp, &cq, &ci, sea_in, &cf, sea_filter, &cb, sea_bias, &co, out_cmsis);
    const uint32_t t2 = em_board_ticks();
    int layer_same = s1 == EM_OK && s2 == ARM_CMSIS_NN_SUCCESS;
    for (int32_t i = 0; i < h * w * cout; ++i) layer_same &= out_em[i] == out_cmsis[i];
    same &= layer_same;
    report(l, "_macs", (uint32_t)(h * w * cout * taps));
    report(l, "_s8_ticks", t1 - t0);
    report(l, "_cmsis_ticks", t2 - t1);
    report(l, "_identical", (uint32_t)layer_same);
  }
  em_board_exit(same ? 0 : 1);
}
