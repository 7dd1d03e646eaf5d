"""The kernel sweep on target: random layers converted by TensorFlow, run in QEMU, against tflite-micro.

``write_sweep(cases_dir)`` turns a model of many one-op branches (``kernel_models.build_model``)
into ``sweep_cases.h``: every branch's inputs, weights (int8 and, for convs, int16-expanded by
the code generator's own ``pack_w16``) and kernel parameters, derived as the code generator
derives them (``kernel_models.conv_args`` etc.). ``run_sweep(board)`` builds
``kernel_sweep_main.c`` with the board's flags (Cortex-M4/M7: -DEM_USE_DSP, the real SMLAD
instructions), runs it in QEMU and returns, per run, the FNV-1a hash of the device's output
bytes next to the hash of tflite-micro's::

    python -m tests.support.kernel_sweep [--board qemu-mps2-an386 ...] [--convs 40]
"""

from __future__ import annotations

import argparse
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tests.support.kernel_lib import KERNEL_DIR, KERNEL_SOURCES
from tests.support.kernel_models import (
    ConvSpec,
    DenseSpec,
    PoolSpec,
    cached_model,
    conv_args,
    fc_args,
    pool_args,
    random_conv_specs,
)

SWEEP_MAIN = Path(__file__).with_name("kernel_sweep_main.c")
CONV_VARIANTS = ("s8", "w16", "s8_rows", "w16_rows", "tiled", "tiled_rows")
# em_conv2d_s8_tiled over the whole tensor takes passes of TILED_PASS_PIXELS pixels (several passes, a
# partial last one); one row per call ("tiled_rows") a pass of the row's pixels
TILED_PASS_PIXELS = 6

# Beside the random layers: dilation, a one-channel first layer, a SEA-64-like 32-channel layer.
CONV_SPECS = (
    ConvSpec(12, 8, 3, 7, (3, 3), (1, 1), "same", None, dilation=(2, 2)),
    ConvSpec(13, 11, 1, 16, (3, 3), (1, 1), "same", "relu", input_range=(-4.0, 0.5)),
    ConvSpec(16, 12, 32, 32, (3, 3), (1, 1), "same", "relu", input_range=(0.0, 6.0)),
    ConvSpec(8, 6, 64, 20, (3, 3), (1, 1), "same", "relu", input_range=(0.0, 2.0)),
    # Winograd-eligible (3x3, stride 1, in_c % 8 == 0): odd sizes, valid padding, 128 channels
    ConvSpec(7, 9, 16, 12, (3, 3), (1, 1), "valid", "relu", input_range=(-1.0, 3.0)),
    ConvSpec(5, 7, 128, 8, (3, 3), (1, 1), "same", None, input_range=(-2.0, 0.5)),
)
# em_conv2d_s8_wino runs the layers it takes, whole (passes of WINO_PASS_TILE_ROWS tile rows) and two output rows
# per call
WINO_VARIANTS = ("wino", "wino_rows2")
# the whole-tensor Winograd call takes passes of WINO_PASS_TILE_ROWS tile rows (weights transformed once a pass)
WINO_PASS_TILE_ROWS = 2


def wino_eligible(filt: np.ndarray, params: dict) -> bool:
    """The shapes em_conv2d_s8_wino takes (its wino_shape_ok)."""
    _, fh, fw, in_c = filt.shape
    return (
        (fh, fw) == (3, 3)
        and params["stride_h"] == params["stride_w"] == 1
        and params["dilation_h"] == params["dilation_w"] == 1
        and in_c % 8 == 0
        and in_c <= 192
    )


FC_SPECS = (
    DenseSpec(13, 7),
    DenseSpec(64, 64, "relu", input_range=(0.0, 4.0)),
    DenseSpec(1, 5, input_range=(-3.0, -1.0)),
    DenseSpec(100, 10, use_bias=False),
    DenseSpec(37, 128, input_range=(-0.5, 2.0)),
    DenseSpec(20, 6, rows=4, input_range=(-1.0, 3.0)),
    DenseSpec(515, 9, "relu", input_range=(-2.0, 0.5)),
)
POOL_SPECS = (
    PoolSpec(8, 6, 5),
    PoolSpec(9, 7, 3, (2, 2), None, "same", input_range=(0.0, 4.0)),
    PoolSpec(13, 11, 16, (3, 3), (2, 2), "same", input_range=(-3.0, 0.5)),
    PoolSpec(12, 10, 8, (3, 2), (1, 1), "valid"),
    PoolSpec(16, 12, 32, (2, 2), None, "valid", input_range=(0.0, 6.0)),
)


def fnv1a(data: np.ndarray) -> int:
    """FNV-1a (32 bit) of an array's bytes: the hash kernel_sweep_main.c prints."""
    h = 2166136261
    for b in np.ascontiguousarray(data).view(np.uint8).tobytes():
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return h


def _c(values) -> str:
    return ", ".join(str(int(v)) for v in np.asarray(values).reshape(-1))


