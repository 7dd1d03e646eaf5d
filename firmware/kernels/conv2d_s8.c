/*
 * conv2d_s8.c -- int8 CONV_2D, bit-exact with TFLite Micro's reference ConvPerChannel.
 *
 * For each output (y, x, oc):
 *   acc = bias[oc] + sum over in-image taps of filter * (input + input_offset)
 *   out = clamp(MultiplyByQuantizedMultiplier(acc, mult[oc], shift[oc]) + output_offset)
 * Padding taps are skipped (they would hold the input zero point: contribution 0).
 *
 * Two weight forms: em_conv2d_s8 takes OHWI int8 weights, em_conv2d_s8_w16 the same weights
 * pre-expanded to int16 pairs (twice the flash; the code generator picks it per layer when
 * flash allows). Two paths for each, chosen at compile time, giving identical bytes (integer
 * sums are exact):
 *   portable  -- per output channel, input_offset * sum(filter) is folded into the bias, so
 *                pixels whose taps are all in the image need one multiply-add per tap and
 *                no per-tap offset or bounds check; border pixels take the plain form
 *                (w16 weights: the plain form everywhere).
 *   EM_USE_DSP -- CMSIS-NN arm_convolve_s8 style: two output pixels are expanded once
 *                (im2col) into int16 columns with the offset added and padding as 0, shared by
 *                every output channel, then filter rows are multiplied into both columns with
 *                dual 16-bit MACs (SMLAD), two rows at a time (a 2x2 block of outputs). int8
 *                weights are read 4 per word and sign-extended (SXTB16); w16 weights are
 *                taken four channels at a time (a 4x2 block): per two taps one LDRD of the
 *                inputs, two of the weights and 8 SMLADs -- 11 instructions per 16 MACs; a
 *                one-channel input (a first layer) has its own w16 path over its few taps.
 *   EM_HOST_SIMD -- (portable path, host builds only) the host int8 engine's conv: an int16
 *                im2col column per pixel and four channels' dot products per pass, which the
 *                host compiler vectorises.
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

#if defined(EM_HOST_SIMD)
/*
 * Host builds only (EM_HOST_SIMD: the host int8 reference engine, export.host_engine; never the
 * mote): per output pixel, the im2col column as int16 (input + offset, padding taps 0) on the
 * stack, then one contiguous dot per output channel, a loop the compiler vectorises (widening
 * multiply-adds). The same integer sums as the plain definition: the same bytes.
 */
enum { HOST_MAX_TAPS = 4608 };

static int32_t host_dot(const int8_t *w, const int16_t *col, int32_t n, int32_t acc) {
  for (int32_t i = 0; i < n; ++i) acc += (int32_t)w[i] * col[i];
  return acc;
}

/* Four channels per pass over the column: each column load feeds four multiply-adds. */
static void host_dot4(const int8_t *w, const int16_t *col, int32_t n, int32_t acc[4]) {
  int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
  for (int32_t i = 0; i < n; ++i) {
    const int32_t c = col[i];
    a0 += (int32_t)w[i] * c;
    a1 += (int32_t)w[n + i] * c;
    a2 += (int32_t)w[2 * n + i] * c;
    a3 += (int32_t)w[3 * n + i] * c;
  }
  acc[0] = a0, acc[1] = a1, acc[2] = a2, acc[3] = a3;
}

static void conv_host(const em_conv_params *p, const em_quant *q, const em_dims *in_d,
                      const int8_t *input, const em_dims *f_d, const int8_t *filter,
                      const int32_t *bias, const em_dims *out_d, int8_t *output,
                      const em_rows *rows) {
  const int32_t in_c = in_d->c, out_c = out_d->c, out_w = out_d->w;
  const int32_t taps = f_d->h * f_d->w * in_c;
  int16_t col[HOST_MAX_TAPS];
  for (int32_t oy = rows->out_row_begin; oy < rows->out_row_end; ++oy) {
    const int32_t in_y0 = oy * p->stride_h - p->pad_top;
    for (int32_t ox = 0; ox < out_w; ++ox) {
      const int32_t in_x0 = ox * p->stride_w - p->pad_left;
      int32_t e = 0;
      for (int32_t ky = 0; ky < f_d->h; ++ky) {
        const int32_t y = in_y0 + ky * p->dilation_h;
        const int y_in = y >= 0 && y < in_d->h;
        for (int32_t kx = 0; kx < f_d->w; ++kx, e += in_c) {
          const int32_t x = in_x0 + kx * p->dilation_w;
          const int8_t *src = input + ((y - rows->in_row_begin) * in_d->w + x) * in_c;
          if (y_in && x >= 0 && x < in_d->w)
            for (int32_t ic = 0; ic < in_c; ++ic)
              col[e + ic] = (int16_t)(src[ic] + p->input_offset);
          else
            for (int32_t ic = 0; ic < in_c; ++ic) col[e + ic] = 0;
        }
      }
      int8_t *out = output + ((oy - rows->out_row_base) * out_w + ox) * out_c;
      int32_t acc[4];
      int32_t oc = 0;
      for (; oc + 4 <= out_c; oc += 4) {
        for (int32_t k = 0; k < 4; ++k) acc[k] = bias ? bias[oc + k] : 0;
        host_dot4(filter + oc * taps, col, taps, acc);
        for (int32_t k = 0; k < 4; ++k) {
          const int32_t j = q->per_channel ? oc + k : 0;
          out[oc + k] = em_requantize_s8(acc[k], q->multiplier[j], q->shift[j], p->output_offset,
                                         p->activation_min, p->activation_max);
        }
      }
      for (; oc < out_c; ++oc) {
        const int32_t a = host_dot(filter + oc * taps, col, taps, bias ? bias[oc] : 0);
        const int32_t j = q->per_channel ? oc : 0;
        out[oc] = em_requantize_s8(a, q->multiplier[j], q->shift[j], p->output_offset,
                                   p->activation_min, p->activation_max);
      }
    }
  }
}
#endif /* EM_HOST_SIMD */

#endif /* !EM_USE_DSP */

/* Weight of output channel oc at tap t in the w16 layout (see em_kernels.h). */
static inline int32_t w16_weight(const int32_t *w16, int32_t padded_taps, int32_t oc, int32_t t) {
  const uint32_t word = (uint32_t)w16[(oc >> 2) * 2 * padded_taps + (t & ~1) * 2 + (oc & 3)];
  return (int16_t)(t & 1 ? word >> 16 : word & 0xFFFFu);
}

void em_conv2d_s8_w16_pack(const int8_t *filter, int32_t out_c, const em_dims *f_d, int32_t *w16) {
  const int32_t taps = f_d->h * f_d->w * f_d->c;
  const int32_t padded = EM_CONV2D_S8_PADDED_TAPS(f_d->h, f_d->w, f_d->c);
  for (int32_t oc = 0; oc < (out_c + 3) / 4 * 4; ++oc) {
    for (int32_t t = 0; t < padded; t += 2) {
      const int32_t lo = oc < out_c && t < taps ? filter[oc * taps + t] : 0;
      const int32_t hi = oc < out_c && t + 1 < taps ? filter[oc * taps + t + 1] : 0;
      w16[(oc >> 2) * 2 * padded + t * 2 + (oc & 3)] =
          (int32_t)(((uint32_t)lo & 0xFFFFu) | ((uint32_t)hi << 16));
    }
  }
}

#if !defined(EM_USE_DSP)

/* The w16 weights on the portable path: the plain definition, one tap at a time. */
static void conv_portable_w16(const em_conv_params *p, const em_quant *q, const em_dims *in_d,
                              const int8_t *input, const em_dims *f_d, const int32_t *w16,
                              const int32_t *bias, const em_dims *out_d, int8_t *output,
                              const em_rows *rows) {
  const int32_t in_c = in_d->c, out_c = out_d->c, out_w = out_d->w;
  const int32_t padded = EM_CONV2D_S8_PADDED_TAPS(f_d->h, f_d->w, f_d->c);
  for (int32_t oy = rows->out_row_begin; oy < rows->out_row_end; ++oy) {
    for (int32_t ox = 0; ox < out_w; ++ox) {
      int8_t *out = output + ((oy - rows->out_row_base) * out_w + ox) * out_c;
      for (int32_t oc = 0; oc < out_c; ++oc) {
        int32_t acc = bias ? bias[oc] : 0;
        for (int32_t ky = 0; ky < f_d->h; ++ky) {
          const int32_t y = oy * p->stride_h - p->pad_top + ky * p->dilation_h;
          if (y < 0 || y >= in_d->h) continue;
          for (int32_t kx = 0; kx < f_d->w; ++kx) {
            const int32_t x = ox * p->stride_w - p->pad_left + kx * p->dilation_w;
            if (x < 0 || x >= in_d->w) continue;
            const int8_t *src = input + ((y - rows->in_row_begin) * in_d->w + x) * in_c;
            const int32_t t0 = (ky * f_d->w + kx) * in_c;
            for (int32_t ic = 0; ic < in_c; ++ic)
              acc += w16_weight(w16, padded, oc, t0 + ic) * (src[ic] + p->input_offset);
          }
        }
        const int32_t k = q->per_channel ? oc : 0;
        out[oc] = em_requantize_s8(acc, q->multiplier[k], q->shift[k], p->output_offset,
                                   p->activation_min, p->activation_max);
      }
    }
  }
}

#else /* EM_USE_DSP */

/*
 * The im2col columns of two output pixels, interleaved in one buffer of int16 (input +
 * offset; padding taps and the taps beyond the filter are 0) so that the two pixels' words
 * for the same taps sit side by side and one LDRD reads both:
 *   w16 order (int16 weights): per pair of taps k, word 2k + j holds pixel j's taps 2k, 2k+1;
 *   s8 order  (int8 weights):  per group of four taps g, words 4g + 2j and 4g + 2j + 1 hold
 *                              pixel j's taps (0, 2) and (1, 3) -- the order SXTB16 and
 *                              SXTB16 ROR #8 give the weights.
 */
