"""Run directories: config.json, logs/, checkpoints/, the final model and summary.json.

Every file is written atomically (a crash never leaves half a model or half a JSON file).
The directory itself is created up front -- it must outlive a killed run so that the run can
resume from its checkpoints -- and ``summary.json`` is written last: its presence means the
run finished.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgel3_mote.atomic import atomic_file, atomic_write_text
from edgel3_mote.errors import InvalidInputError

if TYPE_CHECKING:
    import tf_keras as keras

MODEL_SUFFIXES = (".h5", ".keras")
# what distill / finetune write directly in their run folder (logs/ and checkpoints/ are theirs too)
RUN_FILES = ("config.json", "config.resume.json", "teacher_targets.npz", "summary.json", "logs", "checkpoints")


def _jsonable(value: Any):
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return value.item()
    return value


def write_json(path: str | os.PathLike, data: dict) -> Path:
    return atomic_write_text(path, json.dumps(_jsonable(data), indent=2, sort_keys=True) + "\n")


def read_json(path: str | os.PathLike) -> dict:
    return json.loads(Path(path).read_text())


def args_config(args: argparse.Namespace, command: str) -> dict:
    """The command line as a config dict (what re-runs or resumes it)."""
    config = {k: v for k, v in vars(args).items() if k != "func" and not k.startswith("_")}
    return {
        "command": command,
        "args": _jsonable(config),
        "argv": sys.argv,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": platform.python_version(),
    }


def model_path(run_dir: str | os.PathLike, fmt: str = "h5") -> Path:
    if f".{fmt}" not in MODEL_SUFFIXES:
        raise InvalidInputError(f"model format {fmt!r} is not one of h5, keras")
    return Path(run_dir) / f"model.{fmt}"


def save_model(model: keras.Model, path: str | os.PathLike) -> Path:
    """Save a full model (architecture + weights, masks included) atomically."""
    import warnings

    path = Path(path)
    with atomic_file(path) as tmp, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*HDF5 file.*legacy")
        model.save(tmp, include_optimizer=False)
    return path


def load_model(path: str | os.PathLike) -> keras.Model:
    """Load a model this package saved (MaskedConv2D and the front-end layer known)."""
    import tf_keras as keras

    from edgel3_mote.compress.pruning.masked import custom_objects

    path = Path(path)
    if not path.exists():
        raise InvalidInputError(f"model file {path} does not exist: give a run's model.h5/.keras")
    return keras.models.load_model(path, custom_objects=custom_objects(), compile=False)


# What a start writes before its first checkpoint: a folder holding only these is a failed or
# killed start, which a rerun may take over (the cached teacher targets are kept and reused).
STARTED_RUN_FILES = frozenset({"config.json", "config.resume.json", "logs", "teacher_targets.npz", "checkpoints"})


def is_failed_start(out: Path) -> bool:
    """True when ``out`` holds only what a start of distill/finetune writes before any checkpoint."""
    from edgel3_mote.atomic import OUTPUT_MARKER

    names = {p.name for p in out.iterdir()} - {OUTPUT_MARKER}
    if not names or not names <= STARTED_RUN_FILES or "config.json" not in names:
        return False
    if (out / "checkpoints").exists() and any((out / "checkpoints").iterdir()):
        return False
    try:
        return read_json(out / "config.json").get("command") in ("distill", "finetune")
    except (OSError, ValueError, AttributeError):
        return False


# --- model references: a registry name or a model file this package saved (distill, finetune, the sweep)


def is_model_file(ref: str | None) -> bool:
    return ref is not None and Path(ref).suffix in MODEL_SUFFIXES


def load_any_model(ref: str, weights: str | os.PathLike | None = None, seed: int = 0) -> keras.Model:
    """A registry model (``weights`` or seeded) or a model file saved by this package."""
    if is_model_file(ref):
        return load_model(ref)
    from edgel3_mote.compress.models.registry import build_model

    return build_model(ref, weights=str(weights) if weights else None, seed=seed)


def framing_model_name(ref: str, model: keras.Model | None = None) -> str:
    """The registry name whose front-end rate and window frame the clips for this model."""
    if not is_model_file(ref):
        return ref
    assert model is not None, "framing a model file needs the model loaded from it"
    window = int(model.input_shape[-1])
    return {8000: "sea-64", 48000: "l3-melspec2"}.get(window) or _unknown_window(ref, window)


def _unknown_window(ref, window):
    raise InvalidInputError(
        f"{ref} takes {window}-sample inputs, not an 8 kHz or 48 kHz 1-s window: give an audio embedding model"
    )
