"""``edgel3-mote distill | finetune | jobs`` (TensorFlow imported in the handlers only)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import tf_keras as keras

MODEL_FILE_SUFFIXES = (".h5", ".keras")
# what distill / finetune write directly in their run folder (logs/ and checkpoints/ are theirs too)
RUN_FILES = ("config.json", "config.resume.json", "teacher_targets.npz", "summary.json", "logs", "checkpoints")


def declare_run_outputs(parser, command: str, extra: tuple[str, ...] = ()) -> None:
    """The run folder (-o) for the output gate: a user's file with one of the run's names is refused up front;
    a run folder of the same command (its config.json) may be resumed."""
    from edgel3_mote.cli_types import declare_outputs, output_dir

    declare_outputs(
        parser,
        lambda a: [
            output_dir(
                a.output,
                command,
                RUN_FILES + (f"model.{a.format}",) + tuple(n.format(fmt=a.format) for n in extra),
                ("config.json", {"command": command}),
            )
        ],
    )


def _add_training_args(p, epochs: int, batch_size: int, lr: float) -> None:
    p.add_argument("--epochs", type=int, default=epochs, help=f"maximum epochs (default {epochs})")
    p.add_argument(
        "--batch-size",
        type=int,
        default=batch_size,
        help=f"global batch size, split across replicas (default {batch_size})",
    )
    p.add_argument("--lr", type=float, default=lr, help=f"Adam learning rate (default {lr})")
    p.add_argument("--patience", type=int, default=10, help="early-stopping patience (default 10)")
    p.add_argument("--lr-patience", type=int, default=5, help="ReduceLROnPlateau patience, factor 0.1 (default 5)")
    p.add_argument("--checkpoint-every", type=int, default=1, help="epochs between checkpoints")
    p.add_argument(
        "--strategy",
        default="auto",
        choices=("auto", "default", "mirrored", "multiworker"),
        help="tf.distribute strategy (auto: multiworker with TF_CONFIG, mirrored on 2+ GPUs)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of weights, data order and split")
    p.add_argument(
        "--no-resume", action="store_true", help="start over even if OUT holds checkpoints of an unfinished run"
    )
    p.add_argument("--no-tensorboard", action="store_true", help="skip TensorBoard logs")
    p.add_argument("--format", choices=("h5", "keras"), default="h5", help="final model format")
    p.add_argument("-o", "--output", type=Path, required=True, help="run directory")


def register(subparsers: argparse._SubParsersAction) -> None:
    d = subparsers.add_parser(
        "distill",
        help="knowledge distillation of a teacher's embedding into a student",
        description="Train a student (pruned / masked / reduced / SEA model) to reproduce a "
        "teacher's embedding (MSE) on 1-s windows of audio clips, or on random augmented 1-s "
        "crops of a corpus (--crops-per-epoch; --corpus from tools/make_distill_corpus.py). "
        "Writes OUT/config.json, "
        "OUT/logs/ (CSV, TensorBoard), OUT/checkpoints/ (resumable), "
        "OUT/teacher_targets.npz, OUT/model.h5 and OUT/summary.json.",
        epilog="example: edgel3-mote distill --teacher sea-64 --teacher-weights W.h5.gz "
        "--student-sparsity 90 --clips ../shared/audio/cc0_animals -o runs/d90",
    )
    d.add_argument("--teacher", required=True, help="registry model name or a saved model file")
    d.add_argument("--teacher-weights", type=Path, help="original weights for a registry teacher")
    d.add_argument("--student", help="registry name or saved model file (e.g. a prune run's model.h5)")
    d.add_argument("--student-weights", type=Path, help="weights for a registry student")
    d.add_argument(
        "--student-sparsity",
        type=float,
        help="student = the teacher, masked and one-shot pruned to this %% in every conv; with --student: "
        "that model pruned further (iterative pruning; its zeros stay zero)",
    )
    d.add_argument(
        "--student-plan",
        nargs="+",
        help="student = the teacher (or --student), masked and pruned with this plan (preset or 8 %%)",
    )
    d.add_argument(
        "--pruning",
        choices=("one-shot", "gradual"),
        default="one-shot",
        help="with --student-sparsity/--student-plan: one-shot magnitude pruning, then masked "
        "distillation (EdgeL3's plan + fine-tune; default), or gradual TF-MOT PolynomialDecay "
        "pruning from 0 to the plan over the first 80 %% of the steps while distilling",
    )
    d.add_argument("--clips", nargs="+", type=Path, help="audio files or folders")
    d.add_argument("--val-clips", nargs="+", type=Path, help="validation clips (default: a split)")
    d.add_argument(
        "--corpus", type=Path, help="corpus manifest CSV (tools/make_distill_corpus.py): its train and val splits"
    )
    d.add_argument(
        "--crops-per-epoch",
        type=int,
        help="train on this many random 1-s crops of the (decoded, cached) training audio per "
        "epoch, augmented (gain, mixing, noise), teacher on the fly; validation: --val-crops "
        "fixed crops of the validation audio",
    )
    d.add_argument("--val-crops", type=int, default=1024, help="validation crops with --crops-per-epoch")
    d.add_argument("--no-augment", action="store_true", help="random crops without augmentation")
    d.add_argument(
        "--audio-cache",
        type=Path,
        default=Path.home() / ".cache" / "edgel3-mote" / "audio",
        help="where --crops-per-epoch keeps decoded audio (default ~/.cache/edgel3-mote/audio)",
    )
    d.add_argument(
        "--val-fraction", type=float, default=0.2, help="fraction of the clips held out when --val-clips is not given"
    )
    d.add_argument("--hop-size", type=float, default=0.1, help="window hop in s (default 0.1)")
    d.add_argument("--max-windows-per-clip", type=int, help="cap on windows per clip")
    d.add_argument(
        "--reduce",
        choices=("pca", "umap"),
        help="reduce teacher embeddings to the student's size (umap needs umap-learn)",
    )
    d.add_argument(
        "--on-the-fly", action="store_true", help="run the teacher in every train step instead of caching its targets"
    )
    d.add_argument(
        "--regrow",
        action="store_true",
        help="let a --student file's pruned (zero) weights in plain Conv2D layers train "
        "again (default: they are masked and stay zero)",
    )
    d.add_argument(
        "--train-bn",
        action="store_true",
        help="BatchNorm on batch statistics (default: keep the student's BN statistics)",
    )
    _add_training_args(d, epochs=100, batch_size=32, lr=1e-3)
    d.set_defaults(func=run_distill)
    declare_run_outputs(d, "distill")

    try:
        from edgel3_mote.compress.retrain.finetune import register_finetune
        from edgel3_mote.compress.retrain.slurm import register_jobs
    except ImportError:  # partial checkout
        return
    register_finetune(subparsers, _add_training_args)
    register_jobs(subparsers)


def is_model_file(ref: str | None) -> bool:
    return ref is not None and Path(ref).suffix in MODEL_FILE_SUFFIXES


def load_any_model(ref: str, weights: str | os.PathLike | None = None, seed: int = 0) -> keras.Model:
    """A registry model (``weights`` or seeded) or a model file saved by this package."""
    from edgel3_mote.compress.retrain.rundir import load_model

    if is_model_file(ref):
        return load_model(ref)
    from edgel3_mote.compress.models.registry import build_model

    return build_model(ref, weights=str(weights) if weights else None, seed=seed)


def framing_model_name(ref: str, model: keras.Model | None = None) -> str:
    """The registry name whose front-end rate and window frame the clips for this model."""
    if not is_model_file(ref):
        return ref
    assert model is not None, "framing a model file needs the model loaded from it"
    window = int(model.input_shape[-1])
    return {8000: "sea-64", 48000: "l3-melspec2"}.get(window) or _unknown_window(ref, window)


def _unknown_window(ref, window):
    from edgel3_mote.errors import InvalidInputError

    raise InvalidInputError(
        f"{ref} takes {window}-sample inputs, not an 8 kHz or 48 kHz 1-s window: give an audio embedding model"
    )


# What a start writes before its first checkpoint: a folder holding only these is a failed or
# killed start, which a rerun may take over (the cached teacher targets are kept and reused).
STARTED_RUN_FILES = frozenset({"config.json", "config.resume.json", "logs", "teacher_targets.npz", "checkpoints"})


def is_failed_start(out: Path) -> bool:
    """True when ``out`` holds only what a start of distill/finetune writes before any checkpoint."""
    from edgel3_mote.atomic import OUTPUT_MARKER
    from edgel3_mote.compress.retrain import rundir

    names = {p.name for p in out.iterdir()} - {OUTPUT_MARKER}
    if not names or not names <= STARTED_RUN_FILES or "config.json" not in names:
        return False
    if (out / "checkpoints").exists() and any((out / "checkpoints").iterdir()):
        return False
    try:
        return rundir.read_json(out / "config.json").get("command") in ("distill", "finetune")
    except (OSError, ValueError, AttributeError):
        return False


def prepare_run_dir(args: argparse.Namespace, command: str) -> bool:
    """Create OUT (on the chief); returns True when it holds an unfinished run to resume.

    Call it once the inputs are checked. Only the chief creates and writes OUT; any other
    multi-worker task only reads it (the chief's checkpoints, to resume from the same state).
    A folder left by a failed start (config.json and caches, no checkpoint) is taken over.
    """
    from edgel3_mote.compress.retrain import rundir
    from edgel3_mote.compress.retrain.distribute import is_chief
    from edgel3_mote.errors import InvalidInputError

    out = args.output
    resume = (out / "checkpoints" / "state.json").exists() and not args.no_resume
    if (out / "summary.json").exists() and not args.no_resume:
        raise InvalidInputError(
            f"{out} holds a finished run (summary.json): choose another -o or pass --no-resume to overwrite it"
        )
    if not is_chief():
        return resume
    if out.exists() and not out.is_dir():
        raise InvalidInputError(f"{out} is a file, not a run folder: choose another -o")
    if out.exists() and not resume and any(out.iterdir()):
        if args.no_resume:
            import shutil

            from edgel3_mote.atomic import OUTPUT_MARKER

            ours = set(RUN_FILES) | {f"model{s}" for s in MODEL_FILE_SUFFIXES} | {"audio_model.h5", "audio_model.keras"}
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
    config = rundir.args_config(args, command)
    if resume:
        previous = rundir.read_json(out / "config.json") if (out / "config.json").exists() else {}
        config["resumed_from"] = previous.get("created")
    rundir.write_json(out / ("config.json" if not resume else "config.resume.json"), config)
    return resume


def _crop_sources(args, model_name: str, train_files, val_files, pipeline):
    """Random augmented crops of the decoded training audio; fixed crops of the validation audio."""
    import numpy as np

    from edgel3_mote.compress.models.registry import get_spec
    from edgel3_mote.errors import InvalidInputError

    spec = get_spec(model_name)
    sr, window = int(spec.frontend.sr), int(spec.window_samples)
    augmentation = None if args.no_augment else pipeline.Augmentation()
    train = pipeline.CropSource(
        pipeline.decode_to_cache(train_files, sr, args.audio_cache), window, args.crops_per_epoch, augmentation
    )
    if not val_files:
        raise InvalidInputError(
            "--crops-per-epoch needs validation audio from other sources: "
            "--val-clips or a --corpus manifest with a val split"
        )
    val_source = pipeline.CropSource(pipeline.decode_to_cache(val_files, sr, args.audio_cache), window, args.val_crops)
    frames = val_source.fixed_crops(args.val_crops, args.seed)
    index = np.zeros(len(frames), np.int32)
    return train, pipeline.ClipWindows(frames, index, np.zeros(len(frames)), ["validation crops"])


def run_distill(args: argparse.Namespace) -> int:
    import edgel3_mote  # noqa: F401
    from edgel3_mote.compress.data import pipeline
    from edgel3_mote.compress.pruning import layerwise, presets
    from edgel3_mote.compress.pruning.masked import build_masked_model, mask_zero_weights
    from edgel3_mote.compress.retrain import distill as D
    from edgel3_mote.compress.retrain import rundir
    from edgel3_mote.compress.retrain.distribute import get_strategy, is_chief
    from edgel3_mote.compress.weights import check_model_file
    from edgel3_mote.errors import InvalidInputError

    if args.student_sparsity is not None and args.student_plan is not None:
        raise InvalidInputError("give --student-sparsity or --student-plan, not both")
    if args.student is None and args.student_sparsity is None and args.student_plan is None:
        raise InvalidInputError("give the student: --student, --student-sparsity or --student-plan")
    prune_student = args.student is not None and (args.student_sparsity is not None or args.student_plan is not None)
    if prune_student and (args.pruning == "gradual" or args.regrow):
        raise InvalidInputError(
            "pruning a --student further (--student-sparsity/--student-plan) is one-shot and masked: "
            "leave out --pruning gradual and --regrow"
        )
    if not args.student and is_model_file(args.teacher):
        raise InvalidInputError(
            "--student-sparsity/--student-plan rebuild a registry teacher: "
            "give --teacher as a registry name (with --teacher-weights)"
        )
    plan = None
    if args.student_sparsity is not None:
        plan = [args.student_sparsity] * 8
    elif args.student_plan is not None:
        plan = list(presets.resolve_plan(args.student_plan)[1])
    if plan is not None:
        presets.resolve_plan(plan)  # validate before any work
    for flag, ref in (
        ("--teacher", args.teacher),
        ("--student", args.student),
        ("--teacher-weights", args.teacher_weights),
        ("--student-weights", args.student_weights),
    ):
        if ref is not None and (is_model_file(str(ref)) or flag.endswith("weights")):
            if not Path(ref).is_file():
                raise InvalidInputError(f"{flag} {ref} could not be found: check the path")
            check_model_file(ref, flag)  # a 0-byte or non-HDF5 file: one line now, not after the run folder exists

    strategy = get_strategy(args.strategy)

    def models():
        teacher = load_any_model(args.teacher, args.teacher_weights, args.seed)
        teacher.trainable = False
        if plan is not None and args.pruning == "gradual":
            student = load_any_model(args.teacher, args.teacher_weights, args.seed)  # dense, pruned while training
        elif plan is not None and not prune_student:
            student = build_masked_model(
                args.teacher, weights=args.teacher_weights and str(args.teacher_weights), seed=args.seed
            )
            presets.apply_plan(student, plan)
        else:
            student = load_any_model(args.student, args.student_weights, args.seed)
            if prune_student:  # iterative pruning: its zeros have |w| = 0, so they stay in the pruned set
                presets.apply_plan(student, plan)
            if not args.regrow:
                student, n = mask_zero_weights(student)
                if n:
                    print(
                        f"{args.student}: {n} plain conv(s) hold pruned (zero) weights: distilling them "
                        f"masked so the zeros stay zero (--regrow lets them train again)"
                    )
        return student, teacher

    # frame with the teacher's front-end (student and teacher share rate and window)
    probe_name = args.teacher if not is_model_file(args.teacher) else None
    if probe_name is None:
        probe_name = framing_model_name(args.teacher, rundir.load_model(args.teacher))
    train_files, val_files = args.clips, args.val_clips
    if args.corpus is not None:
        train_files = train_files or pipeline.read_corpus_manifest(args.corpus, "train")
        val_files = val_files or pipeline.read_corpus_manifest(args.corpus, "val")
    if not train_files:
        raise InvalidInputError("give the training audio: --clips FILES/FOLDERS or --corpus MANIFEST")
    if args.crops_per_epoch:
        train, val = _crop_sources(args, probe_name, train_files, val_files, pipeline)
    elif val_files:
        train = pipeline.clip_windows(
            train_files, probe_name, args.hop_size, max_windows_per_clip=args.max_windows_per_clip
        )
        val = pipeline.clip_windows(
            val_files, probe_name, args.hop_size, max_windows_per_clip=args.max_windows_per_clip
        )
    else:
        everything = pipeline.clip_windows(
            train_files, probe_name, args.hop_size, max_windows_per_clip=args.max_windows_per_clip
        )
        train_ids, val_ids = pipeline.split_clips(len(everything.paths), args.val_fraction, args.seed)
        train, val = everything.subset(train_ids), everything.subset(val_ids) if val_ids else None
    what = "random crops per epoch" if args.crops_per_epoch else "training windows"
    print(f"{len(train)} {what}, {0 if val is None else len(val)} validation windows")
    resume = prepare_run_dir(args, "distill")  # the inputs are checked: nothing written before this
    config = D.DistillConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        checkpoint_every=args.checkpoint_every,
        patience=args.patience,
        lr_patience=args.lr_patience,
        seed=args.seed,
        reduce=args.reduce,
        on_the_fly=args.on_the_fly or bool(args.crops_per_epoch),
        train_bn=args.train_bn,
        tensorboard=not args.no_tensorboard,
        gradual=tuple(v / 100 for v in plan) if plan and args.pruning == "gradual" else None,
    )
    result = D.distill(models, train, args.output, config, val=val, strategy=strategy, resume=resume)
    student = result.pop("student")
    result.pop("teacher")
    if not is_chief():
        return 0
    model_file = rundir.save_model(student, rundir.model_path(args.output, args.format))
    rows = layerwise.layer_sparsity(student)
    result.update(
        {
            "model_file": model_file.name,
            "layers": rows,
            "overall_sparsity": layerwise.total_sparsity(rows),
            "train_clips": sorted(train.cache.paths)
            if args.crops_per_epoch
            else sorted({train.paths[i] for i in set(train.clip_index.tolist())}),
            "val_clips": [] if val is None else sorted({val.paths[i] for i in set(val.clip_index.tolist())}),
        }
    )
    rundir.write_json(args.output / "summary.json", result)
    for split in result["after"]:
        b, a = result["before"][split], result["after"][split]
        print(
            f"{split:>5}: MSE {b['mse']:.4g} -> {a['mse']:.4g}, teacher/student cosine "
            f"{b['cosine_mean']:.4f} -> {a['cosine_mean']:.4f} (mean over {a['windows']} windows)"
        )
    print(f"student sparsity {result['overall_sparsity']:.2f} %; wrote {args.output}/{model_file.name}")
    return 0
