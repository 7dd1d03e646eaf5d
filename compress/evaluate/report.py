"""Evaluation reports: JSON (everything), Markdown (what people read), PNG (confusion matrix),
and for several evaluations a comparison table and accuracy-vs-size plot (the paper's Fig. 5
for the user's own models)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from edgel3_mote.atomic import atomic_write_text, save_png


def accuracy_line(summary: dict) -> str:
    """``"81.20 % (95 % CI 77.9-84.3, pooled 81.3 %; fold std 2.10; majority class 11.3 %)"``;
    summaries written before the interval existed show mean ± fold std."""
    mean = f"{100 * summary['accuracy_mean']:.2f} %"
    if "accuracy_ci95" not in summary:
        return f"{mean} ± {100 * summary['accuracy_std']:.2f}"
    lo, hi = summary["accuracy_ci95"]
    return (
        f"{mean} (95 % CI {100 * lo:.1f}-{100 * hi:.1f}, pooled {100 * summary['accuracy_pooled']:.1f} %; "
        f"fold std {100 * summary['accuracy_std']:.2f}; majority class {100 * summary['majority_baseline']:.1f} %)"
    )


def _markdown(summary: dict) -> str:
    lines = [f"# Downstream evaluation: {summary['dataset']} with {summary.get('embedding', {}).get('key', '?')}", ""]
    emb = summary.get("embedding", {})
    if emb.get("random_weights"):
        lines += ["**RANDOM WEIGHTS** — the embedding model was not trained; accuracy says nothing about it.", ""]
    lines += [
        f"- clips: {summary['n_clips']}, classes: {len(summary['classes'])}, folds: {len(summary['folds'])}",
        f"- classifier: {summary['classifier']['kind']} (grid: {'yes' if summary.get('grid') else 'no'})",
        f"- **accuracy: {accuracy_line(summary)}**",
        *([f"- confidence interval: {summary['ci_method']}"] if summary.get("ci_method") else []),
        "",
        "| test fold | validation fold | accuracy | validation accuracy | chosen |",
        "|---:|---:|---:|---:|---|",
    ]
    for f in summary["folds"]:
        lines.append(
            f"| {f['test_fold']} | {f['val_fold']} | {100 * f['accuracy']:.2f} % | "
            f"{100 * f['val_accuracy']:.2f} % | {f['chosen']} |"
        )
    lines += ["", "| class | accuracy |", "|---|---:|"]
    for name, acc in summary["per_class_accuracy"].items():
        lines.append(f"| {name} | {'—' if acc is None else f'{100 * acc:.1f} %'} |")
    if summary.get("notes"):
        lines += ["", "## Notes", "", *[f"- {n}" for n in summary["notes"]]]
    return "\n".join(lines) + "\n"


def _confusion_png(summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    conf = np.asarray(summary["confusion_matrix"])
    n = len(summary["classes"])
    size = max(4.0, 0.45 * n + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(conf, cmap="Blues")
    ax.set_xticks(range(n), summary["classes"], rotation=90, fontsize=8)
    ax.set_yticks(range(n), summary["classes"], fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if n <= 20:
        for i in range(n):
            for j in range(n):
                if conf[i, j]:
                    ax.text(
                        j,
                        i,
                        str(conf[i, j]),
                        ha="center",
                        va="center",
                        fontsize=7,
                        color="white" if conf[i, j] > conf.max() / 2 else "black",
                    )
    ax.set_title(
        f"{summary['dataset']}: {100 * summary['accuracy_mean']:.1f} % ({summary.get('embedding', {}).get('key', '')})",
        fontsize=9,
    )
    fig.tight_layout()
    save_png(fig, path)


def write_report(summary: dict, out_dir: str | Path, stem: str = "evaluation") -> dict[str, Path]:
    out_dir = Path(out_dir)
    paths = {
        "json": out_dir / f"{stem}.json",
        "markdown": out_dir / f"{stem}.md",
        "confusion_png": out_dir / f"{stem}_confusion.png",
    }
    atomic_write_text(paths["json"], json.dumps(summary, indent=2))
    atomic_write_text(paths["markdown"], _markdown(summary))
    _confusion_png(summary, paths["confusion_png"])
    return paths


def _pct(value) -> str:
    return "—" if value is None else f"{100 * value:.1f} %"


def _ci(ci) -> str:
    return "—" if not ci else f"{100 * ci[0]:.1f}-{100 * ci[1]:.1f} %"


def write_comparison(summaries: list[dict], out_dir: str | Path) -> dict[str, Path]:
    """One table and one accuracy-vs-size plot over several evaluated embeddings."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    rows = []
    for s in summaries:
        e = s.get("embedding", {})
        rows.append(
            {
                "key": e.get("key"),
                "model": e.get("model"),
                "numeric": e.get("numeric"),
                "nonzero_weights": e.get("nonzero_weights"),
                "sparsity": e.get("sparsity"),
                "size_bytes": e.get("size_bytes"),
                "accuracy_mean": s["accuracy_mean"],
                "accuracy_std": s["accuracy_std"],
                "accuracy_ci95": s.get("accuracy_ci95"),
                "majority_baseline": s.get("majority_baseline"),
            }
        )
    md = [
        "# Comparison",
        "",
        "| embedding | numeric | nonzero weights | sparsity | size (bytes) | accuracy | 95 % CI | majority class |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        sp = "—" if r["sparsity"] is None else f"{100 * r['sparsity']:.2f} %"
        md.append(
            f"| {r['key']} | {r['numeric']} | {r['nonzero_weights']} | {sp} | {r['size_bytes']} | "
            f"{100 * r['accuracy_mean']:.2f} % ± {100 * r['accuracy_std']:.2f} | {_ci(r['accuracy_ci95'])} | "
            f"{_pct(r['majority_baseline'])} |"
        )
    paths = {
        "json": out_dir / "comparison.json",
        "markdown": out_dir / "comparison.md",
        "png": out_dir / "accuracy_vs_size.png",
    }
    atomic_write_text(paths["json"], json.dumps(rows, indent=2))
    atomic_write_text(paths["markdown"], "\n".join(md) + "\n")
    fig, ax = plt.subplots(figsize=(6, 4))
    for r in rows:
        x = r["size_bytes"] or r["nonzero_weights"] or 0
        if r["accuracy_ci95"]:  # the 95 % interval where the summary has one, else the fold std
            lo, hi = r["accuracy_ci95"]
            yerr = [[100 * max(0.0, r["accuracy_mean"] - lo)], [100 * max(0.0, hi - r["accuracy_mean"])]]
        else:
            yerr = [[100 * r["accuracy_std"]], [100 * r["accuracy_std"]]]
        ax.errorbar([x], [100 * r["accuracy_mean"]], yerr=yerr, fmt="o", capsize=3)
        ax.annotate(r["key"], (x, 100 * r["accuracy_mean"]), fontsize=7, xytext=(4, 4), textcoords="offset points")
    ax.set_xlabel("model size (bytes of weights; int8 = 1 byte each)")
    ax.set_ylabel("accuracy (%)")
    ax.set_title("accuracy against model size")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    save_png(fig, paths["png"])
    return paths
