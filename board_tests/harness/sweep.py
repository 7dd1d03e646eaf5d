"""``edgel3-mote sweep``: EdgeL3's prune + distil recipe on SEA-64 as a measured trade-off table.

For each sparsity (default 0 50 70 80 90 95 %) the sweep runs the whole data flow and measures
every column itself:

1. compress: prune the student to the sparsity in every conv and distil it from the dense teacher
   (SEA-64, real weights) through the typed API ``compress.retrain.api`` (``DistillConfig`` ->
   ``run_distillation``: masked student, resumable, training crops balanced over the corpus'
   packages, the best epoch by validation cosine restored). With ``chain`` (the default) the
   student is the previous (less sparse) point's distilled student pruned further (iterative
   pruning: its zeros stay zero, the mask only grows); with ``--no-chain`` it is the teacher,
   one-shot pruned. The 0 % point is the teacher itself: the row to beat. The student is saved as a
   plain SEA-64 ``model.h5``.
2. export + firmware: the int8 model (calibrated on 16 files spread over the training audio) and
   the generated firmware project for ``--board``; the engine's per-layer weight storage
   (dense / w16 / sparse) and the flash each takes, from the project.
3. validation cosine to the teacher on the distillation's validation crops (the same number from
   every validation source, never trained on): the mean over sources of each source's mean (and
   every source's value), float student and the firmware's own int8 model under tflite-micro.
4. downstream accuracy: the EdgeL3 MLP protocol (cross-validated) on a labelled set -- the ESC-50
   layout of ``tools/make_labelled_benchmark.py`` (or ESC-50), or a folder per class -- with the
   float student's and the firmware int8 model's embeddings: mean over folds, 95 % bootstrap
   interval over source recordings, majority-class baseline. The device column is the int8 one
   where the bench (5.) found the mote's embeddings identical to tflite-micro's for every window.
5. the mote: the serial bench in QEMU (``run_bench``): device embeddings vs tflite-micro (must be
   100 % identical), instructions per window, flash and RAM of the ELF, and (``cycles``, the
   default) the estimated cycles of the first window from its traced instruction stream and the
   core's timing tables (``bench.window_cycles``, as ``edgel3-mote bench`` does it) and the
   real-time factor at the board's clock.

One row per point (``points/s<N>/row.json``, written last: a rerun skips finished points and
resumes an interrupted distillation from its checkpoints), then ``sweep.json``, ``sweep.md`` and
``sweep.png`` (validation cosine, and accuracy with its interval against the teacher's, vs flash);
``sweep.json`` names the commit whose code measured it. Instructions are not cycles: the
cycle columns come from the stated model of ``harness/cycles.py`` (zero wait states), or stay
empty with ``cycles=False``.

The sweep sits at the harness end of the data flow: it imports compress and export, never the
other way round.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np

from edgel3_mote.errors import InvalidInputError

MODEL = "sea-64"
DEFAULT_SPARSITIES = (0.0, 50.0, 70.0, 80.0, 90.0, 95.0)
COLUMNS = (
    "sparsity",
    "nonzero_weights",
    "val_cosine_float",
    "val_cosine_int8",
    "accuracy_float",
    "accuracy_float_ci95",
    "accuracy_int8",
    "accuracy_int8_ci95",
    "accuracy_device",
    "accuracy_device_ci95",
    "majority_baseline",
    "flash_bytes",
    "ram_bytes",
    "instructions_per_window",
    "device_identical_percent",
    "cycles_per_window",
    "real_time_factor",
    "real_time",
    "energy_mj_per_window",
    "engine_formats",
    "weight_flash_by_format",
)


@dataclasses.dataclass
class SweepConfig:
    teacher_weights: Path
    train_audio: Sequence[str] | Mapping[str, Sequence[str]]  # files / folders, or {package: files} (corpus train)
    val_audio: Sequence[str] | Mapping[str, Sequence[str]]  # the same for validation (other sources)
    eval_set: Path  # labelled set: ESC-50 layout (tools/make_labelled_benchmark.py) or folder per class
    bench_clips: Path  # clips streamed to the mote
    sparsities: Sequence[float] = DEFAULT_SPARSITIES
    board: str = "qemu-mps2-an386"
    epochs: int = 30
    crops_per_epoch: int = 4096
    batch_size: int = 64
    learning_rate: float = 1e-3
    pruning: str = "one-shot"
    val_crops: int = 1024
    eval_folds: int = 3  # a folder-per-class set only (an ESC-50 layout has its folds)
    eval_epochs: int = 150
    eval_hop: float = 0.1  # embedding hop of the downstream protocol (EdgeL3/openl3: 0.1 s)
    patience: int = 10  # distillation early stopping on the validation cosine
    bench_max_windows: int | None = 4
    bench_hop: float = 0.5
    audio_cache: Path = Path.home() / ".cache" / "edgel3-mote" / "audio"
    seed: int = 0
    chain: bool = True  # each point starts from the previous point's student (iterative pruning)
    cycles: bool = True  # estimated cycles per window (traced first window, core timing tables)

    def check(self) -> None:
        if not self.sparsities:
            raise InvalidInputError("give at least one sparsity")
        for s in self.sparsities:
            if not 0 <= s < 100:
                raise InvalidInputError(f"sparsity {s} is not a percentage in [0, 100)")
        for what, path in (
            ("--teacher-weights", self.teacher_weights),
            ("--eval-set", self.eval_set),
            ("--bench-clips", self.bench_clips),
        ):
            if not Path(path).exists():
                raise InvalidInputError(f"{what} {path} could not be found: check the path")
        from edgel3_mote.board_tests.harness.bench import find_clips

        try:  # a folder without audio is an error now, not after the first distillation
            find_clips(self.bench_clips)
        except InvalidInputError:
            raise InvalidInputError(
                f"--bench-clips {self.bench_clips} holds no audio clips: give a folder of "
                f"a few real recordings (e.g. ../shared/audio/cc0_animals)"
            ) from None
        if not self.train_audio or not self.val_audio:
            raise InvalidInputError(
                "the sweep needs training and validation audio: --corpus MANIFEST, or --clips and --val-clips"
            )
        if self.chain and self.pruning != "one-shot":
            raise InvalidInputError(
                "--chain (the default) prunes each point's student further one-shot: "
                "pass --no-chain with --pruning gradual"
            )
        if self.cycles:  # a missing tool fails now, not after the first distillation
            import capstone  # noqa: F401

            from edgel3_mote.board_tests.harness.cycles import build_plugin

            build_plugin()


def audio_groups(audio: Sequence[str] | Mapping[str, Sequence[str]], each: bool) -> dict[str, list[str]]:
    """Audio as named groups: a mapping as it is (a corpus' packages); a list: every path its own
    group (``each``: validation sources) or one group."""
    if isinstance(audio, Mapping):
        return {str(k): [str(f) for f in v] for k, v in audio.items()}
    from edgel3_mote.compress.retrain.api import groups_from_paths

    return groups_from_paths(list(audio), each)


def load_eval_set(cfg: SweepConfig):
    """The labelled set: the ESC-50 layout (``meta/esc50.csv``: the labelled benchmark, ESC-50) with
    its folds and sources, else a folder per class (``eval_folds`` folds)."""
    from edgel3_mote.compress.evaluate.datasets import load_dataset

    if (Path(cfg.eval_set) / "meta" / "esc50.csv").is_file():
        return load_dataset("esc50", cfg.eval_set)
    return load_dataset("folder", cfg.eval_set, cfg.eval_folds)


def git_commit(repo: Path | None = None) -> str:
    """The commit of the code that measures (``+dirty`` when the tree has uncommitted changes)."""
    import subprocess

    repo = repo or Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo, capture_output=True, text=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return head + ("+dirty" if dirty else "")


def point_dir(out: Path, sparsity: float) -> Path:
    return Path(out) / "points" / f"s{sparsity:g}"


def previous_point(cfg: SweepConfig, sparsity: float) -> float | None:
    """The sweep point a ``chain`` point starts from: the next less sparse one (None: the teacher)."""
    below = sorted(s for s in set(float(s) for s in cfg.sparsities) if s < sparsity)
    return below[-1] if below else None


def run_sweep(cfg: SweepConfig, out: str | Path, log: Callable[[str], None] = print) -> dict:
    """Run (or resume) every point; write sweep.json, sweep.md, sweep.png; return the table."""
    from tqdm import tqdm

    from edgel3_mote.compress.retrain import rundir

    cfg.check()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for sparsity in tqdm(sorted(set(float(s) for s in cfg.sparsities)), desc="sweep points", unit="point"):
        row_path = point_dir(out, sparsity) / "row.json"
        if row_path.exists():
            log(f"sparsity {sparsity:g} %: done before ({row_path})")
            rows.append(rundir.read_json(row_path))
            continue
        start = None
        if cfg.chain and previous_point(cfg, sparsity) is not None:
            start = point_dir(out, previous_point(cfg, sparsity)) / "model.h5"  # written before its row
        row = run_point(cfg, sparsity, point_dir(out, sparsity), start, log)
        rundir.write_json(row_path, row)
        rows.append(row)
    ds = load_eval_set(cfg)
    table = {
        "schema": "edgel3-mote-sweep/2",
        "commit": git_commit(),
        "model": MODEL,
        "board": cfg.board,
        "teacher_weights": str(cfg.teacher_weights),
        "columns": list(COLUMNS),
        "rows": rows,
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in dataclasses.asdict(cfg).items()},
        "eval_set": {
            "path": str(cfg.eval_set),
            "name": "labelled benchmark" if (Path(cfg.eval_set) / "manifest.json").is_file() else ds.name,
            "classes": ds.classes,
            "clips": len(ds.clips),
        },
        "val_sources": list(audio_groups(cfg.val_audio, each=True)),
        "instructions_note": "QEMU -icount instructions per window (front-end + engine), not cycles",
        "accuracy_note": "EdgeL3 MLP protocol, cross-validated over the labelled set's folds; mean over test "
        "folds with a 95 % percentile bootstrap interval over source recordings (pooled test clips); the "
        "device column is the int8 column where the bench found the mote's embeddings identical to "
        "tflite-micro's for every window (device = TFLM 100 %), else empty",
        "val_cosine_note": "cosine to the dense teacher on the same number of fixed crops of every validation "
        "source, mean over sources of each source's mean (per source: rows' val_cosine_per_package)",
        "cycles_note": "Cycles of the first bench window: its traced instructions timed with the core's tables "
        "(harness/cycles.py) and its traced flash traffic charged by the board's memory model "
        "(export/memory_model.py): zero-wait, memory-aware estimate and upper bound; cycles_per_window and "
        "the real-time factor (window length / time at the chip's clock) are the upper bound's, the verdict "
        "is decided on it; energy per window (mJ, 1-s hop) at the datasheet run current on the bound",
    }
    rundir.write_json(out / "sweep.json", table)
    from edgel3_mote.atomic import atomic_write_text

    atomic_write_text(out / "sweep.md", render_markdown(table))
    plot_pareto(table, out / "sweep.png")
    return table


def run_point(cfg: SweepConfig, sparsity: float, point: Path, start: Path | None = None, log=print) -> dict:
    """One row: distil (resumable), save the plain model, firmware, parity/cosines, accuracy, bench.

    ``start``: a plain model file to prune further and distil (``chain``); None: the dense teacher."""
    from edgel3_mote.compress.pruning import layerwise
    from edgel3_mote.compress.pruning.masked import unmasked_copy
    from edgel3_mote.compress.retrain import rundir
    from edgel3_mote.export.embedders import FloatEmbedder

    point.mkdir(parents=True, exist_ok=True)
    model_file = point / "model.h5"
    distill_summary = None
    if sparsity > 0:
        distill_summary = _distill(cfg, sparsity, point / "distill", start, log)
        student = rundir.load_model(point / "distill" / "model.h5")
    else:
        from edgel3_mote.compress.models.registry import build_model

        student = build_model(MODEL, weights=str(cfg.teacher_weights))
    if not model_file.exists():
        rundir.save_model(unmasked_copy(student) if _is_masked(student) else student, model_file)
    rows = layerwise.layer_sparsity(student)

    setup, elf = _firmware(cfg, model_file, point / "project", log)
    val, val_index, val_names = _val_frames(cfg)
    cosines = _val_cosines(cfg, setup, val, val_index, val_names)
    float_embedder = FloatEmbedder(MODEL, str(model_file), cfg.eval_hop, cfg.seed)
    nonzero = int(float_embedder.describe()["nonzero_weights"])  # conv/dense kernels and biases of the model file
    accuracy = _downstream_accuracy(cfg, float_embedder, setup, point / "eval", log)
    bench = _bench(cfg, setup, elf, point / "bench", log)
    s = bench["summary"]
    row = {
        "sparsity": sparsity,
        "conv_sparsity_measured": layerwise.total_sparsity(rows),
        "nonzero_weights": nonzero,
        "val_cosine_float": cosines["float"],
        "val_cosine_int8": cosines["int8"],
        "val_cosine_per_package": cosines["per_package"],
        "val_windows": int(len(val)),
        "accuracy_float": accuracy["float"]["accuracy_mean"],
        "accuracy_float_ci95": accuracy["float"]["accuracy_ci95"],
        "accuracy_int8": accuracy["int8"]["accuracy_mean"],
        "accuracy_int8_ci95": accuracy["int8"]["accuracy_ci95"],
        "accuracy_device": None,
        "accuracy_device_ci95": None,
        "majority_baseline": accuracy["float"]["majority_baseline"],
        "accuracy_folds": {k: v["accuracy_per_fold"] for k, v in accuracy.items()},
        "flash_bytes": int(setup.memory["flash_bytes"]),
        "ram_bytes": int(setup.memory["ram_bytes"]),
        "instructions_per_window": float(s["total_ticks_mean"]),
        "frontend_instructions": float(s["frontend_ticks_mean"]),
        "engine_instructions": float(s["engine_ticks_mean"]),
        "ticks_unit": bench["ticks_unit"],
        "device_identical_percent": float(s["int8_exact_percent"]),
        "bench_windows": int(s["windows"]),
        "cycles_per_window": None,
        "real_time_factor": None,
        "real_time": None,
        "energy_mj_per_window": None,  # boards with a power model (export/memory_model.py)
        **engine_formats(setup),
        "distill": None
        if distill_summary is None
        else {
            "epochs_run": distill_summary["epochs_run"],
            "best_epoch": distill_summary.get("best_epoch"),
            "restored_best": distill_summary.get("restored_best"),
            "stopped_early": distill_summary.get("stopped_early"),
            "start": "teacher" if start is None else str(start),
            "val_cosine_before": distill_summary["before"]["val"].get(
                "cosine_balanced", distill_summary["before"]["val"]["cosine_mean"]
            ),
            "val_cosine_after": distill_summary["after"]["val"].get(
                "cosine_balanced", distill_summary["after"]["val"]["cosine_mean"]
            ),
        },
        "model_file": str(model_file),
        "project": setup.project_dir,
        "bench_json": str(point / "bench" / "bench.json"),
    }
    if row["device_identical_percent"] == 100.0:  # the mote computes the int8 embeddings bit for bit
        row["accuracy_device"], row["accuracy_device_ci95"] = row["accuracy_int8"], row["accuracy_int8_ci95"]
    row.update(cycle_columns(bench.get("cycles")))
    return row


def cycle_columns(cycles: dict | None) -> dict:
    """A row's cycle columns from the bench's traced window (``bench.window_cycles``): zero-wait, memory-aware
    estimate and upper bound per window, the real-time factor and verdict on the upper bound (on boards
    without a memory model: on the zero-wait cycles, and the row says so), energy per window on the bound."""
    if cycles is None:
        return {}
    out = {
        "cycles_instructions_match_ticks": bool(cycles["instructions_match_ticks"]),
        "cycles_zero_wait": int(cycles["total"]["cycles"]),
        "real_time_factor_zero_wait": float(cycles["real_time_factor_zero_wait"]),
    }
    memory = cycles.get("memory")
    if memory is None:
        return out | {
            "cycles_per_window": out["cycles_zero_wait"],
            "real_time_factor": out["real_time_factor_zero_wait"],
            "real_time": bool(cycles["real_time_zero_wait"]),
            "cycles_basis": "zero_wait",
        }
    window = memory["window"]
    out |= {
        "cycles_estimate": int(window["estimate"]),
        "cycles_upper_bound": int(window["upper_bound"]),
        "cycles_per_window": int(window["upper_bound"]),
        "real_time_factor": float(memory["real_time_factor"]["upper_bound"]),
        "real_time": bool(cycles["real_time"]),
        "cycles_basis": "upper_bound",
        "cycles_clock_hz": int(memory["clock_hz"]),
    }
    energy = cycles.get("energy")
    if energy is not None:
        out["energy_mj_per_window"] = float(energy["figures"]["upper_bound"]["energy_per_window_mj"])
        out["energy_mj_per_window_estimate"] = float(energy["figures"]["estimate"]["energy_per_window_mj"])
    return out


def _is_masked(model) -> bool:
    from edgel3_mote.compress.pruning.masked import MaskedConv2D

    return any(isinstance(layer, MaskedConv2D) for layer in model.layers)


def distill_config(cfg: SweepConfig, sparsity: float, run: Path, start: Path | None):
    """The point's :class:`~edgel3_mote.compress.retrain.api.DistillConfig`: the student (the teacher,
    or ``start`` with ``chain``) pruned to ``sparsity`` and distilled from the dense teacher on
    balanced random crops of the training audio, validated per source."""
    from edgel3_mote.compress.retrain.api import DistillConfig

    return DistillConfig(
        teacher=MODEL,
        output=run,
        train_audio=audio_groups(cfg.train_audio, each=False),
        val_audio=audio_groups(cfg.val_audio, each=True),
        teacher_weights=Path(cfg.teacher_weights),
        student=None if start is None else str(start),
        student_sparsity=sparsity,
        pruning=cfg.pruning,
        crops_per_epoch=cfg.crops_per_epoch,
        val_crops=cfg.val_crops,
        audio_cache=Path(cfg.audio_cache),
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        learning_rate=cfg.learning_rate,
        patience=cfg.patience,
        seed=cfg.seed,
        tensorboard=False,
    )


def _distill(cfg: SweepConfig, sparsity: float, run: Path, start: Path | None, log) -> dict:
    from edgel3_mote.compress.retrain import rundir
    from edgel3_mote.compress.retrain.api import run_distillation

    if (run / "summary.json").exists():
        return rundir.read_json(run / "summary.json")
    if start is not None and not Path(start).is_file():
        raise InvalidInputError(
            f"the chained {sparsity:g} % point starts from {start}, which is missing: rerun the sweep "
            f"with the less sparse point in --sparsities (it is rebuilt first), or leave out --chain"
        )
    log(f"distilling the {sparsity:g} % point into {run}")
    result = run_distillation(distill_config(cfg, sparsity, run, start), log=log, argv=[])
    assert result is not None  # the sweep runs single-worker: it is the chief
    return result.summary


def _firmware(cfg: SweepConfig, model_file: Path, project: Path, log):
    from edgel3_mote.board_tests.harness.deploy import resolve_deployment
    from edgel3_mote.export.boards import get_board
    from edgel3_mote.export.project import build_firmware_project

    build_firmware_project(
        get_board(cfg.board),
        MODEL,
        weights=str(model_file),
        clips=str(cfg.bench_clips),
        calibration=calibration_files(cfg),
        out_dir=project,
        seed=cfg.seed,
        log=log,
    )
    return resolve_deployment(cfg.board, MODEL, str(model_file), project=str(project), need_elf=True, log=log)


def calibration_files(cfg: SweepConfig, n: int = 16) -> list[str]:
    """int8 calibration audio: ``n`` files spread evenly over the training audio (what the model saw);
    with a corpus' packages, taken in turn from every package so each is represented."""
    from edgel3_mote.compress.audio import find_audio_files

    groups = [
        [str(p) for p in find_audio_files(files, what="training audio")]
        for files in audio_groups(cfg.train_audio, each=False).values()
    ]
    quota = [0] * len(groups)  # n shared in turn among the packages that still have files
    while sum(quota) < n and any(q < len(g) for q, g in zip(quota, groups)):
        for k, g in enumerate(groups):
            if quota[k] < len(g) and sum(quota) < n:
                quota[k] += 1
    picked = [[g[int(i)] for i in np.linspace(0, len(g) - 1, q).round()] for g, q in zip(groups, quota) if q]
    return [f for i in range(max(quota, default=0)) for f in (g[i] for g in picked if i < len(g))]


