"""The firmware project generator: model -> ``build/<board>/<model>/``, built and measured.

``build_firmware_project(board, model, weights, clips)`` (the arguments: :class:`ProjectRequest`) is
the composition of these steps, each a public function:

1. ``resolve_inputs``: inputs checked (weights, clips, classifier, output folder) and hashed;
   ``up_to_date_project`` reuses a project built from the same inputs;
2. ``export_int8``: the int8 export (``export.tflite.export_tflite``), cached by a hash of its inputs,
   after ``check_fits_before_conversion``;
3. ``write_engine``: the generated engine (``export.codegen.generate_engine``, RAM budget = the
   board's RAM minus stack and the apps' static buffers, streaming as needed);
4. ``write_frontend_tables``: the front-end tables (``export.frontend_tables``);
5. ``write_selftest_vectors``: self-test vectors from real clips;
6. ``write_project_files``: a standalone project: Makefile, README, ``src/`` (generated),
   ``firmware/`` (copies of the kernels, front-end, protocol, apps, board support);
7. ``build_project``: ``make`` with arm-none-eabi-gcc (-O2, the board's -mcpu/-mfpu, -DEM_USE_DSP
   on M4/M7); flash/RAM use read from the ELFs against the board's limits;
8. ``write_project_json``: ``project.json``.

Steps 3-8 write into a temporary directory that is renamed into place only when all of them
succeeded. Outputs default under the working directory (``default_project_dir``,
``DEFAULT_CACHE_DIR``), never inside the installed package.

With ``classifier=head.h5`` (saved by ``edgel3-mote evaluate --save-classifier``) the project
also carries the int8 classifier head (``export.classifier``): a second engine with the
``em_head`` symbol prefix chained after the embedding, ``em_head_classes.h``, ``-DEM_HAS_HEAD=1``
and expected head logits in the self-test vectors (project_head.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from edgel3_mote import __version__
from edgel3_mote.atomic import atomic_dir, atomic_write_bytes, atomic_write_text, check_output_dir
from edgel3_mote.errors import ExportError, InvalidInputError, ToolchainError
from edgel3_mote.export.board_files import GENERATED_FILES as GENERATED_BOARD_FILES
from edgel3_mote.export.board_files import write_board_files
from edgel3_mote.export.boards import (
    BOARDS,
    FIRMWARE_DIR,
    LINK_FLAGS,
    OPT_FLAGS,
    BoardSpec,
    elf_memory_usage,
    get_board,
    link_overflow_error,
    require_toolchain,
)
from edgel3_mote.export.codegen.ops.base import c_float
from edgel3_mote.export.manifest import Manifest
from edgel3_mote.metrics import sha256_file
from edgel3_mote.quiet import StepLog, collecting

REPO = FIRMWARE_DIR.parent
TEMPLATE_DIR = Path(__file__).resolve().parent / "templates" / "project"
SHARED = Path(os.environ.get("EDGEL3_MOTE_SHARED", REPO.parent / "shared"))
DEFAULT_CLIPS = SHARED / "audio" / "cc0_animals"
MAX_VECTORS = 10
# The apps' static RAM besides the engine arena: the serial app keeps one PCM window (and no copy
# of the spectrogram), the protocol two 1 KiB frame buffers; plus room for .data and small statics.
APP_RESERVE_BYTES = 6 * 1024
MAKE_TIMEOUT_S = 900
FIRMWARE_SUBDIRS = ("include", "kernels", "frontend", "protocol")
SOURCE_SUFFIXES = {".c", ".cc", ".h", ".S", ".ld", ".md"}
# what a project folder holds at its top (checked before any work) and how one from before the
# output marker (atomic.OUTPUT_MARKER) is recognised
PROJECT_FILES = ("project.json", "Makefile", "README.md", "src", "firmware", "export", "export.log")
PROJECT_LEGACY = ("project.json", {"inputs_sha256": None})
# the int8 export cache and the output flag named in messages; outputs go under the working directory
DEFAULT_CACHE_DIR = Path("build") / ".cache" / "export"
OUTPUT_FLAG = "-o/--output"


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr)


@dataclass
class ProjectInfo:
    board: str
    model: str
    project_dir: Path
    random_weights: bool
    seed: int | None
    weights: str | None
    arena_bytes: int
    unstreamed_arena_bytes: int
    tflm_arena_bytes: int | None
    weight_bytes: int
    elfs: dict[str, str] = field(default_factory=dict)  # "selftest"/"firmware" -> path
    memory: dict[str, dict] = field(default_factory=dict)  # per ELF: flash/RAM use
    reused: bool = False
    head: dict | None = None  # the classifier head, if any
    serial_app_skipped: str | None = None  # why firmware.elf was not built
    runtime: str = "engine"  # "engine" (generated C) or "tflm" (TFLite Micro + CMSIS-NN)
    weights_in_flash: str = ""  # "N B in flash (int16-expanded for speed: X B as int8)"

    @property
    def selftest_elf(self) -> Path:
        return Path(self.elfs["selftest"])

    @property
    def firmware_elf(self) -> Path | None:
        return Path(self.elfs["firmware"]) if "firmware" in self.elfs else None

    @property
    def weights_line(self) -> str:
        return (
            f"RANDOM WEIGHTS (seed {self.seed}) — not a trained model"
            if self.random_weights
            else f"weights: {self.weights}"
        )


# ------------------------------------------------------------------------------ hashing / cache
def _tree_digest(paths) -> str:
    h = hashlib.sha256()
    for p in sorted(paths):
        h.update(str(p.relative_to(REPO)).encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def _generator_sources() -> list[Path]:
    """Everything that shapes a generated project: firmware C, export Python and templates."""
    export_dir = Path(__file__).resolve().parent
    files = [p for p in FIRMWARE_DIR.rglob("*") if p.is_file() and p.suffix in SOURCE_SUFFIXES]
    files += [p for p in export_dir.rglob("*") if p.is_file() and p.suffix in (".py", ".j2")]
    files += [REPO / "compress" / "frontend.py"]
    return [p for p in files if p.exists() and "__pycache__" not in p.parts]


def _model_id(model) -> tuple[str, str]:
    """(name, identity) of a registry name or a tf_keras backbone (its architecture + weights)."""
    if isinstance(model, str):
        return model, model
    h = hashlib.sha256(model.to_json().encode())
    for w in model.get_weights():
        h.update(np.ascontiguousarray(w).tobytes())
    return model.name, h.hexdigest()


def _export_key(model, weights: Path | None, clips: list[Path], seed: int) -> str:
    desc = {
        "model": _model_id(model)[1],
        "seed": int(seed),
        "weights": sha256_file(weights) if weights else None,
        "calibration": [sha256_file(c) for c in clips],
        "version": __version__,
    }
    return hashlib.sha256(json.dumps(desc, sort_keys=True).encode()).hexdigest()[:16]


# ------------------------------------------------------------------------------ step 1: export
def _int8_export(
    model, weights: Path | None, clips: list[Path], seed: int, cache_root: Path, log
) -> tuple[Path, bytes, Manifest]:
    from edgel3_mote.export.tflite import export_tflite, load_export

    out = cache_root / f"{_model_id(model)[0]}-{_export_key(model, weights, clips, seed)}"
    if (out / "manifest.json").is_file():
        log(f"reusing the int8 export in {out} (inputs unchanged)")
    else:
        export_tflite(
            model, None if weights is None else str(weights), calibration=clips or None, out_dir=out, seed=seed, log=log
        )
    data, manifest = load_export(out)
    return out, data, manifest


def _tflm_arena(export_dir: Path, int8: bytes) -> int | None:
    """TFLite Micro's arena for the same model (cached next to the export): for comparison only."""
    cached = export_dir / "tflm_arena.json"
    if cached.is_file():
        return json.loads(cached.read_text())["tflm_arena_bytes"]
    from edgel3_mote.export.reference import tflm_arena_bytes

    try:
        n = tflm_arena_bytes(int8)
    except ExportError:
        return None
    atomic_write_text(cached, json.dumps({"tflm_arena_bytes": n}) + "\n")
    return n


