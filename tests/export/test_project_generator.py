"""The firmware project generator on a tiny model: layout, build, memory report, cache,
clear errors for models that do not fit (and no half-written project), self-test in QEMU."""

from __future__ import annotations

import dataclasses
import json
import re

import numpy as np
import pytest

from edgel3_mote.board_tests.harness.qemu import run_elf
from edgel3_mote.errors import ExportError, InvalidInputError
from edgel3_mote.export.boards import elf_memory_usage, get_board
from edgel3_mote.export.project import build_firmware_project, load_project

BOARD = "qemu-netduinoplus2"
# after the clips' windows, the self-test's signal windows (export.project.SIGNAL_WINDOWS) at 8 kHz
SIGNAL_NAMES = ["bandlimited_4000Hz", "dc_offset", "silence", "clipped"]


def tiny_backbone():
    """A 2-conv SEA-shaped backbone: (64, 50, 1) spectrogram -> 8-d embedding."""
    import tf_keras as keras

    keras.utils.set_random_seed(3)
    x = keras.Input((64, 50, 1))
    y = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(x)
    y = keras.layers.MaxPooling2D(2)(y)
    y = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(y)
    y = keras.layers.MaxPooling2D((32, 25))(y)
    y = keras.layers.Flatten()(y)
    model = keras.Model(x, y, name="tiny")
    model.edgel3_random_weights, model.edgel3_seed = True, 3
    return model


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, clip_paths):
    root = tmp_path_factory.mktemp("project")
    model = tiny_backbone()
    clips = clip_paths[:3]
    info = build_firmware_project(BOARD, model, clips=clips, out_dir=root / "tiny", cache_dir=root / "cache")
    return model, clips, root, info


def test_project_layout_and_report(tiny):
    _, _, root, info = tiny
    proj = root / "tiny"
    assert info.project_dir == proj and not info.reused
    for rel in (
        "Makefile",
        "README.md",
        "project.json",
        "src/model_engine.c",
        "src/model_weights.c",
        "src/em_frontend_tables.c",
        "src/selftest_vectors.c",
        "firmware/app/selftest_main.c",
        "firmware/boards/common/startup_cortexm.S",
        f"firmware/boards/{BOARD}/memory.ld",
        "export/model_int8.tflite",
        "export/manifest.json",
    ):
        assert (proj / rel).is_file(), rel
    assert not list(root.glob(".tiny.*"))  # no temporary directory left behind
    doc = json.loads((proj / "project.json").read_text())
    assert doc["board"] == BOARD and doc["random_weights"] is True
    assert (
        "RANDOM WEIGHTS (seed 3)" in doc["weights_line"]
        and "RANDOM WEIGHTS (seed 3)" in (proj / "README.md").read_text()
    )
    assert doc["vectors"]["names"] == [p.stem for p in tiny[1]] + SIGNAL_NAMES
    board = get_board(BOARD)
    use = elf_memory_usage(info.selftest_elf, board)
    assert use.to_dict() == doc["memory"]["selftest"]
    assert use.ram_bytes <= board.ram_size and use.flash_bytes <= board.flash_size
    assert use.ram_bytes >= info.arena_bytes + board.stack_size  # the arena is static RAM
    assert len(doc["sha256"]["selftest.elf"]) == 64
    # flashing tools' formats beside each ELF: a raw image of the flash contents and Intel HEX
    from elftools.elf.elffile import ELFFile

    for elf in proj.glob("*.elf"):
        raw, hexfile = elf.with_suffix(".bin").read_bytes(), elf.with_suffix(".hex").read_text()
        with open(elf, "rb") as f:  # the image starts with the lowest load segment (the vector table)
            loads = [seg for seg in ELFFile(f).iter_segments() if seg["p_type"] == "PT_LOAD" and seg["p_filesz"]]
            first = min(loads, key=lambda seg: seg["p_paddr"])
            assert raw[:64] == first.data()[:64], elf.name
        assert 0 < len(raw) <= use.flash_size and hexfile.startswith(":") and hexfile.rstrip().endswith(":00000001FF")
    # the engine report lists every arena buffer (offset, size, live steps) and the peak it proves
    report = (proj / "engine_report.txt").read_text()
    from edgel3_mote.export.planner import readable_name  # the table names Keras layers, not TF tensor paths

    for buf in doc["engine"]["buffers"]:
        name = re.escape(readable_name(buf["name"]))
        assert re.search(rf"^\s*{buf['offset']:,}\s+{buf['bytes']:,}\s.*{name}$", report, re.M), buf
    assert f"arena {info.arena_bytes:,} bytes" in report


