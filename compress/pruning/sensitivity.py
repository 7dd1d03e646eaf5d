"""Per-layer pruning sensitivity (the EdgeL3 paper's Fig. 2).

One conv at a time is magnitude-pruned to each sparsity of a sweep (the others untouched), and
the model's embeddings on given windows are compared with the unpruned model's: mean cosine
similarity and MSE. Layers whose curve stays flat can be pruned hard (EdgeL3's plans prune
conv1 least and the wide late convs most).
"""

from __future__ import annotations

import argparse
import csv
import io
import os
from typing import TYPE_CHECKING, Sequence

import numpy as np

from edgel3_mote.atomic import save_png
from edgel3_mote.compress.pruning.layerwise import conv_slots, magnitude_mask
from edgel3_mote.errors import InvalidInputError
from edgel3_mote.metrics import cosine_similarity

if TYPE_CHECKING:
    import tf_keras as keras


def sensitivity_sweep(
    model: keras.Model, inputs: np.ndarray, sparsities: Sequence[float], batch_size: int = 64, progress: bool = True
) -> list[dict]:
    """Rows ``{layer, index, sparsity (%), cosine_mean, cosine_min, mse}`` for every conv x sparsity.

    ``model`` is restored to its original weights afterwards.
    """
    from tqdm import tqdm

    from edgel3_mote.compress.pruning.masked import MaskedConv2D
    from edgel3_mote.compress.retrain.distill import predict

    values = sorted(float(s) for s in sparsities)
    if not values or any(not 0 <= s < 100 for s in values):
        raise InvalidInputError(f"sweep sparsities are percentages in [0, 100), got {list(sparsities)}")
    reference = predict(model, inputs, batch_size)
    slots = conv_slots(model)
    rows = []
    bar = tqdm(total=len(slots) * len(values), desc="sensitivity", unit="model", disable=not progress)
    for index, conv in slots:
        original = conv.kernel.numpy().copy()
        effective = original * conv.kernel_mask.numpy() if isinstance(conv, MaskedConv2D) else original
        try:
            for s in values:
                conv.kernel.assign(effective * magnitude_mask(effective, s / 100.0))
                out = predict(model, inputs, batch_size)
                cos = cosine_similarity(out, reference)
                rows.append(
                    {
                        "layer": conv.name,
                        "index": index + 1,
                        "sparsity": s,
                        "cosine_mean": float(np.mean(cos)),
                        "cosine_min": float(np.min(cos)),
                        "mse": float(np.mean((out - reference) ** 2)),
                    }
                )
                bar.update()
        finally:
            conv.kernel.assign(original)
    bar.close()
    return rows


def rows_to_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def tolerated_sparsity(rows: list[dict], min_cosine: float = 0.99) -> dict[str, float]:
    """Per layer, the largest swept sparsity whose mean cosine stays >= ``min_cosine``."""
    best: dict[str, float] = {}
    for row in rows:
        best.setdefault(row["layer"], 0.0)
    for layer in best:
        ok = [r["sparsity"] for r in rows if r["layer"] == layer and r["cosine_mean"] >= min_cosine]
        best[layer] = max(ok) if ok else 0.0
    return best


def plot_sensitivity(rows: list[dict], path: str | os.PathLike, title: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for layer in dict.fromkeys(r["layer"] for r in rows):
        sub = [r for r in rows if r["layer"] == layer]
        ax.plot(
            [r["sparsity"] for r in sub],
            [r["cosine_mean"] for r in sub],
            marker="o",
            ms=3,
            label=f"conv{sub[0]['index']} ({layer})",
        )
    ax.set_xlabel("sparsity of the one pruned layer (%)")
    ax.set_ylabel("embedding cosine vs unpruned (mean)")
    ax.set_title(title or "per-layer pruning sensitivity")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    save_png(fig, path, dpi=120)


def run_sensitivity_command(args: argparse.Namespace) -> int:
    from edgel3_mote.atomic import atomic_dir
    from edgel3_mote.compress.data import pipeline
    from edgel3_mote.compress.models.registry import build_model
    from edgel3_mote.compress.retrain import rundir
    from edgel3_mote.compress.retrain.distill import student_inputs

    model = build_model(args.model, weights=str(args.weights) if args.weights else None, seed=args.seed)
    windows = pipeline.clip_windows(args.clips, args.model, args.hop_size)
    inputs = windows.model_inputs()
    if args.max_windows and len(inputs) > args.max_windows:
        pick = np.linspace(0, len(inputs) - 1, args.max_windows).round().astype(int)
        inputs = inputs[pick]
    backbone, spectrograms = student_inputs(model, inputs)  # the fixed front-end runs once
    rows = sensitivity_sweep(backbone, spectrograms, args.sparsities)
    tolerated = tolerated_sparsity(rows)
    with atomic_dir(args.output, "sensitivity", legacy=("config.json", {"command": "sensitivity"})) as tmp:
        rundir.write_json(tmp / "config.json", rundir.args_config(args, "sensitivity"))
        rundir.atomic_write_text(tmp / "sensitivity.csv", rows_to_csv(rows))
        plot_sensitivity(rows, tmp / "sensitivity.png", f"{args.model}: one layer pruned at a time")
        rundir.write_json(
            tmp / "summary.json",
            {
                "model": args.model,
                "weights": args.weights,
                "random_weights": args.weights is None,
                "windows": int(len(inputs)),
                "clips": windows.paths,
                "rows": rows,
                "tolerated_sparsity_at_cosine_0.99": tolerated,
            },
        )
    for layer, s in tolerated.items():
        print(f"  {layer:<24} tolerates {s:5.1f} % (mean cosine >= 0.99)")
    print(f"wrote {args.output}/sensitivity.csv and sensitivity.png")
    return 0
