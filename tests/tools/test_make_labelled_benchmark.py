"""tools/make_labelled_benchmark.py on synthetic packages (no network): labelling rules, the fold
rule (no source recording on both sides), the ESC-50 layout the evaluate command reads, the
manifest, the output gate, and the EdgeL3 protocol with its interval run end to end on it."""

from __future__ import annotations

import csv
import importlib.util
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from edgel3_mote.compress.evaluate import datasets as D
from edgel3_mote.compress.evaluate.extract import extract_embeddings
from edgel3_mote.compress.evaluate.protocol import ClassifierConfig, cross_validate
from tests.compress.test_evaluate_protocol import BandEnergyEmbedder

REPO = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("make_labelled_benchmark", REPO / "tools" / "make_labelled_benchmark.py")
bench = importlib.util.module_from_spec(spec)
sys.modules["make_labelled_benchmark"] = bench  # dataclasses look their module up
spec.loader.exec_module(bench)
SR = 8000


@pytest.mark.parametrize(
    "package, rel, expected",
    [
        ("hydrogen-drumkits", "usr/share/hydrogen/data/drumkits/ForzeeStereo/HiHatClosed-3.wav",
         ("hihat", "hydrogen-drumkits/ForzeeStereo")),
        ("hydrogen-drumkits", "usr/share/hydrogen/data/drumkits/ForzeeStereo/RideBell-1.wav",
         ("cymbal", "hydrogen-drumkits/ForzeeStereo")),
        ("hydrogen-drumkits", "usr/share/hydrogen/data/drumkits/Millo_MultiLayered3/sd_3.flac",
         ("snare", "hydrogen-drumkits/Millo_MultiLayered3")),
        ("hydrogen-drumkits", "usr/share/hydrogen/data/drumkits/rumpf_kit_z01_h2/beats_01.flac", None),
        ("sonic-pi-samples", "usr/share/sonic-pi/samples/drum_cymbal_closed.flac",
         ("hihat", "sonic-pi-samples/usr/share/sonic-pi/samples/drum_cymbal_closed")),
        ("sonic-pi-samples", "usr/share/sonic-pi/samples/bd_808.flac",
         ("kick", "sonic-pi-samples/usr/share/sonic-pi/samples/bd_808")),
        ("ufoai-sound", "usr/share/games/ufoai/base/0snd.pk3.d/sound/footsteps/gravel3.ogg",
         ("footsteps", "ufoai-sound/usr/share/games/ufoai/base/0snd.pk3.d/sound/footsteps/gravel")),
        ("hedgewars-data", "usr/share/games/hedgewars/Data/Sounds/voices/Pirate/Hello.ogg",
         ("voice", "hedgewars-data/Pirate")),
        ("hedgewars-data", "usr/share/games/hedgewars/Data/Sounds/bee.ogg", None),
    ],
)  # fmt: skip
def test_rules_label_real_package_paths(package, rel, expected):
    assert bench.classify(package, rel) == expected


def test_segments_and_folds():
    assert bench.segments(400, 100, 5.0, 3) == [(0, 400)]  # shorter than a clip: whole
    cuts = bench.segments(100 * 60, 100, 5.0, 3)  # 60 s: 3 clips of 5 s spread, no overlap
    assert len(cuts) == 3 and all(b - a == 500 for a, b in cuts) and cuts[0][0] == 0 and cuts[-1][1] == 6000
    assert all(cuts[i][1] <= cuts[i + 1][0] for i in range(2))
    sources = {f"s{i}": ("a" if i % 2 else "b", 1 + i % 4) for i in range(23)}
    folds = bench.assign_folds(sources, 5)
    assert set(folds) == set(sources) and set(folds.values()) == {1, 2, 3, 4, 5}
    for label in "ab":  # stratified: every fold of a class within the largest source of the even share
        load = [sum(n for s, (c, n) in sources.items() if c == label and folds[s] == k) for k in range(1, 6)]
        assert max(load) - min(load) <= 4


