"""Knowledge distillation: a student (pruned / masked / reduced / SEA) learns a teacher's embedding.

Loss: MSE between the student's embedding and the teacher's (optionally PCA-reduced to the
student's size). Teacher targets are computed once and cached in ``teacher_targets.npz``
(keyed by the input windows' sha256), or on the fly inside the train step (``on_the_fly``), as
random augmented crops of a decoded corpus need (:class:`pipeline.CropSource`). The student is
pruned beforehand (one-shot, masked) or while it trains (``gradual``: TF-MOT PolynomialDecay).
Adam, EarlyStopping on the validation cosine (patience 10; the best epoch's weights restored),
ReduceLROnPlateau (x0.1, patience 5), CSV + TensorBoard
logs, checkpoints every N epochs. A checkpoint holds the student's weights (BN statistics and
masks included), the optimizer state (moments, iteration, learning rate), the epoch, the
callbacks' counters and the numpy RNG state; with the epoch-keyed data order of
:mod:`edgel3_mote.compress.data.pipeline`, a killed run resumes to the same final weights.
All of it runs inside a ``tf.distribute`` strategy scope (see :mod:`distribute`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import tensorflow as tf
import tf_keras as keras

from edgel3_mote.atomic import atomic_file, atomic_write_text
from edgel3_mote.compress.data import pipeline
from edgel3_mote.compress.pruning import layerwise
from edgel3_mote.compress.retrain import rundir
from edgel3_mote.compress.retrain.distribute import describe, detach, get_strategy, is_chief, worker_scratch
from edgel3_mote.errors import InvalidInputError

CHECKPOINT_DIR = "checkpoints"
STATE_FILE = "state.json"
TARGETS_FILE = "teacher_targets.npz"
BEST_WEIGHTS = "checkpoints/best.weights.h5"


@dataclasses.dataclass
class TrainConfig:
    epochs: int = 100
    batch_size: int = 32  # global batch (split across replicas)
    learning_rate: float = 1e-3
    checkpoint_every: int = 1  # epochs
    patience: int = 10  # EarlyStopping
    lr_patience: int = 5  # ReduceLROnPlateau
    lr_factor: float = 0.1
    seed: int = 0
    reduce: str | None = None  # None | 'pca' | 'umap'
    on_the_fly: bool = False  # teacher inside the train step instead of a cache
    train_bn: bool = False  # BN on batch statistics (from-scratch students)
    precompute_frontend: bool = True  # train the student's backbone on cached spectrograms
    gradual: tuple[float, ...] | None = None  # TF-MOT PolynomialDecay to these 8 sparsities (fractions)
    tensorboard: bool = True
    verbose: int = 2

    def check(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.checkpoint_every < 1:
            raise InvalidInputError("epochs, batch size and checkpoint interval must be >= 1")
        if self.learning_rate <= 0:
            raise InvalidInputError(f"learning rate must be > 0, got {self.learning_rate}")
        if self.reduce not in (None, "pca", "umap"):
            raise InvalidInputError(f"unknown reduction {self.reduce!r}: use pca or umap")
        if self.gradual is not None and (len(self.gradual) != 8 or not all(0 <= v < 1 for v in self.gradual)):
            raise InvalidInputError(f"gradual pruning needs 8 sparsities in [0, 1), got {self.gradual}")
        if self.on_the_fly and self.reduce:
            raise InvalidInputError("PCA/UMAP reduction needs precomputed teacher targets: drop --on-the-fly")


class Distiller(keras.Model):
    """Trains ``student`` on MSE to targets from the data, or from ``teacher`` on the fly."""

    def __init__(self, student: keras.Model, teacher: keras.Model | None = None, train_bn: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.student = student
        self.teacher = teacher
        # A pruned student keeps its BN statistics by default (BN runs in inference mode, its
        # gamma/beta still train): training and evaluation then compute the same function.
        self.train_bn = train_bn

    def call(self, inputs: tf.Tensor, training: bool = False) -> tf.Tensor:
        return self.student(inputs, training=training)

    def _split(self, data):
        if self.teacher is not None:
            x = data[0] if isinstance(data, tuple) else data
            return x, self.teacher(x, training=False)
        return data

    def _pruning_wrappers(self) -> list:
        """TF-MOT ``prune_low_magnitude`` wrappers of a gradually pruned student."""
        return [layer for layer in self.student.layers if hasattr(layer, "pruning_obj")]

    def train_step(self, data: Any) -> dict[str, tf.Tensor]:
        x, y = self._split(data)
        # The wrappers count steps and update their masks only in a training=True call, which
        # would also put BN in training mode: do both here, as their call would.
        wrappers = self._pruning_wrappers()
        for wrapper in wrappers:
            wrapper.pruning_step.assign_add(1)
            wrapper.pruning_obj.conditional_mask_update()
        with tf.GradientTape() as tape:
            pred = self.student(x, training=self.train_bn)
            loss = self.compiled_loss(y, pred, regularization_losses=self.student.losses)
        variables = self.student.trainable_variables
        self.optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        for wrapper in wrappers:
            wrapper.pruning_obj.weight_mask_op()
        self.compiled_metrics.update_state(y, pred)
        return {m.name: m.result() for m in self.metrics}

    def test_step(self, data: Any) -> dict[str, tf.Tensor]:
        x, y = self._split(data)
        pred = self.student(x, training=False)
        self.compiled_loss(y, pred, regularization_losses=self.student.losses)
        self.compiled_metrics.update_state(y, pred)
        return {m.name: m.result() for m in self.metrics}


# --- teacher targets ---------------------------------------------------------------------------


def predict(model: keras.Model, inputs: np.ndarray, batch_size: int = 64, desc: str = "") -> np.ndarray:
    from tqdm import tqdm

    out = [
        model(inputs[i : i + batch_size], training=False).numpy()
        for i in tqdm(
            range(0, len(inputs), batch_size), desc=desc or "embedding", unit="batch", disable=not desc, leave=False
        )
    ]
    return np.concatenate(out).astype(np.float32)


def teacher_targets(
    teacher: keras.Model, inputs: np.ndarray, fingerprint: str, cache: Path | None, key: str
) -> np.ndarray:
    """Teacher embeddings of ``inputs``; read from / added to the npz cache when given."""
    if cache is not None and cache.exists():
        with np.load(cache) as stored:
            if f"{key}_sha256" in stored and str(stored[f"{key}_sha256"]) == fingerprint:
                return stored[key]
    targets = predict(teacher, inputs, desc=f"teacher targets ({key})")
    if cache is not None and is_chief():
        existing = dict(np.load(cache)) if cache.exists() else {}
        existing.update({key: targets, f"{key}_sha256": np.array(fingerprint)})
        from edgel3_mote.atomic import atomic_file

        with atomic_file(cache, suffix=".npz") as tmp:
            np.savez(tmp, **existing)
    return targets


@dataclasses.dataclass
class Reduction:
    """Teacher-embedding reduction to the student's size (``transform(Y)``)."""

    method: str
    mean: np.ndarray | None = None
    components: np.ndarray | None = None
    explained_variance: float | None = None
    umap_model: Any = None

    def transform(self, targets: np.ndarray) -> np.ndarray:
        if self.method == "pca":
            assert self.mean is not None and self.components is not None  # fit_reduction sets both for pca
            return ((targets - self.mean) @ self.components.T).astype(np.float32)
        return self.umap_model.transform(targets).astype(np.float32)


