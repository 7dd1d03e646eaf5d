"""kill -9 of a real training process, at random moments and in the middle of a checkpoint write: the run
folder is never corrupt, and the resumed run ends with exactly the weights and losses of an
uninterrupted one. The training runs in a separate process (``CHILD``), killed with SIGKILL."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

EPOCHS = 8
CHILD = (
    """
import json, sys
from pathlib import Path
import numpy as np
import edgel3_mote
import tf_keras as keras
from edgel3_mote.compress.data import pipeline
from edgel3_mote.compress.frontend import SEA_FRONTEND
from edgel3_mote.compress.models.l3 import build_audio_network
from edgel3_mote.compress.retrain import distill as D

clips, run, out = [Path(p) for p in json.loads(sys.argv[1])], Path(sys.argv[2]), Path(sys.argv[3])

def tiny(seed):
    keras.utils.set_random_seed(seed)
    return build_audio_network(SEA_FRONTEND, include_frontend=True, num_filters=[4, 4, 8, 8, 8, 8, 8, 8],
                               embedding_bn=True, pool_size=(8, 6))

data = pipeline.clip_windows(clips, "sea-64", hop_size=0.5, max_windows_per_clip=6, progress=False)
config = D.TrainConfig(epochs=%d, batch_size=4, learning_rate=3e-3, seed=7, tensorboard=False, verbose=0)
result = D.distill(lambda: (tiny(2), tiny(1)), data, run, config)
np.savez(out, *result["student"].get_weights())
out.with_suffix(".json").write_text(json.dumps([h["loss"] for h in result["history"]]))
"""
    % EPOCHS
)


def _start(clips, run: Path, out: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, json.dumps([str(c) for c in clips]), str(run), str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(proc: subprocess.Popen) -> None:
    _, err = proc.communicate(timeout=900)
    assert proc.returncode == 0, err[-3000:]


def _epochs_done(run: Path) -> int:
    csv = run / "logs" / "training.csv"
    return max(0, csv.read_text().count("\n") - 1) if csv.exists() else 0


def _kill_when(proc: subprocess.Popen, ready, after: float = 0.0) -> None:
    """SIGKILL ``proc`` ``after`` seconds after ``ready()`` turns true (polled every millisecond)."""
    deadline = time.monotonic() + 900
    while not ready():
        assert proc.poll() is None, "the training ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.001)
    time.sleep(after)
    assert proc.poll() is None, "the training ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)


def _check_not_corrupt(run: Path) -> int:
    """The run folder a killed job leaves: parseable state, its checkpoint present. Returns its epoch."""
    from edgel3_mote.compress.retrain import distill as D

    state = D.latest_state(run)
    if state is None:
        return 0
    ckpt = run / D.CHECKPOINT_DIR / state["checkpoint"]
    assert Path(f"{ckpt}.index").is_file(), sorted(p.name for p in ckpt.parent.iterdir())
    return int(state["epoch"])


def test_kill_9_at_random_moments_resumes_to_the_uninterrupted_result(clip_paths, tmp_path):
    clips = clip_paths[:2]
    straight = tmp_path / "straight.npz"
    _finish(_start(clips, tmp_path / "run-straight", straight))

    run, out, rng = tmp_path / "run-killed", tmp_path / "killed.npz", random.Random(5)
    checkpoints = run / "checkpoints"
    kills = [  # mid-checkpoint (TF's temporary checkpoint files exist), then at random moments after epochs 2, 5
        lambda: checkpoints.is_dir() and any("_temp" in p.name for p in checkpoints.iterdir()),
        lambda: _epochs_done(run) >= 2,
        lambda: _epochs_done(run) >= 5,
    ]
    epochs_at_kill = []
    for i, ready in enumerate(kills):
        proc = _start(clips, run, out)
        _kill_when(proc, ready, after=0.0 if i == 0 else rng.uniform(0.0, 0.05))
        epochs_at_kill.append(_check_not_corrupt(run))
        assert not out.exists()
    _finish(_start(clips, run, out))

    # the first kill hit the first checkpoint before its state.json: nothing to resume from, a clean restart
    assert epochs_at_kill[0] == 0 and 1 <= epochs_at_kill[1] <= epochs_at_kill[2] < EPOCHS, epochs_at_kill
    a, b = np.load(straight), np.load(out)
    assert len(a.files) == len(b.files) > 0
    for key in a.files:
        np.testing.assert_array_equal(a[key], b[key])
    assert json.loads(straight.with_suffix(".json").read_text()) == json.loads(out.with_suffix(".json").read_text())
