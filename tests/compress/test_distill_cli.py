"""``edgel3-mote distill`` end to end on real weights and clips (tiny: 1 epoch, few windows)."""

import json

import numpy as np

import edgel3_mote  # noqa: F401
from edgel3_mote.cli import main
from edgel3_mote.compress.pruning.layerwise import conv_layers
from edgel3_mote.compress.retrain.rundir import load_model


def test_distill_cli_real_sea64_teacher_to_masked_student(tmp_path, sea64_weights, clip_paths, capsys):
    out = tmp_path / "d"
    argv = [
        "distill",
        "--teacher",
        "sea-64",
        "--teacher-weights",
        str(sea64_weights),
        "--student-sparsity",
        "90",
        "--clips",
        *map(str, clip_paths[:3]),
        "--val-fraction",
        "0.34",
        "--hop-size",
        "0.5",
        "--max-windows-per-clip",
        "4",
        "--epochs",
        "1",
        "--batch-size",
        "4",
        "-o",
        str(out),
    ]
    assert main(argv) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert abs(summary["overall_sparsity"] - 90.0) < 0.01
    assert summary["train_windows"] == 8 and summary["val_windows"] == 4 and len(summary["val_clips"]) == 1
    assert summary["after"]["train"]["mse"] < summary["before"]["train"]["mse"]
    for name in ("config.json", "model.h5", "teacher_targets.npz", "logs/training.csv", "checkpoints/state.json"):
        assert (out / name).exists(), name
    assert list((out / "logs").rglob("events.out.tfevents*")), "no TensorBoard event file"
    student = load_model(out / "model.h5")
    for conv in conv_layers(student):
        assert np.all(conv.kernel.numpy()[conv.kernel_mask.numpy() == 0] == 0)
    # a finished run is not overwritten by accident
    assert main(argv) == 2
    assert "finished run" in capsys.readouterr().err


def test_plain_pruned_student_keeps_its_zeros_and_a_failed_start_does_not_block_the_rerun(
    tmp_path, sea64_weights, clip_paths, capsys
):
    pruned = tmp_path / "p70"
    assert (
        main(["prune", "--model", "sea-64", "--weights", str(sea64_weights), "--plan", *["70"] * 8, "-o", str(pruned)])
        == 0
    )
    before = [c.kernel.numpy() == 0 for c in conv_layers(load_model(pruned / "model.h5"))]
    assert abs(np.mean(np.concatenate([z.ravel() for z in before])) - 0.70) < 0.005
    out = tmp_path / "d"
    argv = [
        "distill",
        "--teacher",
        "sea-64",
        "--teacher-weights",
        str(sea64_weights),
        "--student",
        str(pruned / "model.h5"),
        "--clips",
        *map(str, clip_paths[:2]),
        "--val-clips",
        str(clip_paths[2]),
        "--hop-size",
        "0.5",
        "--max-windows-per-clip",
        "4",
        "--epochs",
        "1",
        "--batch-size",
        "4",
        "--no-tensorboard",
        "-o",
        str(out),
    ]
    # a start that fails after writing config.json (8 windows cannot give a 64-d PCA) ...
    assert main(argv + ["--reduce", "pca"]) == 2
    assert "cannot reduce" in capsys.readouterr().err and (out / "config.json").exists()
    # ... does not block the corrected rerun
    assert main(argv) == 0
    assert "masked so the zeros stay zero" in capsys.readouterr().out
    student = load_model(out / "model.h5")
    for conv, zeros in zip(conv_layers(student), before):
        assert np.array_equal(conv.kernel.numpy() == 0, zeros), conv.name
    summary = json.loads((out / "summary.json").read_text())
    assert abs(summary["overall_sparsity"] - 70.0) < 0.5
    assert summary["after"]["train"]["mse"] < summary["before"]["train"]["mse"]


