"""The serial protocol's C header, Python tables and PROTOCOL.md tables, generated from one spec.

``firmware/protocol/protocol_spec.toml`` owns every number of the protocol: frame constants, the CRC
parameters, commands, status codes, INFER flags, INFO tags, MEM fields and the payload layouts. From it
this module writes

- ``firmware/protocol/em_protocol_spec.h``: the C names (``EM_PROTO_*``, ``EM_CMD_*``, ``EM_INFO_*``,
  ``EM_MEM_*``, ``EM_INFER_FLAG_*``), included by ``em_protocol.h``;
- ``board_tests/harness/protocol_tables.py``: the same tables for ``protocol.py`` and ``client.py``;
- the tables of ``firmware/protocol/PROTOCOL.md``, between ``<!-- generated:NAME -->`` and
  ``<!-- end generated -->`` markers (the prose around them is hand-written).

``python -m edgel3_mote.board_tests.harness.protocol_codegen`` rewrites all three; ``--check`` only
reports which ones differ (exit 1). The hand-written C and Python keep only logic (framing, CRC).
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgel3_mote.export.boards import FIRMWARE_DIR

PROTOCOL_DIR = FIRMWARE_DIR / "protocol"
SPEC_PATH = PROTOCOL_DIR / "protocol_spec.toml"
C_HEADER = PROTOCOL_DIR / "em_protocol_spec.h"
PY_TABLES = Path(__file__).resolve().with_name("protocol_tables.py")
PROTOCOL_MD = PROTOCOL_DIR / "PROTOCOL.md"

GENERATOR = "edgel3_mote.board_tests.harness.protocol_codegen"
# type -> (struct character, bytes)
TYPES = {"u8": ("B", 1), "i8": ("b", 1), "u16": ("H", 2), "u32": ("I", 4), "i32": ("i", 4), "f32": ("f", 4)}
INFO_KINDS = ("u32", "bool", "i32", "f32", "str", "u32s")


class SpecError(ValueError):
    """The protocol spec is inconsistent (a duplicate code, an unknown type, a dangling count)."""


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    count: int | str | None = None  # None: one; int: fixed repeat; str: the earlier field holding the count
    doc: str = ""

    @property
    def item_bytes(self) -> int:
        return TYPES[self.type][1]

    @property
    def variable(self) -> bool:
        return isinstance(self.count, str)


@dataclass(frozen=True)
class Layout:
    """A payload (or frame header) layout: a fixed-size prefix, then fields whose length a count field gives."""

    fields: tuple[Field, ...]

    @property
    def fixed(self) -> tuple[Field, ...]:
        out = []
        for f in self.fields:
            if f.variable:
                break
            out.append(f)
        return tuple(out)

    @property
    def fixed_bytes(self) -> int:
        return sum(f.item_bytes * (f.count if isinstance(f.count, int) else 1) for f in self.fixed)

    def struct_format(self, skip: int = 0) -> str:
        """struct format of the fixed prefix (little-endian), leaving out its first ``skip`` fields."""
        parts = []
        for f in self.fixed[skip:]:
            ch = TYPES[f.type][0]
            parts.append(f"{f.count}{ch}" if isinstance(f.count, int) else ch)
        return "<" + "".join(parts)

    def offsets(self, base: str = "") -> list[tuple[str, str, Field]]:
        """(offset, size, field) as text for the documentation: ``16``, ``16+out_bytes``, ``L+4``."""
        rows = []
        const, terms = 0, []
        for f in self.fields:
            if f.variable:
                size = str(f.count) if f.item_bytes == 1 else f"{f.item_bytes} x {f.count}"
            else:
                size = str(f.item_bytes * (f.count if isinstance(f.count, int) else 1))
            parts = ([base] if base else []) + ([str(const)] if const or not base else []) + terms
            rows.append(("+".join(parts), size, f))
            if f.variable:
                terms.append(size)
            else:
                const += int(size)
        return rows


def _layout(raw: list[dict[str, Any]] | None, where: str) -> Layout | None:
    if raw is None:
        return None
    fields: list[Field] = []
    for item in raw:
        f = Field(item["name"], item["type"], item.get("count"), item.get("doc", ""))
        if f.type not in TYPES:
            raise SpecError(f"{where}.{f.name}: unknown type {f.type!r}; use one of {', '.join(TYPES)}")
        if isinstance(f.count, str) and f.count not in [g.name for g in fields]:
            raise SpecError(f"{where}.{f.name}: count {f.count!r} is not an earlier field")
        fields.append(f)
    return Layout(tuple(fields))


def _unique(items: list[dict[str, Any]], keys: tuple[str, ...], what: str) -> None:
    for key in keys:
        seen = [item[key] for item in items]
        dupes = sorted({v for v in seen if seen.count(v) > 1}, key=str)
        if dupes:
            raise SpecError(f"{what}: duplicate {key} {dupes}")


def load_spec(path: Path = SPEC_PATH) -> dict[str, Any]:
    """The spec, checked: unique codes and names, known types, counts that name earlier fields."""
    with open(path, "rb") as fh:
        spec = tomllib.load(fh)
    _unique(spec["status"], ("code", "name"), "status")
    _unique(spec["command"], ("code", "name"), "command")
    _unique(spec["info"], ("tag", "name"), "info")
    _unique(spec["mem"], ("name",), "mem")
    _unique(spec["infer_flag"], ("bit", "name"), "infer_flag")
    for item in spec["info"]:
        if item["kind"] not in INFO_KINDS:
            raise SpecError(f"info.{item['name']}: unknown kind {item['kind']!r}; use one of {', '.join(INFO_KINDS)}")
    frame = spec["frame"]
    for side in ("request", "response"):
        frame[f"{side}_layout"] = _layout(frame[side], f"frame.{side}")
    for cmd in spec["command"]:
        for part in ("request", "response", "classified"):
            cmd[f"{part}_layout"] = _layout(cmd.get(part), f"{cmd['name']}.{part}")
    return spec


def crc32_nibble_table(poly_reflected: int) -> list[int]:
    """The 16-entry table of a reflected CRC-32 processed four bits at a time (what em_crc32 uses)."""
    table = []
    for n in range(16):
        c = n
        for _ in range(4):
            c = (c >> 1) ^ (poly_reflected if c & 1 else 0)
        table.append(c)
    return table


def _c_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "_", name).upper()


# ------------------------------------------------------------------------------------------ C


def render_c_header(spec: dict[str, Any]) -> str:
    """em_protocol_spec.h: #defines only (no enums), so every name is usable in #if and in any C file."""
    frame, crc = spec["frame"], spec["frame"]["crc"]
    out = [
        "/*",
        f" * em_protocol_spec.h -- GENERATED by {GENERATOR}",
        " * from protocol_spec.toml (beside this file): do not edit, edit the spec and regenerate.",
        " * The serial protocol's numbers; em_protocol.h includes this file. Names: EM_PROTO_* (frame,",
        " * status), EM_CMD_*, EM_INFER_FLAG_*, EM_INFO_* (INFO tags), EM_MEM_* (MEM field index) and",
        " * EM_PROTO_<CMD>_<PART>_* (payload layouts: fixed-prefix bytes and field offsets).",
        " */",
        "#ifndef EM_PROTOCOL_SPEC_H",
        "#define EM_PROTOCOL_SPEC_H",
        "",
        f"#define EM_PROTO_VERSION {spec['version']}u",
        f"#define EM_PROTO_MAX_PAYLOAD {spec['max_payload']}u",
        "",
        "/* Frames */",
        f"#define EM_PROTO_SYNC0 0x{frame['sync0']:02X}u",
        f"#define EM_PROTO_REQ_SYNC1 0x{frame['request_sync1']:02X}u",
        f"#define EM_PROTO_RESP_SYNC1 0x{frame['response_sync1']:02X}u",
        f"#define EM_PROTO_REQ_HEADER {frame['request_layout'].fixed_bytes}u",
        f"#define EM_PROTO_RESP_HEADER {frame['response_layout'].fixed_bytes}u",
        f"#define EM_PROTO_CRC_BYTES {frame['crc_bytes']}u",
        "",
        "/* CRC-32, reflected, processed a nibble at a time */",
        f"#define EM_PROTO_CRC32_POLY 0x{crc['poly_reflected']:08X}u",
        f"#define EM_PROTO_CRC32_INIT 0x{crc['init']:08X}u",
        f"#define EM_PROTO_CRC32_XOROUT 0x{crc['xorout']:08X}u",
    ]
    table = [f"0x{v:08X}u" for v in crc32_nibble_table(crc["poly_reflected"])]
    out += ["/* clang-format off */", "#define EM_PROTO_CRC32_NIBBLE_TABLE \\"]
    for i in range(0, 16, 4):
        opener = "{" if i == 0 else " "
        closer = "}" if i == 12 else ", \\"
        out.append(f"  {opener}{', '.join(table[i : i + 4])}{closer}")
    out.append("/* clang-format on */")
    out += ["", "/* Response status byte */"]
    out += [f"#define EM_PROTO_{'OK' if s['code'] == 0 else 'ERR_' + s['name']} {s['code']}" for s in spec["status"]]
    out += ["", "/* Commands (request cmd byte; the response echoes it) */"]
    out += [f"#define EM_CMD_{c['name']} 0x{c['code']:02X}" for c in spec["command"]]
    out += ["", "/* INFER request flags */"]
    out += [f"#define EM_INFER_FLAG_{f['name']} 0x{f['bit']:02X}u" for f in spec["infer_flag"]]
    out += ["", "/* INFO tags (tag u8 | len u8 | value) */"]
    out += [f"#define EM_INFO_{_c_name(i['name'])} 0x{i['tag']:02X}u" for i in spec["info"]]
    out += ["", "/* MEM: index of each u32 field in the answer */"]
    out += [f"#define EM_MEM_{_c_name(m['name'])} {k}u" for k, m in enumerate(spec["mem"])]
    out += [f"#define EM_MEM_NUM_FIELDS {len(spec['mem'])}u"]
    for cmd in spec["command"]:
        for part, tag in (("request", "REQ"), ("response", "RESP"), ("classified", "CLASSIFIED")):
            layout = cmd[f"{part}_layout"]
            if not layout or not layout.fields:
                continue
            prefix = f"EM_PROTO_{cmd['name']}_{tag}"
            out += ["", f"/* {cmd['name']} {part} */", f"#define {prefix}_BYTES {layout.fixed_bytes}u"]
            offset = 0
            for f in layout.fixed:
                out.append(f"#define {prefix}_{_c_name(f.name)} {offset}u")
                offset += f.item_bytes * (f.count if isinstance(f.count, int) else 1)
    out += ["", "#endif /* EM_PROTOCOL_SPEC_H */", ""]
    return "\n".join(out)


