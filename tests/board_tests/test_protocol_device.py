"""The device's C protocol (em_protocol.c + serial_main.c) proven on the host.

The real server code runs around a TEST DOUBLE board/front-end/engine (device_double/);
frames are fed as raw bytes: garbage, truncated frames, bad CRCs and oversized lengths
interleaved with valid commands. Every frame must be answered and the server must keep working.
"""

import struct
import zlib

import device_double as D
import numpy as np
import pytest

from edgel3_mote.board_tests.harness import protocol as P


@pytest.fixture(scope="module")
def lib():
    return D.build()


@pytest.fixture()
def dev(lib):
    d = D.DoubleDevice(lib)
    boot = P.ResponseParser().feed(d.take())
    assert [(r.cmd, r.status, r.payload) for r in boot] == [(P.Cmd.READY, 0, struct.pack("<I", 1))]
    return d


def ask(dev, frame: bytes) -> list:
    dev.feed(frame)
    return P.ResponseParser().feed(dev.take())


def test_c_crc32_equals_zlib(lib):
    rng = np.random.default_rng(1)
    for n in (0, 1, 3, 64, 1031):
        data = rng.bytes(n)
        assert lib.em_crc32(0, data, n) == zlib.crc32(data)
        # chaining like zlib
        assert lib.em_crc32(lib.em_crc32(0, data[: n // 2], n // 2), data[n // 2 :], n - n // 2) == zlib.crc32(data)


def test_every_error_status(dev):
    def status(cmd, payload=b"", seq=1):
        (r,) = ask(dev, P.encode_request(cmd, seq, payload))
        assert (r.cmd, r.seq) == (cmd & 0xFF, seq)
        return P.Status(r.status)

    assert status(0x42) == P.Status.UNKNOWN_CMD
    assert status(P.Cmd.INFO, b"x") == P.Status.BAD_LENGTH
    assert status(P.Cmd.INFER, b"\x00") == P.Status.NOT_LOADED
    assert status(P.Cmd.GET_SPECTROGRAM, P.encode_get_spectrogram(0)) == P.Status.NOT_LOADED
    assert status(P.Cmd.INFER, b"") == P.Status.BAD_LENGTH
    assert status(P.Cmd.LOAD_AUDIO, b"\0\0\0\0\1") == P.Status.BAD_LENGTH  # odd PCM bytes
    assert status(P.Cmd.LOAD_AUDIO, P.encode_load_audio(5, np.zeros(3, np.int16))) == P.Status.BAD_OFFSET
    assert status(P.Cmd.LOAD_AUDIO, P.encode_load_audio(0, np.zeros(500, np.int16))) == P.Status.OK
    assert status(P.Cmd.LOAD_AUDIO, P.encode_load_audio(500, np.zeros(500, np.int16))) == P.Status.OK
    # past the model window (3000 samples)
    for off in range(1000, 3000, 500):
        assert status(P.Cmd.LOAD_AUDIO, P.encode_load_audio(off, np.zeros(500, np.int16))) == P.Status.OK
    assert status(P.Cmd.LOAD_AUDIO, P.encode_load_audio(3000, np.zeros(1, np.int16))) == P.Status.TOO_LONG
    assert status(P.Cmd.INFER, b"\x80") == P.Status.BAD_ARG
    assert status(P.Cmd.INFER, b"\x01") == P.Status.OK
    assert status(P.Cmd.GET_SPECTROGRAM, P.encode_get_spectrogram(D.INPUT_BYTES + 1)) == P.Status.BAD_ARG
    assert status(P.Cmd.RESET) == P.Status.OK
    assert status(P.Cmd.INFER, b"\x00") == P.Status.NOT_LOADED

    # oversized length: refused at the header, before any payload is taken
    hdr = b"\xa5\x51" + struct.pack("<BBH", P.Cmd.PING, 9, P.MAX_PAYLOAD + 1)
    (r,) = ask(dev, hdr)
    assert (r.seq, r.status) == (9, P.Status.TOO_LONG)
    # bad CRC
    bad = bytearray(P.encode_request(P.Cmd.PING, 10, b"hello"))
    bad[-1] ^= 1
    (r,) = ask(dev, bytes(bad))
    assert (r.seq, r.status) == (10, P.Status.BAD_CRC)
    # truncated frame: answered TIMEOUT once the line stays idle
    assert ask(dev, P.encode_request(P.Cmd.PING, 11, b"abcdef")[:-3]) == []
    dev.stall(0.2)
    assert P.ResponseParser().feed(dev.take()) == []  # not yet: the timeout is 0.25 s of device clock
    dev.stall(0.1)
    (r,) = P.ResponseParser().feed(dev.take())
    assert (r.cmd, r.seq, r.status) == (P.Cmd.PING, 11, P.Status.TIMEOUT)
    (r,) = ask(dev, P.encode_request(P.Cmd.PING, 12, b"after"))
    assert (r.status, r.payload) == (0, b"after")


def test_garbage_and_corruption_interleaved_with_valid_commands(dev):
    rng = np.random.default_rng(7)
    sent_valid = 0
    for round_ in range(60):
        kind = round_ % 5
        if kind == 0:  # random bytes (no sync pair inside, else they may start a frame)
            junk = rng.bytes(int(rng.integers(1, 200))).replace(b"\xa5", b"\x00")
            dev.feed(junk)
        elif kind == 1:  # oversized length
            dev.feed(b"\xa5\x51" + struct.pack("<BBH", P.Cmd.INFO, 200, int(rng.integers(P.MAX_PAYLOAD + 1, 65536))))
        elif kind == 2:  # bad CRC
            f = bytearray(P.encode_request(P.Cmd.PING, 201, rng.bytes(int(rng.integers(0, 64)))))
            f[int(rng.integers(2, len(f)))] ^= 0x40
            dev.feed(bytes(f))
        elif kind == 3:  # truncated, then the line goes idle
            f = P.encode_request(P.Cmd.PING, 202, rng.bytes(20))
            dev.feed(f[: int(rng.integers(2, len(f) - 1))])  # at least the sync pair: a frame began
            dev.stall(3.0)
        answers = P.ResponseParser().feed(dev.take())
        # every damaged frame got an error answer (random junk gets none)
        assert all(a.status != P.Status.OK for a in answers)
        if kind in (1, 2, 3):
            assert len(answers) == 1
        if kind == 3:
            assert answers[0].status == P.Status.TIMEOUT
        # then a valid command is answered correctly
        payload = rng.bytes(int(rng.integers(0, P.MAX_PAYLOAD)))
        (r,) = ask(dev, P.encode_request(P.Cmd.PING, round_, payload))
        assert (r.seq, r.status, r.payload) == (round_, P.Status.OK, payload)
        sent_valid += 1
    (r,) = ask(dev, P.encode_request(P.Cmd.MEM, 250))
    mem = P.decode_mem(r.payload)
    assert mem["frames_ok"] >= sent_valid
    assert mem["frames_error"] >= 36  # 12 rounds each of oversize, bad CRC, truncated


def test_max_payload_exactly_accepted(dev):
    payload = bytes(range(256)) * 4
    assert len(payload) == P.MAX_PAYLOAD
    (r,) = ask(dev, P.encode_request(P.Cmd.PING, 3, payload))
    assert (r.status, r.payload) == (0, payload)
