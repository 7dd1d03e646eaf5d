"""Compile firmware C sources for the host (x86-64 gcc) as a ctypes library.

Kernels, the front-end and generated engines are plain C99; on the host they are built as a
shared library and called through ctypes: by the tests (against TFLite Micro / numpy) and by
the product's host int8 engine (``export.host_engine``). Builds are cached by a hash of the
sources, flags and compiler, so repeated builds cost nothing.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Iterable, Mapping

from edgel3_mote.errors import ToolchainError
from edgel3_mote.export.boards import FIRMWARE_DIR

INCLUDE_DIR = FIRMWARE_DIR / "include"
CACHE_DIR = Path(os.environ.get("EDGEL3_MOTE_HOSTBUILD_CACHE", Path(tempfile.gettempdir()) / "edgel3-mote-hostbuild"))

# Warnings are errors: the same sources must build cleanly with arm-none-eabi-gcc too.
HOST_CFLAGS = [
    "-std=c99",
    "-O2",
    "-fPIC",
    "-shared",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-Wno-unused-parameter",
    "-fno-strict-aliasing",
]


def _digest(sources: list[Path], flags: list[str], cc: str) -> str:
    h = hashlib.sha256()
    h.update(" ".join([cc, *flags]).encode())
    for src in sources:
        h.update(str(src).encode())
        h.update(src.read_bytes())
    return h.hexdigest()[:16]


def compile_shared(
    sources: Iterable[str | os.PathLike],
    include_dirs: Iterable[str | os.PathLike] = (),
    defines: Mapping[str, str | int | None] | None = None,
    extra_flags: Iterable[str] = (),
    name: str = "lib",
    cc: str | None = None,
) -> Path:
    """Build ``sources`` into a cached shared library and return its path.

    Header changes in ``include_dirs`` invalidate the cache too.
    """
    cc = cc or os.environ.get("CC", "gcc")
    if shutil.which(cc) is None:
        raise ToolchainError(f"C compiler '{cc}' not found: install gcc (make setup) or set CC")
    paths = [Path(s).resolve() for s in sources]
    incs = [Path(i).resolve() for i in (*include_dirs, INCLUDE_DIR)]
    headers = sorted({h for d in incs if d.is_dir() for h in d.glob("*.h")})
    flags = list(HOST_CFLAGS) + [f"-I{i}" for i in incs]
    for key, val in (defines or {}).items():
        flags.append(f"-D{key}" if val is None else f"-D{key}={val}")
    flags += list(extra_flags)
    out = CACHE_DIR / f"{name}-{_digest(paths + headers, flags, cc)}.so"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(f".{os.getpid()}.tmp")
    cmd = [cc, *flags, *map(str, paths), "-o", str(tmp), "-lm"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise ToolchainError(f"host build of {name} failed:\n{' '.join(cmd)}\n{proc.stderr}")
    os.replace(tmp, out)
    return out


def load_shared(*args, **kwargs) -> ctypes.CDLL:
    """``compile_shared`` then ``ctypes.CDLL`` it."""
    return ctypes.CDLL(str(compile_shared(*args, **kwargs)))
