"""The parity report: the float Keras model against its int8 export, clip by clip.

For every 1-s window of every clip (framed exactly as ``get_embedding`` frames it):

- float: the full Keras model (front-end included) on the raw audio;
- int8: the reference front-end, the input affine and quantisation on the host
  (``compress.frontend.quantize_input`` -- what the device computes), then the int8 model in
  the TFLite-Micro interpreter (``export.reference.TflmRunner``), dequantised;
- second opinion: the same int8 input through TFLite's BUILTIN_REF kernels.

Metrics are those ST's ``stedgeai validate`` reports -- cosine similarity, L2-relative error,
MAE, max absolute error -- per clip and in summary (median / min / mean), plus the TFLM vs
BUILTIN_REF exact-match rate, model sizes and the smallest TFLM arena that runs the model.
Writes ``report.json``, ``report.md`` and ``report.png`` atomically into one directory.
"""

from __future__ import annotations

import json
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np

from edgel3_mote.atomic import atomic_dir, check_output_dir, save_png
from edgel3_mote.compress.audio import find_audio_files
from edgel3_mote.errors import InvalidInputError
from edgel3_mote.export.manifest import Manifest
from edgel3_mote.export.tflite import (
    DEFAULT_CALIBRATION_STEPS,
    DEFAULT_HOP_SIZE,
    INT8_NAME,
    clip_windows,
    export_tflite,
    load_export,
)
from edgel3_mote.metrics import cosine_similarity

REPORT_JSON, REPORT_MD, REPORT_PNG = "report.json", "report.md", "report.png"
REPORT_FILES = (REPORT_JSON, REPORT_MD, REPORT_PNG)
REPORT_LEGACY = (REPORT_JSON, {"summary": None, "tflm_arena_bytes": None})  # folders from before the marker


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr)


def embedding_metrics(reference: np.ndarray, test: np.ndarray) -> dict[str, np.ndarray]:
    """Per-row metrics of ``test`` against ``reference`` (both ``(N, D)``)."""
    ref = np.asarray(reference, np.float64).reshape(len(reference), -1)
    tst = np.asarray(test, np.float64).reshape(len(test), -1)
    diff = tst - ref
    ref_norm = np.linalg.norm(ref, axis=1)
    cosine = cosine_similarity(ref, tst)
    l2 = np.linalg.norm(diff, axis=1)
    l2_rel = np.where(ref_norm > 0, l2 / np.where(ref_norm > 0, ref_norm, 1.0), np.where(l2 == 0, 0.0, np.inf))
    return {
        "cosine": cosine,
        "l2_relative": l2_rel,
        "mae": np.mean(np.abs(diff), axis=1),
        "max_abs": np.max(np.abs(diff), axis=1),
    }


def _summary(values) -> dict[str, float]:
    v = np.asarray(values, np.float64)
    return {"median": float(np.median(v)), "min": float(np.min(v)), "mean": float(np.mean(v)), "max": float(np.max(v))}


def _float_embeddings(model, windows: np.ndarray, batch: int = 32) -> np.ndarray:
    outs = [np.asarray(model(windows[i : i + batch, None, :], training=False)) for i in range(0, len(windows), batch)]
    return np.concatenate(outs).reshape(len(windows), -1).astype(np.float32)


def _int8_inputs(windows: np.ndarray, manifest: Manifest, batch: int = 32) -> np.ndarray:
    return np.concatenate([manifest.model_input_int8(windows[i : i + batch]) for i in range(0, len(windows), batch)])


