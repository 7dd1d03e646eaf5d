"""The edgel3-mote serial protocol, host side: framing, CRC-32 and command payloads.

The device side is ``firmware/protocol/em_protocol.c`` + ``firmware/app/serial_main.c``;
both follow ``firmware/protocol/PROTOCOL.md``. Pure functions and a stream parser, no I/O,
so everything here is tested without a device.

Request:  ``A5 51 | cmd u8 | seq u8 | len u16 LE | payload | crc32 u32 LE``
Response: ``A5 52 | cmd u8 | seq u8 | status u8 | len u16 LE | payload | crc32 u32 LE``
The CRC-32 is zlib's, over everything after the two sync bytes up to the end of the payload.
"""

from __future__ import annotations

import enum
import struct
import zlib
from dataclasses import dataclass, field

import numpy as np

PROTOCOL_VERSION = 1
MAX_PAYLOAD = 1024
SYNC0 = 0xA5
REQ_SYNC = bytes([SYNC0, 0x51])
RESP_SYNC = bytes([SYNC0, 0x52])
REQ_HEADER = 6
RESP_HEADER = 7
CRC_BYTES = 4

INFER_LAYER_TICKS = 0x01


class Cmd(enum.IntEnum):
    NONE = 0x00
    INFO = 0x01
    LOAD_AUDIO = 0x02
    INFER = 0x03
    GET_SPECTROGRAM = 0x04
    MEM = 0x05
    RESET = 0x06
    LAYERS = 0x07
    PING = 0x08
    SLIDE_AUDIO = 0x09
    READY = 0x7F


class Status(enum.IntEnum):
    OK = 0
    BAD_CRC = 1
    BAD_LENGTH = 2
    UNKNOWN_CMD = 3
    TOO_LONG = 4
    NOT_LOADED = 5
    TIMEOUT = 6
    BAD_OFFSET = 7
    FRONTEND = 8
    ENGINE = 9
    BAD_ARG = 10


def crc32(data: bytes) -> int:
    return zlib.crc32(data) & 0xFFFFFFFF


def encode_request(cmd: int, seq: int, payload: bytes = b"") -> bytes:
    """One request frame. Payloads over MAX_PAYLOAD are encoded anyway (tests send them)."""
    body = struct.pack("<BBH", int(cmd) & 0xFF, seq & 0xFF, len(payload) & 0xFFFF) + bytes(payload)
    return REQ_SYNC + body + struct.pack("<I", crc32(body))


def encode_response(cmd: int, seq: int, status: int, payload: bytes = b"") -> bytes:
    """One response frame (what the device sends; used by tests and fake devices)."""
    body = struct.pack("<BBBH", int(cmd) & 0xFF, seq & 0xFF, int(status) & 0xFF, len(payload)) + bytes(payload)
    return RESP_SYNC + body + struct.pack("<I", crc32(body))


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
            cmd, seq, status, length = struct.unpack_from("<BBBH", self._buf, 2)
            if length > MAX_PAYLOAD:  # not a real header: skip this sync pair
                self.discarded += 2
                del self._buf[:2]
                continue
            total = RESP_HEADER + length + CRC_BYTES
            if len(self._buf) < total:
                return out
            body = bytes(self._buf[2 : RESP_HEADER + length])
            (want,) = struct.unpack_from("<I", self._buf, RESP_HEADER + length)
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

# INFO is tag-length-value; unknown tags are kept under their number (newer firmware).
INFO_TAGS: dict[int, tuple[str, str]] = {
    0x01: ("protocol_version", "u32"),
    0x02: ("max_payload", "u32"),
    0x03: ("board", "str"),
    0x04: ("core", "str"),
    0x05: ("clock_hz", "u32"),
    0x06: ("ticks_are_instructions", "bool"),
    0x07: ("model_name", "str"),
    0x08: ("model_sha256", "str"),
    0x09: ("input_shape", "u32s"),
    0x0A: ("input_scale", "f32"),
    0x0B: ("input_zero_point", "i32"),
    0x0C: ("output_shape", "u32s"),
    0x0D: ("output_scale", "f32"),
    0x0E: ("output_zero_point", "i32"),
    0x0F: ("flash_bytes", "u32"),
    0x10: ("static_ram_bytes", "u32"),
    0x11: ("arena_bytes", "u32"),
    0x12: ("weight_bytes", "u32"),
    0x13: ("num_layers", "u32"),
    0x14: ("window_samples", "u32"),
    0x15: ("sample_rate", "u32"),
    0x16: ("stack_bytes", "u32"),
    0x17: ("tick_resolution", "u32"),
}


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
    return struct.pack("<I", offset) + pcm.tobytes()


def load_audio_chunk_samples(max_payload: int = MAX_PAYLOAD) -> int:
    return (max_payload - 4) // 2


def encode_slide_audio(slide_id: int, drop: int) -> bytes:
    return struct.pack("<II", slide_id, drop)


def decode_load_audio(payload: bytes) -> tuple[int, int]:
    """-> (loaded_samples, window_samples)"""
    return struct.unpack("<II", payload)


@dataclass
class InferResult:
    frontend_ticks: int
    engine_ticks: int
    samples: int
    embedding: np.ndarray  # int8 (output_bytes,)
    layer_ticks: list[int] = field(default_factory=list)


def encode_infer(layer_ticks: bool) -> bytes:
    return bytes([INFER_LAYER_TICKS if layer_ticks else 0])


def decode_infer(payload: bytes) -> InferResult:
    fe, eng, samples, n_out, n_layers = struct.unpack_from("<IIIHH", payload)
    want = 16 + n_out + 4 * n_layers
    if len(payload) != want:
        raise ValueError(f"INFER payload is {len(payload)} bytes, header says {want}")
    emb = np.frombuffer(payload, dtype=np.int8, count=n_out, offset=16).copy()
    ticks = list(struct.unpack_from(f"<{n_layers}I", payload, 16 + n_out))
    return InferResult(fe, eng, samples, emb, ticks)


def encode_get_spectrogram(offset: int, max_len: int = 0) -> bytes:
    return struct.pack("<IH", offset, max_len)


def decode_get_spectrogram(payload: bytes) -> tuple[int, int, bytes]:
    """-> (total_bytes, offset, data)"""
    total, offset = struct.unpack_from("<II", payload)
    return total, offset, payload[8:]


MEM_FIELDS = (
    "stack_bytes",
    "stack_high_water",
    "arena_bytes",
    "heap_bytes",
    "pcm_buffer_bytes",
    "spectrogram_buffer_bytes",
    "frontend_scratch_bytes",
    "engine_scratch_bytes",
    "static_ram_bytes",
    "protocol_buffer_bytes",
    "frames_ok",
    "frames_error",
)


def decode_mem(payload: bytes) -> dict:
    n = len(payload) // 4
    values = struct.unpack(f"<{n}I", payload[: 4 * n])
    return {MEM_FIELDS[i] if i < len(MEM_FIELDS) else f"field_{i}": v for i, v in enumerate(values)}


def encode_layers(first: int) -> bytes:
    return struct.pack("<H", first)


def decode_layers(payload: bytes) -> tuple[int, int, list[str]]:
    """-> (total, first, names)"""
    total, first, count = struct.unpack_from("<HHH", payload)
    names = payload[6:].split(b"\0")[:count]
    if len(names) != count:
        raise ValueError("LAYERS payload has fewer names than its count")
    return total, first, [n.decode("utf-8", "replace") for n in names]
