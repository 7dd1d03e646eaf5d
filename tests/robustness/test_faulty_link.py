"""The soak's damaged line (``FaultyLink``) is reproducible: the same seed gives the same faults -- counts,
kinds and the damaged bytes themselves -- however the OS chunks the received stream and however reads and
writes interleave (separate generators for the two directions)."""

from __future__ import annotations

import random

import pytest

from edgel3_mote.board_tests.harness.link import FaultyLink, SerialLink

STREAM = random.Random(0).randbytes(40_000)  # ~78 blocks of 512 bytes received
FRAMES = [bytes([i]) * (20 + i % 50) for i in range(200)]  # the requests sent


def _chunks(data: bytes, sizes: list[int]) -> list[bytes]:
    out, i, k = [], 0, 0
    while i < len(data):
        n = sizes[k % len(sizes)]
        out.append(data[i : i + n])
        i, k = i + n, k + 1
    return out


def _soak(monkeypatch, seed: int, sizes: list[int], reads_per_write: int) -> tuple[dict, bytes, list[bytes]]:
    """Feed STREAM in chunks of ``sizes`` and send FRAMES, ``reads_per_write`` reads between writes."""
    chunks = _chunks(STREAM, sizes)[::-1]
    sent: list[bytes] = []
    monkeypatch.setattr(SerialLink, "read", lambda self, timeout, max_bytes=65536: chunks.pop() if chunks else b"")
    monkeypatch.setattr(SerialLink, "write", lambda self, data: sent.append(data))
    monkeypatch.setattr(SerialLink, "open", lambda self: self)
    monkeypatch.setattr(SerialLink, "close", lambda self: None)
    monkeypatch.setattr("time.sleep", lambda s: None)  # the reconnect's pause
    link = FaultyLink("loop://", rate=0.2, seed=seed)
    received = bytearray()
    frames = iter(FRAMES)
    while True:
        for _ in range(reads_per_write):
            received += link.read(0.0)  # b"" when a fault dropped the one byte that came
        frame = next(frames, None)
        if frame is not None:
            link.write(frame)
        elif not chunks:
            break
    return dict(link.injected), bytes(received), sent


@pytest.mark.parametrize("seed", [1, 7])
def test_the_same_seed_gives_the_same_faults_under_any_chunking(monkeypatch, seed):
    runs = [
        _soak(monkeypatch, seed, sizes, reads)
        for sizes, reads in (
            ([65536], 1),  # everything at once
            ([1], 3),  # byte by byte
            ([7, 300, 1, 4096, 33], 2),  # irregular, as a UART FIFO and the OS deliver it
            ([512], 1),  # block-aligned
        )
    ]
    counts, received, sent = runs[0]
    for other in runs[1:]:
        assert other == (counts, received, sent)
    tx = sum(v for k, v in counts.items() if k.startswith("tx "))
    rx = sum(v for k, v in counts.items() if k.startswith("rx "))
    assert 20 < tx < 65 and 5 < rx < 30  # ~20 % of 200 frames, ~20 % of 78 blocks
    assert received != STREAM and sum(map(len, sent)) != sum(map(len, FRAMES))  # damage was done
    assert _soak(monkeypatch, seed + 1, [65536], 1)[0] != counts  # and the seed matters


def test_the_two_directions_do_not_share_a_generator(monkeypatch):
    """More reads between writes (a slower board) must not change which requests are damaged."""
    a = _soak(monkeypatch, 3, [100], 1)
    b = _soak(monkeypatch, 3, [100], 5)
    assert {k: v for k, v in a[0].items() if k.startswith("tx")} == {
        k: v for k, v in b[0].items() if k.startswith("tx")
    }
    assert a[2] == b[2] and a[1] == b[1]
