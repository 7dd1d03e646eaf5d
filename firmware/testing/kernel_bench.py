"""Instruction counts of the kernels on an emulated Cortex-M4 (QEMU -icount), portable vs DSP.

    python -m edgel3_mote.firmware.testing.kernel_bench [--board qemu-mps2-an386]

Builds ``kernel_bench_main.c`` twice (with and without -DEM_USE_DSP), runs both in QEMU and
prints instructions per MAC. QEMU counts instructions, not cycles: SMLAD does two MACs in one
instruction, so these numbers show the DSP path's work, not an M4's exact timing; the estimated
cycles per MAC beside them come from the core's timing table (board_tests/harness/cycles.py).
"""
from __future__ import annotations

import argparse
import re
import tempfile
from pathlib import Path

from edgel3_mote.firmware.testing.kernel_lib import KERNEL_DIR, KERNEL_SOURCES

BENCH_MAIN = Path(__file__).with_name("kernel_bench_main.c")


def run_bench(board: str = "qemu-mps2-an386", dsp: bool = False, out_dir: Path | None = None) -> dict[str, int]:
    from edgel3_mote.board_tests.harness.cycles import cycles_for_ticks, run_traced
    from edgel3_mote.export.boards import build_elf

    out_dir = Path(out_dir or tempfile.mkdtemp(prefix="em-kernel-bench-"))
    elf = build_elf(board, [BENCH_MAIN, *KERNEL_SOURCES], out_dir / f"bench{'_dsp' if dsp else ''}.elf",
                    include_dirs=[KERNEL_DIR], defines={"EM_USE_DSP": None} if dsp else None,
                    # DSP boards' own flags define EM_USE_DSP: undefine it for the portable build
                    extra_flags=["-Werror", *([] if dsp else ["-UEM_USE_DSP"])])
    code, output, trace = run_traced(board, elf, timeout=300, out=out_dir / f"{elf.stem}.trace")
    values = {k: int(v) for k, v in re.findall(r"^(\w+)=(\d+)$", output, re.M)}
    values.update(cycles_for_ticks(board, trace, values))  # estimated "<name>_cycles" per "<name>_ticks"
    values["exit_code"] = code
    return values


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--board", default="qemu-mps2-an386")
    args = ap.parse_args(argv)
    results = {dsp: run_bench(args.board, dsp) for dsp in (False, True)}
    print(f"board {args.board}: instructions (QEMU -icount), 32x25x32 -> 32 3x3 conv, 512 -> 64 FC")
    for dsp, r in results.items():
        macs = r["conv_macs"]
        print(f"  {'dsp     ' if dsp else 'portable'}: conv dense {r['conv_dense_ticks']:>10,d} "
              f"({r['conv_dense_ticks'] / macs:.2f}/MAC)  conv 90%-sparse {r['conv_sparse_ticks']:>10,d} "
              f"({r['conv_sparse_ticks'] / macs:.2f}/dense MAC)  fc {r['fc_ticks']:>8,d} "
              f"({r['fc_ticks'] / r['fc_macs']:.2f}/MAC)  checksum {r['checksum']:#010x}  exit {r['exit_code']}")
    same = results[False]["checksum"] == results[True]["checksum"]
    print("  estimated cycles per MAC (core timing table, zero wait states; board_tests/harness/cycles.py):")
    for dsp, r in results.items():
        print(f"  {'dsp     ' if dsp else 'portable'}: conv dense {r['conv_dense_cycles'] / r['conv_macs']:.2f}  "
              f"conv 90%-sparse {r['conv_sparse_cycles'] / r['conv_macs']:.2f}  fc {r['fc_cycles'] / r['fc_macs']:.2f}")
    print(f"  portable and DSP outputs identical: {same}")
    return 0 if same and all(r["exit_code"] == 0 for r in results.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())


def host_checksum() -> int:
    """The checksum ``kernel_bench_main.c`` prints, computed with the host build of the kernels
    (the build the TFLM comparison tests validate), from the same pseudo-random data."""
    import numpy as np

    from edgel3_mote.firmware.testing.kernel_lib import KernelLib

    h, w, cin, cout, fc_in, fc_out = 32, 25, 32, 32, 512, 64
    taps = 9 * cin
    state = [12345]

    def rnd8() -> int:
        state[0] = (state[0] * 1664525 + 1013904223) % 2 ** 32
        return (state[0] >> 24) - 256 * ((state[0] >> 24) > 127)

    x = np.array([rnd8() for _ in range(h * w * cin)], np.int8).reshape(h, w, cin)
    filt = np.zeros((cout, taps), np.int8)
    bias = np.zeros(cout, np.int32)
    for oc in range(cout):
        for k in range(taps):
            v = rnd8()
            filt[oc, k] = 0 if (state[0] >> 8) % 10 != 0 else v
        bias[oc] = rnd8() * 64
    mult = 1300000000 + 1000 * np.arange(cout, dtype=np.int32)
    shift = np.full(cout, -7, np.int32)
    params = dict(stride_h=1, stride_w=1, pad_top=1, pad_left=1, dilation_h=1, dilation_w=1, input_offset=3,
                  output_offset=-5, activation_min=-128, activation_max=127)
    lib = KernelLib()
    y = lib.conv2d(x, (h, w, cin), filt.reshape(cout, 3, 3, cin), bias, mult, shift, params, (h, w, cout))
    fx = np.array([rnd8() for _ in range(fc_in)], np.int8).reshape(1, -1)
    fw = np.array([rnd8() for _ in range(fc_out * fc_in)], np.int8).reshape(fc_out, fc_in)
    fy = lib.fully_connected(fx, fw, None, mult[:1], shift[:1],
                             dict(input_offset=7, filter_offset=0, output_offset=2, activation_min=-128,
                                  activation_max=127))
    checksum = 0
    for v in np.concatenate([y.ravel(), fy.ravel()]).view(np.uint8):
        checksum = (checksum * 31 + int(v)) % 2 ** 32
    return checksum
