"""SerialLink over pyserial URLs: loop://, socket:// (with TCP_NODELAY), errors."""

import socket
import threading

import pytest

from edgel3_mote.board_tests.harness import protocol as P
from edgel3_mote.board_tests.harness.client import DeviceClient
from edgel3_mote.board_tests.harness.link import SerialLink
from edgel3_mote.errors import DeviceError, InvalidInputError


def test_loop_url_roundtrip():
    with SerialLink("loop://", baud=921600) as link:
        link.write(b"hello")
        got = b""
        while len(got) < 5:
            chunk = link.read(1.0)
            assert chunk
            got += chunk
        assert got == b"hello"
        assert link.read(0.05) == b""


def test_socket_url_with_a_fake_device_and_nodelay():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]

    def fake_device():  # answers one PING after a READY, like the firmware
        conn, _ = srv.accept()
        conn.sendall(P.encode_response(P.Cmd.READY, 0, 0, b"\x01\0\0\0"))
        buf = b""
        while len(buf) < 6 or len(buf) < 10 + int.from_bytes(buf[4:6], "little"):
            buf += conn.recv(4096)
        conn.sendall(b"noise" + P.encode_response(buf[2], buf[3], 0, buf[6:-4]))
        conn.close()

    t = threading.Thread(target=fake_device, daemon=True)
    t.start()
    with SerialLink(f"socket://127.0.0.1:{port}") as link:
        assert link._port._socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        client = DeviceClient(link, timeout=5, retries=0)
        # (pyserial's socket open() flushes what arrived before it returned: READY may be gone)
        assert client.ping(b"abc") == b"abc"
    t.join(5)
    srv.close()


def test_link_errors_are_one_line_user_errors():
    with pytest.raises(InvalidInputError):
        SerialLink("")
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()  # nothing listens there now
    with pytest.raises(DeviceError, match="cannot open"):
        SerialLink(f"socket://127.0.0.1:{port}", connect_timeout=0.3).open()
    with pytest.raises(DeviceError, match="not open"):
        SerialLink("loop://").write(b"x")
