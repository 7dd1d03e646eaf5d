/*
 * reduce_max_s8.c -- int8 REDUCE_MAX over H and W (GlobalMaxPooling2D), as TFLite Micro.
 *
 * TFLM's int8 REDUCE_MAX requires equal input and output quantisation and returns the plain
 * maximum (initial value -128), so this is a running per-channel maximum. It streams: call
 * it on each chunk of rows as they become available, accumulate = 0 for the first chunk.
 */
#include "em_kernels.h"
#include "em_common.h"
#include "em_window.h"

int em_reduce_max_s8(const em_dims *in_d, const int8_t *input, int32_t in_rows, int32_t accumulate,
                     int8_t *output) {
  if (!em_dims_valid(in_d) || input == 0 || output == 0 || in_rows < 0 || in_rows > in_d->h)
    return EM_ERR_ARG;
  const int32_t c = in_d->c;
  const int32_t n_px = in_rows * in_d->w;
  if (!accumulate)
    for (int32_t ch = 0; ch < c; ++ch) output[ch] = EM_INT8_MIN;
  for (int32_t i = 0; i < n_px; ++i, input += c)
    for (int32_t ch = 0; ch < c; ++ch)
      if (input[ch] > output[ch]) output[ch] = input[ch];
  return EM_OK;
}
