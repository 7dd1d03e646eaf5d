/*
 * serial_main.c -- the default firmware app: a protocol server over the UART
 * (owner: harness). The host loads int16 PCM window by window, asks for an
 * inference (on-device log-mel front-end + generated int8 engine) and reads
 * back the embedding, the device-timer ticks and the int8 spectrogram the
 * device computed. Commands and byte layouts: firmware/protocol/PROTOCOL.md.
 *
 * All memory is static: the PCM window, the layer ticks and the protocol's own
 * frame buffers. Front-end scratch is the engine's free arena. No copy of the
 * spectrogram is kept (for L3 it would be 50,944 bytes): the engine may reuse
 * the input tensor's arena space during invoke, so GET_SPECTROGRAM recomputes
 * it from the still-loaded PCM into the input tensor -- the same bytes the
 * last INFER used, as loading audio forgets the spectrogram.
 */
#include <stdint.h>
#include <string.h>

#include "em_board.h"
#include "em_frontend_tables.h"
#include "em_logmel.h"
#include "em_protocol.h"
#include "model_engine.h"

/* A project generated with a classifier (-DEM_HAS_HEAD=1) links a second engine, the int8 head
 * (symbol prefix em_head), which INFER runs on the embedding when asked (flag bit 1). */
#ifndef EM_HAS_HEAD
#define EM_HAS_HEAD 0
#endif
#if EM_HAS_HEAD
#include "em_head_classes.h"
#include "em_head_engine.h"
typedef char em_head_chains_onto_embedding[(EM_HEAD_INPUT_BYTES == EM_OUTPUT_BYTES &&
                                            EM_HEAD_OUTPUT_BYTES == EM_HEAD_NUM_CLASSES)
                                               ? 1
                                               : -1];
/* INFER's answer with the logits must fit one frame (layer ticks are cut, never the logits) */
typedef char
    em_head_logits_fit_a_frame[(EM_PROTO_INFER_RESP_BYTES + EM_OUTPUT_BYTES +
                                    EM_PROTO_INFER_CLASSIFIED_BYTES + EM_HEAD_NUM_CLASSES <=
                                EM_PROTO_MAX_PAYLOAD)
                                   ? 1
                                   : -1];
static int8_t g_logits[EM_HEAD_NUM_CLASSES];
#endif

#define EM_SERIAL_WINDOW_SAMPLES EM_FE_WINDOW_SAMPLES

/* Linker-script symbols (firmware/boards/common/cortexm.ld) for flash/RAM use,
 * weak so that a build without them (the host tests) links and reports 0; the
 * host also reads the same numbers from the ELF. The vector table opens flash. */
extern const char em_vector_table[] __attribute__((weak));
extern char _sidata[] __attribute__((weak)); /* load address of .data = end of code */
extern char _sdata[] __attribute__((weak));
extern char _edata[] __attribute__((weak));
extern char _ebss[] __attribute__((weak));
extern char __stack_start[] __attribute__((weak)); /* RAM: stack, .data, .bss */

static int16_t g_pcm[EM_SERIAL_WINDOW_SAMPLES];
static uint32_t g_loaded_samples;  /* 0 = nothing loaded */
static uint32_t g_slide_id;        /* id of the last SLIDE_AUDIO applied; 0 = none */
static int g_spectrogram_valid;    /* the PCM the last INFER used is still loaded */
static int g_input_is_spectrogram; /* em_model_input() holds its spectrogram now */
static int8_t g_embedding[EM_OUTPUT_BYTES];
static uint32_t g_layer_ticks[EM_NUM_LAYERS > 0 ? EM_NUM_LAYERS : 1];
static em_proto_t g_proto;
static uint32_t g_tick_resolution; /* smallest step of em_board_ticks(), measured at boot */

