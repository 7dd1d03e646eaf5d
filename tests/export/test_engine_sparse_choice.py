"""The generator's per-layer dense/sparse choice: by flash and estimated instructions, with the
reason and the bytes per nonzero in the engine report."""

from __future__ import annotations

import numpy as np
import pytest
from codegen_models import small_tflite

from edgel3_mote.export import sparse_weights
from edgel3_mote.export.codegen import generate_engine
from edgel3_mote.export.codegen.ops import conv2d as c2
from edgel3_mote.export.ir import read_tflite


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
    info = generate_engine(tflite, tmp_path / "auto", model_name="odd", weight_format="auto")
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
