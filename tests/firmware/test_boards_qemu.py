"""Hello firmware on every QEMU board: semihosting exit codes, UART over TCP, deterministic ticks."""

from __future__ import annotations

import os
import re
import socket

import pytest

from edgel3_mote.board_tests.harness.qemu import QemuBoard, run_elf
from edgel3_mote.export.boards import COMMON_DIR, QEMU_BOARD_NAMES, build_elf, get_board


@pytest.fixture(scope="module")
def hello_elfs(tmp_path_factory):
    out = tmp_path_factory.mktemp("hello")
    return {
        b: build_elf(b, [COMMON_DIR / "hello_main.c"], out / f"{b}.elf", extra_flags=["-Werror"])
        for b in QEMU_BOARD_NAMES
    }


def _read_line(sock: socket.socket) -> bytes:
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = sock.recv(256)
        assert chunk, f"connection closed after {buf!r}"
        buf += chunk
    return buf


def _field(output: str, key: str) -> int:
    m = re.search(rf"^{key}=(\d+)$", output, re.M)
    assert m, output
    return int(m.group(1))


@pytest.mark.parametrize("name", QEMU_BOARD_NAMES)
def test_hello_uart_exit_and_ticks(name, hello_elfs):
    with QemuBoard(name, hello_elfs[name], serial=True, timeout=60, append="echo") as qemu:
        assert qemu.url == f"socket://127.0.0.1:{qemu.port}"
        sock = socket.create_connection(("127.0.0.1", qemu.port), timeout=30)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with sock:
            # After HELLO: the UART is on (an STM32 USART drops bytes received before UE/RE).
            assert _read_line(sock) == f"HELLO {name}\n".encode()
            sock.sendall(b"q")
            assert _read_line(sock) == b"ECHO q\n"
        code = qemu.wait()
        first = qemu.output
    assert code == 42  # the firmware's SYS_EXIT_EXTENDED code, through QEMU's exit status
    assert f"hello {name} {get_board(name).cpu}" in first
    assert _field(first, "float_x1000") == 3375  # FPU on before main
    assert _field(first, "ticks_are_instructions") == 1
    assert 0 < _field(first, "stack_high_water") < _field(first, "stack_size")

    # No serial link and no echo asked for: a different exit code comes back.
    code, second = run_elf(name, hello_elfs[name], timeout=60)
    assert code == 43
    # 100000 iterations of a short loop: the same instruction count in both runs (icount).
    ticks = _field(first, "loop_ticks")
    assert ticks == _field(second, "loop_ticks")
    assert 300_000 <= ticks <= 1_500_000


def test_qemu_is_killed_on_error(hello_elfs):
    name = QEMU_BOARD_NAMES[0]
    with pytest.raises(RuntimeError):
        with QemuBoard(name, hello_elfs[name], serial=True) as qemu:
            pid = qemu.pid
            raise RuntimeError("test failure inside the with block")
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
