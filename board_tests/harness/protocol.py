"""The edgel3-mote serial protocol, host side: framing, CRC-32 and command payloads.

The device side is ``firmware/protocol/em_protocol.c`` + ``firmware/app/serial_main.c``;
both follow ``firmware/protocol/PROTOCOL.md``. Pure functions and a stream parser, no I/O,
so everything here is tested without a device.

Request:  ``A5 51 | cmd u8 | seq u8 | len u16 LE | payload | crc32 u32 LE``
Response: ``A5 52 | cmd u8 | seq u8 | status u8 | len u16 LE | payload | crc32 u32 LE``
The CRC-32 is zlib's, over everything after the two sync bytes up to the end of the payload.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

import numpy as np

# Every number of the protocol comes from firmware/protocol/protocol_spec.toml, through the generated
# protocol_tables (protocol_codegen writes it, and the C header, from the spec); this module is logic.
from edgel3_mote.board_tests.harness.protocol_tables import (
    CRC_BYTES,
    CRC_FORMAT,
    GET_SPECTROGRAM_REQUEST,
    GET_SPECTROGRAM_RESPONSE,
    INFER_CLASSIFIED,
    INFER_RESPONSE,
    INFO_TAGS,
    LAYERS_REQUEST,
    LAYERS_RESPONSE,
    LOAD_AUDIO_REQUEST,
    LOAD_AUDIO_RESPONSE,
    MAX_PAYLOAD,
    MEM_FIELDS,
    PROTOCOL_VERSION,
    REQ_HEADER,
    REQ_HEADER_FORMAT,
    REQ_SYNC1,
    RESP_HEADER,
    RESP_HEADER_FORMAT,
    RESP_SYNC1,
    SLIDE_AUDIO_REQUEST,
    SYNC0,
    Cmd,
    InferFlag,
    Status,
)

__all__ = [
    "CRC_BYTES",
    "INFER_CLASSIFIED",
    "INFO_TAGS",
    "MAX_PAYLOAD",
    "MEM_FIELDS",
    "PROTOCOL_VERSION",
    "REQ_HEADER",
    "RESP_HEADER",
    "SYNC0",
    "Cmd",
    "InferFlag",
    "Status",
]

REQ_SYNC = bytes([SYNC0, REQ_SYNC1])
RESP_SYNC = bytes([SYNC0, RESP_SYNC1])


def crc32(data: bytes) -> int:
    """The spec's CRC-32 (CRC32_POLY/INIT/XOROUT: zlib's; tests/board_tests/test_protocol_spec.py holds them equal)."""
    return zlib.crc32(data) & 0xFFFFFFFF


def encode_request(cmd: int, seq: int, payload: bytes = b"") -> bytes:
    """One request frame. Payloads over MAX_PAYLOAD are encoded anyway (tests send them)."""
    body = struct.pack(REQ_HEADER_FORMAT, int(cmd) & 0xFF, seq & 0xFF, len(payload) & 0xFFFF) + bytes(payload)
    return REQ_SYNC + body + struct.pack(CRC_FORMAT, crc32(body))


def encode_response(cmd: int, seq: int, status: int, payload: bytes = b"") -> bytes:
    """One response frame (what the device sends; used by tests and fake devices)."""
    body = struct.pack(RESP_HEADER_FORMAT, int(cmd) & 0xFF, seq & 0xFF, int(status) & 0xFF, len(payload))
    return RESP_SYNC + body + bytes(payload) + struct.pack(CRC_FORMAT, crc32(body + bytes(payload)))


@dataclass
class Response:
    cmd: int
    seq: int
    status: int
    payload: bytes

    @property
    def ok(self) -> bool:
        return self.status == Status.OK

    def status_name(self) -> str:
        try:
            return Status(self.status).name
        except ValueError:
            return f"status {self.status}"


class ResponseParser:
    """Incremental parser of the device's byte stream: hunts for the sync pair, checks the
    length bound and the CRC, and yields responses. Bytes that are not part of a valid frame
    (boot text, line noise, a corrupt frame) are counted in ``discarded`` and skipped."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self.discarded = 0

    def feed(self, data: bytes) -> list[Response]:
        self._buf += data
        out: list[Response] = []
        while True:
            start = self._buf.find(RESP_SYNC)
            if start < 0:
                keep = 1 if self._buf[-1:] == bytes([SYNC0]) else 0
                self.discarded += len(self._buf) - keep
                del self._buf[: len(self._buf) - keep]
                return out
            if start:
                self.discarded += start
                del self._buf[:start]
            if len(self._buf) < RESP_HEADER:
                return out
            cmd, seq, status, length = struct.unpack_from(RESP_HEADER_FORMAT, self._buf, len(RESP_SYNC))
            if length > MAX_PAYLOAD:  # not a real header: skip this sync pair
                self.discarded += 2
                del self._buf[:2]
                continue
            total = RESP_HEADER + length + CRC_BYTES
            if len(self._buf) < total:
                return out
            body = bytes(self._buf[len(RESP_SYNC) : RESP_HEADER + length])
            (want,) = struct.unpack_from(CRC_FORMAT, self._buf, RESP_HEADER + length)
            if crc32(body) != want:
                self.discarded += 2
                del self._buf[:2]
                continue
            out.append(Response(cmd, seq, status, bytes(self._buf[RESP_HEADER : RESP_HEADER + length])))
            del self._buf[:total]

    def reset(self) -> None:
        self.discarded += len(self._buf)
        self._buf.clear()


# ---- payloads --------------------------------------------------------------------------

# INFO is tag-length-value (INFO_TAGS: tag -> name, kind); unknown tags are kept under their number.


