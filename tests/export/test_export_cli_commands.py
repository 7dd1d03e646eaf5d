"""`edgel3-mote export ...` through edgel3_mote.cli.main: random-weights export, C arrays, errors."""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys

import pytest

from edgel3_mote.cli import main
from edgel3_mote.export.carrays import parse_c_array
from edgel3_mote.export.manifest import Manifest


def test_help_lists_the_subcommands_without_importing_tensorflow():
    code = (
        "import argparse, sys\n"
        "from edgel3_mote.export import cli\n"
        "parser = argparse.ArgumentParser()\n"
        "cli.register(parser.add_subparsers())\n"
        "parser.parse_args(['export', 'tflite', '--model', 'sea-64'])\n"
        "print('tensorflow' in sys.modules, 'tf_keras' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.split() == ["False", "False"]


def test_export_help(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["export", "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for command in ("tflite", "report", "carrays"):
        assert command in text
    assert main(["export"]) == 2  # no sub-command: help, exit 2


@pytest.fixture(scope="module")
def calibration_dir(tmp_path_factory, clip_paths):
    # Two short real clips, linked (never copied) so calibration stays quick.
    folder = tmp_path_factory.mktemp("calibration")
    for path in clip_paths:
        if path.stem in ("sheep", "rooster"):
            (folder / path.name).symlink_to(path)
    return folder


@pytest.fixture(scope="module")
def random_export(tmp_path_factory, calibration_dir):
    out = tmp_path_factory.mktemp("cli") / "sea64-random"
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        rc = main(
            [
                "export",
                "tflite",
                "--model",
                "sea-64",
                "--calibration",
                str(calibration_dir),
                "--calibration-steps",
                "4",
                "--hop-size",
                "0.5",
                "-o",
                str(out),
            ]
        )
    assert rc == 0, stderr.getvalue()
    return out, stdout.getvalue(), stderr.getvalue()


def test_random_weights_are_stated_plainly(random_export):
    out, stdout, stderr = random_export
    assert "RANDOM WEIGHTS (seed 0)" in stdout
    assert "RANDOM weights" in stderr
    manifest = Manifest.load(out)
    assert manifest.model == "sea-64"
    assert manifest.random_weights is True and manifest.weights is None and manifest.seed == 0
    assert manifest.input.shape == (1, 64, 50, 1) and manifest.output.shape == (1, 64)
    assert manifest.ops.count("CONV_2D") == 8 and manifest.ops[-2:] == ("MAX_POOL_2D", "RESHAPE")
    assert manifest.calibration is not None and manifest.calibration["clips"] == ["rooster.mp3", "sheep.mp3"]
    assert manifest.sha256 in stdout


def test_carrays_from_export_dir(random_export, tmp_path, capsys):
    random_export = random_export[0]
    out = tmp_path / "c"
    assert main(["export", "carrays", "--tflite", str(random_export), "-o", str(out)]) == 0
    assert "g_model_data[" in capsys.readouterr().out
    data = (random_export / "model_int8.tflite").read_bytes()
    assert parse_c_array((out / "model_data.c").read_text()) == data
    assert f"g_model_data_len = {len(data)}u" in (out / "model_data.c").read_text()


@pytest.mark.parametrize(
    "argv,match",
    [
        (["export", "tflite", "--model", "sea-65"], "unknown model 'sea-65'"),
        (["export", "tflite", "--model", "sea-64", "--calibration", "{empty}"], "no audio files"),
        (["export", "tflite", "--model", "sea-64", "--weights", "{tmp}/nope.h5"], "does not exist"),
        (["export", "report", "--model", "sea-64", "--clips", "{empty}"], "no audio files"),
        (["export", "carrays", "--tflite", "{tmp}/nope.tflite"], "does not exist"),
    ],
)
def test_errors_are_one_line_and_leave_nothing(tmp_path, capsys, argv, match):
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "out"
    argv = [a.format(empty=empty, tmp=tmp_path) for a in argv] + ["-o", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("edgel3-mote: error: ") and match in err[0], err
    assert not out.exists()
