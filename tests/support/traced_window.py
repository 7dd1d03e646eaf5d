"""One traced window through the serial bench: the tests that hold a board's cycle and energy figures
(tests/board_tests/test_cycles_sea64.py, test_nrf52840_pruned.py) all measure window 0 of one clip this way."""

from __future__ import annotations

from pathlib import Path


def trace_first_window(board: str, model: str, weights: str, project_dir: Path, clip: Path, tmp: Path):
    """Bench window 0 of ``clip`` on ``board`` in QEMU with the cycle-trace plugin; returns the bench results
    and ``window_cycles`` (zero-wait, memory-aware estimate, upper bound, energy) of that window."""
    from edgel3_mote.board_tests.harness.bench import cycle_trace_plugin, run_bench, window_cycles
    from edgel3_mote.board_tests.harness.deploy import open_board, resolve_deployment

    setup, elf = resolve_deployment(board, model, weights, project=project_dir, log=lambda m: None)
    trace = tmp / "trace.txt"
    with open_board(setup, elf, plugin=cycle_trace_plugin(elf, trace, board), log=lambda m: None) as client:
        results = run_bench(
            client, setup, [clip], max_windows=1, repeat_check=False, progress=False, log=lambda m: None
        )
    return results, window_cycles(results, elf, trace)
