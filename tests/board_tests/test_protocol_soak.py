"""The harness recovers from a damaged line (FaultyLink: dropped bytes, flipped bits, garbage bursts,
TCP disconnects) against the protocol server in QEMU with the TEST DOUBLE engine: every window still
gives the exact embedding, every injected fault is recovered. The real engine's soak, checked against
tflite-micro, is board_tests/test_board_soak.py."""

import device_double as D
import numpy as np
import pytest

from edgel3_mote.board_tests.harness.client import DeviceClient
from edgel3_mote.board_tests.harness.link import FaultyLink
from edgel3_mote.board_tests.harness.qemu import QemuBoard
from edgel3_mote.export.boards import build_elf
from edgel3_mote.export.hostbuild import FIRMWARE_DIR

BOARD = "qemu-mps2-an386"


@pytest.fixture(scope="module")
def double_elf(tmp_path_factory):
    return build_elf(
        BOARD,
        [
            D.HERE / "engine_double.c",
            FIRMWARE_DIR / "app" / "serial_main.c",
            FIRMWARE_DIR / "protocol" / "em_protocol.c",
        ],
        tmp_path_factory.mktemp("fw") / "double.elf",
        include_dirs=[D.HERE, FIRMWARE_DIR / "protocol"],
    )


def test_every_window_survives_a_noisy_line(double_elf):
    rng = np.random.default_rng(1)
    with QemuBoard(BOARD, double_elf) as qemu, FaultyLink(qemu.url, rate=0.25, seed=3) as link:
        dev = DeviceClient(link, timeout=1.0, infer_timeout=2.0, retries=12)
        dev.wait_ready(timeout=1.0)
        dev.info()
        previous, hop = None, D.WINDOW // 4
        clip = rng.integers(-32768, 32767, D.WINDOW * 4).astype(np.int16)
        windows = 0
        for start in range(0, len(clip) - D.WINDOW + 1, hop):
            pcm = clip[start : start + D.WINDOW]
            result, spec = dev.run_window(pcm, previous=previous, hop=hop)
            np.testing.assert_array_equal(spec, D.fake_spectrogram(pcm))
            np.testing.assert_array_equal(result.embedding, D.fake_embedding(spec))
            previous, windows = pcm, windows + 1
    assert windows == 13
    kinds = link.injected
    assert link.faults_injected >= 20 and all(n > 0 for n in kinds.values()), kinds
    assert dev.faults_recovered == link.faults_injected and dev.resends >= 10
