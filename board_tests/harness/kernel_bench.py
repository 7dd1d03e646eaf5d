"""Instruction counts of the kernels on an emulated Cortex-M4 (QEMU -icount), portable vs DSP.

    python -m edgel3_mote.board_tests.harness.kernel_bench [--board qemu-mps2-an386] [-o DIR]

Builds ``kernel_bench_main.c`` twice (with and without -DEM_USE_DSP), runs both in QEMU and
prints instructions per MAC for every kernel path: one SEA-64-sized conv layer with int8 weights
(dense and 90 % sparse), a fully-connected layer, and SEA-64's eight conv layer shapes with int8
(em_conv2d_s8) and int16-expanded (em_conv2d_s8_w16) weights. Writes DIR/kernel_bench.json,
DIR/kernel_bench.md and DIR/kernel_bench.png. QEMU counts instructions, not cycles: SMLAD does two
MACs in one instruction, so these numbers show the DSP path's work, not an M4's exact timing; the
estimated cycles per MAC beside them come from the core's timing table (board_tests/harness/cycles.py,
zero wait states). A third ELF (``cmsis_nn_bench_main.c``) runs SEA-64's conv shapes through the engine's
em_conv2d_s8 and CMSIS-NN's arm_convolve_wrapper_s8 (compiled from ``TFLM_PATH``'s cmsis_nn, the kernel
TFLM's conv runs) on the same data: the CMSIS-NN column, and whether the two kernels' bytes are identical.
A fourth run builds the DSP kernels with their weights in the FLASH region
(-DEM_BENCH_WEIGHTS_IN_FLASH) and costs it with the STM32F405's memory system (export/memory_model.py):
zero-wait, memory-aware estimate and upper bound cycles per MAC for every kernel path, among them the two
weights-in-flash paths the engine plans for the F405 (DSP builds only; on the portable path both are
em_conv2d_s8): em_conv2d_s8_tiled (int8 flash weights expanded into a RAM tile once per output row: one row
a call, as the streamed engine calls it) on SEA-64's eight conv shapes and em_conv2d_s8_wino (Winograd
F(2x2, 3x3), weights transformed into a RAM tile once per output row pair: row-pair calls) on the seven it
takes (in_c a multiple of 8), both checked byte for byte against em_conv2d_s8 in the firmware. Their
instructions are set beside the engine's cost model (export/codegen/ops/conv2d.py:
estimate_tiled_instructions, estimate_wino_instructions).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from pathlib import Path

from edgel3_mote.export.boards import BENCH_DIR, KERNEL_DIR, KERNEL_SOURCES
from edgel3_mote.export.memory_model import MemoryModel

DEFAULT_OUTPUT = "build/bench-kernels"

BENCH_MAIN = BENCH_DIR / "kernel_bench_main.c"
CMSIS_NN_MAIN = BENCH_DIR / "cmsis_nn_bench_main.c"  # SEA-64's convs: em_conv2d_s8 beside CMSIS-NN
SEA64_HEADER = BENCH_DIR / "em_bench_sea64.h"  # sea_layers[]: SEA-64's conv shapes, one definition
SEA64_LAYERS = 8  # sea_layers[] in em_bench_sea64.h
# the SEA-64 conv paths the DSP build times: key in the firmware's sea_l<i>_<key>_ticks, and the row's name
SEA64_FORMS = {
    "s8": "int8 weights",
    "w16": "int16 weights (w16)",
    "tiled": "tiled (int8 flash weights, RAM tile per row)",
    "wino": "Winograd F(2x2, 3x3) (int8 flash weights, RAM tile per row pair)",
}


def sea64_shapes() -> list[tuple[int, int, int, int]]:
    """SEA-64's conv shapes as the bench firmware runs them, read from em_bench_sea64.h's sea_layers[]:
    (h, w, in_c, out_c) per layer (3x3, same, stride 1: the output has the input's h and w)."""
    text = SEA64_HEADER.read_text()
    body = re.search(r"sea_layers\[\d+\]\[4\]\s*=\s*\{(.*?)\};", text, re.S)
    if body is None:
        raise ValueError(f"{SEA64_HEADER}: no sea_layers[][4] table")
    rows = [[int(v) for v in m.split(",")] for m in re.findall(r"\{\s*([\d,\s]+?)\s*\}", body.group(1))]
    if len(rows) != SEA64_LAYERS or any(len(t) != 4 for t in rows):
        raise ValueError(f"{SEA64_HEADER}: sea_layers[] is not {SEA64_LAYERS} rows of 4: {rows}")
    return [(h, w, cin, cout) for h, w, cin, cout in rows]


def sea64_layers(r: dict[str, int], form: str) -> list[int]:
    """The SEA-64 layers a run timed ``form`` on (tiled and Winograd: DSP builds; Winograd: in_c % 8 == 0)."""
    return [i for i in range(SEA64_LAYERS) if f"sea_l{i}_{form}_ticks" in r]


def cost_model_rows(r: dict[str, int]) -> list[dict]:
    """The engine's cost model (export/codegen/ops/conv2d.py) against a DSP run: per path, the instructions
    measured on the SEA-64 shapes it ran (summed) and what estimate_tiled_instructions (one output row a
    call: passes = out_h) and estimate_wino_instructions (row-pair calls) give for them, and their ratio."""
    from edgel3_mote.export.codegen.ops.conv2d import estimate_tiled_instructions, estimate_wino_instructions

    shapes = sea64_shapes()

    def estimate(form: str, i: int) -> float:
        h, w, cin, cout = shapes[i]
        if form == "tiled":
            return estimate_tiled_instructions((h, w), cin, cout, (3, 3), passes=h)
        return estimate_wino_instructions((h, w), cin, cout)

    rows = []
    for form in ("tiled", "wino"):
        layers = sea64_layers(r, form)
        if not layers:
            continue
        measured = sum(r[f"sea_l{i}_{form}_ticks"] for i in layers)
        est = sum(estimate(form, i) for i in layers)
        rows.append(
            {
                "path": form,
                "layers": layers,
                "measured_instructions": measured,
                "estimated_instructions": round(est),
                "estimate_over_measured": round(est / measured, 4),
                "per_layer_estimate_over_measured": [
                    round(estimate(form, i) / r[f"sea_l{i}_{form}_ticks"], 4) for i in layers
                ],
            }
        )
    return rows


def flash_memory_model(board: str) -> MemoryModel:
    """The STM32F405's memory system (5 wait states, ART caches; export/memory_model.py) with its flash
    region moved onto ``board``'s FLASH region: what the kernels cost with their weights in the F405's
    flash, measured on an MPS2 board whose RAM holds SEA-64's buffers."""
    from dataclasses import replace

    from edgel3_mote.export.boards import get_board
    from edgel3_mote.export.memory_model import STM32F405_MEMORY, MemoryRegion

    b = get_board(board)
    return replace(
        STM32F405_MEMORY,
        flash=MemoryRegion(f"{b.name} FLASH region as the F405's flash", b.flash_origin, b.flash_size),
    )


def run_bench(
    board: str = "qemu-mps2-an386",
    dsp: bool = False,
    out_dir: Path | None = None,
    flash_weights: bool = False,
    memory: MemoryModel | None = None,
) -> dict[str, int]:
    """One kernel-bench run: ``<name>_ticks`` and estimated ``<name>_cycles``; with ``flash_weights`` the
    weights sit in the FLASH region (-DEM_BENCH_WEIGHTS_IN_FLASH), and with ``memory`` (a MemoryModel)
    also ``<name>_est_cycles`` / ``<name>_bound_cycles`` (memory-aware estimate / upper bound)."""
    from edgel3_mote.board_tests.harness.cycles import cycles_for_ticks, run_traced
    from edgel3_mote.export.boards import build_elf

    out_dir = Path(out_dir or tempfile.mkdtemp(prefix="em-kernel-bench-"))
    defines: dict = {"EM_USE_DSP": None} if dsp else {}
    if flash_weights:
        defines["EM_BENCH_WEIGHTS_IN_FLASH"] = None
    elf = build_elf(
        board,
        [BENCH_MAIN, *KERNEL_SOURCES],
        out_dir / f"bench{'_dsp' if dsp else ''}{'_flashw' if flash_weights else ''}.elf",
        include_dirs=[KERNEL_DIR, BENCH_DIR],
        defines=defines or None,
        # DSP boards' own flags define EM_USE_DSP: undefine it for the portable build
        extra_flags=["-Werror", *([] if dsp else ["-UEM_USE_DSP"])],
    )
    code, output, trace = run_traced(board, elf, timeout=300, out=out_dir / f"{elf.stem}.trace", memory=memory)
    values = {k: int(v) for k, v in re.findall(r"^(\w+)=(\d+)$", output, re.M)}
    # estimated "<name>_cycles" per "<name>_ticks" (+ the memory-aware figures with a memory model)
    values.update(cycles_for_ticks(board, trace, values, memory=memory))
    values["exit_code"] = code
    return values


def run_cmsis_nn_bench(board: str = "qemu-mps2-an386", out_dir: Path | None = None) -> dict[str, int]:
    """SEA-64's eight conv shapes through the engine's em_conv2d_s8 (DSP) and CMSIS-NN's
    arm_convolve_wrapper_s8 (TFLM's conv kernel, compiled from TFLM_PATH's third_party/cmsis_nn) in one
    ELF on the same data: ``sea_l<i>_{macs,s8_ticks,cmsis_ticks,identical}`` and estimated cycles."""
    from edgel3_mote.board_tests.harness.cycles import cycles_for_ticks, run_traced
    from edgel3_mote.export.boards import build_elf
    from edgel3_mote.export.tflm_runtime import tflm_path

    nn = tflm_path() / "third_party" / "cmsis_nn"
    nn_sources = sorted(
        p for d in ("ConvolutionFunctions", "NNSupportFunctions") for p in (nn / "Source" / d).glob("*.c")
    )
    out_dir = Path(out_dir or tempfile.mkdtemp(prefix="em-kernel-bench-"))
    elf = build_elf(
        board,
        [CMSIS_NN_MAIN, *KERNEL_SOURCES, *nn_sources],
        out_dir / "bench_cmsis_nn.elf",
        include_dirs=[KERNEL_DIR, BENCH_DIR, nn, nn / "Include"],
        extra_flags=["-Wno-sign-compare", "-Wno-unused-variable"],
    )
    code, output, trace = run_traced(board, elf, timeout=300, out=out_dir / f"{elf.stem}.trace")
    values = {k: int(v) for k, v in re.findall(r"^(\w+)=(\d+)$", output, re.M)}
    values.update(cycles_for_ticks(board, trace, values))
    values["exit_code"] = code
    return values


def cmsis_nn_rows(r: dict[str, int]) -> list[dict]:
    """Per SEA-64 conv shape (and all eight): instructions and estimated cycles per MAC of the engine's
    DSP kernel and CMSIS-NN's, their ratio, and whether their bytes were identical."""
    rows = []
    for name, layers in [("SEA-64 convs (8 shapes)", range(SEA64_LAYERS))] + [
        (f"  SEA-64 conv {i + 1}", [i]) for i in range(SEA64_LAYERS)
    ]:
        macs = sum(r[f"sea_l{i}_macs"] for i in layers)
        row = {"path": name, "identical": all(r[f"sea_l{i}_identical"] for i in layers)}
        for kernel in ("s8", "cmsis"):
            for unit in ("ticks", "cycles"):
                row[f"{kernel}_{unit}"] = round(sum(r[f"sea_l{i}_{kernel}_{unit}"] for i in layers) / macs, 3)
        row["ratio"] = round(row["s8_ticks"] / row["cmsis_ticks"], 3)
        rows.append(row)
    return rows


def sea64_per_mac(r: dict[str, int], form: str, unit: str = "ticks") -> float:
    """Instructions (``unit`` 'ticks') or estimated cycles ('cycles') per MAC over the SEA-64 conv shapes
    the run timed ``form`` on (a key of SEA64_FORMS; all eight but for Winograd; per MAC of the direct
    convolution, for Winograd too). KeyError where the run did not time ``form`` (the portable build's
    tiled and Winograd)."""
    layers = sea64_layers(r, form)
    if not layers:
        raise KeyError(f"sea_l*_{form}_ticks")
    return sum(r[f"sea_l{i}_{form}_{unit}"] for i in layers) / sum(r[f"sea_l{i}_macs"] for i in layers)


def _shapes_label(layers: list[int]) -> str:
    if len(layers) == SEA64_LAYERS:
        return f"({SEA64_LAYERS} shapes)"
    return f"{layers[0] + 1}-{layers[-1] + 1} ({len(layers)} shapes)"


def per_mac_table(results: dict[str, dict[str, int]]) -> list[dict]:
    """Rows (kernel path; instructions and estimated cycles per MAC by build) from the portable and
    DSP runs: keys ``portable``, ``dsp`` (instructions) and ``portable_cycles``, ``dsp_cycles``; None
    where a build did not run the path (tiled and Winograd: DSP builds only)."""

    def row(path, fn):
        out = {"path": path}
        for build, r in results.items():
            for key, unit in ((build, "ticks"), (f"{build}_cycles", "cycles")):
                try:
                    out[key] = round(fn(r, unit), 3)
                except KeyError:
                    out[key] = None
        return out

    timed = {form: sorted({i for r in results.values() for i in sea64_layers(r, form)}) for form in SEA64_FORMS}
    rows = [
        row("conv 3x3 32x25x32->32, int8 weights", lambda r, u: r[f"conv_dense_{u}"] / r["conv_macs"]),
        row("conv 3x3 32x25x32->32, 90 % sparse (per dense MAC)", lambda r, u: r[f"conv_sparse_{u}"] / r["conv_macs"]),
        row("fully connected 512->64", lambda r, u: r[f"fc_{u}"] / r["fc_macs"]),
    ]
    rows += [
        row(f"SEA-64 convs {_shapes_label(timed[form])}, {name}", lambda r, u, form=form: sea64_per_mac(r, form, u))
        for form, name in SEA64_FORMS.items()
        if timed[form]
    ]
    for i in range(SEA64_LAYERS):
        for form in SEA64_FORMS:
            if i in timed[form]:
                rows.append(
                    row(
                        f"  SEA-64 conv {i + 1}, {form}",
                        lambda r, u, i=i, form=form: r[f"sea_l{i}_{form}_{u}"] / r[f"sea_l{i}_macs"],
                    )
                )
    return rows


def flash_table(r: dict[str, int]) -> list[dict]:
    """Per kernel path, cycles per MAC of a weights-in-flash run: zero-wait, memory-aware estimate, upper bound."""

    def view(suffix: str) -> dict[str, int]:  # r with "<name>_cycles" taken from "<name><suffix>"
        return r | {k[: -len(suffix)] + "_cycles": v for k, v in r.items() if k.endswith(suffix)}

    views = {"zero_wait": r, "estimate": view("_est_cycles"), "upper_bound": view("_bound_cycles")}
    return [{"path": row["path"], **{fig: row[f"{fig}_cycles"] for fig in views}} for row in per_mac_table(views)]


def _num(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def _plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from edgel3_mote.atomic import save_png

    main = [r for r in rows if not r["path"].startswith(" ")]
    fig, ax = plt.subplots(figsize=(10.5, 4.2))
    y = np.arange(len(main))
    for k, (build, color) in enumerate((("portable", "#999999"), ("dsp", "#1f77b4"))):
        # a path a build did not run (None: tiled and Winograd on the portable build) gets no bar
        widths = [np.nan if r[build] is None else r[build] for r in main]
        ax.barh(y + 0.2 - 0.4 * k, widths, height=0.4, color=color, label=build)
    ax.axvline(1.0, color="k", lw=0.8, ls="--")
    ax.set_yticks(y, [r["path"] for r in main], fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("instructions per MAC (QEMU -icount, Cortex-M4)")
    ax.invert_yaxis()
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_png(fig, path)
    plt.close(fig)


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m edgel3_mote.board_tests.harness.kernel_bench``."""
    from edgel3_mote.cli_types import add_output_argument

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--board", default="qemu-mps2-an386")
    add_output_argument(
        ap, f"report folder (default {DEFAULT_OUTPUT}, under the working directory)", default=DEFAULT_OUTPUT
    )
    return ap


def main(argv=None) -> int:
    from edgel3_mote.atomic import atomic_dir, check_output_dir
    from edgel3_mote.errors import EdgeL3MoteError

    args = build_parser().parse_args(argv)
    out = Path(args.output)
    try:  # before the QEMU runs; atomic_dir then replaces nothing of the user's
        check_output_dir(out, "bench-kernels", names=("kernel_bench.md", "kernel_bench.json", "kernel_bench.png"))
    except EdgeL3MoteError as exc:
        print(f"edgel3-mote: error: {exc}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="em-kernel-bench-") as elf_dir:
        results = {
            "portable": run_bench(args.board, False, Path(elf_dir)),
            "dsp": run_bench(args.board, True, Path(elf_dir)),
        }
        # the DSP build again with its weights in flash, costed with the STM32F405's memory system
        flash_model = flash_memory_model(args.board)
        flash_run = run_bench(args.board, True, Path(elf_dir), flash_weights=True, memory=flash_model)
        cmsis = run_cmsis_nn_bench(args.board, Path(elf_dir))
    rows = per_mac_table(results)
    frows = flash_table(flash_run)
    model_rows = cost_model_rows(flash_run)
    nn_rows = cmsis_nn_rows(cmsis)
    same = (
        results["portable"]["checksum"] == results["dsp"]["checksum"]
        and results["portable"]["sea_checksum"] == results["dsp"]["sea_checksum"]
    )
    ok = same and all(r["exit_code"] == 0 for r in results.values()) and cmsis["exit_code"] == 0
    lines = [
        f"board {args.board}: instructions per MAC (QEMU -icount) and estimated cycles per MAC (core timing "
        f"table, zero wait states)",
        "",
        "| kernel path | portable instr | DSP instr | portable est. cycles | DSP est. cycles |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['path']} | {_num(r['portable'])} | {_num(r['dsp'])} | {_num(r['portable_cycles'])} | "
        f"{_num(r['dsp_cycles'])} |"
        for r in rows
    ]
    lines += [
        "",
        f"SEA-64 conv MACs {sum(results['dsp'][f'sea_l{i}_macs'] for i in range(SEA64_LAYERS)):,d}; "
        f"portable and DSP outputs identical (and int8 == w16 weights): {same}; DSP build's tiled and Winograd "
        f"outputs identical to em_conv2d_s8's: {bool(results['dsp'].get('sea_tiled_wino_equal_s8'))} (per MAC of "
        "the direct convolution for Winograd too; n/a: on the portable path both are em_conv2d_s8)",
        "",
        "CMSIS-NN (arm_convolve_wrapper_s8 from TFLM_PATH, as TFLM's cmsis_nn conv runs it) on the same shapes "
        "and data as the engine's em_conv2d_s8 (DSP build), per MAC:",
        "",
        "| SEA-64 conv | engine instr | CMSIS-NN instr | engine / CMSIS-NN | engine est. cycles | "
        "CMSIS-NN est. cycles | bytes identical |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['path']} | {r['s8_ticks']:.3f} | {r['cmsis_ticks']:.3f} | {r['ratio']:.3f}x | {r['s8_cycles']:.3f} | "
        f"{r['cmsis_cycles']:.3f} | {r['identical']} |"
        for r in nn_rows
    ]
    lines += [
        "",
        f"DSP build with its weights in flash, estimated cycles per MAC with the {flash_model.chip} memory system "
        f"({flash_model.flash_wait_states} wait states; ART: instruction cache {flash_model.icache.describe()}, "
        f"data cache {flash_model.dcache.describe()}, instruction prefetch; {flash_model.source}):",
        "",
        "| kernel path | zero-wait | memory-aware estimate | upper bound |",
        "|---|---|---|---|",
    ]
    lines += [f"| {r['path']} | {r['zero_wait']:.3f} | {r['estimate']:.3f} | {r['upper_bound']:.3f} |" for r in frows]
    lines += [
        "",
        "zero-wait: the core's table alone; estimate: + 5 wait states per data-cache or (non-sequential) "
        "instruction-cache miss; upper bound: + 5 wait states per flash data read and per instruction-cache miss. "
        "tiled: one output row a call (its weights expanded into the RAM tile once per row), Winograd: one row "
        "pair a call (weights transformed once per pair), as the F405 plan's streamed chains call them.",
        "",
        "The engine's cost model (export/codegen/ops/conv2d.py) on the same SEA-64 shapes, instructions of the "
        "flash run:",
        "",
        "| path | layers | measured instr | estimated instr | estimate / measured | per layer |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {c['path']} | {', '.join(str(i + 1) for i in c['layers'])} | {c['measured_instructions']:,d} | "
        f"{c['estimated_instructions']:,d} | {c['estimate_over_measured']:.3f} | "
        f"{' '.join(f'{x:.3f}' for x in c['per_layer_estimate_over_measured'])} |"
        for c in model_rows
    ]
    ok = ok and flash_run["exit_code"] == 0 and flash_run["sea_checksum"] == results["dsp"]["sea_checksum"]
    text = "\n".join(lines)
    print(text)
    with atomic_dir(out, "bench-kernels") as tmp:
        (tmp / "kernel_bench.md").write_text(text + "\n")
        (tmp / "kernel_bench.json").write_text(
            json.dumps(
                {
                    "board": args.board,
                    "per_mac": rows,
                    "raw": results,
                    "outputs_identical": same,
                    "cmsis_nn": {"per_mac": nn_rows, "raw": cmsis},
                    "weights_in_flash": {
                        "memory_model": flash_model.to_dict(),
                        "per_mac_cycles": frows,
                        "cost_model": model_rows,
                        "raw": flash_run,
                    },
                },
                indent=1,
            )
        )
        _plot(rows, tmp / "kernel_bench.png")
    print(f"reports: {out / 'kernel_bench.md'}, {out / 'kernel_bench.json'}, {out / 'kernel_bench.png'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
