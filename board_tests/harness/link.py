"""A byte link to a board: any pyserial URL at any baud, with timeouts and connect retries.

``/dev/ttyACM0`` (a real board), ``socket://127.0.0.1:PORT`` (QEMU's UART on a TCP port),
``rfc2217://host:port`` (a serial port shared over the network), ``loop://`` (tests).
"""

from __future__ import annotations

import random
import socket
import time

from edgel3_mote.errors import DeviceError, InvalidInputError


class SerialLink:
    """Opened lazily by ``open()`` or ``with``; ``read`` never blocks longer than asked."""

    def __init__(self, url: str, baud: int = 115200, connect_timeout: float = 20.0) -> None:
        if not url:
            raise InvalidInputError("no serial port given: pass --port /dev/ttyACM0 or socket://HOST:PORT")
        self.url = url
        self.baud = int(baud)
        self.connect_timeout = float(connect_timeout)
        self._port = None
        self.bytes_written = 0
        self.bytes_read = 0

    def open(self) -> "SerialLink":
        import serial  # pyserial

        deadline = time.monotonic() + self.connect_timeout
        last_exc: Exception | None = None
        while True:
            try:
                # timeout=0: non-blocking reads; read() below does its own waiting
                self._port = serial.serial_for_url(self.url, baudrate=self.baud, timeout=0, write_timeout=30)
                break
            except (serial.SerialException, OSError, ValueError) as exc:
                if isinstance(exc, ValueError) and "baud" in str(exc).lower():
                    raise InvalidInputError(f"baud rate {self.baud} refused by {self.url}: {exc}") from exc
                last_exc = exc
                if time.monotonic() > deadline:
                    raise DeviceError(
                        f"cannot open {self.url} ({last_exc}): check the port/URL and that "
                        f"the board (or QEMU) is running"
                    ) from exc
                time.sleep(0.1)  # QEMU may not be listening yet, a USB port may be re-enumerating
        sock = getattr(self._port, "_socket", None)
        if sock is not None:  # socket:// — don't let Nagle hold back small frames
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        return self

    def close(self) -> None:
        if self._port is not None:
            try:
                self._port.close()
            finally:
                self._port = None

    def __enter__(self) -> "SerialLink":
        return self.open() if self._port is None else self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def is_open(self) -> bool:
        return self._port is not None

    def _require(self):
        if self._port is None:
            raise DeviceError(f"link to {self.url} is not open (call open() first)")
        return self._port

    def write(self, data: bytes) -> None:
        import serial

        port = self._require()
        try:
            port.write(data)
            port.flush()
        except (serial.SerialException, OSError) as exc:
            raise DeviceError(f"write to {self.url} failed ({exc}): the board (or QEMU) went away") from exc
        self.bytes_written += len(data)

    def read(self, timeout: float, max_bytes: int = 65536) -> bytes:
        """Whatever arrives within ``timeout`` seconds: returns as soon as some bytes came
        (b"" on timeout)."""
        import serial

        port = self._require()
        deadline = time.monotonic() + timeout
        nap = 0.0002
        while True:
            try:
                data = port.read(max_bytes)  # timeout=0: what is there, at once
            except (serial.SerialException, OSError) as exc:
                raise DeviceError(f"read from {self.url} failed ({exc}): the board (or QEMU) went away") from exc
            if data:
                self.bytes_read += len(data)
                return data
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return b""
            time.sleep(min(nap, remaining))
            nap = min(nap * 2, 0.002)

    def drain(self, quiet: float = 0.05, limit: float = 2.0) -> bytes:
        """Read until the line has been quiet for ``quiet`` seconds (at most ``limit``)."""
        got = bytearray()
        end = time.monotonic() + limit
        while time.monotonic() < end:
            data = self.read(quiet)
            if not data:
                break
            got += data
        return bytes(got)