/* Wait for the counter to step (used to measure its resolution at boot). */
static uint32_t ticks_at_edge(void) {
  uint32_t t0 = em_board_ticks(), t = t0;
  /* bounded: a stopped counter (a board bug) must not hang the server */
  for (uint32_t spins = 0; t == t0 && spins < 100000u; ++spins) {
    t = em_board_ticks();
  }
  return t;
}

static uint32_t measure_tick_resolution(void) {
  (void)ticks_at_edge();
  uint32_t a = ticks_at_edge();
  uint32_t b = ticks_at_edge();
  return b - a;
}

/* ---- little-endian helpers ------------------------------------------------ */
static uint8_t *put_u16(uint8_t *b, uint32_t v) {
  b[0] = (uint8_t)v;
  b[1] = (uint8_t)(v >> 8);
  return b + 2;
}
static uint8_t *put_u32(uint8_t *b, uint32_t v) {
  b[0] = (uint8_t)v;
  b[1] = (uint8_t)(v >> 8);
  b[2] = (uint8_t)(v >> 16);
  b[3] = (uint8_t)(v >> 24);
  return b + 4;
}
static uint32_t get_u16(const uint8_t *b) {
  return (uint32_t)b[0] | ((uint32_t)b[1] << 8);
}
static uint32_t get_u32(const uint8_t *b) {
  return (uint32_t)b[0] | ((uint32_t)b[1] << 8) | ((uint32_t)b[2] << 16) | ((uint32_t)b[3] << 24);
}

/* ---- INFO: tag u8 | len u8 | value -------------------------------------- */
static uint8_t *tlv(uint8_t *b, const uint8_t *end, uint8_t tag, const void *val, uint32_t n) {
  if (n > 255u || b + 2 + n > end) return b; /* never overrun: drop the field */
  b[0] = tag;
  b[1] = (uint8_t)n;
  memcpy(b + 2, val, n);
  return b + 2 + n;
}
static uint8_t *tlv_u32(uint8_t *b, const uint8_t *end, uint8_t tag, uint32_t v) {
  uint8_t le[4];
  put_u32(le, v);
  return tlv(b, end, tag, le, 4);
}
static uint8_t *tlv_f32(uint8_t *b, const uint8_t *end, uint8_t tag, float f) {
  uint32_t bits;
  memcpy(&bits, &f, 4);
  return tlv_u32(b, end, tag, bits);
}
static uint8_t *tlv_str(uint8_t *b, const uint8_t *end, uint8_t tag, const char *s) {
  return tlv(b, end, tag, s, s ? (uint32_t)strlen(s) : 0u);
}

static uint32_t span(const char *lo, const char *hi) {
  uintptr_t a = (uintptr_t)lo, b = (uintptr_t)hi;
  return (b > a) ? (uint32_t)(b - a) : 0u; /* a weak symbol left undefined is 0 */
}
static uint32_t flash_bytes(void) {
  /* vectors+text+rodata, then the .data initialisers stored after them */
  return span(em_vector_table, _sidata) + span(_sdata, _edata);
}
static uint32_t static_ram_bytes(void) {
  return span(__stack_start, _ebss); /* stack + .data + .bss; no heap */
}

