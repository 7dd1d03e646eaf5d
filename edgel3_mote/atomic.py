"""Atomic output that never loses what the user already had.

Files: write to a temporary sibling, then rename into place (``atomic_write_bytes``, ``atomic_file``).

Folders (``atomic_dir``): the output is written in a temporary folder first, so a crash, an error or
Ctrl-C never leaves a partial output under the final name. On success:

- a folder that does not exist yet is created by one rename of the temporary folder;
- an existing folder is *merged into*, file by file: files this same command wrote there before
  (listed in the folder's ``.edgel3-mote-output.json``) are replaced, files of the previous run
  that this run no longer writes are removed, and everything else in the folder is left alone.
  A file the new output would replace that the command did not write itself is never touched:
  the run refuses, naming the file.

``check_output_dir`` makes the same decision up front, so the CLI can refuse before any long work
(an output path that is a file, a path under a file, a read-only folder, ``-o .``).

The output gate (``Output``, ``gate``, ``claim``): every ``edgel3-mote`` subcommand declares what it
writes (``edgel3_mote.cli_types.declare_outputs``); the CLI checks every declared output before the
handler runs and, after it, records the files the command wrote in each folder's marker -- so a
command that writes its files one by one (``embed``, ``evaluate``, ``sweep``, ``distill``) gets the
same rule as ``atomic_dir``: a rerun replaces its own files, never one the user put there.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping

from edgel3_mote.errors import InvalidInputError

OUTPUT_MARKER = ".edgel3-mote-output.json"
"""The hidden file in an output folder that lists which files which command wrote there."""


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _publishable(tmp: str | os.PathLike) -> None:
    """mkstemp creates 0600 files; outputs are meant to be read by others (like open() would)."""
    os.chmod(tmp, 0o666 & ~_umask())


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        _publishable(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path to write to (by any library); renamed to ``path`` on success.

    ``suffix`` keeps libraries that dispatch on the extension happy (e.g. ``.npz``, ``.h5``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix or path.suffix)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        if tmp.exists():
            _publishable(tmp)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


# -- output folders -------------------------------------------------------------------------------

Legacy = tuple[str, Mapping[str, object]]
"""(file name, required JSON keys -> values, None = any value): how an output folder written before
the marker existed is recognised as this command's own (its same-named files may then be replaced)."""


def _marker(folder: Path) -> dict[str, str]:
    """{relative path: command} of the files edgel3-mote wrote in ``folder`` ({} if none / unreadable)."""
    try:
        files = json.loads((folder / OUTPUT_MARKER).read_text()).get("files", {})
    except (OSError, ValueError, AttributeError):
        return {}
    return {str(k): str(v) for k, v in files.items()} if isinstance(files, dict) else {}


