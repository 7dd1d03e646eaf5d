"""Sparsity sweep: dense DSP vs sparse conv kernel on an emulated Cortex-M4 (QEMU -icount).

    python -m edgel3_mote.board_tests.harness.sparsity_sweep [-o build/bench/sparsity] [--small | --l3-layers]

One L3-sized layer (3x3 'same', 256 -> 256 channels on the 32 x 24 map of L3's last block) at
0/50/80/90/95/98 % zero weights: ``sparsity_sweep_main.c`` is built per point and run in QEMU
(qemu-mps2-an386, -icount shift=0: ticks are instructions), the sparse kernel once with every
output row in one pass and once one row per pass (the row-streaming worst case). Reports
instructions of both kernels, instructions per nonzero MAC, bytes per nonzero of the compact
format, the code generator's cost-model estimates and its dense/sparse choice; writes
``sweep.json``, ``sweep.md`` and ``sweep.png``. Each point checks that the sparse kernel's bytes
equal the dense kernel's (the firmware exits non-zero otherwise).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from tqdm import tqdm

from edgel3_mote.export.boards import BENCH_DIR, KERNEL_DIR, KERNEL_SOURCES

DEFAULT_OUTPUT = "build/bench/sparsity"

SWEEP_MAIN = BENCH_DIR / "sparsity_sweep_main.c"
SPARSITIES = (0, 50, 80, 90, 95, 98)
L3_SHAPE = dict(h=32, w=24, in_c=256, out_c=256)  # L3 block 4's map, 256 channels
SMALL_SHAPE = dict(h=8, w=20, in_c=32, out_c=24)  # for the tests: seconds, not minutes
BOARD = "qemu-mps2-an386"
# L3's pruned 3x3 convs 2-8 under the edgel3-95.45 plan (Table II): name, in -> out channels, output
# width, zeros (%). Measured on 24-row stripes of the real width (the kernel's cost per row does not
# depend on the height; 24 rows of the 512-channel layer is what the 4 MiB board holds), all 24 rows in
# one pass.
L3_LAYERS = (
    ("conv2d_2", 64, 64, 199, 85),
    ("conv2d_3", 64, 128, 99, 85),
    ("conv2d_4", 128, 128, 99, 85),
    ("conv2d_5", 128, 256, 49, 75),
    ("conv2d_6", 256, 256, 49, 95),
    ("conv2d_7", 256, 512, 24, 98),
    ("audio_embedding_layer", 512, 512, 24, 98),
)
L3_STRIPE_ROWS = 24


@dataclass
class SweepPoint:
    sparsity: int  # percent of zero weights asked for
    pass_rows: int
    h: int
    w: int
    in_c: int
    out_c: int
    macs: int  # dense MACs of the layer
    nonzeros: int
    dense_instructions: int
    sparse_instructions: int
    index_bytes: int
    rice_k: int
    max_channel_nnz: int
    scratch_bytes: int
    exit_code: int

    @property
    def nonzero_macs(self) -> int:
        return self.nonzeros * self.h * self.w

    @property
    def flash_sparse(self) -> int:
        from edgel3_mote.export.sparse_weights import HEADER_BYTES

        return self.index_bytes + self.nonzeros + HEADER_BYTES

    @property
    def bytes_per_nonzero(self) -> float:
        return self.flash_sparse / max(self.nonzeros, 1)

    @property
    def sparse_per_nonzero_mac(self) -> float:
        return self.sparse_instructions / max(self.nonzero_macs, 1)

    @property
    def dense_per_mac(self) -> float:
        return self.dense_instructions / self.macs

    def to_dict(self) -> dict:
        d = asdict(self)
        d.update(
            nonzero_macs=self.nonzero_macs,
            flash_dense=self.macs // (self.h * self.w),
            flash_sparse=self.flash_sparse,
            bytes_per_nonzero=round(self.bytes_per_nonzero, 4),
            sparse_per_nonzero_mac=round(self.sparse_per_nonzero_mac, 4),
            dense_per_mac=round(self.dense_per_mac, 4),
        )
        return d


def run_point(
    sparsity: int,
    pass_rows: int,
    h: int,
    w: int,
    in_c: int,
    out_c: int,
    out_dir: Path | None = None,
    board: str = BOARD,
) -> SweepPoint:
    """Build and run one point of the sweep in QEMU."""
    from edgel3_mote.board_tests.harness.qemu import run_elf
    from edgel3_mote.export.boards import build_elf

    if not 0 <= sparsity < 100:
        raise ValueError(f"sparsity {sparsity} must be in 0..99 (percent of zero weights)")
    out_dir = Path(out_dir or tempfile.mkdtemp(prefix="em-sparsity-"))
    defines = dict(SW_H=h, SW_W=w, SW_CIN=in_c, SW_COUT=out_c, SW_DENSITY=1000 - 10 * sparsity, SW_PASS_ROWS=pass_rows)
    elf = build_elf(
        board,
        [SWEEP_MAIN, *KERNEL_SOURCES],
        out_dir / f"sweep_{sparsity}_{pass_rows}.elf",
        include_dirs=[KERNEL_DIR],
        defines=defines,
        extra_flags=["-Werror"],
    )
    code, output = run_elf(board, elf, timeout=600)
    v = {k: int(x) for k, x in re.findall(r"^(\w+)=(\d+)$", output, re.M)}
    ok = all(v.get(key) == 1 for key in ("status_ok", "sparse_equals_dense", "ticks_are_instructions"))
    if code != 0 or not ok:
        raise RuntimeError(f"sweep point {sparsity} % / {pass_rows} rows failed (exit {code}): {output[-2000:]}")
    return SweepPoint(
        sparsity,
        pass_rows,
        h,
        w,
        in_c,
        out_c,
        v["macs"],
        v["nonzeros"],
        v["dense_ticks"],
        v["sparse_ticks"],
        v["index_bytes"],
        v["rice_k"],
        v["max_channel_nnz"],
        v["sparse_scratch_bytes"],
        code,
    )


def estimate(point: SweepPoint) -> dict:
    """The code generator's cost model on this point: estimated instructions and its choice."""
    from edgel3_mote.export.codegen.ops.conv2d import (
        choose_format,
        estimate_dense_instructions,
        estimate_sparse_instructions,
    )

    shape = dict(
        out_hw=(point.h, point.w), in_c=point.in_c, out_c=point.out_c, kernel_hw=(3, 3), stride=(1, 1), dilation=(1, 1)
    )
    dense = estimate_dense_instructions(**shape, use_dsp=True)
    sparse = estimate_sparse_instructions(**shape, nonzeros=point.nonzeros, pass_rows=point.pass_rows, use_dsp=True)
    fmt, reason = choose_format(point.macs // (point.h * point.w), point.flash_sparse, dense, sparse)
    return {"dense_estimate": int(dense), "sparse_estimate": int(sparse), "choice": fmt, "reason": reason}


def sweep(shape: dict, sparsities=SPARSITIES, out_dir: Path | None = None, pass_modes=("all", 1)) -> list[dict]:
    """Every (sparsity, pass mode) point, with the cost model's view of it."""
    rows = []
    jobs = [(s, shape["h"] if m == "all" else int(m)) for s in sparsities for m in pass_modes]
    for s, pass_rows in tqdm(jobs, desc="sparsity sweep (QEMU)", unit="point"):
        point = run_point(s, pass_rows, out_dir=out_dir, **shape)
        rows.append(point.to_dict() | estimate(point))
    return rows


def l3_layers(out_dir: Path | None = None) -> list[dict]:
    """Every pruned 3x3 conv of edgel3-95.45 (see L3_LAYERS), dense DSP vs sparse."""
    rows = []
    for name, in_c, out_c, w, zeros in tqdm(L3_LAYERS, desc="L3 layers (QEMU)", unit="layer"):
        pt = run_point(zeros, L3_STRIPE_ROWS, L3_STRIPE_ROWS, w, in_c, out_c, out_dir=out_dir)
        rows.append({"layer": name} | pt.to_dict() | estimate(pt))
    return rows


def render_layers_markdown(rows: list[dict]) -> str:
    lines = [
        f"edgel3-95.45's pruned 3x3 convs on a Cortex-M4 (qemu-mps2-an386, -icount shift=0), "
        f"{L3_STRIPE_ROWS}-row stripes, one pass",
        "",
        "| layer | channels | width | zeros | dense DSP instr / MAC | sparse instr / nonzero MAC | "
        "sparse / dense instr | bytes / nonzero |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['layer']} | {r['in_c']} -> {r['out_c']} | {r['w']} | {r['sparsity']} % | "
            f"{r['dense_per_mac']:.2f} | {r['sparse_per_nonzero_mac']:.2f} | "
            f"{r['sparse_instructions'] / r['dense_instructions']:.3f} | {r['bytes_per_nonzero']:.3f} |"
        )
    return "\n".join(lines) + "\n"


def render_markdown(rows: list[dict]) -> str:
    r0 = rows[0]
    lines = [
        f"Sparsity sweep: 3x3 conv {r0['in_c']} -> {r0['out_c']} on {r0['h']} x {r0['w']}, Cortex-M4 "
        f"(qemu-mps2-an386, -icount shift=0: instructions, not cycles)",
        "",
        "| zeros | pass rows | nonzeros | dense DSP instr | sparse instr | sparse/dense | "
        "instr / nonzero MAC | bytes / nonzero | sparse flash / dense | est. sparse | choice |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['sparsity']} % | {r['pass_rows']} | {r['nonzeros']:,} | {r['dense_instructions']:,} | "
            f"{r['sparse_instructions']:,} | {r['sparse_instructions'] / r['dense_instructions']:.3f} | "
            f"{r['sparse_per_nonzero_mac']:.2f} | {r['bytes_per_nonzero']:.3f} | "
            f"{r['flash_sparse'] / r['flash_dense']:.3f} | {r['sparse_estimate']:,} | {r['choice']} |"
        )
    lines += [
        "",
        "choice: the code generator's per-layer pick (flash and estimated instructions; "
        "see export/codegen/ops/conv2d.py).",
    ]
    return "\n".join(lines) + "\n"


def plot(rows: list[dict], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from edgel3_mote.atomic import save_png

    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4))
    passes = sorted({r["pass_rows"] for r in rows}, reverse=True)
    dense = [r for r in rows if r["pass_rows"] == passes[0]]
    ax.plot([r["sparsity"] for r in dense], [r["dense_instructions"] / 1e6 for r in dense], "o-", label="dense (DSP)")
    for p in passes:
        pts = [r for r in rows if r["pass_rows"] == p]
        ax.plot(
            [r["sparsity"] for r in pts],
            [r["sparse_instructions"] / 1e6 for r in pts],
            "s-",
            label=f"sparse, {p} row(s) per pass",
        )
        ax.plot(
            [r["sparsity"] for r in pts],
            [r["sparse_estimate"] / 1e6 for r in pts],
            "x:",
            alpha=0.6,
            label=f"cost model, {p} row(s) per pass",
        )
    ax.set_yscale("log")
    ax.set_xlabel("zero weights (%)")
    ax.set_ylabel("instructions (millions, QEMU -icount)")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    bx.plot([r["sparsity"] for r in dense], [r["bytes_per_nonzero"] for r in dense], "o-", color="C3")
    bx.axhline(2.0, color="grey", ls="--", lw=0.8)
    bx.set_xlabel("zero weights (%)")
    bx.set_ylabel("flash bytes per nonzero weight")
    bx.grid(alpha=0.3)
    r0 = rows[0]
    fig.suptitle(f"3x3 conv {r0['in_c']}->{r0['out_c']} on {r0['h']}x{r0['w']}, Cortex-M4 (QEMU)")
    fig.tight_layout()
    out = save_png(fig, path)
    plt.close(fig)
    return out


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m edgel3_mote.board_tests.harness.sparsity_sweep``."""
    from edgel3_mote.cli_types import add_output_argument

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_output_argument(
        ap,
        f"folder for sweep.json / .md / .png (default {DEFAULT_OUTPUT}, under the working directory)",
        default=DEFAULT_OUTPUT,
    )
    ap.add_argument("--small", action="store_true", help=f"the tests' small shape {SMALL_SHAPE} instead of L3's")
    ap.add_argument(
        "--l3-layers",
        action="store_true",
        help="instead of the sweep, every pruned 3x3 conv of edgel3-95.45 (l3_layers.json / .md)",
    )
    return ap


def main(argv=None) -> int:
    from edgel3_mote.atomic import atomic_dir, check_output_dir
    from edgel3_mote.errors import EdgeL3MoteError

    args = build_parser().parse_args(argv)
    out = Path(args.output)
    try:  # before the QEMU runs; atomic_dir then replaces nothing of the user's
        names = ("l3_layers.json", "l3_layers.md") if args.l3_layers else ("sweep.json", "sweep.md", "sweep.png")
        check_output_dir(out, "bench-sparsity", names=names)
    except EdgeL3MoteError as exc:
        print(f"edgel3-mote: error: {exc}", file=sys.stderr)
        return 2
    if args.l3_layers:
        with tempfile.TemporaryDirectory(prefix="em-sparsity-") as elf_dir:
            rows = l3_layers(out_dir=Path(elf_dir))
        md = render_layers_markdown(rows)
        with atomic_dir(out, "bench-sparsity") as tmp:
            (tmp / "l3_layers.json").write_text(json.dumps({"board": BOARD, "layers": rows}, indent=1) + "\n")
            (tmp / "l3_layers.md").write_text(md)
        print(md)
        return 0
    with tempfile.TemporaryDirectory(prefix="em-sparsity-") as elf_dir:
        rows = sweep(SMALL_SHAPE if args.small else L3_SHAPE, out_dir=Path(elf_dir))
    md = render_markdown(rows)
    with atomic_dir(out, "bench-sparsity") as tmp:
        (tmp / "sweep.json").write_text(json.dumps({"board": BOARD, "points": rows}, indent=1) + "\n")
        (tmp / "sweep.md").write_text(md)
        plot(rows, tmp / "sweep.png")
    print(md)
    print(f"wrote {out / 'sweep.json'}, {out / 'sweep.md'}, {out / 'sweep.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