def parity_report(
    model: str,
    weights=None,
    tflite_dir=None,
    clips=None,
    out_dir: str | Path = "build/report/parity",
    hop_size: float = DEFAULT_HOP_SIZE,
    seed: int = 0,
    calibration_steps: int = DEFAULT_CALIBRATION_STEPS,
    progress: bool = True,
    log: Callable[[str], None] = _stderr,
) -> dict:
    """Compare float and int8 embeddings of ``model`` on ``clips`` (a folder or list of audio files).

    ``tflite_dir`` is an ``export tflite`` directory; when it is None or holds no export, the
    model is exported first (calibrated on the same clips) -- into ``tflite_dir`` when given.
    Returns the report dictionary (also written as ``report.json``).
    """
    from tqdm import tqdm

    from edgel3_mote.compress.models.registry import build_model, get_spec
    from edgel3_mote.export.reference import TflmRunner, builtin_ref_invoke, tflm_arena_bytes

    if not isinstance(model, str):
        raise InvalidInputError(
            f"the parity report needs a registry model name, got {type(model).__name__}: see edgel3-mote models"
        )
    spec = get_spec(model)
    if clips is None:
        raise InvalidInputError("no clips given: pass --clips DIR with the audio to compare on")
    paths = find_audio_files(clips)
    if weights is not None and not Path(weights).is_file():
        raise InvalidInputError(f"weights file {weights} does not exist: give a trained .h5 or leave it out")
    check_output_dir(out_dir, "export report", REPORT_FILES, REPORT_LEGACY)

    exported_to_scratch = False
    with tempfile.TemporaryDirectory(prefix="edgel3-mote-export-") as scratch:
        if tflite_dir is None or not (Path(tflite_dir) / INT8_NAME).is_file():
            target = Path(tflite_dir) if tflite_dir is not None else Path(scratch) / "tflite"
            log(f"no export in {tflite_dir}: exporting {model} first" if tflite_dir else f"exporting {model} first")
            export_tflite(
                model,
                weights=weights,
                calibration=paths,
                out_dir=target,
                seed=seed,
                calibration_steps=calibration_steps,
                hop_size=hop_size,
                progress=progress,
                log=log,
            )
            exported_to_scratch = tflite_dir is None
            tflite_dir = target
        int8_tflite, manifest = load_export(tflite_dir)
    if manifest.model != model:
        raise InvalidInputError(
            f"{tflite_dir} holds an export of {manifest.model!r}, not {model!r}: "
            f"give the matching --model or another --tflite-dir"
        )
    if manifest.random_weights != (weights is None):
        raise InvalidInputError(
            f"{tflite_dir} was exported with {'random' if manifest.random_weights else 'trained'} "
            f"weights but this report uses {'random' if weights is None else 'trained'} ones: "
            f"re-export with the same --weights"
        )
    if weights is None:
        log(
            f"WARNING: {model} has RANDOM weights (seed {seed}): the parity numbers are about the "
            f"conversion, not a trained embedding"
        )

    float_model = build_model(model, weights=None if weights is None else str(weights), seed=seed)
    runner = TflmRunner(int8_tflite)
    clip_rows: list[dict[str, Any]] = []
    window_metrics, all_abs_errors, element_match = [], [], []
    first_input: np.ndarray | None = None
    with warnings.catch_warnings():
        # builtin_ref_invoke builds a tf.lite.Interpreter per call, and each one warns it is deprecated.
        warnings.filterwarnings("ignore", message=r".*tf\.lite\.Interpreter is deprecated")
        for path in tqdm(paths, desc="parity clips", unit="clip", disable=not progress):
            windows = clip_windows(path, spec, hop_size)
            emb_float = _float_embeddings(float_model, windows)
            x_int8 = _int8_inputs(windows, manifest)
            first_input = x_int8[0] if first_input is None else first_input
            y_tflm = np.stack([runner.invoke(x[..., None]).reshape(-1) for x in x_int8])
            y_ref = np.stack([builtin_ref_invoke(int8_tflite, x[..., None]).reshape(-1) for x in x_int8])
            emb_int8 = manifest.dequantize_output(y_tflm)
            m = embedding_metrics(emb_float, emb_int8)
            exact = np.all(y_tflm == y_ref, axis=1)
            element_match.append((int(np.sum(y_tflm == y_ref)), int(y_tflm.size)))
            all_abs_errors.append(np.abs(emb_int8 - emb_float).reshape(-1))
            window_metrics.append(m)
            clip_rows.append(
                {
                    "clip": str(path),
                    "name": Path(path).name,
                    "windows": int(len(windows)),
                    "cosine_mean": float(np.mean(m["cosine"])),
                    "cosine_min": float(np.min(m["cosine"])),
                    "l2_relative_mean": float(np.mean(m["l2_relative"])),
                    "mae_mean": float(np.mean(m["mae"])),
                    "max_abs": float(np.max(m["max_abs"])),
                    "builtin_ref_exact_rate": float(np.mean(exact)),
                    "window_cosine": [round(float(c), 7) for c in m["cosine"]],
                }
            )

    windows_all = {k: np.concatenate([m[k] for m in window_metrics]) for k in window_metrics[0]}
    n_windows = int(sum(row["windows"] for row in clip_rows))
    exact_windows = sum(row["builtin_ref_exact_rate"] * row["windows"] for row in clip_rows)
    assert first_input is not None  # find_audio_files gives at least one clip, and every clip one window
    log("measuring the TFLite-Micro arena (bisection)")
    arena = tflm_arena_bytes(int8_tflite, first_input[..., None])
    report: dict[str, Any] = {
        "model": model,
        "weights": None if weights is None else str(Path(weights).resolve()),
        "random_weights": weights is None,
        "seed": seed if weights is None else None,
        "tflite_dir": None if exported_to_scratch else str(Path(tflite_dir).resolve()),
        "sha256": manifest.sha256,
        "hop_size": float(hop_size),
        "clips": len(clip_rows),
        "windows": n_windows,
        "summary": {
            "cosine_per_clip": _summary([r["cosine_mean"] for r in clip_rows]),
            "cosine_per_window": _summary(windows_all["cosine"]),
            "l2_relative_per_window": _summary(windows_all["l2_relative"]),
            "mae_per_window": _summary(windows_all["mae"]),
            "max_abs_error": float(np.max(windows_all["max_abs"])),
            "tflm_vs_builtin_ref_exact_rate": float(exact_windows / n_windows),
            "tflm_vs_builtin_ref_element_match": float(
                sum(e for e, _ in element_match) / sum(n for _, n in element_match)
            ),
        },
        "per_clip": clip_rows,
        "sizes": dict(manifest.sizes),
        "tflm_arena_bytes": int(arena),
        "input": manifest.input.to_dict(),
        "output": manifest.output.to_dict(),
        "calibration": manifest.calibration,
    }
    with atomic_dir(out_dir, "export report", legacy=REPORT_LEGACY) as tmp:
        (tmp / REPORT_JSON).write_text(json.dumps(report, indent=2) + "\n")
        (tmp / REPORT_MD).write_text(render_markdown(report))
        _plot(report, np.concatenate(all_abs_errors), tmp / REPORT_PNG)
    s = report["summary"]
    log(
        f"wrote {out_dir}: cosine per clip median {s['cosine_per_clip']['median']:.5f} "
        f"min {s['cosine_per_clip']['min']:.5f}; TFLM = BUILTIN_REF on "
        f"{100 * s['tflm_vs_builtin_ref_exact_rate']:.1f} % of windows; arena {arena} B"
    )
    return report


