"""IR + memory plan -> model_engine.h / model_engine.c / model_weights.c (Jinja templates).

The generated engine is plain C99 for exactly one model: constant weights in flash, one
static arena planned here, and one kernel call per op (``firmware/include/em_kernels.h``).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgel3_mote.atomic import atomic_write_text
from edgel3_mote.errors import ExportError
from edgel3_mote.export import planner as pl
from edgel3_mote.export.codegen.ops import EMITTERS, Conv2DEmitter, OpEmitter
from edgel3_mote.export.codegen.ops.base import CDecl, c_float, render_decl
from edgel3_mote.export.ir import Graph, read_tflite

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates" / "engine"
ENGINE_FILES = ("model_engine.h", "model_engine.c", "model_weights.c")
DEFAULT_SYMBOL_PREFIX = "em_model"


@dataclass(frozen=True)
class EngineSymbols:
    """The C names one engine exports, derived from its ``symbol_prefix``.

    The default prefix ``em_model`` gives the names of the engine contract (ARCHITECTURE.md):
    ``model_engine.h``, ``em_model_invoke``, ``EM_INPUT_BYTES``, weights ``em_lNN_*``. Any other
    prefix, e.g. ``em_head``, renames everything another engine could clash with when two are
    linked into one firmware: files ``em_head_engine.h/.c``, ``em_head_weights.c``; functions
    ``em_head_input/scratch/invoke``; macros ``EM_HEAD_INPUT_BYTES`` ...; ``em_head_layer_names``;
    weights ``em_head_lNN_*``; the arena ``em_head_arena``.
    """

    prefix: str

    @property
    def is_default(self) -> bool:
        return self.prefix == DEFAULT_SYMBOL_PREFIX

    @property
    def files(self) -> tuple[str, str, str]:
        if self.is_default:
            return ENGINE_FILES
        return (f"{self.prefix}_engine.h", f"{self.prefix}_engine.c", f"{self.prefix}_weights.c")

    @property
    def macro(self) -> str:  # EM_INPUT_BYTES / EM_HEAD_INPUT_BYTES
        return "EM_" if self.is_default else self.prefix.upper() + "_"

    @property
    def guard(self) -> str:
        return self.prefix.upper() + "_ENGINE_H"

    @property
    def layer(self) -> str:  # per-op symbol stem: em_l03 / em_head_l03
        return "em_l" if self.is_default else f"{self.prefix}_l"

    @property
    def layer_names(self) -> str:
        return "em_layer_names" if self.is_default else f"{self.prefix}_layer_names"

    @property
    def arena(self) -> str:
        return "em_arena" if self.is_default else f"{self.prefix}_arena"


def engine_symbols(symbol_prefix: str = DEFAULT_SYMBOL_PREFIX) -> EngineSymbols:
    if not re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)*", symbol_prefix or "") or len(symbol_prefix) > 32:
        raise ExportError(
            f"symbol_prefix {symbol_prefix!r} must be a lower-case C identifier of at most 32 "
            f"characters such as 'em_head' (it names the engine's functions, macros and files)"
        )
    if not symbol_prefix.startswith("em_") or symbol_prefix in ("em_board", "em_uart", "em_logmel", "em_semihost"):
        raise ExportError(
            f"symbol_prefix {symbol_prefix!r}: use an 'em_<name>' prefix not taken by the firmware (e.g. 'em_head')"
        )
    return EngineSymbols(symbol_prefix)


@dataclass
class LayerInfo:
    name: str
    op: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    macs: int
    weight_bytes: int
    weight_format: str = "dense"
    nonzeros: int | None = None  # conv layers: nonzero weights
    bytes_per_nonzero: float | None = None  # sparse conv layers: flash of the filter per nonzero weight
    format_reason: str = ""  # conv layers: why dense or sparse


WEIGHT_FORMAT_MODES = ("auto", "dense", "sparse")


def choose_weight_formats(graph: Graph, mode: str, use_dsp: bool = True) -> dict[int, str]:
    """Set each CONV_2D's ``weight_format``: 'sparse' (em_conv2d_sparse_s8's compact format) or 'dense'.

    'auto' picks sparse where it takes less flash and is not estimated slower (the cost model in
    export/codegen/ops/conv2d.py); 'sparse' wherever the sparse kernel can run the layer; 'dense'
    everywhere. Returns {op index: the reason}, for the engine report.
    """
    from edgel3_mote.export import sparse_weights
    from edgel3_mote.export.codegen.ops import conv2d as c2

    if mode not in WEIGHT_FORMAT_MODES:
        raise ExportError(f"weight_format='{mode}' is not one of {WEIGHT_FORMAT_MODES}")
    reasons = {}
    for op in graph.ops:
        if op.kind != "CONV_2D" or not graph.tensor(op.inputs[1]).is_constant:
            continue
        w = graph.tensor(op.inputs[1]).constant.astype(np.int8)
        o = op.options
        out_hw = graph.tensor(op.outputs[0]).hwc[:2]
        stride, dilation = (o["stride_h"], o["stride_w"]), (o["dilation_h"], o["dilation_w"])
        if not c2.can_be_sparse(w, out_hw, stride, dilation):
            op.weight_format = "dense"
            reasons[op.index] = "dense: beyond the sparse kernel (filter taps or relayout offsets)"
            continue
        if mode == "dense":
            op.weight_format, reasons[op.index] = "dense", "dense: weight_format='dense'"
            continue
        packed = sparse_weights.encode(w)
        if mode == "sparse":
            op.weight_format = "sparse"
            reasons[op.index] = f"sparse: weight_format='sparse' ({packed.bytes_per_nonzero:.2f} B per nonzero)"
            continue
        kh, kw, in_c = w.shape[1:]
        shape = dict(
            out_hw=out_hw,
            in_c=in_c,
            out_c=w.shape[0],
            kernel_hw=(kh, kw),
            stride=stride,
            dilation=dilation,
            use_dsp=use_dsp,
        )
        pass_rows = c2.sparse_pass_rows(in_c, packed.max_channel_nnz, out_hw, (kh, kw), stride, dilation)
        op.weight_format, reasons[op.index] = c2.choose_format(
            w.size,
            packed.nbytes,
            c2.estimate_dense_instructions(**shape),
            c2.estimate_sparse_instructions(**shape, nonzeros=packed.nnz, pass_rows=pass_rows),
        )
    return reasons


@dataclass
class EngineInfo:
    model_name: str
    sha256: str
    arena_bytes: int
    unstreamed_arena_bytes: int  # the same model fully buffered (no streaming)
    weight_bytes: int
    input_offset: int
    scratch_offset: int  # em_model_scratch()
    scratch_bytes: int
    use_dsp: bool
    layers: list[LayerInfo] = field(default_factory=list)
    streaming_groups: list[dict] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    symbol_prefix: str = DEFAULT_SYMBOL_PREFIX
    buffers: list[dict] = field(default_factory=list)  # every arena buffer (planner.buffer_rows)
    buffer_table: str = ""  # the same as text (planner.format_buffer_table)

    @property
    def macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["macs"] = self.macs
        return d


def _check_io(graph: Graph) -> None:
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise ExportError(
            f"the model has {len(graph.inputs)} inputs and {len(graph.outputs)} outputs; "
            f"the engine needs exactly one of each"
        )
    for role, tid in (("input", graph.inputs[0]), ("output", graph.outputs[0])):
        t = graph.tensor(tid)
        if t.dtype != "int8" or not t.is_quantized:
            raise ExportError(
                f"the model's {role} '{t.name}' is {t.dtype}; convert with int8 input and output "
                f"(inference_input_type/inference_output_type = tf.int8)"
            )
        if t.shape and t.shape[0] != 1:
            raise ExportError(f"the model's {role} '{t.name}' has batch {t.shape[0]}; export with batch 1")


def _emitters(graph: Graph, use_dsp: bool, layer_stem: str = "em_l") -> list[OpEmitter]:
    missing = sorted({op.kind for op in graph.ops if op.kind not in EMITTERS})
    if missing:
        raise ExportError(
            f"no code generator for op(s) {', '.join(missing)} "
            f"(QUANTIZE/DEQUANTIZE only appear with float input/output: convert with int8 "
            f"input and output); supported: {', '.join(sorted(EMITTERS))}"
        )
    return [EMITTERS[op.kind](graph, op, f"{layer_stem}{op.index:02d}", use_dsp) for op in graph.ops]


def _c_body(array, per_line: int = 24) -> str:
    items = [str(v) for v in np.asarray(array.values).astype(np.int64).reshape(-1).tolist()]
    return "\n".join("  " + ", ".join(items[i : i + per_line]) + "," for i in range(0, len(items), per_line))


def _scratch_region(plan: pl.Plan, input_tid: int) -> tuple[int, int]:
    """The largest arena region disjoint from the input: (offset, bytes)."""
    buf = plan.buffer_of(input_tid)
    before = buf.offset
    start_after = pl.align_up(buf.offset + buf.size)
    after = plan.arena_bytes - start_after
    return (0, before) if before >= after else (start_after, after)


def _stage_context(graph: Graph, plan: pl.Plan, group: pl.StreamGroup, emitters, arena) -> dict:
    stages = []
    k = len(group.ops)
    for i, (op_index, geo) in enumerate(zip(group.ops, group.geometry)):
        op = graph.ops[op_index]
        em = emitters[op_index]
        out_tid = op.outputs[0]
        last = i == k - 1
        in_ptr = arena(plan.offset_of(op.inputs[0])) if i == 0 else arena(plan.line_buffer(op.inputs[0]).offset)
        out_ptr = arena(plan.offset_of(out_tid)) if last else arena(plan.line_buffer(out_tid).offset)
        scratch = plan.scratch(_step_index(plan, op_index))
        t = graph.tensor(out_tid)
        fold = last and group.folds
        if fold:
            # a global max folds the rows [done, need) held in the previous line buffer
            in_row_bytes = graph.tensor(op.inputs[0]).hwc[1] * graph.tensor(op.inputs[0]).hwc[2]
            call = em.fold_call(
                f"{in_ptr} + (done[{i}] - first[{i - 1}]) * {in_row_bytes}",
                f"need[{i}] - done[{i}]",
                f"done[{i}] > 0",
                out_ptr,
            )
        else:
            call = em.call(in_ptr, out_ptr, "&rows", arena(scratch.offset) if scratch else "0")
        stages.append(
            {
                "i": i,
                "last": last,
                "fold": fold,
                "layer": op_index,
                "out_h": geo.out_h,
                "in_h": geo.in_h,
                "stride": geo.stride_h,
                "pad_top": geo.pad_top,
                "filter_h": geo.kernel_h,
                "row_bytes": t.hwc[1] * t.hwc[2],
                "line_rows": group.line_rows.get(out_tid, 0),
                "call_rows": group.call_rows[i] if group.call_rows else 1,
                "out_ptr": out_ptr,
                "call": call,
            }
        )
    return {"stages": stages, "names": [graph.layer_name(graph.ops[i]) for i in group.ops]}


def _used_declarations(emitters: list[OpEmitter], call_ops: set[int], fold_ops: set[int]) -> list[CDecl]:
    """The emitters' static const declarations that the generated calls use, in op order.

    ``call_ops``/``fold_ops``: the op indices run by a generated ``call`` / ``fold_call``. (An op
    run only in one way -- e.g. a global max folded row by row -- leaves some of its parameters
    unused, and unused static consts are warnings, hence errors, in our builds.)
    """
    out = []
    for em in emitters:
        used = (em.call_uses() if em.op.index in call_ops else set()) | (
            em.fold_uses() if em.op.index in fold_ops else set()
        )
        out += [d for d in em.declarations() if d.name in used]
    return out


def _op_scratch(emitter: OpEmitter, rows_per_call: int | None) -> int:
    """An op's kernel scratch when each call computes ``rows_per_call`` output rows (None: any)."""
    emitter.rows_per_call = rows_per_call
    return emitter.scratch_bytes()