def _fake_packages(root: Path) -> dict[str, Path]:
    """Two 'packages' laid out like the real ones: 6 drum kits (kick = low tone, hihat = high
    tone, snare = mid tone + noise) and sonic-pi one-shots of the same classes."""
    rng = np.random.default_rng(0)

    def tone(freq, seconds=0.6):
        t = np.arange(int(SR * seconds)) / SR
        return (0.3 * np.sin(2 * np.pi * freq * (1 + 0.03 * rng.standard_normal()) * t) * np.exp(-3 * t)).astype(
            np.float32
        ) + 0.005 * rng.standard_normal(t.size).astype(np.float32)

    freqs = {"kick": 120.0, "snare": 700.0, "hihat": 3000.0}
    h = root / "hydrogen-drumkits" / "usr/share/hydrogen/data/drumkits"
    for kit in range(6):
        for name, f in (("Kick", freqs["kick"]), ("Snare", freqs["snare"]), ("HiHatClosed", freqs["hihat"])):
            for layer in range(2):
                (h / f"Kit{kit}").mkdir(parents=True, exist_ok=True)
                sf.write(h / f"Kit{kit}" / f"{name}-{layer}.wav", tone(f), SR)
    s = root / "sonic-pi-samples" / "usr/share/sonic-pi/samples"
    s.mkdir(parents=True)
    for i in range(4):
        sf.write(s / f"bd_k{i}.flac", tone(freqs["kick"]), SR)
        sf.write(s / f"sn_s{i}.flac", tone(freqs["snare"]), SR)
    sf.write(s / "drum_cymbal_closed.flac", tone(freqs["hihat"], 12.0), SR)  # long: 2 clips of 5 s
    sf.write(s / "drum_cymbal_open.flac", np.zeros(SR, np.float32), SR)  # silent: skipped
    return {p.name: p for p in root.iterdir()}


@pytest.fixture
def fake_apt(tmp_path, monkeypatch):
    roots = _fake_packages(tmp_path / "pkgs")
    monkeypatch.setattr(bench.corpus, "fetch_package", lambda package, cache: (roots[package], "1.0-1"))
    monkeypatch.setattr(bench.corpus, "package_licences", lambda root, package: [f"CC0 ({package})"])
    return roots


def test_miniature_benchmark_end_to_end(tmp_path, fake_apt):
    out = tmp_path / "bench"
    args = ["-o", str(out), "--cache", str(tmp_path / "cache"), "--min-classes", "3",
            "--packages", "hydrogen-drumkits", "sonic-pi-samples"]  # fmt: skip
    # the output gate: a folder holding a user's file where the manifest goes is refused, untouched
    out.mkdir()
    (out / "manifest.json").write_text("mine")
    assert bench.main(args) == 2 and (out / "manifest.json").read_text() == "mine"
    (out / "manifest.json").unlink()
    assert bench.main(args) == 0
    info = json.loads((out / "manifest.json").read_text())
    assert info["classes"] == ["hihat", "kick", "snare"]
    assert info["clips_per_class_and_package"]["kick"] == {"hydrogen-drumkits": 12, "sonic-pi-samples": 4}
    assert info["clips_per_class_and_package"]["hihat"] == {"hydrogen-drumkits": 12, "sonic-pi-samples": 2}
    assert info["packages"]["sonic-pi-samples"]["licence"] == "CC0 (sonic-pi-samples)"
    assert info["clips"] == 16 + 16 + 14  # the silent file is left out
    # the fold rule: every source recording (a kit, a sonic-pi file) in exactly one fold
    with open(out / "meta" / "esc50.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    fold_of = defaultdict(set)
    for r in rows:
        fold_of[r["src_file"]].add(r["fold"])
    assert all(len(v) == 1 for v in fold_of.values())
    assert len(fold_of["sonic-pi-samples/usr/share/sonic-pi/samples/drum_cymbal_closed"]) == 1
    assert sum(1 for r in rows if "drum_cymbal_closed" in r["src_file"]) == 2
    # the evaluate command's reader takes it as it is; the protocol runs end to end with an interval
    ds = D.load_esc50(out)
    assert ds.classes == info["classes"] and len(ds.clips) == info["clips"]
    emb = extract_embeddings(ds.clips, BandEnergyEmbedder(), tmp_path / "emb", progress=False)
    summary = cross_validate(ds, emb, ClassifierConfig(epochs=40, patience=10, learning_rate=1e-2), progress=False)
    lo, hi = summary["accuracy_ci95"]
    assert lo <= summary["accuracy_pooled"] <= hi
    assert summary["accuracy_pooled"] >= 0.9  # three tones 2.5 octaves apart
    assert summary["majority_baseline"] <= 0.5 < lo  # the classifier beats the majority class
    # a rerun replaces what it wrote itself and leaves the user's own files alone
    (out / "notes.txt").write_text("mine")
    assert bench.main(args) == 0 and (out / "notes.txt").read_text() == "mine"


def test_bad_input_is_one_line_before_work(tmp_path, capsys, fake_apt):
    assert bench.main(["-o", str(tmp_path / "b"), "--packages", "tuxpaint-data"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("make_labelled_benchmark: error: --packages tuxpaint-data") and "\n" not in err
    (tmp_path / "file").write_text("x")
    assert bench.main(["-o", str(tmp_path / "file")]) == 2
    assert (tmp_path / "file").read_text() == "x"
