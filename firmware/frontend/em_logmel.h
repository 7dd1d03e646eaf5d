/*
 * em_logmel.h -- the on-device log-mel front-end: int16 PCM -> the model's int8 input.
 *
 * Float32 (for FPU cores), C99, no malloc. Reproduces edgel3_mote.compress.frontend's
 * log_mel_spectrogram (kapre 0.1's Melspectrogram) followed by quantize_input:
 *   'same' padding, periodic-Hann window, real FFT, power |X|^2, sparse mel bands,
 *   sqrt(.)^power_melgram, 10*log10(max(x, amin)), minus the clip's maximum, clipped at
 *   -dynamic_range, the model's input affine y = a*x + b (its input BatchNormalization), and
 *   TFLite's QUANTIZE q = clamp(round(y / scale) + zero_point, -128, 127).
 * All model-specific constants come from the generated em_frontend_tables.h/.c
 * (edgel3_mote.export.frontend_tables).
 */
#ifndef EM_LOGMEL_H
#define EM_LOGMEL_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EM_LOGMEL_OK 0
#define EM_LOGMEL_ERR_ARG (-1)       /* NULL pointer, or n_samples outside [0, window] */
#define EM_LOGMEL_ERR_ALIGN (-2)     /* scratch not 4-byte aligned */

/*
 * Scratch bytes em_logmel_s8 needs (4-byte aligned):
 *   4 * (EM_FE_N_MELS * EM_FE_N_FRAMES   -- the float dB values of the whole clip (the
 *                                            per-clip maximum is known only at the end)
 *        + EM_FE_N_DFT)                  -- one in-place FFT / power-spectrum buffer
 * = 16,896 bytes for SEA (64 x 50, n_dft 1024), 211,968 bytes for L3 (256 x 199, n_dft 2048).
 */
int32_t em_logmel_get_buffer_size(void);

/*
 * pcm: n_samples int16 samples at the model rate (x / 32768 is the float audio); the window
 *   is EM_FE_WINDOW_SAMPLES samples, shorter input is zero-padded at the end.
 * out: EM_FE_N_MELS * EM_FE_N_FRAMES int8, row-major (n_mels, n_frames) = the model's HWC input.
 * scratch: em_logmel_get_buffer_size() bytes, 4-byte aligned; may alias nothing else.
 * Returns EM_LOGMEL_OK or a negative EM_LOGMEL_ERR_*.
 */
int em_logmel_s8(const int16_t *pcm, int32_t n_samples, int8_t *out, void *scratch);

#ifdef __cplusplus
}
#endif

#endif /* EM_LOGMEL_H */
