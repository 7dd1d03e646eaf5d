"""EdgeL3-95.45 under TFLite Micro: the arena TFLM would need (the tflite-micro wheel's arena_used_bytes,
and the arena a --runtime tflm project would declare) against the generated engine's streamed plan for
the mote board, from the same seeded int8 .tflite (cached by tests/export/test_engine_host_l3.py)."""

from __future__ import annotations

import pytest
from test_engine_host_l3 import BOARD, MODEL, _l3_tflite

from edgel3_mote.compress.frontend import L3_FRONTEND
from edgel3_mote.export.boards import get_board
from edgel3_mote.export.frontend_tables import scratch_bytes
from edgel3_mote.export.ir import read_tflite
from edgel3_mote.export.project import generate_board_engine, tflm_ram_need
from edgel3_mote.export.reference import tflm_arena_used_bytes
from edgel3_mote.export.tflm_runtime import tflm_arena_plan


@pytest.mark.slow
def test_l3_tflm_arena_against_the_engines(tmp_path, figure):
    tflite, _ = _l3_tflite()
    board = get_board(BOARD)
    info, _, _ = generate_board_engine(
        tflite, tmp_path, board, 48000, model_name=MODEL, frontend_scratch_bytes=scratch_bytes(L3_FRONTEND)
    )
    tflm_used = tflm_arena_used_bytes(tflite)
    tflm_declared = tflm_arena_plan(tflm_used, read_tflite(tflite, supported=None))
    # TFLM plans whole tensors: at least the largest op's input + output (L3's first conv block, 48 kHz 256x199)
    graph = read_tflite(tflite, supported=None)
    biggest = max(sum(graph.tensor(t).nbytes for t in (op.inputs[0], op.outputs[0])) for op in graph.ops)
    assert tflm_used >= biggest
    figure("tflm.l3.tflm_arena_bytes", tflm_used)
    figure("tflm.l3.engine_arena_bytes", info.arena_bytes)
    figure("tflm.l3.arena_ratio", info.arena_bytes / tflm_used)
    # the mote's 500,000 B of RAM: the engine's arena fits it, TFLM's does not (the export refuses it)
    assert info.arena_bytes < board.ram_size < tflm_ram_need(board, tflm_declared, scratch_bytes(L3_FRONTEND))
