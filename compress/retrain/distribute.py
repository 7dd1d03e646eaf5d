"""``tf.distribute`` strategy selection: one code path for a laptop CPU, a multi-GPU node and a
multi-node cluster (TF_CONFIG, as the SLURM scripts of :mod:`slurm` write it).

Build and compile models inside ``strategy.scope()``; ``model.fit`` then splits each global
batch across the replicas and all-reduces the gradients.
"""
from __future__ import annotations

import json
import os

from edgel3_mote.errors import InvalidInputError

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
    return task.get("type") == "worker" and int(task.get("index", 0)) == 0 \
        and "chief" not in config["cluster"]


def get_strategy(kind: str = "auto"):
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
            raise InvalidInputError("the multiworker strategy needs TF_CONFIG (cluster + task): "
                                    "set it, e.g. with the scripts from `edgel3-mote jobs`")
        return tf.distribute.MultiWorkerMirroredStrategy()
    if kind == "mirrored":
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def describe(strategy) -> dict:
    """What ran where, for summaries and logs."""
    try:
        devices = list(strategy.extended.worker_devices)
    except (AttributeError, RuntimeError):  # the default strategy has no device list
        devices = []
    return {"strategy": type(strategy).__name__, "replicas": int(strategy.num_replicas_in_sync),
            "devices": devices, "chief": is_chief()}