enum { ORDER_W16 = 0, ORDER_S8 = 1 };

#define EM_NOINLINE __attribute__((noinline))

static inline int32_t col_index(int order, int32_t j, int32_t e) {
  static const uint8_t perm[4] = {0, 2, 1, 3};
  return order == ORDER_W16 ? (e >> 1) * 4 + 2 * j + (e & 1) : (e >> 2) * 8 + 4 * j + perm[e & 3];
}

/* in_c % 4 == 0: four channels per word (SXTB16 twice, the offset added to both halves); eight
 * per pass while they last (two loads back to back pipeline on the M4). Out of line: inlined into
 * the kernel's pixel loop it competes for registers and reloads the offset every pass. */
static EM_NOINLINE void im2col_run_w16(const int8_t *src, int32_t n, int32_t *dst,
                                       int32_t offset2) {
  const int8_t *const end8 = src + (n & ~7);
  for (; src < end8; src += 8, dst += 8) {
    const int32_t v0 = em_read_s8x4(src), v1 = em_read_s8x4(src + 4);
    const int32_t e0 = em_sadd16(em_sxtb16(v0), offset2),
                  o0 = em_sadd16(em_sxtb16_ror8(v0), offset2);
    const int32_t e1 = em_sadd16(em_sxtb16(v1), offset2),
                  o1 = em_sadd16(em_sxtb16_ror8(v1), offset2);
    dst[0] = em_pack_lo16(e0, o0);
    dst[2] = em_pack_hi16(e0, o0);
    dst[4] = em_pack_lo16(e1, o1);
    dst[6] = em_pack_hi16(e1, o1);
  }
  n &= 7;
  for (int32_t i = 0; i < n; i += 4, dst += 4) {
    const int32_t v = em_read_s8x4(src + i);
    const int32_t even = em_sadd16(em_sxtb16(v), offset2),
                  odd = em_sadd16(em_sxtb16_ror8(v), offset2);
    dst[0] = em_pack_lo16(even, odd); /* taps 0, 1 */
    dst[2] = em_pack_hi16(even, odd); /* taps 2, 3 */
  }
}

static void im2col_run_s8(const int8_t *src, int32_t n, int32_t *dst, int32_t offset2) {
  for (int32_t i = 0; i < n; i += 4, dst += 4) {
    const int32_t v = em_read_s8x4(src + i);
    dst[0] = em_sadd16(em_sxtb16(v), offset2);      /* taps 0, 2 */
    dst[1] = em_sadd16(em_sxtb16_ror8(v), offset2); /* taps 1, 3 */
  }
}

/* Any in_c (SEA-64's first layer has one channel), w16 order: one pixel's column, out of line so
 * the compiler keeps its few values in registers. */
static EM_NOINLINE void im2col_any_w16(const em_conv_params *p, const em_dims *in_d,
                                       const em_dims *f_d, const int8_t *input,
                                       int32_t in_row_begin, int32_t in_y0, int32_t in_x0,
                                       int32_t j, int16_t *cols) {
  const int32_t in_c = in_d->c, in_w = in_d->w, offset = p->input_offset;
  const int32_t padded = EM_CONV2D_S8_PADDED_TAPS(f_d->h, f_d->w, in_c);
  int32_t e = 0;
  for (int32_t ky = 0; ky < f_d->h; ++ky) {
    const int32_t y = in_y0 + ky * p->dilation_h;
    const int y_in = y >= 0 && y < in_d->h;
    const int8_t *row = input + (y_in ? (y - in_row_begin) * in_w * in_c : 0);
    for (int32_t kx = 0; kx < f_d->w; ++kx) {
      const int32_t x = in_x0 + kx * p->dilation_w;
      const int inside = y_in && x >= 0 && x < in_w;
      const int8_t *src = row + (inside ? x * in_c : 0);
      for (int32_t ic = 0; ic < in_c; ++ic, ++e)
        cols[(e >> 1) * 4 + 2 * j + (e & 1)] = (int16_t)(inside ? src[ic] + offset : 0);
    }
  }
  for (; e < padded; ++e) cols[(e >> 1) * 4 + 2 * j + (e & 1)] = 0;
}

/* Inlined into each path with its order a constant, so col_index() folds to shifts. */
#define EM_ALWAYS_INLINE inline __attribute__((always_inline))

static EM_ALWAYS_INLINE void conv_im2col(const em_conv_params *p, const em_dims *in_d,
                                         const em_dims *f_d, const int8_t *input,
                                         int32_t in_row_begin, int32_t in_y0, int32_t in_x0,
                                         int order, int32_t j, int16_t *cols) {
  const int32_t in_c = in_d->c;
  if (order == ORDER_W16 && (in_c & 3) != 0) {
    im2col_any_w16(p, in_d, f_d, input, in_row_begin, in_y0, in_x0, j, cols);
    return;
  }
  const int32_t padded = EM_CONV2D_S8_PADDED_TAPS(f_d->h, f_d->w, in_c);
  const int32_t offset2 =
      (int32_t)(((uint32_t)p->input_offset & 0xFFFFu) | ((uint32_t)p->input_offset << 16));
  int32_t *words = (int32_t *)cols;
  int32_t e = 0;
  /* A filter row wholly inside the image with dilation_w 1 is one contiguous run of input. */
  const int row_runs =
      (in_c & 3) == 0 && p->dilation_w == 1 && in_x0 >= 0 && in_x0 + f_d->w <= in_d->w;
  for (int32_t ky = 0; ky < f_d->h; ++ky) {
    const int32_t y = in_y0 + ky * p->dilation_h;
    const int y_in = y >= 0 && y < in_d->h;
    if (y_in && row_runs) {
      const int8_t *src = input + ((y - in_row_begin) * in_d->w + in_x0) * in_c;
      if (order == ORDER_W16)
        im2col_run_w16(src, f_d->w * in_c, words + e + j, offset2);
      else
        im2col_run_s8(src, f_d->w * in_c, words + e + 2 * j, offset2);
      e += f_d->w * in_c;
      continue;
    }
    for (int32_t kx = 0; kx < f_d->w; ++kx, e += in_c) {
      const int32_t x = in_x0 + kx * p->dilation_w;
      if (!y_in || x < 0 || x >= in_d->w) { /* padding: contributes 0 */
        for (int32_t ic = 0; ic < in_c; ++ic) cols[col_index(order, j, e + ic)] = 0;
        continue;
      }
      const int8_t *src = input + ((y - in_row_begin) * in_d->w + x) * in_c;
      if ((in_c & 3) == 0) { /* e is a multiple of 4 */
        if (order == ORDER_W16)
          im2col_run_w16(src, in_c, words + e + j, offset2);
        else
          im2col_run_s8(src, in_c, words + e + 2 * j, offset2);
      } else {
        for (int32_t ic = 0; ic < in_c; ++ic)
          cols[col_index(order, j, e + ic)] = (int16_t)(src[ic] + p->input_offset);
      }
    }
  }
  for (; e < padded; ++e) cols[col_index(order, j, e)] = 0;
}

/* Builds the columns of pixels pix and pix + 1 (or pix twice at the end of the range) and
 * says where their outputs go. */
static EM_ALWAYS_INLINE int32_t conv_columns(const em_conv_params *p, const em_dims *in_d,
                                             const em_dims *f_d, const em_dims *out_d,
                                             const int8_t *input, int8_t *output,
                                             const em_rows *rows, int32_t pix, int32_t n_pix,
                                             int order, int16_t *cols, int8_t *out_px[2]) {
  const int32_t n = n_pix - pix >= 2 ? 2 : 1;
  for (int32_t j = 0; j < 2; ++j) {
    const int32_t at = pix + (j < n ? j : 0);
    const int32_t oy = rows->out_row_begin + at / out_d->w;
    const int32_t ox = at % out_d->w;
    conv_im2col(p, in_d, f_d, input, rows->in_row_begin, oy * p->stride_h - p->pad_top,
                ox * p->stride_w - p->pad_left, order, j, cols);
    out_px[j] = output + ((oy - rows->out_row_base) * out_d->w + ox) * out_d->c;
  }
  return n;
}

/* One output channel's requantisation (em_multiply_by_quantized_multiplier, then the output
 * offset and the clamp), split once per channel for both pixels of a block. */
typedef struct {
  int32_t multiplier, left_shift, right_shift, mask, half_mask, saturates;
} conv_requant;

static inline conv_requant conv_requant_of(const em_quant *q, int32_t oc) {
  conv_requant r;
  const int32_t k = q->per_channel ? oc : 0, shift = q->shift[k];
  r.multiplier = q->multiplier[k];
  r.left_shift = shift > 0 ? shift : 0;
  r.right_shift = shift > 0 ? 0 : -shift;
  r.mask = (int32_t)(((int64_t)1 << r.right_shift) - 1);
  r.half_mask = r.mask >> 1;
  r.saturates = r.multiplier == INT32_MIN; /* the one SaturatingRoundingDoublingHighMul overflow */
  return r;
}

/* The output's offset and clamp, read once (int8 stores may alias the params for the compiler). */
typedef struct {
  int32_t offset, min, max;
} conv_out;

