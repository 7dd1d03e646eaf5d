/*
 * conv2d_s8.c -- int8 CONV_2D, bit-exact with TFLite Micro's reference ConvPerChannel.
 *
 * For each output (y, x, oc):
 *   acc = bias[oc] + sum over in-image taps of filter * (input + input_offset)
 *   out = clamp(MultiplyByQuantizedMultiplier(acc, mult[oc], shift[oc]) + output_offset)
 * Padding taps are skipped (they would hold the input zero point: contribution 0).
 *
 * Two paths, chosen at compile time, giving identical bytes (integer sums are exact):
 *   portable  -- per output channel, input_offset * sum(filter) is folded into the bias, so
 *                pixels whose taps are all in the image need one multiply-add per tap and
 *                no per-tap offset or bounds check; border pixels take the plain form.
 *   EM_USE_DSP -- CMSIS-NN arm_convolve_s8 style: two output pixels are expanded (im2col)
 *                into int16 columns with the offset added and padding as 0, then two filter
 *                rows at a time are read 4 weights per word, sign-extended to int16 pairs
 *                (SXTB16) and multiplied into both columns with dual 16-bit MACs (SMLAD): a
 *                2x2 block of outputs per pass. The columns are stored in the order SXTB16
 *                produces (0,2,1,3 per group of four).
 */
#include "em_kernels.h"
#include "em_common.h"
#include "em_window.h"
#if defined(EM_USE_DSP)
#include "em_dsp.h"
#endif

static int conv_check(const em_conv_params *p, const em_quant *q, const em_dims *in_d,
                      const int8_t *input, const em_dims *f_d, const int8_t *filter,
                      const em_dims *out_d, int8_t *output, const em_rows *rows) {
  if (p == 0 || q == 0 || q->multiplier == 0 || q->shift == 0 || input == 0 || filter == 0 ||
      output == 0 || !em_dims_valid(in_d) || !em_dims_valid(f_d) || !em_dims_valid(out_d))
    return EM_ERR_ARG;
  if (f_d->c != in_d->c || p->stride_h < 1 || p->stride_w < 1 || p->dilation_h < 1 ||
      p->dilation_w < 1 || p->activation_min > p->activation_max)
    return EM_ERR_ARG;
  return em_check_window(rows, in_d->h, out_d->h, p->stride_h, p->pad_top,
                         (f_d->h - 1) * p->dilation_h + 1);
}

int32_t em_conv2d_s8_get_buffer_size(const em_dims *input_dims, const em_dims *filter_dims,
                                     const em_dims *output_dims) {
  (void)input_dims;
  (void)output_dims;
#if defined(EM_USE_DSP)
  if (filter_dims == 0) return 0;
  return EM_CONV2D_S8_DSP_BUFFER_BYTES(filter_dims->h, filter_dims->w, filter_dims->c);
#else
  (void)filter_dims;
  return 0;
#endif
}

#if !defined(EM_USE_DSP)

/* Border pixel: only in-image taps count, each with the input offset added. */
static int32_t conv_border_acc(const em_conv_params *p, const em_dims *in_d, const em_dims *f_d,
                               const int8_t *input, int32_t in_row_begin, const int8_t *w,
                               int32_t in_y0, int32_t in_x0, int32_t acc) {
  const int32_t in_c = in_d->c;
  for (int32_t ky = 0; ky < f_d->h; ++ky) {
    const int32_t y = in_y0 + ky * p->dilation_h;
    if (y < 0 || y >= in_d->h) continue;
    const int8_t *in_row = input + (y - in_row_begin) * in_d->w * in_c;
    for (int32_t kx = 0; kx < f_d->w; ++kx) {
      const int32_t x = in_x0 + kx * p->dilation_w;
      if (x < 0 || x >= in_d->w) continue;
      const int8_t *src = in_row + x * in_c;
      const int8_t *wk = w + (ky * f_d->w + kx) * in_c;
      for (int32_t ic = 0; ic < in_c; ++ic) acc += wk[ic] * (src[ic] + p->input_offset);
    }
  }
  return acc;
}

