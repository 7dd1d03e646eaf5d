"""Quiet exports: one line per step on screen; the converter's and TensorFlow's chatter (``fully_quantize``, the
``tf.lite.Interpreter`` deprecation warning, the XNNPACK line) in the export's ``export.log``; the arena table
with Keras layer names; "weights N B in flash (int16-expanded for speed: X B as int8)" checked against the
same engine generated without int16 expansion."""

from __future__ import annotations

import re

import pytest

from edgel3_mote.export.codegen.engine import generate_engine
from edgel3_mote.export.project import build_firmware_project
from tests.export.test_project_generator import tiny_backbone

CHATTER = ("fully_quantize", "tf.lite.Interpreter is deprecated", "XNNPACK")


@pytest.fixture(scope="module")
def quiet_export(tmp_path_factory, clip_paths):
    root = tmp_path_factory.mktemp("quiet")
    screen: list[str] = []
    info = build_firmware_project(
        "qemu-mps2-an386",
        tiny_backbone(),
        clips=clip_paths[:2],
        out_dir=root / "tiny",
        cache_dir=root / "cache",
        log=screen.append,
    )
    return root, info, screen


def test_screen_has_one_line_per_step_and_no_chatter(quiet_export):
    root, info, screen = quiet_export
    assert screen and all("\n" not in line for line in screen), screen  # no tables on screen
    text = "\n".join(screen)
    assert not any(c in text for c in CHATTER)
    assert any(line.startswith("engine: arena ") for line in screen)
    assert any(line.startswith("built selftest.elf: flash ") for line in screen)


def test_export_logs_hold_steps_and_chatter(quiet_export):
    root, info, screen = quiet_export
    project_log = (root / "tiny" / "export.log").read_text()
    cache_logs = list((root / "cache").glob("*/export.log"))
    assert len(cache_logs) == 1
    cache_log = cache_logs[0].read_text()
    assert "fully_quantize" in cache_log and "[TFLite converter, int8]" in cache_log
    assert "fully_quantize" in project_log  # the nested export's chatter belongs to the project's log too
    assert "tf.lite.Interpreter is deprecated" in project_log  # the self-test vectors' float reference
    for line in screen[:-1]:  # every step but the final "wrote" is in the log
        assert line in project_log


def test_arena_table_names_keras_layers(quiet_export):
    root, _, _ = quiet_export
    report = (root / "tiny" / "engine_report.txt").read_text()
    table = report[report.index("arena buffers:") : report.index("peak: step")]
    assert ";" not in table and "BiasAdd" not in table
    # Keras numbers layers per process (conv2d, conv2d_1, ... conv2d_57 after other tests): any plain conv name
    assert re.search(r"tensor\s+conv2d(_\d+)?\n", table) and re.search(r"tensor\s+input_\d+", table)


def test_weights_line_names_the_int16_expansion(quiet_export, tmp_path):
    from edgel3_mote.export.project import _weights_in_flash

    root, info, screen = quiet_export
    int8 = (root / "tiny" / "export" / "model_int8.tflite").read_bytes()
    assert info.weights_in_flash in screen[-1]
    assert info.weights_in_flash in (root / "tiny" / "README.md").read_text()  # the project's README says it too
    # with int16-expanded convs the line says what the weights would take as int8 (the oracle: no expansion)
    wide = generate_engine(int8, tmp_path / "w16", model_name="tiny", w16_flash_bytes=1 << 20)
    plain = generate_engine(int8, tmp_path / "s8", model_name="tiny", w16_flash_bytes=0, weight_format="dense")
    m = re.fullmatch(
        r"([\d,]+) B in flash \(int16-expanded for speed: ([\d,]+) B as int8\)", _weights_in_flash(wide, int8)
    )
    assert m, _weights_in_flash(wide, int8)
    w16_bytes, int8_bytes = (int(g.replace(",", "")) for g in m.groups())
    assert w16_bytes == wide.weight_bytes and int8_bytes == plain.weight_bytes < w16_bytes
    assert _weights_in_flash(plain, int8) == f"{plain.weight_bytes:,} B in flash"


def test_readable_names_of_sea_tensors():
    from edgel3_mote.export.planner import readable_name

    sea = (
        "audio_model/activation_1/Relu;audio_model/batch_normalization_2/FusedBatchNormV3;"
        "audio_model/conv2d_1/BiasAdd/ReadVariableOp;audio_model/conv2d_1/BiasAdd;audio_model/conv2d_1/Conv2D1"
    )
    assert readable_name(sea) == "conv2d_1 + BN + ReLU"
    assert readable_name("serving_default_input_1:0") == "input_1"
    assert readable_name("line:audio_model/max_pooling2d_3/MaxPool") == "line:max_pooling2d_3"
    assert readable_name("scratch:step10") == "scratch:step10"
