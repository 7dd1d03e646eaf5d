"""The serial bench: stream clips window by window to a board (or QEMU) and measure it.

For every window (framed exactly as ``get_embedding`` frames it, at the chosen hop) the host
sends int16 PCM, asks for INFER (+ per-layer ticks) and reads back the device's int8 spectrogram,
then checks:

1. int8 exactness: the device embedding vs the ``tflite-micro`` interpreter (``TflmRunner``) run
   on the device's own spectrogram -- must be identical, byte for byte;
2. front-end agreement: the device spectrogram vs the numpy reference
   (``log_mel_spectrogram`` + ``quantize_input``) of the same int16 audio;
3. end-to-end parity: the dequantised device embedding vs the float Keras model (front-end
   included) on the same audio: cosine, L2-relative error, MAE;
4. latency: device ticks (instructions under QEMU's ``-icount shift=0``, core cycles on real
   boards), split front-end / engine / per layer; the first window of every clip is inferred a
   second time to check that the counts repeat exactly;
5. memory: flash and RAM from the ELF (project.json), stack high-water, arena (MEM);
6. with a classifier head in the firmware (``BenchSetup.head``): INFER also classifies; the
   device's int8 logits must equal TFLite Micro's run of the int8 head on the device's own
   embedding (``export.classifier.int8_head_logits``), and the device class (argmax) is compared
   with the float classifier on the dequantised device embedding (``float_head_classes``): the
   per-window ``class_agreement_pct`` and the per-clip majority-vote agreement; head ticks apart.

``run_bench`` returns the raw evidence (a JSON-able dict); ``bench_report.write_reports`` turns
it into JSON + Markdown + PNG.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from edgel3_mote.errors import DeviceError, InvalidInputError
from edgel3_mote.metrics import cosine_similarity

if TYPE_CHECKING:
    from edgel3_mote.export.manifest import Manifest


@dataclass
class BenchSetup:
    """What the host knows about the deployment under test."""

    model: str  # registry name (the float reference is built from it)
    weights: str | None  # None = seeded random weights (said in every report)
    tflite: bytes  # the int8 model the firmware was generated from
    manifest: Manifest  # export manifest (front-end, input affine, quantisation)
    board: str
    clock_hz: int
    emulated: bool  # QEMU: ticks are instructions
    memory: dict = field(default_factory=dict)  # flash/RAM from the ELF (project.json)
    project_dir: str | None = None
    seed: int = 0
    head: "HeadSetup | None" = None  # the classifier head compiled into the firmware, if any


@dataclass
class HeadSetup:
    """The classifier head of a project (project.json "head"), for the host references."""

    tflite: bytes  # head_int8.tflite the head engine was generated from
    h5: str  # the float classifier (its .classes.json beside it)
    classes: list[str]
    sha256: str
    classes_sha256: str


def find_clips(clips) -> list[Path]:
    """A directory (its audio files, recursively, sorted) or a list of files: the project's one walk."""
    from edgel3_mote.compress.audio import find_audio_files

    return find_audio_files(clips, what="clip")


def to_pcm16(frame: np.ndarray) -> np.ndarray:
    """Float audio in [-1, 1] -> int16 PCM (x * 32768, rounded, saturated): what a mic ADC gives."""
    return np.clip(np.round(np.asarray(frame, np.float64) * 32768.0), -32768, 32767).astype(np.int16)


def reference_spectrogram_int8(pcm: np.ndarray, manifest) -> np.ndarray:
    """The numpy reference of the device front-end on int16 PCM: the model's int8 input, flat."""
    return manifest.model_input_int8(np.asarray(pcm).astype(np.float32) / np.float32(32768.0)).reshape(-1)


