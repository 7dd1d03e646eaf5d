/*
 * em_dsp.h -- the Cortex-M DSP (SIMD32) intrinsics the EM_USE_DSP kernel paths use.
 *
 * On a core with __ARM_FEATURE_DSP (Cortex-M4/M7/M33...) these are the real instructions
 * (ACLE builtins from arm_acle.h); everywhere else they are exact C emulations, so the DSP
 * paths also build and run -- and are tested bit-for-bit -- on the host.
 *
 *   em_sxtb16(x)        SXTB16:        bytes 0 and 2 of x, sign-extended, as two int16 halves
 *   em_sxtb16_ror8(x)   SXTB16 ROR #8: bytes 1 and 3 of x, sign-extended
 *   em_smlad(x, y, acc) SMLAD:         acc + x.lo * y.lo + x.hi * y.hi (int16 halves, wraps)
 *   em_sadd16(x, y)     SADD16:        halfwise x + y (int16 halves, each wraps)
 *   em_read_s8x4(p)     four int8 as one word (unaligned access is fine on M4/M7)
 *   em_pack_lo16 / em_pack_hi16   the low / high halves of two words as one (PKHBT / PKHTB)
 */
#ifndef EM_DSP_H
#define EM_DSP_H

#include <stdint.h>
#include <string.h>

#if defined(__ARM_FEATURE_DSP) && defined(__ARM_FEATURE_SIMD32)
#include <arm_acle.h>
#define EM_DSP_NATIVE 1

static inline int32_t em_sxtb16(int32_t x) {
  return __sxtb16(x);
}
static inline int32_t em_sxtb16_ror8(int32_t x) {
  int32_t r; /* ACLE has no rotated form; one instruction with the ROR #8 operand */
  __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
  return r;
}
static inline int32_t em_smlad(int32_t x, int32_t y, int32_t acc) {
  return __smlad(x, y, acc);
}
static inline int32_t em_sadd16(int32_t x, int32_t y) {
  return __sadd16(x, y);
}

#else
#define EM_DSP_NATIVE 0

static inline int32_t em_pack_i16x2(int32_t lo, int32_t hi) {
  return (int32_t)(((uint32_t)lo & 0xFFFFu) | ((uint32_t)hi << 16));
}
static inline int32_t em_sxtb16(int32_t x) {
  return em_pack_i16x2((int8_t)(x & 0xFF), (int8_t)((x >> 16) & 0xFF));
}
static inline int32_t em_sxtb16_ror8(int32_t x) {
  return em_pack_i16x2((int8_t)((x >> 8) & 0xFF), (int8_t)((x >> 24) & 0xFF));
}
static inline int32_t em_smlad(int32_t x, int32_t y, int32_t acc) {
  const int32_t lo = (int32_t)(int16_t)(x & 0xFFFF) * (int32_t)(int16_t)(y & 0xFFFF);
  const int32_t hi = (int32_t)(int16_t)((uint32_t)x >> 16) * (int32_t)(int16_t)((uint32_t)y >> 16);
  return (int32_t)((uint32_t)acc + (uint32_t)lo + (uint32_t)hi); /* SMLAD wraps */
}
static inline int32_t em_sadd16(int32_t x, int32_t y) {
  return em_pack_i16x2((int16_t)(x & 0xFFFF) + (int16_t)(y & 0xFFFF),
                       (int16_t)((uint32_t)x >> 16) + (int16_t)((uint32_t)y >> 16));
}
#endif

/* (x.lo, y.lo) and (x.hi, y.hi): PKHBT / PKHTB (GCC does not find them in the C). */
#if EM_DSP_NATIVE
static inline int32_t em_pack_lo16(int32_t x, int32_t y) {
  int32_t r;
  __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(r) : "r"(x), "r"(y));
  return r;
}
static inline int32_t em_pack_hi16(int32_t x, int32_t y) {
  int32_t r;
  __asm__("pkhtb %0, %2, %1, asr #16" : "=r"(r) : "r"(x), "r"(y));
  return r;
}
#else
static inline int32_t em_pack_lo16(int32_t x, int32_t y) {
  return (int32_t)(((uint32_t)x & 0xFFFFu) | ((uint32_t)y << 16));
}
static inline int32_t em_pack_hi16(int32_t x, int32_t y) {
  return (int32_t)(((uint32_t)x >> 16) | ((uint32_t)y & 0xFFFF0000u));
}
#endif

static inline int32_t em_read_s8x4(const int8_t *p) {
  int32_t v;
  memcpy(&v, p, 4); /* one LDR on Cortex-M, no strict-aliasing issue */
  return v;
}

static inline int32_t em_read_s16x2(const int16_t *p) {
  int32_t v;
  memcpy(&v, p, 4);
  return v;
}

#endif /* EM_DSP_H */
