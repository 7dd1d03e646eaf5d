/*
 * max_pool2d_s8.c -- int8 MAX_POOL_2D, bit-exact with TFLite Micro's reference MaxPool.
 *
 * Each output is the maximum over the in-image part of its window (padding never wins:
 * TFLM clips the window to the image), then clamped to the fused activation range.
 * Input and output share scale and zero point (TFLM requires it), so no requantisation.
 */
#include <string.h>

#include "em_kernels.h"
#include "em_common.h"
#include "em_window.h"
#if defined(EM_USE_DSP)
#include "em_dsp.h"
#endif

#if defined(EM_USE_DSP) && EM_DSP_NATIVE
/* Four channels at once (the DSP path, in_c % 4 == 0): SSUB8 sets a GE flag per byte where the
 * input is >= the running maximum and SEL takes those bytes -- a per-byte signed max in two
 * instructions. One asm statement, so nothing can come between the flags and their use. */
static inline uint32_t pool_max4(uint32_t acc, uint32_t v) {
  uint32_t t;
  __asm__("ssub8 %0, %2, %1\n\tsel %1, %2, %1" : "=&r"(t), "+r"(acc) : "r"(v) : "cc");
  return acc;
}

/* The in-image window of one output, every channel, four at a time. */
static void pool_output_x4(const int8_t *src, int32_t rows, int32_t cols, int32_t in_w, int32_t c,
                           uint32_t lo, uint32_t hi, int clamp, int8_t *out) {
  for (int32_t ch = 0; ch < c; ch += 4) {
    uint32_t acc = 0x80808080u; /* four times INT8_MIN */
    for (int32_t fy = 0; fy < rows; ++fy) {
      const int8_t *s = src + fy * in_w * c + ch;
      for (int32_t fx = 0; fx < cols; ++fx, s += c) {
        uint32_t v;
        memcpy(&v, s, 4);
        acc = pool_max4(acc, v);
      }
    }
    if (clamp) { /* max(acc, lo), then min(., hi) = max of hi's complement ... done bytewise */
      acc = pool_max4(acc, lo);
      uint32_t t;
      __asm__("ssub8 %0, %1, %2\n\tsel %1, %2, %1" : "=&r"(t), "+r"(acc) : "r"(hi) : "cc");
    }
    memcpy(out + ch, &acc, 4);
  }
}
#endif

int em_max_pool2d_s8(const em_pool_params *p, const em_dims *in_d, const int8_t *input,
                     const em_dims *out_d, int8_t *output, const em_rows *rows) {
  if (p == 0 || input == 0 || output == 0 || !em_dims_valid(in_d) || !em_dims_valid(out_d) ||
      in_d->c != out_d->c || p->stride_h < 1 || p->stride_w < 1 || p->filter_h < 1 ||
      p->filter_w < 1 || p->activation_min > p->activation_max)
    return EM_ERR_ARG;
  const int status = em_check_window(rows, in_d->h, out_d->h, p->stride_h, p->pad_top, p->filter_h);
  if (status != EM_OK) return status;

  const int32_t c = in_d->c, in_w = in_d->w, out_w = out_d->w;
  const int8_t act_min = (int8_t)em_clamp_i32(p->activation_min, EM_INT8_MIN, EM_INT8_MAX);
  const int8_t act_max = (int8_t)em_clamp_i32(p->activation_max, EM_INT8_MIN, EM_INT8_MAX);
#if defined(EM_USE_DSP) && EM_DSP_NATIVE
  const uint32_t splat_min = 0x01010101u * (uint8_t)act_min,
                 splat_max = 0x01010101u * (uint8_t)act_max;
  const int clamp = act_min != EM_INT8_MIN || act_max != EM_INT8_MAX;
#endif

  for (int32_t oy = rows->out_row_begin; oy < rows->out_row_end; ++oy) {
    const int32_t in_y0 = oy * p->stride_h - p->pad_top;
    const int32_t fy0 = em_max_i32(0, -in_y0);
    const int32_t fy1 = em_min_i32(p->filter_h, in_d->h - in_y0);
    int8_t *out = output + (oy - rows->out_row_base) * out_w * c;
    for (int32_t ox = 0; ox < out_w; ++ox, out += c) {
      const int32_t in_x0 = ox * p->stride_w - p->pad_left;
      const int32_t fx0 = em_max_i32(0, -in_x0);
      const int32_t fx1 = em_min_i32(p->filter_w, in_w - in_x0);
#if defined(EM_USE_DSP) && EM_DSP_NATIVE
      if ((c & 3) == 0) {
        pool_output_x4(input + ((in_y0 + fy0 - rows->in_row_begin) * in_w + in_x0 + fx0) * c,
                       fy1 - fy0, fx1 - fx0, in_w, c, splat_min, splat_max, clamp, out);
        continue;
      }
#endif
      for (int32_t ch = 0; ch < c; ++ch) out[ch] = EM_INT8_MIN;
      for (int32_t fy = fy0; fy < fy1; ++fy) {
        const int8_t *src = input + ((in_y0 + fy - rows->in_row_begin) * in_w + in_x0 + fx0) * c;
        for (int32_t fx = fx0; fx < fx1; ++fx, src += c)
          for (int32_t ch = 0; ch < c; ++ch)
            if (src[ch] > out[ch]) out[ch] = src[ch];
      }
      for (int32_t ch = 0; ch < c; ++ch) {
        if (out[ch] < act_min) out[ch] = act_min;
        if (out[ch] > act_max) out[ch] = act_max;
      }
    }
  }
  return EM_OK;
}
