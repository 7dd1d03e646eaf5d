"""One protocol spec: the committed C header, Python tables and PROTOCOL.md tables are what the spec generates.

- regenerating from ``firmware/protocol/protocol_spec.toml`` into a temp folder gives the committed files byte
  for byte (edit the spec, then run ``python -m edgel3_mote.board_tests.harness.protocol_codegen``);
- the C names and the Python tables agree value for value (the compiled header against the imported module);
- the spec's CRC parameters are zlib's CRC-32, the one ``protocol.crc32`` computes;
- the checks can fail: a changed spec drifts, a bad spec is refused with its reason;
- the protocol server builds on the generated header for every board (arm-none-eabi-gcc, -Werror).
"""

from __future__ import annotations

import ctypes as C
import random
import zlib
from pathlib import Path

import device_double as D
import pytest

from edgel3_mote.board_tests.harness import protocol as P
from edgel3_mote.board_tests.harness import protocol_codegen as G
from edgel3_mote.board_tests.harness import protocol_tables as T
from edgel3_mote.export.boards import BOARD_NAMES, build_elf, elf_memory_usage
from edgel3_mote.export.hostbuild import FIRMWARE_DIR, load_shared


def test_committed_files_are_what_the_spec_generates(tmp_path):
    generated = G.generate()
    assert set(generated) == {G.C_HEADER, G.PY_TABLES, G.PROTOCOL_MD}
    for committed, text in generated.items():
        fresh = tmp_path / committed.name
        fresh.write_text(text)
        assert fresh.read_bytes() == committed.read_bytes(), (
            f"{committed} is out of date with {G.SPEC_PATH.name}: run python -m {G.GENERATOR}"
        )
    assert G.main(["--check"]) == 0


def test_a_changed_spec_drifts(tmp_path):
    spec = tmp_path / "protocol_spec.toml"
    spec.write_text(G.SPEC_PATH.read_text().replace("max_payload = 1024", "max_payload = 2048", 1))
    generated = G.generate(spec)
    assert "#define EM_PROTO_MAX_PAYLOAD 2048u" in generated[G.C_HEADER]
    assert "MAX_PAYLOAD = 2048" in generated[G.PY_TABLES]
    assert generated[G.C_HEADER] != G.C_HEADER.read_text() and generated[G.PY_TABLES] != G.PY_TABLES.read_text()


@pytest.mark.parametrize(
    "old, new, message",
    [
        ('name = "BAD_ARG"', 'name = "ENGINE"', "status: duplicate name ['ENGINE']"),
        ("code = 0x09\nname = ", "code = 0x08\nname = ", "command: duplicate code [8]"),
        ('count = "out_bytes"', 'count = "embedding_bytes"', "INFER.response.embedding: count 'embedding_bytes'"),
        ('name = "flags", type = "u8"', 'name = "flags", type = "u24"', "INFER.request.flags: unknown type 'u24'"),
        ('kind = "f32"', 'kind = "f64"', "unknown kind 'f64'"),
    ],
)
def test_an_inconsistent_spec_is_refused(tmp_path, old, new, message):
    text = G.SPEC_PATH.read_text()
    assert old in text
    spec = tmp_path / "protocol_spec.toml"
    spec.write_text(text.replace(old, new, 1))
    with pytest.raises(G.SpecError) as exc:
        G.load_spec(spec)
    assert message in str(exc.value)


def test_protocol_md_without_its_markers_is_refused():
    sections = G.render_markdown_tables(G.load_spec())
    text = G.PROTOCOL_MD.read_text().replace("<!-- generated:status -->\n", "")
    with pytest.raises(G.SpecError, match="status"):
        G.update_markdown(text, sections)


def test_protocol_md_states_the_spec_tables():
    text = G.PROTOCOL_MD.read_text()
    assert "| 0x1A | classes_sha256 |" in text and "| 10 | BAD_ARG |" in text
    assert "| 16+out_bytes | 4 x n_layers | layer_ticks, u32" in text
    assert "| L = 16+out_bytes+4 x n_layers | 4 | head_ticks u32 |" in text


