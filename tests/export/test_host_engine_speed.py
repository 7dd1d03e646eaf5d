"""Host speed (issue 12): the generated engine compiled for the host (export.host_engine, -O3
-march=native, the conv kernel's EM_HOST_SIMD path) against the tflite-micro interpreter on the real
SEA-64, in one run. Bytes identical on one window of each of the ten clips, and at least 5x faster
per inference. The speed-up is a README figure held to 50 % of its value (wall-clock time on a shared,
loaded CI machine moves that much; the 5x bound is asserted on its own)."""

from __future__ import annotations

import time

import numpy as np

from edgel3_mote.export.host_engine import HostEngine, int8_runner
from edgel3_mote.export.reference import TflmRunner

MIN_SPEEDUP = 5.0
ROUNDS = 3


def _spectrograms(clip_paths, manifest) -> list[np.ndarray]:
    from edgel3_mote.compress.models.registry import get_spec
    from edgel3_mote.export.frontend_tables import reference_logmel_s8
    from edgel3_mote.export.tflite import clip_windows

    spec = get_spec("sea-64")
    affine, quant = manifest.input_affine, manifest.input_quant
    xs = []
    for path in clip_paths:
        frames = clip_windows(path, spec)
        pcm = np.clip(np.round(frames[len(frames) // 2] * 32768.0), -32768, 32767).astype(np.int16)
        xs.append(
            reference_logmel_s8(pcm, spec.frontend, affine, quant, manifest.window_samples).reshape(
                manifest.input.shape
            )
        )
    return xs


def test_host_engine_is_identical_and_5x_faster_than_tflite_micro(sea64_int8_export, clip_paths, tmp_path, figure):
    tflite, manifest = sea64_int8_export
    engine = HostEngine(tflite, tmp_path, "sea-64")
    tflm = TflmRunner(tflite)
    xs = _spectrograms(clip_paths, manifest)
    for x in xs:
        assert np.array_equal(engine.invoke(x).reshape(-1), tflm.invoke(x).reshape(-1))

    # best of ROUNDS passes over the ten windows, the two interleaved so both see the same load
    best = {"tflm": float("inf"), "engine": float("inf")}
    for _ in range(ROUNDS):
        for name, run in (("tflm", tflm.invoke), ("engine", engine.invoke)):
            t0 = time.perf_counter()
            for x in xs:
                run(x)
            best[name] = min(best[name], (time.perf_counter() - t0) / len(xs))
    speedup = best["tflm"] / best["engine"]
    print(
        f"\nper inference: tflite-micro {1e3 * best['tflm']:.1f} ms, host engine {1e3 * best['engine']:.1f} ms, "
        f"{speedup:.1f}x"
    )
    assert speedup >= MIN_SPEEDUP, best
    figure("host.sea64.engine_speedup_vs_tflm", speedup)


def test_int8_runner_prefers_the_host_engine_and_falls_back_to_the_interpreter(
    sea64_int8_export, tmp_path, monkeypatch
):
    import edgel3_mote.export.hostbuild as hostbuild

    tflite, _ = sea64_int8_export
    assert int8_runner(tflite, tmp_path, "sea-64").runner == "host-engine"
    monkeypatch.setenv("CC", "no-such-cc")  # no C compiler: the interpreter, not an error
    monkeypatch.setattr(hostbuild, "CACHE_DIR", tmp_path / "empty-cache")
    assert int8_runner(tflite, tmp_path, "sea-64").runner == "tflite-micro"
