/*
 * conv2d_sparse_s8.c -- int8 CONV_2D over pruned weights stored sparse; the same op and the
 * same bytes as em_conv2d_s8 (see conv2d_s8.c for the arithmetic).
 *
 * Weights: for each output channel a list of nonzeros (filter position ky*filter_w + kx,
 * input channel, value), see em_sparse_filter. Zero weights add nothing to the accumulator,
 * so skipping them is exact; input_offset * sum(weights) is folded into the bias as in the
 * dense portable path. Each filter position's offset in the input buffer is tabulated once
 * per call; with a scratch buffer (em_conv2d_sparse_s8_get_buffer_size) each channel's
 * nonzeros are also resolved to input offsets once, so an interior pixel costs one load of
 * the offset, two byte loads and one MAC per nonzero. scratch may be NULL (slower: the
 * offset is rebuilt per pixel). Flash: 5 bytes per nonzero against 1 per dense weight.
 */
#include "em_kernels.h"
#include "em_common.h"
#include "em_window.h"

int32_t em_conv2d_sparse_s8_get_buffer_size(const em_dims *input_dims, const em_dims *filter_dims,
                                            const em_dims *output_dims) {
  (void)input_dims;
  (void)output_dims;
  if (filter_dims == 0) return 0;
  return EM_CONV2D_SPARSE_S8_BUFFER_BYTES(filter_dims->h, filter_dims->w, filter_dims->c);
}

int em_conv2d_sparse_s8(const em_conv_params *p, const em_quant *q, const em_dims *in_d,
                        const int8_t *input, const em_dims *f_d, const em_sparse_filter *filter,
                        const int32_t *bias, const em_dims *out_d, int8_t *output,
                        const em_rows *rows, void *scratch) {
  int32_t *nz_offset = (int32_t *)scratch; /* [nonzeros of one channel] input offsets */
  if (p == 0 || q == 0 || q->multiplier == 0 || q->shift == 0 || input == 0 || filter == 0 ||
      filter->channel_start == 0 || output == 0 || !em_dims_valid(in_d) || !em_dims_valid(f_d) ||
      !em_dims_valid(out_d) || f_d->c != in_d->c || p->stride_h < 1 || p->stride_w < 1 ||
      p->dilation_h < 1 || p->dilation_w < 1 || p->activation_min > p->activation_max ||
      f_d->h * f_d->w > EM_SPARSE_MAX_FILTER_TAPS)
    return EM_ERR_ARG;
  const int32_t eff_h = (f_d->h - 1) * p->dilation_h + 1;
  const int32_t eff_w = (f_d->w - 1) * p->dilation_w + 1;
  const int status = em_check_window(rows, in_d->h, out_d->h, p->stride_h, p->pad_top, eff_h);
  if (status != EM_OK) return status;

  const int32_t in_c = in_d->c, in_w = in_d->w, out_c = out_d->c, out_w = out_d->w;
  /* Malformed lists would index outside the input or the scratch: check them all once. */
  for (int32_t oc = 0; oc < out_c; ++oc) {
    const int32_t begin = filter->channel_start[oc], end = filter->channel_start[oc + 1];
    if (begin < 0 || end < begin || end - begin > f_d->h * f_d->w * in_c) return EM_ERR_ARG;
    for (int32_t i = begin; i < end; ++i)
      if (filter->tap[i].pos >= f_d->h * f_d->w || filter->tap[i].ic >= in_c) return EM_ERR_ARG;
  }
  int32_t pos_offset[EM_SPARSE_MAX_FILTER_TAPS]; /* input offset of each filter position */
  int32_t pos_dy[EM_SPARSE_MAX_FILTER_TAPS], pos_dx[EM_SPARSE_MAX_FILTER_TAPS];
  for (int32_t ky = 0; ky < f_d->h; ++ky)
    for (int32_t kx = 0; kx < f_d->w; ++kx) {
      const int32_t pos = ky * f_d->w + kx;
      pos_dy[pos] = ky * p->dilation_h;
      pos_dx[pos] = kx * p->dilation_w;
      pos_offset[pos] = (pos_dy[pos] * in_w + pos_dx[pos]) * in_c;
    }

  for (int32_t oc = 0; oc < out_c; ++oc) {
    const int32_t begin = filter->channel_start[oc], end = filter->channel_start[oc + 1];
    const em_sparse_tap *tap = filter->tap;
    const int8_t *val = filter->value;
    int32_t wsum = 0;
    for (int32_t i = begin; i < end; ++i) wsum += val[i];
    const int32_t b = bias ? bias[oc] : 0;
    const int32_t folded_bias = b + p->input_offset * wsum;
    const int32_t mult = q->multiplier[q->per_channel ? oc : 0];
    const int32_t shift = q->shift[q->per_channel ? oc : 0];
    if (nz_offset)
      for (int32_t i = begin; i < end; ++i) nz_offset[i - begin] = pos_offset[tap[i].pos] + tap[i].ic;

    for (int32_t oy = rows->out_row_begin; oy < rows->out_row_end; ++oy) {
      const int32_t in_y0 = oy * p->stride_h - p->pad_top;
      const int row_inside = in_y0 >= 0 && in_y0 + eff_h <= in_d->h;
      int8_t *out = output + (oy - rows->out_row_base) * out_w * out_c + oc;
      for (int32_t ox = 0; ox < out_w; ++ox, out += out_c) {
        const int32_t in_x0 = ox * p->stride_w - p->pad_left;
        int32_t acc;
        if (row_inside && in_x0 >= 0 && in_x0 + eff_w <= in_w) {
          const int8_t *src0 = input + ((in_y0 - rows->in_row_begin) * in_w + in_x0) * in_c;
          acc = folded_bias;
          if (nz_offset) {
            const int8_t *v = val + begin;
            for (int32_t j = 0; j < end - begin; ++j) acc += v[j] * src0[nz_offset[j]];
          } else {
            for (int32_t i = begin; i < end; ++i)
              acc += val[i] * src0[pos_offset[tap[i].pos] + tap[i].ic];
          }
        } else {
          acc = b;
          for (int32_t i = begin; i < end; ++i) {
            const int32_t y = in_y0 + pos_dy[tap[i].pos], x = in_x0 + pos_dx[tap[i].pos];
            if (y < 0 || y >= in_d->h || x < 0 || x >= in_w) continue;
            acc += val[i] * (input[((y - rows->in_row_begin) * in_w + x) * in_c + tap[i].ic] +
                             p->input_offset);
          }
        }
        *out = em_requantize_s8(acc, mult, shift, p->output_offset, p->activation_min,
                                p->activation_max);
      }
    }
  }
  return EM_OK;
}
