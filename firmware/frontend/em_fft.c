/*
 * em_fft.c -- in-place real FFT (float32): n/2-point radix-2 complex FFT + real post-processing.
 *
 * Why a const twiddle table (generated in float64 by edgel3_mote.export.frontend_tables and
 * rounded once to float32) rather than computing it at start-up: RAM is the scarce resource on
 * the motes (128 KiB on the netduino for model arena + front-end) while flash is plentiful, and a
 * table is bit-identical on the host and on every target, independent of each libm's sinf/cosf.
 */
#include "em_fft.h"

#if defined(__FAST_MATH__)
#error \
    "em_fft.c must not be built with -ffast-math: the host's float32 chain repeats its operations in order"
#endif

void em_cfft_radix2_f32(float *buf, int32_t m, const float *twiddles, int32_t twiddle_stride) {
  /* Bit-reversal permutation (Gold-Rader). */
  int32_t j = 0;
  for (int32_t i = 0; i < m - 1; ++i) {
    if (i < j) {
      float tr = buf[2 * i], ti = buf[2 * i + 1];
      buf[2 * i] = buf[2 * j];
      buf[2 * i + 1] = buf[2 * j + 1];
      buf[2 * j] = tr;
      buf[2 * j + 1] = ti;
    }
    int32_t bit = m >> 1;
    while (j & bit) {
      j ^= bit;
      bit >>= 1;
    }
    j |= bit;
  }

  /* Decimation-in-time butterflies, two stages per pass: stages len and 2 len run on each group
   * of four points (i, i + len/2, i + len, i + 3 len/2) in registers -- every point goes through
   * exactly the float operations of the two radix-2 stages one after the other (so exactly the
   * values compress.frontend's float32 chain computes), with half the loads and stores. A last
   * stage left over (log2 m odd) runs alone. The loop over the twiddle index is outside, so the
   * three twiddles stay in registers for all the groups that use them. */
  int32_t len = 2;
  for (; 2 * len <= m; len <<= 2) {
    const int32_t half = len >> 1;
    const int32_t step1 = (m / len) * twiddle_stride;       /* W_len^k = W_m^(k m / len) */
    const int32_t step2 = (m / (2 * len)) * twiddle_stride; /* W_2len^k */
    for (int32_t k = 0; k < half; ++k) {
      const float w1r = twiddles[2 * k * step1], w1i = twiddles[2 * k * step1 + 1];
      const float w2r = twiddles[2 * k * step2], w2i = twiddles[2 * k * step2 + 1];
      const float w3r = twiddles[2 * (k + half) * step2];
      const float w3i = twiddles[2 * (k + half) * step2 + 1];
      for (int32_t i = k; i < m; i += 2 * len) {
        float *p0 = buf + 2 * i;
        float *p1 = p0 + 2 * half;
        float *p2 = p0 + 2 * len;
        float *p3 = p2 + 2 * half;
        const float a0 = p0[0], a1 = p0[1], b0 = p1[0], b1 = p1[1];
        const float c0 = p2[0], c1 = p2[1], d0 = p3[0], d1 = p3[1];
        /* stage len: (p0, p1) and (p2, p3), both with W_len^k */
        const float br = b0 * w1r - b1 * w1i;
        const float bi = b0 * w1i + b1 * w1r;
        const float dr = d0 * w1r - d1 * w1i;
        const float di = d0 * w1i + d1 * w1r;
        const float x0r = a0 + br, x0i = a1 + bi, x1r = a0 - br, x1i = a1 - bi;
        const float x2r = c0 + dr, x2i = c1 + di, x3r = c0 - dr, x3i = c1 - di;
        /* stage 2 len: (p0, p2) with W_2len^k, (p1, p3) with W_2len^(k + len/2) */
        const float er = x2r * w2r - x2i * w2i;
        const float ei = x2r * w2i + x2i * w2r;
        const float fr = x3r * w3r - x3i * w3i;
        const float fi = x3r * w3i + x3i * w3r;
        p0[0] = x0r + er;
        p0[1] = x0i + ei;
        p2[0] = x0r - er;
        p2[1] = x0i - ei;
        p1[0] = x1r + fr;
        p1[1] = x1i + fi;
        p3[0] = x1r - fr;
        p3[1] = x1i - fi;
      }
    }
  }
  if (len <= m) { /* the last stage, len = m, alone */
    const int32_t half = len >> 1;
    for (int32_t k = 0; k < half; ++k) {
      const float wr = twiddles[2 * k * twiddle_stride];
      const float wi = twiddles[2 * k * twiddle_stride + 1];
      float *a = buf + 2 * k;
      float *b = buf + 2 * (k + half);
      /* all four read before any store: the compiler cannot know a and b never alias */
      const float a0 = a[0], a1 = a[1], b0 = b[0], b1 = b[1];
      const float br = b0 * wr - b1 * wi;
      const float bi = b0 * wi + b1 * wr;
      b[0] = a0 - br;
      b[1] = a1 - bi;
      a[0] = a0 + br;
      a[1] = a1 + bi;
    }
  }
}

void em_rfft_f32(float *buf, int32_t n, const float *twiddles) {
  const int32_t m = n >> 1;

  /* z[t] = x[2t] + i x[2t+1] is already the interleaved layout of buf. W_m^j = W_n^(2j). */
  em_cfft_radix2_f32(buf, m, twiddles, 2);

  /* DC and Nyquist from Z[0]. */
  const float z0r = buf[0], z0i = buf[1];
  buf[0] = z0r + z0i;
  buf[1] = z0r - z0i;

  /* For each pair (k, m-k): E = (Z[k] + conj Z[m-k]) / 2, O = (Z[k] - conj Z[m-k]) / (2i),
   * X[k] = E + W_n^k O and X[m-k] = conj(E - W_n^k O). k = m/2 pairs with itself. */
  for (int32_t k = 1; k <= m / 2; ++k) {
    float *zk = buf + 2 * k;
    float *zmk = buf + 2 * (m - k);
    const float a = zk[0], b = zk[1], c = zmk[0], d = zmk[1];
    const float er = 0.5f * (a + c), ei = 0.5f * (b - d);
    const float orr = 0.5f * (b + d), oi = -0.5f * (a - c);
    const float wr = twiddles[2 * k], wi = twiddles[2 * k + 1];
    const float tr = wr * orr - wi * oi;
    const float ti = wr * oi + wi * orr;
    zk[0] = er + tr;
    zk[1] = ei + ti;
    zmk[0] = er - tr;
    zmk[1] = ti - ei;
  }
}
