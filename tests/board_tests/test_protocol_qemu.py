"""The protocol server on the real board support in QEMU (qemu-mps2-an386), with the TEST
DOUBLE front-end/engine: the UART path, resynchronisation and the partial-frame timeout,
independently of the generated engine. Built with arm-none-eabi-gcc; QEMU killed by pid."""

import struct

import device_double as D
import numpy as np
import pytest

from edgel3_mote.board_tests.harness import protocol as P
from edgel3_mote.board_tests.harness.client import DeviceClient
from edgel3_mote.board_tests.harness.link import SerialLink
from edgel3_mote.board_tests.harness.qemu import QemuBoard
from edgel3_mote.export.boards import build_elf
from edgel3_mote.export.hostbuild import FIRMWARE_DIR

BOARD = "qemu-mps2-an386"


@pytest.fixture(scope="module")
def qemu_client(tmp_path_factory):
    elf = build_elf(
        BOARD,
        [
            D.HERE / "engine_double.c",
            FIRMWARE_DIR / "app" / "serial_main.c",
            FIRMWARE_DIR / "protocol" / "em_protocol.c",
        ],
        tmp_path_factory.mktemp("fw") / "double.elf",
        include_dirs=[D.HERE, FIRMWARE_DIR / "protocol"],
    )
    with QemuBoard(BOARD, elf) as qemu, SerialLink(qemu.url) as link:
        yield DeviceClient(link, timeout=20, retries=1)
    assert qemu.returncode is not None  # killed


def test_double_firmware_in_qemu_survives_corruption(qemu_client):
    dev = qemu_client
    info = dev.info()
    assert (info["board"], info["ticks_are_instructions"], info["model_name"]) == (BOARD, True, "double-16")
    assert info["flash_bytes"] > 0 and info["static_ram_bytes"] > 0  # linker symbols resolved
    pcm = np.random.default_rng(0).integers(-32768, 32767, D.WINDOW).astype(np.int16)
    result, spec = dev.run_window(pcm, layer_ticks=True)
    np.testing.assert_array_equal(spec, D.fake_spectrogram(pcm))
    np.testing.assert_array_equal(result.embedding, D.fake_embedding(spec))
    link = dev.link
    # garbage, an oversized length, a bad CRC, then a truncated frame left to time out
    link.write(bytes(range(0, 0xA5)) * 2)
    link.write(b"\xa5\x51" + struct.pack("<BBH", P.Cmd.PING, 77, 5000))
    bad = bytearray(P.encode_request(P.Cmd.PING, 78, b"payload"))
    bad[7] ^= 1
    link.write(bytes(bad))
    link.write(P.encode_request(P.Cmd.PING, 79, b"cut short")[:9])
    got = []
    while len(got) < 3:
        data = link.read(30)
        assert data, f"no answer; got {got}"
        got += dev.parser.feed(data)
    assert [(r.seq, P.Status(r.status)) for r in got] == [
        (77, P.Status.TOO_LONG),
        (78, P.Status.BAD_CRC),
        (79, P.Status.TIMEOUT),
    ]
    assert dev.ping(b"still here") == b"still here"
    assert dev.infer().embedding.tolist() == result.embedding.tolist()
