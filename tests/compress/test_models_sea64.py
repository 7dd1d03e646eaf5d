"""The real pretrained SEA-64 file: every weight loads, and the model is self-consistent."""

from __future__ import annotations

import numpy as np
import pytest

import edgel3_mote  # noqa: F401
from edgel3_mote.compress.models import registry


@pytest.fixture(scope="module")
def sea64(sea64_weights):
    return registry.build_model("sea-64", weights=sea64_weights)


def test_every_weight_of_the_release_is_matched(sea64, sea64_weights):
    report = sea64.edgel3_load_report
    # 7 convs + the embedding conv (kernel, bias), 9 BNs (4 arrays), the 3 front-end arrays.
    assert report.matched_arrays == report.file_arrays == 8 * 2 + 9 * 4 + 3 == 55
    assert report.layout == "full-model" and report.keras_version == "2.0.9"
    assert report.modes == {"audio_model": "by-name"}
    assert report.unused_layers == [] and report.frontend_from_file
    assert sea64.edgel3_random_weights is False and sea64.edgel3_weights == str(sea64_weights)

    import h5py

    with h5py.File(sea64_weights, "r") as f:
        group = f["model_weights"]
        kernel = group["conv2d_5/conv2d_5/kernel:0"][()]
        moving_var = group["batch_normalization_9/batch_normalization_9/moving_variance:0"][()]
        mel = group["melspectrogram_1/melspectrogram_1/Variable:0"][()]
    np.testing.assert_array_equal(sea64.get_layer("conv2d_5").kernel.numpy(), kernel)
    np.testing.assert_array_equal(sea64.get_layer("batch_normalization_9").moving_variance.numpy(), moving_var)
    frontend = sea64.get_layer("melspectrogram_1")
    np.testing.assert_array_equal(frontend.weights[2].numpy(), mel)


def test_stored_dft_kernels_and_mel_matrix_equal_the_computed_ones(sea64):
    from edgel3_mote.compress.frontend import SEA_FRONTEND, dft_kernels, mel_matrix

    stored_real, stored_imag, stored_mel = (w.numpy() for w in sea64.get_layer("melspectrogram_1").weights)
    real, imag = dft_kernels(SEA_FRONTEND)
    np.testing.assert_allclose(stored_real.reshape(real.shape), real, atol=1e-6)
    np.testing.assert_allclose(stored_imag.reshape(imag.shape), imag, atol=1e-6)
    np.testing.assert_allclose(stored_mel, mel_matrix(SEA_FRONTEND), atol=1e-6)


def test_full_model_equals_backbone_of_normalised_frontend(sea64, clip_paths):
    from edgel3_mote.compress.audio import read_audio
    from edgel3_mote.compress.embedding import frame_audio
    from edgel3_mote.compress.frontend import SEA_FRONTEND, log_mel_spectrogram
    from edgel3_mote.compress.models.l3 import split_frontend

    audio, sr = read_audio(clip_paths[0])
    frames, _ = frame_audio(audio, sr, "sea-64", hop_size=0.5)
    x = frames[:4, None, :]
    frontend, input_bn, backbone = split_frontend(sea64)
    full = sea64(x).numpy()
    chained = backbone(input_bn(frontend(x))).numpy()
    np.testing.assert_allclose(full, chained, rtol=0, atol=1e-5)
    # The numpy reference front-end + the scalar input affine feed the same backbone.
    scale, offset = registry.input_affine(sea64)
    spec = log_mel_spectrogram(frames[:4], SEA_FRONTEND) * np.float32(scale) + np.float32(offset)
    from_numpy = backbone(spec[..., None]).numpy()
    np.testing.assert_allclose(from_numpy, full, atol=1e-3 * max(1.0, float(np.abs(full).max())))
    assert full.shape == (4, 64) and np.all(np.isfinite(full)) and np.ptp(full) > 0


def test_architecture_equals_the_files_model_config(sea64, sea64_weights):
    """Layer by layer, our SEA-64 is the graph stored in the release's model_config."""
    import json

    import h5py

    with h5py.File(sea64_weights, "r") as f:
        config = json.loads(f.attrs["model_config"])["config"]
    keys = {
        "Conv2D": ("filters", "kernel_size", "strides", "padding", "activation", "use_bias"),
        "MaxPooling2D": ("pool_size", "strides", "padding"),
        "BatchNormalization": ("epsilon", "center", "scale"),
        "Activation": ("activation",),
    }
    ours = {layer.name: layer for layer in sea64.layers}
    assert [l["name"] for l in config["layers"]] == [l.name for l in sea64.layers]
    for stored in config["layers"]:
        layer = ours[stored["name"]]
        inbound = [node[0] for nodes in stored["inbound_nodes"] for node in nodes]
        first = layer.inbound_nodes[:1]  # later nodes: backbones built from this model
        assert inbound == [n.inbound_layers.name for n in first if not isinstance(n.inbound_layers, list)], stored[
            "name"
        ]
        if stored["class_name"] in keys:
            assert layer.__class__.__name__ == stored["class_name"]
            mine = layer.get_config()
            for key in keys[stored["class_name"]]:
                want = stored["config"][key]
                got = mine[key]
                assert (list(got) if isinstance(got, tuple) else got) == want, (stored["name"], key)
        if stored["class_name"] == "BatchNormalization":
            assert stored["config"]["axis"] == -1 and layer.axis in (-1, [3], 3)
    mel = config["layers"][1]["config"]
    from edgel3_mote.compress.frontend import SEA_FRONTEND, FrontendConfig

    assert FrontendConfig.from_kapre_config(mel) == SEA_FRONTEND
