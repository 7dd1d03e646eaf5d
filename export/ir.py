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
from typing import Iterable, Literal

import numpy as np

from edgel3_mote.errors import ExportError

# The ops the engine runs are the ones it has an emitter for (export/codegen/ops: ``engine_ops()``, THE list);
# the int8 opset check (export.opset) also allows these at the graph's edges: ``SUPPORTED_OPS`` = both.
EDGE_OPS = ("QUANTIZE", "DEQUANTIZE")
# Ops with weights: the ones whose constant inputs count as "weight bytes".
WEIGHTED_OPS = ("CONV_2D", "FULLY_CONNECTED")
# Ops whose fused activation the export manifest records per layer.
_FUSED_ACTIVATION_OPS = ("CONV_2D", "MAX_POOL_2D", "FULLY_CONNECTED")

WEIGHT_FORMATS = ("dense", "sparse", "w16")  # w16: dense, pre-expanded to int16 (DSP conv)

# tflite.TensorType values -> numpy dtype names: what an int8 model may carry (the generator's read) ...
_DTYPES = {0: "float32", 1: "float16", 2: "int32", 3: "uint8", 4: "int64", 7: "int16", 9: "int8"}
# ... and the further types a converted model can carry (read with supported=None).
_ANY_DTYPES = {**_DTYPES, 5: "string", 6: "bool", 10: "float64", 17: "int4"}
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
    def index(self) -> int:
        """The tensor's index in the subgraph (its ``id``)."""
        return self.id

    @property
    def scales(self) -> np.ndarray:
        """The quantisation scales (empty when the tensor is not quantised)."""
        return self.scale if self.scale is not None else np.zeros(0, np.float32)

    @property
    def zero_points(self) -> np.ndarray:
        """The quantisation zero points (empty when the tensor is not quantised)."""
        return self.zero_point if self.zero_point is not None else np.zeros(0, np.int64)

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

    @property
    def name(self) -> str:
        """The builtin op name (``kind``), e.g. CONV_2D."""
        return self.kind

    @property
    def fused_activation(self) -> str | None:
        """The fused activation the manifest records (conv, max pool, fully connected), else None."""
        return self.options.get("fused_activation") if self.kind in _FUSED_ACTIVATION_OPS else None


@dataclass
class Graph:
    tensors: list[Tensor]
    ops: list[Op]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    sha256: str = ""
    # Graph outputs lose their layer name ('StatefulPartitionedCall:0'); the exporter, which
    # knows the Keras model, fills this in: tensor index -> Keras layer name.
    output_layers: dict[int, str] = field(default_factory=dict)

    def where(self, op: Op) -> str:
        """How an error names an op: its index and its output tensor (which carries the layer name)."""
        if not op.outputs:
            return f"#{op.index} {op.kind}"
        out = op.outputs[0]
        layer = f" (Keras layer {self.output_layers[out]})" if out in self.output_layers else ""
        return f"#{op.index} {op.kind} -> '{self.tensors[out].name}'{layer}"

    @property
    def op_names(self) -> list[str]:
        return [op.kind for op in self.ops]

    def weight_tensors(self) -> list[Tensor]:
        """Constant inputs (weights and biases) of the weighted ops, each counted once."""
        seen: dict[int, Tensor] = {}
        for op in self.ops:
            if op.kind in WEIGHTED_OPS:
                for i in op.inputs[1:]:
                    if i >= 0 and self.tensors[i].is_constant:
                        seen.setdefault(i, self.tensors[i])
        return list(seen.values())

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
# Reading a .tflite -- the one place the flatbuffer schema is read (tests/test_one_tflite_reader.py)


