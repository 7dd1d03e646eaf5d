"""Constants and size formulas that live in C (em_kernels.h) and are mirrored in Python stay equal.

The C header is the owner; each Python mirror is held to the compiled macro over a grid of shapes.
"""

from __future__ import annotations

import ctypes as C
import itertools
from pathlib import Path

import numpy as np
import pytest

from edgel3_mote.export import sparse_weights
from edgel3_mote.export.codegen.ops import conv2d
from edgel3_mote.export.hostbuild import load_shared
from tests.support import kernel_lib

SHAPES = list(itertools.product((1, 3, 5), (1, 3), (1, 2, 3, 8, 32, 33, 256)))


@pytest.fixture(scope="module")
def macros():
    lib = load_shared([Path(__file__).with_name("c") / "em_kernels_macros.c"], name="em_kernels_macros")
    for fn in (
        "macro_padded_taps",
        "macro_dsp_buffer_bytes",
        "macro_w16_words",
        "macro_sparse_max_filter_taps",
        "macro_sparse_buffer_bytes",
        "macro_status",
    ):
        getattr(lib, fn).restype = C.c_int32
    return lib


def test_dense_conv_scratch_and_w16_layout(macros):
    for h, w, c in SHAPES:
        assert conv2d.padded_taps(h, w, c) == macros.macro_padded_taps(h, w, c)
        assert conv2d.dsp_scratch_bytes(h, w, c) == macros.macro_dsp_buffer_bytes(h, w, c)
        for oc in (1, 4, 5, 64):
            words = conv2d.pack_w16(np.zeros((oc, h, w, c), np.int8)).size
            assert words == macros.macro_w16_words(oc, h, w, c), (oc, h, w, c)


def test_sparse_limits_and_scratch(macros):
    assert sparse_weights.MAX_FILTER_TAPS == conv2d.SPARSE_MAX_FILTER_TAPS == macros.macro_sparse_max_filter_taps()
    for (kh, kw, c), nnz, rows in itertools.product(SHAPES, (1, 77), (1, 4)):
        out_hw = (6, 13)
        in_rows, row_len = sparse_weights.relayout_geometry(out_hw, (kh, kw), (1, 1), (1, 1), rows)
        assert sparse_weights.scratch_bytes(
            c, nnz, out_hw, (kh, kw), (1, 1), (1, 1), rows
        ) == macros.macro_sparse_buffer_bytes(in_rows, c, row_len, nnz)


def test_status_codes(macros):
    assert (kernel_lib.EM_OK, kernel_lib.EM_ERR_ARG, kernel_lib.EM_ERR_WINDOW) == tuple(
        macros.macro_status(i) for i in range(3)
    )


def test_kernel_and_protocol_headers_compile_together():
    from edgel3_mote.export.boards import FIRMWARE_DIR

    lib = load_shared(
        [Path(__file__).with_name("c") / "both_headers.c"],
        include_dirs=[FIRMWARE_DIR / "protocol"],
        name="both_headers",
    )
    assert lib.both_headers_ok() == 1
