/*
 * max_pool2d_s8.c -- int8 MAX_POOL_2D, bit-exact with TFLite Micro's reference MaxPool.
 *
 * Each output is the maximum over the in-image part of its window (padding never wins:
 * TFLM clips the window to the image), then clamped to the fused activation range.
 * Input and output share scale and zero point (TFLM requires it), so no requantisation.
 */
#include "em_kernels.h"
#include "em_common.h"
#include "em_window.h"

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

  for (int32_t oy = rows->out_row_begin; oy < rows->out_row_end; ++oy) {
    const int32_t in_y0 = oy * p->stride_h - p->pad_top;
    const int32_t fy0 = em_max_i32(0, -in_y0);
    const int32_t fy1 = em_min_i32(p->filter_h, in_d->h - in_y0);
    int8_t *out = output + (oy - rows->out_row_base) * out_w * c;
    for (int32_t ox = 0; ox < out_w; ++ox, out += c) {
      const int32_t in_x0 = ox * p->stride_w - p->pad_left;
      const int32_t fx0 = em_max_i32(0, -in_x0);
      const int32_t fx1 = em_min_i32(p->filter_w, in_w - in_x0);
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