static uint32_t cmd_info(uint8_t *resp) {
  uint8_t *b = resp, *end = resp + EM_PROTO_MAX_PAYLOAD;
  uint8_t shape[12];
  b = tlv_u32(b, end, EM_INFO_PROTOCOL_VERSION, EM_PROTO_VERSION);
  b = tlv_u32(b, end, EM_INFO_MAX_PAYLOAD, EM_PROTO_MAX_PAYLOAD);
  b = tlv_str(b, end, EM_INFO_BOARD, em_board_name());
  b = tlv_str(b, end, EM_INFO_CORE, em_board_core());
  b = tlv_u32(b, end, EM_INFO_CLOCK_HZ, em_board_clock_hz());
  b = tlv_u32(b, end, EM_INFO_TICKS_ARE_INSTRUCTIONS, (uint32_t)em_board_ticks_are_instructions());
  b = tlv_str(b, end, EM_INFO_MODEL_NAME, EM_MODEL_NAME);
  b = tlv_str(b, end, EM_INFO_MODEL_SHA256, EM_MODEL_SHA256);
  put_u32(put_u32(put_u32(shape, EM_INPUT_H), EM_INPUT_W), EM_INPUT_C);
  b = tlv(b, end, EM_INFO_INPUT_SHAPE, shape, 12);
  b = tlv_f32(b, end, EM_INFO_INPUT_SCALE, (float)EM_INPUT_SCALE);
  b = tlv_u32(b, end, EM_INFO_INPUT_ZERO_POINT, (uint32_t)(int32_t)EM_INPUT_ZERO_POINT);
  put_u32(shape, EM_OUTPUT_BYTES);
  b = tlv(b, end, EM_INFO_OUTPUT_SHAPE, shape, 4);
  b = tlv_f32(b, end, EM_INFO_OUTPUT_SCALE, (float)EM_OUTPUT_SCALE);
  b = tlv_u32(b, end, EM_INFO_OUTPUT_ZERO_POINT, (uint32_t)(int32_t)EM_OUTPUT_ZERO_POINT);
  b = tlv_u32(b, end, EM_INFO_FLASH_BYTES, flash_bytes());
  b = tlv_u32(b, end, EM_INFO_STATIC_RAM_BYTES, static_ram_bytes());
  b = tlv_u32(b, end, EM_INFO_ARENA_BYTES, EM_ARENA_BYTES);
  b = tlv_u32(b, end, EM_INFO_WEIGHT_BYTES, EM_WEIGHT_BYTES);
  b = tlv_u32(b, end, EM_INFO_NUM_LAYERS, EM_NUM_LAYERS);
  b = tlv_u32(b, end, EM_INFO_WINDOW_SAMPLES, EM_SERIAL_WINDOW_SAMPLES);
  b = tlv_u32(b, end, EM_INFO_SAMPLE_RATE, EM_FE_SR);
  b = tlv_u32(b, end, EM_INFO_STACK_BYTES, em_board_stack_size());
  b = tlv_u32(b, end, EM_INFO_TICK_RESOLUTION, g_tick_resolution);
#if EM_HAS_HEAD
  b = tlv_u32(b, end, EM_INFO_NUM_CLASSES, EM_HEAD_NUM_CLASSES);
  b = tlv_str(b, end, EM_INFO_HEAD_SHA256, EM_HEAD_MODEL_SHA256);
  b = tlv_str(b, end, EM_INFO_CLASSES_SHA256, EM_HEAD_CLASSES_SHA256);
#else
  b = tlv_u32(b, end, EM_INFO_NUM_CLASSES, 0u); /* no classifier head compiled in */
#endif
  return (uint32_t)(b - resp);
}

/* ---- LOAD_AUDIO: offset u32 (samples) | int16 LE samples ----------------- */
static uint8_t cmd_load_audio(const uint8_t *pl, uint32_t len, uint8_t *resp, uint32_t *resp_len) {
  if (len < EM_PROTO_LOAD_AUDIO_REQ_BYTES || ((len - EM_PROTO_LOAD_AUDIO_REQ_BYTES) & 1u)) {
    return EM_PROTO_ERR_BAD_LENGTH;
  }
  uint32_t offset = get_u32(pl);
  uint32_t n = (len - EM_PROTO_LOAD_AUDIO_REQ_BYTES) / 2;
  if (offset > g_loaded_samples) return EM_PROTO_ERR_BAD_OFFSET; /* would leave a gap */
  if (offset > EM_SERIAL_WINDOW_SAMPLES || n > EM_SERIAL_WINDOW_SAMPLES - offset) {
    return EM_PROTO_ERR_TOO_LONG;
  }
  for (uint32_t i = 0; i < n; ++i) {
    g_pcm[offset + i] = (int16_t)get_u16(pl + EM_PROTO_LOAD_AUDIO_REQ_BYTES + 2 * i);
  }
  /* offset 0 starts a new window; a resent chunk (offset < end) overwrites */
  if (offset == 0) {
    g_loaded_samples = n;
    g_slide_id = 0;
  } else if (offset + n > g_loaded_samples) {
    g_loaded_samples = offset + n;
  }
  g_spectrogram_valid = 0;
  put_u32(put_u32(resp, g_loaded_samples), EM_SERIAL_WINDOW_SAMPLES);
  *resp_len = EM_PROTO_LOAD_AUDIO_RESP_BYTES;
  return EM_PROTO_OK;
}