def _val_frames(cfg: SweepConfig) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The distillation's validation crops (the same number from every validation source), as int16
    PCM, with each crop's source index and the source names."""
    from edgel3_mote.board_tests.harness.bench import to_pcm16
    from edgel3_mote.compress.retrain.api import validation_crops

    val = validation_crops(
        audio_groups(cfg.val_audio, each=True), MODEL, cfg.val_crops, Path(cfg.audio_cache), cfg.seed, progress=False
    )
    return np.stack([to_pcm16(f) for f in val.frames]), val.clip_index, list(val.paths)


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    num = np.sum(a.astype(np.float64) * b, 1)
    return num / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)


def _val_cosines(cfg: SweepConfig, setup, pcm: np.ndarray, index: np.ndarray, names: list[str]) -> dict:
    """Teacher (float) vs the point's float model and the firmware's int8 model (tflite-micro): per
    source the mean cosine, and the mean over sources (balanced)."""
    from edgel3_mote.board_tests.harness.bench import _References
    from edgel3_mote.compress.models.registry import build_model
    from edgel3_mote.compress.retrain.distill import predict

    refs = _References(setup)
    teacher = build_model(MODEL, weights=str(cfg.teacher_weights))
    x = (pcm.astype(np.float32) / np.float32(32768.0))[:, None, :]
    target = predict(teacher, x)
    int8 = np.stack([refs.dequantise(refs.embedding_int8(refs.spectrogram_int8(p))) for p in pcm])
    out: dict = {"per_package": {}}
    for numeric, emb in (("float", refs.float_embeddings(pcm)), ("int8", int8)):
        cos = _cosines(emb, target)
        per = {name: float(np.mean(cos[index == k])) for k, name in enumerate(names)}
        out[numeric] = float(np.mean(list(per.values())))
        for name, v in per.items():
            out["per_package"].setdefault(name, {})[numeric] = v
    return out


