"""THE end-to-end check: real SEA-64 weights -> firmware project for qemu-mps2-an386 -> the
self-test in QEMU on 6 real clips and the 4 signal windows (engine byte-identical to tflite-micro, the
device front-end's int8 identical to the host's on every window, cosine vs float reported), through the
`edgel3-mote selftest` command."""

from __future__ import annotations

import argparse
import json
import re

from edgel3_mote.board_tests.harness import selftest_cli


def test_sea64_selftest_on_mps2_an386(sea64_weights, clips_dir, clip_paths, tmp_path, capsys):
    parser = argparse.ArgumentParser()
    selftest_cli.register(parser.add_subparsers())
    # Calibrate on 3 of the clips to keep the test fast; the vectors use all 10.
    calibration = tmp_path / "calibration"
    calibration.mkdir()
    for p in clip_paths[:3]:
        (calibration / p.name).symlink_to(p)
    args = parser.parse_args(
        [
            "selftest",
            "--board",
            "qemu-mps2-an386",
            "--model",
            "sea-64",
            "--weights",
            str(sea64_weights),
            "--clips",
            str(clips_dir),
            "--calibration",
            str(calibration),
            "-o",
            str(tmp_path / "project"),
            "--timeout",
            "400",
        ]
    )
    code = args.func(args)
    out = capsys.readouterr().out
    assert "selftest: PASS" in out, out
    assert code == 0
    vectors = re.findall(
        r"^vector \d+ (\S+): \(a\) engine exact, (\d+) instructions; "
        r"\(b\) front-end (\d+)/3200 identical, 0 > 1 LSB.*cosine vs float (\d\.\d+)",
        out,
        re.M,
    )
    # six clips' windows, then the signal windows (export.project.SIGNAL_WINDOWS) in the last four places
    signals = ["bandlimited_4000Hz", "dc_offset", "silence", "clipped"]
    assert [v[0] for v in vectors] == [p.stem for p in clip_paths[:6]] + signals, out
    assert all(v[2] == "3200" for v in vectors), out  # the device spectrogram identical on every window
    cosines = {v[0]: float(v[3]) for v in vectors}
    assert min(cosines[p.stem] for p in clip_paths[:6]) > 0.99
    # measured: band-limited 0.9997, DC 0.9938, silence 0.9819, clipped 0.9998 (int8 vs float embedding)
    assert min(cosines[name] for name in signals) > 0.97, cosines
    doc = json.loads((tmp_path / "project" / "project.json").read_text())
    assert doc["random_weights"] is False and doc["board"] == "qemu-mps2-an386"
    assert doc["tflm_arena_bytes"] > 0 and doc["arena_bytes"] > 0
    assert {"selftest", "firmware"} <= set(doc["elfs"])  # the serial app builds too