# The scratch a tiled conv may take, tried in turn until the arena fits the RAM budget: a whole call's
# pixels (None: the weights read once per call), then smaller passes (read more often).
TILED_SCRATCH_BUDGETS = (None, 32 * 1024, 24 * 1024, 16 * 1024, 12 * 1024, 8 * 1024)


def _plan_with_tiles(
    graph: Graph,
    emitters,
    streaming: str,
    ram_budget: int | None,
    frontend_scratch_bytes: int,
    reasons: dict[int, str] | None = None,
    flash_wait_states: int = 0,
):
    """The memory plan; with tiled convs, the largest tile passes whose arena fits ``ram_budget``; where even the
    smallest do not fit, the Winograd conv with the most scratch becomes tiled (a one-row tile) and the search
    starts again. Winograd convs are planned with passes of one tile row (output row pair); then each one, largest
    filter first, takes passes of twice as many tile rows (inside a streamed chain: calls of twice as many output
    rows, one pass each; only under a RAM budget) while the arena still fits and the same chains stay streamed (it
    transforms its weights once per pass: the more rows a pass, the fewer transforms)."""

    def plan_now() -> pl.Plan:
        return pl.plan_memory(
            graph,
            streaming=streaming,
            ram_budget=ram_budget,
            frontend_scratch_bytes=frontend_scratch_bytes,
            scratch_bytes=lambda op: _op_scratch(emitters[op.index], None),
            streamed_scratch_bytes=lambda op: _op_scratch(emitters[op.index], emitters[op.index].call_rows),
            call_rows=lambda op: emitters[op.index].call_rows,
        )

    def fits(plan: pl.Plan) -> bool:
        return ram_budget is None or plan.arena_bytes <= ram_budget

    for em in emitters:
        if getattr(em, "wino", False):
            em.wino_max_tile_rows = 1
    while True:
        tiled = [em for em in emitters if getattr(em, "tiled", False)]
        plan = None
        for budget in TILED_SCRATCH_BUDGETS if tiled else (None,):
            for em in tiled:
                em.tiled_budget = budget
            plan = plan_now()
            if fits(plan):
                break
        assert plan is not None
        wino = [em for em in emitters if getattr(em, "wino", False)]
        if fits(plan) or not wino:
            break
        em = max(wino, key=lambda e: (e.scratch_bytes(), e.op.index))
        em.wino, em.tiled, em.call_rows = False, True, 1
        em.op.weight_format = "tiled"
        if reasons is not None:
            reasons[em.op.index] = (
                f"tiled: the Winograd kernel's scratch (a row pair's transforms) left the arena "
                f"over the {ram_budget:,}-byte RAM budget; " + reasons.get(em.op.index, "")
            )
    if not fits(plan):
        return plan
    if streaming == "on" and flash_wait_states == 0:
        plan = _smallest_arena_without_wino(emitters, plan, plan_now, reasons)
    streamed = {i for g in plan.groups for i in g.ops}
    wino = [em for em in emitters if getattr(em, "wino", False)]
    # the most weight transforms saved first: the largest filters
    for em in sorted(wino, key=lambda e: (-e.filter.data.size, e.op.index)):
        if ram_budget is None and em.op.index in streamed:
            continue  # streamed without a budget (streaming='on'): the smallest arena, calls of one row pair
        tile_rows = (em.output.hwc[0] + 1) // 2
        while em.wino_max_tile_rows < tile_rows:
            before = (em.wino_max_tile_rows, em.call_rows)
            em.wino_max_tile_rows = min(2 * before[0], tile_rows)
            if em.op.index in streamed:  # inside a streamed chain: a call of twice as many rows, one pass
                em.call_rows = 2 * em.wino_max_tile_rows
            trial = plan_now()
            if fits(trial) and {i for g in trial.groups for i in g.ops} == streamed:
                plan = trial
                continue
            em.wino_max_tile_rows, em.call_rows = before
            break
    return plan


