"""`edgel3-mote evaluate` end to end on real recordings cut into 1-s segments (real SEA-64)."""

from __future__ import annotations

import json

import pytest

from edgel3_mote.cli import main


@pytest.fixture(scope="module")
def animal_segments(tmp_path_factory, clips_dir):
    from edgel3_mote.tools.make_animal_segments import main as make_segments

    out = tmp_path_factory.mktemp("animals") / "set"
    sub = tmp_path_factory.mktemp("three")
    for name in ("cow", "dog", "owl"):
        (sub / f"{name}.mp3").symlink_to(clips_dir / f"{name}.mp3")
    assert make_segments([str(sub), str(out), "--folds", "3"]) == 0
    return out


def test_evaluate_cli_float_real_weights(tmp_path, animal_segments, sea64_weights, capsys):
    out = tmp_path / "report"
    rc = main(
        [
            "evaluate",
            "--dataset",
            "folder",
            "--root",
            str(animal_segments),
            "--folds",
            "3",
            "--model",
            "sea-64",
            "--weights",
            str(sea64_weights),
            "--epochs",
            "8",
            "--patience",
            "4",
            "--hop-size",
            "0.5",
            "-o",
            str(out),
        ]
    )
    assert rc == 0
    reports = sorted(out.glob("evaluation_*.json"))
    assert len(reports) == 1
    summary = json.loads(reports[0].read_text())
    assert summary["classes"] == ["cow", "dog", "owl"]
    assert [f["test_fold"] for f in summary["folds"]] == [1, 2, 3]
    assert [f["val_fold"] for f in summary["folds"]] == [3, 1, 2]
    assert 0.0 <= summary["accuracy_mean"] <= 1.0
    assert sum(map(sum, summary["confusion_matrix"])) == len(list(animal_segments.rglob("*.wav")))
    assert (out / reports[0].name.replace(".json", "_confusion.png")).stat().st_size > 1000
    # the second run resumes from the embedding cache: no new cache files
    cached = sorted((out / "cache").rglob("*.npz"))
    assert (
        main(
            [
                "evaluate",
                "--dataset",
                "folder",
                "--root",
                str(animal_segments),
                "--folds",
                "3",
                "--model",
                "sea-64",
                "--weights",
                str(sea64_weights),
                "--epochs",
                "2",
                "--hop-size",
                "0.5",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    assert sorted((out / "cache").rglob("*.npz")) == cached


def test_evaluate_cli_errors(tmp_path, capsys):
    rc = main(
        ["evaluate", "--dataset", "us8k", "--root", str(tmp_path), "--model", "sea-64", "-o", str(tmp_path / "o")]
    )
    assert rc == 2
    err = capsys.readouterr().err
    assert "UrbanSound8K.csv" in err and "not found" in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()
    rc = main(
        [
            "evaluate",
            "--dataset",
            "folder",
            "--root",
            str(tmp_path),
            "--model",
            "sea-64",
            "--model",
            "sea-128",
            "--weights",
            "x.h5",
            "-o",
            str(tmp_path / "o"),
        ]
    )
    assert rc == 2 and "one --weights per" in capsys.readouterr().err


def test_evaluate_cli_float_vs_int8_comparison(tmp_path, animal_segments, sea64_weights, clips_dir):
    """--numeric both: the float model and its int8 export (run by the host engine, tflite-micro's bytes) in
    one comparison."""
    out = tmp_path / "report"
    rc = main(
        [
            "evaluate",
            "--dataset",
            "folder",
            "--root",
            str(animal_segments),
            "--folds",
            "3",
            "--model",
            "sea-64",
            "--weights",
            str(sea64_weights),
            "--numeric",
            "both",
            "--calibration",
            str(clips_dir),
            "--calibration-steps",
            "20",
            "--epochs",
            "5",
            "--patience",
            "3",
            "--hop-size",
            "0.5",
            "-o",
            str(out),
        ]
    )
    assert rc == 0
    rows = json.loads((out / "comparison.json").read_text())
    assert [r["numeric"] for r in rows] == ["float", "int8"]
    int8_report = json.loads(next(out.glob("evaluation_*-int8-*.json")).read_text())
    assert int8_report["embedding"]["int8_runner"] == "host-engine"
    assert rows[1]["size_bytes"] < rows[0]["size_bytes"] / 3  # int8: 1 byte per weight
    assert (out / "accuracy_vs_size.png").stat().st_size > 1000
    # the int8 embeddings really come from the int8 model: close to float, not identical
    import numpy as np

    caches = sorted(p for p in (out / "cache").iterdir() if p.is_dir())
    assert len(caches) == 2
    f = np.load(sorted(caches[0].glob("*.npz"))[0])["embedding"]
    q = np.load(sorted(caches[1].glob("*.npz"))[0])["embedding"]
    cos = float((f * q).sum() / (np.linalg.norm(f) * np.linalg.norm(q)))
    assert 0.95 < cos < 1.0 and not np.array_equal(f, q)