def engine_formats(setup) -> dict:
    """The engine's per-layer weight storage (project.json): each weighted layer's format, and the
    flash its weights take per format (dense / w16 / sparse)."""
    import json

    engine = json.loads((Path(setup.project_dir) / "project.json").read_text())["engine"]
    layers = [layer for layer in engine["layers"] if int(layer.get("weight_bytes", 0)) > 0]
    by_format: dict[str, int] = {}
    for layer in layers:
        by_format[layer["weight_format"]] = by_format.get(layer["weight_format"], 0) + int(layer["weight_bytes"])
    return {"engine_formats": [layer["weight_format"] for layer in layers], "weight_flash_by_format": by_format}


class FirmwareInt8Embedder:
    """Embeddings of the firmware's own int8 model on the host reference spectrogram (the device's float32
    front-end chain), for the downstream protocol: what the mote computes, window by window. The model runs
    in the host-compiled engine (bit-exact with tflite-micro, ~13x faster: tests/export/test_host_engine_speed.py),
    or in the tflite-micro interpreter where no C compiler builds it."""

    numeric = "int8"

    def __init__(self, setup, work_dir: Path, hop_size: float = 0.1):
        """``work_dir``: where the host engine is generated and built (the point's eval folder)."""
        import hashlib

        from edgel3_mote.board_tests.harness.bench import _References
        from edgel3_mote.compress.models.registry import get_spec
        from edgel3_mote.export.host_engine import int8_runner

        self.refs, self.hop_size, self.spec = _References(setup), hop_size, get_spec(setup.model)
        self.sha = hashlib.sha256(setup.tflite).hexdigest()
        self.key = f"{setup.model}-fw{self.sha[:10]}-int8-hop{hop_size:g}"
        self.runner = int8_runner(setup.tflite, Path(work_dir) / "host-engine", model_name=setup.model)

    def __call__(self, audio: np.ndarray, sr: int):
        from edgel3_mote.board_tests.harness.bench import to_pcm16
        from edgel3_mote.compress.embedding import frame_audio

        frames, ts = frame_audio(audio, sr, self.spec, center=True, hop_size=self.hop_size)
        r = self.refs
        q = [np.asarray(self.runner.invoke(r.spectrogram_int8(to_pcm16(f)))).reshape(-1) for f in frames]
        return np.stack([r.dequantise(x) for x in q]), ts

    def describe(self) -> dict:
        return {
            "key": self.key,
            "model": self.spec.name,
            "numeric": "int8",
            "tflite_sha256": self.sha,
            "int8_runner": self.runner.runner,
        }


