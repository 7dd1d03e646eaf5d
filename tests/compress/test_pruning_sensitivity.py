"""``edgel3-mote sensitivity``: one layer pruned at a time, cosine to the unpruned model."""

import csv
import json

import edgel3_mote  # noqa: F401
from edgel3_mote.cli import main


def test_sensitivity_cli_sweeps_every_layer(tmp_path, clip_paths):
    out = tmp_path / "sens"
    rc = main(
        [
            "sensitivity",
            "--model",
            "sea-64",
            "--seed",
            "1",
            "--clips",
            str(clip_paths[0]),
            str(clip_paths[1]),
            "--sparsities",
            "0",
            "60",
            "99",
            "--max-windows",
            "6",
            "-o",
            str(out),
        ]
    )
    assert rc == 0
    rows = list(csv.DictReader((out / "sensitivity.csv").open()))
    assert len(rows) == 8 * 3
    for row in rows:
        if float(row["sparsity"]) == 0:
            assert abs(float(row["cosine_mean"]) - 1.0) < 1e-5, row
    by_layer = {}
    for row in rows:
        by_layer.setdefault(row["layer"], {})[float(row["sparsity"])] = float(row["cosine_mean"])
    # pruning 99 % of a layer hurts more than 60 %, for most layers
    assert sum(c[99.0] < c[60.0] for c in by_layer.values()) >= 6
    assert (out / "sensitivity.png").stat().st_size > 10_000
    summary = json.loads((out / "summary.json").read_text())
    assert summary["windows"] == 6 and len(summary["tolerated_sparsity_at_cosine_0.99"]) == 8
