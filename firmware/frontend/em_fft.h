/*
 * em_fft.h -- in-place real FFT (float32) for the on-device log-mel front-end.
 *
 * A radix-2 complex FFT of n/2 points over the even/odd samples packed as complex numbers,
 * then the standard real-FFT post-processing (split into the even/odd spectra and recombine).
 * No malloc, no libm: the twiddles come from a const table (see em_rfft_f32).
 */
#ifndef EM_FFT_H
#define EM_FFT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Forward real DFT of buf[0..n) in place, unnormalised: X[k] = sum_t x[t] exp(-2 pi i k t / n).
 *
 * n: a power of two, 4 <= n <= 65536.
 * twiddles: n floats, twiddles[2k] = cos(2 pi k / n), twiddles[2k + 1] = -sin(2 pi k / n) for
 *   k in [0, n/2) (i.e. W_n^k = exp(-2 pi i k / n) interleaved re, im). The same table serves
 *   the n/2-point complex FFT (W_{n/2}^j = W_n^{2j}) and the post-processing.
 * Output, packed like CMSIS-DSP's arm_rfft_fast_f32: buf[0] = X[0], buf[1] = X[n/2] (both real),
 *   buf[2k], buf[2k+1] = Re X[k], Im X[k] for 1 <= k < n/2.
 */
void em_rfft_f32(float *buf, int32_t n, const float *twiddles);

/*
 * Forward complex radix-2 FFT of m (power of two) interleaved (re, im) values in place (two
 * stages per pass over the data; the float operations of plain radix-2 stages, in their order).
 * twiddles: a table of W_N^k for k in [0, N/2) laid out as for em_rfft_f32, with
 * N = m * twiddle_stride (so W_m^j is complex entry j * twiddle_stride).
 */
void em_cfft_radix2_f32(float *buf, int32_t m, const float *twiddles, int32_t twiddle_stride);

#ifdef __cplusplus
}
#endif

#endif /* EM_FFT_H */
