/* Tiny number formatting for semihosting/UART text without printf (which would pull in newlib's
 * heap-using stdio). Each returns the number of characters written, not counting the NUL. */
#ifndef EM_FMT_H
#define EM_FMT_H

#include <stdint.h>

static inline int em_fmt_u32(char *out, uint32_t v) {
  char tmp[10];
  int n = 0, len;
  do {
    tmp[n++] = (char)('0' + v % 10u);
    v /= 10u;
  } while (v != 0u);
  len = n;
  while (n > 0) {
    *out++ = tmp[--n];
  }
  *out = '\0';
  return len;
}

static inline int em_fmt_i32(char *out, int32_t v) {
  if (v < 0) {
    *out = '-';
    return 1 + em_fmt_u32(out + 1, (uint32_t)(-(v + 1)) + 1u);
  }
  return em_fmt_u32(out, (uint32_t)v);
}

/* Fixed-point decimal with `decimals` digits (e.g. 0.999871 for decimals=6). */
static inline int em_fmt_fixed(char *out, float x, int decimals) {
  int n = 0;
  uint32_t scale = 1u;
  for (int i = 0; i < decimals; i++) {
    scale *= 10u;
  }
  if (x < 0.0f) {
    out[n++] = '-';
    x = -x;
  }
  uint32_t whole = (uint32_t)x;
  uint32_t frac = (uint32_t)((x - (float)whole) * (float)scale + 0.5f);
  if (frac >= scale) {
    whole += 1u;
    frac -= scale;
  }
  n += em_fmt_u32(out + n, whole);
  if (decimals > 0) {
    out[n++] = '.';
    for (uint32_t d = scale / 10u; d > 0u; d /= 10u) {
      out[n++] = (char)('0' + (frac / d) % 10u);
    }
  }
  out[n] = '\0';
  return n;
}

/* Append `s` at out[*pos], advance *pos. */
static inline void em_fmt_cat(char *out, int *pos, const char *s) {
  while (*s) {
    out[(*pos)++] = *s++;
  }
  out[*pos] = '\0';
}

#endif