def _smallest_arena_without_wino(emitters, plan: pl.Plan, plan_now, reasons: dict[int, str] | None) -> pl.Plan:
    """``streaming='on'`` asks for the smallest arena: at zero wait states, where Winograd was chosen over tiled
    for a few % fewer instructions, a Winograd conv whose row-pair calls (two more rows in the chain's line
    buffers) and transforms raise the peak becomes tiled (one row per call; the tile size that gives the
    smallest arena), largest scratch first, wherever that lowers the arena. Both keep int8 weights: the flash
    does not change, the instructions rise (the tiled conv expands its weights per pass). With flash wait
    states Winograd also halves the weight reads from flash (once per row pair), and the cost model's choice
    stands."""
    for em in sorted(
        [e for e in emitters if getattr(e, "wino", False)], key=lambda e: (-e.scratch_bytes(), e.op.index)
    ):
        em.wino, em.tiled, em.call_rows, em.op.weight_format = False, True, 1, "tiled"
        trials: list[tuple[int, int, int | None]] = []
        for budget in TILED_SCRATCH_BUDGETS:
            em.tiled_budget = budget
            trials.append((plan_now().arena_bytes, len(trials), budget))
        best_arena, _, best_budget = min(trials, key=lambda t: (t[0], t[1]))
        if best_arena < plan.arena_bytes:
            em.tiled_budget = best_budget
            if reasons is not None:
                reasons[em.op.index] = (
                    f"tiled: streaming='on' (the smallest arena), where the Winograd kernel's row pairs take "
                    f"{plan.arena_bytes - best_arena:,} bytes more; " + reasons.get(em.op.index, "")
                )
            plan = plan_now()
        else:
            em.wino, em.tiled, em.call_rows, em.op.weight_format = True, False, 2, "wino"
            em.tiled_budget = None
    return plan


