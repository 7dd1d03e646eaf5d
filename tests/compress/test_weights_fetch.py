"""`edgel3-mote weights fetch`: the pinned published file into the cache, offline (a local file, file://, a
localhost http server); a wrong checksum refused with nothing left behind; `--weights MODEL` means the cache."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import shutil
import threading

import numpy as np
import pytest

from edgel3_mote.atomic import OUTPUT_MARKER
from edgel3_mote.cli import main
from edgel3_mote.compress.weights_fetch import BASE_URL, PUBLISHED, cached_path, fetch, resolve_weights
from edgel3_mote.errors import InvalidInputError, WeightsError
from tests.conftest import SHARED

PUBLISHED_GZ = SHARED / "models" / "edgel3_sea_ust_audio_emb_64.h5.gz"


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    """An empty cache, also the default one (EDGEL3_MOTE_CACHE) for commands run through main()."""
    root = tmp_path / "cache"
    monkeypatch.setenv("EDGEL3_MOTE_CACHE", str(root))
    return root


def _files(folder):
    """The files a user sees (the output gate's marker, which lists what the command wrote, aside)."""
    return sorted(p.name for p in folder.rglob("*") if p.name != OUTPUT_MARKER) if folder.exists() else []


def test_pin_is_the_real_file_and_the_authors_url():
    pub = PUBLISHED["sea-64"]
    data = PUBLISHED_GZ.read_bytes()
    assert hashlib.sha256(data).hexdigest() == pub.sha256 and len(data) == pub.size
    assert hashlib.sha256(gzip.decompress(data)).hexdigest() == pub.h5_sha256
    assert pub.url == "https://github.com/ksangeeta2429/edgel3/raw/models/edgel3_sea_ust_audio_emb_64.h5.gz"
    assert BASE_URL.startswith("https://")


def test_fetch_from_local_file_then_cached(cache, capsys):
    assert main(["weights", "fetch", "sea-64", "--from", str(PUBLISHED_GZ)]) == 0
    path = cached_path("sea-64")
    assert path == cache / "weights" / "edgel3_sea_ust_audio_emb_64.h5.gz"
    assert path.read_bytes() == PUBLISHED_GZ.read_bytes()
    assert _files(cache) == ["edgel3_sea_ust_audio_emb_64.h5.gz", "weights"]  # no temporary left
    out = capsys.readouterr().out
    assert "SHA-256 verified" in out and "--weights sea-64" in out
    # a second fetch does not download again (no --from, no network needed)
    assert main(["weights", "fetch", "sea-64"]) == 0
    assert "already cached" in capsys.readouterr().out


def test_fetch_file_url_and_http(cache, tmp_path):
    fetch("sea-64", PUBLISHED_GZ.resolve().as_uri(), cache=tmp_path / "c1", log=lambda *_: None)
    assert (tmp_path / "c1" / "edgel3_sea_ust_audio_emb_64.h5.gz").read_bytes() == PUBLISHED_GZ.read_bytes()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **k):
            super().__init__(*a, directory=str(PUBLISHED_GZ.parent), **k)

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/{PUBLISHED_GZ.name}"
        got = fetch("sea-64", url, cache=tmp_path / "c2", log=lambda *_: None)
    finally:
        server.shutdown()
        server.server_close()
    assert got.read_bytes() == PUBLISHED_GZ.read_bytes()


def test_unpacked_h5_copy_is_accepted(cache, sea64_weights):
    got = fetch("sea-64", str(sea64_weights), log=lambda *_: None)
    assert got.name == "edgel3_sea_ust_audio_emb_64.h5" and got.read_bytes() == sea64_weights.read_bytes()
    assert resolve_weights("sea-64") == str(got)