static inline int8_t conv_requant_apply(conv_out o, conv_requant r, int32_t acc) {
#if EM_SINGLE_ROUNDING
  const int32_t y =
      em_multiply_by_quantized_multiplier(acc, r.multiplier, r.left_shift - r.right_shift);
#else /* em_multiply_by_quantized_multiplier with the shift, mask and threshold split per channel \
       */
  const int32_t x = (int32_t)((uint32_t)acc << r.left_shift);
  int32_t h = (int32_t)(((int64_t)x * r.multiplier + ((int64_t)1 << 30)) >> 31);
  if (r.saturates && x == INT32_MIN) h = INT32_MAX;
  const int32_t threshold = r.half_mask + (int32_t)((uint32_t)h >> 31);
  const int32_t y = (h >> r.right_shift) + ((h & r.mask) > threshold);
#endif
  return (int8_t)em_clamp_i32(y + o.offset, o.min, o.max);
}

static inline void conv_store(conv_out o, const em_quant *q, int32_t oc, int32_t acc0, int32_t acc1,
                              int32_t n, int8_t *out_px[2]) {
  const conv_requant r = conv_requant_of(q, oc);
  out_px[0][oc] = conv_requant_apply(o, r, acc0);
  if (n == 2) out_px[1][oc] = conv_requant_apply(o, r, acc1);
}

/* (EM_NOINLINE: the dot products are kept out of line -- inlined into the pixel loop, GCC
 * spills the accumulators to the stack.) */

/* One pair of taps of the 4x2 w16 block: one LDRD of the two pixels' inputs, two LDRDs of the
 * four channels' weights, eight SMLADs -- 16 MACs in 11 instructions. */
#define EM_W16_PAIR_ASM                    \
  "ldrd %[c0], %[c1], [%[c]], #8\n\t"      \
  "ldrd %[w0], %[w1], [%[w]], #8\n\t"      \
  "smlad %[a00], %[w0], %[c0], %[a00]\n\t" \
  "smlad %[a01], %[w0], %[c1], %[a01]\n\t" \
  "smlad %[a10], %[w1], %[c0], %[a10]\n\t" \
  "smlad %[a11], %[w1], %[c1], %[a11]\n\t" \
  "ldrd %[w0], %[w1], [%[w]], #8\n\t"      \
  "smlad %[a20], %[w0], %[c0], %[a20]\n\t" \
  "smlad %[a21], %[w0], %[c1], %[a21]\n\t" \
  "smlad %[a30], %[w1], %[c0], %[a30]\n\t" \
  "smlad %[a31], %[w1], %[c1], %[a31]\n\t"
/* The loop end is read from the stack into a weight register that is free by then: all 14
 * allocatable registers hold operands. */
#define EM_W16_LOOP_END_ASM \
  "ldr %[w0], %[end]\n\t"   \
  "cmp %[w], %[w0]\n\t"     \
  "bne 1b\n\t"
#define EM_W16_OPERANDS                                                                  \
  : [a00] "+r"(a00), [a01] "+r"(a01), [a10] "+r"(a10), [a11] "+r"(a11), [a20] "+r"(a20),     \
    [a21] "+r"(a21), [a30] "+r"(a30), [a31] "+r"(a31), [w] "+r"(w), [c] "+r"(c),             \
    [w0] "=&r"(w0), [w1] "=&r"(w1), [c0] "=&r"(c0), [c1] "=&r"(c1)                          \
  : [end] "m"(end_in_memory)                                                                 \
  : "cc", "memory"

/* acc[2 * ch + px] += four channels' w16 weights . two pixels' columns, over the padded taps
 * (a multiple of 8): four pairs of taps per pass, eight when the count is a multiple of 16
 * (SEA-64's layers), which halves the loop's compare-and-branch per MAC. GCC's own schedule
 * of the C loop below spills. */
/* The 4x2 block's requantisation on the core, when conv_fast_requant_of() allows it: per channel
 * three LDRs of (multiplier, k, right) from rq, then per pixel LSL #1, SMMULR, the rounding, ASR,
 * SSAT #8 and STRB at out0/out1 + channel -- 7 instructions an output (see conv_fast_requant_of).
 */
#define EM_W16_REQUANT_ASM(a0, a1, ch, om, ok, oe) \
  "ldr %[m], [%[rq], #" om                         \
  "]\n\t"                                          \
  "ldr %[k], [%[rq], #" ok                         \
  "]\n\t"                                          \
  "ldr %[e], [%[rq], #" oe                         \
  "]\n\t"                                          \
  "lsl %[" a0 "], %[" a0                           \
  "], #1\n\t"                                      \
  "lsl %[" a1 "], %[" a1                           \
  "], #1\n\t"                                      \
  "smmulr %[" a0 "], %[" a0                        \
  "], %[m]\n\t"                                    \
  "smmulr %[" a1 "], %[" a1                        \
  "], %[m]\n\t"                                    \
  "add %[" a0 "], %[" a0 "], %[" a0                \
  "], asr #31\n\t"                                 \
  "add %[" a1 "], %[" a1 "], %[" a1                \
  "], asr #31\n\t"                                 \
  "add %[" a0 "], %[" a0                           \
  "], %[k]\n\t"                                    \
  "add %[" a1 "], %[" a1                           \
  "], %[k]\n\t"                                    \
  "asr %[" a0 "], %[" a0                           \
  "], %[e]\n\t"                                    \
  "asr %[" a1 "], %[" a1                           \
  "], %[e]\n\t"                                    \
  "ssat %[" a0 "], #8, %[" a0                      \
  "]\n\t"                                          \
  "ssat %[" a1 "], #8, %[" a1                      \
  "]\n\t"                                          \
  "strb %[" a0 "], [%[o0], #" ch                   \
  "]\n\t"                                          \
  "strb %[" a1 "], [%[o1], #" ch "]\n\t"

#if EM_DSP_NATIVE
/* The accumulators of a 4x2 block (in registers) requantised and stored: EM_W16_REQUANT_ASM. */
static EM_ALWAYS_INLINE void w16_requant_store(int32_t a00, int32_t a01, int32_t a10, int32_t a11,
                                               int32_t a20, int32_t a21, int32_t a30, int32_t a31,
                                               const int32_t *rq, int8_t *out0, int8_t *out1) {
  int32_t m, k, e;
  __asm__ volatile(
      EM_W16_REQUANT_ASM("a00", "a01", "0", "0", "4", "8")
          EM_W16_REQUANT_ASM("a10", "a11", "1", "12", "16", "20")
              EM_W16_REQUANT_ASM("a20", "a21", "2", "24", "28", "32")
                  EM_W16_REQUANT_ASM("a30", "a31", "3", "36", "40", "44")
      : [a00] "+r"(a00), [a01] "+r"(a01), [a10] "+r"(a10), [a11] "+r"(a11), [a20] "+r"(a20),
        [a21] "+r"(a21), [a30] "+r"(a30), [a31] "+r"(a31), [m] "=&r"(m), [k] "=&r"(k), [e] "=&r"(e)
      : [rq] "r"(rq), [o0] "r"(out0), [o1] "r"(out1)
      : "memory");
}
#endif

/* rq != 0: requantise the block (rq: 3 words per channel) and store it at out0/out1 (pixel 0 / 1,
 * already offset to the block's first channel); rq == 0: return the accumulators in acc.
 * unroll16: take 16 pairs of taps a pass where the count allows (fewest branches, but ~700 B of
 * loop: with the requantisation more than a 1 KB flash instruction cache such as the F405's ART
 * holds, so every block would refetch it); else at most 8 (~350 B: the block's code stays cached).
 */
static EM_ALWAYS_INLINE void conv_dot_w16_body(const int32_t *w, const int32_t *c,
                                               const int32_t *end, int32_t acc[8],
                                               const int32_t *rq, int8_t *out0, int8_t *out1,
                                               int unroll16) {
  int32_t a00 = acc[0], a01 = acc[1], a10 = acc[2], a11 = acc[3];
  int32_t a20 = acc[4], a21 = acc[5], a30 = acc[6], a31 = acc[7];
#if EM_DSP_NATIVE
  int32_t w0, w1, c0, c1;
  const int32_t *const end_in_memory = end;
  if (unroll16 && ((end - w) & 63) == 0) { /* 16 pairs a pass: SEA-64's 32- and 64-channel layers */
    __asm__ volatile(
        "1:\n\t" EM_W16_PAIR_ASM EM_W16_PAIR_ASM EM_W16_PAIR_ASM EM_W16_PAIR_ASM EM_W16_PAIR_ASM
            EM_W16_PAIR_ASM EM_W16_PAIR_ASM EM_W16_PAIR_ASM EM_W16_PAIR_ASM EM_W16_PAIR_ASM
                EM_W16_PAIR_ASM EM_W16_PAIR_ASM EM_W16_PAIR_ASM EM_W16_PAIR_ASM EM_W16_PAIR_ASM
                    EM_W16_PAIR_ASM EM_W16_LOOP_END_ASM EM_W16_OPERANDS);
  } else if (((end - w) & 31) == 0) {
    __asm__ volatile(
        "1:\n\t" EM_W16_PAIR_ASM EM_W16_PAIR_ASM EM_W16_PAIR_ASM EM_W16_PAIR_ASM EM_W16_PAIR_ASM
            EM_W16_PAIR_ASM EM_W16_PAIR_ASM EM_W16_PAIR_ASM EM_W16_LOOP_END_ASM EM_W16_OPERANDS);
  } else {
    __asm__ volatile("1:\n\t" EM_W16_PAIR_ASM EM_W16_PAIR_ASM EM_W16_PAIR_ASM EM_W16_PAIR_ASM
                         EM_W16_LOOP_END_ASM EM_W16_OPERANDS);
  }
  if (rq) {
    w16_requant_store(a00, a01, a10, a11, a20, a21, a30, a31, rq, out0, out1);
    return;
  }
#else
  (void)rq, (void)out0, (void)out1;
  do { /* the padded tap count is a multiple of 8: four pairs of taps per pass */
    for (int32_t k = 0; k < 4; ++k, w += 4, c += 2) {
      a00 = em_smlad(w[0], c[0], a00);
      a01 = em_smlad(w[0], c[1], a01);
      a10 = em_smlad(w[1], c[0], a10);
      a11 = em_smlad(w[1], c[1], a11);
      a20 = em_smlad(w[2], c[0], a20);
      a21 = em_smlad(w[2], c[1], a21);
      a30 = em_smlad(w[3], c[0], a30);
      a31 = em_smlad(w[3], c[1], a31);
    }
  } while (w != end);
#endif
  acc[0] = a00, acc[1] = a01, acc[2] = a10, acc[3] = a11;
  acc[4] = a20, acc[5] = a21, acc[6] = a30, acc[7] = a31;
}