/* ---- SLIDE_AUDIO: slide_id u32 | drop u32 ------------------------------
 * Drops the oldest `drop` samples (the hop), so the next window needs only its
 * new samples: overlapping windows cross the slow UART once. A resend of the
 * same slide_id is a no-op, which keeps every command idempotent. */
static uint8_t cmd_slide_audio(const uint8_t *pl, uint32_t len, uint8_t *resp, uint32_t *resp_len) {
  if (len != EM_PROTO_SLIDE_AUDIO_REQ_BYTES) return EM_PROTO_ERR_BAD_LENGTH;
  uint32_t id = get_u32(pl + EM_PROTO_SLIDE_AUDIO_REQ_SLIDE_ID);
  uint32_t drop = get_u32(pl + EM_PROTO_SLIDE_AUDIO_REQ_DROP);
  if (id == 0) return EM_PROTO_ERR_BAD_ARG;
  if (id != g_slide_id) {
    if (drop > g_loaded_samples) return EM_PROTO_ERR_BAD_ARG;
    memmove(g_pcm, g_pcm + drop, (g_loaded_samples - drop) * sizeof(g_pcm[0]));
    g_loaded_samples -= drop;
    g_slide_id = id;
    g_spectrogram_valid = 0;
  }
  put_u32(put_u32(resp, g_loaded_samples), EM_SERIAL_WINDOW_SAMPLES);
  *resp_len = EM_PROTO_SLIDE_AUDIO_RESP_BYTES;
  return EM_PROTO_OK;
}

/* ---- INFER: flags u8 (bit 0: per-layer ticks, bit 1: classify) --------- */
#if EM_HAS_HEAD
#define EM_INFER_FLAGS (EM_INFER_FLAG_LAYER_TICKS | EM_INFER_FLAG_CLASSIFY)
#define EM_HEAD_TAIL_BYTES (EM_PROTO_INFER_CLASSIFIED_BYTES + EM_HEAD_NUM_CLASSES)
#else
#define EM_INFER_FLAGS EM_INFER_FLAG_LAYER_TICKS /* classify without a head: BAD_ARG */
#define EM_HEAD_TAIL_BYTES 0u
#endif

