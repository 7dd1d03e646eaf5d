"""The static memory plan: no two live tensors ever overlap; streaming fits SEA-64 in 128 KiB."""

from __future__ import annotations

import random

import numpy as np
import pytest
from codegen_models import L3_LAYERS, SEA64_LAYERS, synthetic_conv_graph

from edgel3_mote.errors import ExportError
from edgel3_mote.export.ir import Graph, Op, Tensor
from edgel3_mote.export.planner import (
    BEFORE_INVOKE,
    Buffer,
    RowGeometry,
    align_up,
    candidate_groups,
    check_budget,
    format_buffer_table,
    is_global_max,
    live_bytes,
    make_group,
    merged_groups,
    place_greedy,
    plan_memory,
    simulate_rows,
    verify_placement,
    verify_plan,
)

KIB = 1024


def _conv_scratch(graph):
    # The DSP conv scratch (EM_CONV2D_S8_DSP_BUFFER_BYTES) the code generator reserves.
    return lambda op: (4 * 9 * graph.tensor(op.inputs[1]).shape[3] + 4) if op.kind == "CONV_2D" else 0


def _independent_overlap_check(graph: Graph, plan) -> int:
    """Recompute liveness from the graph alone (not from the plan) and check byte ranges.

    A tensor is live from the step that produces it (graph inputs: before invoke) to the last
    step that reads it (graph outputs: the end). Returns the number of tensor pairs checked.
    """
    step_of = {i: s for s, step in enumerate(plan.steps) for i in step.ops}
    streamed = {t for g in plan.groups for t in g.intermediates}
    live = {}
    for t in graph.inputs:
        live[t] = [BEFORE_INVOKE, BEFORE_INVOKE]
    for op in graph.ops:
        for t in (*op.inputs, *op.outputs):
            if graph.tensor(t).is_constant or t in streamed:
                continue
            s = step_of[op.index]
            lo, hi = live.get(t, [s, s])
            live[t] = [min(lo, s), max(hi, s)]
    for t in graph.outputs:
        live[t][1] = len(plan.steps) - 1
    parent = {}

    def root(t):  # RESHAPE outputs share their input's bytes, transitively
        while t in parent:
            t = parent[t]
        return t

    for op in graph.ops:
        if op.kind == "RESHAPE":
            parent[op.outputs[0]] = op.inputs[0]
    pairs = 0
    ids = sorted(live)
    for i, a in enumerate(ids):
        for b in ids[i + 1 :]:
            if root(a) == root(b):
                assert plan.offset_of(a) == plan.offset_of(b)
                continue
            if live[a][0] <= live[b][1] and live[b][0] <= live[a][1]:
                oa, ob = plan.offset_of(a), plan.offset_of(b)
                na, nb = graph.tensor(a).nbytes, graph.tensor(b).nbytes
                assert oa + na <= ob or ob + nb <= oa, f"tensors {a} and {b} overlap while both live"
                pairs += 1
    return pairs


def _random_graph(rng: random.Random) -> Graph:
    """A random DAG of opaque ops (1-3 inputs each), some RESHAPEs, random sizes."""
    tensors = []

    def add(n, const=False):
        data = np.zeros(n, np.int8) if const else None
        tensors.append(
            Tensor(
                len(tensors), f"t{len(tensors)}", (1, n), "int8", np.ones(1, np.float32), np.zeros(1, np.int64), 0, data
            )
        )
        return len(tensors) - 1

    x = add(rng.randint(1, 5000))
    available, ops = [x], []
    for i in range(rng.randint(1, 25)):
        if rng.random() < 0.2:
            src = rng.choice(available)
            out = add(tensors[src].size)
            ops.append(Op(i, "RESHAPE", (src, add(2, const=True)), (out,)))
        else:
            ins = tuple(rng.sample(available, min(len(available), rng.randint(1, 3))))
            out = add(rng.randint(1, 50000))
            ops.append(Op(i, "ADD", ins + (add(4, const=True),), (out,)))
        available.append(out)
    return Graph(tensors, ops, (x,), (ops[-1].outputs[0],))


def test_planner_random_graphs_never_overlap_live_tensors():
    rng = random.Random(1234)
    checked = 0
    for _ in range(150):
        graph = _random_graph(rng)
        plan = plan_memory(graph, streaming="off", frontend_scratch_bytes=rng.choice([0, 3000]))
        verify_plan(plan)
        checked += _independent_overlap_check(graph, plan)
        fe = plan.frontend_scratch()
        if fe is not None:  # the front-end's scratch never overlaps the input
            inp = plan.buffer_of(graph.inputs[0])
            assert fe.offset + fe.size <= inp.offset or inp.offset + inp.size <= fe.offset
    assert checked > 500


