/*
 * em_protocol.h -- the edgel3-mote serial protocol, device side (owner: harness).
 *
 * Byte layouts, commands and error codes are documented in PROTOCOL.md beside
 * this file; the host side is edgel3_mote.board_tests.protocol. This module
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

#define EM_PROTO_VERSION 1u

/* Largest payload of any frame, either direction. Longer requests are refused
 * with EM_PROTO_ERR_TOO_LONG as soon as their header arrives (nothing is buffered). */
#define EM_PROTO_MAX_PAYLOAD 1024u

/* Request:  A5 51 | cmd u8 | seq u8 | len u16 LE | payload | crc32 u32 LE
 * Response: A5 52 | cmd u8 | seq u8 | status u8 | len u16 LE | payload | crc32 u32 LE
 * The CRC-32 (IEEE 802.3, as zlib.crc32) covers everything after the magic up
 * to the end of the payload. */
#define EM_PROTO_SYNC0 0xA5u
#define EM_PROTO_REQ_SYNC1 0x51u  /* 'Q' */
#define EM_PROTO_RESP_SYNC1 0x52u /* 'R' */
#define EM_PROTO_REQ_HEADER 6u
#define EM_PROTO_RESP_HEADER 7u
#define EM_PROTO_CRC_BYTES 4u

/* Commands (request cmd byte; the response echoes it). */
enum {
  EM_CMD_NONE = 0x00, /* only in error responses when no cmd byte was read */
  EM_CMD_INFO = 0x01,
  EM_CMD_LOAD_AUDIO = 0x02,
  EM_CMD_INFER = 0x03,
  EM_CMD_GET_SPECTROGRAM = 0x04,
  EM_CMD_MEM = 0x05,
  EM_CMD_RESET = 0x06,
  EM_CMD_LAYERS = 0x07,
  EM_CMD_PING = 0x08,
  EM_CMD_SLIDE_AUDIO = 0x09,
  EM_CMD_READY = 0x7F /* unsolicited, device -> host, once after boot */
};

/* Response status byte. */
enum {
  EM_PROTO_OK = 0,
  EM_PROTO_ERR_BAD_CRC = 1,    /* frame CRC did not match: payload ignored */
  EM_PROTO_ERR_BAD_LENGTH = 2, /* payload length wrong for this command */
  EM_PROTO_ERR_UNKNOWN_CMD = 3,
  EM_PROTO_ERR_TOO_LONG = 4,   /* len > EM_PROTO_MAX_PAYLOAD, or audio past the window */
  EM_PROTO_ERR_NOT_LOADED = 5, /* INFER before LOAD_AUDIO / GET_SPECTROGRAM before INFER */
  EM_PROTO_ERR_TIMEOUT = 6,    /* a partial frame stalled: dropped */
  EM_PROTO_ERR_BAD_OFFSET = 7, /* LOAD_AUDIO chunk would leave a gap / offset past the data */
  EM_PROTO_ERR_FRONTEND = 8,   /* em_logmel_s8 failed */
  EM_PROTO_ERR_ENGINE = 9,     /* em_model_invoke failed */
  EM_PROTO_ERR_BAD_ARG = 10    /* a field of the payload is out of range */
};

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
