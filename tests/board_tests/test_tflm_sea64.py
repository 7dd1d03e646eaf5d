"""SEA-64 (real weights, ../shared) on qemu-mps2-an386 through both runtimes in one run: the generated
engine and TFLite Micro + CMSIS-NN (``--runtime tflm``) from the same int8 .tflite, benched over the
same window as ``edgel3-mote bench --runtime both`` does (board_tests.bench.compare_runtimes): both
identical to the tflite-micro wheel and to each other; instructions and estimated cycles per window,
arena, RAM and flash side by side. Record new values with `make results ONLY=tflm.sea64.`."""

from __future__ import annotations

import pytest

from edgel3_mote.board_tests.harness.bench import compare_runtimes, cycle_trace_plugin, run_bench, window_cycles
from edgel3_mote.board_tests.harness.deploy import open_board, resolve_deployment
from edgel3_mote.export.project import build_firmware_project

pytestmark = [pytest.mark.qemu, pytest.mark.slow]

BOARD = "qemu-mps2-an386"


def _bench(info, weights, clip, trace) -> dict:
    setup, elf = resolve_deployment(BOARD, "sea-64", str(weights), project=info.project_dir, log=lambda m: None)
    with open_board(setup, elf, plugin=cycle_trace_plugin(elf, trace, BOARD), log=lambda m: None) as client:
        results = run_bench(
            client, setup, [clip], max_windows=1, repeat_check=False, progress=False, log=lambda m: None
        )
    results["cycles"] = window_cycles(results, elf, trace)
    return results


@pytest.fixture(scope="module")
def both(sea64_weights, sea64_project, clips_dir, tmp_path_factory):
    """TFLM, the engine streamed (``--streaming on``: its row-by-row plan, the one a small board gets) and the
    engine as this 4 MiB board builds it by default (not streamed: the fewest instructions, a larger arena)."""
    from edgel3_mote.board_tests.harness.bench import runtimes_markdown

    tmp = tmp_path_factory.mktemp("tflm-sea64")
    projects = {
        rt: build_firmware_project(
            BOARD,
            "sea-64",
            weights=str(sea64_weights),
            clips=str(clips_dir),
            out_dir=tmp / rt,
            streaming="on",
            runtime=rt,
            log=lambda m: None,
        )
        for rt in ("engine", "tflm")
    }
    clip = clips_dir / "cat.mp3"
    projects["unstreamed"] = sea64_project(BOARD)
    runs = {rt: _bench(info, sea64_weights, clip, tmp / f"{rt}.trace") for rt, info in projects.items()}
    cmp = compare_runtimes(runs["engine"], runs["tflm"])
    cmp["unstreamed"] = compare_runtimes(runs["unstreamed"], runs["tflm"])
    print("\n" + runtimes_markdown(cmp))
    return runs, cmp


def test_both_runtimes_are_identical_to_the_wheel(both):
    runs, cmp = both
    assert runs["tflm"]["runtime"] == "tflm" and runs["engine"]["runtime"] == "engine"
    assert cmp["both_exact_vs_wheel"] and cmp["int8_identical"]
    assert cmp["unstreamed"]["both_exact_vs_wheel"] and cmp["unstreamed"]["int8_identical"]
    assert runs["tflm"]["cycles"]["instructions_match_ticks"]  # the profiler's ticks are the traced ones
    # the memory system's counts reach TFLM's per-operator layers (one profiler site, pair k = layer k):
    # the layers' flash traffic adds up to the engine span's, so memory-aware figures exist per layer too
    c = runs["tflm"]["cycles"]
    assert c["memory"] is not None and c["memory"]["traced"]
    for key in ("data_reads", "instr_lines"):
        per_layer = [layer["flash"][key] for layer in c["layers"]]
        assert 0 < sum(per_layer) <= c["engine"]["flash"][key]
        assert all("memory_cycles" in layer for layer in c["layers"])
    assert sum(layer["flash"]["data_reads"] > 0 for layer in c["layers"]) >= 8  # every conv reads its weights