def test_selftest_passes_in_qemu(tiny):
    info = tiny[3]
    code, out = run_elf(BOARD, info.selftest_elf, timeout=120)
    assert "selftest: PASS" in out, out
    assert code == 0
    assert len(re.findall(r"^vector \d+ \S+: \(a\) engine exact", out, re.M)) == 3 + len(SIGNAL_NAMES)
    assert "RANDOM WEIGHTS (seed 3)" in out and "instructions" in out


def test_unchanged_inputs_reuse_the_project(tiny):
    model, clips, root, info = tiny
    again = build_firmware_project(BOARD, model, clips=clips, out_dir=root / "tiny", cache_dir=root / "cache")
    assert again.reused and again.elfs == info.elfs and again.arena_bytes == info.arena_bytes
    assert load_project(root / "tiny").memory == info.memory


def test_the_steps_one_by_one_give_the_same_project(tiny, tmp_path):
    """build_firmware_project is the composition of its public steps: run by hand, they write the same sources."""
    from edgel3_mote.export import project as pr

    model, clips, root, info = tiny
    quiet = lambda m: None  # noqa: E731
    request = pr.ProjectRequest(
        BOARD, model, clips=clips, out_dir=tmp_path / "p", build=False, cache_dir=root / "cache"
    )
    inputs = pr.resolve_inputs(request)
    assert inputs.out_dir == tmp_path / "p" and pr.up_to_date_project(inputs, quiet) is None
    export = pr.export_int8(inputs, quiet)  # the fixture's cached export
    work = tmp_path / "work"
    (work / "src").mkdir(parents=True)
    engine = pr.write_engine(inputs, export, work, quiet)
    assert engine.engine.arena_bytes == info.arena_bytes and engine.serial_skipped is None
    pr.write_frontend_tables(export.manifest, work / "src")
    vectors = pr.write_selftest_vectors(inputs, export, engine, work, quiet)
    assert vectors.names == [c.stem for c in clips] + SIGNAL_NAMES and vectors.n_pcm == len(clips) + len(SIGNAL_NAMES)
    step_info, targets = pr.write_project_files(inputs, export, engine, vectors, work)
    assert targets == ["selftest.elf", "firmware.elf"] and step_info.arena_bytes == info.arena_bytes
    pr.write_project_json(inputs, export, engine, vectors, step_info, work, targets)
    doc = json.loads((work / "project.json").read_text())
    assert doc["inputs_sha256"] == inputs.key and doc["vectors"]["names"] == vectors.names
    for rel in ("model_engine.c", "model_engine.h", "model_weights.c", "em_frontend_tables.c", "selftest_vectors.c"):
        assert (work / "src" / rel).read_bytes() == (root / "tiny" / "src" / rel).read_bytes(), rel
    assert (work / "Makefile").read_bytes() == (root / "tiny" / "Makefile").read_bytes()


def test_serial_app_that_does_not_fit_leaves_the_selftest(tiny):
    """24 KiB: the arena fits beside the stack, but not with the serial app's 16,000-byte PCM window."""
    model, clips, root, _ = tiny
    small = dataclasses.replace(get_board(BOARD), ram_size=24 * 1024)
    info = build_firmware_project(small, model, clips=clips, out_dir=root / "small24", cache_dir=root / "cache")
    assert set(info.elfs) == {"selftest"} and info.memory["selftest"]["ram_bytes"] <= 24 * 1024
    doc = json.loads((root / "small24" / "project.json").read_text())
    assert "16,000-byte PCM window" in doc["serial_app_skipped"] and "selftest.elf" in doc["serial_app_skipped"]
    assert "No serial app (firmware.elf)" in (root / "small24" / "README.md").read_text()
    assert "firmware.elf" not in (root / "small24" / "Makefile").read_text().split("all:")[1].splitlines()[0]


