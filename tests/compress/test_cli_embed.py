"""``edgel3-mote models`` and ``edgel3-mote embed`` end to end (in-process: TF loads once)."""

from __future__ import annotations

import json

import numpy as np
import soundfile as sf

import edgel3_mote  # noqa: F401
from edgel3_mote.atomic import OUTPUT_MARKER
from edgel3_mote.cli import main


def test_models_lists_every_name_with_its_size(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for name in ("l3-melspec2", "l3-melspec2-6144", "l3-avc", "sea-64", "edgel3-95.45"):
        assert f"\n{name} " in out
    sea64 = next(line for line in out.splitlines() if line.startswith("sea-64 "))
    assert "8 kHz -> 64x50" in sea64 and " 64 " in sea64 and "399,460" in sea64


def test_embed_two_real_clips_end_to_end(sea64_weights, clip_paths, tmp_path, capsys):
    clips = [p for p in clip_paths if p.stem in ("cat", "rooster")]  # mono 48 k, stereo 44.1 k
    out_dir = tmp_path / "emb"
    rc = main(
        [
            "embed",
            *map(str, clips),
            "--model",
            "sea-64",
            "--weights",
            str(sea64_weights),
            "-o",
            str(out_dir),
            "--hop-size",
            "0.5",
            "--batch-size",
            "4",
            "-q",
        ]
    )
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert "warning" not in captured.err
    written = sorted(out_dir.glob("*"))
    assert [p.name for p in written] == [OUTPUT_MARKER, "cat.npz", "rooster.npz"]  # no temp files left
    assert json.loads(written[0].read_text())["files"] == {"cat.npz": "embed", "rooster.npz": "embed"}
    written = written[1:]
    assert captured.out.split() == [str(out_dir / "cat.npz"), str(out_dir / "rooster.npz")]
    for path, seconds in zip(written, (3.05, 2.40)):
        with np.load(path) as data:
            emb, ts = data["embedding"], data["timestamps"]
        assert emb.shape == (1 + int(np.ceil((seconds * 8000 + 4000 - 8000) / 4000)), 64)
        assert np.all(np.isfinite(emb)) and emb.std() > 0
        np.testing.assert_allclose(ts, 0.5 * np.arange(len(ts)))


def test_embed_without_weights_warns_and_mirrors_options(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    wav = tmp_path / "tone.wav"
    sr = 16000
    sf.write(wav, 0.3 * np.sin(2 * np.pi * 330 * np.arange(int(1.5 * sr)) / sr), sr)
    rc = main(["embed", str(tmp_path), "--hop-size", "0.25", "--no-centering", "--suffix", "rnd", "-q"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert "edgel3-mote: warning:" in captured.err and "RANDOM weights" in captured.err
    assert not (tmp_path / "tone_rnd.npz").exists()  # never next to the input
    with np.load(tmp_path / "build" / "embeddings" / "tone_rnd.npz") as data:  # build/embeddings by default
        assert data["embedding"].shape == (3, 64)  # 1.5 s, no centering, hop 0.25


def test_embed_errors_are_one_line(tmp_path, capsys):
    wav = tmp_path / "a.wav"
    sf.write(wav, np.zeros(800), 8000)
    (tmp_path / "sub").mkdir()
    sf.write(tmp_path / "sub" / "a.wav", np.zeros(800), 8000)
    cases = [
        (["embed", str(wav), str(tmp_path / "sub"), "-o", str(tmp_path)], "several inputs would write"),
        (["embed", str(tmp_path / "missing.wav")], "missing.wav does not exist"),
        (["embed", str(wav), "--model", "vggish"], "unknown model 'vggish'"),
        (["embed", str(wav), "--hop-size", "0"], "invalid hop size"),
        (["embed", str(wav), "--weights", str(tmp_path / "w.h5")], "w.h5 does not exist"),
        (["embed", str(wav), "--model", "l3-avc"], "not an embedding model"),
        (["embed", str(tmp_path / "empty_dir")], "empty_dir does not exist"),
    ]
    for argv, message in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("edgel3-mote: error:") and message in err, (argv, err)
        assert err.count("\n") == 1
    assert list(tmp_path.glob("*.npz")) == []