def _step_index(plan: pl.Plan, op_index: int) -> int:
    return next(s for s, step in enumerate(plan.steps) if op_index in step.ops)


def generate_engine(
    tflite_bytes: bytes,
    out_dir,
    *,
    model_name: str,
    ram_budget: int | None = None,
    streaming: str = "auto",
    frontend_scratch_bytes: int = 0,
    use_dsp: bool = True,
    weight_format: str = "auto",
    symbol_prefix: str = DEFAULT_SYMBOL_PREFIX,
    w16_flash_bytes: int = 0,
    flash_wait_states: int = 0,
) -> EngineInfo:
    """Write ``model_engine.h``, ``model_engine.c`` and ``model_weights.c`` into ``out_dir``.

    ram_budget: arena bytes allowed (None = no limit); streaming: 'auto' streams conv chains
    only as far as needed to meet the budget, 'on' streams every worthwhile chain, 'off' none.
    frontend_scratch_bytes: space ``em_model_scratch()`` must offer besides the input.
    use_dsp: reserve the DSP path's conv scratch, so the engine may be built with -DEM_USE_DSP
    (with use_dsp=False, building with EM_USE_DSP fails at compile time, never at run time).
    weight_format: conv weights 'dense', 'sparse' (em_conv2d_sparse_s8) or 'auto' (sparse
    where it saves flash and is not estimated slower, i.e. pruned layers; each layer's
    ``format_reason`` in the returned info says why).
    w16_flash_bytes: extra flash the DSP path may spend on int16-expanded conv weights
    (em_conv2d_s8_w16, about 1.8x fewer instructions than int8 weights in em_conv2d_s8); dense layers are
    expanded where w16 beats every int8-weight format (Winograd included), most instructions saved per extra
    byte first, while they fit (``ops.conv2d.choose_w16_layers``).
    flash_wait_states: the board's flash wait states at its clock (BoardSpec's memory model; 0: zero-wait
    memory). The DSP path's convs are then chosen on the memory-aware upper bound of their cycles
    (``ops.conv2d.choose_memory_aware_formats``; at 0 wait states the zero-wait cycles, dense layers only):
    where reading weights from flash in the MAC loop costs more, or int8 weights in a RAM tile run faster,
    a layer becomes ``tiled`` (em_conv2d_s8_tiled: int8 weights in flash, expanded per row into a RAM
    tile) or ``wino`` (em_conv2d_s8_wino: Winograd F(2x2, 3x3) on 3x3 stride-1 convs, weights transformed
    per row pair into a RAM tile; streamed two output rows per call); their tiles are scratch the
    planner places (a tiled layer's passes shrink when the arena would not fit ``ram_budget``).
    symbol_prefix: names the engine's C symbols and files (see :class:`EngineSymbols`) so several
    engines can link into one firmware; the default ``em_model`` is the documented contract.
    """
    import jinja2

    if not re.fullmatch(r"[A-Za-z0-9_.+-]{1,64}", model_name or ""):
        raise ExportError(f"model name {model_name!r} must be 1-64 letters, digits or _.+- (it becomes a C string)")
    if frontend_scratch_bytes < 0:
        raise ExportError(f"frontend_scratch_bytes={frontend_scratch_bytes} must be >= 0")
    sym = engine_symbols(symbol_prefix)
    graph = read_tflite(tflite_bytes)
    _check_io(graph)
    format_reasons = choose_weight_formats(graph, weight_format, use_dsp)
    if use_dsp and w16_flash_bytes > 0:
        from edgel3_mote.export.codegen.ops.conv2d import choose_w16_layers, prefer_w16_over_sparse

        choose_w16_layers(graph, w16_flash_bytes)
        prefer_w16_over_sparse(graph, w16_flash_bytes, format_reasons)
    if use_dsp and (flash_wait_states > 0 or weight_format == "auto"):  # an explicit 'dense' stays at 0 wait states
        from edgel3_mote.export.codegen.ops.conv2d import choose_memory_aware_formats

        choose_memory_aware_formats(graph, flash_wait_states, format_reasons)
    emitters = _emitters(graph, use_dsp, sym.layer)
    plan = _plan_with_tiles(
        graph, emitters, streaming, ram_budget, frontend_scratch_bytes, format_reasons, flash_wait_states
    )
    streamed_ops = {i for g in plan.groups for i in g.ops}
    for em in emitters:  # the generated calls: call_rows output rows per call inside a streamed chain (1 or 2)
        em.rows_per_call = em.call_rows if em.op.index in streamed_ops else None
    pl.verify_plan(plan)
    pl.check_budget(plan, ram_budget)

    def arena(offset: int) -> str:
        return f"({sym.arena} + {offset})"

    in_tid, out_tid = graph.inputs[0], graph.outputs[0]
    x, y = graph.tensor(in_tid), graph.tensor(out_tid)
    (x_scale, x_zp), (y_scale, y_zp) = x.quant, y.quant
    scratch_offset, scratch_bytes = _scratch_region(plan, in_tid)

    arrays, layers = [], []
    for op, em in zip(graph.ops, emitters):
        w = em.weights()
        arrays += w
        layer = LayerInfo(
            graph.layer_name(op),
            op.kind,
            graph.tensor(op.inputs[0]).shape,
            graph.tensor(op.outputs[0]).shape,
            em.macs(),
            sum(a.nbytes for a in w),
            op.weight_format,
            format_reason=format_reasons.get(op.index, ""),
        )
        if op.index in format_reasons:
            layer.nonzeros = int(np.count_nonzero(graph.tensor(op.inputs[1]).constant))
            if op.weight_format == "sparse" and isinstance(em, Conv2DEmitter):  # only CONV_2D gets a format reason
                layer.bytes_per_nonzero = round(em.packed.bytes_per_nonzero, 4)
        layers.append(layer)

    groups = [_stage_context(graph, plan, g, emitters, arena) for g in plan.groups]
    chain_of = {g.ops[0]: i for i, g in enumerate(plan.groups)}
    steps: list[dict[str, Any]] = []
    for s, step in enumerate(plan.steps):
        first = graph.ops[step.ops[0]]
        if step.group is not None:
            steps.append(
                {"chain": chain_of[first.index], "comment": " -> ".join(groups[chain_of[first.index]]["names"])}
            )
            continue
        em = emitters[first.index]
        scratch = plan.scratch(s)
        call = None
        if em.emits_code:
            call = em.call(
                arena(plan.offset_of(first.inputs[0])),
                arena(plan.offset_of(first.outputs[0])),
                None,
                arena(scratch.offset) if scratch else "0",
            )
        steps.append({"chain": None, "layer": first.index, "call": call, "comment": graph.layer_name(first)})

    call_ops = {st["layer"] for st in steps if st.get("call")}
    call_ops |= {stage["layer"] for g in groups for stage in g["stages"] if not stage["fold"]}
    fold_ops = {stage["layer"] for g in groups for stage in g["stages"] if stage["fold"]}
    weight_bytes = sum(a.nbytes for a in arrays)
    ctx = {
        "model_name": model_name,
        "sha256": graph.sha256,
        "input_hwc": x.hwc,
        "input_bytes": x.nbytes,
        "output_bytes": y.nbytes,
        "input_scale": c_float(x_scale),
        "input_zero_point": x_zp,
        "output_scale": c_float(y_scale),
        "output_zero_point": y_zp,
        "layers": layers,
        "arena_bytes": plan.arena_bytes,
        "unstreamed_arena_bytes": plan.unstreamed_arena_bytes,
        "weight_bytes": weight_bytes,
        "arrays": [{"ctype": a.ctype, "name": a.name, "size": a.count, "body": _c_body(a)} for a in arrays],
        "declarations": [render_decl(d) for d in _used_declarations(emitters, call_ops, fold_ops)],
        "static_checks": [c for em in emitters for c in em.static_checks()],
        "groups": groups,
        "steps": steps,
        "input_offset": plan.offset_of(in_tid),
        "output_offset": plan.offset_of(out_tid),
        "scratch_offset": scratch_offset,
        "scratch_bytes": scratch_bytes,
        "prefix": sym.prefix,
        "M": sym.macro,
        "guard": sym.guard,
        "layer_names": sym.layer_names,
        "arena": sym.arena,
        "files": dict(zip(("h", "c", "weights"), sym.files)),
    }
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    out_dir = Path(out_dir)
    written = []
    for template, name in zip(ENGINE_FILES, sym.files):
        text = env.get_template(f"{template}.j2").render(**ctx)
        written.append(str(atomic_write_text(out_dir / name, text)))

    info_groups = [
        {
            "layers": g["names"],
            "folds": pg.folds,
            "line_buffers": {
                graph.tensor(t).name: {"rows": pg.line_rows[t], "bytes": plan.line_buffer(t).size}
                for t in pg.intermediates
            },
        }
        for g, pg in zip(groups, plan.groups)
    ]
    return EngineInfo(
        model_name,
        graph.sha256,
        plan.arena_bytes,
        plan.unstreamed_arena_bytes,
        weight_bytes,
        plan.offset_of(in_tid),
        scratch_offset,
        scratch_bytes,
        use_dsp,
        layers,
        info_groups,
        written,
        sym.prefix,
        pl.buffer_rows(plan),
        pl.format_buffer_table(plan),
    )
