"""``edgel3-mote evaluate``: the downstream protocol (compress/evaluate) from the command line.

The handler lives in export/ because it runs the embedders (``export.embedders``), which reach the
int8 export; compress/evaluate keeps the datasets, the extraction, the protocol and the reports, and
imports nothing from export/.
"""

from __future__ import annotations

import argparse

HELP = "downstream k-fold evaluation (US8K, ESC-50, ESC-10, folder-per-class) of embedding models"


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "evaluate",
        help=HELP,
        description=HELP
        + (
            ". For test fold k, validation = fold k-1, training = the rest; MLP 512-128 on frame embeddings "
            "(or SVM), clip vote = argmax of mean frame probability. Several --model give one comparison table."
        ),
    )
    p.add_argument("--dataset", required=True, choices=["us8k", "esc50", "esc10", "folder"])
    p.add_argument("--root", required=True, help="dataset top folder (as distributed)")
    p.add_argument(
        "--folds",
        type=int,
        default=None,
        help="folder datasets: number of folds (default 5); others: evaluate only the first K test folds",
    )
    p.add_argument(
        "--model",
        action="append",
        required=True,
        help="registry model name (repeat for a comparison); see `edgel3-mote models`",
    )
    p.add_argument(
        "--weights",
        action="append",
        default=None,
        help="weights for each --model in the same order ('none' = seeded random weights)",
    )
    p.add_argument(
        "--int8",
        action="store_true",
        help="evaluate the int8 export run by the tflite-micro interpreter instead of the float model",
    )
    p.add_argument(
        "--numeric",
        choices=["float", "int8", "both"],
        default=None,
        help="float, int8 or both (both: one comparison of float vs int8 per model)",
    )
    p.add_argument("--classifier", choices=["mlp", "svm"], default="mlp")
    p.add_argument("--grid", action="store_true", help="search learning rate x weight decay per fold on validation")
    p.add_argument("--epochs", type=int, default=150)
    p.add_argument("--patience", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--learning-rate", type=float, default=1e-4, help="MLP Adam learning rate (EdgeL3: 1e-4)")
    p.add_argument("--hop-size", type=float, default=0.1, help="embedding hop in seconds (frames are 1 s)")
    p.add_argument("--calibration", default=None, help="int8 only: audio folder for calibration (default: the dataset)")
    p.add_argument(
        "--calibration-steps",
        type=int,
        default=None,
        help="int8 only: number of calibration windows (default: the export's default)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cache", default=None, help="embedding cache folder (default: OUT/cache); reruns resume from it")
    p.add_argument(
        "--save-classifier",
        default=None,
        metavar="PATH.h5",
        help="also train the MLP for deployment (all folds but the last, which validates) and save it "
        "with the StandardScaler folded in (+ PATH.classes.json); one --model only; trained on the "
        "int8 embeddings when --int8/--numeric int8|both "
        "(edgel3_mote.export.classifier.export_classifier makes it the int8 head for the mote)",
    )
    p.add_argument("-o", "--output", required=True, help="report folder")
    p.set_defaults(func=run)
    from edgel3_mote.cli_types import declare_outputs

    declare_outputs(p, _outputs)


def _outputs(args) -> list:
    """The report folder (its reports, cache/ and exports/), --cache, and --save-classifier's .h5 + sidecar."""
    from pathlib import Path

    from edgel3_mote.cli_types import output_dir, output_file

    reports = ("comparison.json", "comparison.md", "accuracy_vs_size.png", "cache", "exports")
    outs = [output_dir(args.output, "evaluate", reports + tuple(f"evaluation_{m}-*" for m in args.model))]
    if args.cache:
        outs.append(output_dir(args.cache, "evaluate", flag="--cache"))
    if args.save_classifier:
        head = Path(args.save_classifier)
        sidecar = head.stem + ".classes.json"
        outs.append(
            output_file(
                head,
                "evaluate",
                siblings=(sidecar,),
                legacy=(sidecar, {"classes": None, "input_dim": None}),
                flag="--save-classifier",
            )
        )
    return outs


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from edgel3_mote.compress.evaluate.datasets import load_dataset
    from edgel3_mote.compress.evaluate.extract import extract_embeddings
    from edgel3_mote.compress.evaluate.protocol import (
        ClassifierConfig,
        cross_validate,
        default_grid,
        save_classifier,
        train_deploy_classifier,
    )
    from edgel3_mote.compress.evaluate.report import write_comparison, write_report
    from edgel3_mote.errors import InvalidInputError
    from edgel3_mote.export.embedders import make_embedder

    weights = args.weights or []
    if weights and len(weights) != len(args.model):
        raise InvalidInputError(
            f"{len(args.model)} --model but {len(weights)} --weights; give one --weights per "
            f"--model (use 'none' for seeded random weights)"
        )
    from edgel3_mote.compress.weights import check_model_file

    for w in weights:
        if w.lower() != "none":
            check_model_file(w, "--weights")  # before the dataset is read and embedded
    numeric = args.numeric or ("int8" if args.int8 else "float")
    numerics = ["float", "int8"] if numeric == "both" else [numeric]
    if args.hop_size <= 0:
        raise InvalidInputError(f"--hop-size {args.hop_size} must be > 0 seconds")
    if args.save_classifier:
        if len(args.model) != 1:
            raise InvalidInputError(f"--save-classifier needs exactly one --model (got {len(args.model)})")
        if not args.save_classifier.endswith(".h5"):
            raise InvalidInputError(f"--save-classifier {args.save_classifier}: give a .h5 path")
        if args.classifier != "mlp":
            raise InvalidInputError("--save-classifier deploys the MLP; drop --classifier svm")
    ds = load_dataset(args.dataset, args.root, args.folds if args.dataset == "folder" else None)
    test_folds = ds.folds if (args.dataset == "folder" or not args.folds) else ds.folds[: args.folds]
    out = Path(args.output)
    cache = Path(args.cache) if args.cache else out / "cache"
    cfg = ClassifierConfig(
        kind=args.classifier,
        epochs=args.epochs,
        patience=args.patience,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        seed=args.seed,
    )
    summaries = []
    for i, model in enumerate(args.model):
        w = weights[i] if weights else None
        w = None if (w is None or w.lower() == "none") else w
        for num in numerics:
            embedder = make_embedder(
                model,
                weights=w,
                numeric=num,
                hop_size=args.hop_size,
                seed=args.seed,
                calibration=args.calibration or [c.path for c in ds.clips],
                work_dir=out / "exports",
                calibration_steps=args.calibration_steps,
            )
            emb = extract_embeddings(ds.clips, embedder, cache)
            summary = cross_validate(ds, emb, cfg, test_folds, default_grid() if args.grid else None)
            summary["embedding"] = embedder.describe()
            if embedder.describe().get("random_weights"):
                print(f"note: {model} uses RANDOM WEIGHTS (seed {args.seed}); pass --weights for a trained model")
            paths = write_report(summary, out, stem=f"evaluation_{embedder.key}")
            summaries.append(summary)
            print(
                f"{embedder.key}: {100 * summary['accuracy_mean']:.2f} % ± {100 * summary['accuracy_std']:.2f} "
                f"over {len(summary['folds'])} folds -> {paths['markdown']}"
            )
    if args.save_classifier:
        # `emb` and `embedder` are the last evaluated: int8 when int8 was asked for (what the mote computes)
        head, classes = train_deploy_classifier(ds, emb, cfg)
        save_classifier(
            head,
            classes,
            args.save_classifier,
            {"embedding": embedder.describe(), "val_fold": ds.folds[-1], "dataset": ds.name},
        )
        print(f"deployable classifier ({len(classes)} classes, scaler folded in) -> {args.save_classifier}")
    if len(summaries) > 1:
        paths = write_comparison(summaries, out)
        print(f"comparison -> {paths['markdown']}, {paths['png']}")
    return 0
