"""A firmware project with the int8 classifier head: real SEA-64, a 3-class head trained on its
real embeddings of three animal recordings, generated for qemu-mps2-an386 and self-tested in QEMU
(embedding engine AND head engine byte-identical to tflite-micro). The project is built by
board_tests/head_project.py (cached in build/.cache/head-project, regenerated when any input,
code included, changes)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

import edgel3_mote  # noqa: F401
from edgel3_mote.errors import InvalidInputError
from tests.support.head_project import CLASSES
from tests.support.head_project import head_project as build_head_project


@pytest.fixture(scope="module")
def head_project(clips_dir, sea64_weights):
    """SEA-64 + a head trained on its embeddings of cow/dog/owl (board_tests/head_project.py, cached)."""
    return build_head_project(clips_dir, sea64_weights)


def test_project_with_head_generates_and_selftests(head_project):
    from edgel3_mote.board_tests.harness.qemu import QemuBoard

    info, head_h5, _ = head_project
    pdir = Path(info.project_dir)
    doc = json.loads((pdir / "project.json").read_text())
    head = doc["head"]
    assert head["classes"] == list(CLASSES) and head["num_classes"] == 3
    assert head["classes_sha256"] == hashlib.sha256("\n".join(CLASSES).encode()).hexdigest()
    assert head["sha256"] == hashlib.sha256((pdir / head["tflite"]).read_bytes()).hexdigest()
    assert info.head == head
    assert doc["inputs"]["classifier"]["h5"] == hashlib.sha256(head_h5.read_bytes()).hexdigest()
    assert "-DEM_HAS_HEAD=1" in (pdir / "Makefile").read_text()
    assert "src/em_head_engine.c" in (pdir / "Makefile").read_text()
    classes_h = (pdir / "src" / "em_head_classes.h").read_text()
    assert "#define EM_HEAD_NUM_CLASSES 3" in classes_h and '"owl"' in classes_h
    assert {"selftest", "firmware"} <= set(info.elfs)
    assert (pdir / head["h5"]).is_file() and (pdir / "head" / "classifier.classes.json").is_file()

    with QemuBoard(info.board, info.selftest_elf, serial=False, timeout=300) as qemu:
        code = qemu.wait()
        out = qemu.output
    assert "selftest: PASS" in out and code == 0, out
    # the three recordings' windows, then the 4 signal windows (export.project.SIGNAL_WINDOWS)
    assert re.search(r"^selftest: \(d\) head exact 7/7$", out, re.M), out
    heads = re.findall(r"^vector (\d): \(d\) head exact, class (\w+), (\d+) instructions$", out, re.M)
    assert len(heads) == 7, out
    # the first vectors are the loudest window of each training recording: the head knows them
    assert sum(cls == CLASSES[int(i)] for i, cls, _ in heads[:3]) >= 2, heads
    print("\n" + "\n".join(line for line in out.splitlines() if "(d)" in line))


def test_project_head_errors(tmp_path, head_project):
    from edgel3_mote.export.project import build_firmware_project

    with pytest.raises(InvalidInputError, match="does not exist"):
        build_firmware_project(
            "qemu-mps2-an386", classifier=tmp_path / "nope.h5", out_dir=tmp_path / "p", build=False, log=lambda m: None
        )
    lone = tmp_path / "lone.h5"
    lone.write_bytes(head_project[1].read_bytes())
    with pytest.raises(InvalidInputError, match="no class list"):
        build_firmware_project(
            "qemu-mps2-an386", classifier=lone, out_dir=tmp_path / "p", build=False, log=lambda m: None
        )
