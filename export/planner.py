"""Static memory plan: tensor lifetimes -> offsets in one arena, with optional streaming.

The model runs as a list of *steps*. A step is one op run on whole tensors, or a *streaming
group*: a chain such as conv -> conv -> maxpool executed row by row, where each intermediate
tensor exists only as a small line buffer (a few rows) and never whole. Every buffer (a tensor,
a line buffer, a kernel's scratch, the front-end's scratch) is live over an interval of steps;
buffers are placed greedily, largest first, at the lowest offset that does not collide with
a buffer live at the same time -- the scheme of TFLM's GreedyMemoryPlanner.

Step -1 is "before invoke": the graph input and the front-end's scratch live there together,
so ``em_model_scratch()`` is guaranteed disjoint from the input.

RESHAPE is free: its output aliases its input (one buffer, the union of both lifetimes).

Streaming. Candidate chains are runs of consecutive streamable ops (CONV_2D, MAX_POOL_2D, and a
global max -- REDUCE_MAX over H,W or a whole-map MAX_POOL_2D -- which folds rows into a running
maximum) that end at a pool, plus runs of adjacent chains merged into one. Each intermediate
must be read by the next op only. ``simulate_rows`` runs the row schedule the generated C runs
(one row at a time, deepest op first: an op computes a row only when no later op can) and sizes
each line buffer exactly. 'auto' adds chains greedily until the arena fits
the RAM budget; 'on' until streaming stops shrinking it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

from edgel3_mote.errors import ExportError
from edgel3_mote.export.ir import Graph, Op

ALIGN = 16
STREAMABLE_OPS = ("CONV_2D", "MAX_POOL_2D")
STREAMING_MODES = ("auto", "off", "on")
BEFORE_INVOKE = -1


def align_up(n: int, a: int = ALIGN) -> int:
    return (n + a - 1) // a * a


# --------------------------------------------------------------------------------------------
# Row geometry of a streamable op (which input rows an output row reads)


@dataclass(frozen=True)
class RowGeometry:
    in_h: int
    out_h: int
    kernel_h: int  # effective (dilated) kernel height
    stride_h: int
    pad_top: int

    def in_lo(self, r: int) -> int:
        """First input row output row ``r`` reads (clipped to the tensor)."""
        return max(0, r * self.stride_h - self.pad_top)

    def in_hi(self, r: int) -> int:
        """Last input row output row ``r`` reads (clipped to the tensor)."""
        return min(self.in_h - 1, r * self.stride_h - self.pad_top + self.kernel_h - 1)


def is_global_max(graph: Graph, op: Op) -> bool:
    """A max over all of H and W (GlobalMaxPooling2D: REDUCE_MAX, or a MAX_POOL_2D whose window
    is the whole map with no activation clamp). Streamed, it folds rows into a running maximum."""
    x = graph.tensor(op.inputs[0])
    if len(x.shape) != 4 or x.shape[0] != 1:
        return False
    if op.kind == "REDUCE_MAX":
        axes = graph.tensor(op.inputs[1])
        return axes.is_constant and sorted({int(a) % 4 for a in axes.constant.reshape(-1)}) == [1, 2]
    if op.kind == "MAX_POOL_2D":
        o, (h, w, _) = op.options, x.hwc
        if graph.tensor(op.outputs[0]).hwc[:2] != (1, 1) or o["fused_activation"] != "NONE":
            return False
        # one window (SAME or VALID) that covers the whole map; padding never wins a max in TFLM
        pad_h = max(o["filter_h"] - h, 0) // 2 if o["padding"] == "SAME" else 0
        pad_w = max(o["filter_w"] - w, 0) // 2 if o["padding"] == "SAME" else 0
        return o["filter_h"] - pad_h >= h and o["filter_w"] - pad_w >= w
    return False


def row_geometry(graph: Graph, op: Op) -> RowGeometry:
    o = op.options
    in_h = graph.tensor(op.inputs[0]).hwc[0]
    if is_global_max(graph, op):
        # folds input rows as they come: "output row" r is input row r
        return RowGeometry(in_h, in_h, 1, 1, 0)
    out_h = graph.tensor(op.outputs[0]).hwc[0]
    if op.kind == "CONV_2D":
        kh = graph.tensor(op.inputs[1]).shape[1]
        eff = (kh - 1) * o.get("dilation_h", 1) + 1
    else:
        eff = o["filter_h"]
    stride = o["stride_h"]
    pad_total = max((out_h - 1) * stride + eff - in_h, 0) if o["padding"] == "SAME" else 0
    return RowGeometry(in_h, out_h, eff, stride, pad_total // 2)


# --------------------------------------------------------------------------------------------
# Plan data


@dataclass
class Buffer:
    """One allocation in the arena, live over steps [first, last] (inclusive)."""

    name: str
    size: int
    first: int
    last: int
    kind: str = "tensor"  # 'tensor' | 'line' | 'scratch' | 'frontend'
    tensors: tuple[int, ...] = ()  # tensor ids sharing it (RESHAPE aliases)
    offset: int = -1

    def live_with(self, other: "Buffer") -> bool:
        return self.first <= other.last and other.first <= self.last


@dataclass
class StreamGroup:
    """A chain of ops run row by row; ``line_rows[tid]`` rows of each intermediate are kept."""

    ops: tuple[int, ...]
    intermediates: tuple[int, ...]  # tensor ids that only exist as line buffers
    line_rows: dict[int, int] = field(default_factory=dict)
    geometry: tuple[RowGeometry, ...] = ()
    folds: bool = False  # the last op is a global max fed row by row
    call_rows: tuple[int, ...] = ()  # output rows per call of each op (1 unless its kernel wants more)


@dataclass
class Step:
    ops: tuple[int, ...]
    group: StreamGroup | None = None


@dataclass
class Plan:
    steps: list[Step]
    buffers: list[Buffer]
    arena_bytes: int
    groups: list[StreamGroup]
    # the same model planned without streaming (for reports); equals arena_bytes when off
    unstreamed_arena_bytes: int = 0
    uses: dict[int, set[int]] = field(default_factory=dict)  # step -> tensor ids it touches

    def buffer_of(self, tid: int) -> Buffer:
        for b in self.buffers:
            if tid in b.tensors:
                return b
        raise KeyError(f"tensor {tid} has no buffer (streamed or constant)")

    def offset_of(self, tid: int) -> int:
        return self.buffer_of(tid).offset

    def line_buffer(self, tid: int) -> Buffer:
        for b in self.buffers:
            if b.kind == "line" and tid in b.tensors:
                return b
        raise KeyError(f"tensor {tid} has no line buffer")

    def scratch(self, step_index: int) -> Buffer | None:
        for b in self.buffers:
            if b.kind == "scratch" and b.first == step_index:
                return b
        return None

    def frontend_scratch(self) -> Buffer | None:
        return next((b for b in self.buffers if b.kind == "frontend"), None)

    def peak_step(self) -> int:
        """The step whose live buffers add up to the most bytes."""
        lo = min(b.first for b in self.buffers)
        hi = max(b.last for b in self.buffers)
        return max(range(lo, hi + 1), key=lambda s: sum(b.size for b in self.buffers if b.first <= s <= b.last))


# --------------------------------------------------------------------------------------------
# Placement


def place_greedy(buffers: Sequence[Buffer], align: int = ALIGN) -> int:
    """Assign ``offset`` to every buffer (largest first, first fit); returns the arena size."""
    placed: list[Buffer] = []
    order = sorted(buffers, key=lambda b: (-b.size, b.first, b.name))
    for buf in order:
        conflicts = sorted((p for p in placed if p.live_with(buf)), key=lambda p: p.offset)
        candidate = 0
        for p in conflicts:
            if candidate + buf.size <= p.offset:
                break
            candidate = max(candidate, align_up(p.offset + p.size, align))
        buf.offset = candidate
        placed.append(buf)
    return align_up(max((b.offset + b.size for b in buffers), default=0), align)


def verify_placement(buffers: Sequence[Buffer], arena_bytes: int, align: int = ALIGN) -> None:
    """Raise AssertionError if two simultaneously live buffers overlap or one leaves the arena."""
    for b in buffers:
        if b.offset < 0 or b.offset % align or b.offset + b.size > arena_bytes:
            raise AssertionError(
                f"buffer {b.name} at {b.offset}+{b.size} is misaligned or outside the {arena_bytes}-byte arena"
            )
    for i, a in enumerate(buffers):
        for b in buffers[i + 1 :]:
            if a.live_with(b) and a.size and b.size and a.offset < b.offset + b.size and b.offset < a.offset + a.size:
                raise AssertionError(
                    f"live buffers overlap: {a.name} [{a.offset},{a.offset + a.size}) steps "
                    f"{a.first}..{a.last} and {b.name} [{b.offset},{b.offset + b.size}) steps {b.first}..{b.last}"
                )


def verify_plan(plan: Plan) -> None:
    """Check a plan: no overlap between live buffers, and every tensor a step touches is live then."""
    verify_placement(plan.buffers, plan.arena_bytes)
    for step_index, tids in plan.uses.items():
        for tid in tids:
            owners = [b for b in plan.buffers if tid in b.tensors and b.first <= step_index <= b.last]
            if not owners:
                raise AssertionError(f"tensor {tid} is used at step {step_index} but no buffer holds it then")


# --------------------------------------------------------------------------------------------
# Streaming groups


def _streamable(graph: Graph, op: Op) -> bool:
    if op.kind not in STREAMABLE_OPS and not (op.kind == "REDUCE_MAX" and is_global_max(graph, op)):
        return False
    x, y = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    return len(x.shape) == 4 and x.shape[0] == 1 and not x.is_constant and x.dtype == "int8" and y.dtype == "int8"


def _links(graph: Graph, a: Op, b: Op) -> bool:
    """Can ``b`` read ``a``'s output row by row (a line buffer instead of the whole tensor)?"""
    t = a.outputs[0]
    return (
        _streamable(graph, a)
        and _streamable(graph, b)
        and b.index == a.index + 1
        and not is_global_max(graph, a)
        and b.inputs[0] == t
        and len(graph.consumers(t)) == 1
        and t not in graph.outputs
    )


