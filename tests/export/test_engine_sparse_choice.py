"""The generator's per-layer dense/sparse choice: by flash and estimated instructions, with the
reason and the bytes per nonzero in the engine report."""

from __future__ import annotations

import numpy as np
import pytest
from codegen_models import build_engine_lib, engine_invoke, small_tflite

from edgel3_mote.export import sparse_weights
from edgel3_mote.export.codegen import generate_engine
from edgel3_mote.export.codegen.ops import conv2d as c2
from edgel3_mote.export.ir import read_tflite
from edgel3_mote.export.reference import TflmRunner


def _conv_filters(tflite: bytes) -> list[np.ndarray]:
    g = read_tflite(tflite)
    return [g.tensor(op.inputs[1]).data.astype(np.int8) for op in g.ops if op.kind == "CONV_2D"]


def test_pruned_layers_go_sparse_and_report_bytes_per_nonzero(tmp_path):
    tflite = small_tflite("pruned")
    info = generate_engine(tflite, tmp_path, model_name="pruned", weight_format="auto")
    convs = [layer for layer in info.layers if layer.op == "CONV_2D"]
    for layer, w in zip(convs, _conv_filters(tflite)):
        assert layer.weight_format == "sparse" and layer.format_reason.startswith("sparse: less flash"), layer
        assert layer.nonzeros == np.count_nonzero(w)
        if layer.nonzeros:
            assert layer.bytes_per_nonzero == pytest.approx(sparse_weights.encode(w).bytes_per_nonzero, abs=1e-4)
            assert layer.bytes_per_nonzero <= 2.0
    assert info.to_dict()["layers"][0]["format_reason"]  # in the manifest's engine section


def test_dense_layers_stay_dense_and_say_why(tmp_path):
    tflite = small_tflite("chain_odd")
    # the portable path (no tiled or Winograd kernels): the sparse choice's own reason stands
    info = generate_engine(tflite, tmp_path / "auto", model_name="odd", weight_format="auto", use_dsp=False)
    for layer in info.layers:
        if layer.op == "CONV_2D":
            assert layer.weight_format == "dense" and "saves no flash" in layer.format_reason, layer
            assert layer.bytes_per_nonzero is None
    forced = generate_engine(tflite, tmp_path / "dense", model_name="odd", weight_format="dense")
    assert all("weight_format='dense'" in layer.format_reason for layer in forced.layers if layer.op == "CONV_2D")


def test_choice_weighs_flash_and_time():
    assert c2.choose_format(1000, 1200, 5e6, 1e6)[0] == "dense"  # more flash
    fmt, why = c2.choose_format(1000, 300, 1e6, 2e6)  # smaller but slower
    assert fmt == "dense" and "slower" in why
    fmt, why = c2.choose_format(1000, 300, 2e6, 1e6)
    assert fmt == "sparse" and "300 B sparse vs 1,000 B dense" in why
    # the model itself: at 98 % zeros the sparse kernel wins by far, at 0 % dense does
    shape = dict(out_hw=(32, 24), in_c=256, out_c=256, kernel_hw=(3, 3))
    dense = c2.estimate_dense_instructions(**shape)
    assert c2.estimate_sparse_instructions(**shape, nonzeros=11746, pass_rows=32) < 0.05 * dense
    assert c2.estimate_sparse_instructions(**shape, nonzeros=587490, pass_rows=32) > dense


def test_w16_replaces_a_sparse_choice_only_where_estimated_faster_and_the_flash_allows(tmp_path):
    """With a w16 flash budget, an auto-chosen sparse conv becomes int16-expanded dense (w16) where the cost model
    estimates w16 faster; without the budget, or with weight_format='sparse', it stays sparse."""
    tflite = small_tflite("half_pruned")
    graph = read_tflite(tflite)
    convs = [op for op in graph.ops if op.kind == "CONV_2D"]
    expected = {}
    for op in convs:
        w = graph.tensor(op.inputs[1]).data
        out_hw = graph.tensor(op.outputs[0]).hwc[:2]
        shape = dict(out_hw=out_hw, in_c=w.shape[3], out_c=w.shape[0], kernel_hw=w.shape[1:3])
        packed = sparse_weights.encode(w)
        rows = c2.sparse_pass_rows(w.shape[3], packed.max_channel_nnz, out_hw, w.shape[1:3], (1, 1), (1, 1))
        sparse = c2.estimate_sparse_instructions(**shape, nonzeros=packed.nnz, pass_rows=rows)
        expected[graph.layer_name(op)] = (
            "w16" if c2.W16_INSTR_FACTOR * c2.estimate_dense_instructions(**shape) < sparse else "sparse"
        )
    big = generate_engine(tflite, tmp_path / "big", model_name="half", weight_format="auto", w16_flash_bytes=10**7)
    none = generate_engine(tflite, tmp_path / "none", model_name="half", weight_format="auto")
    forced = generate_engine(
        tflite, tmp_path / "forced", model_name="pruned", weight_format="sparse", w16_flash_bytes=10**7
    )
    assert sorted(expected.values()) == ["sparse", "w16"]  # the 50 % layer goes w16, the 95 % one stays sparse
    for layer in big.layers:
        if layer.op == "CONV_2D":
            assert layer.weight_format == expected[layer.name], layer
            if layer.weight_format == "w16":
                assert layer.format_reason.startswith("w16: the int16-expanded dense weights are estimated faster")
    # the mixed w16 + sparse engine gives tflite-micro's bytes on both paths
    rng = np.random.default_rng(11)
    for dsp in (False, True):
        lib = build_engine_lib(tmp_path / "big", tmp_path, dsp=dsp, name=f"half_w16_{int(dsp)}")
        for _ in range(2):
            x = rng.integers(-128, 128, (24, 24, 16), dtype=np.int8)
            rc, out, _ = engine_invoke(lib, x, 32, len(big.layers))
            assert rc == 0 and np.array_equal(out, TflmRunner(tflite).invoke(x).reshape(-1)), dsp
    assert all(layer.weight_format == "sparse" for layer in none.layers if layer.op == "CONV_2D")
    assert all(layer.weight_format == "sparse" for layer in forced.layers if layer.op == "CONV_2D")
    # the model on SEA-64's second layer (32 -> 32 on 64 x 50): w16 beats sparse at 50 % zeros, not at 95 %
    shape = dict(out_hw=(64, 50), in_c=32, out_c=32, kernel_hw=(3, 3))
    w16 = c2.W16_INSTR_FACTOR * c2.estimate_dense_instructions(**shape)
    assert w16 < c2.estimate_sparse_instructions(**shape, nonzeros=4608, pass_rows=64)
    assert w16 > c2.estimate_sparse_instructions(**shape, nonzeros=461, pass_rows=64)


