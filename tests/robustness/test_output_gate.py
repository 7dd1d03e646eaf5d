"""The output gate: every subcommand declares what it writes, and every writing subcommand refuses every
impossible output with one line, before any work, leaving the user's files byte-identical.

The commands come from the CLI's own parser (a new subcommand that does not declare its outputs fails
here); the cases run through the real CLI in one subprocess (as ``nobody`` when the tests run as root, so
that a read-only folder really is one), TensorFlow never imported.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from edgel3_mote.atomic import OUTPUT_MARKER, Output, check_output_dir, claim, gate
from edgel3_mote.cli import build_parser
from edgel3_mote.cli_types import OUTPUTS_KEY, writes_nothing
from edgel3_mote.errors import InvalidInputError

DRIVER = Path(__file__).with_name("cli_driver.py")

# Every writing subcommand (its path in the parser) -> an argument list that reaches the gate, with OUT where
# the output under test goes. CLIP: an audio file, CLIPS: a folder of them, W: a weights file, CSV: a CSV file.
WRITERS = {
    "embed": ["embed", "CLIP", "-o", "OUT"],
    "prune": ["prune", "--plan", "edgel3", "-o", "OUT"],
    "sensitivity": ["sensitivity", "--clips", "CLIPS", "-o", "OUT"],
    "distill": ["distill", "--teacher", "sea-64", "--student-sparsity", "50", "--clips", "CLIPS", "-o", "OUT"],
    "finetune": ["finetune", "--segments", "CSV", "--media", "CLIPS", "-o", "OUT"],
    "jobs slurm": ["jobs", "slurm", "-o", "OUT", "--", "distill"],
    "evaluate": ["evaluate", "--dataset", "folder", "--root", "CLIPS", "--model", "sea-64", "-o", "OUT"],
    "export tflite": ["export", "tflite", "-o", "OUT"],
    "export report": ["export", "report", "--clips", "CLIPS", "-o", "OUT"],
    "export carrays": ["export", "carrays", "--tflite", "CLIPS", "-o", "OUT"],
    "export firmware": ["export", "firmware", "-o", "OUT"],
    "selftest": ["selftest", "-o", "OUT"],
    "bench": ["bench", "-o", "OUT"],
    "emulate": ["emulate", "-o", "OUT"],
    "demo": ["demo", "-o", "OUT"],
    "weights fetch": ["weights", "fetch", "sea-64", "--from", "W", "--cache-dir", "OUT"],
    "sweep": ["sweep", "--teacher-weights", "W", "--eval-set", "CLIPS", "--bench-clips", "CLIPS", "-o", "OUT"],
}
# outputs other than -o: (command, its argument list with OUT at that flag, the flag)
EXTRA_OUTPUTS = {
    "evaluate --save-classifier": (
        "evaluate",
        WRITERS["evaluate"][:-1] + ["EVAL", "--save-classifier", "OUT"],
        "--save-classifier",
    ),
}
# class -> (OUT for a folder output, OUT for a file output, what the one error line must say (folder, file))
CLASSES = {
    "foreign file at an output name": ("mine", "mine/FOREIGN", "already exists and was not written by"),
    "output path is a file": ("afile", "mine", "is a file, not a folder|is a folder, not a file"),
    "under a file": ("afile/sub", "afile/head.h5", "afile is a file, not a folder"),
    "read-only folder": ("readonly/new", "readonly/head.h5", "permission denied"),
    "current folder": (".", ".", "is the current folder|is a folder, not a file"),
}


def _leaves(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()):
    """(command path, parser) of every parser that runs a handler, from the CLI's own parser tree."""
    if "func" in parser._defaults:
        yield " ".join(prefix), parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _leaves(sub, (*prefix, name))


def test_every_subcommand_declares_what_it_writes_and_every_writer_is_in_the_matrix():
    leaves = dict(_leaves(build_parser()))
    undeclared = sorted(name for name, p in leaves.items() if OUTPUTS_KEY not in p._defaults)
    assert not undeclared, f"declare the outputs of {undeclared} (edgel3_mote.cli_types.declare_outputs)"
    writers = {name for name, p in leaves.items() if p._defaults[OUTPUTS_KEY] is not writes_nothing}
    assert writers == set(WRITERS), f"add the writing commands {sorted(writers - set(WRITERS))} to WRITERS"
    assert {"models", "export", "weights list", "flash"} == set(leaves) - writers  # print, or write to a board


