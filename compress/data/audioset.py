"""AudioSet-format segment lists, the ontology, label filters and local media matching.

A segments CSV has 3 ``#`` header lines, then ``YTID, start_seconds, end_seconds, "labels"``
rows (labels: comma-separated mids). Filters take class names or mids; with
``include_children`` a class stands for its whole ontology subtree ("Animal" accepts "Dog",
"Bark", ...). Media are matched by YTID in local folders: ``<YTID>.<ext>`` (a full video: the
segment is cut at its start/end times) or ``<YTID>_<start>_<end>.<ext>`` (already the segment).
"""

from __future__ import annotations

import csv
import dataclasses
import re
from pathlib import Path
from typing import Iterable, Sequence

from edgel3_mote.errors import InvalidInputError

MEDIA_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".m4a", ".mp4", ".mkv", ".webm", ".avi", ".mov")


@dataclasses.dataclass(frozen=True)
class Segment:
    ytid: str
    start: float
    end: float
    labels: tuple[str, ...]
    media: str | None = None  # local file, once matched
    media_is_segment: bool = False  # the file holds only [start, end)

    @property
    def duration(self) -> float:
        return self.end - self.start

    @property
    def offset(self) -> float:
        """Where the segment starts inside the media file."""
        return 0.0 if self.media_is_segment else self.start


