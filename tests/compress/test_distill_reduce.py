"""Teacher-embedding reduction (PCA; UMAP only when installed) and config validation."""

import sys

import numpy as np
import pytest

import edgel3_mote  # noqa: F401
from edgel3_mote.compress.retrain import distill as D
from edgel3_mote.errors import InvalidInputError


def test_pca_reduces_teacher_embeddings_to_the_student_size():
    rng = np.random.default_rng(0)
    latent = rng.normal(size=(200, 3))
    targets = (latent @ rng.normal(size=(3, 16)) + 0.01 * rng.normal(size=(200, 16))).astype("float32")
    reduction = D.fit_reduction("pca", targets, 4)
    reduced = reduction.transform(targets)
    assert reduced.shape == (200, 4) and reduced.dtype == np.float32
    assert reduction.explained_variance > 0.99  # 3 latent dims explain everything
    with pytest.raises(InvalidInputError):
        D.fit_reduction("pca", targets[:3], 4)


def test_umap_without_the_package_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "umap", None)  # as on this machine: umap-learn absent
    with pytest.raises(InvalidInputError, match="umap-learn"):
        D.fit_reduction("umap", np.zeros((50, 8), np.float32), 2)


def test_config_validation():
    for bad in (dict(epochs=0), dict(learning_rate=0), dict(reduce="tsne"), dict(reduce="pca", on_the_fly=True)):
        with pytest.raises(InvalidInputError):
            D.TrainConfig(**bad).check()
