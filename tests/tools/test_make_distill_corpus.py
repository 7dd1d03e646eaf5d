"""tools/make_distill_corpus.py on locally built .deb packages (dpkg-deb), no network: unpacking, zip
archives, licences from DEP-5 and free-form copyright files, durations and the split by package."""

from __future__ import annotations

import csv
import importlib.util
import json
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

REPO = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("make_distill_corpus", REPO / "tools" / "make_distill_corpus.py")
corpus = importlib.util.module_from_spec(spec)
spec.loader.exec_module(corpus)

DEP5 = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Files: *
License: GPL-2+

Files: sounds/*
License: CC-BY-SA-3.0
"""
FREE_FORM = """This package was debianized by someone.
The music is under the Creative Commons Attribution-ShareAlike 3.0 licence; the code under the
GPL, see /usr/share/common-licenses/GPL-2.
"""


def _deb(debs: Path, name: str, copyright_text: str, sounds: dict[str, float], zipped: dict[str, float]) -> None:
    root = debs.parent / "build" / name
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN" / "control").write_text(
        f"Package: {name}\nVersion: 1.0-1\nArchitecture: all\nMaintainer: t <t@example.org>\nDescription: test\n"
    )
    doc = root / "usr" / "share" / "doc" / name
    doc.mkdir(parents=True)
    (doc / "copyright").write_text(copyright_text)
    data = root / "usr" / "share" / name
    data.mkdir(parents=True)
    rng = np.random.default_rng(len(name))
    for file, seconds in sounds.items():
        sf.write(data / file, rng.uniform(-0.1, 0.1, int(seconds * 8000)), 8000)
    if zipped:
        tmp = debs.parent / "tmp"
        tmp.mkdir(exist_ok=True)
        with zipfile.ZipFile(data / "0snd.pk3", "w") as z:
            for file, seconds in zipped.items():
                sf.write(tmp / file, rng.uniform(-0.1, 0.1, int(seconds * 16000)), 16000, format="OGG")
                z.write(tmp / file, f"sound/{file}")
    debs.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["dpkg-deb", "--build", "--root-owner-group", str(root), str(debs / f"{name}_1.0-1_all.deb")],
        check=True,
        capture_output=True,
    )


def test_corpus_from_local_packages(tmp_path, capsys):
    cache = tmp_path / "cache"
    _deb(cache / "debs", "sfx-a", DEP5, {"door.wav": 2.0, "click.wav": 0.3}, {"step.ogg": 1.5})
    _deb(cache / "debs", "music-b", FREE_FORM, {"song.flac": 3.0}, {})
    rc = corpus.main(
        ["--cache", str(cache), "--packages", "sfx-a", "music-b", "--val-packages", "music-b", "--min-hours", "0"]
    )
    assert rc == 0, capsys.readouterr().err
    with (cache / "manifest.csv").open() as f:
        rows = list(csv.DictReader(f))
    by_name = {Path(r["file"]).name: r for r in rows}
    assert sorted(by_name) == ["door.wav", "song.flac", "step.ogg"]  # click.wav < 1 s is left out
    assert float(by_name["door.wav"]["seconds"]) == pytest.approx(2.0, abs=1e-3)
    assert float(by_name["step.ogg"]["seconds"]) == pytest.approx(1.5, abs=0.01)  # from inside the .pk3
    assert by_name["door.wav"]["licence"] == "GPL-2+ | CC-BY-SA-3.0"
    assert by_name["song.flac"]["licence"] == "CC-BY-SA-3.0 | GPL-2"
    assert {r["package"]: r["split"] for r in rows} == {"sfx-a": "train", "music-b": "val"}
    summary = json.loads((cache / "summary.json").read_text())
    assert summary["hours"] == pytest.approx(6.5 / 3600, abs=1e-3)
    assert summary["splits"]["val"]["files"] == 1
    assert summary["packages"]["sfx-a"]["crop_share"] == summary["packages"]["music-b"]["crop_share"] == 1.0
    capsys.readouterr()
    assert corpus.main(["--cache", str(cache), "--list", "val"]) == 0
    assert capsys.readouterr().out.split() == [by_name["song.flac"]["file"]]
    # too short a corpus is an error; the evaluation set and a val package outside the list are refused
    assert corpus.main(["--cache", str(cache), "--packages", "sfx-a", "music-b", "--val-packages", "music-b"]) == 1
    with pytest.raises(SystemExit, match="evaluation"):
        corpus.build_corpus(["tuxpaint-data"], [], cache)
    with pytest.raises(SystemExit, match="split by source package"):
        corpus.build_corpus(["sfx-a"], ["music-b"], cache)
