"""The memory model of the cycle estimator (export/memory_model.py + board_tests/harness/tbtrace.c) on
micro-benchmarks whose flash traffic follows from the STM32F405 reference manual (RM0090 s3.5: 128-bit
flash lines, an ART data cache of 8 lines and an instruction cache of 64 lines), run in QEMU on
qemu-netduinoplus2 (firmware/bench/memory_bench_main.c). Every region's loads from flash must be counted
(the plugin's memory callbacks see flash loads), its line misses must be what LRU caches of the
manual's sizes give, and the three cycle figures must be ordered zero-wait <= estimate <= upper bound
with the stalls the wait states (RM0090 Table 10: 5 at 168 MHz) put on them.
"""

from __future__ import annotations

import re

import pytest

from edgel3_mote.board_tests.harness.cycles import cycles_for_ticks, run_traced
from edgel3_mote.export.boards import BENCH_DIR, build_elf, get_board
from edgel3_mote.export.memory_model import STM32F405_MEMORY

pytestmark = pytest.mark.qemu

BOARD = "qemu-netduinoplus2"
LITERAL = 1  # each region's function loads its table address from a literal pool in flash: one read


@pytest.fixture(scope="module")
def membench(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("membench")
    elf = build_elf(BOARD, [BENCH_DIR / "memory_bench_main.c"], tmp / "mb.elf", extra_flags=["-Werror"])
    code, out, trace = run_traced(BOARD, elf, timeout=120, out=tmp / "trace.txt")
    assert code == 0, out
    vals = {k: int(v) for k, v in re.findall(r"^(\w+)=(\d+)$", out, re.M)}
    return vals, cycles_for_ticks(BOARD, trace, vals)


def test_the_table_is_in_flash(membench):
    vals, _ = membench
    assert get_board(BOARD).memory.flash_contains(vals["table_addr"])


@pytest.mark.parametrize(
    "region,reads,misses",
    [
        ("seq", 4096, 256),  # sequential bytes: one miss per 16-B line
        ("stride16", 256, 256),  # a new line every read
        ("stride32", 128, 128),
        ("stride128", 32, 32),
        ("reuse8", 512, 8),  # 8 lines fit the 8-line data cache: cold misses only
        ("reuse9", 576, 144),  # 9 lines cycled through 8 under LRU: every line visit misses
    ],
)
def test_flash_data_reads_and_misses_follow_the_manual(membench, region, reads, misses):
    _, r = membench
    assert r[f"{region}_flash_data_reads"] == reads + LITERAL
    # + the literal's line: the table's lines evicted it since the previous call
    assert r[f"{region}_flash_data_misses"] == misses + LITERAL
    ws = STM32F405_MEMORY.flash_wait_states
    assert r[f"{region}_bound_cycles"] - r[f"{region}_cycles"] >= ws * reads
    assert r[f"{region}_cycles"] <= r[f"{region}_est_cycles"] <= r[f"{region}_bound_cycles"]


def test_instruction_cache_loop_larger_than_the_cache_misses_every_pass(membench):
    _, r = membench
    # 8 calls of 2 KiB of code (128 lines) through a 64-line LRU I-cache: every line misses every call
    assert 8 * 128 <= r["bigloop_flash_instr_misses"] <= 8 * 128 + 40
    # 8 calls of 512 B (32 lines): only the first call misses
    assert 32 <= r["smallloop_flash_instr_misses"] <= 32 + 8
    # straight-line code: nearly every miss is on the next line, what the prefetcher hides
    assert r["bigloop_flash_instr_misses_sequential"] >= 8 * 127
    ws = STM32F405_MEMORY.flash_wait_states
    assert r["bigloop_bound_cycles"] - r["bigloop_cycles"] == ws * r["bigloop_flash_instr_misses"]
    assert r["bigloop_est_cycles"] < r["bigloop_bound_cycles"]


@pytest.fixture(scope="module")
def flash_kernels(tmp_path_factory):
    """bench-kernels' DSP build with its weights in flash, costed with the F405's memory system."""
    from edgel3_mote.board_tests.harness.kernel_bench import flash_memory_model, flash_table, run_bench

    board = "qemu-mps2-an386"
    model = flash_memory_model(board)
    r = run_bench(board, True, tmp_path_factory.mktemp("kflash"), flash_weights=True, memory=model)
    return r, {row["path"].strip(): row for row in flash_table(r)}


def test_kernels_read_their_weights_from_flash(flash_kernels, figure):
    r, rows = flash_kernels
    assert r["exit_code"] == 0  # int8 and w16 weights give identical outputs, sparse == dense
    for name in ("conv_dense", "fc"):
        # every weight byte is read at least once per output pixel group: far more flash reads than MACs / 8
        assert r[f"{name}_flash_data_reads"] > 1000
        assert r[f"{name}_cycles"] < r[f"{name}_est_cycles"] < r[f"{name}_bound_cycles"]
    for path, key in (
        ("SEA-64 convs (8 shapes), int8 weights", "sea64_s8"),
        ("SEA-64 convs (8 shapes), int16 weights (w16)", "sea64_w16"),
        ("conv 3x3 32x25x32->32, int8 weights", "conv_dense"),
        ("fully connected 512->64", "fc"),
    ):
        row = rows[path]
        assert row["zero_wait"] < row["estimate"] < row["upper_bound"]
        for fig in ("zero_wait", "estimate", "upper_bound"):
            figure(f"kernels.flash.{key}.{fig}_cycles_per_mac", row[fig])