/* Interior pixel: every tap is in the image; the offset lives in the folded bias. */
static int32_t conv_interior_acc(const em_conv_params *p, const em_dims *in_d, const em_dims *f_d,
                                 const int8_t *src0, const int8_t *w, int32_t acc) {
  const int32_t in_c = in_d->c;
  const int32_t row_stride = p->dilation_h * in_d->w * in_c;
  if (p->dilation_w == 1) {
    /* A filter row and the input it covers are both contiguous: one flat loop. */
    const int32_t n = f_d->w * in_c;
    for (int32_t ky = 0; ky < f_d->h; ++ky) {
      const int8_t *src = src0 + ky * row_stride;
      const int8_t *wk = w + ky * n;
      int32_t i = 0;
      for (; i + 4 <= n; i += 4) /* unrolled: the loop overhead is most of a MAC's cost */
        acc += wk[i] * src[i] + wk[i + 1] * src[i + 1] + wk[i + 2] * src[i + 2] +
               wk[i + 3] * src[i + 3];
      for (; i < n; ++i) acc += wk[i] * src[i];
    }
  } else {
    for (int32_t ky = 0; ky < f_d->h; ++ky) {
      for (int32_t kx = 0; kx < f_d->w; ++kx) {
        const int8_t *src = src0 + ky * row_stride + kx * p->dilation_w * in_c;
        const int8_t *wk = w + (ky * f_d->w + kx) * in_c;
        for (int32_t ic = 0; ic < in_c; ++ic) acc += wk[ic] * src[ic];
      }
    }
  }
  return acc;
}

static void conv_portable(const em_conv_params *p, const em_quant *q, const em_dims *in_d,
                          const int8_t *input, const em_dims *f_d, const int8_t *filter,
                          const int32_t *bias, const em_dims *out_d, int8_t *output,
                          const em_rows *rows) {
  const int32_t in_c = in_d->c, out_c = out_d->c, out_w = out_d->w;
  const int32_t taps = f_d->h * f_d->w * in_c;
  const int32_t eff_h = (f_d->h - 1) * p->dilation_h + 1;
  const int32_t eff_w = (f_d->w - 1) * p->dilation_w + 1;

  for (int32_t oc = 0; oc < out_c; ++oc) {
    const int8_t *w = filter + oc * taps;
    int32_t wsum = 0;
    for (int32_t i = 0; i < taps; ++i) wsum += w[i];
    const int32_t b = bias ? bias[oc] : 0;
    const int32_t folded_bias = b + p->input_offset * wsum;
    const int32_t mult = q->multiplier[q->per_channel ? oc : 0];
    const int32_t shift = q->shift[q->per_channel ? oc : 0];

    for (int32_t oy = rows->out_row_begin; oy < rows->out_row_end; ++oy) {
      const int32_t in_y0 = oy * p->stride_h - p->pad_top;
      const int row_inside = in_y0 >= 0 && in_y0 + eff_h <= in_d->h;
      int8_t *out = output + (oy - rows->out_row_base) * out_w * out_c + oc;
      for (int32_t ox = 0; ox < out_w; ++ox, out += out_c) {
        const int32_t in_x0 = ox * p->stride_w - p->pad_left;
        int32_t acc;
        if (row_inside && in_x0 >= 0 && in_x0 + eff_w <= in_d->w) {
          const int8_t *src0 = input + ((in_y0 - rows->in_row_begin) * in_d->w + in_x0) * in_c;
          acc = conv_interior_acc(p, in_d, f_d, src0, w, folded_bias);
        } else {
          acc = conv_border_acc(p, in_d, f_d, input, rows->in_row_begin, w, in_y0, in_x0, b);
        }
        *out = em_requantize_s8(acc, mult, shift, p->output_offset, p->activation_min,
                                p->activation_max);
      }
    }
  }
}

#else /* EM_USE_DSP */

/* One output pixel's receptive field as int16 (input + offset, padding 0), each group of
 * four stored as (0, 2, 1, 3) to line up with SXTB16 / SXTB16 ROR #8 of the weights. */
