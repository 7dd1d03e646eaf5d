"""The device survives garbage and corruption and still answers correctly afterwards:
random bytes, truncated frames, bad CRCs and oversized lengths, interleaved with valid commands."""

import struct
import time

import numpy as np

from edgel3_mote.board_tests.harness import protocol as P


def _answers(device, want: int, timeout: float) -> list:
    got, end = [], time.monotonic() + timeout
    while len(got) < want and time.monotonic() < end:
        got += [r for r in device._pending(min(end, time.monotonic() + 0.5)) if r.cmd != P.Cmd.READY]
    return got


def test_garbage_and_corruption_then_correct_answers(device, windows, tflm, rng):
    device.load_audio(windows[0])
    baseline = device.infer()
    link = device.link
    for round_ in range(12):
        kind = round_ % 4
        if kind == 0:  # random bytes, without sync pairs (those would begin a frame)
            link.write(rng.bytes(int(rng.integers(1, 300))).replace(b"\xa5", b"\x5a"))
        elif kind == 1:  # oversized length: refused at the header
            link.write(
                b"\xa5\x51" + struct.pack("<BBH", P.Cmd.PING, 200 + round_, int(rng.integers(P.MAX_PAYLOAD + 1, 65536)))
            )
            (r,) = _answers(device, 1, 10)
            assert (r.seq, r.status) == (200 + round_, P.Status.TOO_LONG)
        elif kind == 2:  # bad CRC
            f = bytearray(P.encode_request(P.Cmd.PING, 200 + round_, rng.bytes(40)))
            f[-2] ^= 0x20
            link.write(bytes(f))
            (r,) = _answers(device, 1, 10)
            assert (r.seq, r.status) == (200 + round_, P.Status.BAD_CRC)
        else:  # truncated frame, then silence until the device times it out
            f = P.encode_request(P.Cmd.PING, 200 + round_, rng.bytes(40))
            link.write(f[: int(rng.integers(3, len(f) - 1))])
            (r,) = _answers(device, 1, 60)
            assert (r.cmd, r.seq, r.status) == (P.Cmd.PING, 200 + round_, P.Status.TIMEOUT)
        # a valid command right after is answered correctly
        payload = rng.bytes(int(rng.integers(0, 200)))
        assert device.ping(payload) == payload
    # and the device still computes the same, exact embedding
    again = device.infer()
    np.testing.assert_array_equal(again.embedding, baseline.embedding)
    spec = device.get_spectrogram()
    oracle = np.asarray(tflm.invoke(spec.reshape(tflm.input_shape))).reshape(-1)
    np.testing.assert_array_equal(again.embedding, oracle)
    assert device.mem()["frames_error"] >= 9