static EM_NOINLINE void conv_dot_w16(const int32_t *w, const int32_t *c, const int32_t *end,
                                     int32_t acc[8], const int32_t *rq, int8_t *out0,
                                     int8_t *out1) {
  conv_dot_w16_body(w, c, end, acc, rq, out0, out1, 1);
}

/* The same with at most 8 pairs a pass: the tiled path's (chosen where flash has wait states). */
static EM_NOINLINE void conv_dot_w16_compact(const int32_t *w, const int32_t *c, const int32_t *end,
                                             int32_t acc[8], const int32_t *rq, int8_t *out0,
                                             int8_t *out1) {
  conv_dot_w16_body(w, c, end, acc, rq, out0, out1, 0);
}

static EM_NOINLINE void conv_dot_s8(const int8_t *w0, const int8_t *w1, const int32_t *c,
                                    int32_t taps4, int32_t acc[4]) {
  int32_t a00 = acc[0], a01 = acc[1], a10 = acc[2], a11 = acc[3];
  for (int32_t i = 0; i < taps4; i += 4, c += 4) {
    const int32_t v0 = em_read_s8x4(w0 + i), v1 = em_read_s8x4(w1 + i);
    const int32_t c0a = c[0], c0b = c[1], c1a = c[2], c1b = c[3];
    const int32_t w0a = em_sxtb16(v0), w0b = em_sxtb16_ror8(v0);
    a00 = em_smlad(w0a, c0a, a00);
    a00 = em_smlad(w0b, c0b, a00);
    a01 = em_smlad(w0a, c1a, a01);
    a01 = em_smlad(w0b, c1b, a01);
    const int32_t w1a = em_sxtb16(v1), w1b = em_sxtb16_ror8(v1);
    a10 = em_smlad(w1a, c0a, a10);
    a10 = em_smlad(w1b, c0b, a10);
    a11 = em_smlad(w1a, c1a, a11);
    a11 = em_smlad(w1b, c1b, a11);
  }
  acc[0] = a00, acc[1] = a01, acc[2] = a10, acc[3] = a11;
}

/* One input channel (SEA-64's first layer, 3x3x1: 9 taps): the taps are few, so the 8-tap
 * padding, the per-tap loop of im2col_any_w16 and the unrolled dot would cost more than the
 * MACs. The columns hold only ceil(taps / 2) pairs (the odd tail tap is 0) and the dot runs over
 * those pairs, one per pass, on the same w16 layout (pair k of a channel group is at word 4k). */
static EM_NOINLINE void im2col_c1_w16(const em_conv_params *p, const em_dims *in_d,
                                      const em_dims *f_d, const int8_t *input, int32_t in_row_begin,
                                      int32_t in_y0, int32_t in_x0, int32_t j, int16_t *cols) {
  const int32_t in_w = in_d->w, fw = f_d->w, offset = p->input_offset;
  const int32_t dh = p->dilation_h, dw = p->dilation_w;
  int16_t *dst = cols + 2 * j; /* tap e of pixel j: (e >> 1) * 4 + 2j + (e & 1) */
  int32_t e = 0;
  const int x_inside = in_x0 >= 0 && in_x0 + (fw - 1) * dw < in_w;
  if (f_d->h == 3 && fw == 3 && dh == 1 && dw == 1 && x_inside && in_y0 >= 0 &&
      in_y0 + 2 < in_d->h) {
    /* a 3x3 window wholly inside (all but the border pixels): its nine taps and the zero tenth */
    const int8_t *r0 = input + (in_y0 - in_row_begin) * in_w + in_x0, *r1 = r0 + in_w,
                 *r2 = r1 + in_w;
    dst[0] = (int16_t)(r0[0] + offset), dst[1] = (int16_t)(r0[1] + offset);
    dst[4] = (int16_t)(r0[2] + offset), dst[5] = (int16_t)(r1[0] + offset);
    dst[8] = (int16_t)(r1[1] + offset), dst[9] = (int16_t)(r1[2] + offset);
    dst[12] = (int16_t)(r2[0] + offset), dst[13] = (int16_t)(r2[1] + offset);
    dst[16] = (int16_t)(r2[2] + offset), dst[17] = 0;
    return;
  }
  for (int32_t ky = 0; ky < f_d->h; ++ky) {
    const int32_t y = in_y0 + ky * dh;
    const int y_in = y >= 0 && y < in_d->h;
    const int8_t *row = input + (y_in ? (y - in_row_begin) * in_w : 0);
    if (y_in && x_inside) {
      const int8_t *src = row + in_x0;
      for (int32_t kx = 0; kx < fw; ++kx, ++e, src += dw)
        dst[(e >> 1) * 4 + (e & 1)] = (int16_t)(*src + offset);
      continue;
    }
    for (int32_t kx = 0; kx < fw; ++kx, ++e) {
      const int32_t x = in_x0 + kx * dw;
      dst[(e >> 1) * 4 + (e & 1)] = (int16_t)(y_in && x >= 0 && x < in_w ? row[x] + offset : 0);
    }
  }
  if (e & 1) dst[(e >> 1) * 4 + 1] = 0;
}

/* acc[2 * ch + px] += four channels' w16 weights . two pixels' columns over `pairs` tap pairs,
 * one pair (16 MACs) per pass. */
static EM_NOINLINE void conv_dot_w16_pairs(const int32_t *w, const int32_t *c, const int32_t *end,
                                           int32_t acc[8], const int32_t *rq, int8_t *out0,
                                           int8_t *out1) {
  int32_t a00 = acc[0], a01 = acc[1], a10 = acc[2], a11 = acc[3];
  int32_t a20 = acc[4], a21 = acc[5], a30 = acc[6], a31 = acc[7];
#if EM_DSP_NATIVE
  int32_t w0, w1, c0, c1;
  const int32_t *const end_in_memory = end;
  if (end - w == 20) /* a 3x3 filter's five pairs, straight through */
    __asm__ volatile(EM_W16_PAIR_ASM EM_W16_PAIR_ASM EM_W16_PAIR_ASM EM_W16_PAIR_ASM EM_W16_PAIR_ASM
                         EM_W16_OPERANDS);
  else
    __asm__ volatile("1:\n\t" EM_W16_PAIR_ASM EM_W16_LOOP_END_ASM EM_W16_OPERANDS);
  if (rq) {
    w16_requant_store(a00, a01, a10, a11, a20, a21, a30, a31, rq, out0, out1);
    return;
  }
#else
  (void)rq, (void)out0, (void)out1;
  do {
    a00 = em_smlad(w[0], c[0], a00);
    a01 = em_smlad(w[0], c[1], a01);
    a10 = em_smlad(w[1], c[0], a10);
    a11 = em_smlad(w[1], c[1], a11);
    a20 = em_smlad(w[2], c[0], a20);
    a21 = em_smlad(w[2], c[1], a21);
    a30 = em_smlad(w[3], c[0], a30);
    a31 = em_smlad(w[3], c[1], a31);
    w += 4, c += 2;
  } while (w != end);
#endif
  acc[0] = a00, acc[1] = a01, acc[2] = a10, acc[3] = a11;
  acc[4] = a20, acc[5] = a21, acc[6] = a30, acc[7] = a31;
}

/* The requantisation of the core path (EM_W16_REQUANT_ASM) for 4 channels from oc, 3 words each:
 * multiplier, k = 2^(right-1) + (output_offset << right), right. It is TFLM's double rounding:
 *   SaturatingRoundingDoublingHighMul(acc, m) = floor((acc * m + 2^30) / 2^31) = SMMULR(2 acc, m)
 *     when |acc| < 2^30 (and m != INT32_MIN, the one saturating case);
 *   RoundingDivideByPOT(h, e), e >= 1 = (h + 2^(e-1) + (h < 0 ? -1 : 0)) >> e, and adding
 *     output_offset << e before the shift adds output_offset after it (exactly: arithmetic shift);
 *   SSAT #8 is the clamp when the activation range is the whole int8.
 * conv_fast_requant_ok() says whether a call's channels all qualify: multiplier >= 0, a right
 * shift of 1..22 (so output_offset << right and the sums stay within int32 for |h| <= 2^30),
 * out_c % 4 == 0, and |bias| + taps * 127 * 255 < 2^30 (|input + offset| <= 255, |w| <= 127). */
static int conv_fast_requant_ok(const em_conv_params *p, const em_quant *q, const int32_t *bias,
                                int32_t out_c, int32_t taps) {
#if EM_DSP_NATIVE && !EM_SINGLE_ROUNDING
  if (out_c % 4 != 0 || p->activation_min != -128 || p->activation_max != 127) return 0;
  const int64_t mac_bound = (int64_t)taps * 127 * 255;
  for (int32_t oc = 0; oc < out_c; ++oc) {
    const int32_t k = q->per_channel ? oc : 0;
    const int64_t b = bias ? bias[oc] : 0;
    if (q->multiplier[k] < 0 || q->shift[k] > -1 || q->shift[k] < -22 ||
        (b < 0 ? -b : b) + mac_bound >= ((int64_t)1 << 30))
      return 0;
  }
  return 1;
#else
  (void)p, (void)q, (void)bias, (void)out_c, (void)taps;
  return 0;
#endif
}

