"""The graph IR: an int8 .tflite read into plain Python objects.

This is the one contract between the .tflite file and everything the code generator emits:
the planner and the op emitters read a :class:`Graph`, never the flatbuffer. The file is
parsed with the ``tflite`` schema package (generated from TensorFlow's own schema.fbs).

Room to grow without a rewrite:
- ``Op.weight_format`` ('dense' | 'sparse' | 'w16') says how an op's constant weights are stored
  in flash; the code generator chooses it per layer and the emitters dispatch on it.
- How an op is *executed* (whole tensors or row by row through line buffers) is not an IR
  property: the planner decides it (``planner.Plan.groups``), so the IR stays a faithful
  picture of the model.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

from edgel3_mote.errors import ExportError

# Ops the generator can emit today (the kernels in firmware/ implement them).
SUPPORTED_OPS = frozenset(
    {
        "CONV_2D",
        "MAX_POOL_2D",
        "REDUCE_MAX",
        "RESHAPE",
        "FULLY_CONNECTED",
        "QUANTIZE",
        "DEQUANTIZE",
    }
)

WEIGHT_FORMATS = ("dense", "sparse", "w16")  # w16: dense, pre-expanded to int16 (DSP conv)

# tflite.TensorType values -> numpy dtypes (only what int8 models carry).
_DTYPES = {0: "float32", 1: "float16", 2: "int32", 3: "uint8", 4: "int64", 7: "int16", 9: "int8"}
_ACTIVATIONS = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6", 4: "TANH", 5: "SIGN_BIT"}
_PADDINGS = {0: "SAME", 1: "VALID"}


@dataclass
class Tensor:
    """One tensor of the graph. Shapes are as in the file (NHWC, batch included)."""

    id: int
    name: str
    shape: tuple[int, ...]
    dtype: str
    scale: np.ndarray | None = None  # float32 (1,) per-tensor or (C,) per-channel
    zero_point: np.ndarray | None = None  # int64, same length as scale
    quantized_dimension: int = 0
    data: np.ndarray | None = None  # constant contents (shaped), None for activations

    @property
    def is_constant(self) -> bool:
        return self.data is not None

    @property
    def constant(self) -> np.ndarray:
        """The constant contents; an activation (no data) raises ExportError naming the tensor."""
        if self.data is None:
            raise ExportError(f"tensor {self.id} '{self.name}' is an activation where a constant is needed")
        return self.data

    @property
    def size(self) -> int:
        return int(np.prod(self.shape)) if self.shape else 1

    @property
    def nbytes(self) -> int:
        return self.size * np.dtype(self.dtype).itemsize

    @property
    def is_quantized(self) -> bool:
        return self.scale is not None and len(self.scale) > 0

    @property
    def quant(self) -> tuple[float, int]:
        """(scale, zero_point) of a per-tensor quantised tensor; a float tensor raises ExportError naming it."""
        if self.scale is None or self.zero_point is None or len(self.scale) == 0:
            raise ExportError(f"tensor {self.id} '{self.name}' is not quantised where an int8 tensor is needed")
        return float(self.scale[0]), int(self.zero_point[0])

    @property
    def per_channel(self) -> bool:
        return self.scale is not None and len(self.scale) > 1

    @property
    def hwc(self) -> tuple[int, int, int]:
        """(H, W, C) of a 4-D NHWC activation (batch 1); 2-D (1, N) reads as (1, 1, N)."""
        s = self.shape
        if len(s) == 4:
            return s[1], s[2], s[3]
        if len(s) == 2:
            return 1, 1, s[1]
        if len(s) == 3:
            return s[0], s[1], s[2]
        return 1, 1, self.size


@dataclass
class Op:
    """One operator: its kind (the TFLite builtin name), tensor ids and parsed options."""

    index: int
    kind: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    options: dict = field(default_factory=dict)
    weight_format: str = "dense"  # how constant weights are stored ('dense' | 'sparse' | 'w16')

    def __post_init__(self):
        if self.weight_format not in WEIGHT_FORMATS:
            raise ExportError(f"op {self.index}: weight format '{self.weight_format}' is not one of {WEIGHT_FORMATS}")


@dataclass
class Graph:
    tensors: list[Tensor]
    ops: list[Op]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    sha256: str = ""

    def tensor(self, tid: int) -> Tensor:
        return self.tensors[tid]

    def producer(self, tid: int) -> Op | None:
        for op in self.ops:
            if tid in op.outputs:
                return op
        return None

    def consumers(self, tid: int) -> list[Op]:
        return [op for op in self.ops if tid in op.inputs]

    def activation_ids(self) -> list[int]:
        """Tensors that need RAM: every non-constant tensor an op or the graph touches."""
        ids = set(self.inputs) | set(self.outputs)
        for op in self.ops:
            ids |= {t for t in (*op.inputs, *op.outputs) if t >= 0}
        return sorted(t for t in ids if not self.tensors[t].is_constant)

    def layer_name(self, op: Op) -> str:
        """A short, stable name for reports and em_layer_names[]: '<index>_<kind>'."""
        return f"{op.index:02d}_{op.kind.lower()}"


# --------------------------------------------------------------------------------------------
# Reading a .tflite


def _builtin_names() -> dict[int, str]:
    from tflite.BuiltinOperator import BuiltinOperator

    return {v: k for k, v in vars(BuiltinOperator).items() if not k.startswith("_")}


def _options(op_fb, kind: str) -> dict:
    """The builtin options of one operator as a plain dict (only the kinds we know)."""
    import tflite

    table = op_fb.BuiltinOptions()
    if table is None:
        return {}

    def load(cls):
        obj = cls()
        obj.Init(table.Bytes, table.Pos)
        return obj

    if kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        cls = tflite.Conv2DOptions if kind == "CONV_2D" else tflite.DepthwiseConv2DOptions
        o = load(cls)
        opts = {
            "padding": _PADDINGS[o.Padding()],
            "stride_h": o.StrideH(),
            "stride_w": o.StrideW(),
            "dilation_h": o.DilationHFactor(),
            "dilation_w": o.DilationWFactor(),
            "fused_activation": _ACTIVATIONS[o.FusedActivationFunction()],
        }
        if kind == "DEPTHWISE_CONV_2D":
            opts["depth_multiplier"] = o.DepthMultiplier()
        return opts
    if kind in ("MAX_POOL_2D", "AVERAGE_POOL_2D"):
        o = load(tflite.Pool2DOptions)
        return {
            "padding": _PADDINGS[o.Padding()],
            "stride_h": o.StrideH(),
            "stride_w": o.StrideW(),
            "filter_h": o.FilterHeight(),
            "filter_w": o.FilterWidth(),
            "fused_activation": _ACTIVATIONS[o.FusedActivationFunction()],
        }
    if kind == "FULLY_CONNECTED":
        o = load(tflite.FullyConnectedOptions)
        return {
            "fused_activation": _ACTIVATIONS[o.FusedActivationFunction()],
            "keep_num_dims": bool(o.KeepNumDims()),
            "weights_format": int(o.WeightsFormat()),
        }
    if kind == "RESHAPE":
        o = load(tflite.ReshapeOptions)
        return {"new_shape": tuple(int(v) for v in o.NewShapeAsNumpy())} if o.NewShapeLength() else {}
    if kind in ("REDUCE_MAX", "MEAN", "SUM"):
        o = load(tflite.ReducerOptions)
        return {"keep_dims": bool(o.KeepDims())}
    return {}


def _quantization(t_fb) -> tuple[np.ndarray | None, np.ndarray | None, int]:
    q = t_fb.Quantization()
    if q is None or q.ScaleLength() == 0:
        return None, None, 0
    scale = np.asarray(q.ScaleAsNumpy(), dtype=np.float32).reshape(-1)
    zp = (
        np.asarray(q.ZeroPointAsNumpy(), dtype=np.int64).reshape(-1)
        if q.ZeroPointLength()
        else np.zeros(len(scale), np.int64)
    )
    return scale, zp, int(q.QuantizedDimension())


def read_tflite(tflite_bytes: bytes, supported: Iterable[str] | None = SUPPORTED_OPS) -> Graph:
    """Parse a .tflite (single subgraph) into a :class:`Graph`.

    ``supported``: op kinds allowed (default: what the generator emits); any other kind raises
    one ExportError naming all of them. Pass ``None`` to read any model.
    """
    import tflite

    data = bytes(tflite_bytes)
    try:
        model = tflite.Model.GetRootAsModel(data, 0)
        n_sub = model.SubgraphsLength()
    except Exception as exc:  # flatbuffers raises assorted errors on garbage
        raise ExportError(f"not a readable .tflite file ({exc}): pass the model_int8.tflite written by export") from exc
    if n_sub != 1:
        raise ExportError(f"the model has {n_sub} subgraphs; only single-subgraph models can be exported")
    names = _builtin_names()
    sub = model.Subgraphs(0)

    tensors = []
    for i in range(sub.TensorsLength()):
        t = sub.Tensors(i)
        dtype = _DTYPES.get(t.Type())
        if dtype is None:
            raise ExportError(f"tensor {i} ({t.Name().decode()}) has unsupported TFLite type {t.Type()}")
        shape = tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()
        scale, zp, qdim = _quantization(t)
        data_arr = None
        buf = model.Buffers(t.Buffer())
        if buf is not None and buf.DataLength() > 0:
            raw = buf.DataAsNumpy().tobytes()
            data_arr = np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
        elif buf is not None and buf.Offset() > 1:  # large models keep buffers after the flatbuffer
            raw = data[buf.Offset() : buf.Offset() + buf.Size()]
            data_arr = np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
        tensors.append(Tensor(i, t.Name().decode(), shape, dtype, scale, zp, qdim, data_arr))

    ops, unsupported = [], []
    for i in range(sub.OperatorsLength()):
        op_fb = sub.Operators(i)
        code = model.OperatorCodes(op_fb.OpcodeIndex())
        # Codes >= 127 live in BuiltinCode; older files only fill DeprecatedBuiltinCode.
        kind = names.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()), "CUSTOM")
        if kind == "CUSTOM" and code.CustomCode():
            kind = f"CUSTOM:{code.CustomCode().decode()}"
        if supported is not None and kind not in supported:
            unsupported.append(kind)
        ins = tuple(int(v) for v in op_fb.InputsAsNumpy()) if op_fb.InputsLength() else ()
        outs = tuple(int(v) for v in op_fb.OutputsAsNumpy()) if op_fb.OutputsLength() else ()
        ops.append(Op(i, kind, ins, outs, _options(op_fb, kind)))
    if unsupported and supported is not None:  # only a given ``supported`` collects unsupported kinds
        kinds = ", ".join(sorted(set(unsupported)))
        raise ExportError(
            f"the model uses ops the generator does not support: {kinds} "
            f"(supported: {', '.join(sorted(supported))}); change the model or add kernels"
        )

    graph_inputs = tuple(int(v) for v in sub.InputsAsNumpy())
    graph_outputs = tuple(int(v) for v in sub.OutputsAsNumpy())
    return Graph(tensors, ops, graph_inputs, graph_outputs, hashlib.sha256(data).hexdigest())