# ------------------------------------------------------------------------------------- Python


def render_py_tables(spec: dict[str, Any]) -> str:
    """protocol_tables.py, already in ruff's format (the lint checks the committed copy)."""
    frame, crc = spec["frame"], spec["frame"]["crc"]
    out = [
        f'"""GENERATED by {GENERATOR}',
        "from firmware/protocol/protocol_spec.toml: do not edit, edit the spec and regenerate.",
        "",
        "The serial protocol's numbers for the host side (protocol.py, client.py); the device's are the same",
        'ones in firmware/protocol/em_protocol_spec.h."""',
        "",
        "from __future__ import annotations",
        "",
        "import enum",
        "from typing import NamedTuple",
        "",
        "",
        "class Layout(NamedTuple):",
        '    """A payload\'s fixed-size prefix: its struct format, its bytes and its field names."""',
        "",
        "    format: str",
        "    size: int",
        "    fields: tuple[str, ...]",
        "",
        "",
        f"PROTOCOL_VERSION = {spec['version']}",
        f"MAX_PAYLOAD = {spec['max_payload']}",
        f"SYNC0 = 0x{frame['sync0']:02X}",
        f"REQ_SYNC1 = 0x{frame['request_sync1']:02X}",
        f"RESP_SYNC1 = 0x{frame['response_sync1']:02X}",
        f"REQ_HEADER = {frame['request_layout'].fixed_bytes}",
        f"RESP_HEADER = {frame['response_layout'].fixed_bytes}",
        f"CRC_BYTES = {frame['crc_bytes']}",
        "# the header fields after the two sync bytes",
        f'REQ_HEADER_FORMAT = "{frame["request_layout"].struct_format(skip=1)}"',
        f'RESP_HEADER_FORMAT = "{frame["response_layout"].struct_format(skip=1)}"',
        f'CRC_FORMAT = "<{ {2: "H", 4: "I"}[frame["crc_bytes"]] }"',
        f"CRC32_POLY = 0x{crc['poly_reflected']:08X}",
        f"CRC32_INIT = 0x{crc['init']:08X}",
        f"CRC32_XOROUT = 0x{crc['xorout']:08X}",
        "",
        "",
        "class Cmd(enum.IntEnum):",
    ]
    out += [f"    {c['name']} = 0x{c['code']:02X}" for c in spec["command"]]
    out += ["", "", "class Status(enum.IntEnum):"]
    out += [f"    {s['name']} = {s['code']}" for s in spec["status"]]
    out += ["", "", "class InferFlag(enum.IntFlag):"]
    out += [f"    {f['name']} = 0x{f['bit']:02X}" for f in spec["infer_flag"]]
    out += ["", "", "# INFO tag -> (name, kind)", "INFO_TAGS: dict[int, tuple[str, str]] = {"]
    out += [f'    0x{i["tag"]:02X}: ("{i["name"]}", "{i["kind"]}"),' for i in spec["info"]]
    out += ["}", "", "# MEM: the u32 fields in answer order", "MEM_FIELDS = ("]
    out += [f'    "{m["name"]}",' for m in spec["mem"]]
    out += [")", "", "# payload layouts (fixed prefix) by command and part"]
    for cmd in spec["command"]:
        for part in ("request", "response", "classified"):
            layout = cmd[f"{part}_layout"]
            if not layout or not layout.fields:
                continue
            names = ", ".join(f'"{f.name}"' for f in layout.fixed) + ("," if len(layout.fixed) == 1 else "")
            out += [
                f"{cmd['name']}_{part.upper()} = Layout(",
                f'    "{layout.struct_format()}",',
                f"    {layout.fixed_bytes},",
                f"    ({names}),",
                ")",
            ]
    out.append("")
    return "\n".join(out)


