"""The EdgeL3 downstream protocol: fold-wise MLP (or SVM) on frame embeddings, clip vote.

For test fold k the validation fold is the fold before it (cyclic) and the rest train.
Training examples are frames labelled with their clip's class; a StandardScaler is fitted
on the training frames; the MLP (hidden 512 -> 128, ReLU, L2 1e-5 on every kernel, Adam
1e-4, batch 32, up to 150 epochs, early stopping on validation loss with patience 20,
best weights restored) predicts frame probabilities, and a clip's prediction is the argmax
of its frames' mean probability. Optionally a small grid (learning rate x weight decay) is
searched per fold on validation accuracy, as the original code offered.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from edgel3_mote.errors import InvalidInputError

from .datasets import Clip, Dataset, fold_split

if TYPE_CHECKING:
    import tf_keras as keras
    from sklearn.preprocessing import StandardScaler


@dataclass(frozen=True)
class ClassifierConfig:
    kind: str = "mlp"  # "mlp" | "svm"
    hidden: tuple[int, ...] = (512, 128)
    learning_rate: float = 1e-4
    weight_decay: float = 1e-5
    batch_size: int = 32
    epochs: int = 150
    patience: int = 20
    svm_c: float = 1.0
    seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class FoldResult:
    test_fold: int
    val_fold: int
    train_folds: list[int]
    accuracy: float
    val_accuracy: float
    chosen: dict
    clip_ids: list[str] = field(default_factory=list)
    y_true: list[int] = field(default_factory=list)
    y_pred: list[int] = field(default_factory=list)


def stack_frames(clips: list[Clip], emb: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Frame-level examples: every frame of a clip carries the clip's label."""
    xs, ys = [], []
    for c in clips:
        e = np.asarray(emb[c.clip_id], dtype=np.float32)
        if e.ndim != 2 or len(e) == 0:
            raise InvalidInputError(f"clip {c.clip_id} has no embedding frames (shape {e.shape})")
        xs.append(e)
        ys.append(np.full(len(e), c.label, dtype=np.int64))
    return np.concatenate(xs), np.concatenate(ys)


class _Mlp:
    def __init__(self, dim: int, n_classes: int, cfg: ClassifierConfig):
        import tf_keras as keras

        keras.utils.set_random_seed(cfg.seed)
        reg = keras.regularizers.l2(cfg.weight_decay)
        inp = keras.Input((dim,))
        x = inp
        for width in cfg.hidden:
            x = keras.layers.Dense(width, activation="relu", kernel_regularizer=reg)(x)
        out = keras.layers.Dense(n_classes, activation="softmax", kernel_regularizer=reg)(x)
        self.model = keras.Model(inp, out)
        self.model.compile(
            optimizer=keras.optimizers.Adam(cfg.learning_rate),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        self.cfg = cfg
        self.epochs_run = 0

    def fit(self, x, y, xv, yv):
        import tf_keras as keras

        stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=self.cfg.patience, restore_best_weights=True)
        hist = self.model.fit(
            x,
            y,
            validation_data=(xv, yv),
            batch_size=self.cfg.batch_size,
            epochs=self.cfg.epochs,
            callbacks=[stop],
            verbose=0,
            shuffle=True,
        )
        self.epochs_run = len(hist.history["loss"])
        return self

    def predict_proba(self, x):
        return self.model.predict(x, batch_size=1024, verbose=0)


class _Svm:
    def __init__(self, dim: int, n_classes: int, cfg: ClassifierConfig):
        from sklearn.svm import SVC

        # Platt-scaled SVC(probability=True) is deprecated and needs several examples per
        # class for its internal CV; the clip vote only needs comparable per-class scores,
        # so one-vs-rest decision values go through a softmax instead.
        self.model = SVC(C=cfg.svm_c, kernel="rbf", decision_function_shape="ovr", random_state=cfg.seed)
        self.n_classes = n_classes
        self.epochs_run = 0

    def fit(self, x, y, xv, yv):
        self.model.fit(x, y)
        return self

    def predict_proba(self, x):
        d = self.model.decision_function(x)
        if d.ndim == 1:  # two classes: one signed margin
            d = np.stack([-d, d], axis=1)
        d = np.exp(d - d.max(axis=1, keepdims=True))
        full = np.zeros((len(x), self.n_classes), dtype=np.float64)
        full[:, self.model.classes_] = d / d.sum(axis=1, keepdims=True)  # absent classes: 0
        return full


