"""``edgel3-mote prune``: a run directory with config, model and per-layer summary."""

import json

import numpy as np

import edgel3_mote  # noqa: F401
from edgel3_mote.cli import main
from edgel3_mote.compress.pruning.layerwise import conv_layers
from edgel3_mote.compress.pruning.masked import MaskedConv2D
from edgel3_mote.compress.retrain.rundir import load_model


def test_prune_cli_writes_a_masked_run_directory(tmp_path, capsys):
    out = tmp_path / "p"
    rc = main(
        [
            "prune",
            "--model",
            "sea-64",
            "--plan",
            "0",
            "50",
            "50",
            "60",
            "70",
            "80",
            "90",
            "90",
            "--seed",
            "3",
            "--masked",
            "-o",
            str(out),
        ]
    )
    assert rc == 0
    summary = json.loads((out / "summary.json").read_text())
    config = json.loads((out / "config.json").read_text())
    assert config["command"] == "prune" and config["args"]["seed"] == 3
    assert [round(r["sparsity"]) for r in summary["layers"]] == [0, 50, 50, 60, 70, 80, 90, 90]
    model = load_model(out / "model.h5")
    convs = conv_layers(model)
    assert all(isinstance(c, MaskedConv2D) for c in convs)
    kernel, mask = convs[-1].kernel.numpy(), convs[-1].kernel_mask.numpy()
    assert np.all(kernel[mask == 0] == 0) and abs(mask.mean() - 0.1) < 0.01


def test_prune_cli_rejects_a_bad_plan_without_writing(tmp_path, capsys):
    out = tmp_path / "bad"
    assert main(["prune", "--model", "sea-64", "--plan", "12.34", "-o", str(out)]) == 2
    assert "unknown pruning plan" in capsys.readouterr().err
    assert not out.exists()


def test_prune_cli_depth_and_filter_reduction_then_plan(tmp_path):
    out = tmp_path / "r"
    rc = main(
        [
            "prune",
            "--model",
            "sea-64",
            "--seed",
            "0",
            "--last-conv",
            "7",
            "--filters",
            "16",
            "16",
            "32",
            "32",
            "64",
            "64",
            "32",
            "32",
            "--plan",
            "0",
            "20",
            "20",
            "20",
            "20",
            "20",
            "20",
            "20",
            "-o",
            str(out),
        ]
    )
    assert rc == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["reduction"]["params_after"] < summary["reduction"]["params_before"]
    assert [len(k) for k in summary["reduction"]["kept_filters"]] == [16, 16, 32, 32, 64, 64, 32]
    model = load_model(out / "model.h5")
    convs = conv_layers(model)
    assert [c.filters for c in convs] == [16, 16, 32, 32, 64, 64, 32] and model.output_shape == (None, 32)
    assert [round(r["sparsity"]) for r in summary["layers"]] == [0, 20, 20, 20, 20, 20, 20]