def _c_values(tmp_path: Path, names: list[str]) -> list[int]:
    """The values of C macros of em_protocol.h, compiled."""
    src = tmp_path / "values.c"
    body = ", ".join(f"(long long)({n})" for n in names)
    src.write_text(f'#include "em_protocol.h"\nlong long em_values[] = {{{body}}};\n')
    lib = load_shared([src], include_dirs=[G.PROTOCOL_DIR], name="protocol_spec_values")
    return list((C.c_longlong * len(names)).in_dll(lib, "em_values"))


def test_c_header_and_python_tables_agree(tmp_path):
    expected = {
        "EM_PROTO_VERSION": T.PROTOCOL_VERSION,
        "EM_PROTO_MAX_PAYLOAD": T.MAX_PAYLOAD,
        "EM_PROTO_SYNC0": T.SYNC0,
        "EM_PROTO_REQ_SYNC1": T.REQ_SYNC1,
        "EM_PROTO_RESP_SYNC1": T.RESP_SYNC1,
        "EM_PROTO_REQ_HEADER": T.REQ_HEADER,
        "EM_PROTO_RESP_HEADER": T.RESP_HEADER,
        "EM_PROTO_CRC_BYTES": T.CRC_BYTES,
        "EM_PROTO_CRC32_POLY": T.CRC32_POLY,
        "EM_MEM_NUM_FIELDS": len(T.MEM_FIELDS),
    }
    expected |= {"EM_PROTO_OK" if s == T.Status.OK else f"EM_PROTO_ERR_{s.name}": int(s) for s in T.Status}
    expected |= {f"EM_CMD_{c.name}": int(c) for c in T.Cmd}
    expected |= {f"EM_INFER_FLAG_{f.name}": int(f) for f in T.InferFlag}
    expected |= {f"EM_INFO_{name.upper()}": tag for tag, (name, _kind) in T.INFO_TAGS.items()}
    expected |= {f"EM_MEM_{name.upper()}": i for i, name in enumerate(T.MEM_FIELDS)}
    for name in dir(T):
        layout = getattr(T, name)
        if isinstance(layout, T.Layout):
            cmd, part = name.rsplit("_", 1)
            tag = {"REQUEST": "REQ", "RESPONSE": "RESP", "CLASSIFIED": "CLASSIFIED"}[part]
            expected[f"EM_PROTO_{cmd}_{tag}_BYTES"] = layout.size
    assert len(expected) >= 80  # every table contributes (84 names today)
    names = sorted(expected)
    assert dict(zip(names, _c_values(tmp_path, names), strict=True)) == {n: expected[n] for n in names}


def test_the_spec_crc_is_zlibs():
    spec = G.load_spec()["frame"]["crc"]
    table = G.crc32_nibble_table(spec["poly_reflected"])

    def nibble_crc(data: bytes) -> int:
        crc = spec["init"]
        for byte in data:
            crc ^= byte
            crc = (crc >> 4) ^ table[crc & 0xF]
            crc = (crc >> 4) ^ table[crc & 0xF]
        return crc ^ spec["xorout"]

    rng = random.Random(13)
    for n in (0, 1, 7, 1034):
        data = bytes(rng.randrange(256) for _ in range(n))
        assert nibble_crc(data) == zlib.crc32(data) == P.crc32(data)
    assert table[8] == spec["poly_reflected"]


@pytest.mark.parametrize("name", BOARD_NAMES)
def test_the_serial_app_builds_for_every_board(name, tmp_path):
    """The protocol server (serial_main.c + em_protocol.c, on the generated header) compiles warning-free and
    links for each board's core and board files, with the TEST DOUBLE engine in place of a generated one."""
    elf = build_elf(
        name,
        [D.HERE / "engine_double.c", FIRMWARE_DIR / "app" / "serial_main.c", G.PROTOCOL_DIR / "em_protocol.c"],
        tmp_path / "double.elf",
        include_dirs=[D.HERE, G.PROTOCOL_DIR],
        extra_flags=["-Werror"],
    )
    assert elf_memory_usage(elf, name).flash_bytes > 0
