"""The .tflite as C source: ``model_data.h/.c`` for any TensorFlow Lite Micro project.

``g_model_data`` is a 16-byte aligned ``const unsigned char`` array (TFLM reads the
flatbuffer in place) with its length in ``g_model_data_len``, rendered from the Jinja
templates in ``export/templates/carrays``. ``parse_c_array`` reads the bytes back, so tests
(and users) can prove the round trip is exact.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from edgel3_mote.atomic import atomic_write_text
from edgel3_mote.errors import InvalidInputError

TEMPLATE_DIR = Path(__file__).parent / "templates" / "carrays"
BYTES_PER_LINE = 12
_C_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


@dataclass
class CArrays:
    header: Path
    source: Path
    array_name: str
    length: int
    sha256: str


def _read_tflite(tflite: bytes | str | Path) -> tuple[bytes, str]:
    if isinstance(tflite, (bytes, bytearray, memoryview)):
        return bytes(tflite), "model.tflite"
    path = Path(tflite)
    if path.is_dir():  # an export directory: its int8 model
        path = path / "model_int8.tflite"
    if not path.is_file():
        raise InvalidInputError(
            f"{path} does not exist: give a .tflite file or an export directory (edgel3-mote export tflite -o DIR)"
        )
    return path.read_bytes(), path.name


def render_carrays(
    tflite: bytes, array_name: str = "g_model_data", header_name: str = "model_data", source_name: str = "model.tflite"
) -> tuple[str, str]:
    """(header text, source text) for these bytes."""
    import jinja2

    from edgel3_mote import __version__

    if not _C_IDENTIFIER.match(array_name):
        raise InvalidInputError(f"array name {array_name!r} is not a C identifier: use e.g. g_model_data")
    if not re.fullmatch(r"[A-Za-z0-9_\-]+", header_name):
        raise InvalidInputError(f"header name {header_name!r} is not a plain file stem: use e.g. model_data")
    if len(tflite) < 8 or tflite[4:8] != b"TFL3":
        raise InvalidInputError("the data is not a TFLite flatbuffer (no 'TFL3' identifier): give a .tflite file")
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR), undefined=jinja2.StrictUndefined, keep_trailing_newline=True
    )
    lines = [
        ", ".join(f"0x{b:02x}" for b in tflite[i : i + BYTES_PER_LINE]) + ","
        for i in range(0, len(tflite), BYTES_PER_LINE)
    ]
    guard_stem = re.sub(r"[^A-Za-z0-9]", "_", header_name).upper()
    context = dict(
        version=__version__,
        array_name=array_name,
        header_name=header_name,
        source_name=source_name,
        length=len(tflite),
        sha256=hashlib.sha256(tflite).hexdigest(),
        lines=lines,
        guard=f"{guard_stem}_H_",
        macro_prefix=array_name.upper(),
    )
    return (
        env.get_template("model_data.h.j2").render(**context),
        env.get_template("model_data.c.j2").render(**context),
    )


def write_carrays(
    tflite: bytes | str | Path, out_dir: str | Path, array_name: str = "g_model_data", header_name: str = "model_data"
) -> CArrays:
    """Write ``<header_name>.h`` and ``<header_name>.c`` into ``out_dir`` (each file atomically;
    the folder may be an existing project, so it is not replaced whole)."""
    data, source_name = _read_tflite(tflite)
    header, source = render_carrays(data, array_name, header_name, source_name)
    out_dir = Path(out_dir)
    h_path = atomic_write_text(out_dir / f"{header_name}.h", header)
    c_path = atomic_write_text(out_dir / f"{header_name}.c", source)
    return CArrays(h_path, c_path, array_name, len(data), hashlib.sha256(data).hexdigest())


def parse_c_array(source: str, array_name: str = "g_model_data") -> bytes:
    """The bytes of ``array_name``'s initializer in C source (hex or decimal elements)."""
    match = re.search(rf"\b{re.escape(array_name)}\s*\[[^\]]*\]\s*=\s*\{{(.*?)\}}\s*;", source, re.S)
    if match is None:
        raise InvalidInputError(f"no initialised array {array_name} in the C source")
    body = re.sub(r"/\*.*?\*/", "", match.group(1), flags=re.S)
    tokens = [tok.strip() for tok in body.split(",") if tok.strip()]
    return bytes(int(tok, 0) for tok in tokens)
