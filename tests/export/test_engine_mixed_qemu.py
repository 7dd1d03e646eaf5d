"""Issue 18's mixed engine on target: a small pruned model whose convs the memory-aware cost model makes
tiled (em_conv2d_s8_tiled: int8 weights in flash, a RAM tile), Winograd (em_conv2d_s8_wino, two output rows
per streamed call), sparse and dense int8, streamed, generated
for the F405's flash (5 wait states) and run by the Cortex-M4 build in QEMU (qemu-mps2-an386, the real
SMLAD path): every output byte equals tflite-micro's. The same engine on the host (portable and DSP
builds) gives the same bytes, and the engine report says why each layer took its format."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from codegen_models import build_engine_lib, engine_invoke, small_tflite

from edgel3_mote.export.codegen import generate_engine
from edgel3_mote.export.reference import TflmRunner

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

MAIN = Path(__file__).with_name("engine_qemu_main.c")
KERNELS = sorted((Path(__file__).resolve().parents[2] / "firmware" / "kernels").glob("*.c"))
N_INPUTS = 4
F405_FLASH_WAIT_STATES = 5  # BoardSpec.memory of qemu-netduinoplus2 (RM0090 Table 10 at 168 MHz)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    tflite = small_tflite("mixed")
    out = tmp_path_factory.mktemp("mixed")
    info = generate_engine(
        tflite,
        out / "engine",
        model_name="mixed",
        weight_format="auto",
        streaming="on",
        use_dsp=True,
        flash_wait_states=F405_FLASH_WAIT_STATES,
    )
    rng = np.random.default_rng(18)
    xs = [rng.integers(-128, 128, (16, 12, 4), dtype=np.int8) for _ in range(N_INPUTS)]
    runner = TflmRunner(tflite)
    want = [runner.invoke(x).reshape(-1) for x in xs]
    return tflite, info, out, xs, want


def test_mixed_engine_formats_and_reasons(mixed):
    _, info, out, *_ = mixed
    convs = [layer for layer in info.layers if layer.op == "CONV_2D"]
    assert [layer.weight_format for layer in convs] == ["tiled", "wino", "sparse", "dense"], convs
    assert convs[0].format_reason.startswith("tiled: int8 weights in flash")
    assert convs[1].format_reason.startswith("wino: Winograd F(2x2, 3x3)")
    assert "; kept: est. upper bound" in convs[2].format_reason and "; kept: est. upper bound" in convs[3].format_reason
    assert info.streaming_groups  # the tiled layer runs inside a streamed chain (one row per call)
    # without a RAM budget the streamed Winograd conv computes one row pair a call (a pass of one)
    assert re.findall(
        r"em_conv2d_s8_wino\(.*&rows, (\d+), \(em_arena", (out / "engine" / "model_engine.c").read_text()
    ) == ["1"]


def test_mixed_engine_on_the_host_matches_tflm(mixed, tmp_path):
    _, info, out, xs, want = mixed
    for dsp in (False, True):
        lib = build_engine_lib(out / "engine", tmp_path, dsp=dsp, name=f"mixed_{int(dsp)}")
        for x, y in zip(xs, want):
            rc, got, _ = engine_invoke(lib, x, y.size, len(info.layers))
            assert rc == 0 and np.array_equal(got, y), dsp


def test_mixed_engine_on_qemu_m4_matches_tflm(mixed, tmp_path):
    from edgel3_mote.atomic import atomic_write_text
    from edgel3_mote.board_tests.harness.qemu import run_elf
    from edgel3_mote.export.boards import build_elf

    _, info, out, xs, want = mixed
    rows = ",\n".join("  {" + ", ".join(str(int(v)) for v in x.reshape(-1)) + "}" for x in xs)
    atomic_write_text(
        tmp_path / "engine_inputs.h",
        f"#define ENGINE_N_INPUTS {len(xs)}\nstatic const int8_t engine_inputs[][{xs[0].size}] = {{\n{rows}\n}};\n",
    )
    engine = out / "engine"
    elf = build_elf(
        "qemu-mps2-an386",
        [MAIN, engine / "model_engine.c", engine / "model_weights.c", *KERNELS],
        tmp_path / "mixed.elf",
        include_dirs=[tmp_path, engine],
        extra_flags=["-Werror"],
    )
    code, output = run_elf("qemu-mps2-an386", elf, timeout=120)
    got = re.findall(r"^out (\d+) (-?\d+) ([0-9a-f]+)$", output, re.M)
    assert code == 0 and len(got) == len(xs), output
    for (i, status, hexbytes), y in zip(got, want):
        assert int(status) == 0
        assert np.array_equal(np.frombuffer(bytes.fromhex(hexbytes), np.int8), y), f"input {i}"
    assert len({g[2] for g in got}) == len(xs)  # distinct inputs, distinct outputs: no constant answer


def test_winograd_passes_grow_while_the_arena_fits(mixed, tmp_path):
    """A Winograd call transforms its weights once per pass of row pairs: without a RAM budget a whole-tensor
    call's pass is every row pair of the tensor; with a budget one byte under that arena the planner gives it
    shorter passes (the arena then fits). Inside a streamed chain the call stays one row pair without a budget
    (streaming='on': the smallest arena) and takes more rows under a roomy one. Every engine gives
    tflite-micro's bytes on the host's DSP build."""
    tflite, on, _, xs, want = mixed

    def wino_passes(name: str, budget: int | None, streaming: str = "off"):
        info = generate_engine(
            tflite,
            tmp_path / name,
            model_name="mixed",
            weight_format="auto",
            streaming=streaming,
            ram_budget=budget,
            use_dsp=True,
            flash_wait_states=F405_FLASH_WAIT_STATES,
        )
        calls = re.findall(
            r"em_conv2d_s8_wino\(.*, (\d+), \(em_arena", (tmp_path / name / "model_engine.c").read_text()
        )
        return info, [int(c) for c in calls]

    free, free_passes = wino_passes("free", None)
    wino = next(layer for layer in free.layers if layer.weight_format == "wino")
    tile_rows = (wino.output_shape[1] + 1) // 2
    assert free_passes == [tile_rows] and tile_rows > 1
    tight, tight_passes = wino_passes("tight", free.arena_bytes - 1)
    assert tight.arena_bytes < free.arena_bytes and len(tight_passes) == 1 and 1 <= tight_passes[0] < tile_rows
    roomy, roomy_passes = wino_passes("roomy", 1_000_000, streaming="on")
    assert on.streaming_groups and [g["layers"] for g in roomy.streaming_groups] == [
        g["layers"] for g in on.streaming_groups
    ]
    assert roomy_passes[0] > 1 and roomy.arena_bytes > on.arena_bytes  # the fixture's engine: one row pair a call
    for name, info in (("free", free), ("tight", tight), ("roomy", roomy)):
        lib = build_engine_lib(tmp_path / name, tmp_path, dsp=True, name=f"wino_pass_{name}")
        for x, y in zip(xs, want):
            rc, got, _ = engine_invoke(lib, x, y.size, len(info.layers))
            assert rc == 0 and np.array_equal(got, y), name