def _is_legacy_output(folder: Path, legacy: Legacy | None) -> bool:
    if legacy is None or (folder / OUTPUT_MARKER).exists():
        return False
    name, keys = legacy
    try:
        doc = json.loads((folder / name).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(doc, dict) and all(k in doc and (v is None or doc[k] == v) for k, v in keys.items())


def _conflicts(folder: Path, rels: Iterable[str], command: str, legacy: Legacy | None) -> list[Path]:
    """The paths in ``folder`` that writing ``rels`` would replace but that ``command`` did not write."""
    owned, legacy_ok = _marker(folder), _is_legacy_output(folder, legacy)
    bad = []
    for rel in rels:
        parts = Path(rel).parts
        for i in range(1, len(parts)):  # a file where the output needs a folder
            above = folder.joinpath(*parts[:i])
            if os.path.lexists(above) and not above.is_dir():
                bad.append(above)
                break
        else:
            target = folder / rel
            if os.path.lexists(target) and (
                target.is_dir() and not target.is_symlink() or not (owned.get(rel) == command or legacy_ok)
            ):
                bad.append(target)
    return sorted(set(bad))


def check_output_dir(
    path: str | os.PathLike, command: str, names: Iterable[str] = (), legacy: Legacy | None = None, flag: str = "-o"
) -> Path:
    """Refuse, with one line naming the path and the fix, an output folder ``command`` cannot use.

    ``names`` are the files (and sub-folders) ``command`` will write directly in the folder, those
    known up front: an existing file there that the command did not write itself is refused. Cheap: call it before any
    long work. Returns the path.
    """
    path = Path(path)
    where = path.absolute()
    cwd = Path.cwd().resolve()
    if where.resolve() == cwd or where.resolve() in cwd.parents:
        raise InvalidInputError(
            f"{flag} {path} is the current folder (or one above it): the output would mix with "
            f"everything in it; give a new folder, e.g. {flag} runs/{command.replace(' ', '-')}"
        )
    if os.path.lexists(path) and not path.is_dir():
        raise InvalidInputError(
            f"{flag} {path} is a file, not a folder: give a folder path (the file is left as it is)"
        )
    existing = where
    while not os.path.lexists(existing):
        existing = existing.parent
    if not existing.is_dir():
        raise InvalidInputError(
            f"cannot create {flag} {path}: {existing} is a file, not a folder; choose an output folder elsewhere"
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InvalidInputError(
            f"cannot write in {existing} (permission denied): choose a writable output folder with {flag}"
        )
    if path.is_dir():  # sub-folders are merged into file by file: only files can conflict here
        files = [n for n in _expand(path, names) if not ((path / n).is_dir() and not (path / n).is_symlink())]
        bad = _conflicts(path, files, command, legacy)
        if bad:
            raise InvalidInputError(
                f"{bad[0]} already exists and was not written by `edgel3-mote {command}`: move "
                f"it away or give another {flag} folder (nothing was written)"
            )
    return path


def _expand(folder: Path, names: Iterable[str]) -> list[str]:
    """``names`` with shell patterns (``evaluation_sea-64-*``) replaced by the entries of ``folder`` they match."""
    out: list[str] = []
    for name in names:
        if any(c in name for c in "*?["):
            with contextlib.suppress(OSError):
                out += sorted(p.relative_to(folder).as_posix() for p in folder.glob(name) if p.name != OUTPUT_MARKER)
        else:
            out.append(name)
    return out


def _files_under(root: Path) -> list[str]:
    rels = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames + [d for d in dirnames if (Path(dirpath) / d).is_symlink()]:
            rels.append((Path(dirpath) / name).relative_to(root).as_posix())
    return sorted(r for r in rels if r != OUTPUT_MARKER)


def _write_marker(folder: Path, files: dict[str, str]) -> None:
    atomic_write_text(
        folder / OUTPUT_MARKER,
        json.dumps(
            {
                "about": "files written here by edgel3-mote, with the command that wrote each; a rerun of that command "
                "may replace them, nothing else in this folder is touched",
                "files": dict(sorted(files.items())),
            },
            indent=1,
        )
        + "\n",
    )


def _merge(tmp: Path, dest: Path, command: str, legacy: Legacy | None) -> None:
    new = _files_under(tmp)
    bad = _conflicts(dest, new, command, legacy)
    if bad:
        raise InvalidInputError(
            f"{bad[0]} already exists and was not written by `edgel3-mote {command}`: move it "
            f"away or give another output folder (nothing was changed)"
        )
    previous = _marker(dest)
    for rel in new:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp / rel, target)
    files = {rel: cmd for rel, cmd in previous.items() if os.path.lexists(dest / rel)}
    for rel, cmd in previous.items():  # the previous run's outputs this run no longer writes
        if cmd == command and rel not in new:
            stale = dest / rel
            if os.path.lexists(stale) and (stale.is_symlink() or not stale.is_dir()):
                stale.unlink()
            files.pop(rel, None)
            for parent in stale.parents:  # folders the stale output leaves empty
                if parent == dest or not parent.is_relative_to(dest):
                    break
                with contextlib.suppress(OSError):
                    parent.rmdir()
    files.update({rel: command for rel in new})
    _write_marker(dest, files)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, command: str = "edgel3-mote", legacy: Legacy | None = None) -> Iterator[Path]:
    """Yield a temporary folder to write the output of ``command`` in; published to ``path`` on success.

    A new ``path`` appears whole, by one rename. An existing folder is merged into without touching
    what ``command`` did not write there before (see the module docstring); a conflict raises
    ``InvalidInputError`` and changes nothing. On any exception the temporary folder is removed and
    ``path`` is left as it was (absent if it did not exist).
    """
    path = Path(path)
    check_output_dir(path, command, legacy=legacy)
    in_place = path.is_dir()
    if not in_place:
        path.parent.mkdir(parents=True, exist_ok=True)
    # inside an existing folder (its parent may not be writable), else beside the new one
    tmp = Path(
        tempfile.mkdtemp(
            dir=path if in_place else path.parent,
            prefix=".edgel3-mote-" if in_place else f".{path.name}.",
            suffix=".tmp",
        )
    )
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp gives 0700
        published = False
        if not in_place:
            _write_marker(tmp, {rel: command for rel in _files_under(tmp)})
            try:
                os.rename(tmp, path)  # fails if someone created a non-empty `path` meanwhile
                published = True
            except OSError as exc:
                if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                    raise
                (tmp / OUTPUT_MARKER).unlink()
        if not published:
            _merge(tmp, path, command, legacy)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# -- the output gate: what every command writes, checked before it runs ---------------------------


