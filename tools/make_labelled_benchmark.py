#!/usr/bin/env python
"""Build a labelled audio benchmark (ESC-50 layout) from freely licensed Debian data packages.

Like the distillation corpus (``tools/make_distill_corpus.py``, whose download, unpacking and
licence reading this reuses), each package is fetched with ``apt-get download`` and unpacked
with ``dpkg-deb -x`` into ``CACHE`` (resumable: a package downloaded or unpacked once is not
fetched again). Labels come from the packages' own names: drum-kit samples named by
instrument (hydrogen-drumkits' kits, sonic-pi-samples), game sounds in folders by source
(ufoai-sound, hedgewars-data: voices, weapons, footsteps, interface, ambience) and music
tracks (hedgewars-data, colobot-common-sounds). ``RULES`` maps path patterns to classes.

Clips: a file of up to ``--clip-seconds`` is one clip (mixed to mono, 16-bit WAV at its own
rate); a longer file gives up to ``--segments`` clips of ``--clip-seconds`` spread over it.
Folds: every clip has a *source* (the recording it was cut from or the kit / voice pack /
footstep surface it belongs to: one set of instruments, microphones and performers); a
source's clips all go to one fold, so no recording is on both sides of a split. Sources are
dealt to the folds class by class, largest first, onto the fold with the fewest clips of
that class (stratified, deterministic); a class whose sources cannot fill every fold is
dropped (and named in the manifest). Per class, at most ``--max-per-class`` files are kept,
taken evenly over its sources, at most ``--max-per-source`` from one source.

Output (``-o OUT``; refused if OUT holds files this tool did not write; published whole):
``OUT/meta/esc50.csv`` + ``OUT/audio/*.wav`` (``edgel3-mote evaluate --dataset esc50 --root
OUT`` reads it) and ``OUT/manifest.json`` (classes, clips per class and per package,
licences, the fold rule). Nothing is committed to the repository.

    python tools/make_labelled_benchmark.py -o ~/.cache/edgel3-mote/benchmark
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import importlib.util
import io
import json
import re
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("make_distill_corpus", HERE / "make_distill_corpus.py")
corpus = importlib.util.module_from_spec(_spec)
assert _spec.loader is not None
_spec.loader.exec_module(corpus)

DEFAULT_CACHE = Path.home() / ".cache" / "edgel3-mote" / "corpus"  # shares the corpus' downloads
FOLDS = 5
ESC50_FIELDS = ("filename", "fold", "target", "category", "esc10", "src_file", "take")
COMMAND = "make_labelled_benchmark"

# (package, regex on the lower-case path inside the package, class, source rule). The first
# rule that matches a file wins. Source rules: "file" (each file its own recording), "dir"
# (the file's folder: a drum kit, a voice pack), "stem" (the name without trailing digits:
# ``footsteps/dirt1..4`` are one surface recorded together).
Rule = tuple[str, str, str, str]
_KIT = r"/drumkits/[^/]+/"
RULES: tuple[Rule, ...] = (
    # hydrogen-drumkits: each kit (folder) is one source
    ("hydrogen-drumkits", _KIT + r"[^/]*(hi-?hat|hihat|hhat|hh|chh|ohh|openhat|hat)[^/]*$", "hihat", "dir"),
    ("hydrogen-drumkits", _KIT + r"[^/]*(crash|ride|splash|china|cymbal|^cc|^rc|cra_)[^/]*$", "cymbal", "dir"),
    ("hydrogen-drumkits", _KIT + r"(cc|rc)[_-]?\d*[^/]*$", "cymbal", "dir"),
    ("hydrogen-drumkits", _KIT + r"[^/]*(kick|bassdrum|hse_k|powr_bd)[^/]*$", "kick", "dir"),
    ("hydrogen-drumkits", _KIT + r"bd[^/]*$", "kick", "dir"),
    ("hydrogen-drumkits", _KIT + r"[^/]*(snare|powr_sn)[^/]*$", "snare", "dir"),
    ("hydrogen-drumkits", _KIT + r"(sd|sr)[_-]?\d*[^/]*$", "snare", "dir"),
    ("hydrogen-drumkits", _KIT + r"[^/]*tom[^/]*$", "tom", "dir"),
    ("hydrogen-drumkits", _KIT + r"(ft|t[12])[_-]?\d*[^/]*$", "tom", "dir"),
    ("hydrogen-drumkits", _KIT + r"[^/]*clap[^/]*$", "clap", "dir"),
    ("hydrogen-drumkits", _KIT + r"[^/]*(cowbell|agogo|_cb|triangle)[^/]*$", "bell", "dir"),
    ("hydrogen-drumkits", _KIT + r"[^/]*(conga|bongo|tabla|djembe)[^/]*$", "hand_drum", "dir"),
    # sonic-pi-samples: one file per source
    ("sonic-pi-samples", r"/(drum_cymbal_(closed|open|pedal))[^/]*$", "hihat", "file"),
    ("sonic-pi-samples", r"/(drum_cymbal_(hard|soft)|drum_splash_\w+|elec_cymbal)[^/]*$", "cymbal", "file"),
    ("sonic-pi-samples", r"/(bd_\w+|drum_bass_\w+|drum_heavy_kick|elec_\w*kick)\.\w+$", "kick", "file"),
    ("sonic-pi-samples", r"/(sn_\w+|drum_snare_\w+|elec_\w*snare)\.\w+$", "snare", "file"),
    ("sonic-pi-samples", r"/(drum_tom_\w+|elec_fuzz_tom)\.\w+$", "tom", "file"),
    ("sonic-pi-samples", r"/(drum_cowbell|perc_bell\d*|elec_bell|elec_triangle)\.\w+$", "bell", "file"),
    ("sonic-pi-samples", r"/tabla_\w+\.\w+$", "hand_drum", "file"),
    ("sonic-pi-samples", r"/(elec_(beep|blip\d*|blup|ping|plip|twip|chime))\.\w+$", "interface", "file"),
    # ufoai-sound (0snd.pk3): folders by source
    ("ufoai-sound", r"/sound/(soldiers|civilians)/[^/]+$", "voice", "file"),
    (
        "ufoai-sound",
        r"/sound/weapons/(bullet|explosion|laser|plasma|rocket|grenade-launcher|flamer)[^/]*$",
        "weapon",
        "file",
    ),
    ("ufoai-sound", r"/sound/geoscape/combat-[^/]+$", "weapon", "file"),
    ("ufoai-sound", r"/sound/footsteps/[a-z]+\d*\.ogg$", "footsteps", "stem"),
    ("ufoai-sound", r"/sound/(ui/[^/]+|geoscape/(info|mail|standard|newmission|basealert)\.ogg)$", "interface", "file"),
    ("ufoai-sound", r"/sound/ambience/[^/]+$", "ambience", "file"),
    # hedgewars-data: voice packs (one speaker each), weapons, music tracks
    ("hedgewars-data", r"/sounds/voices/[^/]+/[^/]+\.ogg$", "voice", "dir"),
    (
        "hedgewars-data",
        r"/sounds/(shotgunfire|minigun|gun|explosion|mortar|grenadeimpact|mineimpact|sinegun|drillgun)\.ogg$",
        "weapon",
        "file",
    ),
    ("hedgewars-data", r"/sounds/(steps)\.ogg$", "footsteps", "file"),
    ("hedgewars-data", r"/sounds/(beep|denied|countdown\d|switchhog|extratime|skip|placed)\.ogg$", "interface", "file"),
    ("hedgewars-data", r"/sounds/(steam|splash|droplet\d)\.ogg$", "ambience", "file"),
    ("hedgewars-data", r"/music/[^/]+\.ogg$", "music", "file"),
    # colobot-common-sounds: music tracks
    ("colobot-common-sounds", r"/music/[^/]+\.ogg$", "music", "file"),
)
DEFAULT_PACKAGES = tuple(dict.fromkeys(r[0] for r in RULES))


@dataclass(frozen=True)
class Item:
    """One labelled source file before it is cut into clips."""

    path: Path
    rel: str  # path inside the unpacked package
    package: str
    version: str
    licence: str
    label: str
    source: str  # package/<recording, kit, voice pack or surface>


def classify(package: str, rel: str) -> tuple[str, str] | None:
    """``(class, source)`` of a file at ``rel`` (a path inside ``package``), or None (not labelled)."""
    low = "/" + rel.lower().lstrip("/")
    for pkg, pattern, label, source_rule in RULES:
        if pkg != package or not re.search(pattern, low):
            continue
        path = Path(rel)
        if source_rule == "dir":
            source = path.parent.name
        elif source_rule == "stem":
            source = str(path.parent / re.sub(r"\d+$", "", path.stem))
        else:
            source = str(path.with_suffix(""))
        return label, f"{package}/{source}"
    return None


def collect(packages, cache: Path, progress: bool = True) -> list[Item]:
    from tqdm import tqdm

    items = []
    for package in tqdm(packages, desc="packages", unit="pkg", disable=not progress):
        root, version = corpus.fetch_package(package, cache)
        licence = " | ".join(corpus.package_licences(root, package))
        for path in sorted(p for p in root.rglob("*") if p.suffix.lower() in corpus.AUDIO_SUFFIXES and p.is_file()):
            rel = str(path.relative_to(root))
            hit = classify(package, rel)
            if hit:
                items.append(Item(path, rel, package, version, licence, *hit))
    return items


def _stable(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


def cap_per_class(items: list[Item], max_per_class: int, max_per_source: int) -> list[Item]:
    """At most ``max_per_class`` files per class and ``max_per_source`` per (class, source), taken
    round-robin over the class's sources (in a stable hash order), so a large kit or voice pack
    does not crowd out the others."""
    out = []
    by_class: dict[str, dict[str, list[Item]]] = defaultdict(lambda: defaultdict(list))
    for it in items:
        by_class[it.label][it.source].append(it)
    for label in sorted(by_class):
        queues = [sorted(v, key=lambda i: _stable(i.rel))[:max_per_source] for _, v in sorted(by_class[label].items())]
        taken: list[Item] = []
        while len(taken) < max_per_class and any(queues):
            for q in queues:
                if q and len(taken) < max_per_class:
                    taken.append(q.pop(0))
        out += taken
    return out


def assign_folds(sources: dict[str, tuple[str, int]], folds: int = FOLDS) -> dict[str, int]:
    """``{source: fold}`` from ``{source: (class, clips)}``: whole sources, stratified per class.

    Within a class, sources go largest first (ties in a stable hash order) to the fold holding the
    fewest clips of that class (lowest fold number on ties)."""
    out: dict[str, int] = {}
    per_class: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for src, (label, n) in sources.items():
        per_class[label].append((src, n))
    for label in sorted(per_class):
        load = [0] * folds
        for src, n in sorted(per_class[label], key=lambda s: (-s[1], _stable(s[0]))):
            k = min(range(folds), key=lambda f: (load[f], f))
            out[src] = k + 1
            load[k] += n
    return out


def segments(n: int, sr: int, clip_seconds: float, max_segments: int) -> list[tuple[int, int]]:
    """Sample ranges of the clips cut from ``n`` samples: the whole file when it fits in one clip,
    else up to ``max_segments`` clips of ``clip_seconds`` spread evenly (non-overlapping)."""
    length = int(round(clip_seconds * sr))
    if n <= length:
        return [(0, n)]
    count = min(max_segments, n // length)
    starts = np.linspace(0, n - length, count).astype(int) if count > 1 else [(n - length) // 2]
    return [(int(s), int(s) + length) for s in starts]


def write_clips(items: list[Item], out: Path, clip_seconds: float, max_segments: int, progress: bool = True):
    """Decode, mix to mono, cut and write the clips as 16-bit WAV; returns the rows (without folds)."""
    import soundfile as sf
    from tqdm import tqdm

    audio_dir = out / "audio"
    audio_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for it in tqdm(items, desc="clips", unit="file", disable=not progress):
        try:
            audio, sr = sf.read(str(it.path), dtype="float32", always_2d=True)
        except (RuntimeError, sf.LibsndfileError):
            continue  # not decodable by libsndfile: not listed
        mono = audio.mean(axis=1)
        if mono.size < int(0.05 * sr) or not np.any(np.abs(mono) > 1e-4):
            continue  # empty or silent: no label to learn
        for take, (a, b) in enumerate(segments(len(mono), sr, clip_seconds, max_segments)):
            name = f"{it.label}-{_stable(it.package + '/' + it.rel)[:12]}-{take}.wav"
            sf.write(str(audio_dir / name), mono[a:b], sr, subtype="PCM_16")
            rows.append(
                {
                    "filename": name,
                    "category": it.label,
                    "src_file": it.source,
                    "take": take,
                    "package": it.package,
                    "version": it.version,
                    "licence": it.licence,
                    "origin": it.rel,
                    "seconds": round((b - a) / sr, 3),
                }
            )
    return rows


def finish_rows(rows: list[dict], folds: int = FOLDS) -> tuple[list[dict], list[str], list[str]]:
    """Add ``fold`` (by source) and ``target`` (class index in name order); a class whose sources
    cannot fill every fold is dropped. Returns (rows, classes, dropped classes)."""
    sizes = Counter(r["src_file"] for r in rows)
    fold_of = assign_folds({r["src_file"]: (r["category"], sizes[r["src_file"]]) for r in rows}, folds)
    filled = defaultdict(set)
    for r in rows:
        r["fold"] = fold_of[r["src_file"]]
        filled[r["category"]].add(r["fold"])
    dropped = sorted(c for c, f in filled.items() if len(f) < folds)
    rows = [r for r in rows if r["category"] not in dropped]
    classes = sorted({r["category"] for r in rows})
    for r in rows:
        r["target"] = classes.index(r["category"])
        r["esc10"] = "False"
    return sorted(rows, key=lambda r: (r["target"], r["fold"], r["filename"])), classes, dropped


def manifest(rows: list[dict], classes: list[str], dropped: list[str], folds: int, clip_seconds: float) -> dict:
    per_class = {c: Counter() for c in classes}
    packages: dict[str, dict] = {}
    for r in rows:
        per_class[r["category"]][r["package"]] += 1
        p = packages.setdefault(r["package"], {"version": r["version"], "licence": r["licence"], "clips": 0})
        p["clips"] += 1
    fold_counts = {c: [0] * folds for c in classes}
    for r in rows:
        fold_counts[r["category"]][r["fold"] - 1] += 1
    sources = {r["src_file"] for r in rows}
    return {
        "schema": "edgel3-mote-labelled-benchmark/1",
        "layout": "ESC-50 (meta/esc50.csv, audio/*.wav): edgel3-mote evaluate --dataset esc50 --root THIS_FOLDER",
        "classes": classes,
        "dropped_classes": dropped,
        "clips": len(rows),
        "sources": len(sources),
        "folds": folds,
        "clip_seconds_max": clip_seconds,
        "clips_per_class": {c: sum(per_class[c].values()) for c in classes},
        "clips_per_class_and_package": {c: dict(sorted(per_class[c].items())) for c in classes},
        "clips_per_class_and_fold": fold_counts,
        "packages": dict(sorted(packages.items())),
        "fold_rule": "each clip's source (the recording it was cut from; a drum kit, a voice pack or a "
        "footstep surface for sounds recorded together) is in exactly one fold; sources are dealt to the "
        "folds per class, largest first, onto the fold with the fewest clips of that class",
        "packages_in_distillation_training": sorted(
            set(packages) & (set(corpus.DEFAULT_PACKAGES) - set(corpus.DEFAULT_VAL_PACKAGES))
        ),
        "distillation_note": "the default distillation corpus (tools/make_distill_corpus.py) trains on these "
        "packages' audio without labels (the student imitates the teacher on it): the benchmark measures "
        "what the embedding keeps of the classes, not generalisation to unheard recordings",
        "licence_note": "Debian main (DFSG-free); the licences are those each package's copyright file "
        "names; the audio is not redistributed by edgel3-mote",
    }


@dataclass(frozen=True)
class BenchmarkConfig:
    max_per_class: int = 100
    max_per_source: int = 10
    clip_seconds: float = 5.0
    segments: int = 3
    folds: int = FOLDS


def build(out: Path, packages, cache: Path, cfg: BenchmarkConfig = BenchmarkConfig(), progress: bool = True) -> dict:
    """Fetch, label, cut and publish the benchmark at ``out`` (atomically); returns the manifest."""
    from edgel3_mote.atomic import atomic_dir

    items = cap_per_class(collect(packages, cache, progress), cfg.max_per_class, cfg.max_per_source)
    clip_seconds, max_segments, folds = cfg.clip_seconds, cfg.segments, cfg.folds
    with atomic_dir(out, COMMAND) as tmp:
        rows, classes, dropped = finish_rows(write_clips(items, tmp, clip_seconds, max_segments, progress), folds)
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=ESC50_FIELDS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        (tmp / "meta").mkdir()
        (tmp / "meta" / "esc50.csv").write_text(buf.getvalue())
        (tmp / "meta" / "clips.csv").write_text(_details_csv(rows))
        info = manifest(rows, classes, dropped, folds, clip_seconds)
        (tmp / "manifest.json").write_text(json.dumps(info, indent=2) + "\n")
    return info


def _details_csv(rows: list[dict]) -> str:
    fields = ("filename", "fold", "category", "src_file", "take", "package", "version", "licence", "origin", "seconds")
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-o", "--output", type=Path, required=True, help="benchmark folder (ESC-50 layout)")
    ap.add_argument(
        "--cache", type=Path, default=DEFAULT_CACHE, help=f"downloads and unpacked packages (default {DEFAULT_CACHE})"
    )
    ap.add_argument("--packages", nargs="+", default=list(DEFAULT_PACKAGES), help="packages that RULES label")
    ap.add_argument("--max-per-class", type=int, default=100, help="clips kept per class (over its sources)")
    ap.add_argument("--max-per-source", type=int, default=10, help="clips kept per class from one source")
    ap.add_argument("--clip-seconds", type=float, default=5.0, help="longest clip (ESC-50: 5 s)")
    ap.add_argument("--segments", type=int, default=3, help="clips cut from one long file (same source, same fold)")
    ap.add_argument("--min-classes", type=int, default=10, help="fail when fewer classes have clips in every fold")
    args = ap.parse_args(argv)
    import edgel3_mote  # noqa: F401
    from edgel3_mote.atomic import check_output_dir
    from edgel3_mote.errors import InvalidInputError

    unknown = sorted(set(args.packages) - set(DEFAULT_PACKAGES))
    try:
        if unknown:
            raise InvalidInputError(
                f"--packages {', '.join(unknown)}: no labelling rule names them (RULES in {Path(__file__).name}); "
                f"choose from {', '.join(DEFAULT_PACKAGES)}"
            )
        if args.max_per_class < FOLDS or args.max_per_source < 1 or args.clip_seconds <= 0 or args.segments < 1:
            raise InvalidInputError(
                f"--max-per-class must be >= {FOLDS}, --max-per-source >= 1, --clip-seconds > 0 and --segments >= 1"
            )
        check_output_dir(args.output, COMMAND, ("meta", "audio", "manifest.json"))
        cfg = BenchmarkConfig(args.max_per_class, args.max_per_source, args.clip_seconds, args.segments)
        info = build(args.output, args.packages, args.cache.expanduser(), cfg)
    except (InvalidInputError, RuntimeError) as exc:
        print(f"{COMMAND}: error: {exc}", file=sys.stderr)
        return 2
    for c in info["classes"]:
        per_pkg = ", ".join(f"{p} {n}" for p, n in info["clips_per_class_and_package"][c].items())
        print(
            f"{c:12s} {info['clips_per_class'][c]:4d} clips  folds {info['clips_per_class_and_fold'][c]}  ({per_pkg})"
        )
    if info["dropped_classes"]:
        print(f"dropped (too few sources to fill every fold): {', '.join(info['dropped_classes'])}")
    print(f"{info['clips']} clips, {len(info['classes'])} classes, {info['sources']} sources -> {args.output}")
    full = [c for c in info["classes"] if all(info["clips_per_class_and_fold"][c])]
    if len(full) < args.min_classes:
        print(
            f"{COMMAND}: error: only {len(full)} classes have clips in every fold (< --min-classes "
            f"{args.min_classes}): add packages",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
