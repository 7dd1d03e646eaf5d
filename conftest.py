"""Root pytest configuration: options for the on-target board tests (board_tests/test_*.py)."""


def pytest_addoption(parser):
    group = parser.getgroup("edgel3-mote board tests")
    group.addoption("--board", default="qemu-mps2-an386",
                    help="board name (qemu-* boards are started in QEMU by the tests)")
    group.addoption("--port", default=None,
                    help="pyserial URL of a real board (e.g. /dev/ttyACM0); default: start QEMU")
    group.addoption("--baud", type=int, default=115200, help="baud rate for --port")
