"""The TFLite Micro runtime: a project that runs the .tflite under TFLM + CMSIS-NN instead of the engine.

``export firmware --runtime tflm`` writes, in place of the generated engine (``export.codegen``):

- ``src/model_data.h/.c``: the .tflite as a 16-byte aligned C array (``export.carrays``);
- ``src/model_engine.h``: the same contract the engine's header is (``em_model_input/scratch/invoke``,
  ``EM_*`` macros, ``em_layer_names``), so the apps, the front-end and the serial protocol are unchanged;
- ``src/em_tflm_model.h``: a ``MicroMutableOpResolver<N>`` with exactly the model's operators, the
  arena size and the per-operator names;
- the port under ``firmware/runtimes/tflm/`` (copied): the interpreter glue, the board timer behind
  ``tflite::GetCurrentTimeTicks()``, ``DebugLog`` and a profiler that fills ``layer_ticks``.

TFLM and CMSIS-NN are compiled from ``TFLM_PATH`` (env; default ``../shared/third_party/tflm`` beside
the repository), never copied: only the framework and the kernels the resolver needs. Their objects
go to a cache keyed by the tree (every file's path, size and mtime) and the compile flags
(:func:`tflm_build`), shared by every project on the machine, so ``make test`` compiles them once.

The arena: ``arena_used_bytes`` as the ``tflite-micro`` wheel measures it on the host (reference kernels,
64-bit pointers: more than the 32-bit target needs) plus the largest scratch buffer a CMSIS-NN kernel
asks for beyond the reference kernels' and TFLM's 16-byte alignment (:func:`tflm_arena_plan`). The target
prints what it really used (``tflm: arena_used_bytes``) at start-up.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from edgel3_mote.errors import ExportError, InvalidInputError
from edgel3_mote.export.boards import FIRMWARE_DIR, BoardSpec

REPO = FIRMWARE_DIR.parent
RUNTIMES = ("engine", "tflm")
PORT_DIR = FIRMWARE_DIR / "runtimes" / "tflm"
TEMPLATE_DIR = Path(__file__).resolve().parent / "templates" / "tflm"
DEFAULT_TFLM_CACHE = Path("build") / ".cache" / "tflm"
ARENA_ALIGNMENT = 16  # MicroAllocator aligns the arena's head and tail to 16 bytes

_K = "tensorflow/lite/micro/kernels"
_C = f"{_K}/cmsis_nn"
_NN = "third_party/cmsis_nn/Source"
# builtin op -> (MicroMutableOpResolver method, the kernel sources it needs, CMSIS-NN source folders)
OPS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "CONV_2D": ("AddConv2D", (f"{_C}/conv.cc", f"{_K}/conv_common.cc"), ("ConvolutionFunctions",)),
    "DEPTHWISE_CONV_2D": (
        "AddDepthwiseConv2D",
        (f"{_C}/depthwise_conv.cc", f"{_K}/depthwise_conv_common.cc"),
        ("ConvolutionFunctions",),
    ),
    "FULLY_CONNECTED": (
        "AddFullyConnected",
        (f"{_C}/fully_connected.cc", f"{_K}/fully_connected_common.cc"),
        ("FullyConnectedFunctions",),
    ),
    "MAX_POOL_2D": ("AddMaxPool2D", (f"{_C}/pooling.cc", f"{_K}/pooling_common.cc"), ("PoolingFunctions",)),
    "AVERAGE_POOL_2D": ("AddAveragePool2D", (f"{_C}/pooling.cc", f"{_K}/pooling_common.cc"), ("PoolingFunctions",)),
    "SOFTMAX": ("AddSoftmax", (f"{_C}/softmax.cc", f"{_K}/softmax_common.cc"), ("SoftmaxFunctions",)),
    "RESHAPE": ("AddReshape", (f"{_K}/reshape.cc", f"{_K}/reshape_common.cc"), ()),
    "MEAN": ("AddMean", (f"{_K}/reduce.cc", f"{_K}/reduce_common.cc"), ()),
    "REDUCE_MAX": ("AddReduceMax", (f"{_K}/reduce.cc", f"{_K}/reduce_common.cc"), ()),
    "SUM": ("AddSum", (f"{_K}/reduce.cc", f"{_K}/reduce_common.cc"), ()),
    "QUANTIZE": ("AddQuantize", (f"{_K}/quantize.cc", f"{_K}/quantize_common.cc"), ()),
    "DEQUANTIZE": ("AddDequantize", (f"{_K}/dequantize.cc", f"{_K}/dequantize_common.cc"), ()),
    "PAD": ("AddPad", (f"{_C}/pad.cc", f"{_K}/pad_common.cc"), ("PadFunctions",)),
    "ADD": ("AddAdd", (f"{_C}/add.cc", f"{_K}/add_common.cc"), ("BasicMathFunctions",)),
    "MUL": ("AddMul", (f"{_C}/mul.cc", f"{_K}/mul_common.cc"), ("BasicMathFunctions",)),
    "RELU": ("AddRelu", (f"{_K}/activations.cc", f"{_K}/activations_common.cc"), ()),
    "RELU6": ("AddRelu6", (f"{_K}/activations.cc", f"{_K}/activations_common.cc"), ()),
    "LOGISTIC": ("AddLogistic", (f"{_K}/logistic.cc", f"{_K}/logistic_common.cc"), ()),
    "TANH": ("AddTanh", (f"{_K}/tanh.cc",), ()),
    "CONCATENATION": ("AddConcatenation", (f"{_K}/concatenation.cc",), ()),
    "SQUEEZE": ("AddSqueeze", (f"{_K}/squeeze.cc",), ()),
    "EXPAND_DIMS": ("AddExpandDims", (f"{_K}/expand_dims.cc",), ()),
    "STRIDED_SLICE": ("AddStridedSlice", (f"{_K}/strided_slice.cc", f"{_K}/strided_slice_common.cc"), ()),
    "TRANSPOSE": ("AddTranspose", (f"{_C}/transpose.cc", f"{_K}/transpose_common.cc"), ("TransposeFunctions",)),
    "HARD_SWISH": ("AddHardSwish", (f"{_K}/hard_swish.cc", f"{_K}/hard_swish_common.cc"), ()),
}
# the interpreter, allocator, planner, flatbuffer reader and shared kernel helpers (no op kernel)
_FRAMEWORK_EXCLUDE = ("cortex_m_generic/", "recording_", "micro/kernels/", "hexdump.cc")
_FRAMEWORK_KERNELS = (f"{_K}/kernel_util.cc", f"{_K}/micro_tensor_utils.cc")

CXX_FLAGS = (
    "-O2",
    "-std=c++17",
    "-fno-rtti",
    "-fno-exceptions",
    "-fno-threadsafe-statics",
    "-fno-use-cxa-atexit",
    "-ffunction-sections",
    "-fdata-sections",
)
C_FLAGS = ("-O2", "-std=c11", "-ffunction-sections", "-fdata-sections")
DEFINES = ("-DCMSIS_NN", "-DTF_LITE_STATIC_MEMORY")
INCLUDE_DIRS = (
    "",
    "third_party/flatbuffers/include",
    "third_party/gemmlowp",
    "third_party/ruy",
    "third_party/kissfft",
    "third_party/cmsis_nn",
    "third_party/cmsis_nn/Include",
    "third_party/cmsis/CMSIS/Core/Include",
)


def tflm_path() -> Path:
    """``TFLM_PATH`` (env), default ``../shared/third_party/tflm`` beside the repository; checked."""
    path = Path(os.environ.get("TFLM_PATH") or REPO.parent / "shared" / "third_party" / "tflm").resolve()
    if not (path / "tensorflow" / "lite" / "micro" / "micro_interpreter.cc").is_file():
        raise InvalidInputError(
            f"TFLM_PATH={path} is not a TFLite Micro source tree (no tensorflow/lite/micro/micro_interpreter.cc): "
            f"set TFLM_PATH to a tree made by TFLM's create_tflm_tree.py with OPTIMIZED_KERNEL_DIR=cmsis_nn"
        )
    if not (path / _NN).is_dir():
        raise InvalidInputError(f"TFLM_PATH={path} has no {_NN}: make the tree with OPTIMIZED_KERNEL_DIR=cmsis_nn")
    return path


def cpu_flags(board: BoardSpec) -> list[str]:
    """The flags TFLM's objects are compiled with from the board: the core's, none of the project's
    -D defines (so boards with one core share the cached objects)."""
    return [f for f in board.cflags() if not f.startswith("-D")]


def unsupported_ops(ops) -> list[str]:
    """The operators of ``ops`` this TFLM port cannot register (sorted, unique)."""
    return sorted({op for op in ops if op not in OPS})


@dataclass(frozen=True)
class TflmBuild:
    """What a project compiles of TFLM: the tree, the sources (relative to it) and the object cache."""

    path: Path
    cc_sources: tuple[str, ...]
    c_sources: tuple[str, ...]
    obj_dir: Path  # <cache>/<key>: objects keyed by (tree, flags)


def tflm_build(ops, board: BoardSpec, cache: Path | None = None) -> TflmBuild:
    """The TFLM sources ``ops`` need on ``board`` and where their objects are cached."""
    missing = unsupported_ops(ops)
    if missing:
        raise ExportError(
            f"the TFLM runtime has no registration for {', '.join(missing)} (export/tflm_runtime.py OPS): "
            f"add the op's MicroMutableOpResolver method and kernel sources there"
        )
    root = tflm_path()
    framework = sorted(
        str(p.relative_to(root))
        for p in (root / "tensorflow").rglob("*.cc")
        if not any(x in str(p.relative_to(root)) for x in _FRAMEWORK_EXCLUDE)
        and not any(x in p.name for x in ("_test", "test_", "mock", "fake"))
    )
    kernels = sorted({src for op in set(ops) for src in OPS[op][1]} | set(_FRAMEWORK_KERNELS))
    nn_dirs = sorted({d for op in set(ops) for d in OPS[op][2]} | {"NNSupportFunctions"})
    c_sources = sorted(str(p.relative_to(root)) for d in nn_dirs for p in (root / _NN / d).glob("*.c"))
    h = hashlib.sha256()
    h.update(" ".join([*cpu_flags(board), *CXX_FLAGS, *C_FLAGS, *DEFINES]).encode())
    h.update(str(root).encode())
    for p in sorted(root.rglob("*")):
        if p.is_file():
            st = p.stat()
            h.update(f"{p.relative_to(root)}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    cache_root = Path(cache or os.environ.get("EDGEL3_MOTE_TFLM_CACHE") or DEFAULT_TFLM_CACHE).resolve()
    return TflmBuild(root, tuple(framework + kernels), tuple(c_sources), cache_root / h.hexdigest()[:16])


def cmsis_scratch_bytes(graph) -> int:
    """The largest scratch buffer a CMSIS-NN kernel of ``graph`` asks for (Cortex-M DSP paths):
    convolutions' im2col (two int16 columns, rounded to 4), depthwise convolutions' one int16 column,
    average pooling's int32 row; bounds from CMSIS-NN's ``*_get_buffer_size`` functions."""
    need = 0
    for op in graph.ops:
        if op.kind == "CONV_2D":
            _, kh, kw, cin = graph.tensor(op.inputs[1]).shape
            cols = kh * kw * cin
            need = max(need, 2 * 2 * (cols + (-cols) % 4))
        elif op.kind == "DEPTHWISE_CONV_2D":
            _, kh, kw, c = graph.tensor(op.inputs[1]).shape
            need = max(need, 2 * kh * kw * c)
        elif op.kind == "AVERAGE_POOL_2D":
            need = max(need, 4 * graph.tensor(op.inputs[0]).shape[-1])
    return need


def tflm_arena_plan(host_arena_bytes: int, graph) -> int:
    """The static arena a project declares: the wheel's measured arena + CMSIS-NN scratch + alignment."""
    total = host_arena_bytes + cmsis_scratch_bytes(graph) + ARENA_ALIGNMENT
    return total + (-total) % ARENA_ALIGNMENT