@pytest.fixture()
def scratch():
    # outside pytest's 0700 tmp root, so that an unprivileged user can reach it
    root = Path(tempfile.mkdtemp(prefix="edgel3-mote-gate-"))
    os.chmod(root, 0o755)
    yield root
    for p in [root, *root.rglob("*")]:
        if p.is_dir() and not p.is_symlink():
            os.chmod(p, 0o755)
    shutil.rmtree(root)


def _fill(argv: list[str], scratch: Path, out: str) -> list[str]:
    inputs = {
        "CLIP": scratch / "clips" / "dog.wav",
        "CLIPS": scratch / "clips",
        "W": scratch / "w.h5.gz",
        "CSV": scratch / "segments.csv",
        "EVAL": scratch / "mine" / "eval-out",  # writable by the driver
    }
    return [out if a == "OUT" else str(inputs[a]) if a in inputs else a for a in argv]


def _declared(argv: list[str], flag: str | None) -> Output:
    """The output at ``flag`` (default: the first declared) as the command itself declares it."""
    args = build_parser().parse_args(argv)
    outs = getattr(args, OUTPUTS_KEY)(args)
    return next(o for o in outs if flag is None or o.flag == flag)


def _foreign_name(out: Output) -> str:
    if out.kind == "file":
        return out.path.name
    name = next(n for n in out.names if n not in ("logs", "checkpoints", "points", "cache", "exports", "src"))
    return name.replace("*", "mine.md")


def _cases(scratch: Path) -> list[tuple[str, str, list[str], str]]:
    rows = {name: (argv, None) for name, argv in WRITERS.items()}
    rows.update({name: (argv, flag) for name, (_, argv, flag) in EXTRA_OUTPUTS.items()})
    cases = []
    for name, (argv, flag) in rows.items():
        declared = _declared(_fill(argv, scratch, str(scratch / "mine" / "probe")), flag)
        foreign = _foreign_name(declared)
        (scratch / "mine" / foreign).write_text("the user's own file\n")
        for cls, (dir_out, file_out, says) in CLASSES.items():
            out = dir_out if declared.kind == "dir" else file_out.replace("FOREIGN", foreign)
            cases.append((name, cls, _fill(argv, scratch, out if out == "." else str(scratch / out)), says))
    return cases


def _snapshot(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "<dir>"
        for p in sorted(root.rglob("*"))
    }


def test_every_writer_refuses_every_impossible_output_with_one_line_and_changes_nothing(scratch):
    (scratch / "afile").write_text("the user's file\n")
    (scratch / "readonly").mkdir()
    os.chmod(scratch / "readonly", 0o555)
    (scratch / "clips").mkdir()
    (scratch / "clips" / "dog.wav").write_bytes(b"RIFF")
    (scratch / "w.h5.gz").write_bytes(b"\x1f\x8b")
    (scratch / "segments.csv").write_text("# YTID, start_seconds, end_seconds, positive_labels\n")
    (scratch / "mine").mkdir()
    (scratch / "mine" / "notes.txt").write_text("mine\n")
    cases = _cases(scratch)
    if os.geteuid() == 0:  # the driver runs as nobody: the user's own folder is writable by them
        for p in [scratch / "mine", *(scratch / "mine").iterdir()]:
            os.chown(p, 65534, 65534)
    before = _snapshot(scratch)
    spec = Path(tempfile.mkdtemp()) / "cases.json"
    os.chmod(spec.parent, 0o755)
    spec.write_text(json.dumps([argv for _, _, argv, _ in cases]))
    cmd = [sys.executable, str(DRIVER), str(spec)]
    if os.geteuid() == 0:  # root writes anywhere: run as nobody so that read-only means read-only
        cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *cmd]
    env = dict(os.environ, HOME=str(scratch / "readonly"))
    try:
        done = subprocess.run(cmd, cwd=scratch, env=env, capture_output=True, text=True, timeout=300)
    finally:
        shutil.rmtree(spec.parent)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["tensorflow_imported"] is False  # refused before any long work
    assert len(report["results"]) == len(cases) == 18 * 5  # the count in ROBUSTNESS.md
    failures = []
    for (name, cls, _argv, says), result in zip(cases, report["results"]):
        lines = result["stderr"].strip().splitlines()
        ok = (
            result["rc"] == 2
            and len(lines) == 1
            and lines[0].startswith("edgel3-mote: error: ")
            and any(s in lines[0] for s in says.split("|"))
        )
        if not ok:
            failures.append(f"{name} / {cls}: rc {result['rc']}: {result['stderr'].strip()[-400:]}")
    assert not failures, "\n".join(failures)
    assert _snapshot(scratch) == before  # nothing created, replaced, moved or hidden


