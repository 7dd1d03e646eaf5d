"""Run firmware in QEMU: one ``qemu-system-arm`` per ``QemuBoard``, always killed by its pid.

>>> with QemuBoard("qemu-mps2-an386", "build/.../firmware.elf") as qemu:
...     link = serial.serial_for_url(qemu.url)          # the board's UART over TCP
...     ...
...     code = qemu.wait(timeout=60)                    # the firmware's SYS_EXIT_EXTENDED code

QEMU runs with ``-icount shift=0``: virtual time advances 1 ns per instruction, so board
ticks count instructions and are the same from run to run. Semihosting (``SYS_WRITE0`` text,
``SYS_EXIT_EXTENDED``) is on; its text lands in ``.output`` with QEMU's own messages.
With ``serial=True`` the UART is a TCP server on a free loopback port that waits for the
first client before the firmware starts (``server=on,wait=on,nodelay=on``). ``plugin`` adds a
TCG plugin (``-plugin``), e.g. the cycle estimator's TB trace (``cycles.plugin_arg``).

QEMU is killed by pid on ``__exit__``/``kill()``/``wait()`` timeouts, at interpreter exit
(atexit), and by the kernel when the thread that started it dies (PR_SET_PDEATHSIG, so even a
SIGKILLed test run leaves no QEMU behind): start it from a thread that outlives it.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

from edgel3_mote.errors import DeviceError, InvalidInputError, ToolchainError
from edgel3_mote.export.boards import BoardSpec, get_board

QEMU = "qemu-system-arm"
_LIVE: dict[int, subprocess.Popen] = {}  # pid -> process, killed at interpreter exit


def _kill_pid(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.kill(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
    _LIVE.pop(proc.pid, None)


@atexit.register
def _kill_all_started() -> None:
    for proc in list(_LIVE.values()):
        _kill_pid(proc)


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL QEMU when this Python process dies, even by a signal
    that skips atexit (SIGTERM from `timeout`, SIGKILL). Linux only; elsewhere atexit must do."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):
        pass


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def qemu_command(
    board: BoardSpec, elf: Path, serial: str, icount: bool, append: str | None = None, plugin: str | None = None
) -> list[str]:
    cmd = [
        QEMU,
        "-M",
        board.qemu_machine,
        "-nographic",
        "-monitor",
        "none",
        "-semihosting-config",
        "enable=on,target=native",
        "-kernel",
        str(elf),
        "-serial",
        serial,
    ]
    if icount:
        cmd += ["-icount", "shift=0"]
    if append:
        cmd += ["-append", append]  # the firmware reads it with semihosting SYS_GET_CMDLINE
    if plugin:
        cmd += ["-plugin", plugin]  # e.g. the cycle estimator's TB trace (harness/cycles.py)
    return cmd


class QemuBoard:
    """A firmware running in QEMU (a context manager; see the module docstring)."""

    def __init__(
        self,
        board: str | BoardSpec,
        elf: str | os.PathLike,
        serial: bool = True,
        icount: bool = True,
        timeout: float = 600.0,
        start_timeout: float = 20.0,
        append: str | None = None,
        plugin: str | None = None,
    ):
        self.board = get_board(board)
        if not self.board.runnable_in_qemu:
            raise InvalidInputError(
                f"board '{self.board.name}' does not run in QEMU: use a qemu-* board or a real board through --port"
            )
        self.elf = Path(elf)
        if not self.elf.is_file():
            raise InvalidInputError(f"firmware {self.elf} not found: build it first (edgel3-mote export firmware)")
        if shutil.which(QEMU) is None:
            raise ToolchainError(f"{QEMU} not found: run `make setup` (apt-get install qemu-system-arm)")
        self.serial = serial
        self.icount = icount
        self.append = append
        self.plugin = plugin
        self.timeout = timeout
        self.start_timeout = start_timeout
        self.port: int | None = None
        self.proc: subprocess.Popen | None = None
        self._chunks: list[bytes] = []
        self._lock = threading.Lock()
        self._reader: threading.Thread | None = None
        self._deadline = 0.0

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "QemuBoard":
        for _attempt in range(5):  # another process may grab the free port before QEMU binds it
            self.port = free_loopback_port() if self.serial else None
            chardev = f"tcp:127.0.0.1:{self.port},server=on,wait=on,nodelay=on" if self.serial else "null"
            self._chunks = []
            self.proc = subprocess.Popen(
                qemu_command(self.board, self.elf, chardev, self.icount, self.append, self.plugin),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
            _LIVE[self.proc.pid] = self.proc
            self._deadline = time.monotonic() + self.timeout
            self._reader = threading.Thread(target=self._read_output, daemon=True)
            self._reader.start()
            if not self.serial or self._wait_listening():
                return self
            out = self.output
            self.kill()
            if "Address already in use" not in out:
                raise DeviceError(f"QEMU did not start for {self.board.name}: {out.strip()[-500:]}")
        raise DeviceError("QEMU could not bind a loopback port after 5 tries: free some ports and retry")

    def _read_output(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for chunk in iter(lambda: self.proc.stdout.read1(4096), b""):
            with self._lock:
                self._chunks.append(chunk)

    def _wait_listening(self) -> bool:
        """True once QEMU waits for the serial client (it says so on stderr); False if it died."""
        end = time.monotonic() + self.start_timeout
        while time.monotonic() < end:
            if "waiting for connection" in self.output.lower():
                return True
            if self.proc.poll() is not None:
                return False
            time.sleep(0.02)
        raise DeviceError(
            f"QEMU did not open its serial port within {self.start_timeout:.0f} s: {self.output.strip()[-300:]}"
        )

    def kill(self) -> None:
        if self.proc is not None:
            _kill_pid(self.proc)
            if self._reader is not None:
                self._reader.join(timeout=5)

    def __enter__(self) -> "QemuBoard":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.kill()

    # ------------------------------------------------------------------ observing
    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def url(self) -> str:
        if self.port is None:
            raise InvalidInputError("this QEMU runs without a serial port (serial=False)")
        return f"socket://127.0.0.1:{self.port}"

    @property
    def output(self) -> str:
        """Everything QEMU and the firmware's semihosting printed so far."""
        with self._lock:
            return b"".join(self._chunks).decode("utf-8", errors="replace")

    @property
    def returncode(self) -> int | None:
        return self.proc.poll() if self.proc is not None else None

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the firmware to exit; returns its exit code. Kills QEMU and raises on timeout."""
        if self.proc is None:
            raise DeviceError("QEMU was not started")
        remaining = self._deadline - time.monotonic() if timeout is None else timeout
        try:
            code = self.proc.wait(timeout=max(remaining, 0.0))
        except subprocess.TimeoutExpired:
            self.kill()
            raise DeviceError(
                f"{self.elf.name} on {self.board.name} did not finish within "
                f"{max(remaining, 0):.0f} s; QEMU killed. Output so far:\n{self.output[-1000:]}"
            ) from None
        if self._reader is not None:
            self._reader.join(timeout=5)
        _LIVE.pop(self.proc.pid, None)
        return code


def run_elf(
    board: str | BoardSpec,
    elf: str | os.PathLike,
    timeout: float = 600.0,
    icount: bool = True,
    append: str | None = None,
    plugin: str | None = None,
) -> tuple[int, str]:
    """Run a semihosting firmware with no serial link to its end: (exit code, output).
    ``plugin``: a ``-plugin`` argument (e.g. ``cycles.plugin_arg``)."""
    with QemuBoard(board, elf, serial=False, icount=icount, timeout=timeout, append=append, plugin=plugin) as qemu:
        code = qemu.wait()
        return code, qemu.output