static uint8_t cmd_infer(const uint8_t *pl, uint32_t len, uint8_t *resp, uint32_t *resp_len) {
  if (len != EM_PROTO_INFER_REQ_BYTES) return EM_PROTO_ERR_BAD_LENGTH;
  if (pl[0] & ~EM_INFER_FLAGS) return EM_PROTO_ERR_BAD_ARG;
  if (g_loaded_samples == 0) return EM_PROTO_ERR_NOT_LOADED;
  const int want_layers = (pl[0] & EM_INFER_FLAG_LAYER_TICKS) != 0;
  const int want_class = (pl[0] & EM_INFER_FLAG_CLASSIFY) != 0;

  uint32_t scratch_bytes = 0;
  void *scratch = em_model_scratch(&scratch_bytes);
  if ((int32_t)scratch_bytes < em_logmel_get_buffer_size()) return EM_PROTO_ERR_FRONTEND;

  /* the board fixes the tick phase here: counts repeat exactly from run to run */
  em_board_ticks_sync();
  uint32_t t0 = em_board_ticks();
  int rc = em_logmel_s8_scratch(g_pcm, (int32_t)g_loaded_samples, em_model_input(), scratch,
                                (int32_t)scratch_bytes);
  uint32_t t1 = em_board_ticks();
  if (rc != 0) return EM_PROTO_ERR_FRONTEND;
  g_spectrogram_valid = 1;
  g_input_is_spectrogram = 0; /* invoke may overwrite the input's arena space */

  em_board_ticks_sync();
  uint32_t t2 = em_board_ticks();
  rc = em_model_invoke(g_embedding, want_layers ? g_layer_ticks : 0);
  uint32_t t3 = em_board_ticks();
  if (rc != 0) return EM_PROTO_ERR_ENGINE;

  uint32_t head_ticks = 0;
#if EM_HAS_HEAD
  if (want_class) {
    /* the embedding is the head's input byte for byte (same quantisation) */
    memcpy(em_head_input(), g_embedding, EM_HEAD_INPUT_BYTES);
    em_board_ticks_sync();
    uint32_t t4 = em_board_ticks();
    rc = em_head_invoke(g_logits, 0);
    head_ticks = em_board_ticks() - t4;
    if (rc != 0) return EM_PROTO_ERR_ENGINE;
  }
#endif

  /* layer ticks that do not fit the payload are cut; n_layers says how many came */
  uint32_t n_layers = want_layers ? EM_NUM_LAYERS : 0u;
  const uint32_t fixed =
      EM_PROTO_INFER_RESP_BYTES + EM_OUTPUT_BYTES + (want_class ? EM_HEAD_TAIL_BYTES : 0u);
  if (fixed + 4u * n_layers > EM_PROTO_MAX_PAYLOAD) n_layers = (EM_PROTO_MAX_PAYLOAD - fixed) / 4u;

  uint8_t *b = resp;
  b = put_u32(b, t1 - t0);
  b = put_u32(b, t3 - t2);
  b = put_u32(b, g_loaded_samples);
  b = put_u16(b, EM_OUTPUT_BYTES);
  b = put_u16(b, n_layers);
  memcpy(b, g_embedding, EM_OUTPUT_BYTES);
  b += EM_OUTPUT_BYTES;
  for (uint32_t i = 0; i < n_layers; ++i) b = put_u32(b, g_layer_ticks[i]);
#if EM_HAS_HEAD
  if (want_class) {
    b = put_u32(b, head_ticks);
    b = put_u16(b, EM_HEAD_NUM_CLASSES);
    memcpy(b, g_logits, EM_HEAD_NUM_CLASSES);
    b += EM_HEAD_NUM_CLASSES;
  }
#else
  (void)want_class;
  (void)head_ticks;
#endif
  *resp_len = (uint32_t)(b - resp);
  return EM_PROTO_OK;
}

/* ---- GET_SPECTROGRAM: offset u32 | max_len u16 (0 = as much as fits) ---- */
static uint8_t cmd_get_spectrogram(const uint8_t *pl, uint32_t len, uint8_t *resp,
                                   uint32_t *resp_len) {
  if (len != EM_PROTO_GET_SPECTROGRAM_REQ_BYTES) return EM_PROTO_ERR_BAD_LENGTH;
  if (!g_spectrogram_valid) return EM_PROTO_ERR_NOT_LOADED;
  if (!g_input_is_spectrogram) {
    uint32_t scratch_bytes = 0;
    void *scratch = em_model_scratch(&scratch_bytes);
    if ((int32_t)scratch_bytes < em_logmel_get_buffer_size() ||
        em_logmel_s8_scratch(g_pcm, (int32_t)g_loaded_samples, em_model_input(), scratch,
                             (int32_t)scratch_bytes) != 0) {
      return EM_PROTO_ERR_FRONTEND;
    }
    g_input_is_spectrogram = 1;
  }
  uint32_t offset = get_u32(pl + EM_PROTO_GET_SPECTROGRAM_REQ_OFFSET);
  uint32_t max_len = get_u16(pl + EM_PROTO_GET_SPECTROGRAM_REQ_MAX_LEN);
  if (offset > EM_INPUT_BYTES) return EM_PROTO_ERR_BAD_ARG;
  uint32_t n = EM_INPUT_BYTES - offset;
  const uint32_t room = EM_PROTO_MAX_PAYLOAD - EM_PROTO_GET_SPECTROGRAM_RESP_BYTES;
  if (n > room) n = room;
  if (max_len && n > max_len) n = max_len;
  uint8_t *b = put_u32(put_u32(resp, EM_INPUT_BYTES), offset);
  memcpy(b, em_model_input() + offset, n);
  *resp_len = EM_PROTO_GET_SPECTROGRAM_RESP_BYTES + n;
  return EM_PROTO_OK;
}

