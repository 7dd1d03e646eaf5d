"""Models the code-generator tests convert to int8 .tflite (cached once per test session).

Imported by tests/export/test_ir_*.py, test_planner_*.py and test_engine_host_*.py (pytest puts
this folder on sys.path). Conversion is full-integer int8 with int8 input and output, as the
export step does.
"""

from __future__ import annotations

import ctypes
import functools
import glob
from pathlib import Path

import numpy as np

import edgel3_mote  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)

REPO = Path(__file__).resolve().parents[2]
KERNEL_SOURCES = sorted(glob.glob(str(REPO / "firmware" / "kernels" / "*.c")))
HOST_TICKS_C = """#include <stdint.h>
static uint32_t em_host_ticks;
uint32_t em_board_ticks(void) { return em_host_ticks += 7u; }
"""


def convert_int8(model, n_calibration: int = 16, seed: int = 0) -> bytes:
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    shape = (1, *model.input_shape[1:])

    def representative():
        for _ in range(n_calibration):
            yield [rng.standard_normal(shape).astype(np.float32)]

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = representative
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    return conv.convert()


@functools.lru_cache(maxsize=None)
def sea64_tflite() -> bytes:
    """The SEA-64 backbone (64x50x1 -> 64) with seeded random weights, int8."""
    from edgel3_mote.compress.models.registry import build_model

    return convert_int8(build_model("sea-64", include_frontend=False, seed=0))


@functools.lru_cache(maxsize=None)
def _prune_convs(model, keep: tuple[float, ...], seed: int) -> None:
    """Zero each Conv2D's weights at random, keeping the fraction keep[i] of conv i (bias + 0.05)."""
    from tf_keras import layers as L

    rng = np.random.default_rng(seed)
    convs = [layer for layer in model.layers if isinstance(layer, L.Conv2D)]
    for layer, fraction in zip(convs, keep, strict=True):
        kernel, bias = layer.get_weights()
        layer.set_weights([kernel * (rng.random(kernel.shape) < fraction), bias + 0.05])


def small_tflite(name: str) -> bytes:
    """Small multi-op models covering the emitters and odd streaming geometry."""
    import tf_keras as keras

    keras.utils.set_random_seed(3)
    L = keras.layers
    if name == "chain_odd":
        # conv same s1 -> conv valid s2 (relu6) -> maxpool 3x3 s2 same -> conv 1x1 -> global max -> dense
        inp = keras.Input((23, 13, 3))
        x = L.Conv2D(8, 3, padding="same", activation="relu")(inp)
        x = L.Conv2D(12, 3, strides=2, padding="valid")(x)
        x = L.ReLU(max_value=6.0)(x)
        x = L.MaxPooling2D(3, strides=2, padding="same")(x)
        x = L.Conv2D(16, 1)(x)
        x = L.GlobalMaxPooling2D()(x)
        x = L.Dense(10)(x)
        model = keras.Model(inp, x)
    elif name == "flatten_dense":
        # conv 5x3 same -> maxpool 2x2 (odd H) -> flatten -> dense relu -> dense
        inp = keras.Input((9, 7, 2))
        x = L.Conv2D(6, (5, 3), padding="same", activation="relu")(inp)
        x = L.MaxPooling2D(2)(x)
        x = L.Flatten()(x)
        x = L.Dense(20, activation="relu")(x)
        x = L.Dense(5)(x)
        model = keras.Model(inp, x)
    elif name == "global_pool":
        # conv -> conv -> MaxPool over the whole map (folded row by row when streamed) -> flatten
        inp = keras.Input((12, 10, 2))
        x = L.Conv2D(8, 3, padding="same", activation="relu")(inp)
        x = L.Conv2D(8, 3, padding="same", activation="relu")(x)
        x = L.MaxPooling2D((12, 10))(x)
        x = L.Flatten()(x)
        model = keras.Model(inp, x)
    elif name == "pruned":
        # EdgeL3-style pruned convs (about 85 % zeros; one layer entirely pruned), streamable chain
        inp = keras.Input((16, 12, 4))
        x = L.Conv2D(16, 3, padding="same", activation="relu")(inp)
        x = L.Conv2D(16, 3, padding="same", activation="relu")(x)
        x = L.MaxPooling2D(2)(x)
        x = L.Conv2D(8, 1, activation="relu")(x)
        x = L.GlobalMaxPooling2D()(x)
        model = keras.Model(inp, x)
        _prune_convs(model, keep=(0.15, 0.15, 0.0), seed=5)
    elif name == "half_pruned":
        # 50 % zeros (a 3x3 conv wide enough for the w16 path to beat the sparse kernel) and 95 % zeros
        inp = keras.Input((24, 24, 16))
        x = L.Conv2D(32, 3, padding="same", activation="relu")(inp)
        x = L.Conv2D(32, 3, padding="same", activation="relu")(x)
        x = L.GlobalMaxPooling2D()(x)
        model = keras.Model(inp, x)
        _prune_convs(model, keep=(0.5, 0.05), seed=7)
    elif name == "mixed":
        # issue 18's mixed engine where flash has wait states: a dense conv on 4 channels (tiled), one on 32
        # (Winograd), a 95 %-pruned one (sparse) and a 1x1 conv on a one-pixel-wide map (dense int8: expanding
        # per row would cost more than reading flash)
        inp = keras.Input((16, 12, 4))
        x = L.Conv2D(32, 3, padding="same", activation="relu")(inp)
        x = L.Conv2D(32, 3, padding="same", activation="relu")(x)
        x = L.Conv2D(16, 3, padding="same", activation="relu")(x)
        x = L.MaxPooling2D((2, 12))(x)
        x = L.Conv2D(12, 1, activation="relu")(x)
        x = L.GlobalMaxPooling2D()(x)
        model = keras.Model(inp, x)
        _prune_convs(model, keep=(1.0, 1.0, 0.05, 1.0), seed=9)
    elif name == "unsupported":
        inp = keras.Input((8, 8, 2))
        x = L.Conv2D(4, 3, padding="same")(inp)
        x = L.AveragePooling2D(2)(x)
        x = L.DepthwiseConv2D(3)(x)
        model = keras.Model(inp, x)
    else:
        raise KeyError(name)
    return convert_int8(model)


