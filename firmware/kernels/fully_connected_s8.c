/*
 * fully_connected_s8.c -- int8 FULLY_CONNECTED, bit-exact with TFLite Micro's reference
 * FullyConnected / FullyConnectedPerChannel.
 *
 * TFLM: acc = bias[o] + sum_i (filter[o][i] + filter_offset) * (input[b][i] + input_offset).
 * Expanded, that is sum(f*x) + input_offset*sum(f) + filter_offset*sum(x)
 * + n*filter_offset*input_offset: the same integer, computed here from plain int8 products
 * (the weight and input sums come out of the same loop). The EM_USE_DSP path does the products
 * four at a time with SXTB16 + SMLAD (both operands reordered alike, so pairs line up) and the
 * weight sum with SMLAD against (1, 1).
 */
#include "em_kernels.h"
#include "em_common.h"
#if defined(EM_USE_DSP)
#include "em_dsp.h"
#endif

int32_t em_fully_connected_s8_get_buffer_size(int32_t in_features, int32_t out_features) {
  (void)in_features;
  (void)out_features;
  return 0;
}

/* sum(f*x) and sum(f) over n elements. */
static void fc_dot(const int8_t *f, const int8_t *x, int32_t n, int32_t *dot, int32_t *fsum) {
  int32_t d = 0, s = 0, i = 0;
#if defined(EM_USE_DSP)
  const int32_t ones = 0x00010001;
  for (; i + 4 <= n; i += 4) {
    const int32_t fv = em_read_s8x4(f + i), xv = em_read_s8x4(x + i);
    const int32_t f02 = em_sxtb16(fv), f13 = em_sxtb16_ror8(fv);
    d = em_smlad(f02, em_sxtb16(xv), d);
    d = em_smlad(f13, em_sxtb16_ror8(xv), d);
    s = em_smlad(f02, ones, s);
    s = em_smlad(f13, ones, s);
  }
#endif
  for (; i < n; ++i) {
    d += f[i] * x[i];
    s += f[i];
  }
  *dot = d;
  *fsum = s;
}

int em_fully_connected_s8(const em_fc_params *p, const em_quant *q, int32_t batches,
                          int32_t in_features, const int8_t *input, int32_t out_features,
                          const int8_t *filter, const int32_t *bias, int8_t *output) {
  if (p == 0 || q == 0 || q->multiplier == 0 || q->shift == 0 || input == 0 || filter == 0 ||
      output == 0 || batches < 1 || in_features < 1 || out_features < 1 ||
      p->activation_min > p->activation_max)
    return EM_ERR_ARG;
  const int32_t offsets_term = in_features * p->filter_offset * p->input_offset;
  for (int32_t b = 0; b < batches; ++b) {
    const int8_t *x = input + b * in_features;
    int32_t xsum = 0;
    if (p->filter_offset != 0)
      for (int32_t i = 0; i < in_features; ++i) xsum += x[i];
    const int32_t batch_term = p->filter_offset * xsum + offsets_term;
    for (int32_t o = 0; o < out_features; ++o) {
      int32_t dot, fsum;
      fc_dot(filter + o * in_features, x, in_features, &dot, &fsum);
      const int32_t acc = dot + p->input_offset * fsum + batch_term + (bias ? bias[o] : 0);
      const int32_t k = q->per_channel ? o : 0;
      output[b * out_features + o] =
          em_requantize_s8(acc, q->multiplier[k], q->shift[k], p->output_offset, p->activation_min,
                           p->activation_max);
    }
  }
  return EM_OK;
}
