"""Two real MultiWorkerMirroredStrategy workers on localhost (CPU) distil a tiny student into one
run folder, and end with the same weights as a one-process run with the same global batch."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

import edgel3_mote  # noqa: F401

WORKER_TIMEOUT_S = 420


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _tiny_models(tmp_path):
    import tf_keras as keras

    from edgel3_mote.compress.frontend import SEA_FRONTEND
    from edgel3_mote.compress.models.l3 import build_audio_network
    from edgel3_mote.compress.retrain.rundir import save_model

    paths = []
    for name, seed in (("teacher", 1), ("student", 2)):
        keras.utils.set_random_seed(seed)
        model = build_audio_network(
            SEA_FRONTEND, num_filters=[2, 2, 4, 4, 4, 4, 4, 4], embedding_bn=True, pool_size=None
        )
        paths.append(save_model(model, tmp_path / f"{name}.h5"))
    return paths


def _distill_argv(teacher, student, clip_paths, out) -> list[str]:
    return [
        sys.executable,
        "-m",
        "edgel3_mote",
        "distill",
        "--teacher",
        str(teacher),
        "--student",
        str(student),
        "--clips",
        *map(str, clip_paths[:2]),
        "--val-clips",
        str(clip_paths[2]),
        "--hop-size",
        "0.5",
        "--max-windows-per-clip",
        "4",
        "--epochs",
        "2",
        "--batch-size",
        "4",
        "--no-tensorboard",
        "--seed",
        "3",
        "-o",
        str(out),
    ]


def _run(procs: list[subprocess.Popen]) -> list[tuple[int, str]]:
    results = []
    try:
        for p in procs:
            out, _ = p.communicate(timeout=WORKER_TIMEOUT_S)
            results.append((p.returncode, out))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    return results


def test_two_local_workers_finish_and_match_one_process(tmp_path, clip_paths):
    from edgel3_mote.compress.retrain.rundir import load_model

    teacher, student = _tiny_models(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    env.update(CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="2")
    single, multi = tmp_path / "single", tmp_path / "multi"
    procs = [
        subprocess.Popen(
            _distill_argv(teacher, student, clip_paths, single) + ["--strategy", "default"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
    ]
    ports = _free_ports(2)
    cluster = {"worker": [f"localhost:{p}" for p in ports]}
    for index in range(2):
        worker_env = {**env, "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})}
        procs.append(
            subprocess.Popen(
                _distill_argv(teacher, student, clip_paths, multi),  # one shared -o
                env=worker_env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    results = _run(procs)
    for rc, out in results:
        assert rc == 0, out[-3000:]
    summary = json.loads((multi / "summary.json").read_text())
    assert summary["distribute"]["strategy"] == "MultiWorkerMirroredStrategy"
    assert summary["distribute"]["replicas"] == 2 and summary["epochs_run"] == 2
    # the chief alone wrote the run folder; the other worker left nothing there
    assert sorted(p.name for p in multi.iterdir()) == sorted(p.name for p in single.iterdir())
    assert not list(multi.rglob("*worker*"))
    one, two = load_model(single / "model.h5"), load_model(multi / "model.h5")
    before = load_model(student)
    moved = 0
    for w1, w2, w0 in zip(one.get_weights(), two.get_weights(), before.get_weights()):
        np.testing.assert_allclose(w2, w1, rtol=1e-4, atol=1e-6)
        moved += not np.allclose(w1, w0)
    assert moved >= 8, "training changed (almost) nothing: the comparison would be vacuous"
    s1 = json.loads((single / "summary.json").read_text())
    assert summary["after"]["val"]["mse"] == pytest.approx(s1["after"]["val"]["mse"], rel=1e-4)
