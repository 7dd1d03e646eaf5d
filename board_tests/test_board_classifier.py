"""The classifier head on the mote, over the serial protocol in QEMU.

Uses its own project (board_tests/head_project.py: real SEA-64 + a 3-class head trained on its
real embeddings of three animal recordings; cached, rebuilt when any input changes), starts its
firmware in QEMU and checks: INFO announces the head, INFER with flag bit 1 returns logits identical to
tflite-micro's run of the int8 head on the device's own
embedding, INFER without it answers exactly as before, and the bench reports the agreement.
"""

from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

SHARED = Path(os.environ.get("EDGEL3_MOTE_SHARED", Path(__file__).resolve().parents[1].parent / "shared"))
BOARD = "qemu-mps2-an386"


@pytest.fixture(scope="module")
def head_deployment(request, tmp_path_factory):
    """(BenchSetup, firmware.elf, clip paths) of a SEA-64 + head project built for QEMU here."""
    from edgel3_mote.board_tests.harness.deploy import resolve_deployment
    from tests.support.head_project import head_project

    if request.config.getoption("--port"):
        pytest.skip("builds and runs its own firmware in QEMU; a real board on --port cannot be reflashed here")
    root = tmp_path_factory.mktemp("board_head")
    weights = root / "edgel3_sea_ust_audio_emb_64.h5"
    src = SHARED / "models" / "edgel3_sea_ust_audio_emb_64.h5.gz"
    clips_dir = SHARED / "audio" / "cc0_animals"
    if not src.is_file() or not clips_dir.is_dir():  # a broken checkout, not a reason to skip
        pytest.fail(f"{SHARED} lacks the SEA-64 weights or the animal clips: the board tests need ../shared")
    with gzip.open(src, "rb") as fin, open(weights, "wb") as fout:
        shutil.copyfileobj(fin, fout)
    info, _, clips = head_project(clips_dir, weights, BOARD)
    setup, elf = resolve_deployment(BOARD, "sea-64", str(weights), project=str(info.project_dir), log=lambda m: None)
    return setup, elf, clips


@pytest.fixture(scope="module")
def head_device(head_deployment):
    from edgel3_mote.board_tests.harness.deploy import open_board

    setup, elf, _ = head_deployment
    with open_board(setup, elf, infer_timeout=300, log=lambda m: None) as client:
        yield client


def test_head_info_and_logits_bit_exact(head_deployment, head_device):
    from edgel3_mote.board_tests.harness import protocol as P
    from edgel3_mote.board_tests.harness.bench import to_pcm16
    from edgel3_mote.compress.audio import read_audio
    from edgel3_mote.compress.embedding import frame_audio
    from edgel3_mote.export.classifier import int8_head_logits

    setup, _, clips = head_deployment
    info = head_device.info()
    assert info["num_classes"] == 3
    assert info["head_sha256"] == setup.head.sha256 and info["classes_sha256"] == setup.head.classes_sha256
    audio, sr = read_audio(clips[0])
    frames, _ = frame_audio(audio, sr, "sea-64", center=True, hop_size=0.5)
    head_device.load_audio(to_pcm16(frames[min(1, len(frames) - 1)]))
    r = head_device.infer(classify=True)
    assert r.logits.dtype == np.int8 and r.logits.shape == (3,) and r.head_ticks > 0
    assert np.array_equal(r.logits, int8_head_logits(setup.head.tflite, r.embedding[None])[0])
    plain = head_device.infer(layer_ticks=True)  # without bit 1: the old payload, same embedding
    assert np.array_equal(plain.embedding, r.embedding) and len(plain.layer_ticks) == info["num_layers"]
    both = head_device.infer(layer_ticks=True, classify=True)
    assert np.array_equal(both.logits, r.logits) and both.layer_ticks == plain.layer_ticks
    assert both.head_ticks == r.head_ticks  # instruction counts repeat exactly under QEMU
    bad = head_device.exchange(P.Cmd.INFER, bytes([0x04]), check=False)
    assert bad.status == P.Status.BAD_ARG


def test_head_bench_reports_agreement(head_deployment, head_device, tmp_path):
    from edgel3_mote.board_tests.harness.bench import run_bench
    from edgel3_mote.board_tests.harness.bench_report import markdown

    setup, _, clips = head_deployment
    results = run_bench(
        head_device, setup, clips, hop=0.5, layer_ticks=False, max_windows=2, progress=False, log=lambda m: None
    )
    h = results["summary"]["head"]
    assert h["windows"] == results["summary"]["windows"] == 6
    assert h["logits_exact_windows"] == 6
    assert h["class_agreement_pct"] >= 66.0 and h["clips"] == 3
    assert 0 < h["head_ticks_mean"] < results["summary"]["engine_ticks_mean"] / 10
    md = markdown(results)
    assert "## Classifier head" in md and f"{h['class_agreement_pct']:.1f} %" in md
    print(
        f"\nhead on device: logits exact {h['logits_exact_windows']}/{h['windows']}, class agreement "
        f"{h['class_agreement_pct']:.1f} %, clip votes {h['clip_vote_agreement_pct']:.1f} %, "
        f"{h['head_ticks_mean']:,.0f} instructions per window"
    )