static void conv_fast_requant_of(const em_conv_params *p, const em_quant *q, int32_t oc,
                                 int32_t rq[12]) {
  for (int32_t j = 0; j < 4; ++j) {
    const int32_t k = q->per_channel ? oc + j : 0, right = -q->shift[k];
    rq[3 * j] = q->multiplier[k];
    rq[3 * j + 1] = ((int32_t)1 << (right - 1)) + (int32_t)((uint32_t)p->output_offset << right);
    rq[3 * j + 2] = right;
  }
}

/* Both per-call tables of the fast path: rq (3 words per channel, conv_fast_requant_of) and acc0
 * (each channel's bias twice: a 4x2 block's starting accumulators, read in place by the dot). */
static void conv_fast_tables(const em_conv_params *p, const em_quant *q, const int32_t *bias,
                             int32_t out_c, int32_t *rq, int32_t *acc0) {
  for (int32_t oc = 0; oc < out_c; oc += 4) conv_fast_requant_of(p, q, oc, rq + 3 * oc);
  for (int32_t oc = 0; oc < out_c; ++oc) acc0[2 * oc] = acc0[2 * oc + 1] = bias ? bias[oc] : 0;
}

static void conv_dsp_w16_c1(const em_conv_params *p, const em_quant *q, const em_dims *in_d,
                            const int8_t *input, const em_dims *f_d, const int32_t *w16,
                            const int32_t *bias, const em_dims *out_d, int8_t *output,
                            const em_rows *rows, int16_t *cols) {
  const int32_t out_c = out_d->c, out_w = out_d->w;
  const int32_t padded = EM_CONV2D_S8_PADDED_TAPS(f_d->h, f_d->w, 1);
  const int32_t pairs = (f_d->h * f_d->w + 1) / 2;
  const int32_t n_pix = (rows->out_row_end - rows->out_row_begin) * out_w;
  const int32_t *colw = (const int32_t *)cols;
  const conv_out o = {p->output_offset, p->activation_min, p->activation_max};
  int8_t *out_px[2];
  /* the blocks are short (ceil(taps / 2) pairs): the requantisation table is built once */
  enum { C1_FAST_MAX_CHANNELS = 64 };
  int32_t rq[3 * C1_FAST_MAX_CHANNELS], acc0[2 * C1_FAST_MAX_CHANNELS];
  const int fast =
      out_c <= C1_FAST_MAX_CHANNELS && conv_fast_requant_ok(p, q, bias, out_c, f_d->h * f_d->w);
  if (fast) conv_fast_tables(p, q, bias, out_c, rq, acc0);
  for (int32_t pix = 0; pix < n_pix; pix += 2) {
    const int32_t n = n_pix - pix >= 2 ? 2 : 1;
    for (int32_t j = 0; j < 2; ++j) {
      const int32_t at = pix + (j < n ? j : 0);
      const int32_t oy = rows->out_row_begin + at / out_w, ox = at % out_w;
      im2col_c1_w16(p, in_d, f_d, input, rows->in_row_begin, oy * p->stride_h - p->pad_top,
                    ox * p->stride_w - p->pad_left, j, cols);
      out_px[j] = output + ((oy - rows->out_row_base) * out_w + ox) * out_c;
    }
    const int32_t *w = w16;
    for (int32_t oc = 0; oc < out_c; oc += 4, w += 2 * padded) {
      if (fast) { /* the accumulators start from the bias table: read, never written */
        conv_dot_w16_pairs(w, colw, w + 4 * pairs, acc0 + 2 * oc, rq + 3 * oc, out_px[0] + oc,
                           out_px[1] + oc);
        continue;
      }
      int32_t acc[8];
      for (int32_t k = 0; k < 4; ++k)
        acc[2 * k] = acc[2 * k + 1] = bias && oc + k < out_c ? bias[oc + k] : 0;
      conv_dot_w16_pairs(w, colw, w + 4 * pairs, acc, 0, 0, 0);
      for (int32_t k = 0; k < 4 && oc + k < out_c; ++k)
        conv_store(o, q, oc + k, acc[2 * k], acc[2 * k + 1], n, out_px);
    }
  }
}

/* int16 weights: a 4x2 block of outputs (channels x pixels) per pass of conv_dot_w16. */
static void conv_dsp_w16(const em_conv_params *p, const em_quant *q, const em_dims *in_d,
                         const int8_t *input, const em_dims *f_d, const int32_t *w16,
                         const int32_t *bias, const em_dims *out_d, int8_t *output,
                         const em_rows *rows, int16_t *cols) {
  if (in_d->c == 1) {
    conv_dsp_w16_c1(p, q, in_d, input, f_d, w16, bias, out_d, output, rows, cols);
    return;
  }
  const int32_t out_c = out_d->c;
  const int32_t padded = EM_CONV2D_S8_PADDED_TAPS(f_d->h, f_d->w, f_d->c);
  const int32_t n_pix = (rows->out_row_end - rows->out_row_begin) * out_d->w;
  const int32_t *colw = (const int32_t *)cols;
  const conv_out o = {p->output_offset, p->activation_min, p->activation_max};
  int8_t *out_px[2];
  /* the requantisation table of conv_fast_requant_of, once per call for up to 128 channels (1.5 KiB
   * of stack), else per block */
  enum { FAST_TABLE_CHANNELS = 128 };
  int32_t rq_all[3 * FAST_TABLE_CHANNELS], acc0[2 * FAST_TABLE_CHANNELS];
  const int fast = conv_fast_requant_ok(p, q, bias, out_c, f_d->h * f_d->w * f_d->c);
  const int table = fast && out_c <= FAST_TABLE_CHANNELS;
  if (table) conv_fast_tables(p, q, bias, out_c, rq_all, acc0);
  for (int32_t pix = 0; pix < n_pix; pix += 2) {
    const int32_t n =
        conv_columns(p, in_d, f_d, out_d, input, output, rows, pix, n_pix, ORDER_W16, cols, out_px);
    const int32_t *w = w16;
    for (int32_t oc = 0; oc < out_c; oc += 4, w += 2 * padded) {
      if (table) { /* a single pixel's block has out_px[1] == out_px[0]: the same values twice */
        conv_dot_w16(w, colw, w + 2 * padded, acc0 + 2 * oc, rq_all + 3 * oc, out_px[0] + oc,
                     out_px[1] + oc);
        continue;
      }
      int32_t acc[8], rq[12];
      for (int32_t k = 0; k < 4; ++k)
        acc[2 * k] = acc[2 * k + 1] = bias && oc + k < out_c ? bias[oc + k] : 0;
      if (fast) {
        conv_fast_requant_of(p, q, oc, rq);
        conv_dot_w16(w, colw, w + 2 * padded, acc, rq, out_px[0] + oc, out_px[1] + oc);
        continue;
      }
      conv_dot_w16(w, colw, w + 2 * padded, acc, 0, 0, 0);
      for (int32_t k = 0; k < 4 && oc + k < out_c; ++k)
        conv_store(o, q, oc + k, acc[2 * k], acc[2 * k + 1], n, out_px);
    }
  }
}

/* int8 weights (CMSIS-NN arm_nn_mat_mult_kernel_s8_s16 style): per four taps, two weight
 * words sign-extended to int16 pairs (SXTB16) and the two pixels' columns feed 8 SMLADs. */
static void conv_dsp_s8(const em_conv_params *p, const em_quant *q, const em_dims *in_d,
                        const int8_t *input, const em_dims *f_d, const int8_t *filter,
                        const int32_t *bias, const em_dims *out_d, int8_t *output,
                        const em_rows *rows, int16_t *cols) {
  const int32_t out_c = out_d->c;
  const int32_t taps = f_d->h * f_d->w * in_d->c;
  const int32_t taps4 = taps & ~3;
  const int32_t n_pix = (rows->out_row_end - rows->out_row_begin) * out_d->w;
  const int32_t *colw = (const int32_t *)cols;
  const conv_out o = {p->output_offset, p->activation_min, p->activation_max};
  int8_t *out_px[2];
  for (int32_t pix = 0; pix < n_pix; pix += 2) {
    const int32_t n =
        conv_columns(p, in_d, f_d, out_d, input, output, rows, pix, n_pix, ORDER_S8, cols, out_px);
    for (int32_t oc = 0; oc < out_c; oc += 2) {
      const int two = oc + 1 < out_c;
      const int8_t *w0 = filter + oc * taps, *w1 = two ? w0 + taps : w0;
      int32_t a00 = bias ? bias[oc] : 0, a10 = two && bias ? bias[oc + 1] : 0;
      int32_t a01 = a00, a11 = a10;
      int32_t acc[4] = {a00, a01, a10, a11};
      conv_dot_s8(w0, w1, colw, taps4, acc);
      a00 = acc[0], a01 = acc[1], a10 = acc[2], a11 = acc[3];
      for (int32_t e = taps4; e < taps; ++e) {
        const int32_t x0 = cols[col_index(ORDER_S8, 0, e)], x1 = cols[col_index(ORDER_S8, 1, e)];
        a00 += w0[e] * x0;
        a01 += w0[e] * x1;
        a10 += w1[e] * x0;
        a11 += w1[e] * x1;
      }
      conv_store(o, q, oc, a00, a01, n, out_px);
      if (two) conv_store(o, q, oc + 1, a10, a11, n, out_px);
    }
  }
}

/*
 * Weights-stationary tiling (em_conv2d_s8_tiled): the int8 weights stay in flash and are read
 * once per pass, sequentially, four output channels at a time, expanded into a RAM tile in the
 * w16 layout; the tile then feeds the w16 4x2 blocks of every pixel pair of the pass, whose
 * im2col columns were built once at the start of the pass. The MAC loop reads RAM only.
 * Scratch (EM_CONV2D_S8_TILED_DSP_BUFFER_BYTES): the tile (2P words), then the columns of
 * ceil(pass / 2) pixel pairs (P words each); with one input channel the tile holds every
 * channel group and the one-channel w16 path runs on it.
 */