# ------------------------------------------------------------------------------------ Markdown


def _md_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _layout_table(layout: Layout, base: str = "", first_label: str = "") -> str:
    rows = []
    for k, (offset, size, f) in enumerate(layout.offsets(base)):
        what = f"{f.name}, {f.type}" if f.variable else f"{f.name} {f.type}"
        rows.append((first_label if k == 0 and first_label else offset, size, what + (f" ({f.doc})" if f.doc else "")))
    return _md_table(("offset", "size", "field"), rows)


def render_markdown_tables(spec: dict[str, Any]) -> dict[str, str]:
    """The generated sections of PROTOCOL.md by marker name."""
    frame = spec["frame"]
    sections: dict[str, str] = {}
    for side in ("request", "response"):
        layout: Layout = frame[f"{side}_layout"]
        rows = [(off, size, f.doc) for off, size, f in layout.offsets()]
        n = layout.fixed_bytes
        rows += [
            (str(n), "len", frame.get(f"{side}_payload_doc", "payload")),
            (f"{n}+len", str(frame["crc_bytes"]), "CRC-32 u32"),
        ]
        sections[f"frame-{side}"] = _md_table(("offset", "size", "field"), rows)
    sections["status"] = _md_table(
        ("code", "name", "meaning"), [(str(s["code"]), s["name"], s["doc"]) for s in spec["status"]]
    )
    sections["commands"] = _md_table(
        ("cmd", "name", "request payload", "response payload (OK)"),
        [
            (f"0x{c['code']:02X}", c["name"], c["request_doc"], c["response_doc"])
            for c in spec["command"]
            if c.get("table", True)
        ],
    )
    sections["info"] = _md_table(
        ("tag", "field", "type"), [(f"0x{i['tag']:02X}", i["name"], i["doc"]) for i in spec["info"]]
    )
    infer = next(c for c in spec["command"] if c["name"] == "INFER")
    sections["infer"] = _layout_table(infer["response_layout"])
    tail = infer["response_layout"].offsets()[-1]
    end = f"{tail[0]}+{tail[1]}"
    sections["infer-classified"] = _layout_table(infer["classified_layout"], base="L", first_label=f"L = {end}")
    sections["mem"] = (
        ", ".join(f"`{m['name']}`" + (f" ({m['doc']})" if m.get("doc") else "") for m in spec["mem"]) + "."
    )
    return sections


