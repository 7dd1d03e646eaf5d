/*
 * em_logmel.c -- int16 PCM -> log-mel dB -> input affine -> int8, in two passes or, with the
 * scratch for it, one (see em_logmel.h).
 */
#include "em_logmel.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "em_fft.h"
#include "em_frontend_tables.h"

/* The host repeats every float operation of this file in order (compress.frontend's float32 chain):
 * build it as ISO C (-std=c99: GCC then contracts no a*b+c into an FMA) and without -ffast-math. */
#if defined(__FAST_MATH__)
#error \
    "em_logmel.c must not be built with -ffast-math: the host's float32 chain would no longer match"
#endif

int32_t em_logmel_get_buffer_size(void) {
  return (int32_t)(sizeof(float) * (EM_FE_N_DFT + EM_FE_N_MELS));
}

/* Windowed frame t of the 'same'-padded, zero-extended clip into buf[0..n_dft). */
static void em_logmel_load_frame(const int16_t *pcm, int32_t n_samples, int32_t t, float *buf) {
  const int32_t start = t * EM_FE_HOP - EM_FE_PAD_LEFT;
  int32_t first = -start;           /* first index that reads pcm */
  int32_t last = n_samples - start; /* one past the last one */
  if (first < 0) first = 0;
  if (last > EM_FE_N_DFT) last = EM_FE_N_DFT;
  if (last < first) last = first;
  int32_t i = 0;
  for (; i < first; ++i) buf[i] = 0.0f;
  for (; i < last; ++i) {
    /* x / 32768 is exact in float; one rounding for the window product, like a float32 conv. */
    buf[i] = ((float)pcm[start + i] * (1.0f / 32768.0f)) * em_fe_window[i];
  }
  for (; i < EM_FE_N_DFT; ++i) buf[i] = 0.0f;
}

/* Power spectrum |X[k]|^2, k in [0, n_bins), in place over the packed FFT output. */
static void em_logmel_power(float *buf) {
  const float dc = buf[0] * buf[0];
  const float nyquist = buf[1] * buf[1];
  /* Writing index k only overwrites values of complex entry k/2 < k, already consumed. */
  for (int32_t k = 1; k < EM_FE_N_DFT / 2; ++k) {
    const float re = buf[2 * k], im = buf[2 * k + 1];
    buf[k] = re * re + im * im;
  }
  buf[0] = dc;
  buf[EM_FE_N_DFT / 2] = nyquist;
}

/* Natural log of a positive normal float, in float32 operations only (cephes logf: exponent and
 * mantissa split by bits, mantissa into [sqrt(1/2), sqrt(2)), a degree-8 minimax polynomial; about
 * 1 ulp). Not libm's logf/log10f: those differ between newlib and glibc by an ulp now and then,
 * which moves a value across an int8 rounding boundary; this function is the same on every target,
 * and edgel3_mote.compress.frontend._ln_f32 repeats it operation for operation. */
static float em_ln_f32(float x) {
  union {
    float f;
    uint32_t u;
  } v;
  v.f = x;
  float e = (float)((int32_t)((v.u >> 23) & 0xFFu) - 126);
  v.u = (v.u & 0x807FFFFFu) | (126u << 23); /* mantissa in [0.5, 1) */
  float m = v.f;
  if (m < 0.70710678118654752440f) {
    e -= 1.0f;
    m = (m + m) - 1.0f;
  } else {
    m = m - 1.0f;
  }
  const float z = m * m;
  float y = 7.0376836292e-2f;
  y = y * m + -1.1514610310e-1f;
  y = y * m + 1.1676998740e-1f;
  y = y * m + -1.2420140846e-1f;
  y = y * m + 1.4249322787e-1f;
  y = y * m + -1.6668057665e-1f;
  y = y * m + 2.0000714765e-1f;
  y = y * m + -2.4999993993e-1f;
  y = y * m + 3.3333331174e-1f;
  y = (y * m) * z;
  y = y + -2.12194440e-4f * e;
  y = y + -0.5f * z;
  m = m + y;
  return m + 0.693359375f * e;
}

/* kapre: 10*log10(max(sqrt(mel)^power_melgram, amin)), decided in the power domain: a mel power
 * above EM_FE_P_MIN = amin^(2/power_melgram) gives EM_FE_DB_K * ln(power) (K = 5 power_melgram /
 * ln 10), anything else (zero, roundoff) the floor EM_FE_DB_AMIN = 10 log10(amin). One float
 * comparison against one constant, as the host's float32 chain makes it. */
static float em_logmel_db(float mel_power) {
  if (!(mel_power > EM_FE_P_MIN)) return EM_FE_DB_AMIN;
  return EM_FE_DB_K * em_ln_f32(mel_power);
}

static int em_logmel_check(const int16_t *pcm, int32_t n_samples, const void *scratch) {
  if (scratch == NULL || n_samples < 0 || n_samples > EM_FE_WINDOW_SAMPLES ||
      (pcm == NULL && n_samples > 0)) {
    return EM_LOGMEL_ERR_ARG;
  }
  if (((uintptr_t)scratch & 3u) != 0u) return EM_LOGMEL_ERR_ALIGN;
  return EM_LOGMEL_OK;
}

/* The dB values of frame t into db[0..n_mels); scratch holds the FFT buffer then db. Both
 * passes call this one function, so pass 2 sees exactly the values pass 1 maximised over. */