def _make(kind: str):
    if kind == "mlp":
        return _Mlp
    if kind == "svm":
        return _Svm
    raise InvalidInputError(f"unknown classifier '{kind}'; choose mlp or svm")


def clip_predictions(
    clf: _Mlp | _Svm, scaler: StandardScaler, clips: list[Clip], emb: dict[str, np.ndarray]
) -> np.ndarray:
    """Clip class = argmax of the mean of its frames' class probabilities."""
    preds = []
    for c in clips:
        p = clf.predict_proba(scaler.transform(np.asarray(emb[c.clip_id], dtype=np.float32)))
        preds.append(int(np.argmax(p.mean(axis=0))))
    return np.asarray(preds, dtype=np.int64)


def run_fold(
    ds: Dataset, emb: dict[str, np.ndarray], test_fold: int, cfg: ClassifierConfig, grid: list[dict] | None = None
) -> FoldResult:
    from sklearn.preprocessing import StandardScaler

    val_fold, train_folds = fold_split(ds.folds, test_fold)
    tr, va, te = ds.in_folds(train_folds), ds.in_folds([val_fold]), ds.in_folds([test_fold])
    for name, part in (("training", tr), ("validation", va), ("test", te)):
        if not part:
            raise InvalidInputError(f"{ds.name}: the {name} split for test fold {test_fold} is empty")
    x, y = stack_frames(tr, emb)
    xv, yv = stack_frames(va, emb)
    scaler = StandardScaler().fit(x)
    x, xv = scaler.transform(x), scaler.transform(xv)
    yv_clip = np.array([c.label for c in va])
    best = None
    for overrides in grid or [{}]:
        c = replace(cfg, **overrides)
        clf = _make(c.kind)(x.shape[1], len(ds.classes), c).fit(x, y, xv, yv)
        val_acc = float(np.mean(clip_predictions(clf, scaler, va, emb) == yv_clip))
        if best is None or val_acc > best[0]:
            best = (val_acc, clf, {**overrides, "epochs_run": clf.epochs_run})
    assert best is not None  # the grid has at least one entry
    val_acc, clf, chosen = best
    y_true = np.array([c.label for c in te])
    y_pred = clip_predictions(clf, scaler, te, emb)
    return FoldResult(
        test_fold,
        val_fold,
        train_folds,
        float(np.mean(y_true == y_pred)),
        val_acc,
        chosen,
        [c.clip_id for c in te],
        y_true.tolist(),
        y_pred.tolist(),
    )


def default_grid() -> list[dict]:
    """The original's small search: learning rate x weight decay."""
    return [
        {"learning_rate": lr, "weight_decay": wd}
        for lr, wd in itertools.product((1e-5, 1e-4, 1e-3), (1e-5, 1e-4, 1e-3))
    ]


def majority_baseline(ds: Dataset, test_folds: list[int]) -> float:
    """Mean over the test folds of the accuracy of always answering the class most frequent in
    that fold's training folds (the EdgeL3 split): the score a classifier must beat."""
    accs = []
    for k in test_folds:
        _, train_folds = fold_split(ds.folds, k)
        counts = np.bincount([c.label for c in ds.in_folds(train_folds)], minlength=len(ds.classes))
        test = np.array([c.label for c in ds.in_folds([k])])
        accs.append(float(np.mean(test == int(np.argmax(counts)))))
    return float(np.mean(accs))


