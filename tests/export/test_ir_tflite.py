"""The graph IR read from real converted int8 models matches what TFLite itself sees."""

from __future__ import annotations

import numpy as np
import pytest
from codegen_models import sea64_tflite, small_tflite

from edgel3_mote.errors import ExportError
from edgel3_mote.export.ir import Graph, Op, read_tflite


def _interpreter(tflite: bytes):
    import tensorflow as tf

    # No delegate: XNNPACK would replace the ops in _get_ops_details() by one DELEGATE node.
    interp = tf.lite.Interpreter(
        model_content=tflite,
        experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    )
    interp.allocate_tensors()
    return interp


@pytest.mark.parametrize("model", ["sea64", "chain_odd", "flatten_dense"])
def test_ir_matches_tflite_interpreter(model):
    tflite = sea64_tflite() if model == "sea64" else small_tflite(model)
    graph = read_tflite(tflite)
    interp = _interpreter(tflite)

    ops = interp._get_ops_details()
    assert [op.kind for op in graph.ops] == [d["op_name"] for d in ops]
    for op, d in zip(graph.ops, ops):
        assert list(op.inputs) == list(d["inputs"]) and list(op.outputs) == list(d["outputs"])
    assert graph.inputs == tuple(d["index"] for d in interp.get_input_details())
    assert graph.outputs == tuple(d["index"] for d in interp.get_output_details())

    checked, seen = 0, set()
    # The interpreter appends its own scratch tensors after the model's: compare the model's.
    for d in (d for d in interp.get_tensor_details() if d["index"] < len(graph.tensors)):
        seen.add(d["index"])
        t = graph.tensor(d["index"])
        assert t.name == d["name"]
        assert t.shape == tuple(d["shape"])
        assert np.dtype(t.dtype) == np.dtype(d["dtype"])
        q = d["quantization_parameters"]
        if len(q["scales"]):
            np.testing.assert_array_equal(t.scale, q["scales"])
            np.testing.assert_array_equal(t.zero_point, q["zero_points"])
            assert t.quantized_dimension == q["quantized_dimension"]
        else:
            assert not t.is_quantized
        if t.is_constant and t.dtype in ("int8", "int32"):
            np.testing.assert_array_equal(t.data, interp.get_tensor(d["index"]))
            checked += 1
    assert seen == set(range(len(graph.tensors)))
    assert checked >= 2  # weights and biases were compared, not skipped


def test_ir_sea64_structure_and_options():
    graph = read_tflite(sea64_tflite())
    kinds = [op.kind for op in graph.ops]
    assert kinds == ["CONV_2D", "CONV_2D", "MAX_POOL_2D"] * 3 + ["CONV_2D", "CONV_2D", "MAX_POOL_2D", "RESHAPE"]
    conv = graph.ops[0]
    assert conv.options["padding"] == "SAME" and conv.options["fused_activation"] == "RELU"
    assert (conv.options["stride_h"], conv.options["stride_w"]) == (1, 1)
    assert graph.tensor(conv.inputs[1]).per_channel  # per-channel int8 filters
    assert conv.weight_format == "dense"
    last_pool = graph.ops[11]
    assert (last_pool.options["filter_h"], last_pool.options["filter_w"]) == (8, 6)
    assert graph.tensor(graph.inputs[0]).shape == (1, 64, 50, 1)
    assert graph.tensor(graph.outputs[0]).shape == (1, 64)
    assert graph.producer(graph.outputs[0]).kind == "RESHAPE"
    assert [c.index for c in graph.consumers(graph.ops[0].outputs[0])] == [1]
    assert len(graph.sha256) == 64


def test_ir_unsupported_ops_are_listed():
    tflite = small_tflite("unsupported")
    with pytest.raises(ExportError) as err:
        read_tflite(tflite)
    assert "AVERAGE_POOL_2D" in str(err.value) and "DEPTHWISE_CONV_2D" in str(err.value)
    graph = read_tflite(tflite, supported=None)  # reading everything still works
    assert "AVERAGE_POOL_2D" in [op.kind for op in graph.ops]


def test_ir_rejects_garbage_and_unknown_weight_format():
    with pytest.raises(ExportError):
        read_tflite(b"definitely not a flatbuffer")
    with pytest.raises(ExportError):
        Op(0, "CONV_2D", (0,), (1,), weight_format="csr")
    assert Op(0, "CONV_2D", (0,), (1,), weight_format="sparse").weight_format == "sparse"
    assert isinstance(read_tflite(small_tflite("chain_odd")), Graph)
