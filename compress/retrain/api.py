"""Distillation as a typed call: :class:`DistillConfig` in, :class:`DistillResult` out.

``edgel3-mote distill`` builds a :class:`DistillConfig` from its flags and calls
:func:`run_distillation`; the sweep (``board_tests/harness/sweep.py``) builds one directly. Both get
the same checks, run folder (``config.json``, checkpoints, ``summary.json``; resumable) and result.

Audio comes as named groups (``{source: files or folders}``): a corpus manifest's packages, or one
group per ``--val-clips`` path. With ``crops_per_epoch`` the training crops are drawn with the same
share from every training group (``balance``) and the validation set holds the same number of
fixed crops of every validation group, so the validation cosine is the mean over groups of each
group's mean cosine; the summary reports every group's value.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Mapping, Sequence

from edgel3_mote.errors import InvalidInputError

DEFAULT_AUDIO_CACHE = Path.home() / ".cache" / "edgel3-mote" / "audio"


@dataclasses.dataclass
class DistillConfig:
    """One distillation run: teacher, student (or how to prune it), audio, training, output."""

    teacher: str  # registry name or saved model file
    output: Path
    train_audio: Mapping[str, Sequence[str]]  # {group: files/folders}
    val_audio: Mapping[str, Sequence[str]] = dataclasses.field(default_factory=dict)  # {} = split the clips
    teacher_weights: Path | None = None
    student: str | None = None  # registry name or model file; with a sparsity/plan: pruned further
    student_weights: Path | None = None
    student_sparsity: float | None = None  # percent, every conv
    student_plan: Sequence[str] | None = None  # preset name or 8 percentages
    pruning: str = "one-shot"  # | "gradual"
    crops_per_epoch: int | None = None  # random augmented crops (None: fixed windows of the clips)
    val_crops: int = 1024
    augment: bool = True
    balance: bool = True  # with crops: every training group the same share of the crops
    audio_cache: Path = DEFAULT_AUDIO_CACHE
    val_fraction: float = 0.2
    hop_size: float = 0.1
    max_windows_per_clip: int | None = None
    reduce: str | None = None
    on_the_fly: bool = False
    regrow: bool = False
    train_bn: bool = False
    epochs: int = 100
    batch_size: int = 32
    learning_rate: float = 1e-3
    patience: int = 10
    lr_patience: int = 5
    checkpoint_every: int = 1
    strategy: str = "auto"
    seed: int = 0
    resume: bool = True  # False: start over (an existing run folder is replaced)
    tensorboard: bool = True
    model_format: str = "h5"

    def to_json(self) -> dict:
        from edgel3_mote.compress.retrain.rundir import _jsonable

        return _jsonable(dataclasses.asdict(self))


@dataclasses.dataclass
class DistillResult:
    """What a finished run left: the model file, ``summary.json`` and its content."""

    output: Path
    model_file: Path
    summary: dict

    @property
    def val(self) -> dict:
        return self.summary["after"].get("val", {})

    @property
    def val_cosine(self) -> float | None:
        """Balanced validation cosine (mean over groups of the group means) where there are groups."""
        v = self.val
        return v.get("cosine_balanced", v.get("cosine_mean"))


def _plan(cfg: DistillConfig) -> list[float] | None:
    from edgel3_mote.compress.pruning import presets

    if cfg.student_sparsity is not None and cfg.student_plan is not None:
        raise InvalidInputError("give --student-sparsity or --student-plan, not both")
    if cfg.student is None and cfg.student_sparsity is None and cfg.student_plan is None:
        raise InvalidInputError("give the student: --student, --student-sparsity or --student-plan")
    plan = None
    if cfg.student_sparsity is not None:
        plan = [cfg.student_sparsity] * 8
    elif cfg.student_plan is not None:
        plan = list(presets.resolve_plan(list(cfg.student_plan))[1])
    if plan is not None:
        presets.resolve_plan(plan)  # validate before any work
    return plan


def check(cfg: DistillConfig) -> list[float] | None:
    """Every input check that needs no audio decoding; returns the pruning plan (or None)."""
    from edgel3_mote.compress.retrain.rundir import is_model_file
    from edgel3_mote.compress.weights import check_model_file

    plan = _plan(cfg)
    prune_student = cfg.student is not None and plan is not None
    if prune_student and (cfg.pruning == "gradual" or cfg.regrow):
        raise InvalidInputError(
            "pruning a --student further (--student-sparsity/--student-plan) is one-shot and masked: "
            "leave out --pruning gradual and --regrow"
        )
    if cfg.pruning not in ("one-shot", "gradual"):
        raise InvalidInputError(f"unknown pruning {cfg.pruning!r}: one-shot or gradual")
    if not cfg.student and is_model_file(cfg.teacher):
        raise InvalidInputError(
            "--student-sparsity/--student-plan rebuild a registry teacher: "
            "give --teacher as a registry name (with --teacher-weights)"
        )
    for flag, ref in (
        ("--teacher", cfg.teacher),
        ("--student", cfg.student),
        ("--teacher-weights", cfg.teacher_weights),
        ("--student-weights", cfg.student_weights),
    ):
        if ref is not None and (is_model_file(str(ref)) or flag.endswith("weights")):
            if not Path(ref).is_file():
                raise InvalidInputError(f"{flag} {ref} could not be found: check the path")
            check_model_file(ref, flag)  # a 0-byte or non-HDF5 file: one line now, not after the run folder exists
    if not any(cfg.train_audio.values()):
        raise InvalidInputError("give the training audio: --clips FILES/FOLDERS or --corpus MANIFEST")
    if cfg.crops_per_epoch and not any(cfg.val_audio.values()):
        raise InvalidInputError(
            "--crops-per-epoch needs validation audio from other sources: "
            "--val-clips or a --corpus manifest with a val split"
        )
    if cfg.crops_per_epoch and cfg.val_crops < len(cfg.val_audio):
        raise InvalidInputError(
            f"--val-crops {cfg.val_crops} is fewer than the {len(cfg.val_audio)} validation sources: "
            f"give at least one crop per source"
        )
    return plan


def _files(groups: Mapping[str, Sequence[str]]) -> list[str]:
    return [str(f) for files in groups.values() for f in files]


def crop_sources(cfg: DistillConfig, model_name: str, log=print):
    """Random augmented crops of the training audio (every group the same share with ``balance``)
    and the validation set: ``val_crops // groups`` fixed crops of each validation group, named."""
    from edgel3_mote.compress.data import pipeline
    from edgel3_mote.compress.models.registry import get_spec

    spec = get_spec(model_name)
    sr, window = int(spec.frontend.sr), int(spec.window_samples)
    augmentation = pipeline.Augmentation() if cfg.augment else None
    cache, index = pipeline.decode_groups(cfg.train_audio, sr, cfg.audio_cache)
    weights = pipeline.balanced_weights(cache, index) if cfg.balance and len(cfg.train_audio) > 1 else None
    shares = pipeline.group_shares(cache, index, weights)
    log(
        "training crops per source: "
        + ", ".join(f"{name} {100 * s:.0f} %" for name, s in zip(cfg.train_audio, shares))
        + (" (balanced)" if weights is not None else " (by length)")
    )
    train = pipeline.CropSource(cache, window, cfg.crops_per_epoch or 1, augmentation, weights)
    return train, validation_crops(cfg.val_audio, model_name, cfg.val_crops, cfg.audio_cache, cfg.seed)