def test_distill_cli_on_a_corpus_manifest_with_random_crops(tmp_path, sea64_weights, clip_paths):
    manifest = tmp_path / "manifest.csv"
    rows = ["file,package,version,licence,seconds,sample_rate,channels,split"]
    rows += [f"{p},pkg-{i % 2},1,CC0,1,44100,1,{'val' if i == 2 else 'train'}" for i, p in enumerate(clip_paths[:3])]
    manifest.write_text("\n".join(rows) + "\n")
    out, cache = tmp_path / "d", tmp_path / "audio"
    assert (
        main(
            [
                "distill",
                "--teacher",
                "sea-64",
                "--teacher-weights",
                str(sea64_weights),
                "--student-sparsity",
                "80",
                "--pruning",
                "gradual",
                "--corpus",
                str(manifest),
                "--crops-per-epoch",
                "8",
                "--val-crops",
                "8",
                "--audio-cache",
                str(cache),
                "--epochs",
                "1",
                "--batch-size",
                "4",
                "--no-tensorboard",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    summary = json.loads((out / "summary.json").read_text())
    assert summary["train_clips"] == sorted(map(str, clip_paths[:2]))
    assert summary["train_crops_per_epoch"] == 8 and summary["val_windows"] == 8
    assert summary["config"]["on_the_fly"] is True and summary["config"]["gradual"] == [0.8] * 8
    assert abs(summary["overall_sparsity"] - 80.0) < 0.01
    assert len(list(cache.glob("*.npy"))) == 3  # train and val audio decoded once
    assert (
        main(
            [
                "distill",
                "--teacher",
                "sea-64",
                "--student-sparsity",
                "80",
                "--corpus",
                str(tmp_path / "none.csv"),
                "--crops-per-epoch",
                "8",
                "-o",
                str(tmp_path / "e"),
            ]
        )
        == 2
    )
    assert not (tmp_path / "e").exists()


def test_a_pruned_student_is_pruned_further_and_keeps_its_zeros(tmp_path, sea64_weights, clip_paths, capsys):
    """Iterative pruning (``sweep --chain``): ``--student FILE --student-sparsity N`` prunes the file's
    model further by magnitude; its zeros stay zero (the new mask only grows) and reach N % in every conv."""
    pruned = tmp_path / "p50"
    plan = ["prune", "--model", "sea-64", "--weights", str(sea64_weights), "--plan", *["50"] * 8, "-o", str(pruned)]
    assert main(plan) == 0
    before = [c.kernel.numpy() == 0 for c in conv_layers(load_model(pruned / "model.h5"))]
    out = tmp_path / "d75"
    argv = [
        "distill",
        "--teacher",
        "sea-64",
        "--teacher-weights",
        str(sea64_weights),
        "--student",
        str(pruned / "model.h5"),
        "--student-sparsity",
        "75",
        "--clips",
        *map(str, clip_paths[:2]),
        "--val-clips",
        str(clip_paths[2]),
        "--hop-size",
        "0.5",
        "--max-windows-per-clip",
        "4",
        "--epochs",
        "1",
        "--batch-size",
        "4",
        "--no-tensorboard",
        "-o",
        str(out),
    ]
    for extra in (["--regrow"], ["--pruning", "gradual"]):
        assert main(argv + extra) == 2
        assert "leave out --pruning gradual and --regrow" in capsys.readouterr().err
        assert not out.exists()  # refused before anything is written
    assert main(argv + ["--student-plan", *["80"] * 8]) == 2
    assert "not both" in capsys.readouterr().err
    assert main(argv) == 0
    student = load_model(out / "model.h5")
    for conv, zeros in zip(conv_layers(student), before):
        now = conv.kernel.numpy() == 0
        assert np.all(now[zeros]), f"{conv.name}: a pruned weight came back"
        assert abs(now.mean() - 0.75) < 0.005, conv.name
    summary = json.loads((out / "summary.json").read_text())
    assert abs(summary["overall_sparsity"] - 75.0) < 0.01
    assert summary["after"]["train"]["mse"] < summary["before"]["train"]["mse"]
