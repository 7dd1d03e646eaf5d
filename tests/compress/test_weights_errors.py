"""Bad weight files fail with one clear WeightsError naming the file/layer, never a partial load."""

from __future__ import annotations

import gzip
import shutil

import h5py
import numpy as np
import pytest

import edgel3_mote  # noqa: F401
from edgel3_mote.compress.weights import load_weights, read_weight_file
from edgel3_mote.errors import WeightsError


@pytest.fixture(scope="module")
def sea64_model():
    from edgel3_mote.compress.models.sea import build_sea_model

    return build_sea_model(64)


def _snapshot(model):
    return [w.numpy().copy() for w in model.weights]


def _assert_unchanged(model, before):
    for w, b in zip(model.weights, before):
        np.testing.assert_array_equal(w.numpy(), b)


def test_missing_corrupt_and_non_hdf5_files(sea64_model, sea64_weights, tmp_path):
    before = _snapshot(sea64_model)
    with pytest.raises(WeightsError, match="does not exist"):
        load_weights(sea64_model, tmp_path / "nope.h5")
    text = tmp_path / "notes.h5"
    text.write_text("this is not HDF5")
    with pytest.raises(WeightsError, match="notes.h5.*not a readable HDF5"):
        load_weights(sea64_model, text)
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(sea64_weights.read_bytes()[:200_000])
    with pytest.raises(WeightsError, match="truncated.h5"):
        load_weights(sea64_model, truncated)
    bad_gz = tmp_path / "broken.h5.gz"
    bad_gz.write_bytes(gzip.compress(sea64_weights.read_bytes())[:100_000])
    with pytest.raises(WeightsError, match="gzip"):
        load_weights(sea64_model, bad_gz)
    empty = tmp_path / "empty.h5"
    with h5py.File(empty, "w"):
        pass
    with pytest.raises(WeightsError, match="layer_names"):
        load_weights(sea64_model, empty)
    _assert_unchanged(sea64_model, before)


def test_gzipped_file_loads_like_the_plain_one(sea64_weights, tmp_path):
    gz = tmp_path / "sea64.h5.gz"
    with open(sea64_weights, "rb") as fin, gzip.open(gz, "wb", compresslevel=1) as fout:
        shutil.copyfileobj(fin, fout)
    plain, gzipped = read_weight_file(sea64_weights), read_weight_file(gz)
    assert plain[0] == gzipped[0] == "full-model"
    assert [l.name for l in plain[2]] == [l.name for l in gzipped[2]]
    np.testing.assert_array_equal(plain[2][-1].weights["moving_variance"], gzipped[2][-1].weights["moving_variance"])


def test_wrong_architecture_names_the_layer_and_loads_nothing(sea64_weights):
    from edgel3_mote.compress.models.sea import build_sea_model

    sea128 = build_sea_model(128, include_frontend=False)
    before = _snapshot(sea128)
    with pytest.raises(
        WeightsError,
        match=r"conv2d_7.*\(3, 3, 128, 64\).*\(3, 3, 128, 128\).*"
        r"different architecture",
    ):
        load_weights(sea128, sea64_weights)
    _assert_unchanged(sea128, before)


def test_missing_and_misshaped_weights(sea64_model, sea64_weights, tmp_path):
    before = _snapshot(sea64_model)
    missing = tmp_path / "missing.h5"
    shutil.copy(sea64_weights, missing)
    with h5py.File(missing, "r+") as f:
        del f["model_weights/batch_normalization_6/batch_normalization_6/moving_mean:0"]
    with pytest.raises(WeightsError, match="batch_normalization_6.*damaged"):
        load_weights(sea64_model, missing)

    shutil.copy(sea64_weights, missing)
    with h5py.File(missing, "r+") as f:  # a layer dropped from the file's layer list
        names = [n for n in f["model_weights"].attrs["layer_names"] if n != b"conv2d_4"]
        f["model_weights"].attrs["layer_names"] = names
    with pytest.raises(WeightsError, match="conv2d_4"):
        load_weights(sea64_model, missing)

    misshaped = tmp_path / "misshaped.h5"
    shutil.copy(sea64_weights, misshaped)
    with h5py.File(misshaped, "r+") as f:
        path = "model_weights/audio_embedding_layer/audio_embedding_layer/bias:0"
        del f[path]
        f[path] = np.zeros(63, np.float32)
    with pytest.raises(WeightsError, match=r"audio_embedding_layer.*'bias'.*\(63,\).*\(64,\)"):
        load_weights(sea64_model, misshaped)
    _assert_unchanged(sea64_model, before)
