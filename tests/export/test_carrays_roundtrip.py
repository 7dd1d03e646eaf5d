"""model_data.h/.c: the bytes survive rendering, parsing and compilation exactly, aligned to 16."""

from __future__ import annotations

import hashlib
import shutil
import subprocess

import numpy as np
import pytest

from edgel3_mote.errors import InvalidInputError
from edgel3_mote.export.carrays import parse_c_array, render_carrays, write_carrays

DUMP_MAIN = r"""
#include <stdint.h>
#include <stdio.h>
#include "model_data.h"
int main(void) {
  if (((uintptr_t)g_model_data) % 16 != 0) { fprintf(stderr, "misaligned\n"); return 3; }
  if (g_model_data_len != G_MODEL_DATA_LEN) { fprintf(stderr, "length macro\n"); return 4; }
  fwrite(g_model_data, 1, g_model_data_len, stdout);
  return 0;
}
"""


@pytest.fixture
def fake_tflite() -> bytes:
    # A flatbuffer header (root offset + "TFL3") then every byte value, in a length that does
    # not fill the last 12-byte line: the edges of the formatter are exercised.
    rng = np.random.default_rng(7)
    body = bytes(range(256)) + rng.integers(0, 256, 1001).astype(np.uint8).tobytes()
    return b"\x1c\x00\x00\x00TFL3" + body


def test_parse_roundtrip_is_exact(fake_tflite):
    header, source = render_carrays(fake_tflite)
    assert parse_c_array(source) == fake_tflite
    assert f"g_model_data_len = {len(fake_tflite)}u" in source
    assert "__attribute__((aligned(16)))" in source and "alignas(16)" in source
    assert "extern const unsigned char g_model_data[];" in header
    assert hashlib.sha256(fake_tflite).hexdigest() in header


@pytest.mark.parametrize("compiler,flags", [("gcc", ["-std=c99", "-x", "c"]), ("g++", ["-std=c++11", "-x", "c++"])])
def test_compiled_array_dumps_the_same_bytes(tmp_path, fake_tflite, compiler, flags):
    assert shutil.which(compiler), f"{compiler} is needed (installed by make setup)"
    result = write_carrays(fake_tflite, tmp_path / "gen")
    (tmp_path / "main.c").write_text(DUMP_MAIN)
    exe = tmp_path / "dump"
    subprocess.run(
        [
            compiler,
            *flags,
            "-Wall",
            "-Werror",
            "-pedantic",
            "-I",
            str(tmp_path / "gen"),
            str(result.source),
            str(tmp_path / "main.c"),
            "-o",
            str(exe),
        ],
        check=True,
    )
    out = subprocess.run([str(exe)], check=True, capture_output=True).stdout
    assert out == fake_tflite


def test_export_dir_and_custom_names(tmp_path, fake_tflite):
    export_dir = tmp_path / "export"
    export_dir.mkdir()
    (export_dir / "model_int8.tflite").write_bytes(fake_tflite)
    result = write_carrays(export_dir, tmp_path / "c", array_name="g_sea64", header_name="sea64_data")
    assert result.header.name == "sea64_data.h" and result.length == len(fake_tflite)
    assert parse_c_array(result.source.read_text(), "g_sea64") == fake_tflite
    assert "#ifndef SEA64_DATA_H_" in result.header.read_text()


def test_bad_inputs_are_clear_errors(tmp_path, fake_tflite):
    with pytest.raises(InvalidInputError, match="not a TFLite flatbuffer"):
        render_carrays(b"not a model at all")
    with pytest.raises(InvalidInputError, match="not a C identifier"):
        render_carrays(fake_tflite, array_name="1bad-name")
    with pytest.raises(InvalidInputError, match="does not exist"):
        write_carrays(tmp_path / "missing.tflite", tmp_path / "out")
    assert not (tmp_path / "out").exists()