def build_engine_lib(engine_dir: Path, tmp_dir: Path, *, dsp: bool, name: str):
    """Compile a generated engine + the kernels + a host em_board_ticks into a ctypes library."""
    from edgel3_mote.export.hostbuild import load_shared

    ticks = Path(tmp_dir) / "host_ticks.c"
    ticks.write_text(HOST_TICKS_C)
    sources = [engine_dir / "model_engine.c", engine_dir / "model_weights.c", *KERNEL_SOURCES, ticks]
    lib = load_shared(sources, include_dirs=[engine_dir], defines={"EM_USE_DSP": 1} if dsp else None, name=name)
    lib.em_model_input.restype = ctypes.POINTER(ctypes.c_int8)
    lib.em_model_scratch.restype = ctypes.c_void_p
    lib.em_model_scratch.argtypes = [ctypes.POINTER(ctypes.c_uint32)]
    return lib


def engine_invoke(lib, x: np.ndarray, output_bytes: int, n_layers: int) -> tuple[int, np.ndarray, np.ndarray]:
    """Write x to em_model_input(), invoke; returns (status, output int8, layer ticks)."""
    x = np.ascontiguousarray(x, dtype=np.int8)
    ctypes.memmove(lib.em_model_input(), x.ctypes.data, x.size)
    out = (ctypes.c_int8 * output_bytes)()
    ticks = (ctypes.c_uint32 * n_layers)()
    rc = lib.em_model_invoke(out, ticks)
    return rc, np.frombuffer(bytes(out), np.int8).copy(), np.array(ticks, dtype=np.uint32)


# --------------------------------------------------------------------------------------------
# Synthetic IR graphs (shapes only, no TensorFlow): for planner tests on big models


def synthetic_conv_graph(input_hwc, layers):
    """A Graph of 'same' 3x3 convs and VALID max-pools; layers: ('conv', filters) | ('pool', (fh, fw)).

    Ends with a RESHAPE to (1, C) as the converter emits for Flatten. Constant filters are
    zero-strided views (no memory), enough for planning.
    """
    from edgel3_mote.export.ir import Graph, Op, Tensor

    tensors, ops = [], []

    def add(shape, dtype="int8", const=False, name=None):
        data = np.broadcast_to(np.zeros((), dtype), shape) if const else None
        tensors.append(
            Tensor(
                len(tensors),
                name or f"t{len(tensors)}",
                tuple(shape),
                dtype,
                np.ones(1, np.float32),
                np.zeros(1, np.int64),
                0,
                data,
            )
        )
        return len(tensors) - 1

    h, w, c = input_hwc
    x = add((1, h, w, c), name="input")
    graph_input = x
    for kind, arg in layers:
        if kind == "conv":
            f = add((arg, 3, 3, c), const=True)
            b = add((arg,), "int32", const=True)
            y = add((1, h, w, arg))
            ops.append(
                Op(
                    len(ops),
                    "CONV_2D",
                    (x, f, b),
                    (y,),
                    {
                        "padding": "SAME",
                        "stride_h": 1,
                        "stride_w": 1,
                        "dilation_h": 1,
                        "dilation_w": 1,
                        "fused_activation": "RELU",
                    },
                )
            )
            c = arg
        else:
            fh, fw = arg
            h, w = h // fh, w // fw
            y = add((1, h, w, c))
            ops.append(
                Op(
                    len(ops),
                    "MAX_POOL_2D",
                    (x,),
                    (y,),
                    {
                        "padding": "VALID",
                        "stride_h": fh,
                        "stride_w": fw,
                        "filter_h": fh,
                        "filter_w": fw,
                        "fused_activation": "NONE",
                    },
                )
            )
        x = y
    shape_t = add((2,), "int32", const=True)
    out = add((1, h * w * c), name="output")
    ops.append(Op(len(ops), "RESHAPE", (x, shape_t), (out,), {}))
    return Graph(tensors, ops, (graph_input,), (out,))


SEA64_LAYERS = [
    ("conv", 32),
    ("conv", 32),
    ("pool", (2, 2)),
    ("conv", 64),
    ("conv", 64),
    ("pool", (2, 2)),
    ("conv", 128),
    ("conv", 128),
    ("pool", (2, 2)),
    ("conv", 64),
    ("conv", 64),
    ("pool", (8, 6)),
]
L3_LAYERS = [
    ("conv", 64),
    ("conv", 64),
    ("pool", (2, 2)),
    ("conv", 128),
    ("conv", 128),
    ("pool", (2, 2)),
    ("conv", 256),
    ("conv", 256),
    ("pool", (2, 2)),
    ("conv", 512),
    ("conv", 512),
    ("pool", (32, 24)),
]