class _References:
    """The three host references, built once per bench."""

    def __init__(self, setup: BenchSetup) -> None:
        import edgel3_mote  # noqa: F401  (legacy Keras before TensorFlow)
        from edgel3_mote.compress.models.registry import build_model
        from edgel3_mote.export.reference import TflmRunner

        m = self.manifest = setup.manifest
        self.frontend = m.frontend
        self.affine = m.input_affine
        self.in_scale, self.in_zp = m.input.quant
        self.out_scale, self.out_zp = m.output.quant
        self.tflm = TflmRunner(setup.tflite)
        self.keras = build_model(setup.model, weights=setup.weights, seed=setup.seed)

    def spectrogram_int8(self, pcm: np.ndarray) -> np.ndarray:
        return reference_spectrogram_int8(pcm, self.manifest)

    def embedding_int8(self, spectrogram: np.ndarray) -> np.ndarray:
        return np.asarray(self.tflm.invoke(spectrogram.reshape(self.tflm.input_shape))).reshape(-1)

    def float_embeddings(self, pcm_frames: np.ndarray) -> np.ndarray:
        x = pcm_frames.astype(np.float32) / np.float32(32768.0)
        out = [np.asarray(self.keras(x[i : i + 32, None, :], training=False)) for i in range(0, len(x), 32)]
        return np.concatenate(out).reshape(len(x), -1)  # audio input (batch, 1, n) as get_embedding feeds it

    def dequantise(self, q: np.ndarray) -> np.ndarray:
        return (q.astype(np.float32) - self.out_zp) * np.float32(self.out_scale)


def _check_device_matches(info: dict, setup: BenchSetup, refs: _References) -> list[str]:
    """The firmware must be the model under test; returns warnings for softer mismatches."""
    want_sha = setup.manifest.sha256
    if want_sha and info.get("model_sha256") and info["model_sha256"] != want_sha:
        raise DeviceError(
            f"the board runs model sha256 {info['model_sha256'][:12]}... but the bench was given "
            f"{want_sha[:12]}...: flash the firmware built from this model (or pass its --project)"
        )
    warnings = []
    if list(info.get("input_shape", [])) and int(np.prod(info["input_shape"])) != int(np.prod(refs.tflm.input_shape)):
        raise DeviceError(f"device input shape {info['input_shape']} != model input {list(refs.tflm.input_shape)}")
    if info.get("window_samples") and info["window_samples"] != setup.manifest.window_samples:
        raise DeviceError(
            f"device window {info['window_samples']} samples != model window "
            f"{setup.manifest.window_samples}: rebuild the firmware for this model"
        )
    if setup.head is not None:
        if not info.get("num_classes"):
            raise DeviceError(
                "the firmware has no classifier head (INFO num_classes 0) but the project has one: "
                "flash the firmware.elf of this project"
            )
        if info.get("head_sha256") and info["head_sha256"] != setup.head.sha256:
            raise DeviceError(
                f"the board runs head sha256 {info['head_sha256'][:12]}... but the project's is "
                f"{setup.head.sha256[:12]}...: flash the firmware built with this classifier"
            )
        if info.get("classes_sha256") and info["classes_sha256"] != setup.head.classes_sha256:
            raise DeviceError("the board's class list differs from the project's: flash this project's firmware")
    if info.get("board") and info["board"] != setup.board:
        warnings.append(f"the device says it is '{info['board']}', the bench was told '{setup.board}'")
    return warnings