def _downstream_accuracy(cfg: SweepConfig, float_embedder, setup, work: Path, log) -> dict:
    """EdgeL3 MLP protocol (cross-validated over the folds) on float and firmware-int8 embeddings:
    the summaries (mean over folds, 95 % interval, majority-class baseline)."""
    from edgel3_mote.compress.evaluate.extract import extract_embeddings
    from edgel3_mote.compress.evaluate.protocol import ClassifierConfig, cross_validate
    from edgel3_mote.compress.evaluate.report import accuracy_line

    ds = load_eval_set(cfg)
    clf = ClassifierConfig(epochs=cfg.eval_epochs, seed=cfg.seed)
    result = {}
    for numeric, embedder in (("float", float_embedder), ("int8", FirmwareInt8Embedder(setup, work, cfg.eval_hop))):
        emb = extract_embeddings(ds.clips, embedder, work / "cache", progress=False)
        result[numeric] = cross_validate(ds, emb, clf, ds.folds, progress=False)
        log(f"{numeric} accuracy {accuracy_line(result[numeric])} over {len(ds.folds)} folds")
    return result


def _bench(cfg: SweepConfig, setup, elf: Path, report: Path, log) -> dict:
    """The QEMU bench; with ``cfg.cycles`` the first window is traced and its cycles estimated
    (``bench.window_cycles``: the core's timing tables, as ``edgel3-mote bench`` does it)."""
    import tempfile

    from edgel3_mote.board_tests.harness.bench import cycle_trace_plugin, run_bench, window_cycles
    from edgel3_mote.board_tests.harness.bench_report import write_reports
    from edgel3_mote.board_tests.harness.deploy import open_board

    with tempfile.TemporaryDirectory(prefix="edgel3-mote-sweep-") as tmp:
        trace = Path(tmp) / "tbtrace.txt"
        plugin = cycle_trace_plugin(elf, trace, cfg.board) if cfg.cycles else None
        with open_board(setup, elf, log=log, plugin=plugin) as client:
            results = run_bench(
                client,
                setup,
                cfg.bench_clips,
                hop=cfg.bench_hop,
                layer_ticks=cfg.cycles,  # the estimate maps the traced window's layers by their ticks
                max_windows=cfg.bench_max_windows,
                progress=False,
                log=log,
            )
        if plugin:
            results["cycles"] = window_cycles(results, elf, trace)
    results["mode"] = "sweep"
    write_reports(results, report)
    return results


