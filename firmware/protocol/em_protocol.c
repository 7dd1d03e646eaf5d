/*
 * em_protocol.c -- framing, CRC-32 and resynchronisation of the serial protocol.
 * See em_protocol.h and PROTOCOL.md. Every frame whose header arrives gets an
 * answer: the handler's, or BAD_CRC / TOO_LONG / TIMEOUT from here. Bytes that
 * are not part of a frame (garbage before a sync pair) are dropped silently.
 */
#include "em_protocol.h"

#include <string.h>

enum { ST_HUNT0 = 0, ST_HUNT1, ST_HEADER, ST_PAYLOAD, ST_CRC };

/* Nibble table (generated from the spec's polynomial): 64 bytes of flash instead of 1 KiB, ~2x
 * slower than a byte table, which is irrelevant next to the UART. */
static const uint32_t crc_nibble[16] = EM_PROTO_CRC32_NIBBLE_TABLE;
/* zlib's chaining (crc = em_crc32(previous, ...)) undoes the final XOR with the initial value */
typedef char em_crc32_chains[(EM_PROTO_CRC32_INIT == EM_PROTO_CRC32_XOROUT) ? 1 : -1];

uint32_t em_crc32(uint32_t crc, const uint8_t *data, uint32_t n) {
  crc ^= EM_PROTO_CRC32_INIT;
  for (uint32_t i = 0; i < n; ++i) {
    crc ^= data[i];
    crc = (crc >> 4) ^ crc_nibble[crc & 0xFu];
    crc = (crc >> 4) ^ crc_nibble[crc & 0xFu];
  }
  return crc ^ EM_PROTO_CRC32_XOROUT;
}

static uint32_t get_u32le(const uint8_t *b) {
  return (uint32_t)b[0] | ((uint32_t)b[1] << 8) | ((uint32_t)b[2] << 16) | ((uint32_t)b[3] << 24);
}

void em_proto_init(em_proto_t *p, em_proto_handler_fn handler, em_proto_write_fn write, void *ctx,
                   uint32_t timeout_ticks) {
  memset(p, 0, sizeof(*p));
  p->handler = handler;
  p->write = write;
  p->ctx = ctx;
  p->timeout_ticks = timeout_ticks;
  p->state = ST_HUNT0;
}

void em_proto_send(em_proto_t *p, uint8_t cmd, uint8_t seq, uint8_t status, const uint8_t *payload,
                   uint32_t len) {
  uint8_t *f = p->tx;
  if (len > EM_PROTO_MAX_PAYLOAD) { /* a handler bug: never overrun, report it */
    len = 0;
    status = EM_PROTO_ERR_TOO_LONG;
  }
  if (len && payload != f + EM_PROTO_RESP_HEADER) {
    memmove(f + EM_PROTO_RESP_HEADER, payload, len);
  }
  f[0] = EM_PROTO_SYNC0;
  f[1] = EM_PROTO_RESP_SYNC1;
  f[2] = cmd;
  f[3] = seq;
  f[4] = status;
  f[5] = (uint8_t)(len & 0xFFu);
  f[6] = (uint8_t)(len >> 8);
  uint32_t crc = em_crc32(0, f + 2, EM_PROTO_RESP_HEADER - 2 + len);
  uint8_t *c = f + EM_PROTO_RESP_HEADER + len;
  c[0] = (uint8_t)crc;
  c[1] = (uint8_t)(crc >> 8);
  c[2] = (uint8_t)(crc >> 16);
  c[3] = (uint8_t)(crc >> 24);
  p->write(p->ctx, f, EM_PROTO_RESP_HEADER + len + EM_PROTO_CRC_BYTES);
}

static void answer_error(em_proto_t *p, uint8_t status) {
  p->errors++;
  em_proto_send(p, p->cmd, p->seq, status, 0, 0);
}

static void dispatch(em_proto_t *p) {
  const uint8_t *hdr = p->rx; /* cmd, seq, len lo, len hi */
  uint32_t want = get_u32le(p->rx + 4u + p->len);
  if (em_crc32(0, hdr, 4u + p->len) != want) {
    answer_error(p, EM_PROTO_ERR_BAD_CRC);
    return;
  }
  p->frames++;
  uint8_t *resp = p->tx + EM_PROTO_RESP_HEADER;
  uint32_t resp_len = 0;
  uint8_t status = p->handler(p->ctx, p->cmd, p->rx + 4, p->len, resp, &resp_len);
  if (status != EM_PROTO_OK) {
    p->errors++;
  }
  em_proto_send(p, p->cmd, p->seq, status, resp, resp_len);
}

void em_proto_poll(em_proto_t *p, uint32_t now) {
  if (p->state == ST_HUNT0 || (uint32_t)(now - p->last_tick) <= p->timeout_ticks) {
    return;
  }
  if (p->state == ST_HUNT1) { /* a lone sync byte: not a frame yet */
    p->state = ST_HUNT0;
    return;
  }
  if (p->state == ST_HEADER) { /* cmd/seq may not have arrived: say so */
    if (p->have < 1) p->cmd = EM_CMD_NONE;
    if (p->have < 2) p->seq = 0;
  }
  answer_error(p, EM_PROTO_ERR_TIMEOUT);
  p->state = ST_HUNT0;
}

void em_proto_feed(em_proto_t *p, uint8_t byte, uint32_t now) {
  em_proto_poll(p, now);
  p->last_tick = now;
  switch (p->state) {
    case ST_HUNT0:
      if (byte == EM_PROTO_SYNC0) p->state = ST_HUNT1;
      break;
    case ST_HUNT1:
      if (byte == EM_PROTO_REQ_SYNC1) {
        p->state = ST_HEADER;
        p->have = 0;
      } else if (byte != EM_PROTO_SYNC0) {
        p->state = ST_HUNT0;
      }
      break;
    case ST_HEADER:
      p->rx[p->have++] = byte;
      if (p->have == 1) p->cmd = byte;
      if (p->have == 2) p->seq = byte;
      if (p->have == 4) {
        p->len = (uint16_t)(p->rx[2] | (p->rx[3] << 8));
        if (p->len > EM_PROTO_MAX_PAYLOAD) {
          /* Refuse now: the payload is never buffered, and the bytes that
           * follow are hunted through for the next sync pair. */
          answer_error(p, EM_PROTO_ERR_TOO_LONG);
          p->state = ST_HUNT0;
        } else {
          p->have = 0;
          p->state = p->len ? ST_PAYLOAD : ST_CRC;
        }
      }
      break;
    case ST_PAYLOAD:
      p->rx[4u + p->have++] = byte;
      if (p->have == p->len) {
        p->have = 0;
        p->state = ST_CRC;
      }
      break;
    case ST_CRC:
      p->rx[4u + p->len + p->have++] = byte;
      if (p->have == EM_PROTO_CRC_BYTES) {
        p->state = ST_HUNT0;
        dispatch(p);
      }
      break;
    default:
      p->state = ST_HUNT0;
      break;
  }
}
