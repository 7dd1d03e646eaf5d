"""The full L3 engine (edgel3-95.45, streamed exactly as the mote board builds it) on the host
against tflite-micro, on a real clip's spectrogram.

The slow part is the int8 conversion of the 4.7 M-parameter model (minutes on two shared cores):
the .tflite is cached under build/.cache/tests/, keyed by the model's architecture and weights
(seeded, so the key is stable) and the TensorFlow version; one model build per cache.
"""

from __future__ import annotations

import hashlib
import time

import numpy as np
import pytest
from codegen_models import REPO, build_engine_lib, convert_int8, engine_invoke

from edgel3_mote.atomic import atomic_write_bytes
from edgel3_mote.compress.frontend import L3_FRONTEND
from edgel3_mote.export.boards import get_board
from edgel3_mote.export.frontend_tables import scratch_bytes
from edgel3_mote.export.ir import read_tflite
from edgel3_mote.export.project import generate_board_engine
from edgel3_mote.export.reference import TflmRunner

MODEL = "edgel3-95.45"
BOARD = "qemu-mps2-an500-h743"
CACHE = REPO / "build" / ".cache" / "tests"
N_CALIBRATION = 4


def _l3_tflite() -> tuple[bytes, float]:
    """(int8 tflite of the seeded edgel3-95.45 backbone, seconds spent converting; 0 when cached)."""
    import tensorflow as tf

    from edgel3_mote.compress.models.registry import build_model

    model = build_model(MODEL, include_frontend=False, seed=0)
    h = hashlib.sha256(model.to_json().encode() + tf.__version__.encode() + bytes([N_CALIBRATION]))
    for w in model.get_weights():
        h.update(np.ascontiguousarray(w).tobytes())
    path = CACHE / f"{MODEL}-int8-{h.hexdigest()[:16]}.tflite"
    if path.is_file():
        return path.read_bytes(), 0.0
    t0 = time.perf_counter()
    data = convert_int8(model, n_calibration=N_CALIBRATION)
    seconds = time.perf_counter() - t0
    atomic_write_bytes(path, data)
    return data, seconds


@pytest.fixture(scope="module")
def l3(clip_paths):
    from edgel3_mote.compress.models.registry import get_spec
    from edgel3_mote.export.frontend_tables import reference_logmel_s8
    from edgel3_mote.export.tflite import clip_windows

    tflite, convert_s = _l3_tflite()
    print(f"\nL3 int8 conversion: {convert_s:.0f} s ({'converted' if convert_s else 'cached'})")
    runner = TflmRunner(tflite)
    graph = read_tflite(tflite)
    x_in = graph.tensor(graph.inputs[0])
    frames = clip_windows(clip_paths[0], get_spec(MODEL))
    pcm = np.clip(np.round(frames[len(frames) // 2] * 32768.0), -32768, 32767).astype(np.int16)
    # a real clip's log-mel in dB quantised to the int8 input (the backbone's input affine left out:
    # the engine sees int8 either way, and real spectrogram structure exercises it better than noise)
    x = reference_logmel_s8(pcm, L3_FRONTEND, (1.0, 0.0), (float(x_in.scale[0]), int(x_in.zero_point[0])), 48000)
    t0 = time.perf_counter()
    ref = runner.invoke(x.reshape(runner.input_shape)).reshape(-1)
    print(f"tflite-micro L3 invoke: {time.perf_counter() - t0:.1f} s")
    return tflite, x, ref


@pytest.mark.slow
def test_l3_engine_streamed_as_the_mote_builds_it_is_bit_exact(l3, tmp_path):
    tflite, x, ref = l3
    board = get_board(BOARD)
    (tmp_path / "engine").mkdir()
    info, budget, _ = generate_board_engine(
        tflite, tmp_path / "engine", board, 48000, model_name=MODEL, frontend_scratch_bytes=scratch_bytes(L3_FRONTEND)
    )
    # one streamed pipeline from the input to the folded global max, inside the mote's budget
    assert len(info.streaming_groups) == 1 and info.streaming_groups[0]["folds"]
    assert len(info.streaming_groups[0]["layers"]) == 12
    assert info.arena_bytes <= budget <= board.ram_size - board.stack_size
    # the figure the README states: 295,168 B of line buffers + the 50,944-byte input + the sparse kernel's
    # one-row int8 relayout (40,436 B, conv 10) + the 512-byte output, placed at the peak's lower bound;
    # with the serial app's 96,000-byte PCM window, the 8 KiB stack and its statics it fits 500,000 B
    assert info.arena_bytes == 387_072
    lines = sum(b["bytes"] for b in info.buffers if b["kind"] == "line")
    assert lines == 295_168 and max(b["bytes"] for b in info.buffers if b["kind"] == "scratch") == 40_436
    assert budget == 500_000 - board.stack_size - 6 * 1024 - 2 * 48000  # planned for the serial app
    # the H743's flash wait states: the memory-aware cost model runs the first conv and conv 6 (75 % zeros) tiled
    # (dense int8 weights read once per pass into RAM), the sparser convs sparse
    formats = {layer.name: layer.weight_format for layer in info.layers if layer.op == "CONV_2D"}
    assert set(formats.values()) == {"tiled", "sparse"}, formats
    t0 = time.perf_counter()
    lib = build_engine_lib(tmp_path / "engine", tmp_path, dsp=True, name="l3_mote")
    print(f"host build of the L3 engine: {time.perf_counter() - t0:.1f} s")
    t0 = time.perf_counter()
    rc, out, ticks = engine_invoke(lib, x, ref.size, len(info.layers))
    print(f"host L3 engine invoke: {time.perf_counter() - t0:.1f} s, arena {info.arena_bytes:,} B")
    assert rc == 0
    assert np.array_equal(out, ref), f"{np.count_nonzero(out != ref)} of {ref.size} bytes differ"
    assert len(np.unique(out)) > 16  # a real embedding, not a saturated constant