def test_wrong_checksum_is_refused_and_partial_removed(cache, tmp_path, capsys):
    truncated = tmp_path / "partial.h5.gz"
    truncated.write_bytes(PUBLISHED_GZ.read_bytes()[:1_000_000])  # an interrupted download
    with pytest.raises(WeightsError, match="SHA-256 .* not the published"):
        fetch("sea-64", truncated.as_uri(), log=lambda *_: None)
    assert _files(cache / "weights") == []  # the partial file is gone, nothing cached
    assert main(["weights", "fetch", "sea-64", "--from", str(truncated)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("edgel3-mote: error: ") and "nothing was cached" in err[0]
    assert _files(cache / "weights") == []


def test_foreign_file_in_cache_is_never_replaced(cache):
    foreign = cache / "weights" / "edgel3_sea_ust_audio_emb_64.h5.gz"
    foreign.parent.mkdir(parents=True)
    foreign.write_bytes(b"mine")
    with pytest.raises(InvalidInputError, match="not the published sea-64 file"):
        fetch("sea-64", str(PUBLISHED_GZ), log=lambda *_: None)
    assert foreign.read_bytes() == b"mine"


def test_bad_sources_and_models_are_one_line(cache, tmp_path, capsys):
    assert main(["weights", "fetch", "sea-64", "--from", str(tmp_path / "nope.h5.gz")]) == 2
    assert main(["weights", "fetch", "sea-64", "--from", "http://127.0.0.1:9/x.h5.gz"]) == 2  # nothing listens
    assert main(["weights", "fetch", "l3-avc", "--from", str(PUBLISHED_GZ)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(line.startswith("edgel3-mote: error: ") for line in err), err
    assert "no such file" in err[0] and "cannot download" in err[1] and "no published weights" in err[2]
    assert _files(cache / "weights") == []


def test_weights_by_name_needs_the_cache(cache, tmp_path, capsys, clip_paths):
    # not fetched yet: one line saying how, before any work
    assert main(["embed", str(clip_paths[0]), "--weights", "sea-64", "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "edgel3-mote weights fetch sea-64" in err and not (tmp_path / "out").exists()
    # a path always wins over a name; lists (evaluate's --weights) resolve element-wise
    shutil.copyfile(PUBLISHED_GZ, tmp_path / "sea-64")
    assert resolve_weights(tmp_path / "sea-64") == tmp_path / "sea-64"
    fetch("sea-64", str(PUBLISHED_GZ), log=lambda *_: None)
    assert resolve_weights(["none", "sea-64"]) == ["none", str(cached_path("sea-64"))]


@pytest.mark.slow
def test_embed_with_cached_weights_matches_the_file(cache, tmp_path, capsys, clip_paths):
    fetch("sea-64", str(PUBLISHED_GZ), log=lambda *_: None)
    clip = min(clip_paths, key=lambda p: p.stat().st_size)
    assert main(["embed", str(clip), "--weights", "sea-64", "-o", str(tmp_path / "a"), "-q"]) == 0
    assert main(["embed", str(clip), "--weights", str(PUBLISHED_GZ), "-o", str(tmp_path / "b"), "-q"]) == 0
    a = np.load(next((tmp_path / "a").glob("*.npz")))["embedding"]
    b = np.load(next((tmp_path / "b").glob("*.npz")))["embedding"]
    np.testing.assert_array_equal(a, b)
    # and without --weights the cached file is not silently used, but it is said
    capsys.readouterr()
    assert main(["embed", str(clip), "-o", str(tmp_path / "c"), "-q"]) == 0
    assert "--weights sea-64 uses them" in capsys.readouterr().err


def _weights_options(parser):
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                for prog, opt in _weights_options(sub):
                    yield f"{name} {prog}".strip(), opt
        elif any(o.endswith("weights") for o in action.option_strings):
            yield "", action


def test_every_weights_option_documents_and_resolves_names(cache, tmp_path):
    """Generated from the CLI's own parser: each weights option says it takes a published name, and the
    dispatcher resolves it (to the cached file) for whichever option it is."""
    import argparse

    from edgel3_mote.cli import _published_weights, build_parser

    options = list(_weights_options(build_parser()))
    commands = {cmd for cmd, _ in options}
    assert {"embed", "export firmware", "bench", "distill", "sweep", "evaluate"} <= commands, commands
    for cmd, opt in options:
        assert "weights fetch" in opt.help, (cmd, opt.option_strings)
    path = fetch("sea-64", str(PUBLISHED_GZ), log=lambda *_: None)
    for cmd, opt in options:
        value = ["sea-64"] if opt.nargs in ("+", "*") else "sea-64"
        ns = argparse.Namespace(**{opt.dest: value, "model": "sea-64"})
        _published_weights(ns)
        got = getattr(ns, opt.dest)
        assert str(got[0] if isinstance(got, list) else got) == str(path), (cmd, opt.dest)


def test_impossible_cache_folders_are_one_line(tmp_path, capsys):
    a_file = tmp_path / "file"
    a_file.write_text("mine")
    for cache in (a_file, a_file / "under"):  # the cache is a file / lies under a file
        assert main(["weights", "fetch", "sea-64", "--from", str(PUBLISHED_GZ), "--cache-dir", str(cache)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    # the output gate refuses both before any work, one line each
    assert len(err) == 2 and all(line.startswith("edgel3-mote: error:") and "is a file" in line for line in err), err
    assert a_file.read_text() == "mine"


def test_an_unreadable_cache_means_nothing_cached(tmp_path, monkeypatch):
    """A cache this user may not look into (another user's 0700 folder) is no error: nothing is cached."""
    from pathlib import Path

    def denied(self):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "is_file", denied)
    assert cached_path("sea-64", tmp_path) is None