@dataclass
class SweepCases:
    header: str
    expected: dict[tuple[str, int, str], int]  # (kind, case, variant) -> fnv1a of tflite-micro's bytes
    n_conv: int
    n_fc: int
    n_pool: int
    n_wino: int = 0  # conv layers em_conv2d_s8_wino takes (two more runs each)


def build_cases(n_convs: int = 40, seed: int = 2024) -> SweepCases:
    """Convert the sweep's layers (cached on disk), run tflite-micro once, emit the C cases."""
    from edgel3_mote.export.codegen.ops.conv2d import pack_w16, padded_taps, tiled_scratch_bytes, wino_scratch_bytes

    rng = np.random.default_rng(seed)
    conv_model = cached_model(CONV_SPECS + random_conv_specs(n_convs, seed), seed=seed)
    fc_model = cached_model(FC_SPECS, seed=seed + 1)
    pool_model = cached_model(POOL_SPECS, seed=seed + 2)
    arrays, convs, fcs, pools = [], [], [], []
    expected: dict[tuple[str, int, str], int] = {}
    max_out, max_scratch = 1, 4
    n_wino = 0

    def array(ctype: str, name: str, values) -> str:
        arrays.append(f"static const {ctype} {name}[] = {{{_c(values)}}};")
        return name

    xs = conv_model.random_inputs(rng)
    ys = conv_model.run_tflm(xs)
    for i, br in enumerate(conv_model.branches):
        a = conv_args(br.ops[0])
        p, (oh, ow, oc), (ih, iw, ic) = a["params"], a["out_shape"], a["in_shape"]
        filt = a["filt"]
        fh, fw = filt.shape[1:3]
        bias = array("int32_t", f"c{i}_bias", a["bias"]) if a["bias"] is not None else "0"
        convs.append(
            f"{{{{{p['stride_h']}, {p['stride_w']}, {p['pad_top']}, {p['pad_left']}, {p['dilation_h']}, "
            f"{p['dilation_w']}, {p['input_offset']}, {p['output_offset']}, {p['activation_min']}, "
            f"{p['activation_max']}}}, {{{array('int32_t', f'c{i}_mult', a['mult'])}, "
            f"{array('int32_t', f'c{i}_shift', a['shift'])}, 1}}, {{{ih}, {iw}, {ic}}}, {{{fh}, {fw}, {ic}}}, "
            f"{{{oh}, {ow}, {oc}}}, {array('int8_t', f'c{i}_input', xs[br.graph_input])}, "
            f"{array('int8_t', f'c{i}_filter', filt)}, {array('int32_t', f'c{i}_filter_w16', pack_w16(filt))}, "
            f"{bias}}}"
        )
        h = fnv1a(ys[br.graph_output])
        expected.update({("conv", i, v): h for v in CONV_VARIANTS})
        if wino_eligible(filt, p):
            expected.update({("conv", i, v): h for v in WINO_VARIANTS})
            n_wino += 1
            max_scratch = max(max_scratch, wino_scratch_bytes(ic, ow, WINO_PASS_TILE_ROWS))
        max_out = max(max_out, oh * ow * oc)
        max_scratch = max(max_scratch, 2 * padded_taps(fh, fw, ic) * 2 + 4)
        for pass_pixels in (TILED_PASS_PIXELS, ow):
            max_scratch = max(max_scratch, tiled_scratch_bytes(oc, fh, fw, ic, pass_pixels))

    xs = fc_model.random_inputs(rng)
    ys = fc_model.run_tflm(xs)
    for i, br in enumerate(fc_model.branches):
        a = fc_args(br.ops[0])
        p, filt, batches = a["params"], a["filt"], br.spec.batch
        bias = array("int32_t", f"f{i}_bias", a["bias"]) if a["bias"] is not None else "0"
        mult = np.atleast_1d(a["mult"])
        fcs.append(
            f"{{{{{p['input_offset']}, {p['filter_offset']}, {p['output_offset']}, {p['activation_min']}, "
            f"{p['activation_max']}}}, {{{array('int32_t', f'f{i}_mult', mult)}, "
            f"{array('int32_t', f'f{i}_shift', np.atleast_1d(a['shift']))}, {int(mult.size > 1)}}}, {batches}, "
            f"{filt.shape[1]}, {filt.shape[0]}, {array('int8_t', f'f{i}_input', xs[br.graph_input])}, "
            f"{array('int8_t', f'f{i}_filter', filt)}, {bias}}}"
        )
        expected[("fc", i, "s8")] = fnv1a(ys[br.graph_output])
        max_out = max(max_out, batches * filt.shape[0])

    xs = pool_model.random_inputs(rng)
    ys = pool_model.run_tflm(xs)
    for i, br in enumerate(pool_model.branches):
        a = pool_args(br.ops[0])
        p, (ih, iw, c), (oh, ow, _) = a["params"], a["in_shape"], a["out_shape"]
        pools.append(
            f"{{{{{p['stride_h']}, {p['stride_w']}, {p['filter_h']}, {p['filter_w']}, {p['pad_top']}, "
            f"{p['pad_left']}, {p['activation_min']}, {p['activation_max']}}}, {{{ih}, {iw}, {c}}}, "
            f"{{{oh}, {ow}, {c}}}, {array('int8_t', f'p{i}_input', xs[br.graph_input])}}}"
        )
        expected[("pool", i, "s8")] = fnv1a(ys[br.graph_output])
        max_out = max(max_out, oh * ow * c)

    header = "\n".join(
        [
            "/* Generated by tests.support.kernel_sweep: layers converted by TensorFlow. */",
            "#ifndef SWEEP_CASES_H",
            "#define SWEEP_CASES_H",
            '#include "em_kernels.h"',
            "",
            "typedef struct { em_conv_params p; em_quant q; em_dims in, f, out; const int8_t *input;",
            "  const int8_t *filter; const int32_t *filter_w16; const int32_t *bias; } sweep_conv;",
            "typedef struct { em_fc_params p; em_quant q; int32_t batches, in_features, out_features;",
            "  const int8_t *input; const int8_t *filter; const int32_t *bias; } sweep_fc;",
            "typedef struct { em_pool_params p; em_dims in, out; const int8_t *input; } sweep_pool;",
            "",
            *arrays,
            "",
            f"#define SWEEP_N_CONV {len(convs)}",
            f"#define SWEEP_TILED_PASS_PIXELS {TILED_PASS_PIXELS}",
            f"#define SWEEP_WINO_PASS_TILE_ROWS {WINO_PASS_TILE_ROWS}",
            f"#define SWEEP_N_FC {len(fcs)}",
            f"#define SWEEP_N_POOL {len(pools)}",
            f"#define SWEEP_MAX_OUTPUT {max_out}",
            f"#define SWEEP_MAX_SCRATCH {max_scratch}",
            "static const sweep_conv sweep_convs[] = {",
            ",\n".join(convs),
            "};",
            "static const sweep_fc sweep_fcs[] = {",
            ",\n".join(fcs),
            "};",
            "static const sweep_pool sweep_pools[] = {",
            ",\n".join(pools),
            "};",
            "#endif",
            "",
        ]
    )
    return SweepCases(header, expected, len(convs), len(fcs), len(pools), n_wino)


