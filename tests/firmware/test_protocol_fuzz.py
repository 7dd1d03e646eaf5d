"""The protocol parser under libFuzzer + ASan/UBSan (``make fuzz``), at a small size.

- every kept input (the corpus of the long runs, and any input that ever crashed) replays clean;
- the kept corpus reaches the coverage of em_protocol.c stated in ROBUSTNESS.md, exactly (llvm-cov);
- a short fuzzing run finds nothing;
- the harness can fail: a sender with its length guard broken crashes on the kept corpus.
"""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

import pytest

RUN = Path(__file__).resolve().parents[2] / "firmware" / "protocol" / "fuzz" / "run.py"


@pytest.fixture(scope="module")
def fuzz():
    spec = importlib.util.spec_from_file_location("fuzz_run", RUN)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def binary(fuzz, tmp_path_factory):
    return fuzz.build(tmp_path_factory.mktemp("fuzz") / "bin")


def test_every_kept_input_replays_clean(fuzz, binary):
    kept = fuzz._inputs(fuzz.CORPUS, fuzz.CRASHES)
    assert len(kept) >= 50
    fuzz.replay(binary, kept)  # exits on a failure


def test_the_kept_corpus_covers_the_parser(fuzz, tmp_path):
    cov = fuzz.coverage(tmp_path, fuzz._inputs(fuzz.CORPUS))
    # ROBUSTNESS.md: lines 125/128, branches 55/56, all functions (the rest: the unreachable default state)
    assert (cov["lines"]["covered"], cov["lines"]["count"]) == (125, 128)
    assert (cov["branches"]["covered"], cov["branches"]["count"]) == (55, 56)
    assert cov["functions"]["percent"] == 100.0


def test_a_short_run_finds_nothing(fuzz, binary, tmp_path):
    result = fuzz.fuzz(binary, 8, tmp_path)
    assert result["exit_code"] == 0 and result["crashes"] == [], (tmp_path / "fuzz.log").read_text()[-2000:]
    assert result["executions"] > 5_000 and result["edges_covered"] > 40


def test_the_harness_catches_a_broken_length_check(fuzz, tmp_path):
    """em_proto_send without its guard against a handler's oversized answer: an overrun ASan reports."""
    source = (fuzz.PROTOCOL_DIR / "em_protocol.c").read_text()
    broken = source.replace(
        "if (len > EM_PROTO_MAX_PAYLOAD) { /* a handler bug", "if (len > 0xFFFFu) { /* a handler bug"
    )
    assert broken != source
    (tmp_path / "em_protocol.c").write_text(broken)
    exe = tmp_path / "broken"
    subprocess.run(
        [
            "clang",
            "-g",
            "-O1",
            *fuzz.SANITIZE,
            f"-I{fuzz.PROTOCOL_DIR}",
            str(tmp_path / "em_protocol.c"),
            str(fuzz.HERE / "fuzz_em_protocol.c"),
            "-o",
            str(exe),
        ],
        check=True,
    )
    done = subprocess.run([str(exe), *map(str, fuzz._inputs(fuzz.CORPUS))], capture_output=True, text=True)
    assert done.returncode != 0 and "AddressSanitizer" in done.stderr
