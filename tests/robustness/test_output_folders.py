"""Output folders: nothing the user had is deleted, replaced or hidden (edgel3_mote.atomic's semantics).

Every subcommand x every impossible output is test_output_gate.py (generated from the CLI's parser).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgel3_mote.atomic import OUTPUT_MARKER, atomic_dir, check_output_dir
from edgel3_mote.errors import InvalidInputError

# -- the folder semantics themselves --------------------------------------------------------------


def _write(tmp: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp / rel).write_text(text)


def _tree(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): p.read_text()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != OUTPUT_MARKER
    }


def test_a_new_folder_appears_whole_and_a_failure_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic_dir(tmp_path / "out", "cmd") as tmp:
            _write(tmp, {"a": "1"})
            raise RuntimeError("conversion failed")
    assert list(tmp_path.iterdir()) == []
    with atomic_dir(tmp_path / "out", "cmd") as tmp:
        _write(tmp, {"a": "1", "sub/b": "2"})
    assert _tree(tmp_path / "out") == {"a": "1", "sub/b": "2"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_an_existing_folder_keeps_the_users_files_and_the_rerun_replaces_only_its_own(tmp_path):
    out = tmp_path / "out"
    with atomic_dir(out, "cmd") as tmp:
        _write(tmp, {"a": "1", "old/only-in-run-1": "1"})
    _write(out, {"notes.txt": "mine", "old/mine-too": "mine"})
    with atomic_dir(out, "cmd") as tmp:
        _write(tmp, {"a": "2", "b": "2"})
    # run 1's own stale output is gone; the user's files, even inside run 1's folders, are not
    assert _tree(out) == {"a": "2", "b": "2", "notes.txt": "mine", "old/mine-too": "mine"}
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == [OUTPUT_MARKER]


@pytest.mark.parametrize(
    "case", ["user's file", "another command's file", "folder where a file goes", "file where a folder goes"]
)
def test_a_conflict_refuses_and_changes_nothing(tmp_path, case):
    out = tmp_path / "out"
    with atomic_dir(out, "other") as tmp:
        _write(tmp, {"theirs": "t"})
    _write(out, {"mine": "m", "dir/x": "m", "plain": "m"})
    before = _tree(out)
    new = {
        "user's file": {"mine": "new"},
        "another command's file": {"theirs": "new"},
        "folder where a file goes": {"dir": "new"},
        "file where a folder goes": {"plain/y": "new"},
    }[case]
    with pytest.raises(
        InvalidInputError,
        match="already exists and was not written by `edgel3-mote cmd`"
        if case != "file where a folder goes"
        else "plain already exists",
    ):
        with atomic_dir(out, "cmd") as tmp:
            _write(tmp, new)
    assert _tree(out) == before
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_a_file_at_the_output_path_is_refused_not_moved_aside(tmp_path):
    target = tmp_path / "results"
    target.write_text("precious")
    with pytest.raises(InvalidInputError, match="is a file, not a folder"):
        with atomic_dir(target, "cmd") as tmp:
            _write(tmp, {"a": "1"})
    assert target.read_text() == "precious"
    assert [p.name for p in tmp_path.iterdir()] == ["results"]  # no hidden .results.old


def test_a_folder_from_before_the_marker_is_recognised_by_its_signature(tmp_path):
    out = tmp_path / "export"
    _write(out, {"manifest.json": json.dumps({"sha256": "x", "ops": []}), "model_int8.tflite": "old", "mine.txt": "m"})
    legacy = ("manifest.json", {"sha256": None, "ops": None})
    check_output_dir(out, "export tflite", ["manifest.json", "model_int8.tflite"], legacy)
    with atomic_dir(out, "export tflite", legacy=legacy) as tmp:
        _write(tmp, {"manifest.json": "{}", "model_int8.tflite": "new"})
    assert _tree(out) == {"manifest.json": "{}", "model_int8.tflite": "new", "mine.txt": "m"}
    _write(tmp_path / "plain", {"manifest.json": "{}"})  # a user's manifest.json is no earlier export
    with pytest.raises(InvalidInputError, match="not written by"):
        check_output_dir(tmp_path / "plain", "export tflite", ["manifest.json"], legacy)


def test_a_second_bench_run_gets_its_own_report_folder(tmp_path, capsys):
    from edgel3_mote.board_tests.harness.cli import _fresh_report_dir

    report = tmp_path / "report"
    assert _fresh_report_dir(report) == report
    _write(report, {"bench.json": "{}"})
    assert _fresh_report_dir(report) == tmp_path / "report.2"
    assert "holds an earlier run's reports (kept)" in capsys.readouterr().err
    _write(tmp_path / "report.2", {"bench.json": "{}"})
    assert _fresh_report_dir(report) == tmp_path / "report.3"


# -- firmware builds: never swapped for another model silently --------------------------------------


def _project_json(weights_sha: str | None, random: bool, classifier=None) -> dict:
    inputs = {"model": "sea-64", "weights": weights_sha, "seed": 0}
    if classifier:
        inputs["classifier"] = classifier
    return {
        "board": "qemu-mps2-an386",
        "model": "sea-64",
        "weights": "trained.h5" if not random else None,
        "random_weights": random,
        "seed": 0,
        "arena_bytes": 1,
        "unstreamed_arena_bytes": 1,
        "tflm_arena_bytes": 1,
        "weight_bytes": 1,
        "elfs": {},
        "memory": {},
        "inputs": inputs,
    }


@pytest.mark.parametrize("change", ["weights", "model", "classifier"])
def test_a_trained_build_is_not_replaced_by_another_model(tmp_path, change):
    from edgel3_mote.export.project import _check_replacing

    old = _project_json("a" * 64, random=False)
    new = dict(old["inputs"], **{change: {"weights": None, "model": "sea-128", "classifier": {"h5": "x"}}[change]})
    with pytest.raises(
        InvalidInputError,
        match=rf"holds a build of sea-64 with trained weights trained.h5; this run "
        rf"differs in {change} .*--force to replace it",
    ):
        _check_replacing(tmp_path, old, new, log=print)
    logged = []
    trained = dict(new, weights="b" * 64)  # a placeholder (random) build makes way for a trained one
    _check_replacing(tmp_path, _project_json(None, random=True), trained, log=logged.append)
    assert logged and "replacing its RANDOM-weights build" in logged[0]
    _check_replacing(tmp_path, old, dict(old["inputs"], code="new"), log=logged.append)  # same model, new code


def test_a_real_board_bench_uses_the_flashed_project_as_it_is(tmp_path, monkeypatch):
    """`make bench PORT=...` without WEIGHTS= must not re-export random weights over the real build."""
    import hashlib

    import edgel3_mote.export.project as project
    from edgel3_mote.board_tests.harness.deploy import resolve_deployment

    monkeypatch.chdir(tmp_path)  # the default project folder is build/<board>/<model> under the working directory
    with pytest.raises(
        InvalidInputError,
        match=r"no firmware project in .*qemu-mps2-an386/sea-64 for the board at "
        r"the port: build it",
    ):
        resolve_deployment("qemu-mps2-an386", "sea-64", None, need_elf=False)
    weights, other = tmp_path / "trained.h5", tmp_path / "other.h5"
    weights.write_bytes(b"trained")
    other.write_bytes(b"other")
    built = Path("build") / "qemu-mps2-an386" / "sea-64"
    built.mkdir(parents=True)
    (built / "project.json").write_text(json.dumps(_project_json(hashlib.sha256(b"trained").hexdigest(), False)))
    with pytest.raises(InvalidInputError, match=rf"{built} was not built with --weights {other}"):
        resolve_deployment("qemu-mps2-an386", "sea-64", str(other), need_elf=False)
    with pytest.raises(InvalidInputError, match=rf"{built} was not built with --classifier {weights}"):
        resolve_deployment("qemu-mps2-an386", "sea-64", str(weights), classifier=str(weights), need_elf=False)
    monkeypatch.setattr(project, "build_firmware_project", lambda *a, **k: pytest.fail("rebuilt the flashed project"))
    for same in (None, str(weights)):  # matching (or no) weights: that very project is read, not rebuilt
        with pytest.raises(InvalidInputError, match=rf"{built / 'export'} is not an export directory"):
            resolve_deployment("qemu-mps2-an386", "sea-64", same, need_elf=False)


def test_models_lists_nonzero_parameters_of_the_pruned_presets(capsys):
    from edgel3_mote.cli import main
    from edgel3_mote.compress.models.registry import network_param_count
    from edgel3_mote.compress.pruning.presets import L3_KERNEL_COUNTS

    assert main(["models"]) == 0
    header, *lines = capsys.readouterr().out.splitlines()
    p, nz, desc = header.index("PARAMS"), header.index("NONZERO"), header.index("DESCRIPTION")
    rows = {line.split()[0]: (int(line[p:nz].replace(",", "")), int(line[nz:desc].replace(",", ""))) for line in lines}
    dense = network_param_count("l3-melspec2")
    assert rows["l3-melspec2"] == (dense, dense) and rows["sea-64"][0] == rows["sea-64"][1]
    params, nonzero = rows["edgel3-95.45"]
    assert params == dense  # the same architecture, but ~213 K nonzero conv weights (EdgeL3 paper, Table II)
    assert abs(nonzero - (dense - sum(L3_KERNEL_COUNTS)) - 213_000) < 2_000
    assert [rows[f"edgel3-{s}"][1] for s in ("53.49", "80.87", "99.00")] == sorted(
        (rows[f"edgel3-{s}"][1] for s in ("53.49", "80.87", "99.00")), reverse=True
    )