def test_planner_random_lifetimes_placement():
    rng = random.Random(7)
    for _ in range(300):
        bufs = []
        for i in range(rng.randint(1, 40)):
            a = rng.randint(-1, 30)
            bufs.append(Buffer(f"b{i}", rng.randint(1, 10000), a, a + rng.randint(0, 10)))
        arena = place_greedy(bufs)
        verify_placement(bufs, arena)
        # never worse than the sum of sizes, never better than the busiest step
        peak = max(sum(b.size for b in bufs if b.first <= s <= b.last) for s in range(-1, 41))
        assert peak <= arena <= sum(-(-b.size // 16) * 16 for b in bufs)


def test_verify_placement_catches_overlap():
    a, b = Buffer("a", 100, 0, 2, offset=0), Buffer("b", 100, 2, 3, offset=64)
    with pytest.raises(AssertionError, match="overlap"):
        verify_placement([a, b], 256)
    b.first = 3  # no longer live together: sharing bytes is fine
    a.last = 2
    verify_placement([a, b], 256)


def test_planner_sea64_full_and_streamed():
    graph = synthetic_conv_graph((64, 50, 1), SEA64_LAYERS)
    full = plan_memory(graph, streaming="off", scratch_bytes=_conv_scratch(graph))
    streamed = plan_memory(graph, streaming="on", scratch_bytes=_conv_scratch(graph))
    for plan in (full, streamed):
        verify_plan(plan)
        _independent_overlap_check(graph, plan)
    # two 64x50x32 int8 tensors live at once, plus conv scratch
    assert 204800 <= full.arena_bytes < 204800 + 8 * KIB
    assert streamed.unstreamed_arena_bytes == full.arena_bytes
    assert streamed.arena_bytes < 48 * KIB  # leaves most of a 128 KiB board for everything else
    assert streamed.groups[0].ops[:3] == (0, 1, 2)
    # the 64x50x32 intermediates exist only as a few rows, never whole
    conv1_out, conv2_out = graph.ops[0].outputs[0], graph.ops[1].outputs[0]
    assert streamed.groups[0].line_rows[conv1_out] == 3 and streamed.groups[0].line_rows[conv2_out] == 2
    assert not any(conv1_out in b.tensors for b in streamed.buffers if b.kind == "tensor")


def test_planner_auto_streams_only_what_the_budget_needs():
    graph = synthetic_conv_graph((64, 50, 1), SEA64_LAYERS)
    assert plan_memory(graph, streaming="auto").groups == []  # no budget: nothing streamed
    roomy = plan_memory(graph, streaming="auto", ram_budget=300 * KIB)
    assert roomy.groups == []
    tight = plan_memory(graph, streaming="auto", ram_budget=110 * KIB)
    assert tight.arena_bytes <= 110 * KIB and [g.ops for g in tight.groups] == [(0, 1, 2)]
    tighter = plan_memory(graph, streaming="auto", ram_budget=60 * KIB)
    assert tighter.arena_bytes <= 60 * KIB and sum(len(g.ops) for g in tighter.groups) > 3
    with pytest.raises(ExportError, match="RAM budget"):
        check_budget(plan_memory(graph, streaming="auto", ram_budget=8 * KIB), 8 * KIB)
    with pytest.raises(ExportError, match="streaming"):
        plan_memory(graph, streaming="sometimes")


def test_planner_reshape_is_aliased():
    graph = synthetic_conv_graph((64, 50, 1), SEA64_LAYERS)
    plan = plan_memory(graph, streaming="on")
    reshape = graph.ops[-1]
    assert reshape.kind == "RESHAPE"
    assert plan.buffer_of(reshape.inputs[0]) is plan.buffer_of(reshape.outputs[0])
    assert plan.offset_of(reshape.inputs[0]) == plan.offset_of(graph.outputs[0])


def test_planner_frontend_scratch_is_disjoint_from_input():
    graph = synthetic_conv_graph((64, 50, 1), SEA64_LAYERS)
    plan = plan_memory(graph, streaming="on", frontend_scratch_bytes=60 * KIB)
    verify_plan(plan)
    fe, inp = plan.frontend_scratch(), plan.buffer_of(graph.inputs[0])
    assert fe.size == 60 * KIB and plan.arena_bytes >= 60 * KIB + inp.size
    assert fe.offset + fe.size <= inp.offset or inp.offset + inp.size <= fe.offset


def test_candidate_chains_stop_at_pools_and_shared_tensors():
    graph = synthetic_conv_graph((64, 50, 1), SEA64_LAYERS)
    chains = candidate_groups(graph)
    assert chains == [(0, 1, 2), (3, 4, 5), (6, 7, 8), (9, 10, 11)]
    assert tuple(range(12)) in merged_groups(graph, chains)
    # a tensor read by two ops cannot be a line buffer: the chain breaks there
    conv1_out = graph.ops[0].outputs[0]
    graph.ops[2] = Op(2, "MAX_POOL_2D", (conv1_out,), graph.ops[2].outputs, graph.ops[2].options)
    assert all(0 not in chain for chain in candidate_groups(graph))


@pytest.mark.parametrize("seed", range(40))
def test_row_schedule_computes_every_needed_row_once(seed):
    rng = random.Random(seed)
    geos, in_h = [], rng.randint(8, 40)
    for _ in range(rng.randint(2, 4)):
        k, s = rng.randint(1, 5), rng.randint(1, 3)
        same = rng.random() < 0.5
        out_h = -(-in_h // s) if same else (in_h - k) // s + 1
        if out_h < 1:
            break
        pad = max((out_h - 1) * s + k - in_h, 0) // 2 if same else 0
        geos.append(RowGeometry(in_h, out_h, k, s, pad))
        in_h = out_h
    if len(geos) < 2:
        return
    capacity, steps = simulate_rows(geos)  # asserts the held rows cover every read inside
    computed = [max(e for st, _, e in steps if st == i) for i in range(len(geos))]
    for i, geo in enumerate(geos):
        ranges = [(b, e) for st, b, e in steps if st == i]
        # rows are computed in order, each exactly once
        assert ranges[0][0] == 0 and all(e1 == b2 for (_, e1), (b2, _) in zip(ranges, ranges[1:]))
        if i == len(geos) - 1:
            assert computed[i] == geo.out_h
        else:  # every row the next stage read was computed, and the buffer fits in the tensor
            assert computed[i] >= geos[i + 1].in_hi(computed[i + 1] - 1) + 1
            assert 1 <= capacity[i] <= geo.out_h


def test_planner_l3_plan_is_generatable():
    """Planning only (the full L3 engine test is too slow for CI): big tensors stream."""
    graph = synthetic_conv_graph((256, 199, 1), L3_LAYERS)
    full = plan_memory(graph, streaming="off", scratch_bytes=_conv_scratch(graph))
    streamed = plan_memory(graph, streaming="on", scratch_bytes=_conv_scratch(graph))
    verify_plan(full)
    verify_plan(streamed)
    assert full.arena_bytes >= 2 * 256 * 199 * 64
    # one chain from the input to the global max (folded row by row): fits a 1 MiB mote
    assert [g.ops for g in streamed.groups] == [tuple(range(12))] and streamed.groups[0].folds
    assert streamed.arena_bytes < 768 * KIB


def test_l3_line_buffers_are_minimal_and_the_arena_is_the_peak():
    """Deepest-first scheduling keeps just the rows each reader's window spans -- 3 per 3x3 conv input,
    2 per 2x2/2 pool input, 1 for the folded global max -- also at the bottom edge, where the old
    breadth-first loop let bursts of ready rows grow the deeper buffers to 4-5 rows (513,296 B)."""
    graph = synthetic_conv_graph((256, 199, 1), L3_LAYERS)
    plan = plan_memory(graph, streaming="on", frontend_scratch_bytes=9216, scratch_bytes=_conv_scratch(graph))
    verify_plan(plan)
    group = plan.groups[0]
    assert [group.line_rows[t] for t in group.intermediates] == [3, 2, 3, 3, 2, 3, 3, 2, 3, 3, 1]
    line_bytes = sum(plan.line_buffer(t).size for t in group.intermediates)
    assert line_bytes == 295_168
    # the greedy placement reaches the lower bound: the bytes live at the peak step
    assert plan.arena_bytes == align_up(live_bytes(plan, plan.peak_step()))
    table = format_buffer_table(plan)
    assert len(table.splitlines()) == len(plan.buffers) + 2 and f"arena {plan.arena_bytes:,} bytes" in table


def test_global_max_detection_and_folding():
    graph = synthetic_conv_graph((256, 199, 1), L3_LAYERS)
    pool = graph.ops[11]
    assert is_global_max(graph, pool) and not is_global_max(graph, graph.ops[2])
    pool.options["padding"] = "SAME"  # as the converter writes L3's 32x24 pool: still one window
    assert is_global_max(graph, pool)
    assert make_group(graph, (9, 10, 11)).folds
    pool.options["fused_activation"] = "RELU"  # a clamp the running max would skip
    assert not is_global_max(graph, pool)
    pool.options.update(fused_activation="NONE", filter_h=16, stride_h=16)
    assert not is_global_max(graph, pool)