/* Channels oc0..oc0+3 of an OHWI int8 filter (taps per channel) in the w16 layout of one group:
 * word 4k + j = channel oc0 + j's taps 2k, 2k + 1 (0 beyond taps and beyond out_c). */
static EM_NOINLINE void w16_expand_group(const int8_t *filter, int32_t out_c, int32_t oc0,
                                         int32_t taps, int32_t padded, int32_t *tile) {
  const int32_t n4 = (taps & 3) == 0 ? taps : 0;
  for (int32_t j = 0; j < 4; ++j) {
    int32_t *dst = tile + j;
    if (oc0 + j >= out_c) {
      for (int32_t k = 0; k < padded / 2; ++k) dst[4 * k] = 0;
      continue;
    }
    const int8_t *src = filter + (oc0 + j) * taps;
    int32_t t = 0;
    /* four taps a word: SXTB16 gives taps (0, 2) and (1, 3), PKHBT / PKHTB the pairs (0, 1), (2,
     * 3); sixteen a pass while they last (SEA-64's layers: taps % 16 == 0), so the four loads
     * pipeline and the loop's compare-and-branch is paid once per 16 weights */
    for (; t + 16 <= n4; t += 16, dst += 32) {
      const int32_t v0 = em_read_s8x4(src + t), v1 = em_read_s8x4(src + t + 4);
      const int32_t v2 = em_read_s8x4(src + t + 8), v3 = em_read_s8x4(src + t + 12);
      const int32_t e0 = em_sxtb16(v0), o0 = em_sxtb16_ror8(v0);
      const int32_t e1 = em_sxtb16(v1), o1 = em_sxtb16_ror8(v1);
      dst[0] = em_pack_lo16(e0, o0);
      dst[4] = em_pack_hi16(e0, o0);
      dst[8] = em_pack_lo16(e1, o1);
      dst[12] = em_pack_hi16(e1, o1);
      const int32_t e2 = em_sxtb16(v2), o2 = em_sxtb16_ror8(v2);
      const int32_t e3 = em_sxtb16(v3), o3 = em_sxtb16_ror8(v3);
      dst[16] = em_pack_lo16(e2, o2);
      dst[20] = em_pack_hi16(e2, o2);
      dst[24] = em_pack_lo16(e3, o3);
      dst[28] = em_pack_hi16(e3, o3);
    }
    for (; t < n4; t += 4, dst += 8) {
      const int32_t v = em_read_s8x4(src + t);
      const int32_t even = em_sxtb16(v), odd = em_sxtb16_ror8(v);
      dst[0] = em_pack_lo16(even, odd);
      dst[4] = em_pack_hi16(even, odd);
    }
    for (; t < padded; t += 2, dst += 4) {
      const int32_t lo = t < taps ? src[t] : 0, hi = t + 1 < taps ? src[t + 1] : 0;
      dst[0] = (int32_t)(((uint32_t)lo & 0xFFFFu) | ((uint32_t)hi << 16));
    }
  }
}

/* Where pixel pix of the call (and the next, or pix again at the end) write their outputs. */
static inline int32_t tiled_out_px(const em_dims *out_d, int8_t *output, const em_rows *rows,
                                   int32_t pix, int32_t n_pix, int8_t *out_px[2]) {
  const int32_t n = n_pix - pix >= 2 ? 2 : 1;
  for (int32_t j = 0; j < 2; ++j) {
    const int32_t at = pix + (j < n ? j : 0);
    const int32_t oy = rows->out_row_begin + at / out_d->w, ox = at % out_d->w;
    out_px[j] = output + ((oy - rows->out_row_base) * out_d->w + ox) * out_d->c;
  }
  return n;
}

static void conv_dsp_tiled(const em_conv_params *p, const em_quant *q, const em_dims *in_d,
                           const int8_t *input, const em_dims *f_d, const int8_t *filter,
                           const int32_t *bias, const em_dims *out_d, int8_t *output,
                           const em_rows *rows, int32_t pass_pixels, int32_t *scratch) {
  const int32_t out_c = out_d->c, taps = f_d->h * f_d->w * f_d->c;
  const int32_t padded = EM_CONV2D_S8_PADDED_TAPS(f_d->h, f_d->w, f_d->c);
  if (in_d->c == 1) { /* every channel group in the tile, then the one-channel w16 path */
    for (int32_t oc = 0; oc < out_c; oc += 4)
      w16_expand_group(filter, out_c, oc, taps, padded, scratch + (oc >> 2) * 2 * padded);
    conv_dsp_w16_c1(p, q, in_d, input, f_d, scratch, bias, out_d, output, rows,
                    (int16_t *)(scratch + EM_CONV2D_S8_W16_WORDS(out_c, f_d->h, f_d->w, 1)));
    return;
  }
  int32_t *const tile = scratch, *const colw = scratch + 2 * padded;
  const int32_t n_pix = (rows->out_row_end - rows->out_row_begin) * out_d->w;
  const int32_t pass = pass_pixels < 2 ? 2 : (pass_pixels + 1) & ~1;
  const conv_out o = {p->output_offset, p->activation_min, p->activation_max};
  enum { FAST_TABLE_CHANNELS = 128 };
  int32_t rq_all[3 * FAST_TABLE_CHANNELS], acc0[2 * FAST_TABLE_CHANNELS];
  const int fast = conv_fast_requant_ok(p, q, bias, out_c, taps);
  const int table = fast && out_c <= FAST_TABLE_CHANNELS;
  if (table) conv_fast_tables(p, q, bias, out_c, rq_all, acc0);
  for (int32_t pix0 = 0; pix0 < n_pix; pix0 += pass) {
    const int32_t pix_end = pix0 + pass < n_pix ? pix0 + pass : n_pix;
    int8_t *out_px[2];
    for (int32_t pix = pix0; pix < pix_end; pix += 2)
      (void)conv_columns(p, in_d, f_d, out_d, input, output, rows, pix, n_pix, ORDER_W16,
                         (int16_t *)(colw + ((pix - pix0) >> 1) * padded), out_px);
    for (int32_t oc = 0; oc < out_c; oc += 4) {
      w16_expand_group(filter, out_c, oc, taps, padded, tile);
      int32_t rq[12];
      if (fast && !table) conv_fast_requant_of(p, q, oc, rq);
      for (int32_t pix = pix0; pix < pix_end; pix += 2) {
        const int32_t *c = colw + ((pix - pix0) >> 1) * padded;
        const int32_t n = tiled_out_px(out_d, output, rows, pix, n_pix, out_px);
        if (table) {
          conv_dot_w16_compact(tile, c, tile + 2 * padded, acc0 + 2 * oc, rq_all + 3 * oc,
                               out_px[0] + oc, out_px[1] + oc);
          continue;
        }
        int32_t acc[8];
        for (int32_t k = 0; k < 4; ++k)
          acc[2 * k] = acc[2 * k + 1] = bias && oc + k < out_c ? bias[oc + k] : 0;
        if (fast) {
          conv_dot_w16_compact(tile, c, tile + 2 * padded, acc, rq, out_px[0] + oc, out_px[1] + oc);
          continue;
        }
        conv_dot_w16_compact(tile, c, tile + 2 * padded, acc, 0, 0, 0);
        for (int32_t k = 0; k < 4 && oc + k < out_c; ++k)
          conv_store(o, q, oc + k, acc[2 * k], acc[2 * k + 1], n, out_px);
      }
    }
  }
}

/*
 * Winograd F(2x2, 3x3) (em_conv2d_s8_wino), integer-exact: a 2x2 block of outputs from a 4x4 input
 * tile with 16 multiplications per (input, output) channel instead of 36.
 *   U = G' g G'^T with G' = 2G = [[2,0,0],[1,1,1],[1,-1,1],[0,0,2]] (integers: U = 4 x the textbook
 *     transform, |U| <= 9 * 127 = 1143), computed at run time from the int8 flash weights into a
 * RAM tile, four output channels at a time; V = B^T d B of the input tile d = input + input_offset
 * (|d| <= 255, padding 0; |V| <= 1020); M = sum over input channels of U . V (SMLAD on channel
 * pairs, the w16 4x2 dot: 4 channels x 2 tiles), Y' = A^T M A = 4 x the exact int32 sum of the
 * plain convolution (for in_c <= 192, |Y'| < 9 * 1143 * 1020 * 192 < 2^31), so the sum is Y' >> 2,
 * exactly; bias and the requantisation follow as in every path. Channel pairs: in each quad of
 * input channels, (ic, ic + 2) and (ic + 1, ic + 3) -- the halves SXTB16 gives -- for U and V alike
 * (the sum does not depend on how channels are paired). Scratch: V of every tile of a pass's tile
 * rows (pass_tile_rows x 16 transforms x tile pairs x in_c / 2 pairs x 2 tiles) and the U tile of
 * one channel group (16 x in_c / 2 x 4 channels): the weights are transformed once per pass, so a
 * pass of R tile rows (2R output rows) transforms them 1/R as often as a pass of one.
 */
#if EM_DSP_NATIVE
static inline int32_t wino_ssub16(int32_t x, int32_t y) {
  return __ssub16(x, y);
}
#else
static inline int32_t wino_ssub16(int32_t x, int32_t y) {
  return em_pack_i16x2((int16_t)(x & 0xFFFF) - (int16_t)(y & 0xFFFF),
                       (int16_t)((uint32_t)x >> 16) - (int16_t)((uint32_t)y >> 16));
}
#endif

