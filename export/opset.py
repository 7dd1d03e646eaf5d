"""What is inside a .tflite, and whether the mote's engine can run it.

The firmware engine (generated C, ``firmware/kernels``) implements a small int8 op set:
CONV_2D, MAX_POOL_2D, REDUCE_MAX (global pooling), RESHAPE, FULLY_CONNECTED, and
QUANTIZE/DEQUANTIZE at the graph's edges. ``check_int8_opset`` turns anything else -- an
unsupported op, or a float op left in an int8 model -- into one ``ExportError`` that lists
every offending op with its index and its output tensor's name (the converter names tensors
after the Keras layers, e.g. ``model/conv2d_transpose/conv2d_transpose``), so the user knows
which layer to change. ``check_int8_quantization`` then proves the properties the kernels
rely on (per-channel symmetric int8 conv weights, int32 biases, per-tensor int8 activations).

The flatbuffer is read by ``export.ir.read_tflite`` (the one .tflite reader) into its one graph type,
``export.ir.Graph``; :func:`read_model` reads any model that way (every op and tensor type allowed) for
the checks and the export manifest. The ops the engine runs derive from its emitters (``ir.engine_ops``).
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

from edgel3_mote.errors import ExportError
from edgel3_mote.export.ir import WEIGHTED_OPS, Graph, read_tflite

_FLOAT_DTYPES = ("float16", "float32", "float64")


def read_model(tflite_bytes: bytes) -> Graph:
    """The single subgraph of any .tflite: ``export.ir.read_tflite`` with every op and tensor type allowed."""
    return read_tflite(tflite_bytes, supported=None)


def check_int8_opset(info: Graph | bytes, supported: Iterable[str] | None = None) -> Graph:
    """Raise ``ExportError`` listing every op the engine cannot run as an int8 op.

    Problems found: ops outside ``supported``; QUANTIZE not fed by a graph input or
    DEQUANTIZE not producing a graph output (they are allowed at the edges only); any other
    op that reads or writes a float tensor (a float op left in an int8 model).
    """
    if not isinstance(info, Graph):
        info = read_model(info)
    from edgel3_mote.export import ir

    allowed: tuple[str, ...] = tuple(ir.SUPPORTED_OPS if supported is None else supported)
    problems = []
    for op in info.ops:
        if op.name not in allowed:
            problems.append(f"{info.where(op)} (unsupported op)")
            continue
        if op.name == "QUANTIZE":
            if not all(i in info.inputs for i in op.inputs):
                problems.append(f"{info.where(op)} (QUANTIZE inside the graph; allowed only on the input)")
            continue
        if op.name == "DEQUANTIZE":
            if not all(o in info.outputs for o in op.outputs):
                problems.append(f"{info.where(op)} (DEQUANTIZE inside the graph; allowed only on the output)")
            continue
        floats = sorted(
            {info.tensors[i].dtype for i in op.inputs + op.outputs if i >= 0 and info.tensors[i].dtype in _FLOAT_DTYPES}
        )
        if floats:
            problems.append(f"{info.where(op)} (float op: {'/'.join(floats)} tensors)")
    if problems:
        fixes = []
        if any("float op" in p for p in problems):
            fixes.append("convert with full-integer quantisation (edgel3-mote export tflite)")
        if any("float op" not in p for p in problems):
            fixes.append(f"replace those layers with ones that map to {', '.join(allowed)}")
        raise ExportError(
            f"{len(problems)} op(s) the int8 engine cannot run: {'; '.join(problems)}; fix: {' and '.join(fixes)}"
        )
    return info


def check_int8_quantization(info: Graph | bytes) -> Graph:
    """Raise ``ExportError`` unless the model is quantised the way the int8 kernels expect.

    int8 input and output; CONV_2D weights int8, symmetric (zero points 0), per output channel
    (quantized dimension 0, one scale per filter); FULLY_CONNECTED weights int8 symmetric;
    biases int32; every activation int8 with one scale and zero point.
    """
    if not isinstance(info, Graph):
        info = read_model(info)
    problems = []
    for role, ids in (("input", info.inputs), ("output", info.outputs)):
        for i in ids:
            t = info.tensors[i]
            if t.dtype != "int8":
                problems.append(f"graph {role} '{t.name}' is {t.dtype}, not int8")
    for op in info.ops:
        if op.name in WEIGHTED_OPS:
            w = info.tensors[op.inputs[1]]
            if w.dtype != "int8" or not w.is_constant:
                problems.append(
                    f"{info.where(op)}: weights '{w.name}' are {w.dtype}"
                    f"{'' if w.is_constant else ' (not constant)'}, not constant int8"
                )
            elif np.any(w.zero_points != 0):
                problems.append(f"{info.where(op)}: weights '{w.name}' are not symmetric (zero point != 0)")
            elif op.name == "CONV_2D" and (w.quantized_dimension != 0 or len(w.scales) != w.shape[0]):
                problems.append(
                    f"{info.where(op)}: weights '{w.name}' are not per-channel "
                    f"({len(w.scales)} scales for {w.shape[0]} filters)"
                )
            if len(op.inputs) > 2 and op.inputs[2] >= 0:
                b = info.tensors[op.inputs[2]]
                if b.dtype != "int32":
                    problems.append(f"{info.where(op)}: bias '{b.name}' is {b.dtype}, not int32")
        for i in op.outputs:
            t = info.tensors[i]
            if op.name == "DEQUANTIZE":
                continue
            if t.dtype != "int8" or len(t.scales) != 1:
                problems.append(
                    f"{info.where(op)}: activation '{t.name}' is {t.dtype} with "
                    f"{len(t.scales)} scales, not per-tensor int8"
                )
    if problems:
        raise ExportError(f"the converted model is not fully int8 as the engine needs: {'; '.join(problems)}")
    return info


def weight_stats(info: Graph) -> dict:
    """Bytes and nonzero bytes of the weighted ops' constants (weights + biases)."""
    tensors = info.weight_tensors()
    weights = [t for t in tensors if t.constant.ndim > 1]  # kernels (4-D conv, 2-D dense), not 1-D biases
    return {
        "weight_bytes": sum(t.nbytes for t in tensors),
        "nonzero_weight_bytes": sum(int(np.count_nonzero(t.constant)) * np.dtype(t.dtype).itemsize for t in tensors),
        "weight_params": sum(int(t.constant.size) for t in weights),
        "nonzero_weight_params": sum(int(np.count_nonzero(t.constant)) for t in weights),
    }
