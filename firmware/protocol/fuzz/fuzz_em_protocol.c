/*
 * fuzz_em_protocol.c -- libFuzzer target for the device's protocol parser (em_protocol.c),
 * built for the host with AddressSanitizer and UndefinedBehaviorSanitizer (`make fuzz`).
 *
 * The input is the byte stream arriving on the UART, interleaved with time: the first two bytes
 * seed the idle gaps between bytes (some longer than the frame timeout, so stalled frames and
 * TIMEOUT answers are exercised), the rest are fed to em_proto_feed one by one, with em_proto_poll
 * between them. Besides memory errors and undefined behaviour, the oracle aborts on:
 *   - a response that is not one well-formed frame (sync pair, length <= max, CRC-32 over it);
 *   - a handler called with a payload longer than the maximum or not the frame's own buffer;
 *   - a lost or extra answer: every request whose header arrived gets exactly one response.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "em_protocol.h"

#define TIMEOUT_TICKS 100u
#define CMD_OVERSIZED 0x7Eu /* a buggy handler that claims a response longer than the maximum */

static em_proto_t proto;
static uint32_t responses, handler_errors;

static void check_write(void *ctx, const uint8_t *buf, uint32_t n) {
  (void)ctx;
  if (n < EM_PROTO_RESP_HEADER + EM_PROTO_CRC_BYTES) abort();
  if (buf[0] != EM_PROTO_SYNC0 || buf[1] != EM_PROTO_RESP_SYNC1) abort();
  uint32_t len = (uint32_t)buf[5] | ((uint32_t)buf[6] << 8);
  if (len > EM_PROTO_MAX_PAYLOAD || n != EM_PROTO_RESP_HEADER + len + EM_PROTO_CRC_BYTES) abort();
  uint32_t crc = em_crc32(0, buf + 2, EM_PROTO_RESP_HEADER - 2 + len);
  const uint8_t *c = buf + EM_PROTO_RESP_HEADER + len;
  if (c[0] != (uint8_t)crc || c[1] != (uint8_t)(crc >> 8) || c[2] != (uint8_t)(crc >> 16) ||
      c[3] != (uint8_t)(crc >> 24))
    abort();
  if (buf[2] == CMD_OVERSIZED && buf[4] == EM_PROTO_OK)
    abort(); /* an oversized answer is refused, never sent */
  responses++;
}

/* Like the serial app: PING echoes, INFO fills the largest response, RESET answers empty, the rest
 * are unknown; the payload handed over must be exactly the frame's, under the maximum. */
static uint8_t handler(void *ctx, uint8_t cmd, const uint8_t *payload, uint32_t len, uint8_t *resp,
                       uint32_t *resp_len) {
  (void)ctx;
  if (len > EM_PROTO_MAX_PAYLOAD) abort();
  if (payload != proto.rx + 4) abort(); /* the frame's own bytes, in place: no copy, no overrun */
  switch (cmd) {
    case EM_CMD_PING:
      memmove(resp, payload, len);
      *resp_len = len;
      return EM_PROTO_OK;
    case EM_CMD_INFO:
      memset(resp, 0x5A, EM_PROTO_MAX_PAYLOAD);
      *resp_len = EM_PROTO_MAX_PAYLOAD;
      return EM_PROTO_OK;
    case EM_CMD_RESET:
      *resp_len = 0;
      return EM_PROTO_OK;
    case CMD_OVERSIZED:
      *resp_len =
          EM_PROTO_MAX_PAYLOAD + 1u + (len ? payload[0] : 0u); /* send must refuse, not overrun */
      return EM_PROTO_OK;
    default:
      handler_errors++;
      *resp_len = 0;
      return EM_PROTO_ERR_UNKNOWN_CMD;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const uint8_t ready[] = {EM_PROTO_VERSION, 'o', 'k'};
  em_proto_init(&proto, handler, check_write, 0, TIMEOUT_TICKS);
  responses = handler_errors = 0;
  em_proto_send(&proto, EM_CMD_READY, 0, EM_PROTO_OK, ready,
                sizeof ready); /* the boot-time READY, as the app */
  uint32_t rng = size >= 2 ? ((uint32_t)data[0] << 8 | data[1]) * 2654435761u + 1u : 1u;
  uint32_t now = 0xFFFFFF00u; /* the tick counter wraps during most runs */
  for (size_t i = size >= 2 ? 2 : 0; i < size; ++i) {
    rng = rng * 1664525u + 1013904223u;
    uint32_t r = rng >> 24;
    now += r < 8 ? TIMEOUT_TICKS + 1u + r : 1u; /* 1 in 32 gaps stalls the frame */
    if (r >= 8 && r < 16) em_proto_poll(&proto, now);
    em_proto_feed(&proto, data[i], now);
    if (proto.have > sizeof proto.rx) abort();
  }
  em_proto_poll(&proto,
                now + TIMEOUT_TICKS + 1u); /* the line goes quiet: a partial frame is dropped */
  /* one answer per frame: the handler's (counted in frames, and in errors when not OK) or the
   * parser's */
  if (responses != 1u + proto.frames + proto.errors - handler_errors) abort();
  return 0;
}