/* ---- MEM: u32 fields, order fixed (PROTOCOL.md) -------------------------- */
static uint32_t cmd_mem(uint8_t *resp) {
  uint32_t scratch_bytes = 0;
  (void)em_model_scratch(&scratch_bytes);
  uint32_t v[EM_MEM_NUM_FIELDS];
  v[EM_MEM_STACK_BYTES] = em_board_stack_size();
  v[EM_MEM_STACK_HIGH_WATER] = em_stack_high_water();
  v[EM_MEM_ARENA_BYTES] = EM_ARENA_BYTES;
  v[EM_MEM_HEAP_BYTES] = 0u; /* nothing allocates (_sbrk fails) */
  v[EM_MEM_PCM_BUFFER_BYTES] = (uint32_t)sizeof(g_pcm);
  v[EM_MEM_SPECTROGRAM_BUFFER_BYTES] = 0u; /* no copy: GET_SPECTROGRAM recomputes it */
  /* what em_logmel_s8_scratch uses of the engine's scratch: one pass when it fits */
  v[EM_MEM_FRONTEND_SCRATCH_BYTES] =
      (uint32_t)(scratch_bytes >= (uint32_t)em_logmel_get_buffer_size_one_pass()
                     ? em_logmel_get_buffer_size_one_pass()
                     : em_logmel_get_buffer_size());
  v[EM_MEM_ENGINE_SCRATCH_BYTES] = scratch_bytes;
  v[EM_MEM_STATIC_RAM_BYTES] = static_ram_bytes();
  v[EM_MEM_PROTOCOL_BUFFER_BYTES] = (uint32_t)sizeof(g_proto);
  v[EM_MEM_FRAMES_OK] = g_proto.frames;
  v[EM_MEM_FRAMES_ERROR] = g_proto.errors;
  uint8_t *b = resp;
  for (uint32_t i = 0; i < EM_MEM_NUM_FIELDS; ++i) b = put_u32(b, v[i]);
  return (uint32_t)(b - resp);
}

/* ---- LAYERS: first u16 -> total u16 | first u16 | count u16 | names\0 ---- */
static uint8_t cmd_layers(const uint8_t *pl, uint32_t len, uint8_t *resp, uint32_t *resp_len) {
  if (len != EM_PROTO_LAYERS_REQ_BYTES) return EM_PROTO_ERR_BAD_LENGTH;
  uint32_t first = get_u16(pl + EM_PROTO_LAYERS_REQ_FIRST);
  if (first > EM_NUM_LAYERS) return EM_PROTO_ERR_BAD_ARG;
  uint8_t *b = resp + EM_PROTO_LAYERS_RESP_BYTES, *end = resp + EM_PROTO_MAX_PAYLOAD;
  uint32_t count = 0;
  for (uint32_t i = first; i < EM_NUM_LAYERS; ++i) {
    uint32_t n = (uint32_t)strlen(em_layer_names[i]) + 1u;
    if (b + n > end) break;
    memcpy(b, em_layer_names[i], n);
    b += n;
    count++;
  }
  put_u16(put_u16(put_u16(resp, EM_NUM_LAYERS), first), count);
  *resp_len = (uint32_t)(b - resp);
  return EM_PROTO_OK;
}