static void conv_im2col(const em_conv_params *p, const em_dims *in_d, const em_dims *f_d,
                        const int8_t *input, int32_t in_row_begin, int32_t in_y0, int32_t in_x0,
                        int16_t *col) {
  const int32_t in_c = in_d->c;
  const int32_t taps = f_d->h * f_d->w * in_c;
  int16_t *dst = col;
  for (int32_t ky = 0; ky < f_d->h; ++ky) {
    const int32_t y = in_y0 + ky * p->dilation_h;
    const int y_in = y >= 0 && y < in_d->h;
    for (int32_t kx = 0; kx < f_d->w; ++kx, dst += in_c) {
      const int32_t x = in_x0 + kx * p->dilation_w;
      if (!y_in || x < 0 || x >= in_d->w) {
        for (int32_t ic = 0; ic < in_c; ++ic) dst[ic] = 0;
        continue;
      }
      const int8_t *src = input + ((y - in_row_begin) * in_d->w + x) * in_c;
      for (int32_t ic = 0; ic < in_c; ++ic) dst[ic] = (int16_t)(src[ic] + p->input_offset);
    }
  }
  for (int32_t i = 0; i + 4 <= taps; i += 4) {
    const int16_t t = col[i + 1];
    col[i + 1] = col[i + 2];
    col[i + 2] = t;
  }
}

/* Dot products of two filter rows (w1 may be NULL) with two columns (col1 may be NULL):
 * acc[2 * row + col]. CMSIS-NN's 2x2 kernel: per four taps, 2 weight words and 4 column
 * words feed 8 SMLADs. */
static void conv_dot_2x2(const int8_t *w0, const int8_t *w1, const int16_t *col0,
                         const int16_t *col1, int32_t taps, int32_t acc[4]) {
  int32_t a00 = acc[0], a01 = acc[1], a10 = acc[2], a11 = acc[3];
  int32_t i = 0;
  if (w1 && col1) {
    for (; i + 4 <= taps; i += 4) {
      const int32_t c0a = em_read_s16x2(col0 + i), c0b = em_read_s16x2(col0 + i + 2);
      const int32_t c1a = em_read_s16x2(col1 + i), c1b = em_read_s16x2(col1 + i + 2);
      const int32_t wv0 = em_read_s8x4(w0 + i), wv1 = em_read_s8x4(w1 + i);
      const int32_t w0a = em_sxtb16(wv0), w0b = em_sxtb16_ror8(wv0);
      const int32_t w1a = em_sxtb16(wv1), w1b = em_sxtb16_ror8(wv1);
      a00 = em_smlad(w0a, c0a, a00);
      a00 = em_smlad(w0b, c0b, a00);
      a01 = em_smlad(w0a, c1a, a01);
      a01 = em_smlad(w0b, c1b, a01);
      a10 = em_smlad(w1a, c0a, a10);
      a10 = em_smlad(w1b, c0b, a10);
      a11 = em_smlad(w1a, c1a, a11);
      a11 = em_smlad(w1b, c1b, a11);
    }
    for (; i < taps; ++i) {
      a00 += w0[i] * col0[i];
      a01 += w0[i] * col1[i];
      a10 += w1[i] * col0[i];
      a11 += w1[i] * col1[i];
    }
  } else if (col1) { /* one filter row, two columns */
    for (; i + 4 <= taps; i += 4) {
      const int32_t wv0 = em_read_s8x4(w0 + i);
      const int32_t w0a = em_sxtb16(wv0), w0b = em_sxtb16_ror8(wv0);
      a00 = em_smlad(w0a, em_read_s16x2(col0 + i), a00);
      a00 = em_smlad(w0b, em_read_s16x2(col0 + i + 2), a00);
      a01 = em_smlad(w0a, em_read_s16x2(col1 + i), a01);
      a01 = em_smlad(w0b, em_read_s16x2(col1 + i + 2), a01);
    }
    for (; i < taps; ++i) {
      a00 += w0[i] * col0[i];
      a01 += w0[i] * col1[i];
    }
  } else { /* one column, one or two filter rows */
    for (; i + 4 <= taps; i += 4) {
      const int32_t c0a = em_read_s16x2(col0 + i), c0b = em_read_s16x2(col0 + i + 2);
      const int32_t wv0 = em_read_s8x4(w0 + i);
      a00 = em_smlad(em_sxtb16(wv0), c0a, a00);
      a00 = em_smlad(em_sxtb16_ror8(wv0), c0b, a00);
      if (w1) {
        const int32_t wv1 = em_read_s8x4(w1 + i);
        a10 = em_smlad(em_sxtb16(wv1), c0a, a10);
        a10 = em_smlad(em_sxtb16_ror8(wv1), c0b, a10);
      }
    }
    for (; i < taps; ++i) {
      a00 += w0[i] * col0[i];
      if (w1) a10 += w1[i] * col0[i];
    }
  }
  acc[0] = a00;
  acc[1] = a01;
  acc[2] = a10;
  acc[3] = a11;
}