def validation_crops(
    groups: Mapping[str, Sequence[str]], model_name: str, n: int, audio_cache: Path, seed: int, progress: bool = True
):
    """``n // len(groups)`` fixed (unaugmented) crops of every group, as ClipWindows whose clips are
    the groups (``paths`` = group names): the validation set distillation and the sweep measure on."""
    import numpy as np

    from edgel3_mote.compress.data import pipeline
    from edgel3_mote.compress.models.registry import get_spec

    spec = get_spec(model_name)
    sr, window = int(spec.frontend.sr), int(spec.window_samples)
    per_group = n // len(groups)
    frames, names = [], []
    for name, files in groups.items():
        cache = pipeline.decode_to_cache(files, sr, audio_cache, progress)
        frames.append(pipeline.CropSource(cache, window, per_group).fixed_crops(per_group, seed))
        names.append(str(name))
    index = np.repeat(np.arange(len(names), dtype=np.int32), per_group)
    return pipeline.ClipWindows(np.concatenate(frames), index, np.zeros(len(index)), names)


def prepare_output(out: Path, resume_allowed: bool, config: dict) -> bool:
    """Create the run folder (on the chief); True when it holds an unfinished run to resume.

    A finished run (``summary.json``) or a folder that is not a run is refused unless
    ``resume_allowed`` is False (start over: the folder is replaced, unless it holds a file that is not a
    run's, which is refused). A folder left by a failed
    start (config.json and caches, no checkpoint) is taken over."""
    from edgel3_mote.compress.retrain import rundir
    from edgel3_mote.compress.retrain.distribute import is_chief
    from edgel3_mote.compress.retrain.rundir import is_failed_start

    out = Path(out)
    resume = (out / "checkpoints" / "state.json").exists() and resume_allowed
    if (out / "summary.json").exists() and resume_allowed:
        raise InvalidInputError(
            f"{out} holds a finished run (summary.json): choose another -o or pass --no-resume to overwrite it"
        )
    if not is_chief():
        return resume
    if out.exists() and not out.is_dir():
        raise InvalidInputError(f"{out} is a file, not a run folder: choose another -o")
    if out.exists() and not resume and any(out.iterdir()):
        if not resume_allowed:
            import shutil

            from edgel3_mote.atomic import OUTPUT_MARKER
            from edgel3_mote.compress.retrain.rundir import MODEL_SUFFIXES, RUN_FILES

            # start over: only a run's own files go; anything else in the folder is the user's
            ours = set(RUN_FILES) | {f"model{s}" for s in MODEL_SUFFIXES} | {"audio_model.h5", "audio_model.keras"}
            foreign = sorted(p.name for p in out.iterdir() if p.name not in ours | {OUTPUT_MARKER})
            if foreign:
                raise InvalidInputError(
                    f"--no-resume would delete {out / foreign[0]}, which is not part of a run: move it away "
                    f"or choose another -o (nothing was deleted)"
                )
            shutil.rmtree(out)
        elif not is_failed_start(out):
            raise InvalidInputError(
                f"{out} exists and is not a resumable run: choose another -o or pass --no-resume to overwrite it"
            )
    out.mkdir(parents=True, exist_ok=True)
    if resume:
        previous = rundir.read_json(out / "config.json") if (out / "config.json").exists() else {}
        config = {**config, "resumed_from": previous.get("created")}
    rundir.write_json(out / ("config.json" if not resume else "config.resume.json"), config)
    return resume


