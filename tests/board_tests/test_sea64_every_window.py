"""Issue 18's exactness bar: SEA-64 (real weights, ../shared) on the F405 plan (qemu-netduinoplus2, the streamed
128 KiB engine with int8 weights in flash: tiled + Winograd) computes, for every 1-s window of the ten real clips
(hop 1 s: the clips' audio end to end, no window skipped), the same int8 embedding as the tflite-micro wheel, and
the same int8 spectrogram as the host's float32 front-end chain -- through the serial bench, the firmware a user
flashes. Record new values with `make results ONLY=sea64.netduinoplus2.ten_clips`."""

from __future__ import annotations

import pytest

from edgel3_mote.board_tests.harness.bench import find_clips, run_bench
from edgel3_mote.board_tests.harness.deploy import open_board, resolve_deployment
from edgel3_mote.compress.audio import read_audio
from edgel3_mote.compress.embedding import frame_audio

pytestmark = [pytest.mark.qemu, pytest.mark.slow]

BOARD = "qemu-netduinoplus2"
HOP_S = 1.0


def test_every_window_of_the_ten_clips_is_identical_to_tflite_micro(sea64_weights, sea64_project, clips_dir, figure):
    info = sea64_project(BOARD)
    setup, elf = resolve_deployment(BOARD, "sea-64", str(sea64_weights), project=info.project_dir, log=lambda m: None)
    clips = find_clips(clips_dir)
    assert len(clips) == 10
    with open_board(setup, elf, log=lambda m: None) as client:
        results = run_bench(client, setup, clips, hop=HOP_S, layer_ticks=False, progress=False, log=lambda m: None)
    s = results["summary"]
    # every window of every clip was sent: the framing get_embedding uses (centred 1-s frames at a 1-s hop)
    per_clip = [len(frame_audio(*read_audio(clip), "sea-64", center=True, hop_size=HOP_S)[0]) for clip in clips]
    assert [len(c["windows"]) for c in results["clips"]] == per_clip and s["windows"] == sum(per_clip) >= 48
    figure("sea64.netduinoplus2.ten_clips_windows", s["windows"])
    figure("sea64.netduinoplus2.ten_clips_identical_pct", s["int8_exact_percent"])
    assert s["int8_exact_windows"] == s["windows"] and s["int8_exact_percent"] == 100.0