static void conv_dsp(const em_conv_params *p, const em_quant *q, const em_dims *in_d,
                     const int8_t *input, const em_dims *f_d, const int8_t *filter,
                     const int32_t *bias, const em_dims *out_d, int8_t *output,
                     const em_rows *rows, int16_t *cols) {
  const int32_t out_c = out_d->c, out_w = out_d->w;
  const int32_t taps = f_d->h * f_d->w * in_d->c;
  const int32_t n_pix = (rows->out_row_end - rows->out_row_begin) * out_w;
  int16_t *col[2];
  int8_t *out_px[2];
  col[0] = cols;
  col[1] = cols + taps;

  for (int32_t pix = 0; pix < n_pix; pix += 2) {
    const int32_t n = n_pix - pix >= 2 ? 2 : 1;
    for (int32_t j = 0; j < n; ++j) {
      const int32_t oy = rows->out_row_begin + (pix + j) / out_w;
      const int32_t ox = (pix + j) % out_w;
      conv_im2col(p, in_d, f_d, input, rows->in_row_begin, oy * p->stride_h - p->pad_top,
                  ox * p->stride_w - p->pad_left, col[j]);
      out_px[j] = output + ((oy - rows->out_row_base) * out_w + ox) * out_c;
    }
    for (int32_t oc = 0; oc < out_c; oc += 2) {
      const int32_t n_oc = out_c - oc >= 2 ? 2 : 1;
      int32_t acc[4] = {0, 0, 0, 0};
      for (int32_t k = 0; k < n_oc; ++k) acc[2 * k] = acc[2 * k + 1] = bias ? bias[oc + k] : 0;
      conv_dot_2x2(filter + oc * taps, n_oc == 2 ? filter + (oc + 1) * taps : 0, col[0],
                   n == 2 ? col[1] : 0, taps, acc);
      for (int32_t k = 0; k < n_oc; ++k) {
        const int32_t mult = q->multiplier[q->per_channel ? oc + k : 0];
        const int32_t shift = q->shift[q->per_channel ? oc + k : 0];
        for (int32_t j = 0; j < n; ++j)
          out_px[j][oc + k] = em_requantize_s8(acc[2 * k + j], mult, shift, p->output_offset,
                                               p->activation_min, p->activation_max);
      }
    }
  }
}

#endif /* EM_USE_DSP */

int em_conv2d_s8(const em_conv_params *params, const em_quant *quant,
                 const em_dims *input_dims, const int8_t *input,
                 const em_dims *filter_dims, const int8_t *filter, const int32_t *bias,
                 const em_dims *output_dims, int8_t *output,
                 const em_rows *rows, void *scratch) {
  const int status = conv_check(params, quant, input_dims, input, filter_dims, filter,
                                output_dims, output, rows);
  if (status != EM_OK) return status;
#if defined(EM_USE_DSP)
  if (scratch == 0) return EM_ERR_ARG;
  conv_dsp(params, quant, input_dims, input, filter_dims, filter, bias, output_dims, output, rows,
           (int16_t *)scratch);
#else
  (void)scratch;
  conv_portable(params, quant, input_dims, input, filter_dims, filter, bias, output_dims, output,
                rows);
#endif
  return EM_OK;
}
