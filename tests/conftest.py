"""Fixtures shared by the host test suite.

Real data comes from ``../shared`` (read-only, never copied into the repository):
the pretrained SEA-64 weights and ten CC0 animal recordings.
"""

from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path

import pytest

import edgel3_mote  # noqa: F401  (sets TF_USE_LEGACY_KERAS before any TensorFlow import)

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("EDGEL3_MOTE_SHARED", REPO.parent / "shared"))


def _require(path: Path) -> Path:
    # A missing ../shared is a broken checkout, not a reason to skip: fail loudly.
    if not path.exists():
        pytest.fail(
            f"{path} is missing: the tests need the workplace's ../shared folder (or EDGEL3_MOTE_SHARED pointing at it)"
        )
    return path


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    return _require(SHARED)


@pytest.fixture(scope="session")
def sea64_weights(tmp_path_factory) -> Path:
    """The real pretrained SEA-64 h5, gunzipped once per session into a temp dir."""
    src = _require(SHARED / "models" / "edgel3_sea_ust_audio_emb_64.h5.gz")
    dst = tmp_path_factory.mktemp("weights") / "edgel3_sea_ust_audio_emb_64.h5"
    with gzip.open(src, "rb") as fin, open(dst, "wb") as fout:
        shutil.copyfileobj(fin, fout)
    return dst


@pytest.fixture(scope="session")
def clips_dir() -> Path:
    return _require(SHARED / "audio" / "cc0_animals")


@pytest.fixture(scope="session")
def clip_paths(clips_dir) -> list[Path]:
    paths = sorted(clips_dir.glob("*.mp3"))
    assert len(paths) == 10, paths
    return paths


@pytest.fixture(scope="session")
def audioset_dir() -> Path:
    return _require(SHARED / "audioset")


@pytest.fixture(scope="session")
def sea_clips(clip_paths):
    """The 10 real clips' first second at 8 kHz, zero-padded: (10, 8000) float32."""
    import librosa
    import numpy as np

    clips = []
    for path in clip_paths:
        y, _ = librosa.load(path, sr=8000, duration=1.0)
        clips.append(np.pad(y, (0, 8000 - len(y))))
    return np.stack(clips).astype(np.float32)


@pytest.fixture(scope="session")
def sea64_project(sea64_weights, clips_dir, tmp_path_factory):
    """``sea64_project(board)``: the real SEA-64 firmware project for ``board`` (self-test vectors
    from the ten clips, int8 calibration on them), generated and built once per board per session
    and shared by the tests that run it (the int8 export itself is cached across boards)."""
    from edgel3_mote.export.project import build_firmware_project

    projects: dict = {}

    def get(board: str):
        if board not in projects:
            out = tmp_path_factory.mktemp(f"sea64-{board}") / "project"
            projects[board] = build_firmware_project(
                board, "sea-64", weights=str(sea64_weights), clips=str(clips_dir), out_dir=out, log=lambda m: None
            )
        return projects[board]

    return get


@pytest.fixture(scope="session")
def sea64_int8_export(sea64_weights, clips_dir):
    """``(int8 .tflite bytes, manifest)`` of the real SEA-64 calibrated on the ten clips: the export the
    firmware projects use (build_firmware_project's cache under build/.cache/export, keyed by weights and
    calibration), so the suite converts it once."""
    from edgel3_mote.compress.audio import find_audio_files
    from edgel3_mote.export.project import DEFAULT_CACHE_DIR, _int8_export

    _, int8, manifest = _int8_export(
        "sea-64",
        Path(sea64_weights).resolve(),
        find_audio_files(clips_dir),
        0,
        DEFAULT_CACHE_DIR,
        lambda m: None,
    )
    return int8, manifest