/* U of output channel oc, all 16 transforms of quad q: at u[(xi * k2 + 2q + h) * 4], h = 0 for
 * channels (4q, 4q+2), 1 for (4q+1, 4q+3). Column pass (G' g) from three loads per column, the
 * row pass ((G' g) G'^T) stored at a stride of k2 * 4 words per transform. */
static EM_NOINLINE void wino_weights_quad(const int8_t *filter, int32_t in_c, int32_t oc, int32_t q,
                                          int32_t k2, int32_t *u) {
  const int8_t *src = filter + oc * 9 * in_c + 4 * q;
  int32_t sm[2][4][3]; /* [h][row i][column c] of G' g */
  for (int32_t c = 0; c < 3; ++c) {
    const int32_t v0 = em_read_s8x4(src + c * in_c), v1 = em_read_s8x4(src + (3 + c) * in_c),
                  v2 = em_read_s8x4(src + (6 + c) * in_c);
    int32_t g0 = em_sxtb16(v0), g1 = em_sxtb16(v1), g2 = em_sxtb16(v2);
    int32_t t = em_sadd16(g0, g2);
    sm[0][0][c] = em_sadd16(g0, g0);
    sm[0][1][c] = em_sadd16(t, g1);
    sm[0][2][c] = wino_ssub16(t, g1);
    sm[0][3][c] = em_sadd16(g2, g2);
    g0 = em_sxtb16_ror8(v0), g1 = em_sxtb16_ror8(v1), g2 = em_sxtb16_ror8(v2);
    t = em_sadd16(g0, g2);
    sm[1][0][c] = em_sadd16(g0, g0);
    sm[1][1][c] = em_sadd16(t, g1);
    sm[1][2][c] = wino_ssub16(t, g1);
    sm[1][3][c] = em_sadd16(g2, g2);
  }
  const int32_t stride = k2 * 4;
  for (int32_t h = 0; h < 2; ++h) {
    int32_t *d = u + (2 * q + h) * 4;
    for (int32_t i = 0; i < 4; ++i, d += 4 * stride) {
      const int32_t s0 = sm[h][i][0], s1 = sm[h][i][1], s2 = sm[h][i][2];
      const int32_t t = em_sadd16(s0, s2);
      d[0] = em_sadd16(s0, s0);
      d[stride] = em_sadd16(t, s1);
      d[2 * stride] = wino_ssub16(t, s1);
      d[3 * stride] = em_sadd16(s2, s2);
    }
  }
}

/* V of the 4x4 tile at input (y0, x0), quad q, into v[(xi * npairs) * k2 * 2 + ...] (the caller
 * offsets v to its tile pair, pair and slot). Rows outside the image or the buffer are zeros (an
 * absent row only feeds a tile row the call does not ask for). */
static void wino_input_quad(const em_conv_params *p, const em_dims *in_d, const int8_t *input,
                            const em_rows *rows, int32_t y0, int32_t x0, int32_t q,
                            int32_t xi_stride, int32_t *v) {
  const int32_t in_w = in_d->w, in_c = in_d->c;
  const int32_t offset2 =
      (int32_t)(((uint32_t)p->input_offset & 0xFFFFu) | ((uint32_t)p->input_offset << 16));
  int32_t d[2][4][4];
  for (int32_t r = 0; r < 4; ++r) {
    const int32_t y = y0 + r;
    const int y_in =
        y >= 0 && y < in_d->h && y >= rows->in_row_begin && y < rows->in_row_begin + rows->in_rows;
    const int8_t *row = input + (y_in ? (y - rows->in_row_begin) * in_w * in_c : 0) + 4 * q;
    for (int32_t c = 0; c < 4; ++c) {
      const int32_t x = x0 + c;
      if (!y_in || x < 0 || x >= in_w) {
        d[0][r][c] = d[1][r][c] = 0;
        continue;
      }
      const int32_t w = em_read_s8x4(row + x * in_c);
      d[0][r][c] = em_sadd16(em_sxtb16(w), offset2);
      d[1][r][c] = em_sadd16(em_sxtb16_ror8(w), offset2);
    }
  }
  for (int32_t h = 0; h < 2; ++h) {
    int32_t t[4][4];
    for (int32_t c = 0; c < 4; ++c) { /* B^T d, column c */
      const int32_t d0 = d[h][0][c], d1 = d[h][1][c], d2 = d[h][2][c], d3 = d[h][3][c];
      t[0][c] = wino_ssub16(d0, d2);
      t[1][c] = em_sadd16(d1, d2);
      t[2][c] = wino_ssub16(d2, d1);
      t[3][c] = wino_ssub16(d1, d3);
    }
    int32_t *dst = v + h * 2;
    for (int32_t i = 0; i < 4; ++i) { /* (B^T d) B, row i */
      const int32_t t0 = t[i][0], t1 = t[i][1], t2 = t[i][2], t3 = t[i][3];
      dst[(4 * i + 0) * xi_stride] = wino_ssub16(t0, t2);
      dst[(4 * i + 1) * xi_stride] = em_sadd16(t1, t2);
      dst[(4 * i + 2) * xi_stride] = wino_ssub16(t2, t1);
      dst[(4 * i + 3) * xi_stride] = wino_ssub16(t1, t3);
    }
  }
}

/* M of one channel group and tile pair: the 16 transforms' 4x2 dots (u: k2 * 4 words per transform,
 * v: xi_stride words per transform; k2 * 4 a multiple of 16) in one call, the accumulators starting
 * at 0 in registers and stored straight into m -- a call per transform cost ~70 instructions of
 * set-up. */
static EM_NOINLINE void wino_dot16(const int32_t *u, const int32_t *v, int32_t k2,
                                   int32_t xi_stride, int32_t m[16][8]) {
  for (int32_t xi = 0; xi < 16; ++xi, u += k2 * 4, v += xi_stride) {
#if EM_DSP_NATIVE
    int32_t a00 = 0, a01 = 0, a10 = 0, a11 = 0, a20 = 0, a21 = 0, a30 = 0, a31 = 0;
    int32_t w0, w1, c0, c1;
    const int32_t *w = u, *c = v;
    const int32_t *const end_in_memory = u + k2 * 4;
    if ((k2 & 7) == 0) /* 8 pairs a pass */
      __asm__ volatile(
          "1:\n\t" EM_W16_PAIR_ASM EM_W16_PAIR_ASM EM_W16_PAIR_ASM EM_W16_PAIR_ASM EM_W16_PAIR_ASM
              EM_W16_PAIR_ASM EM_W16_PAIR_ASM EM_W16_PAIR_ASM EM_W16_LOOP_END_ASM EM_W16_OPERANDS);
    else
      __asm__ volatile("1:\n\t" EM_W16_PAIR_ASM EM_W16_PAIR_ASM EM_W16_PAIR_ASM EM_W16_PAIR_ASM
                           EM_W16_LOOP_END_ASM EM_W16_OPERANDS);
    int32_t *mm = m[xi];
    mm[0] = a00, mm[1] = a01, mm[2] = a10, mm[3] = a11;
    mm[4] = a20, mm[5] = a21, mm[6] = a30, mm[7] = a31;
#else
    for (int32_t k = 0; k < 8; ++k) m[xi][k] = 0;
    conv_dot_w16_body(u, v, u + k2 * 4, m[xi], 0, 0, 0, 0);
#endif
  }
}

/* One output through conv_fast_requant_of's (multiplier, k, right): EM_W16_REQUANT_ASM for a single
 * value, 6 instructions (only where conv_fast_requant_ok allows it: EM_DSP_NATIVE). */
static EM_ALWAYS_INLINE int8_t wino_requant_fast(int32_t acc, const int32_t *rq) {
#if EM_DSP_NATIVE
  __asm__(
      "lsl %[a], %[a], #1\n\t"
      "smmulr %[a], %[a], %[m]\n\t"
      "add %[a], %[a], %[a], asr #31\n\t"
      "add %[a], %[a], %[k]\n\t"
      "asr %[a], %[a], %[e]\n\t"
      "ssat %[a], #8, %[a]\n\t"
      : [a] "+r"(acc)
      : [m] "r"(rq[0]), [k] "r"(rq[1]), [e] "r"(rq[2]));
  return (int8_t)acc;
#else
  (void)rq;
  return (int8_t)acc; /* unreachable: conv_fast_requant_ok() is 0 without the native DSP */
#endif
}

