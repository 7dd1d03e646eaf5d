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


def test_hostlist_expansion_and_tf_config():
    assert slurm.expand_hostlist("gpu[01-03,07],login5") == ["gpu01", "gpu02", "gpu03", "gpu07", "login5"]
    assert slurm.expand_hostlist("n1,n2") == ["n1", "n2"]
    cfg = slurm.tf_config_from_slurm({"SLURM_JOB_NODELIST": "gpu[08-09]", "SLURM_NODEID": "1"}, port=2222)
    assert cfg == {"cluster": {"worker": ["gpu08:2222", "gpu09:2222"]}, "task": {"type": "worker", "index": 1}}
    with pytest.raises(InvalidInputError):
        slurm.tf_config_from_slurm({"SLURM_JOB_NODELIST": "gpu1", "SLURM_NODEID": "3"})


def test_jobs_cli_writes_runnable_scripts(tmp_path):
    out = tmp_path / "job"
    rc = main(["jobs", "slurm", "--nodes", "2", "--gpus", "4", "--partition", "gpu", "--time", "2:00:00",
               "-o", str(out), "--", "distill", "--teacher", "sea-64", "-o", "runs/x"])
    assert rc == 0
    sbatch = (out / "job.sbatch").read_text()
    for header in ("#SBATCH --nodes=2", "#SBATCH --gres=gpu:4", "#SBATCH --partition=gpu",
                   "#SBATCH --ntasks-per-node=1", "#SBATCH --time=2:00:00"):
        assert header in sbatch
    assert "srun" in sbatch
    for script in ("job.sbatch", "worker.sh"):
        subprocess.run(["bash", "-n", str(out / script)], check=True)
    worker = (out / "worker.sh").read_text()
    assert "edgel3-mote distill --teacher sea-64 -o runs/x --strategy auto" in worker
    # run the worker as node 1 of 2 with a stand-in edgel3-mote that prints its TF_CONFIG
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "edgel3-mote").write_text('#!/bin/bash\necho "$TF_CONFIG"\n')
    (fake_bin / "edgel3-mote").chmod(0o755)
    env = {**os.environ, "PATH": f"{fake_bin}:{os.environ['PATH']}",
           "SLURM_JOB_NODELIST": "node[3-4]", "SLURM_NODEID": "1"}
    proc = subprocess.run(["bash", str(out / "worker.sh")], env=env, capture_output=True, text=True, check=True)
    config = json.loads(proc.stdout.strip().splitlines()[-1])
    assert config["cluster"]["worker"] == ["node3:12345", "node4:12345"] and config["task"]["index"] == 1
    assert main(["jobs", "slurm", "--time", "forever", "-o", str(tmp_path / "bad"), "--", "prune"]) == 2


def test_strategy_selection(monkeypatch):
    import tensorflow as tf

    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert distribute.get_strategy("auto") is tf.distribute.get_strategy()
    assert distribute.is_chief()
    with pytest.raises(InvalidInputError):
        distribute.get_strategy("multiworker")
    with pytest.raises(InvalidInputError):
        distribute.get_strategy("bogus")
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["a:1", "b:1"]},
                                                "task": {"type": "worker", "index": 1}}))
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
        return build_audio_network(SEA_FRONTEND, num_filters=[2, 2, 4, 4, 4, 4, 4, 4],
                                   embedding_bn=True, pool_size=None)

    rng = np.random.default_rng(0)
    data = ClipWindows(rng.uniform(-0.5, 0.5, (8, 8000)).astype("float32"), np.zeros(8, np.int32),
                       np.zeros(8), ["noise"])
    strategy = distribute.get_strategy("mirrored")
    config = D.DistillConfig(epochs=1, batch_size=4, tensorboard=False, verbose=0, seed=1,
                             on_the_fly=True)  # the teacher runs inside the replicated step
    result = D.distill(lambda: (tiny(1), tiny(2)), data, tmp_path / "m", config, strategy=strategy)
    assert result["distribute"]["strategy"] == "MirroredStrategy" and result["distribute"]["replicas"] >= 1
    assert result["epochs_run"] == 1 and np.isfinite(result["after"]["train"]["mse"])
