"""A byte link to a board: any pyserial URL at any baud, with timeouts and connect retries.

``/dev/ttyACM0`` (a real board), ``socket://127.0.0.1:PORT`` (QEMU's UART on a TCP port),
``rfc2217://host:port`` (a serial port shared over the network), ``loop://`` (tests).
"""
from __future__ import annotations

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
                self._port = serial.serial_for_url(self.url, baudrate=self.baud, timeout=0,
                                                   write_timeout=30)
                break
            except (serial.SerialException, OSError, ValueError) as exc:
                if isinstance(exc, ValueError) and "baud" in str(exc).lower():
                    raise InvalidInputError(f"baud rate {self.baud} refused by {self.url}: {exc}") from exc
                last_exc = exc
                if time.monotonic() > deadline:
                    raise DeviceError(f"cannot open {self.url} ({last_exc}): check the port/URL and that "
                                      f"the board (or QEMU) is running") from exc
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
