"""``edgel3-mote distill | finetune | jobs`` (TensorFlow imported in the handlers only)."""

from __future__ import annotations

import argparse
from pathlib import Path

from edgel3_mote.compress.retrain.rundir import RUN_FILES


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
    d.add_argument(
        "--val-crops",
        type=int,
        default=1024,
        help="validation crops with --crops-per-epoch, the same number from every validation package "
        "(--corpus) or --val-clips path: the validation cosine is the mean over them",
    )
    d.add_argument("--no-augment", action="store_true", help="random crops without augmentation")
    d.add_argument(
        "--no-balance",
        action="store_true",
        help="with --corpus and --crops-per-epoch: draw training crops by length (default: every "
        "package the same share, so one long package is not most of the training)",
    )
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


def prepare_run_dir(args: argparse.Namespace, command: str) -> bool:
    """Create OUT (on the chief); returns True when it holds an unfinished run to resume
    (:func:`edgel3_mote.compress.retrain.api.prepare_output` with the command line as config)."""
    from edgel3_mote.compress.retrain import rundir
    from edgel3_mote.compress.retrain.api import prepare_output

    return prepare_output(args.output, not args.no_resume, rundir.args_config(args, command))


def distill_config(args: argparse.Namespace):
    """The :class:`~edgel3_mote.compress.retrain.api.DistillConfig` the ``distill`` flags describe.

    Training audio: ``--corpus``'s train packages (one group each, balanced) or ``--clips`` (one
    group); validation: ``--corpus``'s val packages or each ``--val-clips`` path its own group."""
    from edgel3_mote.compress.data import pipeline
    from edgel3_mote.compress.retrain.api import DistillConfig, groups_from_paths

    train = groups_from_paths(args.clips, each=False)
    val = groups_from_paths(args.val_clips, each=True)
    if args.corpus is not None:
        train = train or pipeline.read_corpus_packages(args.corpus, "train")
        val = val or pipeline.read_corpus_packages(args.corpus, "val")
    return DistillConfig(
        teacher=args.teacher,
        output=args.output,
        train_audio=train,
        val_audio=val,
        teacher_weights=args.teacher_weights,
        student=args.student,
        student_weights=args.student_weights,
        student_sparsity=args.student_sparsity,
        student_plan=args.student_plan,
        pruning=args.pruning,
        crops_per_epoch=args.crops_per_epoch,
        val_crops=args.val_crops,
        augment=not args.no_augment,
        balance=not args.no_balance,
        audio_cache=args.audio_cache,
        val_fraction=args.val_fraction,
        hop_size=args.hop_size,
        max_windows_per_clip=args.max_windows_per_clip,
        reduce=args.reduce,
        on_the_fly=args.on_the_fly,
        regrow=args.regrow,
        train_bn=args.train_bn,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        patience=args.patience,
        lr_patience=args.lr_patience,
        checkpoint_every=args.checkpoint_every,
        strategy=args.strategy,
        seed=args.seed,
        resume=not args.no_resume,
        tensorboard=not args.no_tensorboard,
        model_format=args.format,
    )


def run_distill(args: argparse.Namespace) -> int:
    import sys

    from edgel3_mote.compress.retrain.api import run_distillation

    result = run_distillation(distill_config(args), argv=sys.argv)
    if result is None:  # a non-chief worker
        return 0
    summary = result.summary
    for split in summary["after"]:
        b, a = summary["before"][split], summary["after"][split]
        print(
            f"{split:>5}: MSE {b['mse']:.4g} -> {a['mse']:.4g}, teacher/student cosine "
            f"{b['cosine_mean']:.4f} -> {a['cosine_mean']:.4f} (mean over {a['windows']} windows)"
        )
        if "cosine_per_package" in a:
            print(
                f"{split:>5}: balanced cosine {a['cosine_balanced']:.4f} = mean of "
                + ", ".join(f"{k} {v:.4f}" for k, v in a["cosine_per_package"].items())
            )
    if summary.get("best_epoch"):
        print(
            f"best {summary['best_monitor']} {summary['best_value']:.4f} at epoch {summary['best_epoch']}"
            + (" (its weights restored)" if summary.get("restored_best") else "")
        )
    print(f"student sparsity {summary['overall_sparsity']:.2f} %; wrote {result.model_file}")
    return 0
