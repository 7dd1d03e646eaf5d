"""int8 export of a small SEA-shaped backbone: files, manifest, and the flatbuffer's quantisation.

The model is built here (3 convs with BN + ReLU, max-pools, a global MaxPool + Flatten, the
SEA front-end's 64x50x1 input) so the test is fast; the real SEA-64 is covered in
test_report_sea64.py.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

import edgel3_mote  # noqa: F401
from edgel3_mote.errors import ExportError
from edgel3_mote.export.manifest import Manifest
from edgel3_mote.export.opset import check_int8_opset, read_model
from edgel3_mote.export.tflite import export_tflite, load_export


def small_backbone(seed: int = 0):
    import tf_keras as keras

    keras.utils.set_random_seed(seed)
    x = inp = keras.Input((64, 50, 1), name="spectrogram")
    for i, filters in enumerate((8, 16, 16)):
        x = keras.layers.Conv2D(filters, 3, padding="same", name=f"conv_{i + 1}")(x)
        x = keras.layers.BatchNormalization(name=f"bn_{i + 1}")(x)
        x = keras.layers.Activation("relu", name=f"relu_{i + 1}")(x)
        if i < 2:
            x = keras.layers.MaxPooling2D(2, name=f"pool_{i + 1}")(x)
    x = keras.layers.MaxPooling2D((16, 12), name="global_pool")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    model = keras.Model(inp, x, name="small_sea")
    # Non-trivial BN statistics, so folding BN into the conv actually changes the weights.
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.gamma.shape[0]
            layer.set_weights(
                [rng.uniform(0.5, 1.5, n), rng.normal(0, 0.2, n), rng.normal(0, 0.2, n), rng.uniform(0.5, 2.0, n)]
            )
    return model


@pytest.fixture(scope="module")
def small_export(tmp_path_factory, clip_paths):
    out = tmp_path_factory.mktemp("small") / "export"
    calibration = [p for p in clip_paths if p.stem in ("cat", "sheep")]
    result = export_tflite(
        small_backbone(),
        calibration=calibration,
        out_dir=out,
        calibration_steps=8,
        hop_size=0.5,
        input_affine=(0.0855, 2.066),
        progress=False,
    )
    return result


def test_files_and_manifest(small_export):
    out = small_export.out_dir
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [
        "export.log",  # the steps and the converter's chatter (kept off the screen)
        "manifest.json",
        "model_float.tflite",
        "model_int8.tflite",
    ]
    manifest = json.loads((out / "manifest.json").read_text())
    # the typed Manifest is exactly the JSON file, both ways
    assert small_export.manifest.to_dict() == manifest and Manifest.from_dict(manifest) == small_export.manifest
    for key in (
        "model",
        "weights",
        "random_weights",
        "seed",
        "frontend",
        "input_affine",
        "input",
        "output",
        "ops",
        "sha256",
        "sizes",
    ):
        assert key in manifest, key
    int8 = (out / "model_int8.tflite").read_bytes()
    assert manifest["sha256"] == hashlib.sha256(int8).hexdigest()
    assert manifest["frontend"]["sr"] == 8000 and manifest["frontend"]["n_mels"] == 64
    assert manifest["input_affine"] == {"scale": 0.0855, "offset": 2.066}
    assert manifest["input"]["shape"] == [1, 64, 50, 1] and manifest["output"]["shape"] == [1, 16]
    assert -128 <= manifest["input"]["zero_point"] <= 127 and manifest["input"]["scale"] > 0
    assert manifest["ops"] == ["CONV_2D", "MAX_POOL_2D", "CONV_2D", "MAX_POOL_2D", "CONV_2D", "MAX_POOL_2D", "RESHAPE"]
    sizes = manifest["sizes"]
    assert sizes["int8_tflite_bytes"] == len(int8)
    assert sizes["float_tflite_bytes"] == (out / "model_float.tflite").stat().st_size
    # int8 weights (8*9 + 16*9*8 + 16*9*16 = 3528) + int32 biases (40 * 4).
    assert sizes["weight_params"] == 3528 and sizes["weight_bytes"] == 3528 + 40 * 4
    assert 0 < sizes["nonzero_weight_bytes"] <= sizes["weight_bytes"]
    assert manifest["calibration"]["source"] == "clips" and manifest["calibration"]["windows"] == 8
    assert manifest["random_weights"] is False and manifest["weights"] is None
    assert load_export(out)[1] == small_export.manifest


def test_flatbuffer_is_full_integer(small_export):
    info = read_model(small_export.int8_path.read_bytes())
    assert [info.tensors[i].dtype for i in info.inputs + info.outputs] == ["int8", "int8"]
    # The first op reads the int8 input directly: no QUANTIZE, no leftover float input BN.
    assert info.ops[0].name == "CONV_2D" and info.ops[0].inputs[0] == info.inputs[0]
    convs = [op for op in info.ops if op.name == "CONV_2D"]
    for op, filters in zip(convs, (8, 16, 16)):
        weights, bias, out = (info.tensors[i] for i in (op.inputs[1], op.inputs[2], op.outputs[0]))
        assert weights.dtype == "int8" and weights.shape[0] == filters
        assert len(weights.scales) == filters and weights.quantized_dimension == 0  # per channel
        assert np.all(weights.zero_points == 0)  # symmetric
        assert np.abs(weights.data).max() == 127  # each filter uses the full int8 range
        assert bias.dtype == "int32" and bias.shape == (filters,)
        assert out.dtype == "int8" and len(out.scales) == 1  # per tensor
        assert op.fused_activation == "RELU"  # ReLU fused
        assert out.zero_points[0] == -128  # post-ReLU range starts at zero
    pools = [op for op in info.ops if op.name == "MAX_POOL_2D"]
    assert pools[-1].options["filter"] == (16, 12)  # global pooling is one MAX_POOL_2D
    assert info.ops[-1].name == "RESHAPE"  # Flatten
    assert "conv_2" in info.tensors[convs[1].outputs[0]].name  # Keras layer names survive


def test_int8_model_tracks_the_float_backbone(small_export):
    import tensorflow as tf

    from edgel3_mote.export.reference import TflmRunner

    (in_scale, in_zp), (out_scale, out_zp) = small_export.manifest.input.quant, small_export.manifest.output.quant
    rng = np.random.default_rng(1)
    x = rng.uniform(-4.7, 2.0, (4, 64, 50, 1)).astype(np.float32)  # the affine's output range
    interp = tf.lite.Interpreter(model_content=small_export.float_path.read_bytes())
    interp.allocate_tensors()
    runner = TflmRunner(small_export.int8_path.read_bytes())
    for xi in x:
        interp.set_tensor(interp.get_input_details()[0]["index"], xi[None])
        interp.invoke()
        ref = interp.get_tensor(interp.get_output_details()[0]["index"]).reshape(-1)
        q = np.clip(np.round(xi / in_scale) + in_zp, -128, 127).astype(np.int8)
        y = (runner.invoke(q).reshape(-1).astype(np.float32) - out_zp) * out_scale
        cosine = float(ref @ y / np.linalg.norm(ref) / np.linalg.norm(y))
        assert cosine > 0.98, cosine


def test_float_model_is_rejected_by_the_int8_opset_check(small_export):
    with pytest.raises(ExportError, match=r"#0 CONV_2D .*conv_1.*float op: float32.*full-integer"):
        check_int8_opset(small_export.float_path.read_bytes())


def test_export_replaces_atomically_and_failure_keeps_old(small_export, tmp_path):
    from edgel3_mote.errors import InvalidInputError

    out = small_export.out_dir
    before = (out / "manifest.json").read_text()
    with pytest.raises(InvalidInputError, match="no audio files"):
        export_tflite(small_backbone(), calibration=tmp_path, out_dir=out, progress=False)
    assert (out / "manifest.json").read_text() == before
    assert [p.name for p in out.parent.iterdir()] == [out.name]  # no temp dirs left behind