def bootstrap_ci(
    correct: np.ndarray, groups: list[str], resamples: int = 2000, level: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of the accuracy ``mean(correct)``, resampling whole groups
    (the recordings clips were cut from: clips of one recording are not independent trials).
    Each resample draws as many groups as there are, with replacement, and pools their clips."""
    correct = np.asarray(correct, dtype=np.float64)
    names, index = np.unique(np.asarray(groups), return_inverse=True)
    hits = np.bincount(index, weights=correct, minlength=len(names))
    sizes = np.bincount(index, minlength=len(names)).astype(np.float64)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(names), size=(resamples, len(names)))
    accs = hits[draws].sum(axis=1) / sizes[draws].sum(axis=1)
    tail = (1 - level) / 2
    lo, hi = np.quantile(accs, [tail, 1 - tail])
    return float(lo), float(hi)


def summarize(ds: Dataset, folds: list[FoldResult]) -> dict:
    """Accuracy per fold, mean and standard deviation, pooled accuracy over every test clip with its
    95 % bootstrap interval (resampling source recordings), the majority-class baseline,
    per-class accuracy, confusion matrix."""
    n = len(ds.classes)
    conf = np.zeros((n, n), dtype=np.int64)
    for f in folds:
        for t, p in zip(f.y_true, f.y_pred):
            conf[t, p] += 1
    accs = [f.accuracy for f in folds]
    support = conf.sum(axis=1)
    per_class = {ds.classes[i]: (float(conf[i, i] / support[i]) if support[i] else None) for i in range(n)}
    by_id = {c.clip_id: c for c in ds.clips}
    correct = np.array([t == p for f in folds for t, p in zip(f.y_true, f.y_pred)], dtype=np.float64)
    groups = [by_id[cid].group for f in folds for cid in f.clip_ids]
    lo, hi = bootstrap_ci(correct, groups)
    return {
        "dataset": ds.name,
        "classes": ds.classes,
        "n_clips": len(ds.clips),
        "folds": [asdict(f) for f in folds],
        "accuracy_per_fold": accs,
        "accuracy_mean": float(np.mean(accs)),
        "accuracy_std": float(np.std(accs)),
        "accuracy_pooled": float(np.mean(correct)),
        "accuracy_ci95": [lo, hi],
        "ci_method": f"percentile bootstrap, 2000 resamples of the {len(set(groups))} source recordings "
        f"of the {len(correct)} test clips (pooled over the test folds)",
        "majority_baseline": majority_baseline(ds, [f.test_fold for f in folds]),
        "per_class_accuracy": per_class,
        "confusion_matrix": conf.tolist(),
    }


def cross_validate(
    ds: Dataset,
    emb: dict[str, np.ndarray],
    cfg: ClassifierConfig,
    test_folds: list[int] | None = None,
    grid: list[dict] | None = None,
    progress: bool = True,
) -> dict:
    from tqdm import tqdm

    test_folds = test_folds or ds.folds
    results = [run_fold(ds, emb, k, cfg, grid) for k in tqdm(test_folds, desc="folds", disable=not progress)]
    summary = summarize(ds, results)
    summary["classifier"] = cfg.to_dict()
    summary["grid"] = grid
    return summary


# --- the deployable classifier (the head that runs on the mote) ----------------------------


def fold_scaler(model: keras.Model, mean: np.ndarray, scale: np.ndarray) -> keras.Model:
    """A copy of ``model`` whose first Dense takes the raw embedding: the scaler folded in.

    ``W'ᵀx + b' = Wᵀ((x - mean) / scale) + b`` with ``W' = W / scale[:, None]`` and
    ``b' = b - (mean / scale) @ W``, so the deployed head needs no separate normalisation.
    """
    import tf_keras as keras

    folded = keras.models.clone_model(model)
    folded.set_weights(model.get_weights())
    dense = [layer for layer in folded.layers if isinstance(layer, keras.layers.Dense)]
    if not dense:
        raise InvalidInputError("the classifier has no Dense layer to fold the StandardScaler into")
    mean = np.asarray(mean, np.float64)
    scale = np.asarray(scale, np.float64)
    kernel, bias = (w.astype(np.float64) for w in dense[0].get_weights())
    if kernel.shape[0] != mean.shape[0]:
        raise InvalidInputError(f"scaler has {mean.shape[0]} features but the classifier takes {kernel.shape[0]}")
    dense[0].set_weights(
        [(kernel / scale[:, None]).astype(np.float32), (bias - (mean / scale) @ kernel).astype(np.float32)]
    )
    return folded


def train_deploy_classifier(
    ds: Dataset, emb: dict[str, np.ndarray], cfg: ClassifierConfig, val_fold: int | None = None
) -> tuple[keras.Model, list[str]]:
    """Train the MLP for deployment: every fold trains except ``val_fold`` (early stopping).

    ``val_fold`` defaults to the last fold. Returns ``(model, classes)``: a tf_keras model
    (softmax output) whose first Dense has the StandardScaler folded in, so it takes the raw
    float embedding, and the class names in output order.
    """
    from sklearn.preprocessing import StandardScaler

    if cfg.kind != "mlp":
        raise InvalidInputError(f"only the MLP classifier can be deployed (got '{cfg.kind}'); use --classifier mlp")
    if len(ds.folds) < 2:
        raise InvalidInputError(f"{ds.name}: a deployable classifier needs at least 2 folds (one validates)")
    val_fold = ds.folds[-1] if val_fold is None else val_fold
    if val_fold not in ds.folds:
        raise InvalidInputError(f"validation fold {val_fold} is not one of the dataset's folds {ds.folds}")
    tr = ds.in_folds([f for f in ds.folds if f != val_fold])
    va = ds.in_folds([val_fold])
    if not tr or not va:
        raise InvalidInputError(f"{ds.name}: the training or validation split for fold {val_fold} is empty")
    x, y = stack_frames(tr, emb)
    xv, yv = stack_frames(va, emb)
    scaler = StandardScaler().fit(x)
    clf = _Mlp(x.shape[1], len(ds.classes), cfg).fit(scaler.transform(x), y, scaler.transform(xv), yv)
    return fold_scaler(clf.model, scaler.mean_, scaler.scale_), list(ds.classes)


def save_classifier(model: keras.Model, classes: list[str], path: str | os.PathLike, extra: dict | None = None) -> dict:
    """Write ``path`` (.h5) and ``<path>.classes.json`` (class names), both atomically."""
    import json

    from edgel3_mote.atomic import atomic_file, atomic_write_text

    path = Path(path)
    if path.suffix != ".h5":
        raise InvalidInputError(f"--save-classifier {path}: give a .h5 path")
    with atomic_file(path) as tmp:
        model.save(tmp, include_optimizer=False)
    sidecar = classes_path(path)
    meta = {"classes": list(classes), "input_dim": int(model.input_shape[-1]), **(extra or {})}
    atomic_write_text(sidecar, json.dumps(meta, indent=2) + "\n")
    return meta


def classes_path(head_h5: str | os.PathLike) -> Path:
    """The class-name sidecar of a saved classifier: ``head.h5`` -> ``head.classes.json``."""
    p = Path(head_h5)
    return p.with_name(p.stem + ".classes.json")


def check_saved_classifier(head_h5: str | os.PathLike) -> list[str]:
    """The class names of a classifier saved by ``save_classifier``, after checking (without TensorFlow)
    that its .h5 is a readable HDF5 Keras model and its ``.classes.json`` a list of distinct names."""
    import json

    import h5py

    path, sidecar = Path(head_h5), classes_path(head_h5)
    if not path.is_file():
        raise InvalidInputError(
            f"classifier {path} does not exist: save one with edgel3-mote evaluate --save-classifier"
        )
    if not sidecar.is_file():
        raise InvalidInputError(
            f"classifier {path} has no class list {sidecar}: save it with edgel3-mote evaluate --save-classifier"
        )
    try:
        with h5py.File(path, "r") as f:
            if "model_config" not in f.attrs:
                raise InvalidInputError(
                    f"classifier {path} is an HDF5 file but not a saved Keras model: give the "
                    f".h5 written by edgel3-mote evaluate --save-classifier"
                )
    except OSError as exc:
        raise InvalidInputError(
            f"classifier {path} is not a readable .h5 ({exc}): it is truncated or corrupt; "
            f"save it again with edgel3-mote evaluate --save-classifier"
        ) from None
    try:
        classes = json.loads(sidecar.read_text())["classes"]
    except (OSError, UnicodeDecodeError, ValueError, TypeError, KeyError) as exc:
        raise InvalidInputError(
            f"class list {sidecar} is malformed ({type(exc).__name__}: {exc}): it must be JSON "
            f'like {{"classes": ["dog", "cat"]}}; save the classifier again'
        ) from None
    if not (
        isinstance(classes, list)
        and len(classes) >= 2
        and all(isinstance(c, str) and c for c in classes)
        and len(set(classes)) == len(classes)
    ):
        raise InvalidInputError(
            f"class list {sidecar} must hold 2 or more distinct non-empty class names under "
            f'"classes", got {classes!r:.120}'
        )
    return classes