static void em_logmel_frame_db(const int16_t *pcm, int32_t n_samples, int32_t t, float *fft,
                               float *db) {
  em_logmel_load_frame(pcm, n_samples, t, fft);
  em_rfft_f32(fft, EM_FE_N_DFT, em_fe_twiddles);
  em_logmel_power(fft);
  for (int32_t m = 0; m < EM_FE_N_MELS; ++m) {
    const float *w = em_fe_mel_weights + em_fe_mel_offset[m];
    const float *p = fft + em_fe_mel_start[m];
    const int32_t len = em_fe_mel_length[m];
    float acc = 0.0f;
    for (int32_t i = 0; i < len; ++i) acc += p[i] * w[i];
    db[m] = em_logmel_db(acc);
  }
}

int em_logmel_max_db(const int16_t *pcm, int32_t n_samples, float *db_max, void *scratch) {
  const int rc = em_logmel_check(pcm, n_samples, scratch);
  if (rc != EM_LOGMEL_OK) return rc;
  if (db_max == NULL) return EM_LOGMEL_ERR_ARG;
  float *fft = (float *)scratch;
  float *db = fft + EM_FE_N_DFT;
  float best = -INFINITY;
  for (int32_t t = 0; t < EM_FE_N_FRAMES; ++t) {
    em_logmel_frame_db(pcm, n_samples, t, fft, db);
    for (int32_t m = 0; m < EM_FE_N_MELS; ++m) {
      if (db[m] > best) best = db[m];
    }
  }
  *db_max = best;
  return EM_LOGMEL_OK;
}

/* Frame db[0..n_mels) normalised by db_max, quantised to out[m * out_stride]: the one definition
 * both the two-pass and the one-pass front-end use. */
static void em_logmel_quantise(const float *db, float db_max, int8_t *out, int32_t out_stride) {
  for (int32_t m = 0; m < EM_FE_N_MELS; ++m) {
    float x = db[m] - db_max;
    if (x < -EM_FE_DYNAMIC_RANGE) x = -EM_FE_DYNAMIC_RANGE;
    /* The input BatchNormalization as one affine, then TFLite's AffineQuantize: divide by the
     * scale (not multiply by its inverse) and round half away from zero (std::round). */
    const float y = x * EM_FE_AFFINE_SCALE + EM_FE_AFFINE_OFFSET;
    float r = roundf(y / EM_FE_INPUT_SCALE);
    if (r < -1024.0f) r = -1024.0f; /* keep the int conversion defined */
    if (r > 1024.0f) r = 1024.0f;
    int32_t q = (int32_t)r + EM_FE_INPUT_ZERO_POINT;
    if (q < -128) q = -128;
    if (q > 127) q = 127;
    out[m * out_stride] = (int8_t)q;
  }
}

int em_logmel_frame_s8(const int16_t *pcm, int32_t n_samples, int32_t t, float db_max, int8_t *out,
                       int32_t out_stride, void *scratch) {
  const int rc = em_logmel_check(pcm, n_samples, scratch);
  if (rc != EM_LOGMEL_OK) return rc;
  if (out == NULL || t < 0 || t >= EM_FE_N_FRAMES) return EM_LOGMEL_ERR_ARG;
  float *fft = (float *)scratch;
  float *db = fft + EM_FE_N_DFT;
  em_logmel_frame_db(pcm, n_samples, t, fft, db);
  em_logmel_quantise(db, db_max, out, out_stride);
  return EM_LOGMEL_OK;
}

int em_logmel_s8(const int16_t *pcm, int32_t n_samples, int8_t *out, void *scratch) {
  float db_max;
  if (out == NULL) return EM_LOGMEL_ERR_ARG;
  int rc = em_logmel_max_db(pcm, n_samples, &db_max, scratch);
  for (int32_t t = 0; t < EM_FE_N_FRAMES && rc == EM_LOGMEL_OK; ++t) {
    rc = em_logmel_frame_s8(pcm, n_samples, t, db_max, out + t, EM_FE_N_FRAMES, scratch);
  }
  return rc;
}

int32_t em_logmel_get_buffer_size_one_pass(void) {
  return (int32_t)(sizeof(float) * (EM_FE_N_DFT + EM_FE_N_MELS * EM_FE_N_FRAMES));
}

int em_logmel_s8_scratch(const int16_t *pcm, int32_t n_samples, int8_t *out, void *scratch,
                         int32_t scratch_bytes) {
  if (out == NULL || scratch_bytes < em_logmel_get_buffer_size()) return EM_LOGMEL_ERR_ARG;
  if (scratch_bytes < em_logmel_get_buffer_size_one_pass())
    return em_logmel_s8(pcm, n_samples, out, scratch);
  const int rc = em_logmel_check(pcm, n_samples, scratch);
  if (rc != EM_LOGMEL_OK) return rc;
  /* One pass: every frame's dB values kept (the same em_logmel_frame_db as pass 1 and 2 of the
   * two-pass path, so the same floats), then normalised and quantised. */
  float *fft = (float *)scratch;
  float *db_all = fft + EM_FE_N_DFT;
  float best = -INFINITY;
  for (int32_t t = 0; t < EM_FE_N_FRAMES; ++t) {
    float *db = db_all + t * EM_FE_N_MELS;
    em_logmel_frame_db(pcm, n_samples, t, fft, db);
    for (int32_t m = 0; m < EM_FE_N_MELS; ++m) {
      if (db[m] > best) best = db[m];
    }
  }
  for (int32_t t = 0; t < EM_FE_N_FRAMES; ++t)
    em_logmel_quantise(db_all + t * EM_FE_N_MELS, best, out + t, EM_FE_N_FRAMES);
  return EM_LOGMEL_OK;
}
