"""generate_engine's options: DSP scratch, RAM budgets, front-end scratch, bad inputs, reports."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
from codegen_models import KERNEL_SOURCES, REPO, build_engine_lib, engine_invoke, sea64_tflite, small_tflite

from edgel3_mote.errors import ExportError, ToolchainError
from edgel3_mote.export.codegen import ENGINE_FILES, generate_engine
from edgel3_mote.export.ir import read_tflite
from edgel3_mote.export.reference import TflmRunner


def test_engine_without_dsp_scratch_refuses_dsp_build(tmp_path):
    tflite = small_tflite("chain_odd")
    dsp = generate_engine(tflite, tmp_path / "dsp", model_name="odd", streaming="off")
    plain = generate_engine(tflite, tmp_path / "plain", model_name="odd", streaming="off", use_dsp=False)
    assert plain.arena_bytes < dsp.arena_bytes  # no im2col scratch reserved
    lib = build_engine_lib(tmp_path / "plain", tmp_path, dsp=False, name="odd_plain")
    x = np.arange(23 * 13 * 3, dtype=np.int64).astype(np.int8).reshape(23, 13, 3)
    rc, out, _ = engine_invoke(lib, x, 10, len(plain.layers))
    assert rc == 0 and np.array_equal(out, TflmRunner(tflite).invoke(x).reshape(-1))
    # building it with the DSP kernels would overrun the arena: a compile error, not a crash
    with pytest.raises(ToolchainError, match="em_check"):
        build_engine_lib(tmp_path / "plain", tmp_path, dsp=True, name="odd_plain_dsp")


def test_engine_ram_budget_and_frontend_scratch(tmp_path):
    tflite = small_tflite("chain_odd")
    full = generate_engine(tflite, tmp_path / "a", model_name="odd", streaming="off")
    fitted = generate_engine(tflite, tmp_path / "b", model_name="odd", ram_budget=full.arena_bytes - 1)
    assert fitted.streaming_groups and fitted.arena_bytes <= full.arena_bytes - 1
    assert fitted.unstreamed_arena_bytes == full.arena_bytes
    with pytest.raises(ExportError, match="RAM budget"):
        generate_engine(tflite, tmp_path / "c", model_name="odd", ram_budget=256)
    assert not (tmp_path / "c").exists()  # nothing written on failure
    big = generate_engine(tflite, tmp_path / "d", model_name="odd", streaming="on", frontend_scratch_bytes=20000)
    assert big.scratch_bytes >= 20000 and big.arena_bytes >= 20000 + 23 * 13 * 3
    assert (
        big.scratch_offset + big.scratch_bytes <= big.input_offset
        or big.input_offset + 23 * 13 * 3 <= big.scratch_offset
    )
    header = (tmp_path / "d" / "model_engine.h").read_text()
    for macro in (
        'EM_MODEL_NAME "odd"',
        "EM_INPUT_H 23",
        "EM_INPUT_W 13",
        "EM_INPUT_C 3",
        "EM_INPUT_BYTES 897",
        "EM_OUTPUT_BYTES 10",
        "EM_NUM_LAYERS 6",
        f"EM_ARENA_BYTES {big.arena_bytes}",
        f"EM_WEIGHT_BYTES {big.weight_bytes}",
        "EM_INPUT_SCALE",
        "EM_OUTPUT_ZERO_POINT",
        "EM_MODEL_SHA256",
    ):
        assert f"#define {macro}" in header


def test_engine_rejects_bad_requests(tmp_path):
    tflite = small_tflite("chain_odd")
    with pytest.raises(ExportError, match="streaming"):
        generate_engine(tflite, tmp_path, model_name="odd", streaming="maybe")
    with pytest.raises(ExportError, match="model name"):
        generate_engine(tflite, tmp_path, model_name='bad"name')
    with pytest.raises(ExportError, match="AVERAGE_POOL_2D"):
        generate_engine(small_tflite("unsupported"), tmp_path, model_name="x")
    assert not any((tmp_path / f).exists() for f in ENGINE_FILES)


def test_engine_info_reports_layers_macs_and_weights(tmp_path):
    tflite = sea64_tflite()
    info = generate_engine(tflite, tmp_path, model_name="sea-64", streaming="off")
    graph = read_tflite(tflite)
    assert [layer.op for layer in info.layers] == [op.kind for op in graph.ops]
    # 3x3 convs: H*W*Cout*9*Cin each
    convs = [
        (64, 50, 1, 32),
        (64, 50, 32, 32),
        (32, 25, 32, 64),
        (32, 25, 64, 64),
        (16, 12, 64, 128),
        (16, 12, 128, 128),
        (8, 6, 128, 64),
        (8, 6, 64, 64),
    ]
    assert info.macs == sum(h * w * ci * co * 9 for h, w, ci, co in convs)
    params = sum(ci * co * 9 for *_, ci, co in convs)
    channels = sum(co for *_, co in convs)
    assert info.weight_bytes == params + 3 * 4 * channels  # filters + bias/multiplier/shift int32
    assert info.to_dict()["arena_bytes"] == info.arena_bytes == info.unstreamed_arena_bytes


def test_engine_cross_compiles_for_cortex_m4_dsp(tmp_path):
    """The generated C (and the kernels) build warning-free for the QEMU M4 board with DSP."""
    generate_engine(sea64_tflite(), tmp_path, model_name="sea-64", streaming="on")
    cmd = [
        "arm-none-eabi-gcc",
        "-std=c99",
        "-O2",
        "-mcpu=cortex-m4",
        "-mthumb",
        "-mfloat-abi=hard",
        "-mfpu=fpv4-sp-d16",
        "-DEM_USE_DSP",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-Wno-unused-parameter",
        f"-I{REPO / 'firmware' / 'include'}",
        f"-I{tmp_path}",
        "-c",
    ]
    for src in [tmp_path / "model_engine.c", *KERNEL_SOURCES]:
        proc = subprocess.run([*cmd, str(src), "-o", str(tmp_path / "out.o")], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("model, weight_format", [("pruned", "auto"), ("chain_odd", "sparse")])
def test_engine_sparse_weights_bit_exact(tmp_path, model, weight_format):
    """Pruned convs stored as nonzero lists (em_conv2d_sparse_s8) give TFLM's bytes, streamed too."""
    tflite = small_tflite(model)
    runner = TflmRunner(tflite)
    rng = np.random.default_rng(4)
    xs = [rng.integers(-128, 128, size=runner.input_shape[1:], dtype=np.int8) for _ in range(3)]
    refs = [runner.invoke(x).reshape(-1) for x in xs]
    dense = generate_engine(tflite, tmp_path / "dense", model_name=model, weight_format="dense")
    for streaming in ("off", "on"):
        info = generate_engine(
            tflite, tmp_path / streaming, model_name=model, streaming=streaming, weight_format=weight_format
        )
        formats = [layer.weight_format for layer in info.layers if layer.op == "CONV_2D"]
        assert formats == ["sparse"] * len(formats)
        if model == "pruned":  # <= 2 bytes per nonzero beat 1 byte per weight at ~85 % zeros
            assert info.weight_bytes < dense.weight_bytes
        for dsp in (False, True):
            lib = build_engine_lib(
                tmp_path / streaming, tmp_path, dsp=dsp, name=f"{model}_sparse_{streaming}_{int(dsp)}"
            )
            for x, ref in zip(xs, refs):
                rc, out, _ = engine_invoke(lib, x, ref.size, len(info.layers))
                assert rc == 0 and np.array_equal(out, ref), (streaming, dsp)
    assert "em_conv2d_sparse_s8" in (tmp_path / "on" / "model_engine.c").read_text()
    with pytest.raises(ExportError, match="weight_format"):
        generate_engine(tflite, tmp_path / "bad", model_name=model, weight_format="csr")