def candidate_groups(graph: Graph) -> list[tuple[int, ...]]:
    """Chains of consecutive streamable ops, each ending at (and including) a max-pool.

    Links need the intermediate tensor to be read by the next op only and not be a graph output.
    """
    chains: list[list[int]] = []
    current: list[int] = []
    for op in graph.ops:
        if current and _links(graph, graph.ops[current[-1]], op):
            current.append(op.index)
        else:
            if len(current) > 1:
                chains.append(current)
            current = [op.index] if _streamable(graph, op) else []
        if current and op.kind in ("MAX_POOL_2D", "REDUCE_MAX"):
            if len(current) > 1:
                chains.append(current)
            current = []
    if len(current) > 1:
        chains.append(current)
    return [tuple(c) for c in chains]


def merged_groups(graph: Graph, chains: Sequence[tuple[int, ...]]) -> list[tuple[int, ...]]:
    """Runs of two or more adjacent linked chains, merged into one longer chain each."""
    merged = []
    for i in range(len(chains)):
        run = chains[i]
        for nxt in chains[i + 1 :]:
            if not _links(graph, graph.ops[run[-1]], graph.ops[nxt[0]]):
                break
            run = run + nxt
            merged.append(run)
    return merged


def simulate_rows(
    geometry: Sequence[RowGeometry], call_rows: Sequence[int] | None = None
) -> tuple[list[int], list[tuple[int, int, int]]]:
    """Run the row schedule the generated C runs; returns (line-buffer rows per intermediate, steps).

    Deepest first, one call at a time: the last op that can compute its next ``call_rows[i]`` rows
    (1 by default; fewer only at the tensor's end) does so; only when no later op can progress
    does the first op compute. A Winograd conv computes its output rows in pairs (call_rows 2). Every row is consumed as
    early as possible, so each line buffer holds just the rows its reader's window spans (3 for
    a 3x3 conv, 2 for a 2x2/2 pool), also at the tensor's bottom edge where several output rows
    become ready at once. Before an op appends a row, the rows the next op will never read again
    are dropped from the front of its line buffer. The C loop in the engine template is this loop.
    Steps are (stage, out_row_begin, out_row_end).
    """
    k = len(geometry)
    call_rows = list(call_rows or [1] * k)
    done, first = [0] * k, [0] * k
    capacity = [0] * (k - 1)
    steps: list[tuple[int, int, int]] = []

    def run(i: int, end: int) -> None:
        if i < k - 1:  # drop the rows the next op will never read again, then append
            first[i] = max(first[i], min(geometry[i + 1].in_lo(done[i + 1]), done[i]))
            capacity[i] = max(capacity[i], end - first[i])
        if i > 0:  # the input rows this computation reads must be held
            assert first[i - 1] <= geometry[i].in_lo(done[i]) and geometry[i].in_hi(end - 1) < done[i - 1]
        steps.append((i, done[i], end))
        done[i] = end

    while done[k - 1] < geometry[k - 1].out_h:
        for i in reversed(range(k)):
            ready = geometry[0].out_h if i == 0 else rows_ready(geometry[i], done[i - 1])
            need = min(done[i] + call_rows[i], geometry[i].out_h)
            if need > done[i] and ready >= need:
                run(i, need)
                break
        else:
            raise ExportError(f"streaming schedule stalls at rows {done}: the chain cannot be streamed")
    return capacity, steps


