#!/usr/bin/env python
"""Assemble a distillation corpus of real, freely licensed recordings from Debian data packages.

Each package is fetched with ``apt-get download`` (no install, no root needed beyond apt's
cache) and unpacked with ``dpkg -x`` into ``CACHE/extract/<package>``; its audio files (ogg,
wav, flac, mp3, opus) of at least ``--min-seconds`` are listed in ``CACHE/manifest.csv`` with
the source package, the licences its ``copyright`` file names, the duration and the split.
Validation is split BY SOURCE PACKAGE (``--val-packages``), so validation audio comes from
recordings, authors and microphones the student never trained on; the default validation
packages are of three kinds -- music (wesnoth), instrument and effect samples (sonic-pi) and
voices with game effects (hedgewars' ``Sounds`` folder) -- and ``distill`` takes the same number
of validation crops from each and draws training crops with the same share from every training
package (``summary.json`` lists both: ``crop_share``), so neither figure is one album's. Distillation needs no
labels: the teacher's embedding is the target. The audio stays in the cache (outside the
repository by default): it is never committed. Debian main is DFSG-free, so every package
here is freely licensed; the licences are recorded, not assumed. ``tuxpaint-data`` is refused:
it is kept for evaluation.

    python tools/make_distill_corpus.py --cache ~/.cache/edgel3-mote/corpus
    edgel3-mote distill ... --corpus ~/.cache/edgel3-mote/corpus/manifest.csv --crops-per-epoch 20000 ...
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import re
import subprocess
import sys
from pathlib import Path

# Real recordings (foley, instruments, drums, music, children's-game voices), Debian main.
DEFAULT_PACKAGES = (
    "ufoai-sound",
    "colobot-common-sounds",
    "hydrogen-drumkits",
    "warzone2100-music",
    "sonic-pi-samples",
    "wesnoth-1.16-music",
    "hedgewars-data",
)
DEFAULT_VAL_PACKAGES = ("sonic-pi-samples", "wesnoth-1.16-music", "hedgewars-data")
# Only these folders of a package are listed (regex on the path inside it): hedgewars-data's
# voices and effects, not its music (long tracks would be most of its crops).
PACKAGE_FOLDERS = {"hedgewars-data": r"/Data/Sounds/"}
ARCHIVE_SUFFIXES = (".pk3", ".zip")  # game data archives (zip) holding ogg files
EVALUATION_ONLY = ("tuxpaint-data",)
AUDIO_SUFFIXES = (".ogg", ".oga", ".wav", ".flac", ".mp3", ".opus")
MANIFEST_FIELDS = ("file", "package", "version", "licence", "seconds", "sample_rate", "channels", "split")
DEFAULT_CACHE = Path.home() / ".cache" / "edgel3-mote" / "corpus"


FREE_TEXT_LICENCES = (  # (pattern in a free-form copyright file, name)
    (r"/usr/share/common-licenses/([A-Za-z0-9.+-]*[A-Za-z0-9+])", None),
    (r"Creative Commons Attribution[- ]Share[- ]?Alike(?: (\d\.\d))?", "CC-BY-SA"),
    (r"Creative Commons Attribution(?! ?[- ]Share)(?: (\d\.\d))?", "CC-BY"),
    (r"CC0|public domain", "public-domain/CC0"),
    (r"\bMIT\b", "MIT"),
)


def copyright_licences(text: str) -> list[str]:
    """The licence names a Debian copyright file states, in order of appearance.

    DEP-5 (machine-readable) files: their ``License:`` fields. Free-form files: the
    ``/usr/share/common-licenses/NAME`` files they point to and the Creative Commons / CC0 /
    MIT licences they name. Nothing found: ``['see copyright']`` (read it by hand).
    """
    names: list[str] = []
    found = [m.group(1).strip() for m in re.finditer(r"^License:[ \t]*(\S[^\n]*)$", text, flags=re.MULTILINE)]
    if not found:
        hits = []
        for pattern, name in FREE_TEXT_LICENCES:
            for m in re.finditer(pattern, text, flags=re.IGNORECASE):
                label = m.group(1) if name is None else name + (f"-{m.group(1)}" if m.groups() and m.group(1) else "")
                hits.append((m.start(), label))
        found = [label for _, label in sorted(hits)]
    for name in found:
        if name not in names:
            names.append(name)
    return names or ["see copyright"]


def package_version(deb: Path) -> str:
    return subprocess.run(
        ["dpkg-deb", "-f", str(deb), "Version"], check=True, capture_output=True, text=True
    ).stdout.strip()


def fetch_package(package: str, cache: Path) -> tuple[Path, str]:
    """Download (once) and unpack (once) ``package``; returns ``(unpacked root, version)``."""
    debs = cache / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    found = sorted(debs.glob(f"{package}_*.deb"))
    if not found:
        proc = subprocess.run(["apt-get", "download", package], cwd=debs, capture_output=True, text=True)
        if proc.returncode:
            raise RuntimeError(
                f"apt-get download {package} failed: {proc.stderr.strip().splitlines()[-1:]} "
                f"(run `apt-get update`, or drop it from --packages)"
            )
        found = sorted(debs.glob(f"{package}_*.deb"))
    deb = found[-1]
    root = cache / "extract" / package
    if not (root / ".unpacked").exists():
        tmp = root.with_name(root.name + ".partial")
        subprocess.run(["rm", "-rf", str(tmp)], check=True)
        tmp.mkdir(parents=True)
        subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp)], check=True)
        unpack_archives(tmp)
        (tmp / ".unpacked").write_text(deb.name + "\n")
        if root.exists():
            subprocess.run(["rm", "-rf", str(root)], check=True)
        tmp.rename(root)
    return root, package_version(deb)


def unpack_archives(root: Path) -> None:
    """Extract the audio members of zip archives (``.pk3`` game data) next to them, in ``<archive>.d/``."""
    import zipfile

    for archive in sorted(p for p in root.rglob("*") if p.suffix.lower() in ARCHIVE_SUFFIXES and p.is_file()):
        if not zipfile.is_zipfile(archive):
            continue
        with zipfile.ZipFile(archive) as z:
            members = [
                m
                for m in z.namelist()
                if Path(m).suffix.lower() in AUDIO_SUFFIXES and not Path(m).is_absolute() and ".." not in Path(m).parts
            ]
            z.extractall(archive.with_name(archive.name + ".d"), members)


def package_licences(root: Path, package: str) -> list[str]:
    path = root / "usr" / "share" / "doc" / package / "copyright"
    if not path.is_file():  # a doc symlink to another package's folder (same source)
        candidates = sorted((root / "usr" / "share" / "doc").glob("*/copyright"))
        if not candidates:
            return ["copyright file missing"]
        path = candidates[0]
    return copyright_licences(path.read_text(errors="replace"))


def audio_rows(
    root: Path, package: str, version: str, licences: list[str], min_seconds: float, split: str
) -> list[dict]:
    import soundfile as sf

    rows = []
    folders = PACKAGE_FOLDERS.get(package)
    for path in sorted(p for p in root.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file()):
        if folders and not re.search(folders, "/" + str(path.relative_to(root))):
            continue
        try:
            info = sf.info(str(path))
        except (RuntimeError, sf.LibsndfileError):  # a format libsndfile cannot read: not listed
            continue
        if info.duration < min_seconds:
            continue
        rows.append(
            {
                "file": str(path),
                "package": package,
                "version": version,
                "licence": " | ".join(licences),
                "seconds": round(float(info.duration), 3),
                "sample_rate": int(info.samplerate),
                "channels": int(info.channels),
                "split": split,
            }
        )
    return rows


def build_corpus(packages, val_packages, cache: Path, min_seconds: float = 1.0, progress: bool = True) -> list[dict]:
    from tqdm import tqdm

    refused = sorted(set(packages) & set(EVALUATION_ONLY))
    if refused:
        raise SystemExit(
            f"make_distill_corpus: error: {', '.join(refused)} is kept for evaluation: drop it from --packages"
        )
    missing_val = sorted(set(val_packages) - set(packages))
    if missing_val:
        raise SystemExit(
            f"make_distill_corpus: error: --val-packages {', '.join(missing_val)} not in "
            f"--packages: validation is split by source package"
        )
    rows = []
    for package in tqdm(packages, desc="packages", unit="pkg", disable=not progress):
        root, version = fetch_package(package, cache)
        split = "val" if package in val_packages else "train"
        rows += audio_rows(root, package, version, package_licences(root, package), min_seconds, split)
    return rows


def write_manifest(rows: list[dict], cache: Path) -> tuple[Path, Path]:
    from edgel3_mote.atomic import atomic_write_text

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=MANIFEST_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    manifest = atomic_write_text(cache / "manifest.csv", buf.getvalue())
    summary = summarize(rows)
    summary_path = atomic_write_text(cache / "summary.json", json.dumps(summary, indent=2) + "\n")
    return manifest, summary_path


def summarize(rows: list[dict]) -> dict:
    out: dict = {"splits": {}, "packages": {}}
    for row in rows:
        for key, name in (("splits", row["split"]), ("packages", row["package"])):
            entry = out[key].setdefault(name, {"files": 0, "hours": 0.0})
            entry["files"] += 1
            entry["hours"] += row["seconds"] / 3600
        out["packages"][row["package"]].update(licence=row["licence"], version=row["version"], split=row["split"])
    for group in out.values():
        for entry in group.values():
            entry["hours"] = round(entry["hours"], 3)
    for split in out["splits"]:  # distill draws the same share of crops from every package of a split
        members = [p for p in out["packages"].values() if p["split"] == split]
        for p in members:
            p["crop_share"] = round(1 / len(members), 4)
    out["hours"] = round(sum(r["seconds"] for r in rows) / 3600, 3)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--cache",
        type=Path,
        default=DEFAULT_CACHE,
        help=f"where packages are downloaded and unpacked (default {DEFAULT_CACHE})",
    )
    ap.add_argument("--packages", nargs="+", default=list(DEFAULT_PACKAGES), help="Debian data packages")
    ap.add_argument(
        "--val-packages",
        nargs="+",
        default=list(DEFAULT_VAL_PACKAGES),
        help="packages whose audio is the validation split",
    )
    ap.add_argument("--min-seconds", type=float, default=1.0, help="skip shorter files (a window is 1 s)")
    ap.add_argument("--min-hours", type=float, default=2.0, help="fail when the corpus is shorter")
    ap.add_argument(
        "--list",
        choices=("train", "val"),
        help="print the files of one split of an existing manifest (for --clips) and exit",
    )
    args = ap.parse_args(argv)
    cache = args.cache.expanduser().resolve()
    if args.list:
        import edgel3_mote  # noqa: F401
        from edgel3_mote.compress.data.pipeline import read_corpus_manifest
        from edgel3_mote.errors import InvalidInputError

        try:
            print("\n".join(read_corpus_manifest(cache / "manifest.csv", args.list)))
        except InvalidInputError as exc:
            print(f"make_distill_corpus: error: {exc}", file=sys.stderr)
            return 2
        return 0
    try:
        rows = build_corpus(args.packages, args.val_packages, cache, args.min_seconds)
    except RuntimeError as exc:
        print(f"make_distill_corpus: error: {exc}", file=sys.stderr)
        return 2
    manifest, summary_path = write_manifest(rows, cache)
    summary = summarize(rows)
    for name, entry in sorted(summary["packages"].items()):
        print(f"{name:28s} {entry['split']:5s} {entry['files']:5d} files {entry['hours']:6.2f} h  {entry['licence']}")
    print(
        f"total {summary['hours']:.2f} h: "
        + ", ".join(f"{k} {v['hours']:.2f} h ({v['files']} files)" for k, v in sorted(summary["splits"].items()))
    )
    print(f"wrote {manifest} and {summary_path}")
    if summary["hours"] < args.min_hours:
        print(
            f"make_distill_corpus: error: {summary['hours']:.2f} h < --min-hours {args.min_hours}: add packages",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
