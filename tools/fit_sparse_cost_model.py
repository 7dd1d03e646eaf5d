"""Refit the sparse conv kernel's cost model (export/codegen/ops/conv2d.py, SPARSE_INSTR_*) in QEMU.

    .venv/bin/python tools/fit_sparse_cost_model.py

Runs `sparsity_sweep.run_point` (qemu-mps2-an386, -icount shift=0: instructions) on the fit set
below, fits the constants by relative non-negative least squares (scipy.optimize.nnls: every point
weighted by 1 / its measured instructions) and prints them with each point's error. Paste the
constants into conv2d.py; tests/firmware/test_kernels_sparse_qemu.py holds the model to a shape
that is not in the fit set.
"""

from __future__ import annotations

import tempfile

import numpy as np
from scipy.optimize import nnls
from tqdm import tqdm

from edgel3_mote.board_tests.harness.sparsity_sweep import run_point
from edgel3_mote.export.codegen.ops import conv2d as c2

# (zeros %, pass rows, h, w, in_c, out_c)
FIT_SET = (
    (90, 32, 32, 24, 256, 256),
    (90, 1, 32, 24, 256, 256),
    (98, 32, 32, 24, 256, 256),
    (0, 8, 8, 20, 32, 24),
    (80, 8, 8, 20, 32, 24),
    (95, 8, 8, 20, 32, 24),
    (0, 1, 8, 20, 32, 24),
    (80, 1, 8, 20, 32, 24),
    (95, 1, 8, 20, 32, 24),
    (0, 8, 8, 11, 16, 24),
    (90, 8, 8, 11, 16, 24),
    (0, 1, 8, 11, 16, 24),
    (90, 1, 8, 11, 16, 24),
    (0, 8, 8, 4, 40, 16),
    (90, 8, 8, 4, 40, 16),
)
NAMES = (
    "SPARSE_INSTR_PER_NONZERO_MAC",
    "SPARSE_INSTR_PER_NONZERO_MAC_4",
    "SPARSE_INSTR_PER_NONZERO_MAC_1",
    "SPARSE_INSTR_PER_OUTPUT",
    "SPARSE_INSTR_PER_RELAYOUT",
    "SPARSE_INSTR_PER_DECODE",
)


def main() -> int:
    out = tempfile.mkdtemp(prefix="em-sparse-fit-")
    rows, measured = [], []
    for zeros, pass_rows, h, w, in_c, out_c in tqdm(FIT_SET, desc="fit points (QEMU)", unit="point"):
        pt = run_point(zeros, pass_rows, h, w, in_c, out_c, out_dir=out)
        rows.append(c2.sparse_cost_features((h, w), in_c, out_c, (3, 3), pt.nonzeros, pass_rows))
        measured.append(pt.sparse_instructions)
    a, y = np.array(rows), np.array(measured, dtype=float)
    coef, _ = nnls(a / y[:, None], np.ones_like(y))
    for name, c in zip(NAMES, coef):
        print(f"{name} = {c:.4g}")
    err = a @ coef / y - 1
    for spec, e in zip(FIT_SET, err):
        print(f"  {spec}: {e:+.1%}")
    print(f"max |error| {np.abs(err).max():.1%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
