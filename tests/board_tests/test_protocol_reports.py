"""Bench summaries and reports from synthetic raw evidence; the CLI's subcommands."""

import json

import numpy as np

from edgel3_mote.board_tests.harness.bench import find_clips, summarize, to_pcm16
from edgel3_mote.board_tests.harness.bench_report import markdown, write_reports
from edgel3_mote.board_tests.harness.synth import synthesise_clips
from edgel3_mote.metrics import cosine_similarity as cosine


def _window(i, exact=True, fe=1000, eng=5000, layers=(3000, 2000)):
    return {
        "index": i,
        "start_sample": i * 800 - 4000,
        "timestamp_s": i * 0.1,
        "embedding_int8": [1, 2],
        "embedding": [0.1, 0.2],
        "int8_exact": exact,
        "int8_mismatched_values": 0 if exact else 1,
        "frontend_identical_fraction": 0.999,
        "frontend_max_lsb": 1,
        "cosine": 0.99 - 0.01 * i,
        "l2_relative": 0.1 + 0.01 * i,
        "mae": 0.01,
        "frontend_ticks": fe,
        "engine_ticks": eng,
        "layer_ticks": list(layers),
    }


def _results(windows):
    clips = [{"path": "/x/a.wav", "sample_rate": 16000, "samples": 16000, "windows": windows}]
    return {
        "model": "sea-64",
        "board": "qemu-mps2-an386",
        "random_weights": True,
        "weights": None,
        "ticks_unit": "instructions",
        "clock_hz": 25_000_000,
        "hop_s": 0.1,
        "window_samples": 8000,
        "model_sample_rate": 8000,
        "elapsed_s": 3.0,
        "device_info": {"board": "qemu-mps2-an386"},
        "device_mem": {"stack_bytes": 16384, "stack_high_water": 2000, "arena_bytes": 50000},
        "memory": {"flash_bytes": 400000},
        "clips": clips,
        "summary": summarize(clips, ["conv", "pool"]),
    }


def test_summary_counts_exactness_and_repeats():
    ws = [_window(0), _window(1, exact=False), _window(2)]
    ws[0]["repeat_identical"] = True
    s = summarize([{"windows": ws}], ["conv", "pool"])
    assert (s["windows"], s["int8_exact_windows"]) == (3, 2)
    assert abs(s["int8_exact_percent"] - 200 / 3) < 1e-9
    assert s["repeat_identical"] is True and s["repeat_checks"] == 1
    assert [layer["name"] for layer in s["layers"]] == ["conv", "pool"]
    assert s["cosine_min"] == 0.97


def test_reports_written_and_say_random_weights_and_instructions(tmp_path):
    res = _results([_window(0), _window(1)])
    paths = write_reports(res, tmp_path / "r")
    assert json.loads(paths["json"].read_text())["summary"]["windows"] == 2
    md = paths["markdown"].read_text()
    assert "RANDOM WEIGHTS" in md and "instructions" in md and "cycles" not in md
    assert "2/2 windows identical" in md
    for name in ("layers", "parity"):
        assert paths[name].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    res["summary"]["int8_exact_windows"] = 1
    assert "FAIL" in markdown(res)


def test_helpers(tmp_path):
    x = np.array([1.0, -1.0, 0.5, 1.5 / 32768])
    np.testing.assert_array_equal(to_pcm16(x), [32767, -32768, 16384, 2])
    assert cosine(np.array([1.0, 0]), np.array([0, 2.0])) == 0.0
    assert abs(cosine(np.array([1.0, 1]), np.array([2.0, 2])) - 1) < 1e-12
    clips = synthesise_clips(tmp_path)
    assert find_clips(tmp_path) == sorted(clips)


def test_cli_registers_bench_emulate_demo():
    from edgel3_mote.cli import build_parser

    parser = build_parser()
    for cmd in ("bench", "emulate", "demo"):
        args = parser.parse_args([cmd, "--hop-size", "0.5"])
        assert args.board == "qemu-mps2-an386" and args.model == "sea-64" and args.hop_size == 0.5
    args = parser.parse_args(["bench", "--port", "socket://127.0.0.1:1", "--baud", "921600"])
    assert (args.port, args.baud) == ("socket://127.0.0.1:1", 921600)


def test_compare_runs_counts_identical_ticks():
    from edgel3_mote.board_tests.harness.bench_report import compare_runs

    a = _results([_window(0), _window(1)])
    b = _results([_window(0), _window(1, eng=5040)])
    cmp = compare_runs(a, b)
    assert cmp == {
        "windows_compared": 2,
        "ticks_identical_windows": 1,
        "max_tick_diff": 40,
        "embedding_identical_windows": 2,
    }
    a["comparison"] = cmp
    assert "max difference 40 instructions" in markdown(a)