def render_markdown(report: dict) -> str:
    s, sizes = report["summary"], report["sizes"]
    weights = (
        "**RANDOM weights** (seed %s) -- not a trained embedding" % report["seed"]
        if report["random_weights"]
        else f"`{report['weights']}`"
    )
    lines = [
        f"# int8 parity report: {report['model']}",
        "",
        f"- weights: {weights}",
        f"- int8 model: `{report['tflite_dir'] or 'exported for this report'}` (sha256 `{report['sha256']}`)",
        f"- {report['clips']} clips, {report['windows']} windows of 1 s at hop {report['hop_size']} s",
        "- float = Keras model on raw audio; int8 = host front-end + quantisation, TFLite-Micro interpreter, "
        "dequantised",
        "",
        "## Summary (int8 vs float)",
        "",
        "| metric | median | min | mean | max |",
        "|---|---|---|---|---|",
    ]
    for key, label in (
        ("cosine_per_clip", "cosine (clip mean)"),
        ("cosine_per_window", "cosine (window)"),
        ("l2_relative_per_window", "L2-relative error (window)"),
        ("mae_per_window", "MAE (window)"),
    ):
        v = s[key]
        lines.append(f"| {label} | {v['median']:.6f} | {v['min']:.6f} | {v['mean']:.6f} | {v['max']:.6f} |")
    lines += [
        "",
        f"- max absolute error: {s['max_abs_error']:.6f}",
        f"- TFLite-Micro vs TFLite BUILTIN_REF: {100 * s['tflm_vs_builtin_ref_exact_rate']:.2f} % of windows "
        f"identical ({100 * s['tflm_vs_builtin_ref_element_match']:.3f} % of output values)",
        "",
        "## Sizes",
        "",
        "| what | bytes |",
        "|---|---|",
        f"| float .tflite | {sizes['float_tflite_bytes']} |",
        f"| int8 .tflite | {sizes['int8_tflite_bytes']} |",
        f"| int8 weights + biases | {sizes['weight_bytes']} |",
        f"| nonzero weight + bias bytes | {sizes['nonzero_weight_bytes']} |",
        f"| TFLite-Micro arena (smallest that runs) | {report['tflm_arena_bytes']} |",
        "",
        "## Per clip",
        "",
        "| clip | windows | cosine mean | cosine min | L2-rel mean | MAE mean | max abs | = BUILTIN_REF |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in report["per_clip"]:
        lines.append(
            f"| {r['name']} | {r['windows']} | {r['cosine_mean']:.6f} | {r['cosine_min']:.6f} | "
            f"{r['l2_relative_mean']:.6f} | {r['mae_mean']:.6f} | {r['max_abs']:.6f} | "
            f"{100 * r['builtin_ref_exact_rate']:.1f} % |"
        )
    lines += ["", f"![per-clip cosine and error histogram]({REPORT_PNG})", ""]
    return "\n".join(lines)


def _plot(report: dict, abs_errors: np.ndarray, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = report["per_clip"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    names = [r["name"] for r in rows]
    means = np.array([r["cosine_mean"] for r in rows])
    mins = np.array([r["cosine_min"] for r in rows])
    x = np.arange(len(rows))
    ax1.bar(x, means, color="tab:blue", label="mean over windows")
    ax1.scatter(x, mins, color="tab:red", marker="v", zorder=3, label="min over windows")
    low = min(float(mins.min()), 0.99)
    ax1.set_ylim(max(0.0, low - (1 - low) * 0.2), 1.0 + (1 - low) * 0.05)
    ax1.axhline(0.99, color="gray", ls="--", lw=1)
    ax1.set_xticks(x, names, rotation=45, ha="right", fontsize=8)
    ax1.set_ylabel("cosine similarity (int8 vs float)")
    ax1.set_title(f"{report['model']}: per-clip cosine")
    ax1.legend(fontsize=8, loc="best", framealpha=0.9)
    ax2.hist(abs_errors, bins=60, color="tab:orange", log=True)
    ax2.set_xlabel("|int8 - float| per embedding value")
    ax2.set_ylabel("count")
    ax2.set_title("absolute error histogram")
    fig.tight_layout()
    save_png(fig, path, dpi=100)
