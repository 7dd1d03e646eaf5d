"""``cycles.infer_cycles``'s per-layer mapping keeps each layer's flash traffic (the memory-aware estimate
and upper bound per layer), for the engine's one-call-site-per-layer spans and for TFLM's profiler, whose
every operator is timed from the same two call sites (pair k = layer k). A span of hand-made segments:
each segment's cost is read from a stand-in estimator, the memory counts are the real MemCounts sums."""

from __future__ import annotations

from edgel3_mote.board_tests.harness.cycles import Cost, CycleEstimator, MemCounts, Segment, infer_cycles

APP, ENGINE, PROFILER = 0x100, 0x200, 0x300  # return addresses: the serial app's, the engine's, TFLM's profiler


class _Funcs:
    def name(self, addr: int) -> str:
        return "serial_main" if addr < ENGINE else "runtime"


class _Est:
    """Each segment costs its ``counts[0]`` instructions (2 cycles each)."""

    def segment(self, seg: Segment) -> Cost:
        n = seg.counts.get(0, [0])[0]
        return Cost(n, 2 * n)

    def segments(self, segs: list[Segment]) -> Cost:
        total = Cost(0, 0)
        for s in segs:
            total = total + self.segment(s)
        return total


def _seg(key: int, instructions: int = 0, reads: int = 0) -> Segment:
    mem = MemCounts(data_reads=reads, data_misses=reads, instr_lines=1, instr_misses=1) if instructions else None
    return Segment(0, key, {0: [instructions, 0]}, mem=mem)


def _span(layer_pairs: list[tuple[int, int, int]]) -> list[Segment]:
    """t0, front-end, t2, then per layer (before, after) from ``site`` costing ``n`` with ``reads``, then t3."""
    span = [_seg(APP), _seg(APP + 4, 50), _seg(APP + 8)]
    for site, n, reads in layer_pairs:
        span += [_seg(site), _seg(site + 4, n, reads)]
    return span + [_seg(APP + 12)]


def _check(ic: dict, expected: list[tuple[int, int]]) -> None:
    assert ic["layers_mapped"]
    assert [(layer["instructions"], layer["flash"]["data_reads"]) for layer in ic["layers"]] == expected
    assert sum(layer["flash"]["data_reads"] for layer in ic["layers"]) == ic["engine"]["flash"]["data_reads"]


def test_tflm_profiler_pairs_carry_their_flash_counts():
    layers = [(PROFILER, 1000, 300), (PROFILER, 20, 0), (PROFILER, 700, 120)]  # one site for every operator
    ic = infer_cycles(_span(layers), _Est(), _Funcs(), [n for _, n, _ in layers], resolution=1)
    _check(ic, [(1000, 300), (20, 0), (700, 120)])
    assert all(layer["runs"] == 1 and layer["flash"]["instr_misses"] == 1 for layer in ic["layers"])


def test_engine_sites_carry_their_flash_counts_summed_over_runs():
    # layer 0 streamed in two calls from its own site, layer 1 once from another
    layers = [(ENGINE, 400, 10), (ENGINE, 400, 10), (ENGINE + 0x40, 90, 5)]
    ic = infer_cycles(_span(layers), _Est(), _Funcs(), [800, 90], resolution=1)
    _check(ic, [(800, 20), (90, 5)])
    assert [layer["runs"] for layer in ic["layers"]] == [2, 1]
    assert CycleEstimator.memory([]) == MemCounts()
