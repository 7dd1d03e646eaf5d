"""``edgel3-mote prune`` and ``edgel3-mote sensitivity`` (TensorFlow imported in the handlers)."""

from __future__ import annotations

import argparse
from pathlib import Path

from edgel3_mote.cli_types import declare_outputs, output_dir, positive_float, positive_int

PRUNE_FILES = ("config.json", "summary.json")
# a run folder written before output folders carried their marker (edgel3_mote.atomic.OUTPUT_MARKER)
PRUNE_LEGACY = ("config.json", {"command": "prune"})
SENSITIVITY_FILES = ("config.json", "summary.json", "sensitivity.csv", "sensitivity.png")


def _check_start(args, command: str, files: tuple[str, ...]) -> None:
    """Before TensorFlow: the output folder is usable and the input files exist."""
    from edgel3_mote.atomic import check_output_dir
    from edgel3_mote.errors import InvalidInputError

    check_output_dir(args.output, command, files, ("config.json", {"command": command}))
    if args.weights is not None and not args.weights.is_file():
        raise InvalidInputError(
            f"weights file {args.weights} does not exist: give a trained .h5 / .h5.gz, or "
            f"leave --weights out for seeded random weights"
        )
    if args.weights is not None:
        from edgel3_mote.compress.weights import check_model_file

        check_model_file(args.weights, "--weights")
    for clip in args.clips or ():
        if not clip.exists():
            raise InvalidInputError(f"--clips {clip} does not exist: give audio files or folders of them")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "prune",
        help="layer-wise magnitude pruning of an audio model (EdgeL3 presets)",
        description="Prune the 8 conv layers of an L3/SEA audio model to per-layer sparsities: "
        "one-shot magnitude pruning, or gradual TF-MOT pruning while distilling from "
        "the unpruned model on audio clips. Writes OUT/config.json, OUT/model.h5 "
        "(or .keras) and OUT/summary.json (per-layer sparsity).",
        epilog="example: edgel3-mote prune --model l3-melspec2 --plan 95.45 --seed 0 -o runs/p95",
    )
    p.add_argument("--model", default="l3-melspec2", help="registry model name (default l3-melspec2)")
    p.add_argument("--weights", type=Path, help="original weight file (h5 / .h5.gz); default: seeded random weights")
    p.add_argument("--seed", type=int, default=0, help="seed of the random weights (default 0)")
    p.add_argument("--plan", nargs="+", help="preset name (53.49 ... 99.00, edgel3 = 95.45) or 8 per-layer percentages")
    p.add_argument(
        "--filters",
        nargs=8,
        type=int,
        metavar="W",
        help="filter-wise pruning first: keep this many largest-L1 filters per conv (a smaller dense reduced model)",
    )
    p.add_argument(
        "--last-conv",
        type=int,
        choices=range(1, 8),
        metavar="K",
        help="depth reduction first: take the embedding from conv K (5, 6, 7 ...)",
    )
    p.add_argument(
        "--masked", action="store_true", help="write a MaskedConv2D model (the zero pattern is kept when retraining)"
    )
    p.add_argument(
        "--mode",
        choices=("one-shot", "gradual"),
        default="one-shot",
        help="one-shot magnitude pruning (default) or TF-MOT gradual pruning",
    )
    p.add_argument(
        "--schedule",
        choices=("polynomial", "constant"),
        default="polynomial",
        help="gradual: TF-MOT PolynomialDecay (default) or ConstantSparsity",
    )
    p.add_argument(
        "--clips", nargs="+", type=Path, help="gradual: audio files/folders to distil from the unpruned model on"
    )
    p.add_argument("--epochs", type=positive_int, default=4, help="gradual: training epochs (default 4)")
    p.add_argument("--batch-size", type=positive_int, default=16)
    p.add_argument("--hop-size", type=positive_float, default=0.25, help="gradual: window hop in s")
    p.add_argument("--format", choices=("h5", "keras"), default="h5", help="model file format")
    p.add_argument("-o", "--output", type=Path, required=True, help="run directory to write")
    p.set_defaults(func=run_prune)
    declare_outputs(p, lambda a: [output_dir(a.output, "prune", PRUNE_FILES + (f"model.{a.format}",), PRUNE_LEGACY)])

    s = subparsers.add_parser(
        "sensitivity",
        help="per-layer pruning sensitivity sweep (the paper's Fig. 2)",
        description="Prune one conv layer at a time over a sweep of sparsities and record the "
        "embedding cosine similarity to the unpruned model on the given clips. "
        "Writes OUT/sensitivity.csv, OUT/sensitivity.png, OUT/config.json, "
        "OUT/summary.json.",
    )
    s.add_argument("--model", default="sea-64", help="registry model name (default sea-64)")
    s.add_argument("--weights", type=Path, help="weight file; default seeded random weights")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--clips", nargs="+", type=Path, required=True, help="audio files or folders")
    s.add_argument(
        "--sparsities",
        nargs="+",
        type=float,
        default=[0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 98],
        help="sweep in percent (default 0 10 ... 90 95 98)",
    )
    s.add_argument("--hop-size", type=positive_float, default=0.5, help="window hop in s (default 0.5)")
    s.add_argument("--max-windows", type=positive_int, default=64, help="windows used, at most (default 64)")
    s.add_argument("-o", "--output", type=Path, required=True, help="run directory to write")
    s.set_defaults(func=run_sensitivity)
    declare_outputs(
        s,
        lambda a: [output_dir(a.output, "sensitivity", SENSITIVITY_FILES, ("config.json", {"command": "sensitivity"}))],
    )