# -- the reported losses, one by one ---------------------------------------------------------------


def _run(argv: list[str]) -> tuple[int, str]:
    import contextlib
    import io

    from edgel3_mote.cli import main

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        rc = main(argv)
    return rc, err.getvalue()


def test_sweep_into_a_folder_with_the_users_sweep_md_is_refused(tmp_path):
    weights = tmp_path / "w.h5"
    weights.write_bytes(b"\x89HDF\r\n\x1a\n")
    out = tmp_path / "mine"
    out.mkdir()
    (out / "sweep.md").write_text("my notes on sweeps\n")
    argv = ["sweep", "--teacher-weights", str(weights), "--eval-set", str(tmp_path), "--bench-clips", str(tmp_path)]
    rc, err = _run([*argv, "-o", str(out)])
    assert rc == 2 and f"{out / 'sweep.md'} already exists and was not written by `edgel3-mote sweep`" in err
    assert (out / "sweep.md").read_text() == "my notes on sweeps\n"
    assert sorted(p.name for p in out.iterdir()) == ["sweep.md"]


def test_embed_never_replaces_a_users_npz_and_writes_under_build_by_default(tmp_path, monkeypatch):
    from edgel3_mote.cli import build_parser

    monkeypatch.chdir(tmp_path)
    clip = tmp_path / "ro" / "good.wav"
    clip.parent.mkdir()
    clip.write_bytes(b"RIFF")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "good.npz").write_bytes(b"the user's embeddings")
    rc, err = _run(["embed", str(clip), "-o", str(tmp_path / "out")])
    assert rc == 2 and "good.npz already exists and was not written by `edgel3-mote embed`" in err
    assert (tmp_path / "out" / "good.npz").read_bytes() == b"the user's embeddings"
    args = build_parser().parse_args(["embed", str(clip)])  # no -o: build/embeddings, never next to the input
    (declared,) = getattr(args, OUTPUTS_KEY)(args)
    assert declared.path == Path("build/embeddings") and declared.names == ("good.npz",)


def test_a_rerun_replaces_only_what_the_command_wrote_itself(tmp_path):
    """``claim`` records a command's own files (written one by one, not through atomic_dir) in the marker."""
    out = Output(tmp_path / "run", "embed", ("a.npz", "b.npz"))
    written = gate([out])
    out.path.mkdir()
    (out.path / "a.npz").write_text("run 1")
    claim(written)
    (out.path / "b.npz").write_text("the user's")  # appears after the run: not the command's
    check_output_dir(out.path, "embed", ["a.npz"])  # its own file: may be replaced
    with pytest.raises(InvalidInputError, match="b.npz already exists and was not written by `edgel3-mote embed`"):
        gate([out])
    assert json.loads((out.path / OUTPUT_MARKER).read_text())["files"] == {"a.npz": "embed"}


def test_a_file_output_beside_a_users_file_of_that_name_is_refused(tmp_path):
    from edgel3_mote.atomic import check_output_file

    (tmp_path / "head.classes.json").write_text('{"classes": ["a", "b"], "input_dim": 64}')
    check_output_file(  # an earlier --save-classifier's pair (before the marker): may be replaced
        tmp_path / "head.h5",
        "evaluate",
        ["head.h5", "head.classes.json"],
        ("head.classes.json", {"classes": None, "input_dim": None}),
    )
    (tmp_path / "head.classes.json").write_text("my own list\n")
    with pytest.raises(InvalidInputError, match="head.classes.json already exists"):
        check_output_file(
            tmp_path / "head.h5",
            "evaluate",
            ["head.h5", "head.classes.json"],
            ("head.classes.json", {"classes": None, "input_dim": None}),
        )


def test_no_resume_never_deletes_a_file_that_is_not_part_of_a_run(tmp_path):
    from edgel3_mote.compress.retrain.cli import prepare_run_dir

    out = tmp_path / "run"
    out.mkdir()
    (out / "config.json").write_text(json.dumps({"command": "distill"}))
    (out / "my-notes.txt").write_text("mine")
    args = argparse.Namespace(output=out, no_resume=True, format="h5", command="distill")
    with pytest.raises(InvalidInputError, match=r"--no-resume would delete .*my-notes.txt, which is not part of a run"):
        prepare_run_dir(args, "distill")
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "my-notes.txt"]
    (out / "my-notes.txt").unlink()
    (out / "summary.json").write_text("{}")  # a finished run of its own: --no-resume starts it over
    prepare_run_dir(args, "distill")
    assert sorted(p.name for p in out.iterdir()) == ["config.json"]
