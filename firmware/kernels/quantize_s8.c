/*
 * quantize_s8.c -- QUANTIZE (float32 -> int8) and DEQUANTIZE (int8 -> float32), as TFLite
 * Micro's reference AffineQuantize / Dequantize.
 *
 * Quantize: q = clamp(round_half_away(x / scale) + zero_point, -128, 127) with a float32
 * division, exactly TFLM's static_cast<int32_t>(TfLiteRound(x / static_cast<float>(scale))).
 * Dequantize: TFLM computes (double)scale * (q - zp) and casts to float; q - zp has at most
 * 9 significant bits, so that product is exact in double and rounds once to float -- the
 * same IEEE result as the float32 product used here (no double arithmetic on an M4).
 */
#include <math.h>

#include "em_kernels.h"
#include "em_common.h"

int em_quantize_s8(const float *input, int32_t count, float scale, int32_t zero_point,
                   int8_t *output) {
  if (input == 0 || output == 0 || count < 0 || !(scale > 0.0f)) return EM_ERR_ARG;
  for (int32_t i = 0; i < count; ++i) {
    float r = roundf(input[i] / scale);
    /* Beyond +-1024 every zero point saturates anyway; clamping first keeps the int
     * conversion defined (TFLM's would overflow) and sends NaN to the low end. */
    if (!(r >= -1024.0f)) r = -1024.0f;
    if (r > 1024.0f) r = 1024.0f;
    output[i] = (int8_t)em_clamp_i32((int32_t)r + zero_point, EM_INT8_MIN, EM_INT8_MAX);
  }
  return EM_OK;
}

int em_dequantize_s8(const int8_t *input, int32_t count, float scale, int32_t zero_point,
                     float *output) {
  if (input == 0 || output == 0 || count < 0) return EM_ERR_ARG;
  for (int32_t i = 0; i < count; ++i) output[i] = scale * (float)(input[i] - zero_point);
  return EM_OK;
}
