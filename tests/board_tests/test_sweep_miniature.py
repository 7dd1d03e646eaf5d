"""A two-point miniature of ``edgel3-mote sweep`` end to end on the real SEA-64: prune + distil (tiny
corpus, one epoch, seeded, ``chain``: the pruned point starts from the point before it), firmware,
QEMU bench with the traced first window's cycle estimate; the table's columns are checked against
independent re-measurements from the files each point left, and a rerun resumes instead of redoing."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

import edgel3_mote  # noqa: F401

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory, sea64_weights, clip_paths):
    from edgel3_mote.board_tests.harness import sweep as S

    root = tmp_path_factory.mktemp("sweep")
    sys.path.insert(0, str(REPO / "tools"))
    try:
        import make_animal_segments
    finally:
        sys.path.pop(0)
    assert make_animal_segments.main([str(clip_paths[0].parent), str(root / "animals"), "--folds", "3"]) == 0
    bench = root / "bench"
    bench.mkdir()
    shutil.copy(clip_paths[3], bench)  # one clip streamed to the mote
    cfg = S.SweepConfig(
        teacher_weights=sea64_weights,
        train_audio=[str(p) for p in clip_paths[:2]],
        val_audio=[str(clip_paths[2])],
        eval_set=root / "animals",
        bench_clips=bench,
        sparsities=[90, 0],
        epochs=1,
        crops_per_epoch=8,
        batch_size=4,
        val_crops=8,
        eval_epochs=5,
        bench_max_windows=2,
        audio_cache=root / "audio",
        seed=0,
        chain=True,
    )
    table = S.run_sweep(cfg, root / "out", log=lambda m: None)
    return cfg, root / "out", table


def test_sweep_rows_are_measured(sweep):
    from edgel3_mote.board_tests.harness.bench import to_pcm16
    from edgel3_mote.compress.data import pipeline
    from edgel3_mote.compress.models.registry import build_model
    from edgel3_mote.compress.pruning import layerwise
    from edgel3_mote.export.boards import get_board
    from edgel3_mote.export.reference import TflmRunner
    from edgel3_mote.export.tflite import load_export

    cfg, out, table = sweep
    rows = {r["sparsity"]: r for r in table["rows"]}
    assert sorted(rows) == [0.0, 90.0] and set(table["columns"]) <= set(rows[0.0])
    teacher = build_model("sea-64", weights=str(cfg.teacher_weights))
    cache = pipeline.decode_to_cache(cfg.val_audio, 8000, cfg.audio_cache, progress=False)
    pcm = np.stack([to_pcm16(f) for f in pipeline.CropSource(cache, 8000, 8).fixed_crops(8, cfg.seed)])
    x = (pcm / np.float32(32768.0)).astype(np.float32)[:, None, :]
    target = teacher(x).numpy()

    def cos(a, b):
        return float(np.mean(np.sum(a * b, 1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))))

    for sparsity, row in rows.items():
        student = build_model("sea-64", weights=row["model_file"])
        convs = layerwise.layer_sparsity(student)
        assert layerwise.total_sparsity(convs) == pytest.approx(sparsity, abs=0.01)
        kernels = [w.numpy() for w in student.trainable_weights if "kernel" in w.name or "bias" in w.name]
        assert row["nonzero_weights"] == sum(int(np.count_nonzero(k)) for k in kernels)
        assert row["val_cosine_float"] == pytest.approx(cos(student(x).numpy(), target), abs=1e-5)
        # the firmware's own int8 model, re-run here under tflite-micro
        tflite, manifest = load_export(Path(row["project"]) / "export")
        runner = TflmRunner(tflite)
        from edgel3_mote.board_tests.harness.bench import reference_spectrogram_int8

        q = np.stack([runner.invoke(reference_spectrogram_int8(p, manifest)).reshape(-1) for p in pcm])
        int8 = manifest.dequantize_output(q)
        assert row["val_cosine_int8"] == pytest.approx(cos(int8, target), abs=1e-5)
        bench = json.loads(Path(row["bench_json"]).read_text())
        assert row["instructions_per_window"] == bench["summary"]["total_ticks_mean"] > 0
        assert row["flash_bytes"] == bench["memory"]["flash_bytes"] and row["ram_bytes"] == bench["memory"]["ram_bytes"]
        assert row["device_identical_percent"] == 100.0 and row["bench_windows"] == 2
        assert 0 < row["accuracy_float"] <= 1 and 0 < row["accuracy_int8"] <= 1
        for key in ("accuracy_float", "accuracy_int8"):  # a 95 % interval around the pooled test clips
            lo, hi = row[f"{key}_ci95"]
            assert 0 <= lo <= hi <= 1 and hi - lo > 0
        assert 0 < row["majority_baseline"] < 1
        # the device computes the int8 embeddings bit for bit, so its accuracy is the int8 one
        assert row["accuracy_device"] == row["accuracy_int8"]
        assert row["accuracy_device_ci95"] == row["accuracy_int8_ci95"]
        # the engine's per-layer weight storage: the same as the project's engine report (text) says
        report = (Path(row["project"]) / "engine_report.txt").read_text().split("layers:")[1].split("streamed")[0]
        weighted = [line.split() for line in report.splitlines() if line.strip() and " 0 B " not in line]
        assert row["engine_formats"] == [w[-2] for w in weighted]
        flash = {}
        for w in weighted:
            flash[w[-2]] = flash.get(w[-2], 0) + int(w[-4].replace(",", ""))
        assert row["weight_flash_by_format"] == flash
        assert list(row["val_cosine_per_package"]) == [str(cfg.val_audio[0])]
        assert row["val_cosine_per_package"][str(cfg.val_audio[0])]["float"] == row["val_cosine_float"]
        # estimated cycles of the traced first window: the trace's instructions are the device's own
        # tick count of that window (two independent measurements), the M4 issues at most one per cycle
        cycles, w0 = bench["cycles"], bench["clips"][0]["windows"][0]
        traced = cycles["total"]["instructions"]
        assert abs(traced - (w0["frontend_ticks"] + w0["engine_ticks"])) < 2 * cycles["tick_resolution"]
        assert row["cycles_instructions_match_ticks"] is True
        assert row["cycles_zero_wait"] == cycles["total"]["cycles"] and 1.0 <= row["cycles_zero_wait"] / traced < 2.5
        # the cycle columns are the memory-aware upper bound's (the board's memory model; zero wait states on
        # this MPS2 board, so the three agree), and the real-time verdict is decided on it
        board = get_board(cfg.board)
        memory = cycles["memory"]
        assert row["cycles_basis"] == "upper_bound" and row["cycles_per_window"] == int(memory["window"]["upper_bound"])
        assert (
            row["cycles_zero_wait"] <= row["cycles_estimate"] <= row["cycles_upper_bound"] == row["cycles_per_window"]
        )
        window_s = bench["window_samples"] / bench["model_sample_rate"]
        assert window_s == pytest.approx(1.0)
        clock = memory["clock_hz"] or board.clock_hz
        assert row["real_time_factor"] == pytest.approx(window_s * clock / row["cycles_per_window"], rel=1e-6)
        assert row["real_time"] == (row["real_time_factor"] >= 1.0)
    assert rows[0.0]["val_cosine_float"] == pytest.approx(1.0, abs=1e-6)  # the teacher itself
    assert rows[90.0]["val_cosine_float"] < 1.0
    assert rows[90.0]["nonzero_weights"] < 0.11 * rows[0.0]["nonzero_weights"]
    # the pruned point beats the dense model on the mote: flash, instructions and estimated cycles
    for key in ("flash_bytes", "instructions_per_window", "cycles_per_window"):
        assert rows[90.0][key] < 0.8 * rows[0.0][key], key
    assert rows[90.0]["distill"]["epochs_run"] == 1
    # chain: the 90 % student started from the 0 % point's model file, pruned further
    start = out / "points" / "s0" / "model.h5"
    assert rows[90.0]["distill"]["start"] == str(start)
    args = json.loads((out / "points" / "s90" / "distill" / "config.json").read_text())["args"]
    assert args["student"] == str(start) and args["student_sparsity"] == 90.0
    md = (out / "sweep.md").read_text()
    assert md.count("\n| ") == (2 + 1) + (2 + 1) and (out / "sweep.png").stat().st_size > 10_000
    assert "| 0 (teacher) |" in md and "Majority-class baseline" in md
    # the recorded table names the commit whose code measured it
    import subprocess

    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    assert table["commit"].split("+")[0] == head and table["schema"] == "edgel3-mote-sweep/2"
    d90 = rows[90.0]["distill"]
    assert d90["best_epoch"] == 1 and d90["restored_best"] is False  # one epoch: nothing to restore


def test_sweep_resumes_point_by_point(sweep):
    from edgel3_mote.board_tests.harness import sweep as S

    cfg, out, table = sweep
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("points/*/row.json")}
    (out / "points" / "s90" / "row.json").unlink()  # as if killed before the 90 % row was written
    again = S.run_sweep(cfg, out, log=lambda m: None)
    assert [r["sparsity"] for r in again["rows"]] == [r["sparsity"] for r in table["rows"]]
    assert (out / "points" / "s0" / "row.json").stat().st_mtime_ns == stamps[out / "points" / "s0" / "row.json"]
    r90 = {r["sparsity"]: r for r in again["rows"]}[90.0]
    assert r90["val_cosine_float"] == {r["sparsity"]: r for r in table["rows"]}[90.0]["val_cosine_float"]


def test_chain_points_and_bad_chains(tmp_path, sea64_weights, clip_paths):
    from edgel3_mote.board_tests.harness import sweep as S
    from edgel3_mote.errors import InvalidInputError

    cfg = S.SweepConfig(
        teacher_weights=sea64_weights,
        train_audio=[str(clip_paths[0])],
        val_audio=[str(clip_paths[1])],
        eval_set=clip_paths[0].parent,
        bench_clips=clip_paths[0].parent,
        sparsities=[90, 0, 80, 95],
        chain=True,
    )
    assert [S.previous_point(cfg, s) for s in (0, 80, 90, 95)] == [None, 0.0, 80.0, 90.0]
    with pytest.raises(InvalidInputError, match="which is missing"):  # before any work
        S._distill(cfg, 90, tmp_path / "run", tmp_path / "points" / "s80" / "model.h5", log=lambda m: None)
    assert not (tmp_path / "run").exists()
    cfg.pruning = "gradual"
    with pytest.raises(InvalidInputError, match="pass --no-chain with --pruning gradual"):
        cfg.check()


def test_the_cli_chains_by_default():
    from edgel3_mote.cli import build_parser

    need = ["sweep", "--teacher-weights", "w.h5", "--eval-set", "e", "--bench-clips", "b", "-o", "o"]
    assert build_parser().parse_args(need).chain is True
    assert build_parser().parse_args(need + ["--no-chain"]).chain is False
    assert build_parser().parse_args(need).no_cycles is False


def test_calibration_draws_from_every_corpus_package(tmp_path):
    """A corpus' training audio is {package: files}: calibration takes n files in turn from every
    package, spread over each (a mapping once failed as 'file ufoai-sound does not exist')."""
    from edgel3_mote.board_tests.harness.sweep import SweepConfig, calibration_files

    def package(name, k):
        (tmp_path / name).mkdir()
        for i in range(k):
            (tmp_path / name / f"{i:02d}.wav").write_bytes(b"")
        return [str(tmp_path / name / f"{i:02d}.wav") for i in range(k)]

    big, small = package("big", 30), package("small", 3)
    cfg = SweepConfig(tmp_path, {"big": big, "small": small}, {}, tmp_path, tmp_path)
    files = calibration_files(cfg, 16)
    assert len(files) == len(set(files)) == 16
    assert set(small) <= set(files) and big[0] in files and big[-1] in files
    cfg.train_audio = big + small  # a plain list: one group, spread evenly over it
    files = calibration_files(cfg, 16)
    assert len(files) == 16 and files[0] == big[0] and files[-1] == small[-1]
