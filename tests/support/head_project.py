"""A small, real firmware project with the classifier head, shared by the tests that need one.

SEA-64 (the real pretrained weights) + a 3-class MLP head trained quickly on its real embeddings
of three animal recordings (cow, dog, owl; each recording's windows split into 3 folds), built for
a QEMU board. The trained head and the project are cached under ``build/.cache/head-project``:
``build_firmware_project`` regenerates the project whenever any of its inputs (code included)
changed, and the head is retrained when the weights, the clips or the training code changed.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

CLASSES = ("cow", "dog", "owl")
CACHE = Path(__file__).resolve().parents[1] / "build" / ".cache" / "head-project"
TRAINING = {"hidden": (32, 16), "epochs": 40, "patience": 10, "learning_rate": 1e-2, "seed": 0, "hop_size": 0.1}


def _sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def train_quick_head(clips_dir: Path, weights: Path, out: Path) -> Path:
    """Train and save ``out/head.h5`` (+ ``head.classes.json``); see the module docstring."""
    from edgel3_mote.compress.audio import read_audio
    from edgel3_mote.compress.embedding import get_embedding
    from edgel3_mote.compress.evaluate.datasets import Clip, Dataset
    from edgel3_mote.compress.evaluate.protocol import ClassifierConfig, save_classifier, train_deploy_classifier
    from edgel3_mote.compress.models.registry import build_model

    model = build_model("sea-64", weights=str(weights))
    clips, emb = [], {}
    for label, name in enumerate(CLASSES):
        audio, sr = read_audio(Path(clips_dir) / f"{name}.mp3")
        e, _ = get_embedding(audio, sr, model=model, hop_size=TRAINING["hop_size"])
        for fold, part in enumerate(np.array_split(e, 3), start=1):
            cid = f"{name}_{fold}"
            clips.append(Clip(Path(cid), label, fold, cid))
            emb[cid] = part.astype(np.float32)
    cfg = ClassifierConfig(
        hidden=TRAINING["hidden"],
        epochs=TRAINING["epochs"],
        patience=TRAINING["patience"],
        learning_rate=TRAINING["learning_rate"],
        seed=TRAINING["seed"],
    )
    head, classes = train_deploy_classifier(Dataset("three-animals", Path(clips_dir), list(CLASSES), clips), emb, cfg)
    path = Path(out) / "head.h5"
    save_classifier(head, classes, path, {"training": TRAINING})
    return path


def head_project(clips_dir: Path, weights: Path, board: str = "qemu-mps2-an386", log=lambda m: None):
    """(ProjectInfo, head .h5, the three clip paths) of the cached SEA-64 + head project."""
    from edgel3_mote.atomic import atomic_dir
    from edgel3_mote.compress.evaluate import protocol
    from edgel3_mote.export.project import build_firmware_project

    clips = [Path(clips_dir) / f"{name}.mp3" for name in CLASSES]
    key = hashlib.sha256(
        json.dumps(
            {
                "weights": _sha(weights),
                "clips": [_sha(c) for c in clips],
                "training": TRAINING,
                "code": [_sha(Path(__file__)), _sha(Path(protocol.__file__))],
            },
            sort_keys=True,
        ).encode()
    ).hexdigest()[:16]
    head_dir = CACHE / f"head-{key}"
    if not (head_dir / "head.classes.json").is_file():
        with atomic_dir(head_dir) as tmp:
            train_quick_head(clips_dir, weights, tmp)
    three = CACHE / "clips"  # the vectors and the calibration: these three recordings only
    if not all((three / c.name).is_file() for c in clips):
        with atomic_dir(three) as tmp:
            for c in clips:
                (tmp / c.name).symlink_to(c.resolve())
    info = build_firmware_project(
        board, "sea-64", weights=weights, clips=three, classifier=head_dir / "head.h5", out_dir=CACHE / board, log=log
    )
    return info, head_dir / "head.h5", sorted(three / c.name for c in clips)
