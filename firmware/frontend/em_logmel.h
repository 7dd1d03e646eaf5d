/*
 * em_logmel.h -- the on-device log-mel front-end: int16 PCM -> the model's int8 input.
 *
 * Float32 (for FPU cores), C99, no malloc. Reproduces edgel3_mote.compress.frontend's
 * log_mel_spectrogram_f32 (kapre 0.1's Melspectrogram in float32) followed by quantize_input:
 *   'same' padding, periodic-Hann window, real FFT, power |X|^2, sparse mel bands,
 *   10*log10(max(sqrt(.)^power_melgram, amin)) decided in the power domain: a mel power above
 *   EM_FE_P_MIN gives EM_FE_DB_K * ln(power), anything else 10*log10(amin); minus the clip's
 *   maximum, clipped at -dynamic_range,
 *   the model's input affine y = a*x + b (its input BatchNormalization), and TFLite's QUANTIZE
 *   q = clamp(round(y / scale) + zero_point, -128, 127).
 * Every step is float32 in a fixed order with a portable ln (no libm log), and the host repeats it
 * operation for operation (compress.frontend.log_mel_spectrogram_f32 -> model_input_int8): the
 * same int8 on every input, the floor included.
 * All model-specific constants come from the generated em_frontend_tables.h/.c
 * (edgel3_mote.export.frontend_tables).
 *
 * Streaming, two passes over the audio window. The per-clip maximum is known only after the
 * last frame, so no float spectrogram is held: pass 1 (em_logmel_max_db) computes every frame's
 * dB values and keeps only their maximum; pass 2 (em_logmel_frame_s8) recomputes one frame at
 * a time -- the same float operations, so the same values -- and quantises it straight into its
 * destination (a column of the (n_mels, n_frames) input, or a row of a line buffer). The price
 * is computing every frame twice; the scratch is one FFT buffer plus one frame of mel values.
 */
#ifndef EM_LOGMEL_H
#define EM_LOGMEL_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EM_LOGMEL_OK 0
#define EM_LOGMEL_ERR_ARG (-1)   /* NULL pointer, frame or n_samples out of range */
#define EM_LOGMEL_ERR_ALIGN (-2) /* scratch not 4-byte aligned */

/*
 * Scratch bytes every em_logmel_* call needs (4-byte aligned):
 *   4 * (EM_FE_N_DFT      -- one in-place FFT / power-spectrum buffer
 *        + EM_FE_N_MELS)  -- the mel values of one frame
 * = 4,352 bytes for SEA (n_dft 1024, 64 mels), 9,216 bytes for L3 (n_dft 2048, 256 mels).
 */
int32_t em_logmel_get_buffer_size(void);

/*
 * Pass 1: *db_max = the largest dB value (before normalisation) over all EM_FE_N_FRAMES frames
 * of the window. pcm / n_samples as for em_logmel_s8.
 */
int em_logmel_max_db(const int16_t *pcm, int32_t n_samples, float *db_max, void *scratch);

/*
 * Pass 2, one frame: the EM_FE_N_MELS int8 values of frame t (0 <= t < EM_FE_N_FRAMES),
 * normalised by db_max (from em_logmel_max_db), to out[m * out_stride] for mel m.
 * out_stride EM_FE_N_FRAMES writes column t of the (n_mels, n_frames) input; 1 writes one row.
 */
int em_logmel_frame_s8(const int16_t *pcm, int32_t n_samples, int32_t t, float db_max, int8_t *out,
                       int32_t out_stride, void *scratch);

/*
 * Both passes over the whole window.
 * pcm: n_samples int16 samples at the model rate (x / 32768 is the float audio); the window
 *   is EM_FE_WINDOW_SAMPLES samples, shorter input is zero-padded at the end.
 * out: EM_FE_N_MELS * EM_FE_N_FRAMES int8, row-major (n_mels, n_frames) = the model's HWC input.
 * scratch: em_logmel_get_buffer_size() bytes, 4-byte aligned; may alias nothing else.
 * Returns EM_LOGMEL_OK or a negative EM_LOGMEL_ERR_*.
 */
int em_logmel_s8(const int16_t *pcm, int32_t n_samples, int8_t *out, void *scratch);

/*
 * One pass when the scratch allows it: 4 * (EM_FE_N_DFT + EM_FE_N_MELS * EM_FE_N_FRAMES) bytes
 * (em_logmel_get_buffer_size_one_pass(): 16,896 for SEA, 211,968 for L3) hold every frame's dB
 * values, so each frame is computed once instead of twice -- the same float operations, so the
 * same int8 output as em_logmel_s8. With less scratch (at least em_logmel_get_buffer_size()) it
 * is em_logmel_s8. The firmware passes the engine's whole free scratch region
 * (em_model_scratch()): the one-pass path is taken wherever the arena has the room anyway.
 */
int32_t em_logmel_get_buffer_size_one_pass(void);
int em_logmel_s8_scratch(const int16_t *pcm, int32_t n_samples, int8_t *out, void *scratch,
                         int32_t scratch_bytes);

#ifdef __cplusplus
}
#endif

#endif /* EM_LOGMEL_H */