def fit_reduction(method: str, targets: np.ndarray, dim: int, seed: int = 0) -> Reduction:
    if dim > min(targets.shape):
        raise InvalidInputError(
            f"cannot reduce {targets.shape[1]}-d teacher embeddings of "
            f"{targets.shape[0]} windows to {dim} dims: use more windows"
        )
    if method == "pca":
        from sklearn.decomposition import PCA

        pca = PCA(n_components=dim, random_state=seed).fit(targets)
        return Reduction(
            "pca",
            pca.mean_.astype(np.float32),
            pca.components_.astype(np.float32),
            float(pca.explained_variance_ratio_.sum()),
        )
    try:
        import umap  # noqa: F401
    except ImportError:
        raise InvalidInputError(
            "UMAP reduction needs the umap-learn package, which is not "
            "installed: pip install umap-learn, or use --reduce pca"
        ) from None
    reducer = umap.UMAP(n_components=dim, random_state=seed).fit(targets)
    return Reduction("umap", umap_model=reducer)


# --- resumable checkpoints ---------------------------------------------------------------------


class _ResumableState:
    """Mixin: a Keras callback whose counters (``STATE``) are saved in checkpoints and
    restored at ``on_train_begin``, so a resumed run stops / lowers the rate exactly where
    the uninterrupted run would."""

    STATE: tuple[str, ...] = ()

    def __init__(self, *args, initial_state: dict | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.initial_state = initial_state or {}

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        for k, v in self.initial_state.items():
            setattr(self, k, v)

    def state(self) -> dict:
        return {
            k: float(getattr(self, k)) if k == "best" else int(getattr(self, k)) for k in self.STATE if hasattr(self, k)
        }


class ResumableEarlyStopping(_ResumableState, keras.callbacks.EarlyStopping):
    STATE = ("wait", "best", "stopped_epoch", "best_epoch")


class ResumableReduceLR(_ResumableState, keras.callbacks.ReduceLROnPlateau):
    STATE = ("wait", "best", "cooldown_counter")


class BestWeights(keras.callbacks.Callback):
    """Keeps the student's weights of the epoch with the highest ``monitor`` (the validation
    cosine) in ``path``; :func:`restore_best` loads them after training. Its best value and epoch
    are checkpointed with the other callbacks' counters, so a resumed run keeps comparing
    against the same best."""

    def __init__(self, student: keras.Model, path: Path, monitor: str, initial_state: dict | None = None):
        super().__init__()
        self.student, self.path, self.monitor = student, Path(path), monitor
        self.best, self.best_epoch = -np.inf, 0
        for k, v in (initial_state or {}).items():
            setattr(self, k, v)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        value = (logs or {}).get(self.monitor)
        if value is None or not np.isfinite(value) or value <= self.best:
            return
        self.best, self.best_epoch = float(value), epoch + 1
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(self.path, suffix=".weights.h5") as tmp:
            self.student.save_weights(str(tmp))

    def state(self) -> dict:
        return {"best": float(self.best), "best_epoch": int(self.best_epoch)}

    def restore_best(self, last_epoch: int) -> bool:
        """Load the best epoch's weights when a later epoch was worse; True when it did."""
        if not self.best_epoch or self.best_epoch == last_epoch or not self.path.exists():
            return False
        self.student.load_weights(str(self.path))
        return True


class EpochCheckpoint(keras.callbacks.Callback):
    """Every ``every`` epochs: tf checkpoint of student + optimizer, then state.json (last).

    ``run_dir`` is where this worker writes (see :func:`distribute.worker_scratch`): every
    worker must save (saving reads sync-on-read variables: collectives), only the chief's
    folder is the run's, and only the chief writes ``state.json``.
    """

    def __init__(
        self,
        run_dir: Path,
        checkpoint: tf.train.Checkpoint,
        every: int,
        stateful_callbacks: dict,
        history: list,
        max_to_keep: int = 2,
    ):
        super().__init__()
        self.run_dir, self.every, self.history = Path(run_dir), every, history
        self.stateful = stateful_callbacks
        self.manager = tf.train.CheckpointManager(checkpoint, self.run_dir / CHECKPOINT_DIR, max_to_keep=max_to_keep)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        row = {"epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items()}}
        self.history.append(row)
        if (epoch + 1) % self.every:
            return
        prefix = self.manager.save(checkpoint_number=epoch + 1)
        if not is_chief():
            return
        rundir.write_json(
            self.run_dir / CHECKPOINT_DIR / STATE_FILE,
            {
                "epoch": epoch + 1,
                "checkpoint": Path(prefix).name,
                "callbacks": {name: cb.state() for name, cb in self.stateful.items()},
                "history": self.history,
                # the data order is keyed by (seed, epoch); numpy's global RNG is restored too, for
                # any user callback or augmentation that draws from it
                "numpy_rng": _rng_state_to_json(np.random.get_state()),
            },
        )


def _rng_state_to_json(state) -> list:
    name, keys, pos, has_gauss, cached = state
    return [name, keys.tolist(), int(pos), int(has_gauss), float(cached)]


def _rng_state_from_json(data) -> tuple:
    name, keys, pos, has_gauss, cached = data
    return name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached


def latest_state(run_dir: Path) -> dict | None:
    path = Path(run_dir) / CHECKPOINT_DIR / STATE_FILE
    return rundir.read_json(path) if path.exists() else None


def tensorboard_available() -> bool:
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        print(
            "TensorBoard logs skipped: the tensorboard package is not installed "
            "(pip install tensorboard); the CSV log is written"
        )
        return False
    return True


def student_inputs(student: keras.Model, inputs: np.ndarray, batch_size: int = 64) -> tuple[keras.Model, np.ndarray]:
    """``(trainable network, its inputs)``: the backbone on the fixed front-end's output.

    The log-mel front-end has no trainable weights and the input BN runs in inference mode,
    so the spectrograms are computed once; the backbone shares the student's variables.
    Returns ``(student, inputs)`` unchanged for a model without a front-end.
    """
    from edgel3_mote.compress.models.l3 import find_input_bn, split_frontend

    if find_input_bn(student) is None or find_input_bn(student) not in student.layers:
        return student, inputs
    frontend, bn, backbone = split_frontend(student)
    spec = keras.Sequential([frontend, bn]) if frontend is not None else bn
    return backbone, predict(spec, inputs, batch_size, desc="student spectrograms")


def resumable_fit(
    model: keras.Model,
    checkpoint: tf.train.Checkpoint,
    x: np.ndarray | Sequence[np.ndarray],
    y: np.ndarray,
    run_dir: Path,
    config: TrainConfig,
    val: tuple[np.ndarray | Sequence[np.ndarray], np.ndarray] | None = None,
    resume: bool = True,
    callbacks: list | None = None,
    source: pipeline.CropSource | None = None,
    best_model: keras.Model | None = None,
    maximise: str = "cosine",
) -> dict:
    """``model.fit`` with EarlyStopping, ReduceLROnPlateau, CSV/TensorBoard logs and exact resume.

    The weights of the epoch with the highest validation ``maximise`` metric (``val_cosine``; the
    training figure without validation data) are kept (``best_model``'s, default ``model``'s) and
    restored at the end; early stopping follows the same figure.

    ``config`` needs epochs, batch_size, seed, patience, lr_patience, lr_factor,
    checkpoint_every, tensorboard, verbose. ``x`` may be a tuple of arrays (several inputs).
    With ``source`` (random crops of a decoded corpus) the batches come from it and ``x, y``
    are not used for training.
    Restores the latest checkpoint of ``run_dir`` when ``resume`` (on every worker); only the
    chief writes into ``run_dir``, other workers write to a scratch folder removed at the end.
    """
    run_dir = Path(run_dir)
    with worker_scratch(run_dir) as write_dir:
        return _resumable_fit(
            model, checkpoint, x, y, run_dir, write_dir, config, val, resume, callbacks, source, best_model, maximise
        )


def _resumable_fit(
    model,
    checkpoint,
    x,
    y,
    run_dir: Path,
    write_dir: Path,
    config,
    val,
    resume: bool,
    callbacks,
    source,
    best_model,
    maximise,
) -> dict:
    (write_dir / "logs").mkdir(parents=True, exist_ok=True)
    state = latest_state(run_dir) if resume else None
    initial_epoch, history = 0, []
    if state is not None:
        checkpoint.restore(str(run_dir / CHECKPOINT_DIR / state["checkpoint"])).assert_existing_objects_matched()
        initial_epoch, history = int(state["epoch"]), list(state["history"])
        if state.get("numpy_rng"):
            np.random.set_state(_rng_state_from_json(state["numpy_rng"]))
        print(f"resuming from {run_dir / CHECKPOINT_DIR / state['checkpoint']} (epoch {initial_epoch})")
    cb_state = (state or {}).get("callbacks", {})
    monitor = "val_loss" if val is not None else "loss"
    # early stopping and the kept weights follow the validation cosine (per package balanced when the
    # validation set holds the same number of crops of every package: the mean over crops is then the
    # mean over packages of their means)
    best_monitor = f"val_{maximise}" if val is not None else maximise
    early = ResumableEarlyStopping(
        monitor=best_monitor, mode="max", patience=config.patience, initial_state=cb_state.get("early_stopping")
    )
    best = BestWeights(best_model or model, write_dir / BEST_WEIGHTS, best_monitor, cb_state.get("best_weights"))
    reduce_lr = ResumableReduceLR(
        monitor=monitor, factor=config.lr_factor, patience=config.lr_patience, initial_state=cb_state.get("reduce_lr")
    )
    csv_path = write_dir / "logs" / "training.csv"
    if initial_epoch and csv_path.exists():  # drop rows of epochs after the checkpoint
        lines = csv_path.read_text().splitlines()
        atomic_write_text(csv_path, "\n".join(lines[: 1 + initial_epoch]) + "\n")
    cbs = [reduce_lr, early, best, keras.callbacks.CSVLogger(str(csv_path), append=initial_epoch > 0)]
    if config.tensorboard and tensorboard_available():
        cbs.append(
            keras.callbacks.TensorBoard(str(write_dir / "logs" / "tensorboard"), write_graph=False, profile_batch=0)
        )
    cbs.append(
        EpochCheckpoint(
            write_dir,
            checkpoint,
            config.checkpoint_every,
            {"early_stopping": early, "reduce_lr": reduce_lr, "best_weights": best},
            history,
        )
    )
    cbs += callbacks or []
    n = len(x[0]) if isinstance(x, (tuple, list)) else len(x)
    if initial_epoch < config.epochs and not (state and early.initial_state.get("stopped_epoch")):
        if source is not None:
            ds = source.dataset(config.batch_size, config.seed, initial_epoch, config.epochs)
            steps = source.steps_per_epoch(config.batch_size)
        else:
            ds = pipeline.epoch_dataset(x, y, config.batch_size, config.seed, initial_epoch, config.epochs)
            steps = pipeline.steps_per_epoch(n, config.batch_size)
        model.fit(
            ds,
            epochs=config.epochs,
            initial_epoch=initial_epoch,
            steps_per_epoch=steps,
            validation_data=val,
            validation_batch_size=config.batch_size,
            callbacks=cbs,
            verbose=config.verbose,
        )
    restored = best.restore_best(len(history))
    return {
        "history": history,
        "early_stopping": early,
        "initial_epoch": initial_epoch,
        "best_epoch": int(best.best_epoch),
        "best_monitor": best_monitor,
        "best_value": float(best.best) if best.best_epoch else None,
        "restored_best": restored,
    }


# --- the run -----------------------------------------------------------------------------------


def evaluate_embeddings(
    student: keras.Model, inputs: np.ndarray, targets: np.ndarray, windows: pipeline.ClipWindows | None = None
) -> dict:
    """MSE and cosine to the targets; with ``windows`` whose clips are named groups (the validation
    packages), also each group's mean cosine and ``cosine_balanced``, the mean of those means."""
    pred = predict(student, inputs)
    cos = np.sum(pred * targets, 1) / (np.linalg.norm(pred, axis=1) * np.linalg.norm(targets, axis=1) + 1e-12)
    out: dict[str, Any] = {
        "mse": float(np.mean((pred - targets) ** 2)),
        "cosine_mean": float(np.mean(cos)),
        "cosine_median": float(np.median(cos)),
        "windows": int(len(inputs)),
    }
    if windows is not None and len(windows.paths) > 1:
        per = {
            name: float(np.mean(cos[windows.clip_index == k]))
            for k, name in enumerate(windows.paths)
            if np.any(windows.clip_index == k)
        }
        out["cosine_per_package"] = per
        out["cosine_balanced"] = float(np.mean(list(per.values())))
    return out


def _wrap_gradual(student: keras.Model, sparsities, total_steps: int) -> keras.Model:
    """TF-MOT PolynomialDecay from 0 to ``sparsities`` over the first 80 % of the steps, 20 updates."""
    frequency = max(1, total_steps // 20)
    end_step = max(frequency, (int(0.8 * total_steps) // frequency) * frequency)
    return layerwise.wrap_for_gradual_pruning(
        student, list(sparsities), kind="polynomial", begin_step=0, end_step=end_step, frequency=frequency
    )


def distill(
    models: Callable[[], tuple[keras.Model, keras.Model]],
    train: pipeline.ClipWindows | pipeline.CropSource,
    run_dir: str | Path,
    config: TrainConfig,
    val: pipeline.ClipWindows | None = None,
    strategy: tf.distribute.Strategy | None = None,
    resume: bool = True,
    callbacks: list | None = None,
    eval_crops: int = 512,
) -> dict:
    """Distil ``teacher`` into ``student`` (``models()`` builds both, inside the strategy scope).

    ``train``: fixed windows (teacher targets cached or on the fly), or a
    :class:`~edgel3_mote.compress.data.pipeline.CropSource` (random augmented crops of a decoded
    corpus every epoch; needs ``config.on_the_fly``); then the "train" figures are measured on
    ``eval_crops`` fixed, unaugmented crops.

    Writes ``run_dir/checkpoints``, ``logs/training.csv``, ``logs/tensorboard``,
    ``teacher_targets.npz`` and returns a summary (before/after MSE and cosine, history).
    The caller saves the final model (``summary['student']``) and the summary.
    """
    config.check()
    run_dir = Path(run_dir)
    source = train if isinstance(train, pipeline.CropSource) else None
    if source is not None and not config.on_the_fly:
        raise InvalidInputError("random crops need the teacher in the train step: pass --on-the-fly")
    strategy = strategy or get_strategy("default")
    keras.utils.set_random_seed(config.seed)
    with strategy.scope():
        student, teacher = models()
    out_dim = int(student.output_shape[-1])
    cache = run_dir / TARGETS_FILE
    if source is not None:
        train = pipeline.ClipWindows(
            source.fixed_crops(min(eval_crops, len(source)), config.seed),
            np.zeros(min(eval_crops, len(source)), np.int32),
            np.zeros(min(eval_crops, len(source))),
            ["train crops"],
        )
    assert isinstance(train, pipeline.ClipWindows)  # crops were replaced by fixed windows above
    x_train = train.model_inputs()
    x_val = val.model_inputs() if val is not None and len(val) else None
    y_train = teacher_targets(teacher, x_train, train.fingerprint(), cache, "train")
    y_val = (
        teacher_targets(teacher, x_val, val.fingerprint(), cache, "val")
        if val is not None and x_val is not None
        else None
    )
    reduction = None
    if y_train.shape[1] != out_dim and not config.reduce:
        raise InvalidInputError(
            f"teacher embedding is {y_train.shape[1]}-d, the student's {out_dim}-d: add --reduce pca (or umap)"
        )
    if config.reduce:
        reduction = fit_reduction(config.reduce, y_train, out_dim, config.seed)
        y_train = reduction.transform(y_train)
        y_val = reduction.transform(y_val) if y_val is not None else None

    before = {"train": evaluate_embeddings(student, x_train, y_train)}
    if x_val is not None and y_val is not None:  # (one is None exactly when the other is)
        before["val"] = evaluate_embeddings(student, x_val, y_val, val)
    full_student, full_x_train, full_x_val = student, x_train, x_val
    if config.precompute_frontend and not config.on_the_fly:
        with strategy.scope():
            student, x_train = student_inputs(full_student, x_train)
        if x_val is not None:
            x_val = student_inputs(full_student, x_val)[1]

    callbacks = list(callbacks or [])
    with strategy.scope():
        if config.gradual is not None:  # wrappers share the student's conv layers: full_student is pruned too
            steps = (
                source.steps_per_epoch(config.batch_size)
                if source is not None
                else pipeline.steps_per_epoch(len(x_train), config.batch_size)
            ) * config.epochs
            student = _wrap_gradual(student, config.gradual, steps)
            callbacks += layerwise.pruning_callbacks()
        distiller = Distiller(student, teacher if config.on_the_fly else None, config.train_bn)
        optimizer = keras.optimizers.Adam(learning_rate=config.learning_rate)
        distiller.compile(optimizer=optimizer, loss="mse", metrics=[keras.metrics.CosineSimilarity(name="cosine")])
        optimizer.build(student.trainable_variables)
    checkpoint = tf.train.Checkpoint(student=student, optimizer=optimizer)

    # on the fly, the train step ignores y_train and asks the teacher
    fit = resumable_fit(
        distiller,
        checkpoint,
        x_train,
        y_train,
        run_dir,
        config,
        val=(x_val, y_val) if x_val is not None and y_val is not None else None,
        resume=resume,
        callbacks=callbacks,
        source=source,
        best_model=student,
    )
    history, early = fit["history"], fit["early_stopping"]
    if config.gradual is not None:  # the last optimizer step may have moved pruned weights
        for layer in student.layers:
            for weight, mask, _ in getattr(layer, "pruning_vars", []):
                weight.assign(weight * mask)
    full_student = detach(full_student)  # the last collective: every worker reads the trained values
    after = {"train": evaluate_embeddings(full_student, full_x_train, y_train)}
    if full_x_val is not None and y_val is not None:
        after["val"] = evaluate_embeddings(full_student, full_x_val, y_val, val)
    return {
        "student": full_student,
        "teacher": teacher,
        "before": before,
        "after": after,
        "history": history,
        "epochs_run": len(history),
        "stopped_early": bool(early.stopped_epoch),
        "best_epoch": fit["best_epoch"],
        "best_monitor": fit["best_monitor"],
        "best_value": fit["best_value"],
        "restored_best": fit["restored_best"],
        "final_learning_rate": float(keras.backend.get_value(optimizer.learning_rate)),
        "reduction": None
        if reduction is None
        else {"method": reduction.method, "explained_variance": reduction.explained_variance},
        "distribute": describe(strategy),
        "config": dataclasses.asdict(config),
        "train_windows": len(train) if source is None else None,
        "train_crops_per_epoch": None if source is None else len(source),
        "train_audio_hours": None if source is None else round(source.cache.seconds() / 3600, 4),
        "val_windows": 0 if val is None else len(val),
    }
