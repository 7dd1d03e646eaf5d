/*
 * selftest_main.c -- the firmware self-test (owner: boards).
 *
 * For every embedded vector (selftest_vectors.c, generated from real clips):
 *  (a) engine:    the host's int8 spectrogram through the generated engine must give the
 *                 tflite-micro interpreter's int8 embedding byte for byte;
 *  (b) front-end: the raw int16 window through em_logmel_s8 must give the host's int8
 *                 spectrogram: no value more than 1 LSB apart, and over all vectors at
 *                 least 99.9 % identical;
 *  (c) end to end: the front-end's output through the engine, dequantised, against the
 *                 float model's embedding: cosine reported (not a pass/fail criterion).
 * (b) and (c) need the PCM window, which only vectors [0, EM_ST_NUM_PCM) carry (a big model's
 * windows do not all fit in flash beside its weights: L3's is 96,000 bytes).
 *  (d) head (projects built with a classifier, EM_HAS_HEAD): the expected int8 embedding
 *                 through the generated head engine must give tflite-micro's int8 logits
 *                 byte for byte; the class (their argmax) is printed.
 * Vector 0's engine run is also timed per layer (em_board_ticks, "layer i: N instructions").
 * Results go out through semihosting; the exit code (SYS_EXIT_EXTENDED) is 0 on pass, 1 on fail.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "em_board.h"
#include "em_fmt.h"
#include "em_logmel.h"
#include "model_engine.h"
#include "selftest_vectors.h"

#ifndef EM_HAS_HEAD
#define EM_HAS_HEAD 0
#endif
#if EM_HAS_HEAD
#include "em_head_classes.h"
#include "em_head_engine.h"
typedef char em_head_chains_onto_embedding[(EM_HEAD_INPUT_BYTES == EM_OUTPUT_BYTES &&
                                            EM_HEAD_OUTPUT_BYTES == EM_HEAD_NUM_CLASSES &&
                                            EM_ST_HEAD_CLASSES == EM_HEAD_NUM_CLASSES)
                                               ? 1
                                               : -1];
static int8_t g_logits[EM_HEAD_NUM_CLASSES];
#endif

/* (b) passes with at least 999/1000 identical values over all vectors. */
#define FRONTEND_MIN_IDENTICAL_PER_MILLE 999u

static int8_t g_embedding[EM_OUTPUT_BYTES];

static char g_line[256]; /* the longest line: a vector with a 40-character name, ~190 */
static int g_pos;

static void line_start(void) {
  g_pos = 0;
  g_line[0] = '\0';
}
static void line_str(const char *s) {
  em_fmt_cat(g_line, &g_pos, s);
}
static void line_u32(uint32_t v) {
  g_pos += em_fmt_u32(g_line + g_pos, v);
}
static void line_fixed(float x, int decimals) {
  g_pos += em_fmt_fixed(g_line + g_pos, x, decimals);
}
static void line_end(void) {
  line_str("\n");
  em_semihost_write(g_line);
}

static float cosine_vs_float(const int8_t *q, const float *ref) {
  float dot = 0.0f, nq = 0.0f, nr = 0.0f;
  for (uint32_t i = 0; i < EM_OUTPUT_BYTES; i++) {
    float x = EM_OUTPUT_SCALE * (float)((int32_t)q[i] - EM_OUTPUT_ZERO_POINT);
    dot += x * ref[i];
    nq += x * x;
    nr += ref[i] * ref[i];
  }
  if (nq <= 0.0f || nr <= 0.0f) {
    return 0.0f;
  }
  return dot / (sqrtf(nq) * sqrtf(nr));
}

