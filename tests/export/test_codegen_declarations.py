"""The emitters' structured declarations: one renderer, C99 designated initialisers, only what calls use."""

from __future__ import annotations

import re

import pytest
from codegen_models import small_tflite

from edgel3_mote.export.codegen import generate_engine
from edgel3_mote.export.codegen.ops.base import CDecl, dims_decl, render_decl, rows_literal


def test_render_decl_writes_a_designated_initialiser():
    decl = CDecl("em_l01_quant", "em_quant", (("multiplier", "em_l01_multiplier"), ("per_channel", 1)), comment="why")
    assert render_decl(decl) == (
        "static const em_quant em_l01_quant = {.multiplier = em_l01_multiplier, .per_channel = 1}; /* why */"
    )
    assert render_decl(dims_decl("d", (3, 4, 5))) == "static const em_dims d = {.h = 3, .w = 4, .c = 5};"
    assert rows_literal(7, 3) == (
        "&(const em_rows){.in_row_begin = 0, .in_rows = 7, .out_row_begin = 0, .out_row_end = 3, .out_row_base = 0}"
    )


@pytest.mark.parametrize(("model", "streaming"), [("chain_odd", "off"), ("global_pool", "on"), ("pruned", "on")])
def test_engine_declares_with_designated_initialisers_only_what_it_uses(tmp_path, model, streaming):
    generate_engine(small_tflite(model), tmp_path, model_name=model, streaming=streaming, weight_format="auto")
    text = (tmp_path / "model_engine.c").read_text()
    decls = re.findall(r"^static const (\w+) (\w+) = (\{.*\});$", text, re.M)
    assert decls, "no parameter declarations in model_engine.c"
    for ctype, name, init in decls:
        assert init.startswith("{."), f"{ctype} {name} is not a designated initialiser: {init}"
        body = text.replace(f"static const {ctype} {name} =", "")
        assert re.search(rf"\b{name}\b", body), f"{name} is declared but no generated call uses it"
    assert "(const em_rows){0" not in text
