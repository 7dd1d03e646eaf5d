"""Published weights: download once into a cache with a pinned SHA-256, then refer to them by model name.

``edgel3-mote weights fetch sea-64`` downloads the EdgeL3 authors' published file (the ``models``
branch of their ``edgel3`` package repository, the URL their ``setup.py`` downloads from) into the
cache, checks its SHA-256 against the hash pinned here, and only then renames it into place; a
wrong checksum is refused and the partial file removed. ``--from FILE`` (or ``--from file://...``)
does the same from an offline copy.

Afterwards every command's ``--weights`` takes the model name instead of a path
(``--weights sea-64``): :func:`resolve_weights` turns a name into the cached file, or says how to
fetch it. A path that exists always wins over a name. Without ``--weights`` the model keeps its
seeded random weights (so results never change behind the user's back); when the published
weights are cached, the CLI says so (``--weights sea-64 uses them``).

The cache is ``$EDGEL3_MOTE_CACHE`` if set, else ``$XDG_CACHE_HOME/edgel3-mote``, else
``~/.cache/edgel3-mote``; the files live under ``weights/`` there. ``--cache-dir`` overrides it
for one command. :mod:`edgel3_mote.compress.weights` loads what is fetched here.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from edgel3_mote.cli_types import declare_outputs, output_dir, writes_nothing
from edgel3_mote.errors import InvalidInputError, WeightsError

BASE_URL = "https://github.com/ksangeeta2429/edgel3/raw/models/"
"""The authors' published weights: ``base_url`` in the edgel3 package's setup.py (branch ``models``)."""


@dataclass(frozen=True)
class Published:
    """One published weight file: where it is, and the SHA-256 of its exact bytes."""

    model: str
    file_name: str  # as published (a gzip of the Keras .h5)
    sha256: str  # of the published .h5.gz bytes
    h5_sha256: str  # of the gunzipped .h5 (a copy given uncompressed is accepted too)
    size: int

    @property
    def url(self) -> str:
        return BASE_URL + self.file_name


# Pinned from the real bytes of the authors' file as distributed in ../shared/models (the gzip header
# still names edgel3_sea_ust_audio_emb_64.h5, mtime 2021-04-04: their original gzip, not a re-pack).
PUBLISHED: dict[str, Published] = {
    "sea-64": Published(
        model="sea-64",
        file_name="edgel3_sea_ust_audio_emb_64.h5.gz",
        sha256="d1cf0ce5640e93f07b3eef950f0694c40f3be33d8d7241deaea7f71e2f929a7f",
        h5_sha256="e8cd0eaac5d444c231d81940e30dc904ffed5cdafa632f7a5547142dc8283912",
        size=3_875_049,
    ),
}


def cache_dir(override: str | os.PathLike | None = None) -> Path:
    """The weights cache folder (not created here): ``override`` (``--cache-dir``) is that folder itself."""
    if override:
        return Path(override).expanduser()
    root = os.environ.get("EDGEL3_MOTE_CACHE")
    if not root:
        xdg = os.environ.get("XDG_CACHE_HOME")
        root = str(Path(xdg) / "edgel3-mote") if xdg else str(Path.home() / ".cache" / "edgel3-mote")
    return Path(root).expanduser() / "weights"


def _published(model: str) -> Published:
    if model not in PUBLISHED:
        raise InvalidInputError(
            f"no published weights are pinned for {model!r} (known: {', '.join(PUBLISHED)}): "
            f"give a weights file with --weights PATH"
        )
    return PUBLISHED[model]


def cached_path(model: str, cache: str | os.PathLike | None = None) -> Path | None:
    """The cached weights of ``model`` (``.h5.gz`` as published, or ``.h5`` if given unpacked), or None."""
    pub = PUBLISHED.get(model)
    if pub is None:
        return None
    folder = cache_dir(cache)
    for name in (pub.file_name, pub.file_name.removesuffix(".gz")):
        try:
            if (folder / name).is_file():
                return folder / name
        except OSError:  # a cache this user may not read: nothing cached for them
            return None
    return None


def resolve_weights(value, cache: str | os.PathLike | None = None):
    """``--weights`` value -> path: an existing path is kept; a published model name means its cached file."""
    if value is None or isinstance(value, (list, tuple)):
        return value if value is None else type(value)(resolve_weights(v, cache) for v in value)
    text = str(value)
    if text not in PUBLISHED or Path(text).exists():
        return value
    path = cached_path(text, cache)
    if path is None:
        raise InvalidInputError(
            f"--weights {text}: the published {text} weights are not in the cache ({cache_dir(cache)}): "
            f"run `edgel3-mote weights fetch {text}` (or `... --from FILE` offline)"
        )
    return type(value)(path) if isinstance(value, Path) else str(path)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _kind(pub: Published, digest: str) -> str | None:
    """'gz' / 'h5' when ``digest`` is the published file's (or its gunzipped .h5's), else None."""
    return {pub.sha256: "gz", pub.h5_sha256: "h5"}.get(digest)


def _open_source(source: str):
    """A readable binary stream for a URL (http/https/file) or a local path."""
    scheme = urllib.parse.urlparse(source).scheme
    if scheme in ("http", "https", "file"):
        try:
            return urllib.request.urlopen(source, timeout=60)  # noqa: S310 (the schemes are checked above)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise InvalidInputError(
                f"cannot download {source} ({getattr(exc, 'reason', exc)}): check the network, or fetch "
                f"offline with --from FILE"
            ) from None
    path = Path(source).expanduser()
    if not path.is_file():
        raise InvalidInputError(f"--from {source}: no such file: give the downloaded .h5.gz (or its .h5)")
    return open(path, "rb")


def fetch(model: str, source: str | None = None, cache: str | os.PathLike | None = None, log=print) -> Path:
    """Download (or copy from ``source``) ``model``'s published weights into the cache; return the path.

    The bytes go to a temporary file in the cache folder; only a file whose SHA-256 is the pinned
    one is renamed into place, anything else is removed and refused. A file already cached with the
    right hash is kept (no download); one at that name with another hash is never replaced.
    """
    pub = _published(model)
    existing = cached_path(model, cache)
    if existing is not None:
        if _kind(pub, _sha256(existing)):
            log(f"{model}: already cached, SHA-256 verified: {existing}")
            return existing
        raise InvalidInputError(
            f"{existing} is in the weights cache but is not the published {model} file (SHA-256 differs): "
            f"move it away, then fetch again"
        )
    folder = cache_dir(cache)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInputError(
            f"cannot create the weights cache {folder} ({exc.strerror}): set EDGEL3_MOTE_CACHE or --cache-dir"
        ) from None
    if not os.access(folder, os.W_OK):
        raise InvalidInputError(f"the weights cache {folder} is not writable: set EDGEL3_MOTE_CACHE or --cache-dir")
    src = source or pub.url
    log(f"{model}: {'copying' if source else 'downloading'} {src}")
    stream = _open_source(src)
    fd, name = tempfile.mkstemp(dir=folder, prefix=f".{pub.file_name}.", suffix=".part")
    tmp = Path(name)
    try:
        h = hashlib.sha256()
        with stream, os.fdopen(fd, "wb") as out:
            while block := stream.read(1 << 20):
                h.update(block)
                out.write(block)
        kind = _kind(pub, h.hexdigest())
        if kind is None:
            raise WeightsError(
                f"{src} has SHA-256 {h.hexdigest()}, not the published {pub.file_name}'s {pub.sha256}: "
                f"the download is incomplete or a different file; nothing was cached, fetch again"
            )
        # an unpacked copy is cached under the .h5 name it is
        final = folder / (pub.file_name if kind == "gz" else pub.file_name.removesuffix(".gz"))
        os.chmod(tmp, 0o644)
        os.replace(tmp, final)
    finally:  # an error, a wrong checksum or Ctrl-C: the partial file goes, nothing is cached
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    note = "" if kind == "gz" else f" (the unpacked .h5 of {pub.file_name})"
    log(f"{model}: SHA-256 verified{note}: {final}")
    return final


# ------------------------------------------------------------------------------------------- CLI


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "weights",
        help="fetch the authors' published weights into a cache; list what is cached",
        description="Published weights, by model name. `weights fetch sea-64` downloads the EdgeL3 "
        "authors' file into the cache (checked against a pinned SHA-256); afterwards every command "
        "takes `--weights sea-64` for it. Cache: $EDGEL3_MOTE_CACHE, else $XDG_CACHE_HOME/edgel3-mote, "
        "else ~/.cache/edgel3-mote (files under weights/).",
    )
    sub = p.add_subparsers(dest="weights_command", metavar="ACTION", required=True)
    f = sub.add_parser(
        "fetch",
        help="download (or copy with --from) a model's published weights into the cache",
        description="Download MODEL's published weights (the URL is pinned in the code, with the "
        "file's SHA-256) into the cache; a wrong checksum is refused and nothing is cached.",
    )
    f.add_argument("model", metavar="MODEL", help=f"model name with published weights: {', '.join(PUBLISHED)}")
    f.add_argument(
        "--from",
        dest="source",
        metavar="FILE_OR_URL",
        help="an offline copy (the .h5.gz, or its unpacked .h5) or a file:// / https:// URL instead of the pinned URL",
    )
    f.add_argument(
        "--cache-dir", metavar="DIR", help="the folder the weights are kept in (default: see `weights --help`)"
    )
    f.set_defaults(func=_cmd_fetch)
    declare_outputs(f, _fetch_outputs)
    lst = sub.add_parser("list", help="the published weights, their URL and whether they are cached")
    lst.add_argument(
        "--cache-dir", metavar="DIR", help="the folder the weights are kept in (default: see `weights --help`)"
    )
    lst.set_defaults(func=_cmd_list)
    declare_outputs(lst, writes_nothing)


def _fetch_outputs(args) -> list:
    """The output gate's view of `weights fetch`: the cached file (or its unpacked .h5) in the cache folder; a
    file of that name is the command's own when it is the published file (its SHA-256 is the pinned one)."""
    pub = PUBLISHED.get(args.model)
    names = (pub.file_name, pub.file_name.removesuffix(".gz")) if pub else ()

    def published(path: Path) -> bool:
        return pub is not None and _kind(pub, _sha256(path)) is not None

    return [output_dir(cache_dir(args.cache_dir), "weights fetch", names, flag="--cache-dir", ours=published)]


def _cmd_fetch(args) -> int:
    path = fetch(args.model, args.source, args.cache_dir)
    print(f"use it with: --weights {args.model}   (or --weights {path})")
    return 0


def _cmd_list(args) -> int:
    for model, pub in PUBLISHED.items():
        path = cached_path(model, args.cache_dir)
        state = f"cached: {path}" if path else f"not cached (edgel3-mote weights fetch {model})"
        print(f"{model}  {pub.url}  sha256 {pub.sha256}  {state}")
    sys.stdout.flush()
    return 0
