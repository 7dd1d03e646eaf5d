"""SLURM scripts with TF_CONFIG per node; strategy selection; distillation under MirroredStrategy."""

import json
import os
import subprocess

import numpy as np
import pytest

import edgel3_mote  # noqa: F401
from edgel3_mote.cli import main
from edgel3_mote.compress.retrain import distribute, slurm
from edgel3_mote.errors import InvalidInputError


def _step_env(nodelist: str, procid: int, tasks: int, per_node: str) -> dict:
    return {
        "SLURM_STEP_NODELIST": nodelist,
        "SLURM_PROCID": str(procid),
        "SLURM_STEP_NUM_TASKS": str(tasks),
        "SLURM_STEP_TASKS_PER_NODE": per_node,
    }


def test_hostlist_expansion_and_tf_config():
    assert slurm.expand_hostlist("gpu[01-03,07],login5") == ["gpu01", "gpu02", "gpu03", "gpu07", "login5"]
    assert slurm.expand_hostlist("n1,n2") == ["n1", "n2"]
    # several bracket groups in one name (TF's own expand_hostlist rejects these)
    assert slurm.expand_hostlist("rack[1-2]-n[1-2],x[9-10]") == [
        "rack1-n1",
        "rack1-n2",
        "rack2-n1",
        "rack2-n2",
        "x9",
        "x10",
    ]
    for bad in ("a[1-2", "a[x]", "a,,b"):
        with pytest.raises(InvalidInputError):
            slurm.expand_hostlist(bad)
    cfg = slurm.tf_config_from_slurm(_step_env("gpu[08-09]", 1, 2, "1(x2)"), port=2222)
    assert cfg == {"cluster": {"worker": ["gpu08:2222", "gpu09:2222"]}, "task": {"type": "worker", "index": 1}}
    cfg = slurm.tf_config_from_slurm(_step_env("rack[1-2]-n[1-2]", 2, 4, "1(x4)"), port=7)
    assert cfg["cluster"]["worker"] == ["rack1-n1:7", "rack1-n2:7", "rack2-n1:7", "rack2-n2:7"]
    assert cfg["task"] == {"type": "worker", "index": 2}
    cfg = slurm.tf_config_from_slurm(_step_env("a[1-2]", 3, 4, "2(x2)"), port=100, gpus=4)
    assert cfg["cluster"]["worker"] == ["a1:100", "a1:101", "a2:100", "a2:101"] and cfg["task"]["index"] == 3
    with pytest.raises(InvalidInputError, match="outside"):
        slurm.tf_config_from_slurm(_step_env("gpu1", 3, 1, "1"))
    with pytest.raises(InvalidInputError, match="srun"):
        slurm.tf_config_from_slurm({"SLURM_JOB_NODELIST": "gpu1"})


def test_jobs_cli_writes_runnable_scripts(tmp_path):
    import sys

    out = tmp_path / "job"
    rc = main(
        [
            "jobs",
            "slurm",
            "--nodes",
            "2",
            "--gpus",
            "4",
            "--partition",
            "gpu",
            "--time",
            "2:00:00",
            "-o",
            str(out),
            "--",
            "distill",
            "--teacher",
            "sea-64",
            "-o",
            "runs/x",
        ]
    )
    assert rc == 0
    sbatch = (out / "job.sbatch").read_text()
    for header in (
        "#SBATCH --nodes=2",
        "#SBATCH --gres=gpu:4",
        "#SBATCH --partition=gpu",
        "#SBATCH --ntasks-per-node=1",
        "#SBATCH --time=2:00:00",
        f"#SBATCH --output={out}/logs/",
    ):
        assert header in sbatch
    assert (out / "logs").is_dir(), "sbatch opens --output before the script runs: the folder must exist"
    assert "srun" in sbatch
    for script in ("job.sbatch", "worker.sh"):
        subprocess.run(["bash", "-n", str(out / script)], check=True)
    worker = (out / "worker.sh").read_text()
    assert f"{sys.executable} -m edgel3_mote distill --teacher sea-64 -o runs/x" in worker

    # run a worker script for real as task 1 of 2, with no edgel3-mote on PATH: the job's Python runs it
    main(["jobs", "slurm", "--nodes", "2", "--gpus", "0", "-o", str(tmp_path / "list"), "--", "models"])
    base = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    env = {**base, "PATH": "/usr/bin:/bin", **_step_env("node[3-4]", 1, 2, "1(x2)")}
    proc = subprocess.run(
        ["bash", str(tmp_path / "list" / "worker.sh")], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "sea-64" in proc.stdout  # `edgel3-mote models` ran
    config = json.loads(proc.stderr.split("TF_CONFIG=", 1)[1].splitlines()[0])
    assert config["cluster"]["worker"] == ["node3:12345", "node4:12345"] and config["task"]["index"] == 1
    # outside a job step TF_CONFIG cannot be computed: the worker stops before the command runs
    proc = subprocess.run(
        ["bash", str(tmp_path / "list" / "worker.sh")],
        env={**base, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode != 0 and "sea-64" not in proc.stdout and "srun" in proc.stderr
    assert main(["jobs", "slurm", "--time", "forever", "-o", str(tmp_path / "bad"), "--", "prune"]) == 2
    # a command that is no edgel3-mote subcommand is refused before anything is written
    assert main(["jobs", "slurm", "-o", str(tmp_path / "typo"), "--", "distil", "-o", "runs/x"]) == 2
    assert not (tmp_path / "typo").exists()


def test_strategy_selection(monkeypatch):
    import tensorflow as tf

    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert distribute.get_strategy("auto") is tf.distribute.get_strategy()
    assert distribute.is_chief()
    with pytest.raises(InvalidInputError):
        distribute.get_strategy("multiworker")
    with pytest.raises(InvalidInputError):
        distribute.get_strategy("bogus")
    monkeypatch.setenv(
        "TF_CONFIG", json.dumps({"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 1}})
    )
    assert not distribute.is_chief()
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(InvalidInputError):
        distribute.tf_config()


def test_distillation_runs_the_same_under_mirrored_strategy(tmp_path):
    import tf_keras as keras

    from edgel3_mote.compress.data.pipeline import ClipWindows
    from edgel3_mote.compress.frontend import SEA_FRONTEND
    from edgel3_mote.compress.models.l3 import build_audio_network
    from edgel3_mote.compress.retrain import distill as D

    def tiny(seed):
        keras.utils.set_random_seed(seed)
        return build_audio_network(
            SEA_FRONTEND, num_filters=[2, 2, 4, 4, 4, 4, 4, 4], embedding_bn=True, pool_size=None
        )

    rng = np.random.default_rng(0)
    data = ClipWindows(
        rng.uniform(-0.5, 0.5, (8, 8000)).astype("float32"), np.zeros(8, np.int32), np.zeros(8), ["noise"]
    )
    strategy = distribute.get_strategy("mirrored")
    config = D.TrainConfig(
        epochs=1, batch_size=4, tensorboard=False, verbose=0, seed=1, on_the_fly=True
    )  # the teacher runs inside the replicated step
    result = D.distill(lambda: (tiny(1), tiny(2)), data, tmp_path / "m", config, strategy=strategy)
    assert result["distribute"]["strategy"] == "MirroredStrategy" and result["distribute"]["replicas"] >= 1
    assert result["epochs_run"] == 1 and np.isfinite(result["after"]["train"]["mse"])
