/*
 * em_protocol.h -- the edgel3-mote serial protocol, device side (owner: harness).
 *
 * Byte layouts, commands and error codes are documented in PROTOCOL.md beside
 * this file; the host side is edgel3_mote.board_tests.harness.protocol. This module
 * only frames and checks bytes: it knows no command semantics. It is fed one
 * byte at a time (from em_uart_read) and hands every complete, CRC-checked
 * frame to a handler; it answers malformed frames itself. Fixed buffers, no
 * malloc, no board dependency, so it builds and is tested on the host.
 */
#ifndef EM_PROTOCOL_H
#define EM_PROTOCOL_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Every number of the protocol (frame constants, CRC parameters, commands EM_CMD_*, status codes
 * EM_PROTO_OK / EM_PROTO_ERR_*, INFER flags, INFO tags, MEM fields, payload layouts) is generated
 * from protocol_spec.toml into em_protocol_spec.h; the host's tables come from the same spec.
 * Requests longer than EM_PROTO_MAX_PAYLOAD are refused with EM_PROTO_ERR_TOO_LONG as soon as
 * their header arrives (nothing is buffered).
 *
 * Request:  A5 51 | cmd u8 | seq u8 | len u16 LE | payload | crc32 u32 LE
 * Response: A5 52 | cmd u8 | seq u8 | status u8 | len u16 LE | payload | crc32 u32 LE
 * The CRC-32 (IEEE 802.3, as zlib.crc32) covers everything after the magic up
 * to the end of the payload. */
#include "em_protocol_spec.h"

/* Writes n bytes to the link (blocking). */
typedef void (*em_proto_write_fn)(void *ctx, const uint8_t *buf, uint32_t n);

/* Handles one valid request. Writes at most EM_PROTO_MAX_PAYLOAD bytes to resp,
 * stores their count in *resp_len and returns the status byte. */
typedef uint8_t (*em_proto_handler_fn)(void *ctx, uint8_t cmd, const uint8_t *payload, uint32_t len,
                                       uint8_t *resp, uint32_t *resp_len);

typedef struct {
  em_proto_handler_fn handler;
  em_proto_write_fn write;
  void *ctx;
  uint32_t timeout_ticks; /* a partial frame idle this long is dropped */
  uint32_t last_tick;     /* tick of the last byte of the current frame */
  uint8_t state;
  uint8_t cmd;
  uint8_t seq;
  uint16_t len;
  uint32_t have;   /* bytes of the current field received */
  uint32_t frames; /* counters, for MEM/diagnostics */
  uint32_t errors;
  uint8_t rx[EM_PROTO_REQ_HEADER + EM_PROTO_MAX_PAYLOAD + EM_PROTO_CRC_BYTES];
  uint8_t tx[EM_PROTO_RESP_HEADER + EM_PROTO_MAX_PAYLOAD + EM_PROTO_CRC_BYTES];
} em_proto_t;

void em_proto_init(em_proto_t *p, em_proto_handler_fn handler, em_proto_write_fn write, void *ctx,
                   uint32_t timeout_ticks);

/* One received byte at time now (em_board_ticks()). */
void em_proto_feed(em_proto_t *p, uint8_t byte, uint32_t now);

/* Call when no byte is waiting: drops a stalled partial frame (answers TIMEOUT). */
void em_proto_poll(em_proto_t *p, uint32_t now);

/* Frames and writes one response (also used for the unsolicited READY). */
void em_proto_send(em_proto_t *p, uint8_t cmd, uint8_t seq, uint8_t status, const uint8_t *payload,
                   uint32_t len);

/* CRC-32 (IEEE, reflected, init/xorout 0xFFFFFFFF): crc = em_crc32(0, ...) then
 * chain by passing the previous value, exactly like zlib.crc32. */
uint32_t em_crc32(uint32_t crc, const uint8_t *data, uint32_t n);

#ifdef __cplusplus
}
#endif

#endif /* EM_PROTOCOL_H */