int main(void) {
  em_board_init();
  em_stack_paint();
  const char *unit = em_board_ticks_are_instructions() ? " instructions" : " cycles";
  uint32_t engine_failures = 0, frontend_far = 0, frontend_diff = 0, frontend_total = 0;
  float cos_min = 2.0f, cos_sum = 0.0f;
  uint32_t layer_ticks[EM_NUM_LAYERS] = {
      0}; /* vector 0's engine run, per layer (on the stack: no static RAM) */
  uint32_t head_failures = 0;

  line_start();
  line_str("selftest: model " EM_MODEL_NAME " on ");
  line_str(em_board_name());
  line_str(" (");
  line_str(em_board_core());
  line_str("), ");
  line_u32(EM_ST_NUM_VECTORS);
  line_str(" vectors, arena ");
  line_u32(EM_ARENA_BYTES);
  line_str(" bytes");
  line_end();
#if EM_ST_RANDOM_WEIGHTS
  line_start();
  line_str("selftest: RANDOM WEIGHTS (seed ");
  line_u32(EM_ST_SEED);
  line_str(") - not a trained model");
  line_end();
#endif

  uint32_t scratch_bytes = 0;
  void *scratch = em_model_scratch(&scratch_bytes);
  if (scratch == 0 || scratch_bytes < (uint32_t)em_logmel_get_buffer_size()) {
    em_semihost_write(
        "selftest: FAIL the engine offers less front-end scratch than em_logmel needs\n");
    return 1;
  }
  int8_t *input = em_model_input();

  for (uint32_t v = 0; v < EM_ST_NUM_VECTORS; v++) {
    /* (a) host spectrogram -> engine == tflite-micro */
    memcpy(input, em_st_spectrogram[v], EM_INPUT_BYTES);
    uint32_t t0 = em_board_ticks();
    int rc = em_model_invoke(g_embedding, v == 0 ? layer_ticks : 0);
    uint32_t engine_ticks = em_board_ticks() - t0;
    uint32_t bytes_off = 0;
    for (uint32_t i = 0; i < EM_OUTPUT_BYTES; i++) {
      bytes_off += (g_embedding[i] != em_st_embedding_s8[v][i]);
    }
    int engine_ok = (rc == 0 && bytes_off == 0);
    engine_failures += !engine_ok;

    /* (b) raw window -> device front-end vs the host spectrogram; (c) -> engine vs float */
    uint32_t frontend_ticks = 0, diff = 0, far = 0;
    float cosine = 0.0f;
    const int has_pcm = v < EM_ST_NUM_PCM;
    if (has_pcm) {
      t0 = em_board_ticks();
      rc = em_logmel_s8_scratch(em_st_pcm[v], EM_ST_WINDOW_SAMPLES, input, scratch,
                                (int32_t)scratch_bytes);
      frontend_ticks = em_board_ticks() - t0;
      for (uint32_t i = 0; i < EM_INPUT_BYTES; i++) {
        int32_t d = (int32_t)input[i] - (int32_t)em_st_spectrogram[v][i];
        diff += (d != 0);
        far += (d > 1 || d < -1);
      }
      if (rc != 0) {
        far += EM_INPUT_BYTES; /* a front-end error fails (b) outright */
      }
      frontend_diff += diff;
      frontend_far += far;
      frontend_total += EM_INPUT_BYTES;

      /* (c) end to end: the device spectrogram (still in the input tensor) -> engine */
      rc = em_model_invoke(g_embedding, 0);
      cosine = rc == 0 ? cosine_vs_float(g_embedding, em_st_embedding_f32[v]) : 0.0f;
      cos_sum += cosine;
      cos_min = cosine < cos_min ? cosine : cos_min;
    }

    line_start();
    line_str("vector ");
    line_u32(v);
    line_str(" ");
    line_str(em_st_names[v]);
    line_str(": (a) engine ");
    if (engine_ok) {
      line_str("exact");
    } else {
      line_str("MISMATCH ");
      line_u32(bytes_off);
      line_str(" bytes");
    }
    line_str(", ");
    line_u32(engine_ticks);
    line_str(unit);
    if (has_pcm) {
      line_str("; (b) front-end ");
      line_u32(EM_INPUT_BYTES - diff);
      line_str("/");
      line_u32(EM_INPUT_BYTES);
      line_str(" identical, ");
      line_u32(far);
      line_str(" > 1 LSB, ");
      line_u32(frontend_ticks);
      line_str(unit);
      line_str("; (c) cosine vs float ");
      line_fixed(cosine, 6);
    }
#if EM_HAS_HEAD
    /* (d) expected embedding -> head engine == tflite-micro's logits */
    memcpy(em_head_input(), em_st_embedding_s8[v], EM_HEAD_INPUT_BYTES);
    t0 = em_board_ticks();
    rc = em_head_invoke(g_logits, 0);
    uint32_t head_ticks = em_board_ticks() - t0;
    uint32_t head_off = 0, best = 0;
    for (uint32_t i = 0; i < EM_HEAD_NUM_CLASSES; i++) {
      head_off += (g_logits[i] != em_st_head_logits[v][i]);
      best = g_logits[i] > g_logits[best] ? i : best;
    }
    int head_ok = (rc == 0 && head_off == 0);
    head_failures += !head_ok;
    line_end();
    line_start();
    line_str("vector ");
    line_u32(v);
    line_str(": (d) head ");
    line_str(head_ok ? "exact" : "MISMATCH");
    line_str(", class ");
    line_str(em_head_class_names[best]);
    line_str(", ");
    line_u32(head_ticks);
    line_str(unit);
#endif
    line_end();
  }

  int frontend_ok =
      frontend_far == 0 && (uint64_t)(frontend_total - frontend_diff) * 1000u >=
                               (uint64_t)frontend_total * FRONTEND_MIN_IDENTICAL_PER_MILLE;
  int pass = engine_failures == 0 && frontend_ok && head_failures == 0;

  line_start();
  line_str("selftest: (a) engine exact ");
  line_u32(EM_ST_NUM_VECTORS - engine_failures);
  line_str("/");
  line_u32(EM_ST_NUM_VECTORS);
  line_str("; (b) front-end (");
  line_u32(EM_ST_NUM_PCM);
  line_str(" windows) identical ");
  line_fixed(100.0f * (float)(frontend_total - frontend_diff) / (float)frontend_total, 3);
  line_str(" %, ");
  line_u32(frontend_far);
  line_str(" values > 1 LSB; (c) cosine mean ");
  line_fixed(cos_sum / (float)EM_ST_NUM_PCM, 6);
  line_str(" min ");
  line_fixed(cos_min, 6);
#if EM_HAS_HEAD
  line_end();
  line_start();
  line_str("selftest: (d) head exact ");
  line_u32(EM_ST_NUM_VECTORS - head_failures);
  line_str("/");
  line_u32(EM_ST_NUM_VECTORS);
#endif
  line_end();

  for (uint32_t i = 0; i < EM_NUM_LAYERS; i++) {
    line_start();
    line_str("layer ");
    line_u32(i);
    line_str(": ");
    line_u32(layer_ticks[i]);
    line_str(unit);
    line_str(" (vector 0)");
    line_end();
  }

  line_start();
  line_str("selftest: stack high-water ");
  line_u32(em_stack_high_water());
  line_str(" of ");
  line_u32(em_board_stack_size());
  line_str(" bytes");
  line_end();

  em_semihost_write(pass ? "selftest: PASS\n" : "selftest: FAIL\n");
  return pass ? 0 : 1;
}
