"""``ir.with_tensor_quantization``: a patched model that means exactly what the original does.

The patch unpacks the whole flatbuffer into the schema's object API and packs it again; the oracle
is the converter's own file: re-packing gives its bytes back exactly, and a patch changes the four
bytes of that one float32 scale and nothing else (and TFLite Micro loads and runs the result).
"""

from __future__ import annotations

import struct

import numpy as np
import pytest
from codegen_models import small_tflite

from edgel3_mote.errors import ExportError
from edgel3_mote.export.ir import read_tflite, with_tensor_quantization
from edgel3_mote.export.reference import TflmRunner


@pytest.mark.parametrize("model", ["chain_odd", "flatten_dense"])
def test_repacking_is_byte_for_byte(model):
    # The object API packs the flatbuffer in the converter's own layout: writing back the value a
    # tensor already has gives the converter's bytes again, so nothing else in the model can change.
    tflite = bytes(small_tflite(model))
    graph = read_tflite(tflite)
    for tid in (graph.inputs[0], graph.outputs[0]):
        scale, zp = graph.tensor(tid).quant
        assert with_tensor_quantization(tflite, tid, scale, zp) == tflite


@pytest.mark.parametrize("which", ["input", "output"])
def test_patch_replaces_the_four_bytes_of_one_scale(which):
    tflite = bytes(small_tflite("chain_odd"))
    graph = read_tflite(tflite)
    tid = graph.inputs[0] if which == "input" else graph.outputs[0]
    scale, zp = graph.tensor(tid).quant
    new_scale = float(np.nextafter(np.float32(scale), np.float32(np.inf)))  # the classifier's last-ulp case
    patched = with_tensor_quantization(tflite, tid, new_scale, zp)
    assert len(patched) == len(tflite)
    diff = np.flatnonzero(np.frombuffer(patched, np.uint8) != np.frombuffer(tflite, np.uint8))
    pos = int(diff[0]) & ~3  # flatbuffer float vectors are 4-byte aligned
    assert diff.size and int(diff[-1]) < pos + 4, f"bytes {diff.tolist()} changed: more than one float"
    assert struct.unpack_from("<f", tflite, pos)[0] == np.float32(scale)
    assert struct.unpack_from("<f", patched, pos)[0] == np.float32(new_scale)
    assert read_tflite(patched).tensor(tid).quant == (new_scale, zp)
    assert TflmRunner(patched).invoke(np.zeros(graph.tensor(graph.inputs[0]).shape, np.int8)).dtype == np.int8


def test_patch_refuses_what_it_cannot_patch():
    tflite = small_tflite("chain_odd")
    graph = read_tflite(tflite)
    with pytest.raises(ExportError, match="not in the model"):
        with_tensor_quantization(tflite, len(graph.tensors), 0.1, 0)
    bias = next(t for t in graph.tensors if t.dtype == "int32" and t.is_constant)  # per-channel bias
    with pytest.raises(ExportError, match="not quantised per tensor"):
        with_tensor_quantization(tflite, bias.id, 0.1, 0)
    with pytest.raises(ExportError, match="outside int8"):
        with_tensor_quantization(tflite, graph.inputs[0], 0.1, 300)