@dataclass
class SweepResult:
    board: str
    exit_code: int
    got: dict[tuple[str, int, str], tuple[int, int]]  # -> (status, hash)
    expected: dict[tuple[str, int, str], int]
    elf: Path

    @property
    def mismatches(self) -> list[str]:
        bad = [f"{k}: missing" for k in self.expected if k not in self.got]
        bad += [
            f"{k}: status {s}, hash {h:#010x} != tflite-micro {self.expected[k]:#010x}"
            for k, (s, h) in sorted(self.got.items())
            if s != 0 or h != self.expected.get(k)
        ]
        return bad


def run_sweep(
    board: str = "qemu-mps2-an386",
    cases: SweepCases | None = None,
    out_dir: Path | None = None,
    defines: dict | None = None,
) -> SweepResult:
    """Build the sweep firmware for ``board`` (its own flags: DSP on M4/M7; ``defines`` added) and
    run it in QEMU."""
    from edgel3_mote.atomic import atomic_write_text
    from edgel3_mote.board_tests.harness.qemu import run_elf
    from edgel3_mote.export.boards import build_elf

    cases = cases or build_cases()
    out_dir = Path(out_dir or tempfile.mkdtemp(prefix="em-kernel-sweep-"))
    atomic_write_text(out_dir / "sweep_cases.h", cases.header)
    elf = build_elf(
        board,
        [SWEEP_MAIN, *KERNEL_SOURCES],
        out_dir / f"sweep_{board}.elf",
        include_dirs=[out_dir, KERNEL_DIR],
        defines=defines,
        extra_flags=["-Werror"],
    )
    code, output = run_elf(board, elf, timeout=300)
    got = {
        (kind, int(i), variant): (int(status), int(h))
        for kind, i, variant, status, h in re.findall(r"^(\w+) (\d+) (\w+) (-?\d+) (\d+)$", output, re.M)
    }
    return SweepResult(board, code, got, cases.expected, elf)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--board", action="append", help="QEMU board (repeatable; default the M4 and M7 boards)")
    ap.add_argument("--convs", type=int, default=40, help=f"random conv layers beside {len(CONV_SPECS)} fixed ones")
    ap.add_argument("--seed", type=int, default=2024)
    args = ap.parse_args(argv)
    cases = build_cases(args.convs, args.seed)
    ok = True
    for board in args.board or ["qemu-mps2-an386", "qemu-mps2-an500"]:
        r = run_sweep(board, cases)
        print(
            f"{board}: {len(r.got)} kernel runs ({cases.n_conv} conv x {len(CONV_VARIANTS)}, {cases.n_fc} FC, "
            f"{cases.n_pool} pool), {len(r.mismatches)} differ from tflite-micro, exit {r.exit_code}"
        )
        for line in r.mismatches[:20]:
            print("  " + line)
        ok &= not r.mismatches and r.exit_code == 0
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
