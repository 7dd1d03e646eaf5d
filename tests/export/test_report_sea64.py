"""The parity report on the REAL SEA-64 weights and the 10 real clips (exported once here)."""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest

from edgel3_mote.cli import main
from edgel3_mote.export.manifest import Manifest
from edgel3_mote.export.report import embedding_metrics


@pytest.fixture(scope="module")
def sea64_report(tmp_path_factory, sea64_weights, clips_dir):
    root = tmp_path_factory.mktemp("parity")
    tflite_dir, report_dir = root / "tflite", root / "report"
    stdout, stderr = io.StringIO(), io.StringIO()
    # No export in --tflite-dir yet: the report exports first (calibrated on the same clips).
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        rc = main(
            [
                "export",
                "report",
                "--model",
                "sea-64",
                "--weights",
                str(sea64_weights),
                "--tflite-dir",
                str(tflite_dir),
                "--clips",
                str(clips_dir),
                "-o",
                str(report_dir),
                "--hop-size",
                "1.0",
                "--calibration-steps",
                "64",
            ]
        )  # = the README's command
    assert rc == 0, stderr.getvalue()
    return tflite_dir, report_dir, json.loads((report_dir / "report.json").read_text()), stdout.getvalue()


def test_int8_matches_float_on_real_weights(sea64_report, figure):
    _, _, report, stdout = sea64_report
    s = report["summary"]
    print(
        f"\nSEA-64 int8 vs float cosine: per clip median {s['cosine_per_clip']['median']:.6f} "
        f"min {s['cosine_per_clip']['min']:.6f}; per window median {s['cosine_per_window']['median']:.6f} "
        f"min {s['cosine_per_window']['min']:.6f}"
    )
    assert report["random_weights"] is False and report["clips"] == 10
    assert report["windows"] == sum(r["windows"] for r in report["per_clip"]) >= 30
    figure("parity.cos_clip_median", s["cosine_per_clip"]["median"])
    figure("parity.cos_window_median", s["cosine_per_window"]["median"])
    figure("parity.cos_clip_min", s["cosine_per_clip"]["min"])
    figure("parity.cos_window_min", s["cosine_per_window"]["min"])
    assert 0 < s["l2_relative_per_window"]["median"] < 0.1
    assert 0 < s["mae_per_window"]["mean"] <= s["max_abs_error"]
    assert "cosine int8 vs float per clip: median 0.99" in stdout


def test_tflm_agrees_with_builtin_ref_and_sizes(sea64_report, figure):
    tflite_dir, _, report, _ = sea64_report
    manifest = Manifest.load(tflite_dir)
    figure("parity.tflm_builtin_exact_pct", 100 * report["summary"]["tflm_vs_builtin_ref_exact_rate"])
    assert report["sha256"] == manifest.sha256 and report["sizes"] == manifest.sizes
    sizes = report["sizes"]
    # SEA-64: 396,576 conv weights + 576 biases; int8 is ~4x smaller than float.
    assert sizes["weight_params"] == 396576
    assert sizes["weight_bytes"] == 396576 + 4 * 576
    figure("sizes.weight_bytes", sizes["weight_bytes"])
    figure("sizes.int8_tflite_bytes", sizes["int8_tflite_bytes"])
    figure("sizes.float_tflite_bytes", sizes["float_tflite_bytes"])
    assert sizes["int8_tflite_bytes"] < sizes["float_tflite_bytes"] / 3.5
    assert 50_000 < report["tflm_arena_bytes"] < 1_000_000
    assert manifest.random_weights is False and manifest.weights is not None and manifest.weights.endswith(".h5")
    assert manifest.input_affine[0] == pytest.approx(0.0855, abs=1e-3)


def test_report_files(sea64_report):
    _, report_dir, report, _ = sea64_report
    assert sorted(p.name for p in report_dir.iterdir() if not p.name.startswith(".")) == [
        "report.json",
        "report.md",
        "report.png",
    ]
    assert (report_dir / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (report_dir / "report.md").read_text()
    assert "| cosine (clip mean) |" in md and "owl.mp3" in md and "TFLite-Micro arena" in md
    assert len(report["per_clip"]) == 10


def test_mismatched_export_is_refused(sea64_report, clips_dir, tmp_path, capsys):
    tflite_dir = sea64_report[0]
    out = tmp_path / "r"
    assert (
        main(
            [
                "export",
                "report",
                "--model",
                "sea-128",
                "--tflite-dir",
                str(tflite_dir),
                "--clips",
                str(clips_dir),
                "-o",
                str(out),
            ]
        )
        == 2
    )
    assert "holds an export of 'sea-64', not 'sea-128'" in capsys.readouterr().err
    assert (
        main(
            [
                "export",
                "report",
                "--model",
                "sea-64",
                "--tflite-dir",
                str(tflite_dir),
                "--clips",
                str(clips_dir),
                "-o",
                str(out),
            ]
        )
        == 2
    )
    assert "trained weights but this report uses random ones" in capsys.readouterr().err
    assert not out.exists()


def test_embedding_metrics():
    a = np.array([[1.0, 0.0, 2.0], [0.0, 0.0, 0.0], [1.0, 1.0, 0.0]])
    b = np.array([[1.0, 0.0, 2.0], [0.0, 0.0, 0.0], [-1.0, 1.0, 0.0]])
    m = embedding_metrics(a, b)
    assert np.allclose(m["cosine"], [1.0, 1.0, 0.0])
    assert np.allclose(m["l2_relative"], [0.0, 0.0, 2.0 / np.sqrt(2.0)])
    assert np.allclose(m["mae"], [0.0, 0.0, 2.0 / 3.0]) and np.allclose(m["max_abs"], [0, 0, 2])
    m = embedding_metrics(a[:1], 2 * a[:1])
    assert m["cosine"][0] == pytest.approx(1.0) and m["l2_relative"][0] == pytest.approx(1.0)