@dataclass
class TflmRuntime:
    """What ``write_tflm_runtime`` wrote: the counterpart of ``codegen.EngineInfo`` for reports."""

    model_name: str
    arena_bytes: int  # the static arena declared (tflm_arena_plan)
    host_arena_bytes: int  # arena_used_bytes as the tflite-micro wheel measures it on the host
    weight_bytes: int  # the whole .tflite in flash
    ops: list[str]
    layer_names: list[str]
    build: TflmBuild
    sources: list[str]  # project-relative C/C++ sources of the runtime

    # the fields the project's reports read from an EngineInfo
    @property
    def unstreamed_arena_bytes(self) -> int:
        return self.arena_bytes

    def to_dict(self) -> dict:
        return {
            "runtime": "tflm",
            "model_name": self.model_name,
            "arena_bytes": self.arena_bytes,
            "host_arena_bytes": self.host_arena_bytes,
            "weight_bytes": self.weight_bytes,
            "ops": self.ops,
            "layer_names": self.layer_names,
            "tflm_path": str(self.build.path),
            "tflm_obj_dir": str(self.build.obj_dir),
        }


def write_tflm_runtime(
    int8: bytes, project: Path, board: BoardSpec, host_arena_bytes: int, scratch_bytes: int, model_name: str
) -> TflmRuntime:
    """``src/model_engine.h``, ``src/em_tflm_model.h``, ``src/model_data.h/.c`` and the port's C++ in
    ``firmware/runtimes/tflm`` of ``project`` for the int8 ``.tflite`` ``int8``."""
    import jinja2

    from edgel3_mote.export.carrays import write_carrays
    from edgel3_mote.export.ir import read_tflite

    graph = read_tflite(int8, supported=None)
    ops = [op.kind for op in graph.ops]
    build = tflm_build(ops, board)
    src = project / "src"
    write_carrays(int8, src, "g_model_data", "model_data")
    inp, out = graph.tensor(graph.inputs[0]), graph.tensor(graph.outputs[0])
    hwc = (list(inp.shape[1:]) + [1, 1, 1])[:3]
    arena = tflm_arena_plan(host_arena_bytes, graph)
    layer_names = [graph.layer_name(op) for op in graph.ops]
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    in_scale, in_zp = inp.quant
    out_scale, out_zp = out.quant
    ctx = dict(
        model_name=model_name,
        sha256=hashlib.sha256(int8).hexdigest(),
        input_hwc=hwc,
        input_bytes=inp.size,
        output_bytes=out.size,
        input_scale=repr(float(in_scale)) + "f",
        input_zero_point=in_zp,
        output_scale=repr(float(out_scale)) + "f",
        output_zero_point=out_zp,
        layer_names=layer_names,
        arena_bytes=arena,
        host_arena_bytes=host_arena_bytes,
        cmsis_scratch_bytes=cmsis_scratch_bytes(graph),
        weight_bytes=len(int8),
        scratch_bytes=max(4, scratch_bytes),
        resolver_methods=sorted({OPS[k][0] for k in ops}),
    )
    for name in ("model_engine.h", "em_tflm_model.h"):
        (src / name).write_text(env.get_template(f"{name}.j2").render(**ctx))
    port = project / "firmware" / "runtimes" / "tflm"
    shutil.copytree(PORT_DIR, port, ignore=lambda d, names: [n for n in names if Path(n).suffix not in (".cc", ".h")])
    sources = ["src/model_data.c"] + sorted(f"firmware/runtimes/tflm/{p.name}" for p in port.glob("*.cc"))
    return TflmRuntime(model_name, arena, host_arena_bytes, len(int8), ops, layer_names, build, sources)


def tflm_make_context(build: TflmBuild, board: BoardSpec) -> dict:
    """The Makefile's TFLM variables (``export/templates/project/Makefile.j2``)."""
    return {
        "cpu_flags": " ".join(cpu_flags(board)),
        "path": str(build.path),
        "obj_dir": str(build.obj_dir),
        "cc_sources": list(build.cc_sources),
        "c_sources": list(build.c_sources),
        "cxx_flags": " ".join(CXX_FLAGS),
        "c_flags": " ".join(C_FLAGS),
        "defines": " ".join(DEFINES),
        "include_dirs": [d for d in INCLUDE_DIRS],
    }
