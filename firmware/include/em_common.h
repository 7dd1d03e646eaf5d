/*
 * em_common.h -- the fixed-point arithmetic of TFLite Micro's reference int8 kernels.
 *
 * Requantisation is MultiplyByQuantizedMultiplier as in TFLite's
 * kernels/internal/common.h: by default the "double rounding" variant
 * (gemmlowp SaturatingRoundingDoublingHighMul, then RoundingDivideByPOT), which is what the
 * pinned tflite-micro wheel uses (test_wheel_uses_double_rounding in
 * tests/firmware/test_kernels_conv.py pins this down).
 * Define EM_SINGLE_ROUNDING=1 for TFLite's TFLITE_SINGLE_ROUNDING variant.
 *
 * All helpers are static inline so every kernel file stays self-contained.
 */
#ifndef EM_COMMON_H
#define EM_COMMON_H

#include <stdint.h>

#ifndef EM_SINGLE_ROUNDING
#define EM_SINGLE_ROUNDING 0
#endif

#if defined(EM_DEBUG)
#include <assert.h>
#define EM_ASSERT(cond) assert(cond)
#else
#define EM_ASSERT(cond) ((void)0)
#endif

#define EM_INT8_MIN (-128)
#define EM_INT8_MAX 127

static inline int32_t em_min_i32(int32_t a, int32_t b) {
  return a < b ? a : b;
}
static inline int32_t em_max_i32(int32_t a, int32_t b) {
  return a > b ? a : b;
}
static inline int32_t em_clamp_i32(int32_t x, int32_t lo, int32_t hi) {
  return x < lo ? lo : (x > hi ? hi : x);
}

/* gemmlowp SaturatingRoundingDoublingHighMul: high 32 bits of 2*a*b, rounded to nearest
 * (ties away from zero via the +-2^30 nudge and a truncating division), saturating the one
 * overflowing case a == b == INT32_MIN. The nudge and the truncation toward zero together are
 * exactly floor((a*b + 2^30) / 2^31) for either sign of a*b (for a*b < 0 the truncating
 * division adds 2^31 - 1 before flooring: 1 - 2^30 + 2^31 - 1 = 2^30), so it compiles to
 * SMULL, ADDS, ADC and a funnel shift, without branches. */
static inline int32_t em_saturating_rounding_doubling_high_mul(int32_t a, int32_t b) {
  if (a == b && a == INT32_MIN) return INT32_MAX;
  const int64_t ab = (int64_t)a * (int64_t)b;
  return (int32_t)((ab + ((int64_t)1 << 30)) >> 31); /* arithmetic shift: floor */
}

/* gemmlowp RoundingDivideByPOT: x / 2^exponent rounded to nearest, ties away from zero. */
static inline int32_t em_rounding_divide_by_pot(int32_t x, int32_t exponent) {
  const int32_t mask = (int32_t)(((int64_t)1 << exponent) - 1);
  const int32_t remainder = x & mask;
  const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/* x * quantized_multiplier * 2^shift / 2^31, rounded as TFLite's reference kernels do. */
static inline int32_t em_multiply_by_quantized_multiplier(int32_t x, int32_t quantized_multiplier,
                                                          int32_t shift) {
#if EM_SINGLE_ROUNDING
  const int32_t total_shift = 31 - shift;
  const int64_t round = (int64_t)1 << (total_shift - 1);
  const int64_t result = ((int64_t)x * (int64_t)quantized_multiplier + round) >> total_shift;
  return (int32_t)result;
#else
  const int32_t left_shift = shift > 0 ? shift : 0;
  const int32_t right_shift = shift > 0 ? 0 : -shift;
  /* Unsigned multiply: the wrap-around TFLM gets on overflow, without C undefined behaviour. */
  const int32_t shifted = (int32_t)((uint32_t)x * ((uint32_t)1 << left_shift));
  return em_rounding_divide_by_pot(
      em_saturating_rounding_doubling_high_mul(shifted, quantized_multiplier), right_shift);
#endif
}

/* Accumulator -> int8 output: requantise, add the output zero point, clamp (fused activation). */
static inline int8_t em_requantize_s8(int32_t acc, int32_t multiplier, int32_t shift,
                                      int32_t output_offset, int32_t act_min, int32_t act_max) {
  int32_t y = em_multiply_by_quantized_multiplier(acc, multiplier, shift) + output_offset;
  return (int8_t)em_clamp_i32(y, act_min, act_max);
}

#endif /* EM_COMMON_H */
