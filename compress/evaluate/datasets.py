"""Downstream datasets: UrbanSound8K, ESC-50 / ESC-10, and a folder-per-class layout.

Each reader returns a :class:`Dataset` (clips with label and fold) after checking the
layout thoroughly: a missing audio file, a CSV that does not match the documented columns,
or a fold with no data is an :class:`InvalidInputError` that lists what is wrong.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from edgel3_mote.compress.audio import AUDIO_EXTENSIONS, is_audio_file
from edgel3_mote.errors import InvalidInputError

US8K_COLUMNS = ["slice_file_name", "fsID", "start", "end", "salience", "fold", "classID", "class"]
ESC50_COLUMNS = ["filename", "fold", "target", "category", "esc10", "src_file", "take"]


@dataclass(frozen=True)
class Clip:
    path: Path
    label: int  # 0-based class index into Dataset.classes
    fold: int  # 1-based fold number
    clip_id: str  # unique, stable: used as the embedding cache key


@dataclass
class Dataset:
    name: str
    root: Path
    classes: list[str]
    clips: list[Clip]
    folds: list[int] = field(default_factory=list)

    def __post_init__(self):
        if not self.folds:
            self.folds = sorted({c.fold for c in self.clips})

    def in_folds(self, folds: Iterable[int]) -> list[Clip]:
        wanted = set(folds)
        return [c for c in self.clips if c.fold in wanted]


def _read_csv(path: Path, columns: list[str], what: str) -> list[dict]:
    if not path.is_file():
        raise InvalidInputError(f"{what}: metadata file {path} not found; point --root at the dataset's top folder")
    import io

    from edgel3_mote.errors import read_text

    text = read_text(path, f"{what} metadata file", "point --root at the dataset's top folder, as distributed")
    with io.StringIO(text, newline="") as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames or []
        missing = [c for c in columns if c not in header]
        if missing:
            raise InvalidInputError(
                f"{what}: {path} lacks column(s) {', '.join(missing)} (has: {', '.join(header)}); "
                f"is this the original {what} metadata file?"
            )
        rows = list(reader)
    if not rows:
        raise InvalidInputError(f"{what}: {path} has a header but no rows")
    return rows


def _check_files(clips: list[Clip], what: str) -> None:
    missing = [str(c.path) for c in clips if not c.path.is_file()]
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise InvalidInputError(f"{what}: {len(missing)} audio file(s) listed in the metadata are missing: {shown}")


def _check_folds(ds: Dataset, expected: list[int] | None) -> Dataset:
    if expected:
        empty = [k for k in expected if not any(c.fold == k for c in ds.clips)]
        if empty:
            raise InvalidInputError(
                f"{ds.name}: fold(s) {empty} have no clips; every fold 1..{len(expected)} needs data"
            )
        ds.folds = list(expected)
    if len(ds.folds) < 3:
        raise InvalidInputError(
            f"{ds.name}: {len(ds.folds)} fold(s) found; the protocol needs at least 3 (test, validation, training)"
        )
    return ds


def _int(value: str, column: str, path: Path, row: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{path}: row {row}: column '{column}' is '{value}', not an integer") from None


def load_us8k(root: str | Path) -> Dataset:
    """UrbanSound8K: ``metadata/UrbanSound8K.csv`` and ``audio/fold1..10/<slice_file_name>``."""
    root = Path(root)
    meta = root / "metadata" / "UrbanSound8K.csv"
    rows = _read_csv(meta, US8K_COLUMNS, "UrbanSound8K")
    names: dict[int, str] = {}
    clips = []
    for i, r in enumerate(rows, start=2):
        fold = _int(r["fold"], "fold", meta, i)
        cid = _int(r["classID"], "classID", meta, i)
        names.setdefault(cid, r["class"])
        clips.append(Clip(root / "audio" / f"fold{fold}" / r["slice_file_name"], cid, fold, r["slice_file_name"]))
    classes = _dense_classes(names, "UrbanSound8K")
    _check_files(clips, "UrbanSound8K")
    return _check_folds(Dataset("us8k", root, classes, clips), list(range(1, 11)))


def load_esc50(root: str | Path, esc10: bool = False) -> Dataset:
    """ESC-50: ``meta/esc50.csv`` and ``audio/<filename>``; ``esc10=True`` keeps the ESC-10 subset."""
    root = Path(root)
    meta = root / "meta" / "esc50.csv"
    what = "ESC-10" if esc10 else "ESC-50"
    rows = _read_csv(meta, ESC50_COLUMNS, what)
    if esc10:
        rows = [r for r in rows if str(r["esc10"]).strip().lower() in ("true", "1")]
        if not rows:
            raise InvalidInputError(f"ESC-10: no row of {meta} has esc10=True")
    names: dict[int, str] = {}
    for i, r in enumerate(rows, start=2):
        names.setdefault(_int(r["target"], "target", meta, i), r["category"])
    # ESC-10 keeps 10 of the 50 targets: renumber them densely in target order.
    remap = {t: k for k, t in enumerate(sorted(names))}
    classes = [names[t] for t in sorted(names)]
    clips = [
        Clip(root / "audio" / r["filename"], remap[int(r["target"])], _int(r["fold"], "fold", meta, i), r["filename"])
        for i, r in enumerate(rows, start=2)
    ]
    _check_files(clips, what)
    return _check_folds(Dataset("esc10" if esc10 else "esc50", root, classes, clips), list(range(1, 6)))


def load_folder(root: str | Path, folds: int = 5) -> Dataset:
    """``root/<class name>/<audio files>``: folds assigned per class, round-robin in name order.

    Deterministic and stratified: within each class the files (sorted by a hash of their
    name, so neighbours in name order spread out) go to folds 1, 2, ..., K, 1, 2, ...
    """
    root = Path(root)
    if not root.is_dir():
        raise InvalidInputError(f"folder dataset: {root} is not a directory")
    if folds < 3:
        raise InvalidInputError(f"folder dataset: --folds {folds} is too small; use at least 3")
    class_dirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if len(class_dirs) < 2:
        raise InvalidInputError(f"folder dataset: {root} needs one sub-folder per class (found {len(class_dirs)})")
    clips = []
    for label, d in enumerate(class_dirs):
        files = sorted(
            (f for f in d.iterdir() if is_audio_file(f)), key=lambda f: hashlib.sha1(f.name.encode()).hexdigest()
        )
        if not files:
            raise InvalidInputError(f"folder dataset: class folder {d} holds no audio ({', '.join(AUDIO_EXTENSIONS)})")
        for i, f in enumerate(files):
            clips.append(Clip(f, label, i % folds + 1, f"{d.name}/{f.name}"))
    return _check_folds(Dataset("folder", root, [d.name for d in class_dirs], clips), list(range(1, folds + 1)))


def _dense_classes(names: dict[int, str], what: str) -> list[str]:
    ids = sorted(names)
    if ids != list(range(len(ids))):
        raise InvalidInputError(f"{what}: class ids {ids} are not 0..{len(ids) - 1}")
    return [names[i] for i in ids]


def load_dataset(kind: str, root: str | Path, folds: int | None = None) -> Dataset:
    """Dispatch on ``kind``: us8k | esc50 | esc10 | folder."""
    if kind == "us8k":
        return load_us8k(root)
    if kind == "esc50":
        return load_esc50(root)
    if kind == "esc10":
        return load_esc50(root, esc10=True)
    if kind == "folder":
        return load_folder(root, folds or 5)
    raise InvalidInputError(f"unknown dataset '{kind}'; choose us8k, esc50, esc10 or folder")


def fold_split(folds: list[int], test_fold: int) -> tuple[int, list[int]]:
    """EdgeL3/L3 protocol: validation = the fold before the test fold (cyclic), training = the rest."""
    if test_fold not in folds:
        raise InvalidInputError(f"test fold {test_fold} is not one of the dataset's folds {folds}")
    i = folds.index(test_fold)
    val = folds[i - 1]
    train = [k for k in folds if k not in (test_fold, val)]
    return val, train