class FaultyLink(SerialLink):
    """A link that damages the line on purpose (the soak): each ``write`` (one request frame, host ->
    device) is hit with probability ``rate`` by one fault -- a dropped byte, a flipped bit, a burst of
    garbage, or a TCP disconnect + reconnect before it -- and the bytes read (device -> host) by a
    dropped byte, a flipped bit or a garbage burst at the same rate per 512 bytes (about a frame).
    ``injected`` counts them by kind; ``faults_injected`` in total.

    Reproducible: the two directions draw from separate generators seeded from ``seed``, and the
    received stream's faults are decided per 512-byte block of the stream (by byte offset), so the
    same bytes get the same faults however the OS splits them into reads, and however reads and
    writes interleave."""

    WRITE_FAULTS = ("drop", "flip", "garbage", "disconnect")
    READ_FAULTS = ("drop", "flip", "garbage")
    RX_BLOCK = 512

    def __init__(
        self, url: str, baud: int = 115200, connect_timeout: float = 20.0, *, rate: float = 0.05, seed: int = 0
    ) -> None:
        if not 0 < rate < 1:
            raise InvalidInputError(f"fault rate {rate} must be in (0, 1), e.g. 0.05")
        super().__init__(url, baud, connect_timeout)
        self.rate = float(rate)
        self.seed = int(seed)
        self._tx_rng = random.Random(f"edgel3-mote tx {self.seed}")
        self._rx_rng = random.Random(f"edgel3-mote rx {self.seed}")
        self._rx_pos = 0  # bytes received so far (before damage)
        self._rx_plan: list[tuple[int, str, int, bytes] | None] = []  # per block: (offset, kind, bit, burst)
        self.injected = {
            f"{d} {k}": 0 for d, kinds in (("tx", self.WRITE_FAULTS), ("rx", self.READ_FAULTS)) for k in kinds
        }

    @property
    def faults_injected(self) -> int:
        return sum(self.injected.values())

    @staticmethod
    def _burst(rng: random.Random) -> bytes:  # may hold sync pairs and absurd lengths: the parser must resync
        return bytes(rng.randrange(256) for _ in range(rng.randint(1, 48)))

    @staticmethod
    def _apply(buf: bytearray, i: int, kind: str, bit: int, burst: bytes) -> None:
        if kind == "drop":
            del buf[i]
        elif kind == "flip":
            buf[i] ^= 1 << bit
        elif kind == "garbage":
            buf[i:i] = burst

    def write(self, data: bytes) -> None:
        rng = self._tx_rng
        if data and rng.random() < self.rate:
            kind = rng.choice(self.WRITE_FAULTS)
            self.injected[f"tx {kind}"] += 1
            if kind == "disconnect":
                self.close()
                time.sleep(0.05)
                self.open()
            else:
                buf = bytearray(data)
                i = rng.randrange(len(buf))
                self._apply(buf, i, kind, rng.randrange(8), self._burst(rng) if kind == "garbage" else b"")
                data = bytes(buf)
        super().write(data)

    def _rx_block(self, block: int) -> tuple[int, str, int, bytes] | None:
        """The fault planned for the ``block``-th 512 bytes of the received stream (drawn in block order)."""
        rng = self._rx_rng
        while len(self._rx_plan) <= block:
            if rng.random() < self.rate:
                kind = rng.choice(self.READ_FAULTS)
                plan = (
                    rng.randrange(self.RX_BLOCK),
                    kind,
                    rng.randrange(8),
                    self._burst(rng) if kind == "garbage" else b"",
                )
                self._rx_plan.append(plan)
            else:
                self._rx_plan.append(None)
        return self._rx_plan[block]

    def read(self, timeout: float, max_bytes: int = 65536) -> bytes:
        data = super().read(timeout, max_bytes)
        if not data:
            return data
        start, end = self._rx_pos, self._rx_pos + len(data)
        self._rx_pos = end
        hits = []
        for block in range(start // self.RX_BLOCK, (end - 1) // self.RX_BLOCK + 1):
            plan = self._rx_block(block)
            if plan is not None and start <= block * self.RX_BLOCK + plan[0] < end:
                hits.append((block * self.RX_BLOCK + plan[0] - start, *plan[1:]))
        buf = bytearray(data)
        for i, kind, bit, burst in reversed(hits):  # from the end: earlier offsets stay valid
            self.injected[f"rx {kind}"] += 1
            self._apply(buf, i, kind, bit, burst)
        return bytes(buf)
