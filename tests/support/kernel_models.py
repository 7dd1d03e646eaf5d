"""Random int8 .tflite models for the kernel tests, built with TensorFlow's real converter.

Converting a model costs about a second, so one model holds many independent *branches*
(one graph input -> one op, or a short chain such as MAX_POOL_2D + RESHAPE -> one graph
output), each with its own shapes, weights and quantisation. ``build_model(specs)`` converts
them all at once with full-integer quantisation (int8 in/out, a random representative dataset
per input so zero points vary) and reads every branch back from the flatbuffer (``export.ir``,
the one .tflite reader) into plain numpy: ``Branch.ops[i].filter``, ``.bias``, scales, zero points and
the builtin options. ``OpModel.run_tflm(inputs)`` runs the pinned tflite-micro interpreter:
the oracle the C kernels must match byte for byte.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

import edgel3_mote  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)
from edgel3_mote.atomic import atomic_write_bytes
from edgel3_mote.export.ir import Graph, Op, read_tflite


# ---------------------------------------------------------------------------------------
# What to build
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ConvSpec:
    h: int
    w: int
    in_c: int
    out_c: int
    kernel: tuple[int, int] = (3, 3)
    stride: tuple[int, int] = (1, 1)
    padding: str = "same"
    activation: str | None = None  # None, "relu", "relu6"
    use_bias: bool = True
    dilation: tuple[int, int] = (1, 1)
    input_range: tuple[float, float] = (-1.0, 1.0)
    sparsity: float = 0.0  # fraction of weights set to exactly zero

    @property
    def input_shape(self):
        return (self.h, self.w, self.in_c)


@dataclass(frozen=True)
class PoolSpec:
    h: int
    w: int
    c: int
    pool: tuple[int, int] = (2, 2)
    stride: tuple[int, int] | None = None
    padding: str = "valid"
    input_range: tuple[float, float] = (-1.0, 1.0)

    @property
    def input_shape(self):
        return (self.h, self.w, self.c)


@dataclass(frozen=True)
class GlobalMaxSpec:
    h: int
    w: int
    c: int
    kind: str = "global"  # "global" (GlobalMaxPooling2D) or "pool_flatten" (MaxPooling2D((h,w)) + Flatten)
    input_range: tuple[float, float] = (-1.0, 1.0)

    @property
    def input_shape(self):
        return (self.h, self.w, self.c)


@dataclass(frozen=True)
class DenseSpec:
    in_features: int
    units: int
    activation: str | None = None
    use_bias: bool = True
    rows: int = 0  # > 0: input (rows, in_features), i.e. a batch of rows through one Dense
    input_range: tuple[float, float] = (-1.0, 1.0)

    @property
    def input_shape(self):
        return (self.in_features,)

    @property
    def batch(self) -> int:
        return self.rows or 1


def random_conv_specs(n: int, seed: int) -> tuple[ConvSpec, ...]:
    """``n`` random Conv2D layers: 1x1 / 3x3 / 5x3 / 3x1 / 2x2 kernels, strides 1-2, same / valid,
    no activation / ReLU / ReLU6, bias or not, 1-39 channels in and out, moving zero points."""
    rng = np.random.default_rng(seed)
    specs = []
    for _ in range(n):
        kernel = [(1, 1), (3, 3), (5, 3), (3, 1), (2, 2)][rng.integers(5)]
        stride = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
        lo = float(rng.uniform(-5, 1))
        specs.append(
            ConvSpec(
                int(rng.integers(kernel[0], 14)),
                int(rng.integers(kernel[1], 14)),
                int(rng.integers(1, 40)),
                int(rng.integers(1, 40)),
                kernel,
                stride,
                str(rng.choice(["same", "valid"])),
                [None, "relu", "relu6"][rng.integers(3)],
                bool(rng.integers(2)),
                input_range=(lo, lo + float(rng.uniform(0.05, 8))),
            )
        )
    return tuple(specs)


# ---------------------------------------------------------------------------------------
# What comes back
# ---------------------------------------------------------------------------------------
@dataclass
class QTensor:
    shape: tuple[int, ...]
    scale: np.ndarray  # float32, one per channel or one
    zero_point: np.ndarray  # int64
    data: np.ndarray | None = None  # constant tensors only

    @property
    def scale1(self) -> float:
        return float(self.scale[0])

    @property
    def zp1(self) -> int:
        return int(self.zero_point[0])


@dataclass
class OpInfo:
    op: str  # builtin name: CONV_2D, MAX_POOL_2D, ...
    options: dict
    inputs: list[QTensor | None]
    outputs: list[QTensor]

    @property
    def input(self) -> QTensor:
        return self.inputs[0]

    @property
    def output(self) -> QTensor:
        return self.outputs[0]


@dataclass
class Branch:
    index: int  # position of its spec in build_model's list
    spec: object
    graph_input: int
    graph_output: int
    ops: list[OpInfo] = field(default_factory=list)


@dataclass
class OpModel:
    tflite: bytes
    branches: list[Branch]
    input_details: list[dict]

    def random_inputs(self, rng: np.random.Generator) -> list[np.ndarray]:
        return [
            rng.integers(-128, 128, size=tuple(d["shape"]), dtype=np.int8)
            if d["dtype"] == np.int8
            else rng.uniform(-2, 2, size=tuple(d["shape"])).astype(np.float32)
            for d in self.input_details
        ]

    def run_tflm(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """All graph outputs of the tflite-micro interpreter (a fresh one per call)."""
        from tflite_micro import runtime

        interp = runtime.Interpreter.from_bytes(self.tflite, arena_size=16 * 1024 * 1024)
        for i, x in enumerate(inputs):
            interp.set_input(np.asarray(x).reshape(tuple(self.input_details[i]["shape"])), i)
        interp.invoke()
        n_out = max(b.graph_output for b in self.branches) + 1
        return [np.array(interp.get_output(j), copy=True) for j in range(n_out)]


# ---------------------------------------------------------------------------------------
# Building
# ---------------------------------------------------------------------------------------
def _keras_branch(spec, inp, rng: np.random.Generator):
    import tf_keras as keras

    if isinstance(spec, ConvSpec):
        layer = keras.layers.Conv2D(
            spec.out_c,
            spec.kernel,
            strides=spec.stride,
            padding=spec.padding,
            dilation_rate=spec.dilation,
            activation=spec.activation,
            use_bias=spec.use_bias,
        )
        y = layer(inp)
        fan_in = spec.kernel[0] * spec.kernel[1] * spec.in_c
        kernel = rng.normal(0, 1 / np.sqrt(fan_in), size=layer.kernel.shape)
        kernel *= rng.uniform(0.2, 3.0, size=(1, 1, 1, spec.out_c))  # per-channel scales differ
        if spec.sparsity > 0:
            kernel *= rng.random(kernel.shape) >= spec.sparsity
        weights = [kernel.astype(np.float32)]
        if spec.use_bias:
            weights.append(rng.normal(0, 0.3, size=spec.out_c).astype(np.float32))
        layer.set_weights(weights)
        return y
    if isinstance(spec, PoolSpec):
        return keras.layers.MaxPooling2D(spec.pool, strides=spec.stride, padding=spec.padding)(inp)
    if isinstance(spec, GlobalMaxSpec):
        if spec.kind == "global":
            return keras.layers.GlobalMaxPooling2D()(inp)
        return keras.layers.Flatten()(keras.layers.MaxPooling2D((spec.h, spec.w))(inp))
    if isinstance(spec, DenseSpec):
        layer = keras.layers.Dense(spec.units, activation=spec.activation, use_bias=spec.use_bias)
        y = layer(inp)
        kernel = rng.normal(0, 1 / np.sqrt(spec.in_features), size=layer.kernel.shape)
        kernel *= rng.uniform(0.2, 3.0, size=(1, spec.units))
        weights = [kernel.astype(np.float32)]
        if spec.use_bias:
            weights.append(rng.normal(0, 0.3, size=spec.units).astype(np.float32))
        layer.set_weights(weights)
        return y
    raise TypeError(f"unknown spec {spec!r}")


def build_model(
    specs: Sequence, seed: int = 0, float_io: bool = False, per_channel_dense: bool = True, n_calibration: int = 16
) -> OpModel:
    """Convert one multi-branch Keras model (one branch per spec) to int8 and read it back."""
    import tensorflow as tf
    import tf_keras as keras

    rng = np.random.default_rng(seed)
    batch = [getattr(s, "batch", 1) for s in specs]
    inputs = [
        keras.Input(s.input_shape, batch_size=b, name=f"in_{i:03d}") for i, (s, b) in enumerate(zip(specs, batch))
    ]
    outputs = [_keras_branch(s, inp, rng) for s, inp in zip(specs, inputs)]
    model = keras.Model(inputs, outputs)
    # A concrete function converts ~5x faster than from_keras_model's SavedModel round trip.
    signature = [
        tf.TensorSpec((b, *s.input_shape), tf.float32, name=f"in_{i:03d}") for i, (s, b) in enumerate(zip(specs, batch))
    ]
    function = tf.function(lambda *xs: model(list(xs))).get_concrete_function(*signature)

    def representative():
        for _ in range(n_calibration):
            # A dict keyed by input name: the converter orders the inputs its own way.
            yield {
                f"in_{i:03d}": rng.uniform(*s.input_range, size=(b, *s.input_shape)).astype(np.float32)
                for i, (s, b) in enumerate(zip(specs, batch))
            }

    conv = tf.lite.TFLiteConverter.from_concrete_functions([function], model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = representative
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if not float_io:
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
    conv._experimental_disable_per_channel_quantization_for_dense_layers = not per_channel_dense
    tflite_bytes = bytes(conv.convert())
    return read_model(tflite_bytes, specs)


# ---------------------------------------------------------------------------------------
# Reading back (export.ir.read_tflite, the one .tflite reader)
# ---------------------------------------------------------------------------------------
def _qtensor(graph: Graph, index: int) -> QTensor | None:
    if index < 0:
        return None
    t = graph.tensor(index)
    scale = t.scale if t.scale is not None else np.zeros(0, np.float32)
    zp = t.zero_point if t.zero_point is not None else np.zeros(0, np.int64)
    return QTensor(t.shape, scale, zp, t.data)


def _options(op: Op) -> dict:
    """The builtin options in the names the argument derivations below use."""
    o = op.options
    if not o:
        return {}
    if op.kind == "CONV_2D":
        return {
            "stride": (o["stride_h"], o["stride_w"]),
            "dilation": (o["dilation_h"], o["dilation_w"]),
            "padding": o["padding"],
            "activation": o["fused_activation"],
        }
    if op.kind in ("MAX_POOL_2D", "AVERAGE_POOL_2D"):
        return {
            "stride": (o["stride_h"], o["stride_w"]),
            "filter": (o["filter_h"], o["filter_w"]),
            "padding": o["padding"],
            "activation": o["fused_activation"],
        }
    if op.kind == "FULLY_CONNECTED":
        return {"activation": o["fused_activation"], "keep_num_dims": o["keep_num_dims"]}
    if op.kind in ("REDUCE_MAX", "MEAN", "SUM"):
        return {"keep_dims": o["keep_dims"]}
    return {}


def read_model(tflite_bytes: bytes, specs: Sequence) -> OpModel:
    """Split a converted multi-branch model back into its branches."""
    graph = read_tflite(tflite_bytes, supported=None)
    graph_inputs = list(graph.inputs)
    graph_outputs = list(graph.outputs)
    producer = {}
    ops = []
    for op in graph.ops:
        info = OpInfo(
            op.kind,
            _options(op),
            [_qtensor(graph, t) for t in op.inputs],
            [_qtensor(graph, t) for t in op.outputs],
        )
        ops.append((info, list(op.inputs), list(op.outputs)))
        for t in op.outputs:
            producer[t] = len(ops) - 1

    branches = []
    for out_pos, t_out in enumerate(graph_outputs):
        chain = []
        t = t_out
        while t in producer:  # walk back to a graph input
            info, ins, _ = ops[producer[t]]
            chain.insert(0, info)
            t = ins[0]
        in_name = graph.tensor(t).name
        out_name = graph.tensor(t_out).name
        m = re.search(r"in_(\d{3})", in_name)
        if m is None or t not in graph_inputs:
            raise ValueError(f"cannot trace output {out_name} back to a named graph input")
        idx = int(m.group(1))
        branches.append(Branch(idx, specs[idx], graph_inputs.index(t), out_pos, chain))
    branches.sort(key=lambda b: b.index)

    input_details = [{"shape": graph.tensor(t).shape, "dtype": np.dtype(graph.tensor(t).dtype)} for t in graph_inputs]
    return OpModel(tflite_bytes, branches, input_details)


# ---------------------------------------------------------------------------------------
# Kernel arguments, derived from the .tflite as the code generator derives them
# ---------------------------------------------------------------------------------------
def conv_args(op: OpInfo) -> dict:
    """Arguments of ``KernelLib.conv2d`` for a CONV_2D op (quantisation via export.quant_params)."""
    from edgel3_mote.export import quant_params as qp

    assert op.op == "CONV_2D", op.op
    x, f, b = op.inputs[0], op.inputs[1], op.inputs[2] if len(op.inputs) > 2 else None
    y = op.output
    _, in_h, in_w, in_c = x.shape
    _, out_h, out_w, out_c = y.shape
    _, kh, kw, _ = f.shape
    (sh, sw), (dh, dw) = op.options["stride"], op.options["dilation"]
    out_h2, pad_top = qp.out_size_and_padding(in_h, kh, sh, dh, op.options["padding"])
    out_w2, pad_left = qp.out_size_and_padding(in_w, kw, sw, dw, op.options["padding"])
    assert (out_h2, out_w2) == (out_h, out_w)
    mult, shift = qp.conv_multipliers(x.scale1, f.scale, y.scale1)
    act_min, act_max = qp.activation_range(op.options["activation"], y.scale1, y.zp1)
    params = dict(
        stride_h=sh,
        stride_w=sw,
        pad_top=pad_top,
        pad_left=pad_left,
        dilation_h=dh,
        dilation_w=dw,
        input_offset=-x.zp1,
        output_offset=y.zp1,
        activation_min=act_min,
        activation_max=act_max,
    )
    return dict(
        in_shape=(in_h, in_w, in_c),
        filt=f.data,
        bias=None if b is None else b.data,
        mult=mult,
        shift=shift,
        params=params,
        out_shape=(out_h, out_w, out_c),
    )


def pool_args(op: OpInfo) -> dict:
    from edgel3_mote.export import quant_params as qp

    assert op.op == "MAX_POOL_2D", op.op
    x, y = op.input, op.output
    _, in_h, in_w, c = x.shape
    _, out_h, out_w, _ = y.shape
    (sh, sw), (fh, fw) = op.options["stride"], op.options["filter"]
    _, pad_top = qp.out_size_and_padding(in_h, fh, sh, 1, op.options["padding"])
    _, pad_left = qp.out_size_and_padding(in_w, fw, sw, 1, op.options["padding"])
    act_min, act_max = qp.activation_range(op.options["activation"], y.scale1, y.zp1)
    params = dict(
        stride_h=sh,
        stride_w=sw,
        filter_h=fh,
        filter_w=fw,
        pad_top=pad_top,
        pad_left=pad_left,
        activation_min=act_min,
        activation_max=act_max,
    )
    return dict(in_shape=(in_h, in_w, c), params=params, out_shape=(out_h, out_w, c))


def fc_args(op: OpInfo) -> dict:
    from edgel3_mote.export import quant_params as qp

    assert op.op == "FULLY_CONNECTED", op.op
    x, f, b = op.inputs[0], op.inputs[1], op.inputs[2] if len(op.inputs) > 2 else None
    y = op.output
    if f.scale.size > 1:
        mult, shift = qp.conv_multipliers(x.scale1, f.scale, y.scale1)
    else:
        m, s = qp.fc_multiplier(x.scale1, f.scale1, y.scale1)
        mult, shift = np.array([m], np.int32), np.array([s], np.int32)
    act_min, act_max = qp.activation_range(op.options["activation"], y.scale1, y.zp1)
    params = dict(
        input_offset=-x.zp1,
        filter_offset=-int(f.zero_point[0]),
        output_offset=y.zp1,
        activation_min=act_min,
        activation_max=act_max,
    )
    return dict(filt=f.data, bias=None if b is None else b.data, mult=mult, shift=shift, params=params)


CACHE_DIR = Path(
    os.environ.get("EDGEL3_MOTE_KERNEL_MODEL_CACHE", Path(tempfile.gettempdir()) / "edgel3-mote-kernel-models")
)


@functools.lru_cache(maxsize=None)
def cached_model(specs: tuple, seed: int = 0, float_io: bool = False, per_channel_dense: bool = True) -> OpModel:
    """``build_model`` once per process, and its .tflite kept on disk between runs.

    The disk key covers the specs, the options, the TensorFlow version and this file's source,
    so a change to any of them converts afresh; the branches are always re-read from the bytes.
    """
    from importlib.metadata import version

    key = hashlib.sha256(
        repr((specs, seed, float_io, per_channel_dense, version("tensorflow"))).encode() + Path(__file__).read_bytes()
    ).hexdigest()[:20]
    path = CACHE_DIR / f"{key}.tflite"
    if path.exists():
        return read_model(path.read_bytes(), list(specs))
    model = build_model(list(specs), seed=seed, float_io=float_io, per_channel_dense=per_channel_dense)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, model.tflite)
    return model
