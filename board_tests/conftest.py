"""On-target tests: the firmware's serial app on a board, or in QEMU.

``pytest board_tests`` (options from the root conftest: ``--board``, ``--port``, ``--baud``):
- no ``--port`` and a ``qemu-*`` board: the project for ``--board-model`` (default sea-64, seeded
  random weights unless ``--board-weights``) is built or reused, QEMU is started by a session
  fixture and always killed by pid afterwards;
- ``--port URL``: a real board already flashed with the firmware of ``--board-project`` (or of the
  project built for ``--board``/``--board-model``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import edgel3_mote  # noqa: F401  (legacy Keras before any TensorFlow import)

SHARED = Path(os.environ.get("EDGEL3_MOTE_SHARED", Path(__file__).resolve().parents[1].parent / "shared"))


def pytest_addoption(parser):
    group = parser.getgroup("edgel3-mote board tests")
    group.addoption("--board-model", default="sea-64", help="model of the firmware under test (default sea-64)")
    group.addoption("--board-weights", default=None, help="trained weights (default: seeded random weights)")
    group.addoption(
        "--board-project",
        default=None,
        help="generated project directory of the firmware on the board (default: build/reuse)",
    )


@pytest.fixture(scope="session")
def deployment(request):
    """(BenchSetup, elf path or None) of the firmware under test."""
    from edgel3_mote.board_tests.harness.deploy import resolve_deployment

    port = request.config.getoption("--port")
    return resolve_deployment(
        request.config.getoption("--board"),
        request.config.getoption("--board-model"),
        request.config.getoption("--board-weights"),
        project=request.config.getoption("--board-project"),
        need_elf=port is None,
        log=lambda m: None,
    )


@pytest.fixture(scope="session")
def device(request, deployment):
    """A DeviceClient connected to the board (QEMU started here and killed afterwards)."""
    from edgel3_mote.board_tests.harness.deploy import open_board

    setup, elf = deployment
    with open_board(
        setup,
        elf,
        port=request.config.getoption("--port"),
        baud=request.config.getoption("--baud"),
        infer_timeout=300,
        log=lambda m: None,
    ) as client:
        yield client


@pytest.fixture(scope="session")
def info(device):
    return device.info()


@pytest.fixture(scope="session")
def windows(deployment):
    """Two int16 PCM windows from real clips (../shared), framed as get_embedding frames them."""
    from edgel3_mote.board_tests.harness.bench import to_pcm16
    from edgel3_mote.compress.audio import read_audio
    from edgel3_mote.compress.embedding import frame_audio

    setup, _ = deployment
    clips = sorted((SHARED / "audio" / "cc0_animals").glob("*.mp3"))
    if len(clips) < 2:  # a broken checkout, not a reason to skip
        pytest.fail(
            f"{SHARED}/audio/cc0_animals is missing: the board tests need the workplace's ../shared "
            f"folder (or EDGEL3_MOTE_SHARED pointing at it)"
        )
    out = []
    for path in (clips[0], clips[-1]):
        audio, sr = read_audio(path)
        frames, _ = frame_audio(audio, sr, setup.model, center=True, hop_size=0.5)
        out.append(to_pcm16(frames[min(1, len(frames) - 1)]))
    return out


@pytest.fixture(scope="session")
def tflm(deployment):
    from edgel3_mote.export.reference import TflmRunner

    return TflmRunner(deployment[0].tflite)


@pytest.fixture()
def rng():
    return np.random.default_rng(1234)