static void conv_dsp_wino(const em_conv_params *p, const em_quant *q, const em_dims *in_d,
                          const int8_t *input, const int8_t *filter, const int32_t *bias,
                          const em_dims *out_d, int8_t *output, const em_rows *rows,
                          int32_t pass_tile_rows, int32_t *scratch) {
  const int32_t in_c = in_d->c, out_c = out_d->c, out_w = out_d->w, k2 = in_c / 2;
  const int32_t n_tiles = (out_w + 1) / 2, n_pairs = (n_tiles + 1) / 2;
  const int32_t xi_stride = n_pairs * k2 * 2; /* words between transforms in V */
  const int32_t v_words = 16 * xi_stride;     /* V of one tile row */
  int32_t *const vbuf = scratch, *const ubuf = scratch + pass_tile_rows * v_words;
  const conv_out o = {p->output_offset, p->activation_min, p->activation_max};
  /* the sums are the plain convolution's: the fast requantisation's conditions are the same */
  const int fast = conv_fast_requant_ok(p, q, bias, out_c, 9 * in_c);
  int32_t rq[12];
  /* a pass: up to pass_tile_rows tile rows (output row pairs) whose input transforms are held at
   * once, so each channel group's weights are transformed once per pass */
  for (int32_t ty0 = rows->out_row_begin; ty0 < rows->out_row_end; ty0 += 2 * pass_tile_rows) {
    int32_t n_tr = (rows->out_row_end - ty0 + 1) / 2;
    if (n_tr > pass_tile_rows) n_tr = pass_tile_rows;
    for (int32_t r = 0; r < n_tr; ++r) {
      const int32_t y0 = ty0 + 2 * r - p->pad_top;
      int32_t *const vr = vbuf + r * v_words;
      for (int32_t t = 0; t < 2 * n_pairs; ++t) /* V of every tile of the tile row */
        for (int32_t qd = 0; qd < in_c / 4; ++qd)
          wino_input_quad(p, in_d, input, rows, y0, 2 * t - p->pad_left, qd, xi_stride,
                          vr + ((t >> 1) * k2 + 2 * qd) * 2 + (t & 1));
    }
    for (int32_t oc0 = 0; oc0 < out_c; oc0 += 4) {
      for (int32_t j = 0; j < 4; ++j) { /* U of the group's channels */
        if (oc0 + j >= out_c) {
          for (int32_t i = 0; i < 16 * k2; ++i) ubuf[i * 4 + j] = 0;
          continue;
        }
        for (int32_t qd = 0; qd < in_c / 4; ++qd)
          wino_weights_quad(filter, in_c, oc0 + j, qd, k2, ubuf + j);
      }
      if (fast) conv_fast_requant_of(p, q, oc0, rq);
      for (int32_t r = 0; r < n_tr; ++r) {
        const int32_t ty = ty0 + 2 * r;
        const int32_t n_rows = rows->out_row_end - ty >= 2 ? 2 : 1;
        const int32_t *const vr = vbuf + r * v_words;
        for (int32_t tp = 0; tp < n_pairs; ++tp) {
          int32_t m[16][8];
          wino_dot16(ubuf, vr + tp * k2 * 2, k2, xi_stride, m);
          for (int32_t j = 0; j < 4 && oc0 + j < out_c; ++j) {
            const conv_requant rr = conv_requant_of(q, oc0 + j);
            const int32_t b = bias ? bias[oc0 + j] : 0;
            for (int32_t tt = 0; tt < 2; ++tt) {
              const int32_t x = 2 * (2 * tp + tt);
              if (x >= out_w) break;
              const int32_t a = 2 * j + tt;
              int32_t p0[4], p1[4];
              for (int32_t c = 0; c < 4; ++c) { /* A^T M */
                p0[c] = m[c][a] + m[4 + c][a] + m[8 + c][a];
                p1[c] = m[4 + c][a] - m[8 + c][a] - m[12 + c][a];
              }
              const int32_t y00 = ((p0[0] + p0[1] + p0[2]) >> 2) + b;
              const int32_t y01 = ((p0[1] - p0[2] - p0[3]) >> 2) + b;
              const int32_t y10 = ((p1[0] + p1[1] + p1[2]) >> 2) + b;
              const int32_t y11 = ((p1[1] - p1[2] - p1[3]) >> 2) + b;
              int8_t *out = output + ((ty - rows->out_row_base) * out_w + x) * out_c + oc0 + j;
              const int two_cols = x + 1 < out_w;
              if (fast) {
                const int32_t *rj = rq + 3 * j;
                out[0] = wino_requant_fast(y00, rj);
                if (two_cols) out[out_c] = wino_requant_fast(y01, rj);
                if (n_rows == 2) {
                  out[out_w * out_c] = wino_requant_fast(y10, rj);
                  if (two_cols) out[out_w * out_c + out_c] = wino_requant_fast(y11, rj);
                }
                continue;
              }
              out[0] = conv_requant_apply(o, rr, y00);
              if (two_cols) out[out_c] = conv_requant_apply(o, rr, y01);
              if (n_rows == 2) {
                out[out_w * out_c] = conv_requant_apply(o, rr, y10);
                if (two_cols) out[out_w * out_c + out_c] = conv_requant_apply(o, rr, y11);
              }
            }
          }
        }
      }
    }
  }
}

#endif /* EM_USE_DSP */

int em_conv2d_s8(const em_conv_params *params, const em_quant *quant, const em_dims *input_dims,
                 const int8_t *input, const em_dims *filter_dims, const int8_t *filter,
                 const int32_t *bias, const em_dims *output_dims, int8_t *output,
                 const em_rows *rows, void *scratch) {
  const int status =
      conv_check(params, quant, input_dims, input, filter_dims, filter, output_dims, output, rows);
  if (status != EM_OK) return status;
#if defined(EM_USE_DSP)
  if (scratch == 0) return EM_ERR_ARG;
  conv_dsp_s8(params, quant, input_dims, input, filter_dims, filter, bias, output_dims, output,
              rows, (int16_t *)scratch);
#else
  (void)scratch;
#if defined(EM_HOST_SIMD)
  if (filter_dims->h * filter_dims->w * filter_dims->c <= HOST_MAX_TAPS) {
    conv_host(params, quant, input_dims, input, filter_dims, filter, bias, output_dims, output,
              rows);
    return EM_OK;
  }
#endif
  conv_portable(params, quant, input_dims, input, filter_dims, filter, bias, output_dims, output,
                rows);
#endif
  return EM_OK;
}

int em_conv2d_s8_w16(const em_conv_params *params, const em_quant *quant, const em_dims *input_dims,
                     const int8_t *input, const em_dims *filter_dims, const int32_t *filter_w16,
                     const int32_t *bias, const em_dims *output_dims, int8_t *output,
                     const em_rows *rows, void *scratch) {
  const int status = conv_check(params, quant, input_dims, input, filter_dims,
                                (const int8_t *)filter_w16, output_dims, output, rows);
  if (status != EM_OK) return status;
#if defined(EM_USE_DSP)
  if (scratch == 0) return EM_ERR_ARG;
  conv_dsp_w16(params, quant, input_dims, input, filter_dims, filter_w16, bias, output_dims, output,
               rows, (int16_t *)scratch);
#else
  (void)scratch;
  conv_portable_w16(params, quant, input_dims, input, filter_dims, filter_w16, bias, output_dims,
                    output, rows);
#endif
  return EM_OK;
}

int32_t em_conv2d_s8_tiled_get_buffer_size(const em_dims *filter_dims, const em_dims *output_dims,
                                           int32_t pass_pixels) {
#if defined(EM_USE_DSP)
  if (filter_dims == 0 || output_dims == 0 || pass_pixels < 1) return 0;
  return EM_CONV2D_S8_TILED_DSP_BUFFER_BYTES(output_dims->c, filter_dims->h, filter_dims->w,
                                             filter_dims->c, pass_pixels);
#else
  (void)filter_dims, (void)output_dims, (void)pass_pixels;
  return 0;
#endif
}

int em_conv2d_s8_tiled(const em_conv_params *params, const em_quant *quant,
                       const em_dims *input_dims, const int8_t *input, const em_dims *filter_dims,
                       const int8_t *filter, const int32_t *bias, const em_dims *output_dims,
                       int8_t *output, const em_rows *rows, int32_t pass_pixels, void *scratch) {
  const int status =
      conv_check(params, quant, input_dims, input, filter_dims, filter, output_dims, output, rows);
  if (status != EM_OK) return status;
  if (pass_pixels < 1) return EM_ERR_ARG;
#if defined(EM_USE_DSP)
  if (scratch == 0) return EM_ERR_ARG;
  conv_dsp_tiled(params, quant, input_dims, input, filter_dims, filter, bias, output_dims, output,
                 rows, pass_pixels, (int32_t *)scratch);
#else
  (void)scratch; /* the portable path reads the int8 weights where they are */
  conv_portable(params, quant, input_dims, input, filter_dims, filter, bias, output_dims, output,
                rows);
#endif
  return EM_OK;
}

/* The shapes the Winograd path takes (else the call is EM_ERR_ARG): 3x3, stride and dilation 1,
 * in_c a multiple of 8 up to 192 (int32 bound of Y'). */
static int wino_shape_ok(const em_conv_params *p, const em_dims *f_d) {
  return f_d->h == 3 && f_d->w == 3 && p->stride_h == 1 && p->stride_w == 1 && p->dilation_h == 1 &&
         p->dilation_w == 1 && f_d->c % 8 == 0 && f_d->c <= 192;
}

int32_t em_conv2d_s8_wino_get_buffer_size(const em_dims *filter_dims, const em_dims *output_dims,
                                          int32_t pass_tile_rows) {
#if defined(EM_USE_DSP)
  if (filter_dims == 0 || output_dims == 0 || pass_tile_rows < 1) return 0;
  return EM_CONV2D_S8_WINO_DSP_BUFFER_BYTES(filter_dims->c, output_dims->w, pass_tile_rows);
#else
  (void)filter_dims, (void)output_dims, (void)pass_tile_rows;
  return 0;
#endif
}

int em_conv2d_s8_wino(const em_conv_params *params, const em_quant *quant,
                      const em_dims *input_dims, const int8_t *input, const em_dims *filter_dims,
                      const int8_t *filter, const int32_t *bias, const em_dims *output_dims,
                      int8_t *output, const em_rows *rows, int32_t pass_tile_rows, void *scratch) {
  const int status =
      conv_check(params, quant, input_dims, input, filter_dims, filter, output_dims, output, rows);
  if (status != EM_OK) return status;
  if (!wino_shape_ok(params, filter_dims) || pass_tile_rows < 1) return EM_ERR_ARG;
#if defined(EM_USE_DSP)
  if (scratch == 0) return EM_ERR_ARG;
  conv_dsp_wino(params, quant, input_dims, input, filter, bias, output_dims, output, rows,
                pass_tile_rows, (int32_t *)scratch);
#else
  (void)scratch; /* the portable path: the plain definition on the same weights */
  conv_portable(params, quant, input_dims, input, filter_dims, filter, bias, output_dims, output,
                rows);
#endif
  return EM_OK;
}