def test_engine_against_tflm_figures(both, figure):
    _, cmp = both
    e, t, r = cmp["engine"], cmp["tflm"], cmp["ratios"]
    figure("tflm.sea64.engine_instructions", e["engine_ticks_mean"])
    figure("tflm.sea64.tflm_instructions", t["engine_ticks_mean"])
    figure("tflm.sea64.instructions_ratio", r["engine_ticks_mean"])
    figure("tflm.sea64.cycles_ratio", r["estimated_cycles"])
    figure("tflm.sea64.engine_arena_bytes", e["arena_need_bytes"])
    figure("tflm.sea64.tflm_arena_bytes", t["arena_need_bytes"])
    figure("tflm.sea64.arena_ratio", r["arena_need_bytes"])
    figure("tflm.sea64.engine_flash_bytes", e["flash_bytes"])
    figure("tflm.sea64.tflm_flash_bytes", t["flash_bytes"])
    figure("tflm.sea64.flash_ratio", r["flash_bytes"])
    figure("tflm.sea64.unstreamed_instructions_ratio", cmp["unstreamed"]["ratios"]["engine_ticks_mean"])
    figure("tflm.sea64.unstreamed_arena_ratio", cmp["unstreamed"]["ratios"]["arena_need_bytes"])
    figure("tflm.sea64.unstreamed_flash_ratio", cmp["unstreamed"]["ratios"]["flash_bytes"])
    # issue 19's bars: <= 0.45x the instructions (the board's default build: Winograd with int8 weights, w16
    # only on the two 8x6 layers), <= 0.3x the arena (the streamed plan: its Winograd layers go tiled, whose
    # one-row calls need fewer line rows; more instructions, measured above), and in both builds no more flash
    # than TFLM's (int8 weights in flash; w16 adds at most 10 % of them)
    assert cmp["unstreamed"]["ratios"]["engine_ticks_mean"] <= 0.45 and r["arena_need_bytes"] <= 0.3
    assert r["flash_bytes"] <= 1.0 and cmp["unstreamed"]["ratios"]["flash_bytes"] <= 1.0
    # every operator has a per-layer figure in both runtimes
    assert all(
        layer["engine"] is not None and layer["tflm"] is not None for layer in cmp["layers"] if "conv" in layer["name"]
    )


def test_bench_runtime_both_writes_the_side_by_side_report(both, tmp_path):
    """What ``bench --runtime both`` writes from the two runs: bench.md with the figures and the per-layer
    table (instructions and estimated cycles of every operator in both runtimes), bench.json, and each
    runtime's own reports beside them."""
    import json

    from edgel3_mote.board_tests.harness.cli import _report_both

    runs, _ = both
    assert _report_both({rt: runs[rt] for rt in ("engine", "tflm")}, tmp_path, "bench") == 0
    md = (tmp_path / "bench.md").read_text()
    assert "int8 outputs identical between the runtimes: **yes**" in md
    rows = [line for line in md.splitlines() if line.startswith("| 0") or line.startswith("| 1")]
    assert len(rows) == 13 and all("n/a" not in row for row in rows if "_conv_2d" in row), md
    doc = json.loads((tmp_path / "bench.json").read_text())
    assert doc["schema"] == "edgel3-mote-bench-runtimes/1" and doc["int8_identical"]
    assert (tmp_path / "engine" / "bench.json").is_file() and (tmp_path / "tflm" / "bench.md").is_file()


def test_sea64_under_tflm_is_refused_on_the_128k_f405_board(sea64_weights, clips_dir, tmp_path):
    """The F405 plan's board (qemu-netduinoplus2, 128 KiB RAM) runs SEA-64 on the streamed engine; TFLM's
    arena alone is larger than its RAM, and the export says so with the figures before building anything."""
    import json
    import re

    from edgel3_mote.errors import ExportError
    from edgel3_mote.export.project import DEFAULT_CACHE_DIR

    with pytest.raises(ExportError, match="does not fit qemu-netduinoplus2") as err:
        build_firmware_project(
            "qemu-netduinoplus2",
            "sea-64",
            weights=str(sea64_weights),
            clips=str(clips_dir),
            out_dir=tmp_path / "p",
            runtime="tflm",
            log=lambda m: None,
        )
    assert not (tmp_path / "p").exists()
    msg = str(err.value)
    arena, host = (
        int(x.replace(",", "")) for x in re.search(r"arena is ([\d,]+) bytes \(arena_used_bytes ([\d,]+)", msg).groups()
    )
    assert "the board has 131,072" in msg and arena > 131_072 and host <= arena
    cached = [json.loads(p.read_text())["tflm_arena_bytes"] for p in DEFAULT_CACHE_DIR.glob("sea-64-*/tflm_arena.json")]
    assert host in cached  # the wheel's figure for this very export