# --- reports -----------------------------------------------------------------------------------


def _fmt(value, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def _acc(value, ci) -> str:
    """``81.2 (77.9-84.3)``: accuracy % with its 95 % interval."""
    if value is None:
        return "n/a"
    return f"{100 * value:.1f}" + ("" if not ci else f" ({100 * ci[0]:.1f}-{100 * ci[1]:.1f})")


def _formats(r: dict) -> str:
    """``w16 x6, sparse x2`` and the weight flash per format."""
    formats = r.get("engine_formats")
    if not formats:
        return "n/a"
    counts = {f: formats.count(f) for f in dict.fromkeys(formats)}
    flash = r.get("weight_flash_by_format", {})
    return ", ".join(f"{f} x{n} ({flash.get(f, 0) / 1024:,.0f} KiB)" for f, n in counts.items())


def _verdict(r: dict) -> str:
    """yes/no on the upper bound; on zero-wait cycles (boards without a memory model) it says so."""
    if r.get("real_time") is None:
        return "n/a"
    return ("yes" if r["real_time"] else "no") + (" (zero-wait)" if r.get("cycles_basis") == "zero_wait" else "")


def render_markdown(table: dict) -> str:
    ev = table.get("eval_set", {})
    lines = [
        f"# Prune + distil sweep: {table['model']} on {table['board']}",
        "",
        f"Measured by commit `{table.get('commit', 'unknown')}`. Teacher: `{table['teacher_weights']}`. "
        f"{table['instructions_note']}. {table.get('cycles_note', 'No cycle estimate')}.",
        "",
        "Students: "
        + (
            "chained (each point starts from the previous point's distilled student, pruned further)"
            if table["config"].get("chain")
            else "one-shot pruned from the dense teacher"
        )
        + f", distilled from the dense teacher ({table['config']['epochs']} epochs x "
        f"{table['config']['crops_per_epoch']} crops).",
        "",
        f"Accuracy: {ev.get('name', '?')} ({ev.get('clips', '?')} clips, {len(ev.get('classes', []))} classes), "
        + table.get("accuracy_note", "")
        + ". The 0 % row is the dense teacher: the row to beat.",
        "",
        "| sparsity % | nonzero weights | val cos float | val cos int8 | acc float % (95 % CI) | "
        "acc int8 % (95 % CI) | acc device % | flash B | RAM B | instr./window | device = TFLM % | "
        "cycles/window (upper bound) | RTF | real time | mJ/window | engine weights (per layer) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---|",
    ]
    rows = table["rows"]
    for r in rows:
        name = f"{r['sparsity']:g} (teacher)" if r["sparsity"] == 0 else f"{r['sparsity']:g}"
        lines.append(
            f"| {name} | {r['nonzero_weights']:,d} | {r['val_cosine_float']:.4f} | "
            f"{r['val_cosine_int8']:.4f} | {_acc(r['accuracy_float'], r.get('accuracy_float_ci95'))} | "
            f"{_acc(r['accuracy_int8'], r.get('accuracy_int8_ci95'))} | "
            f"{_acc(r.get('accuracy_device'), None)} | {r['flash_bytes']:,d} | {r['ram_bytes']:,d} | "
            f"{r['instructions_per_window']:,.0f} | {r['device_identical_percent']:.1f} | "
            f"{_fmt(r['cycles_per_window'], ',.0f')} | {_fmt(r['real_time_factor'], '.3f')} | "
            f"{_verdict(r)} | {_fmt(r.get('energy_mj_per_window'), '.1f')} | {_formats(r)} |"
        )
    baseline = next((r.get("majority_baseline") for r in rows if r.get("majority_baseline") is not None), None)
    if baseline is not None:
        lines += ["", f"Majority-class baseline (always the most frequent training class): {100 * baseline:.1f} %."]
    packages = [r.get("val_cosine_per_package") for r in rows if r.get("val_cosine_per_package")]
    if packages:
        names = list(packages[0])
        lines += [
            "",
            "Validation cosine (float / int8) per source:",
            "",
            "| sparsity % | " + " | ".join(names) + " |",
            "|---:|" + "---:|" * len(names),
        ]
        for r in rows:
            per = r.get("val_cosine_per_package") or {}
            lines.append(
                f"| {r['sparsity']:g} | "
                + " | ".join(f"{per[n]['float']:.4f} / {per[n]['int8']:.4f}" if n in per else "n/a" for n in names)
                + " |"
            )
    return "\n".join(lines) + "\n"


def plot_pareto(table: dict, path: Path) -> Path:
    """Two panels against flash (KiB): the balanced validation cosine (float, int8) and the benchmark
    accuracy with its 95 % interval (float, int8), the teacher's accuracy interval as a band and the
    majority-class baseline as a line; points labelled by sparsity."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from edgel3_mote.atomic import save_png

    rows = table["rows"]
    x = np.array([r["flash_bytes"] / 1024 for r in rows])
    fig, (ax_cos, ax_acc) = plt.subplots(1, 2, figsize=(12, 4.6))
    for key, label, marker, filled in (
        ("val_cosine_float", "float", "o", False),
        ("val_cosine_int8", "int8", "s", True),
    ):
        style = {} if filled else {"markerfacecolor": "none", "markersize": 11}  # float drawn around int8
        ax_cos.plot(x, [r[key] for r in rows], marker=marker, linestyle="none", label=label, **style)
    shift = 0.008 * (x.max() - x.min() if len(x) > 1 else 1.0)  # float and int8 side by side, not on top
    for key, label, marker, offset in (("accuracy_float", "float", "o", -shift), ("accuracy_int8", "int8", "s", shift)):
        y = np.array([np.nan if r[key] is None else 100 * r[key] for r in rows])
        ci = [r.get(f"{key}_ci95") for r in rows]
        lo = np.array([0.0 if c is None else max(0.0, y[i] - 100 * c[0]) for i, c in enumerate(ci)])
        hi = np.array([0.0 if c is None else max(0.0, 100 * c[1] - y[i]) for i, c in enumerate(ci)])
        ax_acc.errorbar(x + offset, y, yerr=[lo, hi], fmt=marker, capsize=3, label=f"{label} (95 % CI)")
    teacher = next((r for r in rows if r["sparsity"] == 0 and r.get("accuracy_float_ci95")), None)
    if teacher is not None:
        lo, hi = teacher["accuracy_float_ci95"]
        ax_acc.axhspan(100 * lo, 100 * hi, color="tab:green", alpha=0.12, label="dense teacher, 95 % CI")
    baseline = next((r.get("majority_baseline") for r in rows if r.get("majority_baseline") is not None), None)
    if baseline is not None:
        ax_acc.axhline(100 * baseline, color="grey", linestyle=":", label="majority class")
    for ax, key, scale in ((ax_cos, "val_cosine_float", 1.0), (ax_acc, "accuracy_float", 100.0)):
        for r, xi in zip(rows, x):
            if r[key] is not None:
                ax.annotate(
                    f"{r['sparsity']:g} %", (xi, scale * r[key]), textcoords="offset points", xytext=(6, 6), fontsize=9
                )
        ax.set_xlabel("flash (KiB, whole firmware)", fontsize=11)
        ax.tick_params(labelsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=9)
    ax_cos.set_ylabel("validation cosine to the teacher (mean over sources)", fontsize=11)
    ev = table.get("eval_set", {})
    ax_acc.set_ylabel(f"accuracy on {ev.get('name', 'the labelled set')} (%)", fontsize=11)
    ax_cos.set_title("fidelity to the dense teacher", fontsize=11)
    ax_acc.set_title("downstream accuracy (EdgeL3 MLP protocol)", fontsize=11)
    fig.suptitle(f"{table['model']} prune + distil on {table['board']} (commit {table.get('commit', '?')[:10]})")
    fig.tight_layout()
    return save_png(fig, path)


# --- command line ------------------------------------------------------------------------------


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "sweep",
        help="prune + distil SEA-64 over sparsities, export, firmware, QEMU bench: a Pareto table",
        description="For each sparsity: prune + distil SEA-64 (real weights) from the previous point's "
        "student (--chain, the default) or one-shot from the dense teacher (--no-chain), "
        "int8 export, firmware for --board, validation cosine to the teacher (float and the "
        "firmware's int8 model; mean over validation sources), downstream accuracy with a 95 % interval and "
        "the majority-class baseline (EdgeL3 MLP protocol on --eval-set, float, int8 and device), and "
        "the QEMU bench (device = tflite-micro, instructions per window, flash, RAM, estimated cycles per "
        "window and real-time factor). Writes "
        "OUT/points/s<N>/ (resumable point by point), OUT/sweep.json, sweep.md, sweep.png.",
        epilog="example: edgel3-mote sweep --teacher-weights W.h5 --corpus ~/.cache/edgel3-mote/corpus/manifest.csv "
        "--eval-set ~/.cache/edgel3-mote/benchmark --bench-clips ../shared/audio/cc0_animals -o runs/sweep "
        "(the labelled benchmark: python tools/make_labelled_benchmark.py -o ~/.cache/edgel3-mote/benchmark)",
    )
    p.add_argument("--teacher-weights", type=Path, required=True, help="SEA-64 weights (.h5 or .h5.gz)")
    p.add_argument("--corpus", type=Path, help="corpus manifest (tools/make_distill_corpus.py): train/val splits")
    p.add_argument("--clips", nargs="+", help="training audio (instead of --corpus)")
    p.add_argument("--val-clips", nargs="+", help="validation audio from other sources (instead of --corpus)")
    p.add_argument(
        "--eval-set",
        type=Path,
        required=True,
        help="labelled set: the ESC-50 layout (tools/make_labelled_benchmark.py builds the labelled "
        "benchmark; ESC-50 itself works) or a folder per class (tools/make_animal_segments.py)",
    )
    p.add_argument("--bench-clips", type=Path, required=True, help="clips streamed to the mote")
    p.add_argument(
        "--sparsities",
        nargs="+",
        type=float,
        default=list(DEFAULT_SPARSITIES),
        help="percent (default 0 50 70 80 90 95)",
    )
    p.add_argument("--board", default="qemu-mps2-an386")
    p.add_argument("--pruning", choices=("one-shot", "gradual"), default="one-shot")
    p.add_argument(
        "--chain",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="iterative pruning (default): each point's student starts from the previous (less sparse) "
        "point's distilled student, pruned further (its zeros stay zero); --no-chain: every point is "
        "one-shot pruned from the dense teacher. Either way each point is distilled from the dense "
        "teacher (see README: chained, the 90 %% point keeps more of the teacher)",
    )
    p.add_argument(
        "--no-cycles",
        action="store_true",
        help="skip the estimated cycles per window and real-time factor (traced first bench window, "
        "core timing tables: harness/cycles.py)",
    )
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--crops-per-epoch", type=int, default=4096)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument(
        "--val-crops",
        type=int,
        default=1024,
        help="validation crops, the same number from every validation package (--corpus) or --val-clips path",
    )
    p.add_argument("--eval-folds", type=int, default=3, help="folds of a folder-per-class --eval-set")
    p.add_argument(
        "--patience", type=int, default=10, help="distillation early stopping on the validation cosine (epochs)"
    )
    p.add_argument("--eval-epochs", type=int, default=150, help="MLP epochs of the downstream protocol")
    p.add_argument(
        "--eval-hop",
        type=float,
        default=0.1,
        help="embedding hop (s) of the downstream protocol (default 0.1, EdgeL3's; a coarser hop is faster, "
        "every point and the dense row share it)",
    )
    p.add_argument("--bench-max-windows", type=int, default=4, help="windows per bench clip")
    p.add_argument("--bench-hop", type=float, default=0.5)
    p.add_argument("--audio-cache", type=Path, default=SweepConfig.audio_cache)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--output", type=Path, required=True, help="sweep folder")
    p.set_defaults(func=run_sweep_cli)
    from edgel3_mote.cli_types import declare_outputs, output_dir

    declare_outputs(
        p,
        lambda a: [
            output_dir(
                a.output,
                "sweep",
                ("sweep.json", "sweep.md", "sweep.png", "points")
                + ((Path(a.teacher_weights).name[:-3],) if str(a.teacher_weights).endswith(".gz") else ()),
                ("sweep.json", {"schema": "edgel3-mote-sweep/1"}),
            )
        ],
    )


def run_sweep_cli(args) -> int:
    from edgel3_mote.compress.data.pipeline import read_corpus_packages

    train, val = args.clips, args.val_clips
    if args.corpus is not None:  # by package: balanced training crops, validation per package
        train = train or read_corpus_packages(args.corpus, "train")
        val = val or read_corpus_packages(args.corpus, "val")
    weights = _plain_weights(args.teacher_weights, args.output)
    cfg = SweepConfig(
        teacher_weights=weights,
        train_audio=train or [],
        val_audio=val or [],
        eval_set=args.eval_set,
        bench_clips=args.bench_clips,
        sparsities=args.sparsities,
        board=args.board,
        epochs=args.epochs,
        crops_per_epoch=args.crops_per_epoch,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        pruning=args.pruning,
        val_crops=args.val_crops,
        eval_folds=args.eval_folds,
        eval_epochs=args.eval_epochs,
        eval_hop=args.eval_hop,
        patience=args.patience,
        bench_max_windows=args.bench_max_windows,
        bench_hop=args.bench_hop,
        audio_cache=args.audio_cache,
        seed=args.seed,
        chain=args.chain,
        cycles=not args.no_cycles,
    )
    table = run_sweep(cfg, args.output)
    print(render_markdown(table))
    print(f"wrote {args.output}/sweep.json, sweep.md, sweep.png")
    return 0


def _plain_weights(path: Path, out: Path) -> Path:
    """A gzipped .h5 is unpacked once into OUT (the registry loader and distill read plain .h5)."""
    if not Path(path).is_file():
        raise InvalidInputError(f"--teacher-weights {path} could not be found: check the path")
    if Path(path).suffix != ".gz":
        return Path(path)
    import gzip

    from edgel3_mote.atomic import atomic_file

    target = Path(out) / Path(path).name[:-3]
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        with gzip.open(path, "rb") as src, atomic_file(target, suffix=".h5") as tmp:
            Path(tmp).write_bytes(src.read())
    return target
