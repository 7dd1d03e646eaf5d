"""Downstream evaluation: dataset layouts, fold logic, clip vote, caching and resume."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from edgel3_mote.compress.evaluate import datasets as D
from edgel3_mote.compress.evaluate.extract import cache_path, extract_embeddings
from edgel3_mote.compress.evaluate.protocol import ClassifierConfig, cross_validate, run_fold
from edgel3_mote.errors import InvalidInputError

SR = 8000


def _tone(freq: float, seconds: float = 1.0, seed: int = 0) -> np.ndarray:
    t = np.arange(int(SR * seconds)) / SR
    rng = np.random.default_rng(seed)
    return (0.3 * np.sin(2 * np.pi * freq * t) + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


def _write_us8k(root: Path, clip_paths, n_folds=10):
    """US8K layout: 3 tone classes + real clips as a 4th class, every fold populated."""
    rows = []
    classes = ["low_tone", "mid_tone", "high_tone", "animal"]
    for fold in range(1, n_folds + 1):
        (root / "audio" / f"fold{fold}").mkdir(parents=True, exist_ok=True)
        for cid, freq in enumerate((300.0, 900.0, 2000.0)):
            name = f"{100 + cid}-{fold}-0-0.wav"
            sf.write(root / "audio" / f"fold{fold}" / name, _tone(freq * (1 + 0.01 * fold), seed=fold), SR)
            rows.append([name, 100 + cid, 0.0, 1.0, 1, fold, cid, classes[cid]])
        real = clip_paths[fold % len(clip_paths)]
        name = f"200-{fold}-0-{real.stem}.mp3"
        shutil.copy(real, root / "audio" / f"fold{fold}" / name)
        rows.append([name, 200, 0.0, 1.0, 1, fold, 3, "animal"])
    (root / "metadata").mkdir(parents=True, exist_ok=True)
    with open(root / "metadata" / "UrbanSound8K.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(D.US8K_COLUMNS)
        w.writerows(rows)
    return rows


def _write_esc50(root: Path):
    (root / "audio").mkdir(parents=True)
    (root / "meta").mkdir(parents=True)
    rows = []
    for fold in range(1, 6):
        for target, (cat, freq, esc10) in enumerate(
            [("dog", 400.0, True), ("rain", 1500.0, False), ("crow", 2500.0, True)]
        ):
            name = f"{fold}-{1000 + target}-A-{target}.wav"
            sf.write(root / "audio" / name, _tone(freq, seed=fold * 10 + target), SR)
            rows.append([name, fold, target, cat, str(esc10), f"{1000 + target}.ogg", "A"])
    with open(root / "meta" / "esc50.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(D.ESC50_COLUMNS)
        w.writerows(rows)


class BandEnergyEmbedder:
    """A real (if simple) embedding: log band energies of 0.25-s frames. Fast, deterministic."""

    key = "band-energy-test"

    def __init__(self):
        self.calls = 0

    def __call__(self, audio, sr):
        self.calls += 1
        audio = np.asarray(audio, dtype=np.float32)
        if audio.ndim == 2:
            audio = audio.mean(axis=1)
        n = max(1, len(audio) // (sr // 4))
        frames = np.array_split(audio, n)
        feats = []
        for fr in frames:
            spec = np.abs(np.fft.rfft(fr, 512)) ** 2
            bands = np.array_split(spec, 16)
            feats.append(np.log10(1e-9 + np.array([b.sum() for b in bands])))
        return np.array(feats, dtype=np.float32), np.arange(n) * 0.25


def test_fold_split_uses_previous_fold_for_validation():
    folds = list(range(1, 11))
    assert D.fold_split(folds, 1) == (10, [2, 3, 4, 5, 6, 7, 8, 9])
    assert D.fold_split(folds, 5) == (4, [1, 2, 3, 6, 7, 8, 9, 10])
    val, train = D.fold_split([1, 2, 3, 4, 5], 3)
    assert val == 2 and train == [1, 4, 5]
    with pytest.raises(InvalidInputError, match="not one of"):
        D.fold_split(folds, 11)


def test_us8k_reader_and_errors(tmp_path, clip_paths):
    rows = _write_us8k(tmp_path / "us8k", clip_paths)
    ds = D.load_us8k(tmp_path / "us8k")
    assert ds.folds == list(range(1, 11)) and len(ds.clips) == len(rows)
    assert ds.classes == ["low_tone", "mid_tone", "high_tone", "animal"]
    # a missing file is named
    victim = ds.clips[5].path
    victim.unlink()
    with pytest.raises(InvalidInputError, match="missing.*" + victim.name):
        D.load_us8k(tmp_path / "us8k")


def test_us8k_wrong_csv_and_empty_fold(tmp_path, clip_paths):
    root = tmp_path / "us8k"
    _write_us8k(root, clip_paths)
    meta = root / "metadata" / "UrbanSound8K.csv"
    text = meta.read_text().splitlines()
    meta.write_text("\n".join([text[0].replace("classID", "klass")] + text[1:]) + "\n")
    with pytest.raises(InvalidInputError, match="lacks column.*classID"):
        D.load_us8k(root)
    meta.write_text("\n".join([text[0]] + [r for r in text[1:] if ",7," not in r]) + "\n")
    with pytest.raises(InvalidInputError, match=r"fold\(s\) \[7\] have no clips"):
        D.load_us8k(root)


def test_esc50_and_esc10(tmp_path):
    _write_esc50(tmp_path / "esc")
    ds = D.load_esc50(tmp_path / "esc")
    assert ds.folds == [1, 2, 3, 4, 5] and ds.classes == ["dog", "rain", "crow"] and len(ds.clips) == 15
    ds10 = D.load_esc50(tmp_path / "esc", esc10=True)
    assert ds10.classes == ["dog", "crow"] and {c.label for c in ds10.clips} == {0, 1}


def test_folder_layout_is_stratified(tmp_path):
    for cls, freq in (("a", 300.0), ("b", 2000.0)):
        (tmp_path / "f" / cls).mkdir(parents=True)
        for i in range(6):
            sf.write(tmp_path / "f" / cls / f"{i}.wav", _tone(freq, 0.5, i), SR)
    ds = D.load_folder(tmp_path / "f", folds=3)
    for k in (1, 2, 3):
        labels = sorted(c.label for c in ds.in_folds([k]))
        assert labels == [0, 0, 1, 1]
    with pytest.raises(InvalidInputError, match="at least 3"):
        D.load_folder(tmp_path / "f", folds=2)


def test_extraction_caches_and_resumes(tmp_path):
    _write_esc50(tmp_path / "esc")
    ds = D.load_esc50(tmp_path / "esc")
    emb = BandEnergyEmbedder()
    first = extract_embeddings(ds.clips[:6], emb, tmp_path / "cache", progress=False)
    assert emb.calls == 6
    # "interrupted" run: 6 cached; a corrupted cache file is recomputed, the rest reused
    cache_path(tmp_path / "cache", emb.key, ds.clips[0]).write_bytes(b"not an npz")
    second = extract_embeddings(ds.clips, emb, tmp_path / "cache", progress=False)
    assert emb.calls == 6 + 1 + 9
    np.testing.assert_array_equal(first[ds.clips[3].clip_id], second[ds.clips[3].clip_id])
    extract_embeddings(ds.clips, emb, tmp_path / "cache", progress=False)
    assert emb.calls == 16  # all cached now


def test_clip_vote_and_cross_validation_mlp(tmp_path):
    _write_esc50(tmp_path / "esc")
    ds = D.load_esc50(tmp_path / "esc")
    emb = extract_embeddings(ds.clips, BandEnergyEmbedder(), tmp_path / "cache", progress=False)
    cfg = ClassifierConfig(epochs=30, patience=10, learning_rate=1e-2)
    summary = cross_validate(ds, emb, cfg, progress=False)
    # pure tones are separable: the protocol must get them right
    assert summary["accuracy_mean"] == 1.0
    assert len(summary["folds"]) == 5
    assert np.asarray(summary["confusion_matrix"]).sum() == 15
    # the vote is over frames: corrupt a minority of a test clip's frames -> still right
    clip = ds.in_folds([2])[0]
    e = emb[clip.clip_id].copy()
    other = next(c for c in ds.clips if c.label != clip.label)
    e[:1] = emb[other.clip_id][:1]
    emb2 = dict(emb)
    emb2[clip.clip_id] = e
    res = run_fold(ds, emb2, 2, cfg)
    i = res.clip_ids.index(clip.clip_id)
    assert res.y_pred[i] == clip.label


def test_cross_validation_svm_detects_confusion(tmp_path):
    """Two classes with identical features cannot be told apart: accuracy must drop."""
    _write_esc50(tmp_path / "esc")
    ds = D.load_esc50(tmp_path / "esc")
    emb = extract_embeddings(ds.clips, BandEnergyEmbedder(), tmp_path / "cache", progress=False)
    dogs = [c for c in ds.clips if c.label == 0]
    rains = [c for c in ds.clips if c.label == 1]
    for d, r in zip(dogs, rains):
        emb[r.clip_id] = emb[d.clip_id]
    summary = cross_validate(ds, emb, ClassifierConfig(kind="svm"), progress=False)
    assert summary["accuracy_mean"] < 0.9
    assert summary["per_class_accuracy"]["crow"] == 1.0


def test_bootstrap_interval_matches_scipy_and_clusters_by_source():
    """One clip per source: the percentile interval is scipy.stats.bootstrap's (Monte Carlo
    tolerance); clips of one recording resampled together give a wider interval."""
    from scipy.stats import bootstrap

    from edgel3_mote.compress.evaluate.protocol import bootstrap_ci

    rng = np.random.default_rng(1)
    correct = (rng.random(300) < 0.7).astype(float)
    lo, hi = bootstrap_ci(correct, [str(i) for i in range(300)], resamples=4000)
    ref = bootstrap((correct,), np.mean, n_resamples=4000, method="percentile", random_state=2).confidence_interval
    assert abs(lo - ref.low) < 0.012 and abs(hi - ref.high) < 0.012
    assert lo < correct.mean() < hi
    # 30 recordings of 10 clips each, all right or all wrong: 30 independent trials, not 300
    clustered = np.repeat((rng.random(30) < 0.7).astype(float), 10)
    groups = [str(i // 10) for i in range(300)]
    wide = bootstrap_ci(clustered, groups)
    narrow = bootstrap_ci(clustered, [str(i) for i in range(300)])
    assert wide[1] - wide[0] > 2.5 * (narrow[1] - narrow[0])


def test_majority_baseline_follows_training_folds(tmp_path):
    from edgel3_mote.compress.evaluate.protocol import majority_baseline

    clips = [D.Clip(Path(f"{i}.wav"), 0 if i % 3 else 1, i % 4 + 1, str(i)) for i in range(24)]
    ds = D.Dataset("t", tmp_path, ["a", "b"], clips)
    # class a is 2/3 of every fold: always answering a scores 2/3
    assert majority_baseline(ds, ds.folds) == pytest.approx(sum(c.label == 0 for c in clips) / 24)