static uint8_t handle(void *ctx, uint8_t cmd, const uint8_t *pl, uint32_t len, uint8_t *resp,
                      uint32_t *resp_len) {
  (void)ctx;
  *resp_len = 0;
  switch (cmd) {
    case EM_CMD_INFO:
      if (len != 0) return EM_PROTO_ERR_BAD_LENGTH;
      *resp_len = cmd_info(resp);
      return EM_PROTO_OK;
    case EM_CMD_LOAD_AUDIO:
      return cmd_load_audio(pl, len, resp, resp_len);
    case EM_CMD_SLIDE_AUDIO:
      return cmd_slide_audio(pl, len, resp, resp_len);
    case EM_CMD_INFER:
      return cmd_infer(pl, len, resp, resp_len);
    case EM_CMD_GET_SPECTROGRAM:
      return cmd_get_spectrogram(pl, len, resp, resp_len);
    case EM_CMD_MEM:
      if (len != 0) return EM_PROTO_ERR_BAD_LENGTH;
      *resp_len = cmd_mem(resp);
      return EM_PROTO_OK;
    case EM_CMD_RESET:
      if (len != 0) return EM_PROTO_ERR_BAD_LENGTH;
      g_loaded_samples = 0;
      g_slide_id = 0;
      g_spectrogram_valid = 0;
      return EM_PROTO_OK;
    case EM_CMD_LAYERS:
      return cmd_layers(pl, len, resp, resp_len);
    case EM_CMD_PING: /* echo: link and throughput checks */
      memcpy(resp, pl, len);
      *resp_len = len;
      return EM_PROTO_OK;
    default:
      return EM_PROTO_ERR_UNKNOWN_CMD;
  }
}

static void uart_write(void *ctx, const uint8_t *buf, uint32_t n) {
  (void)ctx;
  em_uart_write(buf, n);
}

/* Partial frames idle for this long are dropped (answered TIMEOUT): 0.25 s of
 * core clock on real boards. Under QEMU the ticks are instructions and the idle
 * loop burns them as fast as the host runs it, so a clock-based figure would mean
 * anything from 0.1 s to a minute of wall time; 20 million instructions is a
 * fraction of a second to a few seconds there. */
#define EM_SERIAL_TIMEOUT_INSTRUCTIONS 20000000u
static uint32_t frame_timeout_ticks(void) {
  if (em_board_ticks_are_instructions()) return EM_SERIAL_TIMEOUT_INSTRUCTIONS;
  uint32_t hz = em_board_clock_hz();
  return (hz ? hz : 1000000u) / 4u;
}

void em_serial_server_init(void) {
  g_loaded_samples = 0;
  g_slide_id = 0;
  g_spectrogram_valid = 0;
  g_tick_resolution = measure_tick_resolution();
  em_proto_init(&g_proto, handle, uart_write, 0, frame_timeout_ticks());
  uint8_t hello[4];
  put_u32(hello, EM_PROTO_VERSION);
  em_proto_send(&g_proto, EM_CMD_READY, 0, EM_PROTO_OK, hello, 4); /* like MLPerf Tiny's m-ready */
}

/* Drain what the UART holds, or check the partial-frame timeout when idle. */
void em_serial_server_poll(void) {
  uint8_t byte;
  if (em_uart_read(&byte)) {
    do {
      em_proto_feed(&g_proto, byte, em_board_ticks());
    } while (em_uart_read(&byte));
  } else {
    em_proto_poll(&g_proto, em_board_ticks());
  }
}

#ifndef EM_SERIAL_NO_MAIN
int main(void) {
  em_board_init();
  em_stack_paint();
  em_serial_server_init();
  for (;;) em_serial_server_poll();
}
#endif
