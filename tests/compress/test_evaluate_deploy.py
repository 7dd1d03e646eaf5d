"""The deployable classifier: the StandardScaler folded into the first Dense, saved atomically."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import edgel3_mote  # noqa: F401
from edgel3_mote.compress.evaluate.datasets import Clip, Dataset
from edgel3_mote.compress.evaluate.protocol import (
    ClassifierConfig,
    _Mlp,
    classes_path,
    fold_scaler,
    save_classifier,
    train_deploy_classifier,
)
from edgel3_mote.errors import InvalidInputError


def _toy(n_per_fold=4, folds=3, dim=16, seed=0):
    """Three classes of 'embeddings' far from zero mean / unit variance, 5 frames per clip."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(3.0, 2.0, size=(3, dim))
    clips, emb = [], {}
    for f in range(1, folds + 1):
        for k in range(n_per_fold * 3):
            label = k % 3
            cid = f"f{f}_{k}"
            clips.append(Clip(Path(cid), label, f, cid))
            emb[cid] = (centres[label] + rng.normal(0, 0.7, size=(5, dim)) * rng.uniform(0.1, 4, dim)).astype(
                np.float32
            )
    return Dataset("toy", Path("."), ["a", "b", "c"], clips), emb


def test_fold_scaler_equals_scaler_then_model():
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(1)
    x = (rng.normal(5.0, 1.0, size=(200, 16)) * rng.uniform(0.01, 20, 16)).astype(np.float32)
    scaler = StandardScaler().fit(x)
    mlp = _Mlp(16, 4, ClassifierConfig(hidden=(32, 8), seed=2))
    folded = fold_scaler(mlp.model, scaler.mean_, scaler.scale_)
    want = mlp.model.predict(scaler.transform(x), verbose=0)
    got = folded.predict(x, verbose=0)
    assert np.abs(got - want).max() < 1e-5
    assert np.abs(want - want.mean(axis=0)).max() > 0.05  # the probabilities really vary across inputs
    # the original model is untouched, and without the fold the raw input gives other numbers
    assert np.abs(mlp.model.predict(x, verbose=0) - want).max() > 1e-2


def test_train_deploy_classifier_and_save(tmp_path):
    ds, emb = _toy()
    cfg = ClassifierConfig(hidden=(32, 16), epochs=30, patience=5, learning_rate=1e-2, seed=0)
    model, classes = train_deploy_classifier(ds, emb, cfg)
    assert classes == ["a", "b", "c"]
    # takes RAW embeddings: the clips of the validation fold (3) are classified well
    va = ds.in_folds([3])
    pred = [int(np.argmax(model.predict(emb[c.clip_id], verbose=0).mean(axis=0))) for c in va]
    assert np.mean(np.array(pred) == np.array([c.label for c in va])) >= 0.9
    path = tmp_path / "out" / "head.h5"
    save_classifier(model, classes, path, {"val_fold": 3})
    assert sorted(p.name for p in path.parent.iterdir()) == ["head.classes.json", "head.h5"]  # no temp files
    meta = json.loads(classes_path(path).read_text())
    assert meta["classes"] == classes and meta["input_dim"] == 16 and meta["val_fold"] == 3
    import tf_keras as keras

    again = keras.models.load_model(path, compile=False)
    x = emb[va[0].clip_id]
    assert np.array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))


def test_train_deploy_classifier_errors(tmp_path):
    ds, emb = _toy()
    with pytest.raises(InvalidInputError, match="validation fold 7"):
        train_deploy_classifier(ds, emb, ClassifierConfig(epochs=1), val_fold=7)
    with pytest.raises(InvalidInputError, match="only the MLP"):
        train_deploy_classifier(ds, emb, ClassifierConfig(kind="svm"))
    with pytest.raises(InvalidInputError, match=".h5"):
        save_classifier(None, ["a"], tmp_path / "head.keras")
