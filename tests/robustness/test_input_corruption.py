"""Every input file's corruption -- a binary CSV, a 0-byte or non-HDF5 .h5, a corrupt JSON, audio that says it
was sampled at 1 Hz -- is one ``edgel3-mote: error:`` line naming the file, exit 2, and a failed start leaves
nothing behind (no run folder, no config.json). Progress bars are closed before the error prints.

The CLI cases run in one subprocess (some commands import TensorFlow before they read their inputs, so unlike
test_bad_inputs.py, TensorFlow may load here; nothing else is built or trained).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from edgel3_mote.errors import InvalidInputError

DRIVER = Path(__file__).with_name("cli_driver.py")
BINARY = bytes(range(256)) * 4  # what a corrupt download or a wrong file looks like


def _files(d: Path) -> dict[str, Path]:
    f = {"out": d / "out"}
    for name in ("corpus.csv", "segments.csv"):
        f[name] = d / name
        f[name].write_bytes(BINARY)
    f["zero.h5"] = d / "zero.h5"
    f["zero.h5"].write_bytes(b"")
    f["text.h5"] = d / "text.h5"
    f["text.h5"].write_text("<html>404 not found</html>\n")
    f["good.csv"] = d / "good.csv"
    f["good.csv"].write_text('# YTID, start_seconds, end_seconds, positive_labels\nabc, 0.0, 10.0, "/m/0bt9lr"\n')
    f["ontology.json"] = d / "ontology.json"
    f["ontology.json"].write_text('[{"id": "/m/0bt9lr", "name": "Dog"')
    f["esc50"] = d / "esc50"
    (f["esc50"] / "meta").mkdir(parents=True)
    (f["esc50"] / "meta" / "esc50.csv").write_bytes(b"filename,fold\x00\xff\xfe" + BINARY)
    f["clips"] = d / "clips"
    f["clips"].mkdir()
    sf.write(f["clips"] / "a.wav", np.zeros(8000, np.float32), 8000)
    f["1hz.wav"] = d / "one-hertz.wav"
    sf.write(f["1hz.wav"], np.zeros(4, np.float32), 1)
    f["media"] = d / "media"
    f["media"].mkdir()
    return f


def _cases(f: dict[str, Path]) -> list[tuple[list[str], str]]:
    s = {k: str(v) for k, v in f.items()}
    out = s["out"]
    distill = ["distill", "--teacher", "sea-64", "--clips", s["clips"], "-o", out]
    return [
        ([*distill, "--student-sparsity", "50", "--corpus", s["corpus.csv"]], f"corpus manifest {s['corpus.csv']} is"),
        ([*distill, "--student", s["zero.h5"]], f"--student {s['zero.h5']} is empty (0 bytes)"),
        ([*distill, "--student", s["text.h5"]], f"--student {s['text.h5']} is not an HDF5 (.h5) file"),
        ([*distill, "--student-sparsity", "50", "--teacher-weights", s["zero.h5"]], "--teacher-weights"),
        (["finetune", "--segments", s["segments.csv"], "--media", s["media"], "-o", out], "segments file"),
        (
            [
                "finetune",
                "--segments",
                s["good.csv"],
                "--media",
                s["media"],
                "--ontology",
                s["ontology.json"],
                "--accept",
                "Dog",
                "-o",
                out,
            ],
            f"ontology file {s['ontology.json']} is not valid JSON",
        ),
        (
            ["finetune", "--segments", s["good.csv"], "--media", s["media"], "--audio-model", s["zero.h5"], "-o", out],
            "empty",
        ),
        (["prune", "--plan", "edgel3", "--weights", s["zero.h5"], "-o", out], f"--weights {s['zero.h5']} is empty"),
        (["sensitivity", "--clips", s["clips"], "--weights", s["text.h5"], "-o", out], "is not an HDF5"),
        (["embed", s["clips"], "--weights", s["text.h5"], "-o", out], f"--weights {s['text.h5']} is not an HDF5"),
        (["export", "tflite", "--weights", s["zero.h5"], "-o", out], "is empty (0 bytes)"),
        (["export", "firmware", "--weights", s["text.h5"], "-o", out], f"--weights {s['text.h5']} is not an HDF5"),
        (["bench", "--weights", s["zero.h5"], "-o", out], f"--weights {s['zero.h5']} is empty"),
        (
            ["evaluate", "--dataset", "folder", "--root", s["clips"], "--model", "sea-64", "--weights", s["text.h5"]]
            + ["-o", out],
            f"--weights {s['text.h5']} is not an HDF5",
        ),
        (
            ["evaluate", "--dataset", "esc50", "--root", s["esc50"], "--model", "sea-64", "-o", out],
            "esc50.csv is not a text file",
        ),
        (
            [
                "sweep",
                "--teacher-weights",
                s["zero.h5"],
                "--corpus",
                s["corpus.csv"],
                "--eval-set",
                s["clips"],
                "--bench-clips",
                s["clips"],
                "-o",
                out,
            ],
            "corpus manifest",
        ),
        (["embed", s["1hz.wav"], "-o", out], f"audio file {s['1hz.wav']} says it is sampled at 1 Hz"),
    ]


def test_every_corrupt_input_file_is_one_line_naming_it_and_a_failed_start_leaves_nothing(tmp_path):
    files = _files(tmp_path)
    cases = _cases(files)
    spec = tmp_path / "cases.json"
    spec.write_text(json.dumps([argv for argv, _ in cases]))
    done = subprocess.run(
        [sys.executable, str(DRIVER), str(spec)], cwd=tmp_path, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)["results"]
    assert len(results) == len(cases) == 17  # the count in ROBUSTNESS.md
    failures = []
    for (argv, says), result in zip(cases, results):
        lines = result["stderr"].strip().splitlines()
        if not (
            result["rc"] == 2 and len(lines) == 1 and lines[0].startswith("edgel3-mote: error: ") and says in lines[0]
        ):
            failures.append(f"{argv}: rc {result['rc']}: {result['stderr'].strip()[-400:]}")
    assert not failures, "\n".join(failures)
    assert not files["out"].exists()  # no run folder, no config.json: a failed start leaves nothing
    assert not (tmp_path / "build").exists()


def test_a_corrupt_results_json_is_one_line_and_the_readme_is_untouched(tmp_path, monkeypatch, capsys):
    from edgel3_mote.tools import results

    readme = tmp_path / "README.md"
    readme.write_text("mine\n")
    monkeypatch.setattr(results, "README", readme)
    for text, says in (
        (b"\x00\x01\x02 binary", "is not a text file"),
        (b'{"figures": {', "is not valid JSON"),
        (b'{"figures": []}', "has no 'figures' object"),
    ):
        (tmp_path / "results.json").write_bytes(text)
        monkeypatch.setattr(results, "RESULTS_JSON", tmp_path / "results.json")
        assert results.main(["render"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("edgel3-mote: error: results file ") and says in err, err
    assert readme.read_text() == "mine\n"


def test_audio_below_1_khz_is_refused_naming_the_file(tmp_path):
    from edgel3_mote.compress.audio import read_audio

    path = tmp_path / "sensor-log.wav"
    sf.write(path, np.zeros(100, np.float32), 999)
    with pytest.raises(InvalidInputError, match=rf"audio file {path} says it is sampled at 999 Hz, below 1000 Hz"):
        read_audio(path)
    sf.write(path, np.zeros(100, np.float32), 1000)
    assert read_audio(path)[1] == 1000


def test_a_progress_bar_is_closed_before_the_error_line(monkeypatch):
    from tqdm import tqdm

    from edgel3_mote import cli
    from edgel3_mote.cli_types import declare_outputs, writes_nothing

    def fails_mid_loop(args):  # a bar held in a variable (as extract.py's) outlives the frame in the traceback
        bar = tqdm(total=3, desc="clips", file=sys.stderr)
        bar.update(1)
        raise InvalidInputError("clip x.wav is broken")

    def parser():
        p = argparse.ArgumentParser(prog="edgel3-mote")
        sub = p.add_subparsers(dest="command").add_parser("boom")
        sub.set_defaults(func=fails_mid_loop)
        declare_outputs(sub, writes_nothing)
        return p

    monkeypatch.setattr(cli, "build_parser", parser)
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert cli.main(["boom"]) == 2
    assert "clips:" in err.getvalue()  # the bar was drawn ...
    assert err.getvalue().endswith("\nedgel3-mote: error: clip x.wav is broken\n")  # ... and ended before the error
