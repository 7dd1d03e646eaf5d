"""Host-side framing: encode/parse round trips, CRC, resynchronisation of the response parser."""

import struct
import zlib

import numpy as np
import pytest

from edgel3_mote.board_tests.harness import protocol as P


def test_request_layout_matches_protocol_md():
    frame = P.encode_request(P.Cmd.INFER, 0x2A, b"\x01")
    assert frame[:2] == b"\xa5\x51"
    assert frame[2:6] == bytes([0x03, 0x2A, 0x01, 0x00])
    assert frame[6:7] == b"\x01"
    assert struct.unpack("<I", frame[7:])[0] == zlib.crc32(frame[2:7])


def test_parser_roundtrip_and_resync_through_garbage():
    rng = np.random.default_rng(0)
    frames = [P.encode_response(P.Cmd.PING, i, P.Status.OK, rng.bytes(i * 37 % 300)) for i in range(20)]
    # a corrupted frame in the middle must be skipped, not swallow its successor
    bad = bytearray(P.encode_response(P.Cmd.INFO, 99, P.Status.OK, b"xyz"))
    bad[8] ^= 0xFF
    stream = bytearray()
    for i, f in enumerate(frames):
        stream += rng.bytes(int(rng.integers(0, 50))) + b"\xa5"  # noise, incl. a lone sync byte
        stream += (bytes(bad) if i == 10 else b"") + f
    parser = P.ResponseParser()
    got = []
    for i in range(0, len(stream), 7):  # arbitrary split points
        got += parser.feed(stream[i : i + 7])
    assert [(r.seq, r.payload) for r in got] == [
        (i, rng_payload) for i, rng_payload in ((f[3], f[7:-4]) for f in frames)
    ]
    assert parser.discarded > 0


def test_parser_rejects_oversized_length_header():
    fake = b"\xa5\x52" + struct.pack("<BBBH", 1, 1, 0, P.MAX_PAYLOAD + 1)
    good = P.encode_response(P.Cmd.MEM, 5, P.Status.OK, b"\x00" * 8)
    got = P.ResponseParser().feed(fake + good)
    assert [(r.cmd, r.seq) for r in got] == [(P.Cmd.MEM, 5)]


def test_info_tlv_roundtrip_and_unknown_tags_kept():
    fields = {
        "protocol_version": 1,
        "board": "qemu-mps2-an386",
        "clock_hz": 25_000_000,
        "ticks_are_instructions": True,
        "input_shape": [64, 50, 1],
        "input_scale": 0.5,
        "input_zero_point": -128,
    }
    payload = P.encode_info(fields) + bytes([0xEE, 2, 1, 2])
    info = P.decode_info(payload)
    assert {k: info[k] for k in fields} == fields
    assert info["tag_0xee"] == "0102"
    with pytest.raises(ValueError):
        P.decode_info(payload[:-1])


def test_infer_payload_decode_checks_length():
    emb = np.arange(-8, 8, dtype=np.int8)
    payload = struct.pack("<IIIHH", 10, 20, 8000, 16, 2) + emb.tobytes() + struct.pack("<II", 5, 6)
    r = P.decode_infer(payload)
    assert (r.frontend_ticks, r.engine_ticks, r.samples, r.layer_ticks) == (10, 20, 8000, [5, 6])
    np.testing.assert_array_equal(r.embedding, emb)
    with pytest.raises(ValueError):
        P.decode_infer(payload[:-1])