def read_segments(path: str | Path) -> list[Segment]:
    """Parse an AudioSet segments CSV (``#`` comment lines skipped)."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"segments file {path} could not be found: check the path")
    import io

    from edgel3_mote.errors import read_text

    text = read_text(path, "segments file", "give an AudioSet-format segments CSV")
    segments = []
    with io.StringIO(text, newline="") as f:
        rows = csv.reader((line for line in f if not line.startswith("#") and line.strip()), skipinitialspace=True)
        for n, row in enumerate(rows, 1):
            if len(row) != 4:
                raise InvalidInputError(
                    f'{path}: data row {n} has {len(row)} fields, not 4 (YTID, start_seconds, end_seconds, "labels")'
                )
            try:
                start, end = float(row[1]), float(row[2])
            except ValueError:
                raise InvalidInputError(f"{path}: data row {n} has non-numeric times {row[1:3]}") from None
            labels = tuple(l.strip() for l in row[3].split(",") if l.strip())
            segments.append(Segment(row[0].strip(), start, end, labels))
    return segments


def write_segments(path: str | Path, segments: Sequence[Segment], note: str = "") -> Path:
    """Write segments in the AudioSet format (3 header lines)."""
    from edgel3_mote.atomic import atomic_write_text

    labels = {l for s in segments for l in s.labels}
    lines = [
        f"# Segments csv {note}".rstrip(),
        f"# num_ytids={len({s.ytid for s in segments})}, num_segs={len(segments)}, "
        f"num_unique_labels={len(labels)}, num_positive_labels={sum(len(s.labels) for s in segments)}",
        "# YTID, start_seconds, end_seconds, positive_labels",
    ]
    lines += [f'{s.ytid}, {s.start:.3f}, {s.end:.3f}, "{",".join(s.labels)}"' for s in segments]
    return atomic_write_text(path, "\n".join(lines) + "\n")


class Ontology:
    """The AudioSet ontology (ontology.json) + optional class_labels_indices.csv names."""

    def __init__(self, entries: list[dict]):
        self.by_id = {e["id"]: e for e in entries}
        self.by_name = {e["name"].lower(): e["id"] for e in entries}

    @classmethod
    def load(cls, ontology_json: str | Path, class_labels_csv: str | Path | None = None) -> "Ontology":
        path = Path(ontology_json)
        if not path.is_file():
            raise InvalidInputError(f"ontology file {path} could not be found: give AudioSet's ontology.json")
        from edgel3_mote.errors import read_json, read_text

        doc = read_json(path, "ontology file", "give AudioSet's ontology.json")
        if not isinstance(doc, list) or not all(isinstance(e, dict) and {"id", "name"} <= e.keys() for e in doc):
            raise InvalidInputError(
                f"ontology file {path} is not a list of {{id, name, ...}}: give AudioSet's ontology.json"
            )
        onto = cls(doc)
        if class_labels_csv is not None:
            import io

            labels = read_text(class_labels_csv, "class labels file", "give AudioSet's class_labels_indices.csv")
            with io.StringIO(labels, newline="") as f:
                for row in csv.DictReader(f):
                    onto.by_name.setdefault(row["display_name"].lower(), row["mid"])
        return onto

    def resolve(self, label: str) -> str:
        """A class name (case-insensitive) or mid -> mid."""
        if label in self.by_id:
            return label
        mid = self.by_name.get(label.strip().lower())
        if mid is None:
            raise InvalidInputError(
                f"unknown AudioSet class {label!r}: give a name from the "
                f"ontology (e.g. 'Dog') or a mid (e.g. /m/0bt9lr)"
            )
        return mid

    def name(self, mid: str) -> str:
        return self.by_id.get(mid, {}).get("name", mid)

    def descendants(self, mid: str) -> set[str]:
        """``mid`` and every class below it (the ontology is a DAG; cycles are not followed)."""
        seen, stack = set(), [mid]
        while stack:
            cur = stack.pop()
            if cur in seen:
                continue
            seen.add(cur)
            stack += self.by_id.get(cur, {}).get("child_ids", [])
        return seen

    def expand(self, labels: Iterable[str], include_children: bool = True) -> set[str]:
        mids = {self.resolve(l) for l in labels}
        if include_children:
            mids = set().union(*(self.descendants(m) for m in mids)) if mids else set()
        return mids


def is_mid(label: str) -> bool:
    """True for an AudioSet/Freebase machine id (``/m/0bt9lr``, ``/t/dd00001``), not a class name."""
    return re.fullmatch(r"/[a-z]/[0-9a-z_]+", label.strip()) is not None


def filter_segments(
    segments: Sequence[Segment],
    accept: Iterable[str] = (),
    reject: Iterable[str] = (),
    ontology: Ontology | None = None,
    include_children: bool = True,
) -> list[Segment]:
    """Segments with at least one accepted label (all, if none given) and no rejected one."""
    accept, reject = list(accept), list(reject)
    if (accept or reject) and ontology is None:
        names = [label for label in accept + reject if not is_mid(label)]
        if names:
            raise InvalidInputError(
                f"label filter {', '.join(map(repr, names))} names classes, which only "
                f"the ontology resolves: pass --ontology ontology.json (AudioSet's "
                f"ontology; ../shared/audioset has one) or give mids such as /m/0bt9lr"
            )
        accepted, rejected = set(accept), set(reject)  # mids only, no names or children
    else:
        # here an accept/reject list implies an ontology (the branch above took the other case)
        accepted = ontology.expand(accept, include_children) if accept and ontology is not None else set()
        rejected = ontology.expand(reject, include_children) if reject and ontology is not None else set()
    out = []
    for seg in segments:
        labels = set(seg.labels)
        if accepted and not labels & accepted:
            continue
        if labels & rejected:
            continue
        out.append(seg)
    return out


def _parse_media_name(stem: str) -> tuple[str, float | None, float | None]:
    """``YTID`` or ``YTID_<start>_<end>`` (YTIDs may contain '_' and '-')."""
    parts = stem.rsplit("_", 2)
    if len(parts) == 3:
        try:
            return parts[0], float(parts[1]), float(parts[2])
        except ValueError:
            pass
    return stem, None, None


def index_media(folders: Iterable[str | Path]) -> dict[str, list[tuple[Path, float | None, float | None]]]:
    """YTID -> [(file, start, end)] for every media file under the folders (recursive)."""
    index: dict[str, list] = {}
    for folder in folders:
        folder = Path(folder)
        if not folder.is_dir():
            raise InvalidInputError(f"media folder {folder} could not be found: check the path")
        for path in sorted(folder.rglob("*")):
            if path.is_file() and path.suffix.lower() in MEDIA_EXTENSIONS:
                ytid, start, end = _parse_media_name(path.stem)
                index.setdefault(ytid, []).append((path, start, end))
    return index


def match_media(
    segments: Sequence[Segment], folders: Iterable[str | Path], prefer: Sequence[str] = (".mp4", ".mkv", ".webm")
) -> tuple[list[Segment], list[Segment]]:
    """``(matched, missing)``: segments with their local media file set, and those without.

    A ``YTID_<start>_<end>`` file matches only the segment with those times; a plain
    ``YTID`` file matches any of its segments. Video containers are preferred (they hold
    both streams) in the order of ``prefer``.
    """
    index = index_media(folders)
    matched, missing = [], []
    for seg in segments:
        candidates = []
        for path, start, end in index.get(seg.ytid, []):
            if start is None:
                candidates.append((path, False))
            elif end is not None and abs(start - seg.start) < 1e-3 and abs(end - seg.end) < 1e-3:
                candidates.append((path, True))
        if not candidates:
            missing.append(seg)
            continue
        rank = {ext: i for i, ext in enumerate(prefer)}
        path, is_segment = min(candidates, key=lambda c: (rank.get(c[0].suffix.lower(), len(rank)), str(c[0])))
        matched.append(dataclasses.replace(seg, media=str(path), media_is_segment=is_segment))
    return matched, missing