def run_bench(
    client,
    setup: BenchSetup,
    clips,
    hop: float = 0.1,
    layer_ticks: bool = True,
    repeat_check: bool = True,
    max_windows: int | None = None,
    progress: bool = True,
    log=print,
) -> dict:
    """Run every clip through the device; returns the raw evidence (see module docstring)."""
    from tqdm import tqdm

    from edgel3_mote.compress.audio import read_audio
    from edgel3_mote.compress.embedding import frame_audio

    paths = find_clips(clips)
    if not (isinstance(hop, (int, float)) and hop > 0 and math.isfinite(hop)):
        raise InvalidInputError(f"hop {hop!r} must be a positive number of seconds (0.1 like get_embedding)")
    started = time.time()
    info = client.info()
    refs = _References(setup)
    warnings = _check_device_matches(info, setup, refs)
    names = client.layers() if layer_ticks else []
    window = int(setup.manifest.window_samples or info["window_samples"])
    sr = int(refs.frontend.sr)

    framed = []
    for path in paths:
        audio, clip_sr = read_audio(path)
        frames, stamps = frame_audio(audio, clip_sr, setup.model, center=True, hop_size=hop, source=str(path))
        if max_windows:
            frames, stamps = frames[:max_windows], stamps[:max_windows]
        framed.append((path, clip_sr, len(audio), frames, stamps))
    total = sum(len(f[3]) for f in framed)
    log(
        f"bench: {len(paths)} clip(s), {total} window(s) of {window} samples at hop {hop} s on "
        f"{info.get('board', setup.board)} "
        f"({'QEMU, ticks = instructions' if info.get('ticks_are_instructions') else 'ticks = cycles'})"
    )

    hop_samples = int(round(hop * sr))
    classify = setup.head is not None
    clips_out = []
    bar = tqdm(total=total, unit="win", desc="bench", disable=not progress)
    try:
        for path, clip_sr, n_audio, frames, stamps in framed:
            pcm_frames = np.stack([to_pcm16(f) for f in frames])
            floats = refs.float_embeddings(pcm_frames)
            windows = []
            for i, pcm in enumerate(pcm_frames):
                result, spec = client.run_window(
                    pcm,
                    layer_ticks=layer_ticks,
                    hop=hop_samples,
                    previous=pcm_frames[i - 1] if i else None,
                    classify=classify,
                )
                ref_spec = refs.spectrogram_int8(pcm)
                oracle = refs.embedding_int8(spec)
                deq = refs.dequantise(result.embedding)
                diff = np.abs(spec.astype(np.int16) - ref_spec.astype(np.int16))
                f = floats[i]
                w = {
                    "index": i,
                    # in model-rate samples of the clip; negative = the centring pad before it
                    "start_sample": int(i * hop_samples - (window // 2)),
                    "timestamp_s": float(stamps[i]),
                    "embedding_int8": result.embedding.astype(int).tolist(),
                    "embedding": [float(v) for v in deq],
                    "int8_exact": bool(np.array_equal(result.embedding, oracle)),
                    "int8_mismatched_values": int(np.count_nonzero(result.embedding != oracle)),
                    "frontend_identical_fraction": float(np.mean(diff == 0)),
                    "frontend_max_lsb": int(diff.max()),
                    "cosine": cosine_similarity(deq, f),
                    "l2_relative": float(np.linalg.norm(deq - f) / max(np.linalg.norm(f), 1e-12)),
                    "mae": float(np.mean(np.abs(deq - f))),
                    "frontend_ticks": int(result.frontend_ticks),
                    "engine_ticks": int(result.engine_ticks),
                    "layer_ticks": [int(t) for t in result.layer_ticks],
                }
                if classify:
                    w["head_logits_int8"] = result.logits.astype(int).tolist()
                    w["head_ticks"] = int(result.head_ticks)
                if repeat_check and i == 0:
                    again = client.infer(layer_ticks=layer_ticks)
                    diffs = [
                        abs(a - b)
                        for a, b in zip(
                            [again.frontend_ticks, again.engine_ticks, *again.layer_ticks],
                            [result.frontend_ticks, result.engine_ticks, *result.layer_ticks],
                        )
                    ]
                    w["repeat_ticks"] = [int(again.frontend_ticks), int(again.engine_ticks)]
                    w["repeat_max_tick_diff"] = int(max(diffs))
                    w["repeat_identical"] = bool(max(diffs) == 0 and np.array_equal(again.embedding, result.embedding))
                    w["repeat_embedding_identical"] = bool(np.array_equal(again.embedding, result.embedding))
                windows.append(w)
                bar.update(1)
            clips_out.append({"path": str(path), "sample_rate": clip_sr, "samples": int(n_audio), "windows": windows})
    finally:
        bar.close()
    mem = client.mem()
    head_summary = check_head(setup, clips_out) if classify else None
    return {
        "schema": "edgel3-mote-bench/1",
        "created_unix": started,
        "elapsed_s": time.time() - started,
        "model": setup.model,
        "weights": setup.weights,
        "random_weights": setup.weights is None,
        "board": setup.board,
        "clock_hz": int(info.get("clock_hz") or setup.clock_hz),
        "ticks_unit": "instructions" if info.get("ticks_are_instructions") else "cycles",
        "hop_s": float(hop),
        "window_samples": window,
        "model_sample_rate": sr,
        "project_dir": setup.project_dir,
        "device_info": info,
        "device_mem": mem,
        "memory": setup.memory,
        "layer_names": names,
        "quantisation": {
            "input_scale": refs.in_scale,
            "input_zero_point": refs.in_zp,
            "output_scale": refs.out_scale,
            "output_zero_point": refs.out_zp,
        },
        "warnings": warnings,
        "clips": clips_out,
        "summary": summarize(clips_out, names) | ({"head": head_summary} if head_summary else {}),
    }


def _majority(labels) -> int:
    values, counts = np.unique(np.asarray(labels), return_counts=True)
    return int(values[np.argmax(counts)])  # ties: the lowest class index


def check_head(setup: BenchSetup, clips: list[dict]) -> dict:
    """Per-window head checks (added to the windows) and their summary; see the module docstring."""
    from edgel3_mote.export.classifier import float_head_classes, int8_head_logits

    head = setup.head
    ws = [w for c in clips for w in c["windows"]]
    if not ws:
        return {"windows": 0, "classes": list(head.classes)}
    emb = np.array([w["embedding_int8"] for w in ws], dtype=np.int8)
    device = np.array([w["head_logits_int8"] for w in ws], dtype=np.int8)
    oracle = int8_head_logits(head.tflite, emb)
    host = float_head_classes(head.h5, emb, setup.manifest)
    dev_cls = device.argmax(axis=1)
    for w, d, o, h in zip(ws, device, oracle, host):
        w["head_logits_exact"] = bool(np.array_equal(d, o))
        w["device_class"] = head.classes[int(np.argmax(d))]
        w["float_class"] = head.classes[int(h)]
    votes = []
    k = 0
    for c in clips:
        n = len(c["windows"])
        if n:
            dv, hv = _majority(dev_cls[k : k + n]), _majority(host[k : k + n])
            c["device_vote"], c["float_vote"] = head.classes[dv], head.classes[hv]
            votes.append(dv == hv)
        k += n
    ticks = np.array([w["head_ticks"] for w in ws], dtype=np.float64)
    exact = int(sum(w["head_logits_exact"] for w in ws))
    return {
        "classes": list(head.classes),
        "sha256": head.sha256,
        "windows": len(ws),
        "logits_exact_windows": exact,
        "logits_exact_percent": 100.0 * exact / len(ws),
        "class_agreement_pct": 100.0 * float(np.mean(dev_cls == host)),
        "clip_vote_agreement_pct": 100.0 * float(np.mean(votes)) if votes else 0.0,
        "clips": len(votes),
        "head_ticks_mean": float(ticks.mean()),
        "head_ticks_min": int(ticks.min()),
        "head_ticks_max": int(ticks.max()),
        "device_class_counts": {head.classes[j]: int(np.sum(dev_cls == j)) for j in range(len(head.classes))},
    }


def summarize(clips: list[dict], layer_names: list[str]) -> dict:
    ws = [w for c in clips for w in c["windows"]]
    if not ws:
        return {"windows": 0}
    arr = lambda k: np.array([w[k] for w in ws], dtype=np.float64)  # noqa: E731
    fe, eng = arr("frontend_ticks"), arr("engine_ticks")
    repeats = [w["repeat_identical"] for w in ws if "repeat_identical" in w]
    repeat_diff = max([w.get("repeat_max_tick_diff", 0) for w in ws if "repeat_identical" in w], default=0)
    layer = np.array([w["layer_ticks"] for w in ws if w["layer_ticks"]], dtype=np.float64)
    per_layer = []
    if layer.size:
        for j in range(layer.shape[1]):
            per_layer.append(
                {
                    "name": layer_names[j] if j < len(layer_names) else f"layer_{j}",
                    "mean_ticks": float(layer[:, j].mean()),
                    "min_ticks": int(layer[:, j].min()),
                    "max_ticks": int(layer[:, j].max()),
                }
            )
    cos = arr("cosine")
    return {
        "clips": len(clips),
        "windows": len(ws),
        "int8_exact_windows": int(sum(w["int8_exact"] for w in ws)),
        "int8_exact_percent": 100.0 * float(np.mean([w["int8_exact"] for w in ws])),
        "frontend_identical_percent": 100.0 * float(arr("frontend_identical_fraction").mean()),
        "frontend_max_lsb": int(arr("frontend_max_lsb").max()),
        "cosine_mean": float(cos.mean()),
        "cosine_min": float(cos.min()),
        "cosine_median": float(np.median(cos)),
        "l2_relative_mean": float(arr("l2_relative").mean()),
        "l2_relative_max": float(arr("l2_relative").max()),
        "mae_mean": float(arr("mae").mean()),
        "frontend_ticks_mean": float(fe.mean()),
        "frontend_ticks_min": int(fe.min()),
        "frontend_ticks_max": int(fe.max()),
        "engine_ticks_mean": float(eng.mean()),
        "engine_ticks_min": int(eng.min()),
        "engine_ticks_max": int(eng.max()),
        "total_ticks_mean": float((fe + eng).mean()),
        "repeat_checks": len(repeats),
        "repeat_identical": bool(repeats) and all(repeats),
        "repeat_identical_count": int(sum(repeats)),
        "repeat_max_tick_diff": int(repeat_diff),
        "layers": per_layer,
    }


# Functions of the serial firmware that open and close the traced INFER (see harness/cycles.py).
TRACE_ARM = "em_board_ticks_sync"  # called right before the front-end's first tick reading
TRACE_DISARM = "em_proto_send"  # the INFER's reply


def cycle_trace_plugin(elf: str | Path, trace_path: str | Path, board: str | None = None) -> str:
    """The ``-plugin`` argument that records the first INFER of a bench for ``window_cycles``
    (builds the plugin and imports the decoder now: a missing tool fails before the bench, not after).
    With ``board``, its memory model's flash traffic is counted too (the memory-aware estimate and bound)."""
    import capstone  # noqa: F401

    from edgel3_mote.board_tests.harness.cycles import plugin_arg
    from edgel3_mote.export.boards import get_board

    memory = get_board(board).memory if board else None
    return plugin_arg(elf, trace_path, arm=TRACE_ARM, disarm=TRACE_DISARM, spans=1, memory=memory)


def _layer_macs(project_dir: str | None, n: int) -> list[int]:
    """MACs of each engine layer from the project's project.json (0 where unknown)."""
    import json

    pj = Path(project_dir) / "project.json" if project_dir else None
    layers = json.loads(pj.read_text()).get("engine", {}).get("layers", []) if pj and pj.is_file() else []
    if len(layers) != n:
        return [0] * n
    return [int(layer.get("macs") or 0) for layer in layers]


def window_cycles(results: dict, elf: str | Path, trace_path: str | Path) -> dict:
    """Estimated cycles of the bench's first window (the traced INFER), its real-time factor at the
    board's clock, and the check that the trace's instructions equal the device's ticks."""
    from edgel3_mote.board_tests.harness.cycles import (
        CycleEstimator,
        FunctionMap,
        MemCounts,
        infer_cycles,
        memory_cycles,
        parse_trace,
        tick_resolution,
    )
    from edgel3_mote.board_tests.harness.timing_tables import timing_for_cpu
    from edgel3_mote.export.boards import get_board

    trace = parse_trace(trace_path)
    if not trace.spans or not results["clips"] or not results["clips"][0]["windows"]:
        raise DeviceError(f"no INFER was traced into {trace_path}: the cycle estimate needs the bench's first window")
    board = get_board(results["board"])
    timing = timing_for_cpu(board.cpu)
    res = tick_resolution(board.name)
    w = results["clips"][0]["windows"][0]
    est = CycleEstimator(timing, trace.blocks)
    ic = infer_cycles(trace.spans[0], est, FunctionMap(elf), w["layer_ticks"], res)
    fe, eng = ic["frontend"], ic["engine"]
    fe["ticks"], eng["ticks"] = w["frontend_ticks"], w["engine_ticks"]
    total = {k: fe[k] + eng[k] for k in ("instructions", "cycles", "ticks", "branches_taken")}
    # the TRM's refill P is 1..3 cycles per taken branch: the estimate at both ends of that range
    total["cycles_p_range"] = (
        [total["cycles"] + (q - timing.pipeline_refill) * total["branches_taken"] for q in (1, 3)]
        if not timing.dual_issue
        else [total["cycles"]] * 2
    )
    clock = int(results["clock_hz"])
    window_s = results["window_samples"] / results["model_sample_rate"]
    time_s = total["cycles"] / clock
    names = results.get("layer_names") or []
    macs = _layer_macs(results.get("project_dir"), len(ic["layers"]))
    for j, layer in enumerate(ic["layers"]):
        layer["name"] = names[j] if j < len(names) else f"layer_{j}"
        if macs[j]:
            layer["macs"] = macs[j]
            layer["instructions_per_mac"] = layer["instructions"] / macs[j]
            layer["cycles_per_mac"] = layer["cycles"] / macs[j]
    match = (
        abs(fe["instructions"] - fe["ticks"]) < res
        and abs(eng["instructions"] - eng["ticks"]) < res
        and (ic["layers_mapped"] or not w["layer_ticks"])
    )
    # the memory system (export/memory_model.py): zero-wait / memory-aware estimate / upper bound per part
    model = board.memory
    traced_mem = any(s.mem is not None for s in trace.spans[0])
    memory = None
    if model is not None and (traced_mem or model.zero_wait):
        for part in (fe, eng, *ic["layers"]):
            part["memory_cycles"] = memory_cycles(part["cycles"], MemCounts(**part["flash"]), model)
        figs = {k: fe["memory_cycles"][k] + eng["memory_cycles"][k] for k in ("zero_wait", "estimate", "upper_bound")}
        # at the chip's clock the wait states hold for (a QEMU budget board may state the FPGA's clock)
        mclock = model.clock_hz or clock
        memory = {
            "model": model.to_dict(),
            "traced": traced_mem,
            "clock_hz": mclock,
            "window": figs,
            "flash": {k: fe["flash"][k] + eng["flash"][k] for k in fe["flash"]},
            "estimated_time_s": {k: v / mclock for k, v in figs.items()},
            "real_time_factor": {k: window_s * mclock / v for k, v in figs.items()},
            "assumptions": {
                "zero_wait": "every fetch and load at zero wait states (the core's timing table alone)",
                "estimate": f"{model.flash_wait_states} wait states per flash miss; LRU caches as the manual sizes "
                "them" + ("; sequential instruction-line misses hidden by the prefetcher" if model.prefetch else ""),
                "upper_bound": f"{model.flash_wait_states} wait states on every flash data read (no data-cache hit) "
                "and on every instruction-cache miss (no prefetch)",
            },
        }
    return {
        "core": timing.name,
        "timing_source": timing.source,
        "timing_notes": list(timing.notes),
        "pipeline_refill": timing.pipeline_refill,
        "assumption": "zero-wait-state memory (no flash wait states, caches or bus contention): a lower bound "
        "for a board whose flash needs wait states",
        "traced_window": {"clip": results["clips"][0]["path"], "index": 0},
        "frontend": fe,
        "engine": eng,
        "total": total,
        "cpi": total["cycles"] / total["instructions"],
        "layers": ic["layers"],
        "layers_mapped": ic["layers_mapped"],
        "instructions_match_ticks": bool(match),
        "tick_resolution": res,
        "clock_hz": clock,
        "window_s": window_s,
        "estimated_time_s": time_s,
        # verdicts on the zero-wait-state estimate only (named so: a lower bound, not the hardware's time)
        "real_time_factor_zero_wait": window_s / time_s,
        "real_time_zero_wait": bool(time_s <= window_s),
        "memory": memory,
        # the hardware verdict: on the memory-aware upper bound (None where the trace has no flash traffic)
        "real_time": bool(memory["window"]["upper_bound"] <= window_s * memory["clock_hz"]) if memory else None,
        "energy": _energy(board, memory, window_s) if memory else None,
    }


def _energy(board, memory: dict, window_s: float) -> dict | None:
    """Energy per window and battery life at the board's datasheet currents (export/memory_model.py)."""
    from edgel3_mote.export.memory_model import energy_summary

    if board.power is None:
        return None
    # busy time at the chip's clock (the currents' clock; a QEMU budget board may state another)
    w, hz = memory["window"], board.power.clock_hz
    return energy_summary(board.power, {"estimate": w["estimate"] / hz, "upper_bound": w["upper_bound"] / hz}) | {
        "window_s": window_s
    }