_SECTION = re.compile(r"(<!-- generated:([\w-]+) -->\n)(.*?)(\n<!-- end generated -->)", re.S)


def update_markdown(text: str, sections: dict[str, str]) -> str:
    """``text`` with every generated section replaced; every section must have its markers."""
    found: list[str] = []

    def repl(m: re.Match[str]) -> str:
        name = m.group(2)
        if name not in sections:
            raise SpecError(f"PROTOCOL.md: unknown generated section {name!r}")
        found.append(name)
        return m.group(1) + sections[name] + m.group(4)

    out = _SECTION.sub(repl, text)
    missing = sorted(set(sections) - set(found))
    if missing:
        raise SpecError(
            f"PROTOCOL.md lacks the markers of {missing}: add <!-- generated:NAME --> ... <!-- end generated -->"
        )
    return out


# ---------------------------------------------------------------------------------- entry points


def generate(spec_path: Path = SPEC_PATH, markdown: Path = PROTOCOL_MD) -> dict[Path, str]:
    """Every generated file's text, keyed by its committed path."""
    spec = load_spec(spec_path)
    return {
        C_HEADER: render_c_header(spec),
        PY_TABLES: render_py_tables(spec),
        PROTOCOL_MD: update_markdown(markdown.read_text(), render_markdown_tables(spec)),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="write nothing; exit 1 when a committed file differs")
    args = ap.parse_args(argv)
    stale = []
    for path, text in generate().items():
        if path.is_file() and path.read_text() == text:
            continue
        stale.append(path)
        if not args.check:
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(text)
            tmp.replace(path)
            print(f"wrote {path}")
    if args.check and stale:
        print("out of date with protocol_spec.toml: " + ", ".join(map(str, stale)), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