# ------------------------------------------------------------------------------ self-test vectors
def vector_counts(board: BoardSpec, manifest: Manifest, weight_bytes: int, n_clips: int) -> tuple[int, int]:
    """(vectors, vectors with PCM) that fit in flash beside the engine's weights and ~160 KiB of code.

    Every vector carries the host's int8 spectrogram and the expected embeddings (the engine check);
    the first ones also carry their int16 PCM window (the front-end and end-to-end checks), at
    least one, as many as fit. L3 on the 1 MB mote: six engine vectors, one with its 96,000-byte PCM.
    The clips' windows and the ``SIGNAL_WINDOWS`` share the ``MAX_VECTORS`` (see ``_vector_windows``).
    """
    window = manifest.window_samples
    per_vector = _vector_bytes(manifest)
    budget = board.flash_size - int(weight_bytes) - 160 * 1024 - 2 * window  # the first PCM window
    n = int(max(1, min(MAX_VECTORS, (n_clips or 4) + len(SIGNAL_WINDOWS), budget // per_vector)))
    n_pcm = int(min(n, 1 + max(0, budget - n * per_vector) // (2 * window)))
    return n, n_pcm


# Flash the w16 budget leaves for everything but weights and self-test vectors: code, the front-end's
# tables, layer descriptors. Measured: 26.1 KiB in SEA-64's selftest.elf on qemu-netduinoplus2 (its
# flash minus the em_l* and em_st_* symbols); tests/firmware/test_netduino_sea64_realtime.py holds the
# measurement below this reserve, so the expanded weights never crowd out the code.
W16_CODE_RESERVE_BYTES = 48 * 1024
# int16-expanded (w16) conv weights trade flash for instructions; by default they may add at most this share of
# the int8 weights' bytes (and only on layers where w16 beats every int8-weight format, most instructions saved
# per byte first: ops.conv2d.choose_w16_layers), so a firmware stays about the size of the int8 model's. SEA-64
# on qemu-mps2-an386: its two 8x6 layers, 37 KB more for ~2.5 M fewer instructions a window; the flash stays
# below TFLite Micro's for the same .tflite (tests/board_tests/test_tflm_sea64.py).
W16_FLASH_SHARE = 0.10


def _vector_bytes(manifest: Manifest) -> int:
    """Flash of one self-test vector without its PCM: the int8 spectrogram and the expected
    embeddings (int8, plus float32 for the float model)."""
    return manifest.input.size + 5 * manifest.output.size


def _w16_flash_bytes(board: BoardSpec, manifest: Manifest, n_clips: int, classifier: Path | None) -> int:
    """Flash for int16-expanded conv weights: W16_FLASH_SHARE of the int8 weights' bytes, at most what is left
    beside the int8 weights, the code (W16_CODE_RESERVE_BYTES), the self-test vectors that ``vector_counts``
    places beside the int8 weights (so expanding never costs a vector) and a classifier head's weights (one
    byte per parameter stored in its .h5, plus 8 KiB)."""
    weight_bytes = manifest.sizes.get("weight_bytes", 0)
    n, n_pcm = vector_counts(board, manifest, weight_bytes, n_clips)
    per_vector = _vector_bytes(manifest)
    head = 0
    if classifier is not None:
        import h5py

        sizes: list[int] = []
        with h5py.File(classifier, "r") as f:
            f.visititems(lambda _, obj: sizes.append(obj.size) if isinstance(obj, h5py.Dataset) else None)
        head = sum(sizes) + 8 * 1024
    left = board.flash_size - weight_bytes - W16_CODE_RESERVE_BYTES - n * per_vector
    left -= n_pcm * 2 * manifest.window_samples + head
    return max(0, min(int(W16_FLASH_SHARE * weight_bytes), left))


def fit_lower_bounds(board: BoardSpec, model: str) -> dict[str, int]:
    """What a registry model needs on ``board`` at the very least, known before any conversion.

    Flash: its conv weights at one byte per weight (pruned presets: per nonzero -- the compact sparse
    format takes more), four per bias, plus the code reserve. RAM: the int8 model input (the engine holds
    it whole), the front-end's scratch, the stack and the apps' statics. Real builds need more of both.
    """
    from edgel3_mote.compress.models.registry import _widths, conv_param_count, get_spec
    from edgel3_mote.compress.pruning.presets import L3_KERNEL_COUNTS, kept_weights
    from edgel3_mote.export.frontend_tables import scratch_bytes

    spec = get_spec(model)
    biases = sum(_widths(model))
    weights = conv_param_count(model) - biases
    if model.startswith("edgel3-"):
        weights -= sum(L3_KERNEL_COUNTS) - kept_weights(model.split("-", 1)[1])
    input_bytes = spec.frontend.n_mels * spec.frontend.n_frames(spec.window_samples)
    return {
        "flash": weights + 4 * biases + W16_CODE_RESERVE_BYTES,
        "ram": input_bytes + scratch_bytes(spec.frontend) + board.stack_size + APP_RESERVE_BYTES,
    }


def check_fits_before_conversion(board: BoardSpec, model: str) -> None:
    """Refuse, with the numbers, a registry model that cannot fit ``board`` -- before minutes of conversion."""
    need = fit_lower_bounds(board, model)
    for what, size in (("flash", board.flash_size), ("ram", board.ram_size)):
        if need[what] > size:
            bigger = [b for b in BOARDS if BOARDS[b].flash_size >= need["flash"] and BOARDS[b].ram_size >= need["ram"]]
            boards = f"choose a board with more ({', '.join(bigger)})" if bigger else "no known board has that much"
            raise ExportError(
                f"{model} cannot fit {board.name}: it needs at least {need[what]:,} bytes of "
                f"{'flash' if what == 'flash' else 'RAM'} and the board has {size:,}; {boards}, or "
                f"use a smaller model (sea-64, or a pruned edgel3-<plan>)"
            )


def engine_ram_budget(board: BoardSpec, window_samples: int) -> int:
    """The arena bytes a board leaves the engine: its RAM minus the stack and the apps' static RAM
    (the serial app's int16 PCM window and APP_RESERVE_BYTES)."""
    return selftest_ram_budget(board) - 2 * int(window_samples)


def selftest_ram_budget(board: BoardSpec) -> int:
    """The arena bytes the self-test alone leaves (its vectors are in flash): RAM - stack - APP_RESERVE_BYTES."""
    return board.ram_size - board.stack_size - APP_RESERVE_BYTES


def generate_board_engine(
    int8: bytes,
    src: Path,
    board: BoardSpec,
    window_samples: int,
    *,
    model_name: str,
    streaming: str = "auto",
    frontend_scratch_bytes: int = 0,
    w16_flash_bytes: int = 0,
):
    """The engine as a board's project builds it: -> (EngineInfo, RAM budget, why the serial app is skipped).

    The arena is planned for the serial app's budget (engine_ram_budget); when it cannot fit there,
    for the self-test's (selftest_ram_budget: its vectors are in flash, no PCM in RAM), and the
    serial app is skipped with the reason returned (None when it fits).
    """
    from edgel3_mote.export.codegen import generate_engine

    args: dict[str, Any] = dict(
        model_name=model_name,
        streaming=streaming,
        frontend_scratch_bytes=frontend_scratch_bytes,
        use_dsp=board.dsp,
        w16_flash_bytes=w16_flash_bytes,
        # the memory-aware choice of conv kernels (issue 18): the board's flash wait states, from its
        # memory model where BoardSpec has one
        flash_wait_states=getattr(getattr(board, "memory", None), "flash_wait_states", 0),
    )
    ram_budget = engine_ram_budget(board, window_samples)
    try:
        return generate_engine(int8, src, ram_budget=ram_budget, **args), ram_budget, None
    except ExportError:
        selftest_budget = selftest_ram_budget(board)
        if selftest_budget <= ram_budget:
            raise
        engine = generate_engine(int8, src, ram_budget=selftest_budget, **args)
        need = engine.arena_bytes + 2 * window_samples + board.stack_size + APP_RESERVE_BYTES
        why = (
            f"the serial app (firmware.elf) does not fit {board.name}: the {engine.arena_bytes:,}-byte arena, its "
            f"{2 * window_samples:,}-byte PCM window, the {board.stack_size:,}-byte stack and up to "
            f"{APP_RESERVE_BYTES:,} bytes of statics need {need:,} of {board.ram_size:,} bytes of RAM; "
            f"only selftest.elf is built"
        )
        return engine, selftest_budget, why


# Besides the clips, the self-test's windows hold what a deployed mote hears too (ROBUSTNESS.md "Signal
# classes"): the loudest clip window as band-limited material, a full-scale DC offset, digital silence,
# and the loudest window hard-clipped. They take the last of the MAX_VECTORS places (the clips keep the
# first ones, so a flash-tight board keeps real audio's PCM first); the device front-end gives the host's
# int8 on them value for value (tests/export/test_project_selftest_signals.py).
SIGNAL_WINDOWS = ("bandlimited", "dc_offset", "silence", "clipped")


def _signal_windows(first: np.ndarray, sr: int) -> list[tuple[str, np.ndarray]]:
    """``SIGNAL_WINDOWS`` as float windows like ``first``: band-limited = ``first`` through 4 kHz material
    (SEA, 8 kHz) or 8 kHz material (a phone's, for 16 kHz and up) and back, soxr as any user's pipeline."""
    from edgel3_mote.compress.audio import resample

    n, low = len(first), (sr // 2 if sr <= 16000 else 8000)
    band = resample(resample(np.asarray(first, np.float32), sr, low), low, sr)[:n]
    return [
        (f"bandlimited_{low}Hz", np.pad(band, (0, n - len(band)))),
        ("dc_offset", np.full(n, -1.0)),
        ("silence", np.zeros(n)),
        ("clipped", np.clip(16.0 * np.asarray(first), -1.0, 1.0)),
    ]


def _vector_windows(
    clips: list[Path], manifest: Manifest, seed: int, max_vectors: int = MAX_VECTORS
) -> tuple[list[str], np.ndarray, str]:
    """One 1-s window per clip (the loudest, framed as get_embedding frames), then ``SIGNAL_WINDOWS``, as int16."""
    from edgel3_mote.compress.models.registry import ModelSpec
    from edgel3_mote.export.tflite import clip_windows

    cfg, window = manifest.frontend, manifest.window_samples
    spec = ModelSpec(manifest.model, "custom", cfg, window, manifest.output.size, True, "self-test framing")
    names, wins = [], []
    for path in clips[:max_vectors]:
        frames = clip_windows(path, spec)
        names.append(re.sub(r"[^A-Za-z0-9_.-]", "_", path.stem)[:40])  # a safe C string
        wins.append(frames[int(np.argmax(np.sqrt((frames**2).mean(axis=1))))])
    source = f"{len(names)} real clips from {clips[0].parent}" if clips else ""
    if not clips:  # no clips anywhere: tones, said plainly
        rng = np.random.default_rng(seed)
        t = np.arange(window) / cfg.sr
        for i in range(min(4, max_vectors)):
            f0 = rng.uniform(100, cfg.sr / 3)
            wins.append(0.5 * np.sin(2 * np.pi * f0 * t) * np.exp(-t * (i + 1)))
            names.append(f"tone_{int(f0)}Hz")
        source = "SYNTHESISED TONES (no clips given and none found in ../shared)"
    pcm = _int16(wins)
    if not np.any(pcm):  # a self-test on silence passes whatever the engine computes: proves nothing
        raise InvalidInputError(
            f"every self-test clip is silent at int16 ({', '.join(str(c) for c in clips[:3])}"
            f"{' ...' if len(clips) > 3 else ''}): give --clips with real sound"
        )
    # the clips' windows, then the signal windows (made from the loudest window) in the last places
    signals = _signal_windows(wins[int(np.argmax(np.abs(pcm).max(axis=1)))], cfg.sr)
    keep = max(1, min(len(names), max_vectors - len(signals)))
    names = (names[:keep] + [name for name, _ in signals])[:max_vectors]
    pcm = np.concatenate([pcm[:keep], _int16([w for _, w in signals])])[:max_vectors]
    return names, pcm, source


def _int16(windows) -> np.ndarray:
    return np.clip(np.round(np.stack(windows) * 32768.0), -32768, 32767).astype(np.int16)


def _selftest_vectors(manifest: Manifest, int8: bytes, float_tflite: bytes | None, names, pcm) -> dict:
    """Per window: the host's int8 spectrogram, the tflite-micro wheel's int8 output on it and the float
    model's output on the float log-mel (without a float model -- a user's own int8 .tflite -- the wheel's
    int8 output dequantised: check (c) then measures the device front-end alone)."""

    from edgel3_mote.compress.frontend import log_mel_spectrogram
    from edgel3_mote.export.frontend_tables import reference_logmel_s8
    from edgel3_mote.export.reference import TflmRunner, tflite_interpreter

    cfg, affine, quant, window = manifest.frontend, manifest.input_affine, manifest.input_quant, manifest.window_samples
    runner = TflmRunner(int8)
    interp = None
    if float_tflite is not None:
        interp = tflite_interpreter(float_tflite)
        fin, fout = interp.get_input_details()[0], interp.get_output_details()[0]
    vectors = []
    for name, x in zip(names, pcm):
        spec_s8 = reference_logmel_s8(x, cfg, affine, quant, window)
        emb_s8 = runner.invoke(spec_s8.reshape(runner.input_shape)).reshape(-1)
        if interp is None:
            out_scale, out_zp = manifest.output.quant
            emb_f = ((emb_s8.astype(np.float32) - out_zp) * np.float32(out_scale)).astype(np.float32)
        else:
            db = log_mel_spectrogram(x.astype(np.float64) / 32768.0, cfg).astype(np.float32)
            scaled = (db * np.float32(affine[0]) + np.float32(affine[1])).reshape(fin["shape"])
            interp.set_tensor(fin["index"], scaled)
            interp.invoke()
            emb_f = interp.get_tensor(fout["index"]).reshape(-1)
        vectors.append(
            {"name": name, "pcm": x, "spectrogram": spec_s8.reshape(-1), "embedding_s8": emb_s8, "embedding_f32": emb_f}
        )
    return {
        "vectors": vectors,
        "input_bytes": vectors[0]["spectrogram"].size,
        "output_bytes": vectors[0]["embedding_s8"].size,
        "window_samples": window,
    }


def _c_rows(values, fmt=str, per_line: int = 20) -> str:
    vals = [fmt(v) for v in np.asarray(values).reshape(-1)]
    return "\n".join("        " + ", ".join(vals[i : i + per_line]) + "," for i in range(0, len(vals), per_line))


def nonzero_macs(layer) -> int:
    """A conv layer's MACs with a nonzero weight: output positions x nonzero weights (border taps
    that read padding counted, as in ``macs``); ``macs`` for layers without counted weights."""
    if layer.nonzeros is None or len(layer.output_shape) != 4:
        return layer.macs
    return int(layer.output_shape[1]) * int(layer.output_shape[2]) * int(layer.nonzeros)


def _weights_in_flash(engine, int8: bytes) -> str:
    """ "N B in flash", with what they would take as int8 where conv weights are int16-expanded (w16) for speed."""
    from edgel3_mote.export.codegen.ops.conv2d import w16_extra_bytes
    from edgel3_mote.export.ir import read_tflite

    text = f"{engine.weight_bytes:,} B in flash"
    w16 = [i for i, layer in enumerate(engine.layers) if layer.weight_format == "w16"]
    if w16:
        graph = read_tflite(int8)  # engine.layers are its ops, in order
        extra = 0
        for i in w16:
            kernel = graph.tensor(graph.ops[i].inputs[1]).data
            assert kernel is not None  # a w16 conv has a constant filter
            extra += w16_extra_bytes(kernel)
        text += f" (int16-expanded for speed: {engine.weight_bytes - extra:,} B as int8)"
    return text


def _engine_report(engine, ram_budget: int) -> str:
    """The engine report: layers (op, shapes, MACs, weight bytes and format), streamed chains, and
    every arena buffer with its offset, size and live steps (the planner's proof of the peak)."""
    lines = [
        f"engine of {engine.model_name}: arena {engine.arena_bytes:,} bytes (RAM budget {ram_budget:,}; "
        f"without streaming {engine.unstreamed_arena_bytes:,}), weights {engine.weight_bytes:,} bytes, "
        f"{engine.macs:,} MACs",
        "",
        "layers:",
    ]
    for i, layer in enumerate(engine.layers):
        lines.append(
            f"  {i:>2} {layer.op:<16} {str(tuple(layer.input_shape)):<20} -> {str(tuple(layer.output_shape)):<20} "
            f"{layer.macs:>13,} MACs {nonzero_macs(layer):>13,} nonzero {layer.weight_bytes:>10,} B "
            f"{layer.weight_format}  {layer.name}"
        )
    lines += ["", "streamed chains:"]
    for g in engine.streaming_groups:
        bufs = ", ".join(f"{name} {b['rows']} rows = {b['bytes']:,} B" for name, b in g["line_buffers"].items())
        lines.append(f"  {' -> '.join(g['layers'])}{' (global max folded)' if g['folds'] else ''}: {bufs}")
    lines += ["", "arena buffers:", engine.buffer_table, ""]
    return "\n".join(lines)


def _template_env():
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )


def _render(env, name: str, out: Path, **ctx) -> None:
    out.write_text(env.get_template(f"{name}.j2").render(**ctx))


# ------------------------------------------------------------------------------ steps 3-5
def _copy_firmware(board: BoardSpec, dst: Path, runtime: str = "engine") -> tuple[list[str], list[str]]:
    """Copy the C sources the project needs; returns (common sources, serial-app sources).
    The TFLM runtime needs no kernels of the engine (its own sources are added by the caller)."""
    fw = dst / "firmware"
    for sub in FIRMWARE_SUBDIRS if runtime == "engine" else tuple(s for s in FIRMWARE_SUBDIRS if s != "kernels"):
        src = FIRMWARE_DIR / sub
        if src.is_dir():
            shutil.copytree(
                src, fw / sub, ignore=lambda d, names: [n for n in names if Path(n).suffix not in SOURCE_SUFFIXES]
            )
    for sub in ("common", board.name):
        shutil.copytree(
            FIRMWARE_DIR / "boards" / sub,
            fw / "boards" / sub,
            ignore=lambda d, names: [
                n
                for n in names
                if n in ("hello_main.c", *GENERATED_BOARD_FILES) or Path(n).suffix not in SOURCE_SUFFIXES
            ],
        )
    write_board_files(board, fw / "boards" / board.name)  # memory.ld, em_board_config.h from the BoardSpec
    (fw / "app").mkdir(parents=True)
    shutil.copy2(FIRMWARE_DIR / "app" / "selftest_main.c", fw / "app")
    rel = lambda p: str(p.relative_to(dst))  # noqa: E731
    common = [f"firmware/boards/{p.parent.name}/{p.name}" for p in board.board_sources()]
    common += sorted(rel(p) for sub in ("kernels", "frontend") for p in (fw / sub).glob("*.c") if (fw / sub).is_dir())
    common += (["src/model_engine.c", "src/model_weights.c"] if runtime == "engine" else []) + [
        "src/em_frontend_tables.c"
    ]
    serial: list[str] = []
    serial_main = FIRMWARE_DIR / "app" / "serial_main.c"
    if serial_main.is_file() and (fw / "protocol").is_dir():
        shutil.copy2(serial_main, fw / "app")
        serial = ["firmware/app/serial_main.c"] + sorted(rel(p) for p in (fw / "protocol").glob("*.c"))
    return common, serial


def _make(project: Path, board: BoardSpec, targets: list[str], optional: tuple[str, ...], log) -> list[str]:
    """Build ``targets``; a failing target in ``optional`` is reported and skipped. Returns the built ones."""
    require_toolchain()
    if shutil.which("make") is None:
        raise ToolchainError("make not found: install it (apt-get install make)")
    built = []
    for target in targets:
        try:
            proc = subprocess.run(
                ["make", "-j2", target], cwd=project, capture_output=True, text=True, timeout=MAKE_TIMEOUT_S
            )
        except subprocess.TimeoutExpired:
            raise ToolchainError(
                f"building {target} for {board.name} took over {MAKE_TIMEOUT_S} s: "
                f"look for a generated file the compiler chokes on"
            ) from None
        if proc.returncode != 0:
            err = link_overflow_error(board, proc.stderr, target) or ToolchainError(
                f"building {target} for {board.name} failed:\n{proc.stderr.strip()[-3000:]}"
            )
            if target not in optional or isinstance(err, ExportError):
                raise err
            log(f"WARNING: {target} NOT built (the self-test does not need it): {str(err)[-1500:]}")
            continue
        built.append(target)
    return built


# ------------------------------------------------------------------------------ the steps
@dataclass(frozen=True)
class ProjectRequest:
    """What a firmware project is asked for (``build_firmware_project``'s arguments).

    model: a registry name or a tf_keras backbone; weights: a trained .h5 (None: seeded random
    weights, said everywhere); clips: folder (or list) of clips for the self-test vectors and, unless
    ``calibration`` is given, the int8 calibration (default ``DEFAULT_CLIPS`` if present, else
    synthesised tones, said plainly); out_dir: default :func:`default_project_dir` (under the
    working directory); cache_dir: the int8 export cache, default ``DEFAULT_CACHE_DIR``;
    require_serial=False: a serial app (firmware.elf) that fails to compile is reported, not fatal;
    classifier: a saved classifier head (.h5 + its .classes.json) to run after the embedding;
    runtime: "engine" (the generated C engine) or "tflm" (TFLite Micro + CMSIS-NN compiled from
    ``TFLM_PATH``, ``export.tflm_runtime``; no classifier head), default folder ``build/<board>/<model>-tflm``;
    tflite: a user's own full-integer int8 .tflite run instead of converting ``model`` (which then names the
    front-end, the log-mel input, it takes); the project is named after the file.
    """

    board: str | BoardSpec
    model: Any = "sea-64"
    weights: str | Path | None = None
    clips: Any = None
    out_dir: str | Path | None = None
    seed: int = 0
    build: bool = True
    streaming: str = "auto"
    calibration: Any = None
    force: bool = False
    cache_dir: str | Path | None = None
    require_serial: bool = True
    classifier: str | Path | None = None
    runtime: str = "engine"
    tflite: str | Path | None = None


@dataclass(frozen=True)
class ProjectInputs:
    """Step 1's result: the request resolved and checked, and the hash of everything that shapes the project."""

    board: BoardSpec
    model: Any
    model_name: str
    weights: Path | None
    clips: list[Path]
    calibration: list[Path]
    out_dir: Path
    cache_dir: Path
    seed: int
    build: bool
    streaming: str
    force: bool
    require_serial: bool
    classifier: Path | None
    digest: dict[str, Any]  # what project.json records as "inputs"
    key: str  # sha256 of ``digest``: the project is up to date when it matches
    runtime: str = "engine"
    tflite: Path | None = None  # a user's own int8 .tflite (ProjectRequest.tflite)


@dataclass(frozen=True)
class Int8Export:
    """Step 2's result: the int8 export the engine is generated from."""

    export_dir: Path
    int8: bytes
    float_tflite: bytes | None  # None: a user's own int8 .tflite (``ProjectRequest.tflite``)
    manifest: Manifest
    seed: int  # the random weights' seed (a Keras backbone carries its own)
    tflm_arena_bytes: int | None

    @property
    def random_weights(self) -> bool:
        return self.manifest.random_weights


@dataclass(frozen=True)
class BoardEngine:
    """Step 3's result: the generated engine, the RAM budget it was planned for, and why the serial app is skipped."""

    engine: Any  # codegen.EngineInfo, or tflm_runtime.TflmRuntime
    ram_budget: int
    serial_skipped: str | None
    weights_in_flash: str = ""  # "N B in flash (int16-expanded for speed: X B as int8)"


@dataclass
class SelftestVectors:
    """Step 5's result: the self-test vectors written to ``src/`` (and the classifier head, if any)."""

    names: list[str]
    source: str  # where the windows came from, said in the project's README
    n_pcm: int  # the first ``n_pcm`` vectors carry their int16 PCM window
    head: dict | None = None  # project_head.add_head's context


def tflite_model_name(path: str | Path) -> str:
    """The model name of a user's own .tflite (``ProjectRequest.tflite``): its file stem as a safe C string."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", Path(path).stem)[:40]


def default_project_dir(board: str, model: str, runtime: str = "engine") -> Path:
    """Where a project goes without ``out_dir``: ``build/<board>/<model>`` under the working directory
    (``<model>-tflm`` for the TFLM runtime, so both runtimes' projects sit side by side)."""
    return Path("build") / board / (model if runtime == "engine" else f"{model}-{runtime}")


def resolve_inputs(request: ProjectRequest) -> ProjectInputs:
    """Step 1: check the inputs (weights, clips, classifier, output folder) and hash them -- before any long work."""
    from edgel3_mote.compress.audio import find_audio_files
    from edgel3_mote.export.project_head import check_classifier
    from edgel3_mote.export.tflm_runtime import RUNTIMES

    board = get_board(request.board)
    if request.runtime not in RUNTIMES:
        raise InvalidInputError(f"runtime {request.runtime!r} is not one of {', '.join(RUNTIMES)}")
    if request.runtime == "tflm" and request.classifier is not None:
        raise InvalidInputError(
            "--classifier runs on the generated engine only: leave out --runtime tflm, or the classifier"
        )
    model_name, model_identity = _model_id(request.model)  # a registry name, or a tf_keras backbone
    tflite = None if request.tflite is None else Path(request.tflite).resolve()
    if tflite is not None:
        if not tflite.is_file():
            raise InvalidInputError(f"--tflite {tflite} does not exist: give a full-integer int8 .tflite file")
        if request.weights is not None or request.classifier is not None or not isinstance(request.model, str):
            raise InvalidInputError(
                "--tflite carries its own weights: leave out --weights and --classifier, and give --model as the "
                "registry model whose front-end (log-mel input) the .tflite takes"
            )
        model_name = tflite_model_name(tflite)
        model_identity = f"tflite:{sha256_file(tflite)} frontend:{request.model}"
    weights = None if request.weights is None else Path(request.weights).resolve()
    if weights is not None and not weights.is_file():
        raise InvalidInputError(f"weights file {weights} does not exist: give a trained .h5, or leave it out")
    if weights is not None:
        from edgel3_mote.compress.weights import check_model_file

        check_model_file(weights, "--weights")  # 0 bytes / not HDF5: one line before any conversion
    clips = request.clips
    if clips is None and DEFAULT_CLIPS.is_dir():
        clips = DEFAULT_CLIPS
    clip_paths = find_audio_files(clips) if clips is not None else []
    cal_paths = find_audio_files(request.calibration) if request.calibration is not None else clip_paths
    out_dir = (
        Path(request.out_dir)
        if request.out_dir is not None
        else default_project_dir(board.name, model_name, request.runtime)
    )
    check_output_dir(out_dir, "export firmware", PROJECT_FILES, PROJECT_LEGACY, flag=OUTPUT_FLAG)
    classifier, classifier_inputs = check_classifier(request.classifier)
    digest: dict[str, Any] = {
        "board": board.to_dict(),
        "model": model_identity,
        "seed": int(request.seed),
        "streaming": request.streaming,
        "build": request.build,
        "weights": sha256_file(weights) if weights else None,
        "clips": [sha256_file(c) for c in clip_paths],
        "calibration": [sha256_file(c) for c in cal_paths],
        "code": _tree_digest(_generator_sources()),
    }
    if classifier is not None:  # only then, so projects without a head keep their key
        digest["classifier"] = classifier_inputs
    if request.runtime != "engine":  # likewise: the engine's projects keep their key
        from edgel3_mote.export.tflm_runtime import tflm_path

        digest["runtime"] = request.runtime
        digest["tflm_path"] = str(tflm_path())
    return ProjectInputs(
        board=board,
        model=request.model,
        model_name=model_name,
        weights=weights,
        clips=clip_paths,
        calibration=cal_paths,
        out_dir=out_dir,
        cache_dir=Path(request.cache_dir) if request.cache_dir is not None else DEFAULT_CACHE_DIR,
        seed=int(request.seed),
        build=request.build,
        streaming=request.streaming,
        force=request.force,
        require_serial=request.require_serial,
        classifier=classifier,
        digest=digest,
        key=hashlib.sha256(json.dumps(digest, sort_keys=True).encode()).hexdigest(),
        runtime=request.runtime,
        tflite=tflite,
    )


def up_to_date_project(inputs: ProjectInputs, log: Callable[[str], None] = _stderr) -> ProjectInfo | None:
    """The project already in ``inputs.out_dir`` when it was built from the same inputs (None: build it).

    A project built from other inputs may be replaced -- unless that swaps a trained model (``_check_replacing``).
    """
    pj = inputs.out_dir / "project.json"
    if inputs.force or not pj.is_file():
        return None
    old = json.loads(pj.read_text())
    if old.get("inputs_sha256") == inputs.key and all((inputs.out_dir / e).is_file() for e in old["elfs"].values()):
        log(f"{inputs.out_dir}: up to date (inputs unchanged), not regenerated")
        return _info_from_json(old, inputs.out_dir, reused=True)
    _check_replacing(inputs.out_dir, old, inputs.digest, log)
    return None


def export_int8(inputs: ProjectInputs, log: Callable[[str], None] = _stderr) -> Int8Export:
    """Step 2: the int8 export (cached by its inputs), after refusing a registry model that cannot fit the board;
    a user's own .tflite (``inputs.tflite``) is checked and taken as it is (``user_tflite_export``)."""
    if inputs.tflite is not None:
        return user_tflite_export(inputs, log)
    if isinstance(inputs.model, str):
        check_fits_before_conversion(inputs.board, inputs.model)
    export_dir, int8, manifest = _int8_export(
        inputs.model, inputs.weights, inputs.calibration, inputs.seed, inputs.cache_dir, log
    )
    seed = manifest.seed if manifest.random_weights else inputs.seed  # a Keras backbone carries its own seed
    if manifest.random_weights:
        log(f"WARNING: RANDOM WEIGHTS (seed {seed}) — not a trained model: pass --weights for a real deployment")
    return Int8Export(
        export_dir,
        int8,
        (export_dir / "model_float.tflite").read_bytes(),
        manifest,
        seed,
        _tflm_arena(export_dir, int8),
    )


def user_tflite_export(inputs: ProjectInputs, log: Callable[[str], None] = _stderr) -> Int8Export:
    """A user's own .tflite as the project's export: checked to be one full-integer int8 graph whose input is
    ``inputs.model``'s log-mel (n_mels x n_frames x 1, quantised dB: input affine 1, 0); for the generated engine,
    every operator must be one it emits, else the error names the missing ones and ``--runtime tflm``.
    Written with its manifest to the export cache (``cache_dir/<name>-<sha>``)."""
    from edgel3_mote.compress.models.registry import get_spec
    from edgel3_mote.export.ir import engine_ops, read_tflite
    from edgel3_mote.export.manifest import TensorInfo
    from edgel3_mote.export.tflite import INT8_NAME, load_export

    path = inputs.tflite
    assert path is not None
    data = path.read_bytes()
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise InvalidInputError(f"{path} is not a TFLite flatbuffer (no 'TFL3' identifier): give a .tflite file")
    graph = read_tflite(data, supported=None)
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise InvalidInputError(
            f"{path} has {len(graph.inputs)} inputs and {len(graph.outputs)} outputs: give a model with one of each"
        )
    inp, out = graph.tensor(graph.inputs[0]), graph.tensor(graph.outputs[0])
    floats = [
        f"#{op.index} {op.kind}"
        for op in graph.ops
        if any(graph.tensor(t).dtype.startswith("float") for t in op.outputs)
    ]
    if inp.dtype != "int8" or out.dtype != "int8" or floats:
        raise InvalidInputError(
            f"{path} is not a full-integer int8 model (input {inp.dtype}, output {out.dtype}"
            f"{'; float ops ' + ', '.join(floats[:5]) if floats else ''}): convert it with a representative "
            f"dataset, target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8] and "
            f"inference_input_type = inference_output_type = tf.int8"
        )
    spec = get_spec(inputs.model)
    want = (spec.frontend.n_mels, spec.frontend.n_frames(spec.window_samples), 1)
    if tuple(inp.shape[1:]) != want:
        raise InvalidInputError(
            f"{path}'s input {tuple(inp.shape)} is not the log-mel input of {inputs.model} "
            f"(1, {want[0]}, {want[1]}, 1): pass --model with the front-end the model was trained on "
            f"(edgel3-mote models)"
        )
    kinds = [op.kind for op in graph.ops]
    if inputs.runtime == "engine":
        missing = sorted(set(kinds) - set(engine_ops()))
        if missing:
            raise ExportError(
                f"the generated engine has no {', '.join(missing)} ({path}; it runs {', '.join(engine_ops())}): "
                f"`--runtime tflm` runs this model under TensorFlow Lite Micro + CMSIS-NN"
            )
    sha = hashlib.sha256(data).hexdigest()
    export_dir = inputs.cache_dir / f"{inputs.model_name}-{sha[:16]}"
    if not (export_dir / "manifest.json").is_file():
        export_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(export_dir / INT8_NAME, data)
        tensor = lambda t: TensorInfo(t.name, tuple(t.shape), t.dtype, *t.quant)  # noqa: E731
        Manifest(
            model=inputs.model_name,
            weights=str(path),
            random_weights=False,
            seed=0,
            frontend=spec.frontend,
            window_samples=spec.window_samples,
            input_affine=(1.0, 0.0),
            input=tensor(inp),
            output=tensor(out),
            ops=tuple(kinds),
            sha256=sha,
            sizes={"int8_tflite_bytes": len(data)},
        ).save(export_dir / "manifest.json")
    log(f"{path}: full-integer int8, {len(kinds)} ops ({', '.join(sorted(set(kinds)))}), {inputs.model}'s input")
    data, manifest = load_export(export_dir)
    return Int8Export(export_dir, data, None, manifest, 0, _tflm_arena(export_dir, data))


def write_engine(
    inputs: ProjectInputs, export: Int8Export, project: Path, log: Callable[[str], None] = _stderr
) -> BoardEngine:
    """Step 3: the engine in ``project/src`` for the board's RAM (``generate_board_engine``) and
    ``project/engine_report.txt``."""
    from edgel3_mote.export.frontend_tables import scratch_bytes

    manifest = export.manifest
    engine, ram_budget, serial_skipped = generate_board_engine(
        export.int8,
        project / "src",
        inputs.board,
        manifest.window_samples,
        model_name=manifest.model,
        streaming=inputs.streaming,
        frontend_scratch_bytes=scratch_bytes(manifest.frontend),
        w16_flash_bytes=_w16_flash_bytes(inputs.board, manifest, len(inputs.clips), inputs.classifier),
    )
    if serial_skipped:
        log(f"WARNING: {serial_skipped}")
    weights = _weights_in_flash(engine, export.int8)
    log(
        f"engine: arena {engine.arena_bytes:,} B of the {ram_budget:,} B RAM budget, weights {weights} "
        f"— every layer and buffer in engine_report.txt"
    )
    (project / "engine_report.txt").write_text(_engine_report(engine, ram_budget))
    return BoardEngine(engine, ram_budget, serial_skipped, weights)


def tflm_ram_need(board: BoardSpec, arena_bytes: int, scratch: int) -> int:
    """RAM the TFLM self-test needs at least: the arena, the front-end's static scratch, the stack and
    the apps' statics."""
    return arena_bytes + scratch + board.stack_size + APP_RESERVE_BYTES


def check_tflm_fits(inputs: ProjectInputs, export: Int8Export) -> int:
    """The TFLM arena the project will declare (``tflm_runtime.tflm_arena_plan``), after refusing -- before any
    generation or compiling -- a board whose RAM cannot hold it, with both figures (and the engine's way out)."""
    from edgel3_mote.export.frontend_tables import scratch_bytes
    from edgel3_mote.export.ir import read_tflite
    from edgel3_mote.export.tflm_runtime import tflm_arena_plan, unsupported_ops

    graph = read_tflite(export.int8, supported=None)
    missing = unsupported_ops(op.kind for op in graph.ops)
    if missing:
        raise ExportError(f"the TFLM runtime cannot register {', '.join(missing)} (export/tflm_runtime.py OPS)")
    if export.tflm_arena_bytes is None:
        raise ExportError(f"{export.manifest.model} does not load in the tflite-micro wheel: TFLM cannot run it")
    board = inputs.board
    arena = tflm_arena_plan(export.tflm_arena_bytes, graph)
    need = tflm_ram_need(board, arena, scratch_bytes(export.manifest.frontend))
    if need > board.ram_size:
        raise ExportError(
            f"{export.manifest.model} under TFLite Micro does not fit {board.name}: its arena is {arena:,} bytes "
            f"(arena_used_bytes {export.tflm_arena_bytes:,} on the host + CMSIS-NN scratch + alignment), "
            f"{need:,} bytes of RAM with the stack and statics, and the board has {board.ram_size:,}; "
            f"use the generated engine (leave out --runtime tflm), or a board with more RAM"
        )
    return arena


def write_tflm(
    inputs: ProjectInputs, export: Int8Export, project: Path, log: Callable[[str], None] = _stderr
) -> BoardEngine:
    """Step 3 for ``runtime="tflm"``: the TFLM runtime in ``project`` (``tflm_runtime.write_tflm_runtime``),
    after ``check_tflm_fits``; the serial app is skipped (with the reason) when the arena leaves no room
    for its PCM window."""
    from edgel3_mote.export.frontend_tables import scratch_bytes
    from edgel3_mote.export.tflm_runtime import write_tflm_runtime

    board, manifest = inputs.board, export.manifest
    check_tflm_fits(inputs, export)
    assert export.tflm_arena_bytes is not None  # check_tflm_fits
    scratch = scratch_bytes(manifest.frontend)
    runtime = write_tflm_runtime(
        export.int8, project, board, export.tflm_arena_bytes, scratch, model_name=manifest.model
    )
    need = tflm_ram_need(board, runtime.arena_bytes, scratch) + 2 * manifest.window_samples
    skipped = None
    if need > board.ram_size:
        skipped = (
            f"the serial app (firmware.elf) does not fit {board.name} under TFLM: the {runtime.arena_bytes:,}-byte "
            f"arena, its {2 * manifest.window_samples:,}-byte PCM window, the stack and statics need {need:,} of "
            f"{board.ram_size:,} bytes of RAM; only selftest.elf is built"
        )
        log(f"WARNING: {skipped}")
    log(
        f"TFLM runtime of {manifest.model}: {len(runtime.ops)} operators ({', '.join(sorted(set(runtime.ops)))}), "
        f"arena {runtime.arena_bytes:,} bytes (wheel's arena_used_bytes {runtime.host_arena_bytes:,}), "
        f"TFLM objects cached in {runtime.build.obj_dir}"
    )
    ram_budget = board.ram_size - board.stack_size - APP_RESERVE_BYTES
    return BoardEngine(runtime, ram_budget, skipped, f"{runtime.weight_bytes:,} B in flash (the .tflite)")


def write_frontend_tables(manifest: Manifest, src: Path) -> None:
    """Step 4: the front-end tables (``em_frontend_tables.h/.c``) for the export's front-end and input quantisation."""
    from edgel3_mote.export.frontend_tables import generate_frontend_tables

    generate_frontend_tables(
        manifest.frontend, manifest.input_affine, manifest.input_quant, src, manifest.window_samples
    )


def write_selftest_vectors(
    inputs: ProjectInputs,
    export: Int8Export,
    engine: BoardEngine,
    project: Path,
    log: Callable[[str], None] = _stderr,
) -> SelftestVectors:
    """Step 5: ``src/selftest_vectors.h/.c`` -- as many real-clip windows as fit in flash
    (``vector_counts``), with the tflite-micro int8 and the float model's embeddings; with a
    classifier, the head's engine and expected logits too (``project_head.add_head``)."""
    manifest, src = export.manifest, project / "src"
    n_vectors, n_pcm = vector_counts(inputs.board, manifest, engine.engine.weight_bytes, len(inputs.clips))
    names, pcm, source = _vector_windows(inputs.clips, manifest, export.seed, n_vectors)
    if not inputs.clips:
        log(f"NOTE: self-test vectors are {source}")
    log(f"self-test vectors: {len(names)} (the first {min(n_pcm, len(names))} with their PCM window)")
    vec = _selftest_vectors(manifest, export.int8, export.float_tflite, names, pcm)
    vec["n_pcm"] = min(n_pcm, len(names))
    head = None
    if inputs.classifier is not None:
        from edgel3_mote.export.project_head import add_head

        head = add_head(
            inputs.classifier,
            export.export_dir,
            export.int8,
            manifest,
            inputs.calibration,
            vec,
            project,
            src,
            engine.ram_budget - engine.engine.arena_bytes,
            inputs.board,
            export.seed,
            log,
        )
    for i, v in enumerate(vec["vectors"]):
        v["pcm"] = _c_rows(v["pcm"]) if i < vec["n_pcm"] else None
        v["spectrogram"] = _c_rows(v["spectrogram"])
        v["embedding_s8"] = ", ".join(str(int(e)) for e in v["embedding_s8"])
        v["embedding_f32"] = ", ".join(c_float(e) for e in v["embedding_f32"])
    ctx = dict(
        vec,
        model=manifest.model,
        vector_source=source,
        n=len(names),
        random_weights=export.random_weights,
        seed=export.seed,
        head=head,
    )
    env = _template_env()
    _render(env, "selftest_vectors.h", src / "selftest_vectors.h", **ctx)
    _render(env, "selftest_vectors.c", src / "selftest_vectors.c", **ctx)
    return SelftestVectors(names, source, vec["n_pcm"], head)


def write_project_files(
    inputs: ProjectInputs, export: Int8Export, engine: BoardEngine, vectors: SelftestVectors, project: Path
) -> tuple[ProjectInfo, list[str]]:
    """Step 6: the standalone project around ``src/``: the firmware C (``_copy_firmware``), the export,
    the Makefile and README. Returns the project's info (no ELFs yet) and the make targets."""
    tflm = inputs.runtime == "tflm"
    common, serial = _copy_firmware(inputs.board, project, inputs.runtime)
    if tflm:
        from edgel3_mote.export.tflm_runtime import tflm_make_context

        common += engine.engine.sources
    if vectors.head is not None:
        common += [f"src/{name}" for name in vectors.head["sources"]]
    shutil.copytree(export.export_dir, project / "export")
    targets = ["selftest.elf"] + (["firmware.elf"] if serial and engine.serial_skipped is None else [])
    e = engine.engine
    info = ProjectInfo(
        inputs.board.name,
        inputs.model_name,
        inputs.out_dir,
        export.random_weights,
        export.seed if export.random_weights else None,
        str(inputs.weights) if inputs.weights else (str(inputs.tflite) if inputs.tflite else None),
        e.arena_bytes,
        e.unstreamed_arena_bytes,
        export.tflm_arena_bytes,
        e.weight_bytes,
        head=vectors.head and vectors.head["summary"],
        serial_app_skipped=engine.serial_skipped,
        runtime=inputs.runtime,
    )
    ctx = dict(
        board=inputs.board,
        model=inputs.model_name,
        weights=info.weights,
        random_weights=export.random_weights,
        seed=export.seed,
        weights_line=info.weights_line,
        cpu_flags=" ".join(inputs.board.cflags()),
        opt_flags=" ".join(OPT_FLAGS),
        link_flags=" ".join(LINK_FLAGS),
        common_sources=common,
        serial_sources=serial,
        targets=targets,
        arena_bytes=e.arena_bytes,
        unstreamed_arena_bytes=e.unstreamed_arena_bytes,
        weight_bytes=e.weight_bytes,
        weights_in_flash=engine.weights_in_flash,
        tflm_arena=f"{export.tflm_arena_bytes:,} bytes" if export.tflm_arena_bytes else "n/a",
        n_vectors=len(vectors.names),
        vector_source=vectors.source,
        head=vectors.head,
        serial_skipped=engine.serial_skipped,
        tflm=tflm_make_context(engine.engine.build, inputs.board) if tflm else None,
    )
    env = _template_env()
    _render(env, "Makefile", project / "Makefile", **ctx)
    _render(env, "README.md", project / "README.md", **ctx)
    return info, targets


def build_project(
    inputs: ProjectInputs, project: Path, targets: list[str], info: ProjectInfo, log: Callable[[str], None] = _stderr
) -> None:
    """Step 7: ``make`` the targets (firmware.elf optional unless ``require_serial``); record each
    ELF and its flash/RAM use against the board's limits in ``info``."""
    built = _make(project, inputs.board, targets, () if inputs.require_serial else ("firmware.elf",), log)
    for t in built:
        use = elf_memory_usage(project / t, inputs.board)
        info.memory[t.removesuffix(".elf")] = use.to_dict()
        info.elfs[t.removesuffix(".elf")] = t
        board = inputs.board
        log(
            f"built {t}: flash {use.flash_bytes:,} / {board.flash_size:,} B, RAM {use.ram_bytes:,} / "
            f"{board.ram_size:,} B (incl. {use.stack_bytes:,} stack)"
        )


def write_project_json(
    inputs: ProjectInputs,
    export: Int8Export,
    engine: BoardEngine,
    vectors: SelftestVectors,
    info: ProjectInfo,
    project: Path,
    targets: list[str],
) -> None:
    """Step 8: ``project.json`` -- the info, the inputs and their hash (what makes a rerun a no-op), the
    export's and engine's summaries and the ELFs' sha256."""
    manifest = export.manifest
    doc = {
        **asdict(info),
        "project_dir": str(inputs.out_dir),
        "inputs_sha256": inputs.key,
        "inputs": inputs.digest,
        "board_spec": inputs.board.to_dict(),
        "weights_line": info.weights_line,
        "export": {"sha256": manifest.sha256, "sizes": dict(manifest.sizes), "ops": list(manifest.ops)},
        "engine": engine.engine.to_dict()
        | ({"files": [Path(f).name for f in engine.engine.files]} if inputs.runtime == "engine" else {}),
        "ram_budget": engine.ram_budget,
        "vectors": {"source": vectors.source, "names": vectors.names, "with_pcm": vectors.n_pcm},
        "sha256": {t: sha256_file(project / t) for t in targets if (project / t).is_file()},
    }
    (project / "project.json").write_text(json.dumps(doc, indent=2, default=str) + "\n")


def build_firmware_project(
    board: str | BoardSpec,
    model: Any = "sea-64",
    weights: str | Path | None = None,
    clips: Any = None,
    out_dir: str | Path | None = None,
    seed: int = 0,
    build: bool = True,
    *,
    streaming: str = "auto",
    calibration: Any = None,
    force: bool = False,
    cache_dir: str | Path | None = None,
    require_serial: bool = True,
    classifier: str | Path | None = None,
    runtime: str = "engine",
    tflite: str | Path | None = None,
    log: Callable[[str], None] = _stderr,
) -> ProjectInfo:
    """Generate (and build) the standalone firmware project; the arguments are :class:`ProjectRequest`'s.

    The composition of the steps (see the module docstring): resolve_inputs -> (up_to_date_project)
    -> export_int8 -> write_engine -> write_frontend_tables -> write_selftest_vectors ->
    write_project_files -> build_project -> write_project_json, all in a temporary folder renamed
    to the output folder only when every step succeeded.
    """
    inputs = resolve_inputs(
        ProjectRequest(
            board,
            model,
            weights,
            clips,
            out_dir,
            seed,
            build,
            streaming,
            calibration,
            force,
            cache_dir,
            require_serial,
            classifier,
            runtime,
            tflite,
        )
    )
    reused = up_to_date_project(inputs, log)
    if reused is not None:
        return reused
    log = StepLog(log)  # one line per step on screen; with TensorFlow's chatter in export.log
    with collecting(log.chatter):
        return _build(inputs, log)


def _build(inputs: ProjectInputs, log: StepLog) -> ProjectInfo:
    export = export_int8(inputs, log)
    if inputs.runtime == "tflm":
        check_tflm_fits(inputs, export)  # before anything is written or compiled
    with atomic_dir(inputs.out_dir, "export firmware", legacy=PROJECT_LEGACY) as tmp:
        (tmp / "src").mkdir()
        engine = (
            write_tflm(inputs, export, tmp, log) if inputs.runtime == "tflm" else write_engine(inputs, export, tmp, log)
        )
        write_frontend_tables(export.manifest, tmp / "src")
        vectors = write_selftest_vectors(inputs, export, engine, tmp, log)
        info, targets = write_project_files(inputs, export, engine, vectors, tmp)
        info.weights_in_flash = engine.weights_in_flash
        if inputs.build:
            build_project(inputs, tmp, targets, info, log)
        write_project_json(inputs, export, engine, vectors, info, tmp, targets)
        (tmp / "export.log").write_text(log.text())
    info.elfs = {k: str(inputs.out_dir / v) for k, v in info.elfs.items()}
    e = engine.engine
    if inputs.runtime == "tflm":
        log(
            f"wrote {inputs.out_dir}: TFLite Micro + CMSIS-NN, arena {e.arena_bytes:,} B, the .tflite "
            f"({e.weight_bytes:,} B) in flash; {info.weights_line}"
        )
        return info
    log(
        f"wrote {inputs.out_dir}: arena {e.arena_bytes:,} B (unstreamed {e.unstreamed_arena_bytes:,} B, "
        f"TFLite Micro {export.tflm_arena_bytes or 'n/a'} B), weights {engine.weights_in_flash}; "
        f"{info.weights_line}"
    )
    return info


def _check_replacing(out_dir: Path, old: dict, inputs: dict, log: Callable[[str], None]) -> None:
    """A rebuild may follow new code, clips or options; it never silently swaps a trained model on a board."""
    before = old.get("inputs", {})
    changed = [k for k in ("model", "weights", "classifier") if before.get(k) != inputs.get(k)]
    if not changed:
        return
    if old.get("random_weights", True):
        log(f"{out_dir}: replacing its RANDOM-weights build ({', '.join(changed)} changed)")
        return
    raise InvalidInputError(
        f"{out_dir} holds a build of {old.get('model')} with trained weights {old.get('weights')}; "
        f"this run differs in {', '.join(changed)} and would replace it: pass the same --weights "
        f"(and --classifier) to reuse it, {OUTPUT_FLAG} for a second project, or --force to replace it"
    )


def _info_from_json(doc: dict, out_dir: Path, reused: bool) -> ProjectInfo:
    info = ProjectInfo(
        doc["board"],
        doc["model"],
        out_dir,
        doc["random_weights"],
        doc["seed"],
        doc["weights"],
        doc["arena_bytes"],
        doc["unstreamed_arena_bytes"],
        doc["tflm_arena_bytes"],
        doc["weight_bytes"],
        {k: str(out_dir / v) for k, v in doc["elfs"].items()},
        doc["memory"],
        reused,
        doc.get("head"),
        doc.get("serial_app_skipped"),
        doc.get("runtime", "engine"),
        doc.get("weights_in_flash") or f"{doc['weight_bytes']:,} B in flash",
    )
    return info


def load_project(project_dir) -> ProjectInfo:
    """The ProjectInfo of an already generated project directory."""
    pj = Path(project_dir) / "project.json"
    if not pj.is_file():
        raise InvalidInputError(
            f"{project_dir} is not a generated project (no project.json): run edgel3-mote export firmware first"
        )
    return _info_from_json(json.loads(pj.read_text()), Path(project_dir), reused=True)
