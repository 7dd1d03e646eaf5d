"""Engines with int16-expanded conv weights (em_conv2d_s8_w16): chosen per layer under a flash
budget, byte-identical with tflite-micro on the host's portable and DSP builds, streamed or not."""

from __future__ import annotations

import numpy as np
import pytest
from codegen_models import build_engine_lib, engine_invoke, small_tflite

from edgel3_mote.export.codegen import generate_engine
from edgel3_mote.export.codegen.ops.conv2d import choose_w16_layers, w16_extra_bytes
from edgel3_mote.export.ir import read_tflite
from edgel3_mote.export.reference import TflmRunner


@pytest.mark.parametrize("streaming", ["off", "on"])
def test_w16_engine_matches_tflm_on_both_paths(tmp_path, streaming):
    tflite = small_tflite("chain_odd")
    info = generate_engine(tflite, tmp_path / "w16", model_name="odd", streaming=streaming, w16_flash_bytes=1 << 20)
    plain = generate_engine(tflite, tmp_path / "s8", model_name="odd", streaming=streaming, weight_format="dense")
    convs = [layer for layer in info.layers if layer.op == "CONV_2D"]
    assert len(convs) == 3 and all(layer.weight_format == "w16" for layer in convs)
    assert all(layer.weight_format == "dense" for layer in plain.layers if layer.op == "CONV_2D")
    assert info.weight_bytes > plain.weight_bytes and info.arena_bytes == plain.arena_bytes
    assert "em_conv2d_s8_w16(" in (tmp_path / "w16" / "model_engine.c").read_text()
    rng = np.random.default_rng(3)
    xs = [rng.integers(-128, 128, (23, 13, 3), dtype=np.int8) for _ in range(3)]
    for dsp in (False, True):
        lib = build_engine_lib(tmp_path / "w16", tmp_path, dsp=dsp, name=f"odd_w16_{streaming}_{int(dsp)}")
        for x in xs:
            rc, out, _ = engine_invoke(lib, x, 10, len(info.layers))
            assert rc == 0 and np.array_equal(out, TflmRunner(tflite).invoke(x).reshape(-1)), (dsp, streaming)


def test_w16_layers_chosen_by_output_pixels_within_budget():
    def convs_of(graph):
        return [op for op in graph.ops if op.kind == "CONV_2D"]

    graph = read_tflite(small_tflite("chain_odd"))
    extra = [w16_extra_bytes(graph.tensor(op.inputs[1]).data) for op in convs_of(graph)]
    # 3x3x3 -> 8 (23x13 output), 3x3x8 -> 12 (11x6), 1x1x12 -> 16 (6x3); taps padded to 8
    assert extra == [4 * 4 * 32 - 216, 4 * 6 * 72 - 864, 4 * 8 * 16 - 192] == [296, 864, 320]
    assert choose_w16_layers(graph, 296 + 864) == [0, 1]
    assert [op.weight_format for op in convs_of(graph)] == ["w16", "w16", "dense"]
    graph = read_tflite(small_tflite("chain_odd"))
    assert choose_w16_layers(graph, 700) == [0, 3]  # conv 1 does not fit: the next smaller one does
    assert choose_w16_layers(read_tflite(small_tflite("chain_odd")), 295) == []


def test_w16_flash_budget_leaves_room_for_vectors_and_a_classifier_head(tmp_path):
    import h5py

    from edgel3_mote.export.boards import get_board
    from edgel3_mote.export.project import W16_FLASH_SHARE, _w16_flash_bytes, vector_counts
    from tests.support.manifests import synthetic_manifest

    board = get_board("qemu-netduinoplus2")

    def left(weights: int, head: int = 0) -> int:  # flash beside the int8 weights, code, vectors and a head
        n, n_pcm = vector_counts(board, synthetic_manifest(sizes={"weight_bytes": weights}), weights, 10)
        return 1024 * 1024 - weights - 48 * 1024 - n * (3200 + 5 * 64) - n_pcm * 2 * 8000 - head

    manifest = synthetic_manifest(sizes={"weight_bytes": 398_880})
    n, _ = vector_counts(board, manifest, 398_880, 10)
    plain = _w16_flash_bytes(board, manifest, 10, None)
    # SEA-64: w16 may add W16_FLASH_SHARE (10 %) of the int8 weights, far less than the flash left
    assert W16_FLASH_SHARE == 0.10 and plain == int(0.10 * 398_880) == 39_888 < left(398_880)
    assert vector_counts(board, manifest, 398_880 + plain, 10)[0] == n  # expanding never costs a vector
    head = tmp_path / "head.h5"
    with h5py.File(head, "w") as f:
        f.create_dataset("dense/kernel", data=np.zeros((512, 128), np.float32))
        f.create_dataset("dense/bias", data=np.zeros(128, np.float32))
    head_bytes = (512 * 128 + 128) + 8 * 1024
    assert _w16_flash_bytes(board, manifest, 10, head) == plain  # the share still fits beside the head
    # a model that nearly fills the flash: with a head, what is left beside vectors and head binds
    big = synthetic_manifest(sizes={"weight_bytes": 760_000})
    assert 0 < left(760_000, head_bytes) < int(0.10 * 760_000) < left(760_000)
    assert _w16_flash_bytes(board, big, 10, None) == int(0.10 * 760_000)
    assert _w16_flash_bytes(board, big, 10, head) == left(760_000, head_bytes)
    assert _w16_flash_bytes(board, manifest.replace(sizes={"weight_bytes": 2 << 20}), 10, None) == 0
