"""The TFLM runtime (``export firmware --runtime tflm``) on a tiny model: TFLite Micro + CMSIS-NN compiled
from TFLM_PATH, the model as a C array, exactly its operators registered, the self-test in QEMU on
qemu-mps2-an386 and on the 128 KiB F405 board (qemu-netduinoplus2) identical to the tflite-micro
wheel, and the refusal, before any compiling, of a model whose TFLM arena does not fit the board.

The TFLM objects are cached under build/.cache/tflm (keyed by the tree and the core's flags): the
first run of the suite compiles them (minutes on a loaded 2-core machine), later runs only link."""

from __future__ import annotations

import json
import re

import pytest
from test_project_generator import tiny_backbone

from edgel3_mote.board_tests.harness.qemu import run_elf
from edgel3_mote.errors import ExportError
from edgel3_mote.export.carrays import parse_c_array
from edgel3_mote.export.project import SIGNAL_WINDOWS, build_firmware_project

BOARDS = ("qemu-mps2-an386", "qemu-netduinoplus2")


@pytest.fixture(scope="module")
def tflm_projects(tmp_path_factory, clip_paths):
    """The tiny model's TFLM project for each board (one int8 export, one TFLM build per core)."""
    root = tmp_path_factory.mktemp("tflm")
    model = tiny_backbone()
    quiet = lambda m: None  # noqa: E731
    infos = {
        b: build_firmware_project(
            b, model, clips=clip_paths[:3], out_dir=root / b, cache_dir=root / "cache", runtime="tflm", log=quiet
        )
        for b in BOARDS
    }
    return root, infos


def test_tflm_project_holds_the_model_and_exactly_its_ops(tflm_projects):
    root, infos = tflm_projects
    proj = root / BOARDS[0]
    info = infos[BOARDS[0]]
    assert info.runtime == "tflm"
    int8 = (proj / "export" / "model_int8.tflite").read_bytes()
    assert parse_c_array((proj / "src" / "model_data.c").read_text()) == int8  # the model as a C array
    model_h = (proj / "src" / "em_tflm_model.h").read_text()
    assert sorted(re.findall(r"r\.(Add\w+)\(\)", model_h)) == ["AddConv2D", "AddMaxPool2D", "AddReshape"]
    assert "MicroMutableOpResolver<EM_TFLM_NUM_OP_TYPES>" in model_h and "#define EM_TFLM_NUM_OP_TYPES 3" in model_h
    # TFLM is compiled from TFLM_PATH, never copied; no engine kernels either
    assert not (proj / "tensorflow").exists() and not (proj / "firmware" / "kernels").exists()
    makefile = (proj / "Makefile").read_text()
    assert re.search(r"^TFLM_PATH \?= /\S+/tflm$", makefile, re.M) and "cmsis_nn/conv.cc" in makefile
    assert "kernels/depthwise_conv" not in makefile  # only the kernels the resolver needs
    doc = json.loads((proj / "project.json").read_text())
    assert doc["runtime"] == "tflm" and doc["engine"]["ops"] == ["CONV_2D", "MAX_POOL_2D"] * 2 + ["RESHAPE"]
    # one object cache for both Cortex-M4 boards: the second project compiled nothing of TFLM
    objs = {b: json.loads((root / b / "project.json").read_text())["engine"]["tflm_obj_dir"] for b in BOARDS}
    assert objs[BOARDS[0]] == objs[BOARDS[1]]


@pytest.mark.parametrize("board", BOARDS)
def test_tflm_selftest_is_identical_to_the_wheel_in_qemu(tflm_projects, board):
    info = tflm_projects[1][board]
    code, out = run_elf(board, info.selftest_elf, timeout=300)
    assert "selftest: PASS" in out and code == 0, out
    # (a): TFLM + CMSIS-NN on the target == the tflite-micro wheel's int8 embedding, every vector
    # the three clips' windows, then the signal windows (export.project.SIGNAL_WINDOWS), every one exact
    exact = re.findall(r"^vector \d+ (\S+): \(a\) engine exact", out, re.M)
    assert len(exact) == 3 + len(SIGNAL_WINDOWS) and [n.split("_")[0] for n in exact[3:]] == [
        s.split("_")[0] for s in SIGNAL_WINDOWS
    ], out
    used, declared = map(int, re.search(r"tflm: arena_used_bytes (\d+) of (\d+)", out).groups())
    assert declared == info.arena_bytes and 0 < used <= declared
    ticks = [int(t) for t in re.findall(r"^layer \d+: (\d+) instructions", out, re.M)]
    assert len(ticks) == 5 and all(t > 0 for t in ticks)  # the profiler: one figure per operator


def wide_backbone():
    """Two 24-channel full-resolution convs: TFLM holds both (64, 50, 24) activations, ~150 KB."""
    import tf_keras as keras

    keras.utils.set_random_seed(4)
    x = keras.Input((64, 50, 1))
    y = keras.layers.Conv2D(24, 3, padding="same", activation="relu")(x)
    y = keras.layers.Conv2D(24, 3, padding="same", activation="relu")(y)
    y = keras.layers.MaxPooling2D((64, 50))(y)
    y = keras.layers.Flatten()(y)
    model = keras.Model(x, y, name="wide")
    model.edgel3_random_weights, model.edgel3_seed = True, 4
    return model


def test_tflm_refuses_a_board_its_arena_does_not_fit(tmp_path, clip_paths):
    from edgel3_mote.export.ir import read_tflite
    from edgel3_mote.export.tflm_runtime import tflm_arena_plan

    out = tmp_path / "wide"
    with pytest.raises(ExportError, match="does not fit qemu-netduinoplus2") as err:
        build_firmware_project(
            "qemu-netduinoplus2",
            wide_backbone(),
            clips=clip_paths[:2],
            out_dir=out,
            cache_dir=tmp_path / "cache",
            runtime="tflm",
            log=lambda m: None,
        )
    assert not out.exists()  # refused before anything was written or compiled
    (export,) = (tmp_path / "cache").iterdir()
    host = json.loads((export / "tflm_arena.json").read_text())["tflm_arena_bytes"]
    arena = tflm_arena_plan(host, read_tflite((export / "model_int8.tflite").read_bytes(), supported=None))
    assert arena > 128 * 1024
    assert f"its arena is {arena:,} bytes" in str(err.value) and "the board has 131,072" in str(err.value)


def test_a_tflm_path_that_is_no_tflm_tree_is_refused_first(tmp_path, monkeypatch):
    from edgel3_mote.errors import InvalidInputError

    monkeypatch.setenv("TFLM_PATH", str(tmp_path))
    with pytest.raises(InvalidInputError, match=f"TFLM_PATH={tmp_path} is not a TFLite Micro source tree"):
        build_firmware_project(BOARDS[0], "sea-64", out_dir=tmp_path / "p", runtime="tflm", log=lambda m: None)
    assert not (tmp_path / "p").exists()


def test_tflm_project_readme_says_its_runtime(tflm_projects):
    root, _ = tflm_projects
    readme = (root / BOARDS[0] / "README.md").read_text()
    assert "Runtime: TensorFlow Lite Micro with CMSIS-NN" in readme and "| TFLM arena |" in readme
    assert "engine arena" not in readme
