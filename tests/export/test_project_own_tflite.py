"""Bring your own model: ``export firmware --tflite FILE`` with a small int8 network of another family
(depthwise conv, average pool, fully connected, softmax: a DS-CNN-style classifier on SEA's 64x50 log-mel),
built and converted here. The generated engine refuses it naming the operators it lacks and pointing at
``--runtime tflm``; under TFLM it runs in QEMU (qemu-mps2-an386) identical to the tflite-micro wheel; a
float model is refused as not full-integer."""

from __future__ import annotations

import re

import numpy as np
import pytest

from edgel3_mote.board_tests.harness.qemu import run_elf
from edgel3_mote.errors import ExportError, InvalidInputError
from edgel3_mote.export.project import SIGNAL_WINDOWS, build_firmware_project

BOARD = "qemu-mps2-an386"


def ds_cnn():
    """A tiny DS-CNN keyword-spotter shape on (64, 50, 1) log-mel dB: 6 classes, softmax."""
    import tf_keras as keras

    keras.utils.set_random_seed(7)
    x = keras.Input((64, 50, 1))
    y = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(x)
    y = keras.layers.DepthwiseConv2D(3, padding="same", activation="relu")(y)
    y = keras.layers.Conv2D(16, 1, activation="relu")(y)
    y = keras.layers.AveragePooling2D((32, 25))(y)
    y = keras.layers.Flatten()(y)
    y = keras.layers.Dense(6)(y)
    y = keras.layers.Softmax()(y)
    return keras.Model(x, y, name="ds_cnn")


def _log_mels(clip_paths) -> list[np.ndarray]:
    from edgel3_mote.compress.frontend import log_mel_spectrogram
    from edgel3_mote.compress.models.registry import get_spec
    from edgel3_mote.export.tflite import clip_windows

    spec = get_spec("sea-64")
    out = []
    for path in clip_paths:
        for frame in clip_windows(path, spec)[:4]:
            out.append(log_mel_spectrogram(frame.astype(np.float64), spec.frontend).astype(np.float32))
    return out


def _convert(model, mels, int8: bool = True) -> bytes:
    import tensorflow as tf

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    if int8:
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = lambda: ([m.reshape(1, 64, 50, 1)] for m in mels)
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
    return conv.convert()


@pytest.fixture(scope="module")
def own_models(tmp_path_factory, clip_paths):
    root = tmp_path_factory.mktemp("own-tflite")
    model, mels = ds_cnn(), _log_mels(clip_paths[:3])
    paths = {}
    for name, int8 in (("ds_cnn_int8", True), ("ds_cnn_float", False)):
        paths[name] = root / f"{name}.tflite"
        paths[name].write_bytes(_convert(model, mels, int8))
    return root, paths


def test_the_engine_names_the_ops_it_lacks(own_models, clip_paths):
    root, paths = own_models
    with pytest.raises(ExportError) as err:
        build_firmware_project(
            BOARD,
            "sea-64",
            clips=clip_paths[:2],
            out_dir=root / "engine",
            cache_dir=root / "cache",
            tflite=paths["ds_cnn_int8"],
            log=lambda m: None,
        )
    msg = str(err.value)
    missing = re.search(r"the generated engine has no ([A-Z0-9_, ]+) \(", msg)
    assert missing and missing.group(1).split(", ") == ["AVERAGE_POOL_2D", "DEPTHWISE_CONV_2D", "SOFTMAX"], msg
    assert "--runtime tflm" in msg
    assert not (root / "engine").exists()


def test_a_float_model_is_refused(own_models, clip_paths):
    root, paths = own_models
    with pytest.raises(InvalidInputError, match="not a full-integer int8 model"):
        build_firmware_project(
            BOARD,
            "sea-64",
            clips=clip_paths[:2],
            out_dir=root / "float",
            tflite=paths["ds_cnn_float"],
            runtime="tflm",
            log=lambda m: None,
        )


def test_own_model_runs_under_tflm_identical_to_the_wheel(own_models, clip_paths):
    root, paths = own_models
    info = build_firmware_project(
        BOARD,
        "sea-64",
        clips=clip_paths[:3],
        out_dir=root / "tflm",
        cache_dir=root / "cache",
        tflite=paths["ds_cnn_int8"],
        runtime="tflm",
        log=lambda m: None,
    )
    assert info.model == "ds_cnn_int8" and info.runtime == "tflm" and not info.random_weights
    header = (root / "tflm" / "src" / "em_tflm_model.h").read_text()
    assert sorted(re.findall(r"r\.(Add\w+)\(\)", header)) == [
        "AddAveragePool2D",
        "AddConv2D",
        "AddDepthwiseConv2D",
        "AddFullyConnected",
        "AddReshape",
        "AddSoftmax",
    ]
    code, out = run_elf(BOARD, info.selftest_elf, timeout=300)
    assert "selftest: PASS" in out and code == 0, out
    # the three clips' windows, then the signal windows (export.project.SIGNAL_WINDOWS), every one exact
    exact = re.findall(r"^vector \d+ (\S+): \(a\) engine exact", out, re.M)
    assert len(exact) == 3 + len(SIGNAL_WINDOWS) and [n.split("_")[0] for n in exact[3:]] == [
        s.split("_")[0] for s in SIGNAL_WINDOWS
    ], out