def test_model_that_does_not_fit_is_a_clear_error(tiny, monkeypatch):
    model, clips, root, _ = tiny
    small = dataclasses.replace(get_board(BOARD), ram_size=14 * 1024)
    with pytest.raises(ExportError) as exc:
        build_firmware_project(small, model, clips=clips, out_dir=root / "small", cache_dir=root / "cache")
    assert "bytes" in str(exc.value) and any(ch.isdigit() for ch in str(exc.value))
    assert not (root / "small").exists() and not list(root.glob(".small.*"))


def test_unknown_board_and_missing_weights(tmp_path):
    with pytest.raises(InvalidInputError, match="qemu-mps2-an386"):
        build_firmware_project("esp32", "sea-64", out_dir=tmp_path / "x")
    with pytest.raises(InvalidInputError, match="does not exist"):
        build_firmware_project(BOARD, "sea-64", weights=tmp_path / "none.h5", out_dir=tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_nonzero_macs_counts_output_positions_times_nonzero_weights():
    from edgel3_mote.export.codegen.engine import LayerInfo
    from edgel3_mote.export.project import nonzero_macs

    conv = LayerInfo(
        "c", "CONV_2D", (1, 32, 24, 256), (1, 32, 24, 512), 32 * 24 * 512 * 9 * 256, 0, "sparse", nonzeros=23_593
    )
    assert nonzero_macs(conv) == 32 * 24 * 23_593
    pool = LayerInfo("p", "MAX_POOL_2D", (1, 4, 4, 8), (1, 2, 2, 8), 0, 0)
    assert nonzero_macs(pool) == 0


def test_silent_selftest_clips_are_refused(tmp_path):
    """A self-test whose vectors are all silence passes whatever the engine does: refused, naming the clips."""
    import soundfile as sf

    from edgel3_mote.export.project import _vector_windows
    from tests.support.manifests import synthetic_manifest

    clip = tmp_path / "silence.wav"
    sf.write(clip, np.zeros(8000, np.float32), 8000)
    manifest = synthetic_manifest(window_samples=8000)
    with pytest.raises(InvalidInputError, match=r"silent.*silence\.wav.*real sound"):
        _vector_windows([clip], manifest, seed=0)
    loud = tmp_path / "tone.wav"
    sf.write(loud, 0.3 * np.sin(np.arange(8000) * 0.3).astype(np.float32), 8000)
    names, pcm, _ = _vector_windows([clip, loud], manifest, seed=0)
    assert names == ["silence", "tone", *SIGNAL_NAMES] and np.any(pcm[1])
    assert np.array_equal(pcm[3], np.full(8000, -32768)) and not np.any(pcm[4])  # DC offset, digital silence


def test_a_model_that_cannot_fit_is_refused_before_conversion(tmp_path, monkeypatch):
    """l3-melspec2 (4.7 MB of int8 weights) on the 1 MiB / 128 KiB board: refused with the numbers, at once."""
    import time

    import edgel3_mote.export.project as project

    def no_conversion(*args, **kwargs):
        raise AssertionError("the fit check must come before the int8 conversion")

    monkeypatch.setattr(project, "_int8_export", no_conversion)
    start = time.monotonic()
    with pytest.raises(
        ExportError,
        match=r"l3-melspec2 cannot fit qemu-netduinoplus2: it needs at least "
        r"4,739,136 bytes of flash and the board has 1,048,576",
    ):
        build_firmware_project("qemu-netduinoplus2", "l3-melspec2", out_dir=tmp_path / "p")
    assert time.monotonic() - start < 10 and not (tmp_path / "p").exists()
    # the bounds are lower bounds: what fits is not refused
    for board, model in (("qemu-netduinoplus2", "sea-64"), ("qemu-mps2-an500-h743", "edgel3-95.45")):
        project.check_fits_before_conversion(get_board(board), model)
