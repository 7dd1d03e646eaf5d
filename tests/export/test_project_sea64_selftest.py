"""THE end-to-end check: real SEA-64 weights -> firmware project for qemu-mps2-an386 -> the
self-test in QEMU on the 10 real clips (engine byte-identical to tflite-micro, front-end within
1 LSB, cosine vs float reported), through the `edgel3-mote selftest` command."""

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
        r"\(b\) front-end (\d+)/3200 identical, 0 > 1 LSB",
        out,
        re.M,
    )
    assert sorted(v[0] for v in vectors) == sorted(p.stem for p in clip_paths)
    cosines = [float(c) for c in re.findall(r"cosine vs float (\d\.\d+)", out)]
    assert len(cosines) == 10 and min(cosines) > 0.99
    doc = json.loads((tmp_path / "project" / "project.json").read_text())
    assert doc["random_weights"] is False and doc["board"] == "qemu-mps2-an386"
    assert doc["tflm_arena_bytes"] > 0 and doc["arena_bytes"] > 0
    assert {"selftest", "firmware"} <= set(doc["elfs"])  # the serial app builds too
