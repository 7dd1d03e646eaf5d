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
    ``injected`` counts them by kind; ``faults_injected`` in total. Seeded."""

    WRITE_FAULTS = ("drop", "flip", "garbage", "disconnect")
    READ_FAULTS = ("drop", "flip", "garbage")

    def __init__(
        self, url: str, baud: int = 115200, connect_timeout: float = 20.0, *, rate: float = 0.05, seed: int = 0
    ) -> None:
        if not 0 < rate < 1:
            raise InvalidInputError(f"fault rate {rate} must be in (0, 1), e.g. 0.05")
        super().__init__(url, baud, connect_timeout)
        self.rate = float(rate)
        self._rng = random.Random(seed)
        self.injected = {
            f"{d} {k}": 0 for d, kinds in (("tx", self.WRITE_FAULTS), ("rx", self.READ_FAULTS)) for k in kinds
        }

    @property
    def faults_injected(self) -> int:
        return sum(self.injected.values())

    def _damage(self, data: bytes, kind: str) -> bytes:
        buf = bytearray(data)
        i = self._rng.randrange(len(buf))
        if kind == "drop":
            del buf[i]
        elif kind == "flip":
            buf[i] ^= 1 << self._rng.randrange(8)
        elif kind == "garbage":  # may hold sync pairs and absurd lengths: the parser must resync
            burst = bytes(self._rng.randrange(256) for _ in range(self._rng.randint(1, 48)))
            buf[i:i] = burst
        return bytes(buf)

    def write(self, data: bytes) -> None:
        if data and self._rng.random() < self.rate:
            kind = self._rng.choice(self.WRITE_FAULTS)
            self.injected[f"tx {kind}"] += 1
            if kind == "disconnect":
                self.close()
                time.sleep(0.05)
                self.open()
            else:
                data = self._damage(data, kind)
        super().write(data)

    def read(self, timeout: float, max_bytes: int = 65536) -> bytes:
        data = super().read(timeout, max_bytes)
        if data and self._rng.random() < min(1.0, self.rate * len(data) / 512):
            kind = self._rng.choice(self.READ_FAULTS)
            self.injected[f"rx {kind}"] += 1
            data = self._damage(data, kind)
        return data