def decode_info(payload: bytes) -> dict:
    info: dict = {}
    i = 0
    while i + 2 <= len(payload):
        tag, n = payload[i], payload[i + 1]
        val = payload[i + 2 : i + 2 + n]
        if len(val) != n:
            raise ValueError(f"INFO field {tag:#x} truncated")
        i += 2 + n
        name, kind = INFO_TAGS.get(tag, (f"tag_{tag:#04x}", "bytes"))
        if kind == "str":
            info[name] = val.decode("utf-8", "replace")
        elif kind in ("u32", "bool"):
            v = struct.unpack("<I", val)[0]
            info[name] = bool(v) if kind == "bool" else v
        elif kind == "i32":
            info[name] = struct.unpack("<i", val)[0]
        elif kind == "f32":
            info[name] = struct.unpack("<f", val)[0]
        elif kind == "u32s":
            info[name] = list(struct.unpack(f"<{n // 4}I", val))
        else:
            info[name] = val.hex()
    if i != len(payload):
        raise ValueError("INFO payload has trailing bytes")
    return info


def encode_info(fields: dict) -> bytes:
    """The inverse of decode_info (for fake devices in tests)."""
    by_name = {name: (tag, kind) for tag, (name, kind) in INFO_TAGS.items()}
    out = bytearray()
    for name, value in fields.items():
        tag, kind = by_name[name]
        if kind == "str":
            val = value.encode()
        elif kind in ("u32", "bool"):
            val = struct.pack("<I", int(value))
        elif kind == "i32":
            val = struct.pack("<i", int(value))
        elif kind == "f32":
            val = struct.pack("<f", float(value))
        else:
            val = struct.pack(f"<{len(value)}I", *value)
        out += bytes([tag, len(val)]) + val
    return bytes(out)


def encode_load_audio(offset: int, pcm: np.ndarray) -> bytes:
    pcm = np.ascontiguousarray(pcm, dtype="<i2")
    return struct.pack(LOAD_AUDIO_REQUEST.format, offset) + pcm.tobytes()


def load_audio_chunk_samples(max_payload: int = MAX_PAYLOAD) -> int:
    return (max_payload - LOAD_AUDIO_REQUEST.size) // 2


def encode_slide_audio(slide_id: int, drop: int) -> bytes:
    return struct.pack(SLIDE_AUDIO_REQUEST.format, slide_id, drop)


def decode_load_audio(payload: bytes) -> tuple[int, int]:
    """-> (loaded_samples, window_samples); SLIDE_AUDIO answers the same layout."""
    return struct.unpack(LOAD_AUDIO_RESPONSE.format, payload)


@dataclass
class InferResult:
    frontend_ticks: int
    engine_ticks: int
    samples: int
    embedding: np.ndarray  # int8 (output_bytes,)
    layer_ticks: list[int] = field(default_factory=list)


def encode_infer(layer_ticks: bool, classify: bool = False) -> bytes:
    flags = (InferFlag.LAYER_TICKS if layer_ticks else 0) | (InferFlag.CLASSIFY if classify else 0)
    return bytes([int(flags)])


def infer_payload_bytes(payload: bytes) -> int:
    """Bytes of an INFER answer up to its layer ticks (where a classified answer's head fields start)."""
    if len(payload) < INFER_RESPONSE.size:
        raise ValueError(f"INFER payload of {len(payload)} bytes is shorter than its header")
    fields = dict(zip(INFER_RESPONSE.fields, struct.unpack_from(INFER_RESPONSE.format, payload), strict=True))
    return INFER_RESPONSE.size + fields["out_bytes"] + 4 * fields["n_layers"]


def decode_infer(payload: bytes) -> InferResult:
    fe, eng, samples, n_out, n_layers = struct.unpack_from(INFER_RESPONSE.format, payload)
    want = infer_payload_bytes(payload)
    if len(payload) != want:
        raise ValueError(f"INFER payload is {len(payload)} bytes, header says {want}")
    emb = np.frombuffer(payload, dtype=np.int8, count=n_out, offset=INFER_RESPONSE.size).copy()
    ticks = list(struct.unpack_from(f"<{n_layers}I", payload, INFER_RESPONSE.size + n_out))
    return InferResult(fe, eng, samples, emb, ticks)


def encode_get_spectrogram(offset: int, max_len: int = 0) -> bytes:
    return struct.pack(GET_SPECTROGRAM_REQUEST.format, offset, max_len)


def decode_get_spectrogram(payload: bytes) -> tuple[int, int, bytes]:
    """-> (total_bytes, offset, data)"""
    total, offset = struct.unpack_from(GET_SPECTROGRAM_RESPONSE.format, payload)
    return total, offset, payload[GET_SPECTROGRAM_RESPONSE.size :]


def decode_mem(payload: bytes) -> dict:
    n = len(payload) // 4
    values = struct.unpack(f"<{n}I", payload[: 4 * n])
    return {MEM_FIELDS[i] if i < len(MEM_FIELDS) else f"field_{i}": v for i, v in enumerate(values)}


def encode_layers(first: int) -> bytes:
    return struct.pack(LAYERS_REQUEST.format, first)


def decode_layers(payload: bytes) -> tuple[int, int, list[str]]:
    """-> (total, first, names)"""
    total, first, count = struct.unpack_from(LAYERS_RESPONSE.format, payload)
    names = payload[LAYERS_RESPONSE.size :].split(b"\0")[:count]
    if len(names) != count:
        raise ValueError("LAYERS payload has fewer names than its count")
    return total, first, [n.decode("utf-8", "replace") for n in names]