def run_distillation(cfg: DistillConfig, log=print, argv: Sequence[str] | None = None) -> DistillResult | None:
    """Check, prepare the run folder, distil, save the student and ``summary.json``.

    Returns the result on the chief, None on the other workers of a multi-worker run."""
    import sys
    import time

    import edgel3_mote  # noqa: F401
    from edgel3_mote.compress.data import pipeline
    from edgel3_mote.compress.pruning import layerwise, presets
    from edgel3_mote.compress.pruning.masked import build_masked_model, mask_zero_weights
    from edgel3_mote.compress.retrain import distill as D
    from edgel3_mote.compress.retrain import rundir
    from edgel3_mote.compress.retrain.distribute import get_strategy, is_chief
    from edgel3_mote.compress.retrain.rundir import framing_model_name, is_model_file, load_any_model

    plan = check(cfg)
    prune_student = cfg.student is not None and plan is not None
    strategy = get_strategy(cfg.strategy)

    def models():
        teacher = load_any_model(cfg.teacher, cfg.teacher_weights, cfg.seed)
        teacher.trainable = False
        if plan is not None and cfg.pruning == "gradual":
            student = load_any_model(cfg.teacher, cfg.teacher_weights, cfg.seed)  # dense, pruned while training
        elif plan is not None and not prune_student:
            student = build_masked_model(
                cfg.teacher, weights=cfg.teacher_weights and str(cfg.teacher_weights), seed=cfg.seed
            )
            presets.apply_plan(student, plan)
        else:
            assert cfg.student is not None  # check(): a student, a sparsity or a plan
            student = load_any_model(cfg.student, cfg.student_weights, cfg.seed)
            if prune_student:  # iterative pruning: its zeros have |w| = 0, so they stay in the pruned set
                presets.apply_plan(student, plan)
            if not cfg.regrow:
                student, n = mask_zero_weights(student)
                if n:
                    log(
                        f"{cfg.student}: {n} plain conv(s) hold pruned (zero) weights: distilling them "
                        f"masked so the zeros stay zero (--regrow lets them train again)"
                    )
        return student, teacher

    # frame with the teacher's front-end (student and teacher share rate and window)
    probe_name = cfg.teacher if not is_model_file(cfg.teacher) else None
    if probe_name is None:
        probe_name = framing_model_name(cfg.teacher, rundir.load_model(cfg.teacher))
    train_files, val_files = _files(cfg.train_audio), _files(cfg.val_audio)
    if cfg.crops_per_epoch:
        train, val = crop_sources(cfg, probe_name, log)
    elif val_files:
        train = pipeline.clip_windows(
            train_files, probe_name, cfg.hop_size, max_windows_per_clip=cfg.max_windows_per_clip
        )
        val = pipeline.clip_windows(val_files, probe_name, cfg.hop_size, max_windows_per_clip=cfg.max_windows_per_clip)
    else:
        everything = pipeline.clip_windows(
            train_files, probe_name, cfg.hop_size, max_windows_per_clip=cfg.max_windows_per_clip
        )
        train_ids, val_ids = pipeline.split_clips(len(everything.paths), cfg.val_fraction, cfg.seed)
        train, val = everything.subset(train_ids), everything.subset(val_ids) if val_ids else None
    what = "random crops per epoch" if cfg.crops_per_epoch else "training windows"
    log(f"{len(train)} {what}, {0 if val is None else len(val)} validation windows")
    config_json = {
        "command": "distill",
        "args": cfg.to_json(),
        "argv": list(argv) if argv is not None else sys.argv,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    resume = prepare_output(cfg.output, cfg.resume, config_json)  # the inputs are checked: nothing written before
    training = D.TrainConfig(
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        learning_rate=cfg.learning_rate,
        checkpoint_every=cfg.checkpoint_every,
        patience=cfg.patience,
        lr_patience=cfg.lr_patience,
        seed=cfg.seed,
        reduce=cfg.reduce,
        on_the_fly=cfg.on_the_fly or bool(cfg.crops_per_epoch),
        train_bn=cfg.train_bn,
        tensorboard=cfg.tensorboard,
        gradual=tuple(v / 100 for v in plan) if plan and cfg.pruning == "gradual" else None,
    )
    result = D.distill(models, train, cfg.output, training, val=val, strategy=strategy, resume=resume)
    student = result.pop("student")
    result.pop("teacher")
    if not is_chief():
        return None
    model_file = rundir.save_model(student, rundir.model_path(cfg.output, cfg.model_format))
    rows = layerwise.layer_sparsity(student)
    result.update(
        {
            "model_file": model_file.name,
            "layers": rows,
            "overall_sparsity": layerwise.total_sparsity(rows),
            "train_clips": sorted(train.cache.paths)
            if isinstance(train, pipeline.CropSource)
            else sorted({train.paths[i] for i in set(train.clip_index.tolist())}),
            "val_clips": val_files
            if cfg.crops_per_epoch
            else []
            if val is None
            else sorted({val.paths[i] for i in set(val.clip_index.tolist())}),
            "train_sources": list(cfg.train_audio),
            "val_sources": list(cfg.val_audio),
        }
    )
    rundir.write_json(Path(cfg.output) / "summary.json", result)
    return DistillResult(Path(cfg.output), model_file, rundir.read_json(Path(cfg.output) / "summary.json"))


def groups_from_paths(paths: Sequence[str | os.PathLike] | None, each: bool) -> dict[str, list[str]]:
    """Audio given on the command line as groups: ``each`` path its own group (a folder per
    source), else one group ``clips``."""
    if not paths:
        return {}
    if each:
        return {str(p): [str(p)] for p in paths}
    return {"clips": [str(p) for p in paths]}
