"""One .tflite reader: only export/ir.py reads the flatbuffer schema (issue 13).

Every other module reads a model through ``export.ir.read_tflite`` and patches one through
``export.ir.with_tensor_quantization``; this test fails the moment a second reader appears.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = ("compress", "export", "firmware", "board_tests", "tests", "tools", "edgel3_mote")
OWNER = ROOT / "export" / "ir.py"
# the flatbuffer schema's entry point, and importing the schema or flatbuffers packages themselves
SCHEMA_USE = re.compile(r"GetRootAs|^\s*(import\s+(tflite|flatbuffers)\b|from\s+(tflite|flatbuffers)\b)", re.MULTILINE)


def _python_sources() -> list[Path]:
    return sorted(p for folder in FOLDERS for p in (ROOT / folder).rglob("*.py") if p != Path(__file__).resolve())


def test_only_ir_reads_the_tflite_schema():
    sources = _python_sources()
    assert OWNER in sources and len(sources) > 50, "the source tree was not found where this test expects it"
    offenders = [
        f"{p.relative_to(ROOT)}:{p.read_text()[: m.start()].count(chr(10)) + 1}: {m.group(0).strip()}"
        for p in sources
        if p != OWNER
        for m in SCHEMA_USE.finditer(p.read_text())
    ]
    assert not offenders, "read the .tflite through export.ir, not the schema directly:\n" + "\n".join(offenders)
    assert SCHEMA_USE.search(OWNER.read_text()), "export/ir.py no longer reads the schema: update this test"


def test_the_pattern_catches_a_second_reader():
    # the check above can fail: each way of reaching the schema is caught
    for line in (
        "import tflite",
        "    import tflite as schema",
        "from tflite.Model import Model",
        "import flatbuffers",
        "m = schema.Model.GetRootAsModel(b, 0)",
    ):
        assert SCHEMA_USE.search(line), line
    for line in ("from tflite_micro import runtime", "import tflite_runtime_helpers", "read_tflite(b)"):
        assert not SCHEMA_USE.search(line), line
