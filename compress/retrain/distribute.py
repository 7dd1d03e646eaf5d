"""``tf.distribute`` strategy selection: one code path for a laptop CPU, a multi-GPU node and a
multi-node cluster (TF_CONFIG, as the SLURM scripts of :mod:`slurm` write it).

Build and compile models inside ``strategy.scope()``; ``model.fit`` then splits each global
batch across the replicas and all-reduces the gradients.

Under MultiWorkerMirroredStrategy every worker runs the same program through the last
collective (training, and reading the trained values with :func:`detach`); only the chief
writes the run folder, the other workers write their (required) checkpoints and logs to a
private scratch folder (:func:`worker_scratch`) that is removed afterwards.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from edgel3_mote.errors import InvalidInputError

if TYPE_CHECKING:
    import tensorflow as tf
    import tf_keras as keras

STRATEGIES = ("auto", "default", "mirrored", "multiworker")


def tf_config() -> dict | None:
    """The parsed ``TF_CONFIG`` environment variable, or None when unset."""
    raw = os.environ.get("TF_CONFIG", "").strip()
    if not raw:
        return None
    try:
        config = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"TF_CONFIG is not valid JSON ({exc}): fix or unset it") from None
    if "cluster" not in config or "task" not in config:
        raise InvalidInputError("TF_CONFIG needs 'cluster' and 'task' keys: fix or unset it")
    return config


def is_chief() -> bool:
    """True on the worker that writes checkpoints and outputs (task 0, or no cluster)."""
    config = tf_config()
    if config is None:
        return True
    task = config["task"]
    if task.get("type") == "chief":
        return True
    return task.get("type") == "worker" and int(task.get("index", 0)) == 0 and "chief" not in config["cluster"]


def get_strategy(kind: str = "auto") -> tf.distribute.Strategy:
    """``auto``: MultiWorkerMirroredStrategy when TF_CONFIG is set, MirroredStrategy on 2+ GPUs,
    else the default (no-op) strategy. ``mirrored``: MirroredStrategy over the local GPUs
    (the CPU when there is none). ``multiworker``: needs TF_CONFIG. ``default``: no-op.
    """
    import tensorflow as tf

    if kind not in STRATEGIES:
        raise InvalidInputError(f"unknown strategy {kind!r}: choose one of {', '.join(STRATEGIES)}")
    if kind == "auto":
        if tf_config() is not None:
            kind = "multiworker"
        elif len(tf.config.list_logical_devices("GPU")) > 1:
            kind = "mirrored"
        else:
            kind = "default"
    if kind == "multiworker":
        if tf_config() is None:
            raise InvalidInputError(
                "the multiworker strategy needs TF_CONFIG (cluster + task): "
                "set it, e.g. with the scripts from `edgel3-mote jobs`"
            )
        return tf.distribute.MultiWorkerMirroredStrategy()
    if kind == "mirrored":
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def describe(strategy: tf.distribute.Strategy) -> dict:
    """What ran where, for summaries and logs."""
    try:
        devices = list(strategy.extended.worker_devices)
    except (AttributeError, RuntimeError):  # the default strategy has no device list
        devices = []
    import tensorflow as tf

    name = type(strategy).__name__
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        name = "MultiWorkerMirroredStrategy"  # the class behind it is CollectiveAllReduceStrategy
    return {"strategy": name, "replicas": int(strategy.num_replicas_in_sync), "devices": devices, "chief": is_chief()}


@contextlib.contextmanager
def worker_scratch(run_dir: str | os.PathLike) -> Iterator[Path]:
    """Where this worker writes: ``run_dir`` on the chief, a private temp folder (removed on exit)
    on any other worker, so that one run folder is written by the chief only."""
    if is_chief():
        yield Path(run_dir)
        return
    scratch = Path(tempfile.mkdtemp(prefix="edgel3-mote-worker-"))
    try:
        yield scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def detach(model: keras.Model) -> keras.Model:
    """A copy of ``model`` outside any strategy (plain variables) holding its current values.

    Reading distributed variables (BatchNorm's sync-on-read statistics) is a collective under
    MultiWorkerMirroredStrategy, so every worker calls this at the same point; what follows
    (evaluation, saving) then needs no other worker.
    """
    import tf_keras as keras

    if not tf_distributed(model):
        return model
    weights = model.get_weights()
    from edgel3_mote.compress.pruning.masked import custom_objects

    with keras.utils.custom_object_scope(custom_objects()):
        plain = keras.models.clone_model(model)
    plain.set_weights(weights)
    return plain


def tf_distributed(model: keras.Model) -> bool:
    """True when ``model``'s variables were created under a non-default tf.distribute strategy."""
    import tensorflow as tf

    return any(isinstance(v, tf.distribute.DistributedValues) for v in model.variables)
