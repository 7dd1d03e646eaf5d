"""Export errors are one clear line and leave no output directory behind."""

from __future__ import annotations

import pytest

import edgel3_mote  # noqa: F401
from edgel3_mote.errors import ExportError, InvalidInputError
from edgel3_mote.export.tflite import export_tflite


def _assert_nothing_written(out):
    assert not out.exists(), f"{out} was left behind"
    assert list(out.parent.iterdir()) == [], "temporary output was left behind"


def unsupported_backbone():
    """Conv2DTranspose, a residual Add and a softmax: int8 TFLite has them, the engine does not."""
    import tf_keras as keras

    keras.utils.set_random_seed(0)
    inp = keras.Input((64, 50, 1))
    a = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv_a")(inp)
    b = keras.layers.Conv2DTranspose(4, 3, padding="same", name="upconv_b")(a)
    x = keras.layers.Add(name="residual_add")([a, b])
    x = keras.layers.MaxPooling2D((64, 50), name="global_pool")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Softmax(name="class_softmax")(x)
    return keras.Model(inp, x, name="unsupported")


def tiny_backbone(input_shape=(64, 50, 1), flatten=True):
    import tf_keras as keras

    inp = keras.Input(input_shape)
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inp)
    x = keras.layers.MaxPooling2D(input_shape[:2])(x)
    if flatten:
        x = keras.layers.Flatten()(x)
    return keras.Model(inp, x)


@pytest.fixture
def out(tmp_path):
    parent = tmp_path / "exports"
    parent.mkdir()
    return parent / "model"


def test_unsupported_ops_are_listed_with_their_layers(out, clip_paths):
    with pytest.raises(ExportError) as err:
        export_tflite(
            unsupported_backbone(),
            calibration=clip_paths[-1:],
            out_dir=out,
            calibration_steps=2,
            hop_size=1.0,
            progress=False,
        )
    msg = str(err.value)
    assert "\n" not in msg
    for op, layer in (("TRANSPOSE_CONV", "upconv_b"), ("ADD", "residual_add"), ("SOFTMAX", "class_softmax")):
        assert op in msg and layer in msg, (op, layer, msg)
    assert "CONV_2D ->" not in msg  # the supported conv is not blamed
    _assert_nothing_written(out)


@pytest.mark.parametrize(
    "model,match",
    [
        (42, "cannot export int"),
        ("sea-65", "unknown model 'sea-65': choose one of .*sea-64"),
        ("not/a/model.h5", "unknown model"),
    ],
)
def test_not_a_model(out, clips_dir, model, match):
    with pytest.raises(InvalidInputError, match=match):
        export_tflite(model, calibration=clips_dir, out_dir=out, progress=False)
    _assert_nothing_written(out)


@pytest.mark.parametrize(
    "shape,flatten,match",
    [
        ((64, 51, 1), True, r"takes input \(None, 64, 51, 1\).*\(None, 64, 50, 1\)"),
        ((64, 50, 3), True, "takes input"),
        ((64, 50, 1), False, "must output"),
    ],
)
def test_wrong_model_shape(out, clip_paths, shape, flatten, match):
    with pytest.raises(InvalidInputError, match=match):
        export_tflite(tiny_backbone(shape, flatten), calibration=clip_paths[-1:], out_dir=out, progress=False)
    _assert_nothing_written(out)


def test_missing_weights_file(out, clips_dir, tmp_path):
    with pytest.raises(InvalidInputError, match="weights file .*missing.h5 does not exist"):
        export_tflite("sea-64", weights=tmp_path / "missing.h5", calibration=clips_dir, out_dir=out)
    _assert_nothing_written(out)


def test_empty_calibration(out, tmp_path):
    empty = tmp_path / "no_audio"
    empty.mkdir()
    (empty / "notes.txt").write_text("not audio")
    with pytest.raises(InvalidInputError, match="no audio files .* in .*no_audio"):
        export_tflite("sea-64", calibration=empty, out_dir=out)
    _assert_nothing_written(out)
    with pytest.raises(InvalidInputError, match="audio file or folder .*nowhere does not exist"):
        export_tflite("sea-64", calibration=tmp_path / "nowhere", out_dir=out)
    with pytest.raises(InvalidInputError, match="no audio files"):
        export_tflite(tiny_backbone(), calibration=[], out_dir=out)
    _assert_nothing_written(out)


def test_bad_numbers(out, clips_dir):
    with pytest.raises(InvalidInputError, match="calibration steps"):
        export_tflite(tiny_backbone(), calibration=None, calibration_steps=0, out_dir=out, progress=False)
    with pytest.raises(InvalidInputError, match="seed"):
        export_tflite(tiny_backbone(), seed="zero", out_dir=out)
    _assert_nothing_written(out)