def test_memory_aware_choice_makes_wide_layers_tiled_only_where_flash_waits(tmp_path):
    """issue 18: with flash wait states every flash read the MAC loop makes is charged (the upper bound), so
    SEA-64's wide layers go tiled (int8 in flash, a RAM tile per pass); at zero wait states w16 beats tiled
    (tiling adds the expansion's instructions), but a dense layer still goes tiled or Winograd where that takes
    fewer instructions than int8 dense (no extra flash); an explicit weight_format='dense' stays dense."""
    shape = dict(out_hw=(64, 50), in_c=32, out_c=32, kernel_hw=(3, 3))  # SEA-64's layer 1
    macs, weights, rows = 64 * 50 * 32 * 288, 32 * 288, 64
    w16 = c2.W16_INSTR_FACTOR * c2.estimate_dense_instructions(**shape)
    tiled = c2.estimate_tiled_instructions(**shape, passes=rows)
    assert w16 < tiled < 1.15 * w16  # the expansion once per row: a few % more instructions
    for ws, tiled_wins in ((0, False), (2, True), (5, True)):
        t = c2.upper_bound_cycles(tiled, c2.flash_reads("tiled", macs, weights, rows), ws)
        assert (t < c2.upper_bound_cycles(w16, c2.flash_reads("w16", macs, weights, rows), ws)) == tiled_wins, ws
    # on a 1-pixel-wide map the per-row expansion is all overhead: dense int8 stays
    narrow = dict(out_hw=(16, 1), in_c=32, out_c=32, kernel_hw=(3, 3))
    m = 16 * 32 * 288
    dense = c2.upper_bound_cycles(c2.estimate_dense_instructions(**narrow), c2.flash_reads("dense", m, weights, 16), 5)
    tiled = c2.upper_bound_cycles(
        c2.estimate_tiled_instructions(**narrow, passes=16), c2.flash_reads("tiled", m, weights, 16), 5
    )
    assert dense < tiled
    tflite = small_tflite("mixed")
    zero = generate_engine(tflite, tmp_path / "zero", model_name="m", use_dsp=True, flash_wait_states=0)
    convs = [layer for layer in zero.layers if layer.op == "CONV_2D"]
    # at zero wait states the choice is on zero-wait cycles: int8 weights in a RAM tile (tiled, Winograd) where
    # they take fewer instructions than dense; the sparse layer (chosen for flash) and the narrow one stay
    assert [layer.weight_format for layer in convs] == ["tiled", "wino", "sparse", "dense"]
    assert all("zero-wait cycles" in layer.format_reason for layer in convs if layer.weight_format != "sparse")
    forced = generate_engine(tflite, tmp_path / "forced", model_name="m", weight_format="dense", flash_wait_states=0)
    assert all(layer.weight_format == "dense" for layer in forced.layers if layer.op == "CONV_2D")
    five = generate_engine(tflite, tmp_path / "five", model_name="m", use_dsp=True, flash_wait_states=5)
    # 4 input channels: tiled; 16 (a multiple of 8, 3x3 stride 1): Winograd
    assert [layer.weight_format for layer in five.layers if layer.op == "CONV_2D"][:2] == ["tiled", "wino"]
    # the portable path has no tile: never tiled there
    port = generate_engine(tflite, tmp_path / "port", model_name="m", use_dsp=False, flash_wait_states=5)
    assert all(layer.weight_format not in ("tiled", "wino") for layer in port.layers)