def _load_source_model(args, masked: bool):
    from edgel3_mote.compress.models.registry import build_model
    from edgel3_mote.compress.pruning.masked import build_masked_model

    weights = str(args.weights) if args.weights else None
    if masked:
        return build_masked_model(args.model, weights=weights, seed=args.seed)
    return build_model(args.model, weights=weights, seed=args.seed)


def run_prune(args: argparse.Namespace) -> int:
    _check_start(args, "prune", PRUNE_FILES + (f"model.{args.format}",))
    import edgel3_mote  # noqa: F401
    from edgel3_mote.compress.models.registry import get_spec
    from edgel3_mote.compress.pruning import presets
    from edgel3_mote.errors import InvalidInputError

    get_spec(args.model)
    if not (args.plan or args.filters or args.last_conv):
        raise InvalidInputError("nothing to prune: give --plan, --filters and/or --last-conv")
    plan_name, plan = presets.resolve_plan(args.plan) if args.plan else (None, None)
    if args.mode == "gradual" and not args.plan:
        raise InvalidInputError("gradual pruning needs --plan (per-layer target sparsities)")
    if args.mode == "gradual" and (args.filters or args.last_conv):
        raise InvalidInputError(
            "gradual pruning works on the full architecture: run --filters/"
            "--last-conv one-shot, then distil the reduced model"
        )
    if args.mode == "gradual" and not args.clips:
        raise InvalidInputError("gradual pruning trains on audio: give --clips FILES_OR_DIRS (or use --mode one-shot)")
    # everything the user can get wrong is checked: now TensorFlow
    from edgel3_mote.atomic import atomic_dir
    from edgel3_mote.compress.pruning import layerwise
    from edgel3_mote.compress.retrain import rundir

    print(f"building {args.model} ({'weights ' + str(args.weights) if args.weights else f'seed {args.seed}'})")
    model = _load_source_model(args, masked=args.masked and args.mode == "one-shot")
    reduction = {}
    if args.last_conv:
        from edgel3_mote.compress.pruning.filterwise import reduce_depth

        model = reduce_depth(model, args.model, args.last_conv)
        reduction["last_conv"] = args.last_conv
    if args.filters:
        from edgel3_mote.compress.pruning.filterwise import prune_filters

        before = model.count_params()
        model, kept = prune_filters(model, args.filters)
        reduction.update(
            {
                "filters": list(args.filters),
                "kept_filters": [k.tolist() for k in kept],
                "params_before": before,
                "params_after": model.count_params(),
            }
        )
    history = None
    if plan is None:
        pass
    elif args.mode == "one-shot":
        presets.apply_plan(model, plan)
    else:
        from edgel3_mote.compress.pruning.gradual import prune_gradually

        model, history = prune_gradually(
            model,
            [s / 100 for s in plan],
            clips=args.clips,
            model_name=args.model,
            epochs=args.epochs,
            batch_size=args.batch_size,
            hop_size=args.hop_size,
            schedule=args.schedule,
            seed=args.seed,
            masked=args.masked,
        )
    rows = layerwise.layer_sparsity(model)
    with atomic_dir(args.output, "prune", legacy=PRUNE_LEGACY) as tmp:
        rundir.write_json(tmp / "config.json", rundir.args_config(args, "prune"))
        path = rundir.save_model(model, rundir.model_path(tmp, args.format))
        summary = {
            "model": args.model,
            "weights": args.weights,
            "random_weights": args.weights is None,
            "seed": args.seed,
            "plan_name": plan_name,
            "plan": None if plan is None else list(plan),
            "mode": args.mode,
            "reduction": reduction or None,
            "params": model.count_params(),
            "masked": args.masked,
            "model_file": path.name,
            "layers": rows,
            "overall_sparsity": layerwise.total_sparsity(rows),
            "nonzero_weights": sum(r["weights"] - r["zeros"] for r in rows),
            "history": history,
        }
        rundir.write_json(tmp / "summary.json", summary)
    for r in rows:
        print(f"  {r['name']:<24} {r['weights']:>9} weights  {r['sparsity']:6.2f} % zero")
    print(
        f"overall sparsity {summary['overall_sparsity']:.2f} %, "
        f"{summary['nonzero_weights']} nonzero kernel weights -> {args.output}/{path.name}"
    )
    return 0


def run_sensitivity(args: argparse.Namespace) -> int:
    from edgel3_mote.errors import InvalidInputError

    _check_start(args, "sensitivity", SENSITIVITY_FILES)
    if not all(0 <= s < 100 for s in args.sparsities):
        raise InvalidInputError(f"--sparsities are percentages in [0, 100), got {' '.join(map(str, args.sparsities))}")
    import edgel3_mote  # noqa: F401
    from edgel3_mote.compress.pruning.sensitivity import run_sensitivity_command

    return run_sensitivity_command(args)