def rows_ready(geo: RowGeometry, available: int) -> int:
    """How many output rows can be computed once input rows [0, available) exist."""
    if available >= geo.in_h:
        return geo.out_h
    t = available + geo.pad_top - geo.kernel_h
    return 0 if t < 0 else min(geo.out_h, t // geo.stride_h + 1)


def make_group(graph: Graph, ops: Sequence[int], call_rows: Callable[[Op], int] | None = None) -> StreamGroup:
    geometry = tuple(row_geometry(graph, graph.ops[i]) for i in ops)
    folds = is_global_max(graph, graph.ops[ops[-1]])
    rows = tuple(
        1 if call_rows is None or (folds and n == len(ops) - 1) else max(1, int(call_rows(graph.ops[i])))
        for n, i in enumerate(ops)
    )
    capacity, _ = simulate_rows(geometry, rows)
    intermediates = tuple(graph.ops[i].outputs[0] for i in ops[:-1])
    return StreamGroup(tuple(ops), intermediates, dict(zip(intermediates, capacity)), geometry, folds, rows)


# --------------------------------------------------------------------------------------------
# Planning


def _row_bytes(graph: Graph, tid: int) -> int:
    t = graph.tensor(tid)
    _, w, c = t.hwc
    return w * c * t.nbytes // max(t.size, 1)


def _build(
    graph: Graph,
    groups: Sequence[StreamGroup],
    scratch_bytes: Callable[[Op], int],
    frontend_scratch_bytes: int,
    streamed_scratch_bytes: Callable[[Op], int] | None = None,
) -> Plan:
    grouped = {i: g for g in groups for i in g.ops}
    steps: list[Step] = []
    for op in graph.ops:
        g = grouped.get(op.index)
        if g is None:
            steps.append(Step((op.index,)))
        elif op.index == g.ops[0]:
            steps.append(Step(g.ops, g))
    step_of = {i: s for s, step in enumerate(steps) for i in step.ops}
    streamed = {t for g in groups for t in g.intermediates}
    last_step = len(steps) - 1

    # Alias classes: a RESHAPE output shares its input's bytes.
    root = {t: t for t in graph.activation_ids()}

    def find(t):
        while root[t] != t:
            t = root[t]
        return t

    for op in graph.ops:
        if op.kind == "RESHAPE" and not graph.tensor(op.inputs[0]).is_constant:
            root[find(op.outputs[0])] = find(op.inputs[0])

    first: dict[int, int] = {}
    last: dict[int, int] = {}
    uses: dict[int, set[int]] = {s: set() for s in range(BEFORE_INVOKE, len(steps))}
    for t in graph.inputs:
        first[t] = last[t] = BEFORE_INVOKE
        uses[BEFORE_INVOKE].add(t)
    for op in graph.ops:
        s = step_of[op.index]
        for t in (*op.inputs, *op.outputs):
            if t < 0 or graph.tensor(t).is_constant or t in streamed:
                continue
            first[t] = min(first.get(t, s), s)
            last[t] = max(last.get(t, s), s)
            uses[s].add(t)
    for t in graph.outputs:
        last[t] = last_step
        first.setdefault(t, last_step)

    members: dict[int, list[int]] = {}
    for t in first:
        members.setdefault(find(t), []).append(t)
    buffers = []
    for r, ts in sorted(members.items()):
        size = max(graph.tensor(t).nbytes for t in ts)
        buffers.append(
            Buffer(
                graph.tensor(r).name or f"t{r}",
                size,
                min(first[t] for t in ts),
                max(last[t] for t in ts),
                "tensor",
                tuple(sorted(ts)),
            )
        )
    for g in groups:
        s = step_of[g.ops[0]]
        for t in g.intermediates:
            buffers.append(
                Buffer(f"line:{graph.tensor(t).name or t}", g.line_rows[t] * _row_bytes(graph, t), s, s, "line", (t,))
            )
    streamed_scratch_bytes = streamed_scratch_bytes or scratch_bytes
    for s, step in enumerate(steps):
        need = max((streamed_scratch_bytes if step.group else scratch_bytes)(graph.ops[i]) for i in step.ops)
        if need > 0:
            buffers.append(Buffer(f"scratch:step{s}", need, s, s, "scratch"))
    if frontend_scratch_bytes > 0:
        buffers.append(Buffer("frontend_scratch", frontend_scratch_bytes, BEFORE_INVOKE, BEFORE_INVOKE, "frontend"))
    arena = place_greedy(buffers)
    return Plan(steps, buffers, arena, list(groups), arena, uses)


def plan_memory(
    graph: Graph,
    *,
    streaming: str = "auto",
    ram_budget: int | None = None,
    frontend_scratch_bytes: int = 0,
    scratch_bytes: Callable[[Op], int] | None = None,
    streamed_scratch_bytes: Callable[[Op], int] | None = None,
    call_rows: Callable[[Op], int] | None = None,
) -> Plan:
    """Plan the arena for ``graph``.

    streaming: 'off' (whole tensors), 'on' (stream chains as long as that shrinks the arena) or
    'auto' (stream only until the arena fits ``ram_budget``; nothing without a budget).
    Candidates are conv/pool chains ending at a max-pool, and runs of adjacent ones merged.
    scratch_bytes(op): the kernel scratch an op needs while it runs (default none);
    streamed_scratch_bytes(op): the same inside a streamed chain, where every call computes
    ``call_rows(op)`` output rows (default scratch_bytes; call_rows default 1).
    """
    if streaming not in STREAMING_MODES:
        raise ExportError(f"streaming='{streaming}' is not one of {STREAMING_MODES}")
    scratch_bytes = scratch_bytes or (lambda op: 0)
    full = _build(graph, [], scratch_bytes, frontend_scratch_bytes)
    # A chain is worth streaming only if its line buffers are smaller than the whole tensors.
    chains = candidate_groups(graph)
    candidates = [
        g
        for g in (make_group(graph, c, call_rows) for c in chains + merged_groups(graph, chains))
        if sum(g.line_rows[t] * _row_bytes(graph, t) for t in g.intermediates)
        < sum(graph.tensor(t).nbytes for t in g.intermediates)
    ]
    if streaming == "off" or not candidates:
        return full
    # Greedy: add (or widen to) the chain that shrinks the arena most, until the budget is met
    # ('auto') or nothing shrinks it any more ('on').
    budget = 0 if streaming == "on" else ram_budget
    plan = full
    chosen: list[StreamGroup] = []
    while budget is not None and plan.arena_bytes > budget:
        trials = []
        for g in candidates:
            if any(g.ops == c.ops for c in chosen):
                continue
            keep = [c for c in chosen if not set(c.ops) & set(g.ops)]
            if any(set(c.ops) & set(g.ops) and not set(c.ops) <= set(g.ops) for c in chosen):
                continue  # partial overlap: not a valid set of chains
            trials.append(
                (_build(graph, keep + [g], scratch_bytes, frontend_scratch_bytes, streamed_scratch_bytes), keep + [g])
            )
        if not trials:
            break
        n_streamed = lambda t: sum(len(g.ops) for g in t[1])  # noqa: E731
        fitting = [t for t in trials if t[0].arena_bytes <= budget]
        if fitting:  # meet the budget streaming as few ops as possible
            best, groups = min(fitting, key=lambda t: (n_streamed(t), t[0].arena_bytes))
        else:
            best, groups = min(trials, key=lambda t: (t[0].arena_bytes, n_streamed(t)))
        if best.arena_bytes >= plan.arena_bytes:
            break  # no chain helps any more
        plan, chosen = best, groups
    plan.groups.sort(key=lambda grp: grp.ops[0])
    plan.unstreamed_arena_bytes = full.arena_bytes
    return plan


def check_budget(plan: Plan, ram_budget: int | None) -> None:
    if ram_budget is not None and plan.arena_bytes > ram_budget:
        raise ExportError(
            f"the model needs a {plan.arena_bytes}-byte arena (without streaming {plan.unstreamed_arena_bytes}) "
            f"but the RAM budget is {ram_budget} bytes: use streaming='on'/'auto', a smaller model or a bigger board"
        )


def buffer_rows(plan: Plan) -> list[dict]:
    """Every buffer of the plan as a dict (name, kind, bytes, offset, first/last step), by offset."""
    return [
        {
            "name": b.name,
            "kind": b.kind,
            "bytes": b.size,
            "offset": b.offset,
            "first_step": b.first,
            "last_step": b.last,
        }
        for b in sorted(plan.buffers, key=lambda b: (b.offset, b.first))
    ]


def live_bytes(plan: Plan, step: int) -> int:
    """Bytes of the buffers live at ``step`` (a lower bound of any arena for this schedule)."""
    return sum(b.size for b in plan.buffers if b.first <= step <= b.last)


def readable_name(tensor_name: str) -> str:
    """A TF tensor name as the Keras layers a user knows: ``audio_model/activation_1/Relu;audio_model/
    batch_normalization_2/FusedBatchNormV3;audio_model/conv2d_1/BiasAdd;...`` -> ``conv2d_1 + BN + ReLU``,
    ``serving_default_input_1:0`` -> ``input_1``; a ``line:`` prefix is kept, other names are unchanged."""
    prefix, _, name = tensor_name.rpartition("line:")
    prefix += "line:" if _ else ""
    if "/" not in name and not name.startswith("serving_default_"):
        return tensor_name
    layers: list[str] = []
    for part in name.split(";"):
        segments = part.split(":")[0].split("/")
        layer = segments[1] if len(segments) > 2 else segments[0]
        layer = layer.removeprefix("serving_default_")
        if layer.startswith("batch_normalization"):
            layer = "BN"
        elif layer.startswith("activation") or layer.startswith("re_lu"):
            layer = "ReLU" if segments[-1].startswith("Relu") else layer
        if layer not in layers:
            layers.append(layer)
    main = [l for l in layers if l not in ("BN", "ReLU")][:1] or layers[:1]
    return prefix + " + ".join(main + [l for l in ("BN", "ReLU") if l in layers and l not in main])


def format_buffer_table(plan: Plan) -> str:
    """The arena as a table: every buffer with its offset, size and live steps; the peak step's
    live bytes (what any placement needs at least) against the arena (what this placement uses)."""
    peak = plan.peak_step()
    lines = [f"{'offset':>9} {'bytes':>9}  {'steps':>9}  {'kind':<8} buffer"]
    for row in buffer_rows(plan):
        live = "*" if row["first_step"] <= peak <= row["last_step"] else " "
        steps = f"{row['first_step']}..{row['last_step']}"
        lines.append(
            f"{row['offset']:>9,} {row['bytes']:>9,} {live}{steps:>9}  {row['kind']:<8} {readable_name(row['name'])}"
        )
    lines.append(
        f"peak: step {peak} has {live_bytes(plan, peak):,} bytes live (marked *); arena "
        f"{plan.arena_bytes:,} bytes; without streaming {plan.unstreamed_arena_bytes:,} bytes"
    )
    return "\n".join(lines)
