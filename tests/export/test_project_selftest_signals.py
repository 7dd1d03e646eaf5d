"""The on-target self-test's signal windows: besides a real clip, every project's self-test holds the signal
classes a deployed mote hears -- band-limited material, a full-scale DC offset, digital silence, hard clipping
(``export.project.SIGNAL_WINDOWS``) -- and the device front-end must give the host's int8 spectrogram of each,
value for value, in QEMU. Tiny seeded backbones behind the real SEA (8 kHz, 64 mels) and L3 (48 kHz, 256 mels)
front-ends keep it fast; the front-end is the full-size one either way."""

from __future__ import annotations

import re

import pytest

from edgel3_mote.board_tests.harness.qemu import run_elf
from edgel3_mote.export.project import SIGNAL_WINDOWS, build_firmware_project

BOARD = "qemu-mps2-an386"  # 4 MB flash: five 1-s L3 windows with their PCM fit


def tiny_backbone(input_shape, seed):
    """conv -> global max pool -> 8-d embedding over a (n_mels, n_frames, 1) spectrogram."""
    import tf_keras as keras

    keras.utils.set_random_seed(seed)
    x = keras.Input(input_shape)
    y = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(x)
    y = keras.layers.MaxPooling2D((input_shape[0] // 2, (input_shape[1] + 1) // 2))(y)
    model = keras.Model(x, keras.layers.Flatten()(y), name=f"tiny_{input_shape[0]}")
    model.edgel3_random_weights, model.edgel3_seed = True, seed
    return model


@pytest.mark.parametrize("shape", [(64, 50, 1), (256, 199, 1)], ids=["sea", "l3"])
def test_selftest_signal_windows_are_bit_exact_in_qemu(shape, clip_paths, tmp_path):
    info = build_firmware_project(
        BOARD, tiny_backbone(shape, seed=5), clips=clip_paths[:1], out_dir=tmp_path / "p", cache_dir=tmp_path / "c"
    )
    code, out = run_elf(BOARD, info.selftest_elf, timeout=300)
    assert "selftest: PASS" in out and code == 0, out
    lines = re.findall(
        r"^vector \d+ (\S+): \(a\) engine exact, \d+ \w+; \(b\) front-end (\d+)/(\d+) identical", out, re.M
    )
    names = [name for name, _, _ in lines]
    assert names[0] == clip_paths[0].stem and len(names) == 1 + len(SIGNAL_WINDOWS), out
    assert [n.split("_")[0] for n in names[1:]] == [s.split("_")[0] for s in SIGNAL_WINDOWS]
    assert all(same == total == str(shape[0] * shape[1]) for _, same, total in lines), out  # every value, every window
