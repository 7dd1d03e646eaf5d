"""Bad input, per command: one ``edgel3-mote: error: ...`` line naming the problem (and the file), exit 2,
before any long work -- TensorFlow is not even imported (every case runs in one subprocess).

Cases that need the model (NaN audio, an all-silent calibration set) and the serial link's timeouts
are checked in process below.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import soundfile as sf

from edgel3_mote.errors import DeviceError, EdgeL3MoteWarning, InvalidInputError

DRIVER = Path(__file__).with_name("cli_driver.py")


def _files(d: Path) -> dict[str, Path]:
    """Bad inputs of every kind, written into ``d``."""
    import tensorflow as tf
    import tf_keras as keras

    f = {"missing": d / "missing.h5", "nodir": d / "no-such-folder", "out": d / "out"}
    f["garbage"] = d / "garbage.json"
    f["garbage"].write_bytes(b"\x00\xff not json")
    f["empty_json"] = d / "empty.json"
    f["empty_json"].write_text("{}")
    f["no_windows"] = d / "no-windows.json"
    f["no_windows"].write_text(json.dumps({"summary": {}, "clips": [{"path": "a.wav", "windows": [{"x": 1}]}]}))
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(2, 3)])
    flat = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    f["float"] = d / "float.tflite"
    f["float"].write_bytes(flat)
    f["truncated"] = d / "truncated.tflite"
    f["truncated"].write_bytes(flat[: len(flat) // 3])
    f["text"] = d / "model.tflite.txt"
    f["text"].write_text("not a model")
    f["corrupt_head"] = d / "corrupt.h5"
    f["corrupt_head"].write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 40)
    (d / "corrupt.classes.json").write_text(json.dumps({"classes": ["a", "b"]}))
    f["plain_h5"] = d / "plain.h5"
    with h5py.File(f["plain_h5"], "w") as h:
        h["x"] = np.zeros(3)
    (d / "plain.classes.json").write_text(json.dumps({"classes": ["a", "b"]}))
    f["bad_classes"] = d / "head.h5"
    with h5py.File(f["bad_classes"], "w") as h:
        h.attrs["model_config"] = "{}"
    (d / "head.classes.json").write_text('{"classes": ["a", ')
    f["one_class"] = d / "one.h5"
    with h5py.File(f["one_class"], "w") as h:
        h.attrs["model_config"] = "{}"
    (d / "one.classes.json").write_text(json.dumps({"classes": ["only"]}))
    return f


def _cases(f: dict[str, Path]) -> list[tuple[str, list[str], str]]:
    s = {k: str(v) for k, v in f.items()}
    out = s["out"]
    return [
        # meaningless numbers
        ("bench", ["bench", "--timeout", "0"], "argument --timeout: 0.0 is not a positive"),
        ("bench", ["bench", "--timeout", "-5"], "argument --timeout: -5.0 is not a positive"),
        ("bench", ["bench", "--timeout", "nan"], "argument --timeout: nan is not a positive"),
        ("bench", ["bench", "--max-windows", "0"], "argument --max-windows: 0 is not positive"),
        ("bench", ["bench", "--hop-size", "0"], "argument --hop-size: 0.0 is not a positive"),
        ("bench", ["bench", "--baud", "-9600"], "argument --baud: -9600 is not positive"),
        ("emulate", ["emulate", "--timeout", "0"], "argument --timeout"),
        ("demo", ["demo", "--max-windows", "-1"], "argument --max-windows"),
        ("selftest", ["selftest", "--timeout", "0"], "argument --timeout"),
        (
            "sensitivity",
            ["sensitivity", "--clips", s["nodir"], "--max-windows", "0", "-o", out],
            "argument --max-windows",
        ),
        (
            "sensitivity",
            ["sensitivity", "--clips", str(f["out"].parent), "--sparsities", "50", "100", "-o", out],
            "--sparsities are percentages in [0, 100)",
        ),
        ("prune", ["prune", "--plan", "edgel3", "--epochs", "0", "-o", out], "argument --epochs"),
        ("export tflite", ["export", "tflite", "--calibration-steps", "0", "-o", out], "--calibration-steps"),
        ("export tflite", ["export", "tflite", "--hop-size", "-1", "-o", out], "argument --hop-size"),
        # files that are not there, or not what they claim to be
        ("bench", ["bench", "--compare-to", s["missing"]], f"--compare-to {s['missing']} not found"),
        ("bench", ["bench", "--compare-to", s["garbage"]], f"--compare-to {s['garbage']} is not a bench report"),
        ("bench", ["bench", "--compare-to", s["empty_json"]], f"--compare-to {s['empty_json']} is not a bench"),
        ("bench", ["bench", "--compare-to", s["no_windows"]], f"--compare-to {s['no_windows']} is not a bench"),
        ("bench", ["bench", "--clips", s["nodir"]], f"--clips {s['nodir']} does not exist"),
        ("export tflite", ["export", "tflite", "--weights", s["missing"], "-o", out], f"weights file {s['missing']}"),
        ("export tflite", ["export", "tflite", "--calibration", s["nodir"], "-o", out], f"{s['nodir']} does not"),
        ("export report", ["export", "report", "--clips", s["nodir"], "-o", out], f"--clips {s['nodir']} does not"),
        ("prune", ["prune", "--plan", "edgel3", "--weights", s["missing"], "-o", out], f"weights file {s['missing']}"),
        ("prune", ["prune", "--plan", "12.34", "-o", out], "unknown pruning plan"),
        ("sensitivity", ["sensitivity", "--clips", s["nodir"], "-o", out], f"--clips {s['nodir']} does not exist"),
        ("export carrays", ["export", "carrays", "--tflite", s["float"], "-o", out], f"{s['float']}: "),
        ("export carrays", ["export", "carrays", "--tflite", s["truncated"], "-o", out], f"{s['truncated']}"),
        ("export carrays", ["export", "carrays", "--tflite", s["text"], "-o", out], "not a TFLite flatbuffer"),
        ("export carrays", ["export", "carrays", "--tflite", s["nodir"], "-o", out], f"{s['nodir']}"),
        (
            "export firmware",
            ["export", "firmware", "--classifier", s["corrupt_head"], "-o", out],
            f"classifier {s['corrupt_head']} is not a readable .h5",
        ),
        (
            "export firmware",
            ["export", "firmware", "--classifier", s["plain_h5"], "-o", out],
            "is an HDF5 file but not a saved Keras model",
        ),
        (
            "export firmware",
            ["export", "firmware", "--classifier", s["bad_classes"], "-o", out],
            "head.classes.json is malformed",
        ),
        (
            "export firmware",
            ["export", "firmware", "--classifier", s["one_class"], "-o", out],
            "one.classes.json must hold 2 or more distinct",
        ),
        ("export firmware", ["export", "firmware", "--weights", s["missing"], "-o", out], s["missing"]),
        ("selftest", ["selftest", "--board", "nucleo-h743zi"], "does not run in QEMU"),
        ("bench", ["bench", "--board", "nucleo-h743zi"], "does not run in QEMU: connect it"),
        ("emulate", ["emulate", "--board", "nucleo-h743zi"], "runs QEMU boards only"),
    ]


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad-inputs")
    cases = _cases(_files(d))
    spec = d / "cases.json"
    spec.write_text(json.dumps([argv for _, argv, _ in cases]))
    done = subprocess.run([sys.executable, str(DRIVER), str(spec)], cwd=d, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    return cases, report, d


def test_every_bad_input_gets_one_error_line_naming_it_before_tensorflow(outcomes):
    cases, report, d = outcomes
    assert len(cases) == len(report["results"]) == 37
    failures = []
    for (command, argv, says), result in zip(cases, report["results"]):
        lines = result["stderr"].strip().splitlines()
        if not (
            result["rc"] == 2 and len(lines) == 1 and lines[0].startswith("edgel3-mote: error: ") and says in lines[0]
        ):
            failures.append(f"{command} {argv}: rc {result['rc']}: {result['stderr'].strip()[-400:]}")
    assert not failures, "\n".join(failures)
    first = next((argv for (_, argv, _), r in zip(cases, report["results"]) if r["tensorflow_imported"]), None)
    assert first is None, f"TensorFlow was imported by {first}"
    assert not (d / "out").exists()  # and nothing was written


def test_commands_covered(outcomes):
    cases, _, _ = outcomes
    assert {c for c, _, _ in cases} == {
        "bench",
        "emulate",
        "demo",
        "selftest",
        "prune",
        "sensitivity",
        "export tflite",
        "export report",
        "export carrays",
        "export firmware",
    }


# -- the ones that need more than argument parsing ------------------------------------------------


def test_nan_or_inf_audio_is_refused_naming_the_file(tmp_path):
    from edgel3_mote.compress.audio import read_audio  # the one audio reader every command uses

    for bad in (np.nan, np.inf):
        path = tmp_path / f"clip-{bad}.wav"
        audio = np.zeros(800, np.float32)
        audio[100] = bad
        sf.write(path, audio, 8000, subtype="FLOAT")
        with pytest.raises(InvalidInputError, match=rf"audio file {path} contains NaN or Inf samples"):
            read_audio(path)


def test_an_all_silent_calibration_set_warns_loudly(tmp_path):
    from edgel3_mote.export.tflite import _resolve_model, calibration_spectrograms

    clips = tmp_path / "silence"
    clips.mkdir()
    for i in range(2):
        sf.write(clips / f"quiet{i}.wav", np.zeros(8000 * 2, np.float32), 8000)
    bb = _resolve_model("sea-64", None, 0, None, None)
    with pytest.warns(EdgeL3MoteWarning, match=rf"calibration set {clips} is all silence"):
        x, info = calibration_spectrograms(bb, clips, 8, 0.5, 0, progress=False, log=lambda m: None)
    assert info["all_silent"] is True and len(x) == 8


def test_warnings_print_in_one_form(capsys):
    import warnings

    from edgel3_mote.cli import _quiet_start

    with warnings.catch_warnings():
        _quiet_start()
        warnings.warn(EdgeL3MoteWarning("calibration set x is all silence"), stacklevel=1)
    assert capsys.readouterr().err == "edgel3-mote: warning: calibration set x is all silence\n"


@pytest.mark.parametrize("timeout", [1.0, 3.0])
@pytest.mark.parametrize("kind", ["nobody listening", "listening but silent", "no such device"])
def test_a_dead_port_fails_within_the_timeout(kind, timeout):
    from edgel3_mote.board_tests.harness.bench import BenchSetup
    from edgel3_mote.board_tests.harness.deploy import open_board

    listener = None
    if kind == "no such device":
        url = "/dev/ttyEDGEL3-none"
    else:
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        port = listener.getsockname()[1]
        if kind == "listening but silent":
            listener.listen(1)
        else:
            listener.close()
        url = f"socket://127.0.0.1:{port}"
    setup = BenchSetup.__new__(BenchSetup)
    start = time.monotonic()
    try:
        with pytest.raises(DeviceError, match="cannot open|no answer"):
            with open_board(setup, None, port=url, infer_timeout=timeout):
                pass
    finally:
        if listener is not None:
            listener.close()
    assert time.monotonic() - start < timeout + 0.5


def test_decoder_notices_the_user_cannot_act_on_are_muted(clips_dir, capfd):
    """libmpg123 prints an ID3 notice for ../shared's horse.mp3 straight to fd 2; the reader mutes it."""
    import soundfile

    from edgel3_mote.compress.audio import read_audio

    soundfile.read(str(clips_dir / "horse.mp3"))
    assert "ID3v2" in capfd.readouterr().err  # the library does print it ...
    audio, sr = read_audio(clips_dir / "horse.mp3")
    assert len(audio) > sr and capfd.readouterr().err == ""  # ... the project's readers do not pass it on
