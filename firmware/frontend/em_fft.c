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

  /* Decimation-in-time butterflies; the outer loop over the twiddle index keeps one twiddle
   * in registers for all the butterflies that use it. */
  for (int32_t len = 2; len <= m; len <<= 1) {
    const int32_t half = len >> 1;
    const int32_t step = (m / len) * twiddle_stride; /* W_len^k = W_m^(k m / len) */
    for (int32_t k = 0; k < half; ++k) {
      const float wr = twiddles[2 * k * step];
      const float wi = twiddles[2 * k * step + 1];
      for (int32_t i = k; i < m; i += len) {
        float *a = buf + 2 * i;
        float *b = buf + 2 * (i + half);
        /* all four read before any store: the compiler cannot know a and b never alias and
         * would read a twice (the same float operations either way, so the same values) */
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