def _op_kind(code) -> str:
    """The builtin name of an operator code (``CUSTOM(name)`` for custom ops, ``UNKNOWN_<n>`` past the schema)."""
    import tflite

    # Schema >= 2.3 keeps codes > 127 in BuiltinCode; older files only fill DeprecatedBuiltinCode (saturated at 127).
    opcode = max(int(code.BuiltinCode()), int(code.DeprecatedBuiltinCode()))
    if opcode == tflite.BuiltinOperator.CUSTOM:
        custom = code.CustomCode()
        return f"CUSTOM({custom.decode() if custom else '?'})"
    return tflite.BUILTIN_OPCODE2NAME.get(opcode, f"UNKNOWN_{opcode}")


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
            "fused_activation": _ACTIVATIONS.get(o.FusedActivationFunction(), "?"),
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
            "fused_activation": _ACTIVATIONS.get(o.FusedActivationFunction(), "?"),
        }
    if kind == "FULLY_CONNECTED":
        o = load(tflite.FullyConnectedOptions)
        return {
            "fused_activation": _ACTIVATIONS.get(o.FusedActivationFunction(), "?"),
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


def _constant(data: bytes, buf, i: int, name: str, dtype: str, shape: tuple[int, ...], strict: bool):
    """The contents of a constant tensor (shaped), or None for an activation or a type numpy cannot hold."""
    if buf is not None and buf.DataLength() > 0:
        raw = buf.DataAsNumpy().tobytes()
    elif buf is not None and buf.Offset() > 1:  # large models keep buffers after the flatbuffer
        raw = data[buf.Offset() : buf.Offset() + buf.Size()]
    else:
        return None
    if dtype not in np.sctypeDict:  # string / int4 (read with supported=None only)
        return None
    arr = np.frombuffer(raw, dtype=dtype)
    if arr.size != (int(np.prod(shape)) if shape else 1):
        if strict:
            raise ExportError(f"tensor {i} ({name}) holds {arr.size} values for shape {shape}: sparse or corrupt")
        return arr.copy()  # e.g. a sparse-encoded tensor: kept flat
    return arr.reshape(shape).copy()


def engine_ops() -> tuple[str, ...]:
    """The op kinds the generated engine runs: one per emitter (``export.codegen.ops.EMITTERS``)."""
    from edgel3_mote.export.codegen.ops import EMITTERS

    return tuple(EMITTERS)


def __getattr__(name: str):
    """``SUPPORTED_OPS``: the engine's ops and the edge ops, derived on use (codegen imports this module)."""
    if name == "SUPPORTED_OPS":
        return (*engine_ops(), *EDGE_OPS)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def read_tflite(tflite_bytes: bytes, supported: Iterable[str] | None | Literal["engine"] = "engine") -> Graph:
    """Parse a .tflite (single subgraph) into a :class:`Graph`: THE reader of the flatbuffer.

    ``supported``: op kinds allowed (default "engine": ``SUPPORTED_OPS``, what the generator emits
    and the edge ops); any other kind raises
    one ExportError naming all of them, and so does a tensor type outside the int8 model's
    (float32/16, int8/16/32/64, uint8). Pass ``None`` to read any model: every op and tensor
    type is read (types numpy cannot hold, string and int4, carry no ``data``; a constant whose
    size does not match its shape, e.g. a sparse-encoded one, is kept flat) -- what
    ``export.opset`` checks user models with.
    """
    import tflite

    if isinstance(supported, str):
        supported = (*engine_ops(), *EDGE_OPS)
    data = bytes(tflite_bytes)
    strict = supported is not None
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise ExportError("this is not a TFLite flatbuffer (no 'TFL3' identifier): give a .tflite file")
    try:
        model = tflite.Model.GetRootAsModel(data, 0)
        n_sub = model.SubgraphsLength()
    except Exception as exc:  # flatbuffers raises assorted errors on garbage
        raise ExportError(f"not a readable .tflite file ({exc}): pass the model_int8.tflite written by export") from exc
    if n_sub != 1:
        raise ExportError(
            f"the model has {n_sub} subgraphs: the engine runs exactly one (no control flow); "
            f"export a plain feed-forward network"
        )
    sub = model.Subgraphs(0)

    tensors = []
    dtypes = _DTYPES if strict else _ANY_DTYPES
    for i in range(sub.TensorsLength()):
        t = sub.Tensors(i)
        name = (t.Name() or b"").decode()
        dtype = dtypes.get(t.Type())
        if dtype is None and strict:
            raise ExportError(f"tensor {i} ({name}) has unsupported TFLite type {t.Type()}")
        dtype = dtype or f"type{t.Type()}"
        shape = tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()
        scale, zp, qdim = _quantization(t)
        data_arr = _constant(data, model.Buffers(t.Buffer()), i, name, dtype, shape, strict)
        tensors.append(Tensor(i, name, shape, dtype, scale, zp, qdim, data_arr))

    ops, unsupported = [], []
    for i in range(sub.OperatorsLength()):
        op_fb = sub.Operators(i)
        kind = _op_kind(model.OperatorCodes(op_fb.OpcodeIndex()))
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

    graph_inputs = tuple(int(v) for v in sub.InputsAsNumpy()) if sub.InputsLength() else ()
    graph_outputs = tuple(int(v) for v in sub.OutputsAsNumpy()) if sub.OutputsLength() else ()
    return Graph(tensors, ops, graph_inputs, graph_outputs, hashlib.sha256(data).hexdigest())


# --------------------------------------------------------------------------------------------
# Producing a patched .tflite


def with_tensor_quantization(tflite_bytes: bytes, tensor_id: int, scale: float, zero_point: int) -> bytes:
    """A copy of the model in which tensor ``tensor_id`` is quantised per tensor as ``(scale, zero_point)``.

    The model is unpacked into the schema's object API (``ModelT``, by TensorFlow's own
    ``tensorflow.lite.tools.flatbuffer_utils``), that one tensor's quantisation parameters are
    replaced, and the whole model is packed again with ``flatbuffers.Builder``: the bytes are laid
    out anew, everything else in them means the same (tests/export/test_ir_patch.py holds that
    TFLite Micro gives identical outputs and :func:`read_tflite` the same graph). ``scale`` is
    stored as float32, as the schema holds it. The tensor must already be quantised per tensor.
    """
    from tensorflow.lite.tools import flatbuffer_utils

    graph = read_tflite(tflite_bytes, supported=None)
    if not 0 <= tensor_id < len(graph.tensors):
        raise ExportError(f"tensor {tensor_id} is not in the model (it has {len(graph.tensors)} tensors)")
    t = graph.tensor(tensor_id)
    if t.scale is None or len(t.scale) != 1:
        raise ExportError(f"tensor {tensor_id} '{t.name}' is not quantised per tensor: no scale to replace")
    if not -128 <= int(zero_point) <= 255:
        raise ExportError(f"zero point {zero_point} of tensor {tensor_id} '{t.name}' is outside int8/uint8")
    model = flatbuffer_utils.read_model_from_bytearray(bytearray(tflite_bytes))
    quant = model.subgraphs[0].tensors[tensor_id].quantization
    quant.scale = [float(np.float32(scale))]
    quant.zeroPoint = [int(zero_point)]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))