@dataclass(frozen=True, eq=False)
class Output:
    """One output a command will write, known from its arguments before it runs.

    ``kind="dir"``: a folder ``path`` the command writes ``names`` in (shell patterns allowed; sub-folders
    are merged into). ``kind="file"``: the file ``path`` (and its ``siblings``, e.g. a sidecar), written in an
    existing or new folder. ``ours`` recognises a file of an earlier run written before the marker existed.
    """

    path: Path
    command: str
    names: tuple[str, ...] = ()
    flag: str = "-o"
    kind: str = "dir"
    legacy: Legacy | None = None
    siblings: tuple[str, ...] = ()
    ours: Callable[[Path], bool] | None = None

    @property
    def folder(self) -> Path:
        return self.path if self.kind == "dir" else self.path.parent

    @property
    def files(self) -> tuple[str, ...]:
        return self.names if self.kind == "dir" else (self.path.name, *self.siblings)

    def check(self) -> None:
        if self.kind == "dir":
            check_output_dir(self.path, self.command, self._foreign_free(self.names), self.legacy, self.flag)
        else:
            check_output_file(self.path, self.command, self._foreign_free(self.files), self.legacy, self.flag)

    def _foreign_free(self, names: Iterable[str]) -> list[str]:
        """``names`` less the files ``ours`` recognises as an earlier run's (they may be replaced)."""
        if self.ours is None:
            return list(names)
        return [
            n for n in _expand(self.folder, names) if not (self.folder / n).is_file() or not self.ours(self.folder / n)
        ]


def check_output_file(
    path: str | os.PathLike,
    command: str,
    names: Iterable[str] = (),
    legacy: Legacy | None = None,
    flag: str = "-o",
) -> Path:
    """Refuse, with one line, an output *file* ``command`` cannot write: a folder at ``path``, a path under a
    file, a read-only folder, or a file of the user's (not written by ``command``) at ``path`` or at one of
    ``names`` (its sidecars, in the same folder)."""
    path = Path(path)
    if path.is_dir():
        raise InvalidInputError(f"{flag} {path} is a folder, not a file: give a file path, e.g. {flag} out/name")
    existing = path.absolute().parent
    while not os.path.lexists(existing):
        existing = existing.parent
    if not existing.is_dir():
        raise InvalidInputError(
            f"cannot create {flag} {path}: {existing} is a file, not a folder; choose an output path elsewhere"
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InvalidInputError(f"cannot write in {existing} (permission denied): choose a writable path for {flag}")
    folder = path.parent
    bad = _conflicts(folder, list(names) or [path.name], command, legacy) if folder.is_dir() else []
    if bad:
        raise InvalidInputError(
            f"{bad[0]} already exists and was not written by `edgel3-mote {command}`: move it away or "
            f"give another {flag} path (nothing was written)"
        )
    return path


def gate(outputs: Iterable[Output]) -> dict[Output, set[str]]:
    """Check every output (one ``InvalidInputError`` line for the first bad one); returns what exists now."""
    outputs = list(outputs)
    for out in outputs:
        out.check()
    return {out: set(_present(out)) for out in outputs}


def _present(out: Output) -> list[str]:
    folder = out.folder
    if not folder.is_dir():
        return []
    return [n for n in _expand(folder, out.files) if (folder / n).is_file() and not (folder / n).is_symlink()]


def claim(before: Mapping[Output, set[str]]) -> None:
    """After the command ran (or failed): record the declared files it wrote in each folder's marker, so
    that a rerun may replace them. A file that was there before is recorded only if it was already ours."""
    for out, existed in before.items():
        folder = out.folder
        with contextlib.suppress(OSError):
            owned = _marker(folder)
            new = {
                rel: out.command
                for rel in _present(out)
                if rel not in existed
                or owned.get(rel) == out.command
                or _is_legacy_output(folder, out.legacy)
                or (out.ours is not None and out.ours(folder / rel))
            }
            if new and any(owned.get(rel) != cmd for rel, cmd in new.items()):
                _write_marker(folder, {**owned, **new})


def save_png(fig, path: str | os.PathLike, dpi: int = 110) -> Path:
    """Write a matplotlib figure as PNG atomically, then close it (frees its memory)."""
    import matplotlib.pyplot as plt

    path = Path(path)
    try:
        with atomic_file(path, suffix=".png") as tmp:
            fig.savefig(tmp, dpi=dpi, format="png")
    finally:
        plt.close(fig)
    return path
