"""The one audio module: walk, decode (real mp3s from ../shared), errors that name the file."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from edgel3_mote.compress import audio
from edgel3_mote.errors import InvalidInputError


def test_reads_the_real_clips_as_float32(clip_paths):
    for path in clip_paths[:3]:
        x, sr = audio.read_audio(path)
        assert x.dtype == np.float32 and sr in (44100, 48000) and x.shape[0] > 0.5 * sr
        assert np.all(np.abs(x) <= 1.0)


def test_walk_is_recursive_sorted_and_skips_hidden_and_other_files(tmp_path):
    (tmp_path / "b" / "deep").mkdir(parents=True)
    for name in ["b/deep/z.wav", "a.flac", "b/x.ogg", ".hidden.wav", "notes.txt"]:
        (tmp_path / name).write_bytes(b"")
    got = audio.find_audio_files(tmp_path)
    assert got == [tmp_path / "a.flac", tmp_path / "b" / "deep" / "z.wav", tmp_path / "b" / "x.ogg"]
    assert audio.find_audio_files([tmp_path / "notes.txt"]) == [tmp_path / "notes.txt"]  # a file as given


@pytest.mark.parametrize("case", ["missing", "empty-folder", "nothing"])
def test_walk_errors_name_the_path(tmp_path, case):
    arg = {"missing": [tmp_path / "nope.wav"], "empty-folder": [tmp_path], "nothing": []}[case]
    with pytest.raises(InvalidInputError) as err:
        audio.find_audio_files(arg, what="calibration")
    msg = str(err.value)
    assert "calibration" in msg and (case == "nothing" or str(arg[0]) in msg)


def test_non_finite_empty_and_undecodable_files_are_errors_naming_the_file(tmp_path):
    bad = tmp_path / "nan.wav"
    sf.write(bad, np.array([0.0, np.nan, 0.5], np.float32), 8000, subtype="FLOAT")
    with pytest.raises(InvalidInputError, match=f"{bad}.*NaN or Inf"):
        audio.read_audio(bad)
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, np.float32), 8000)
    with pytest.raises(InvalidInputError, match=f"{empty}.*empty"):
        audio.read_audio(empty)
    junk = tmp_path / "junk.mp3"
    junk.write_bytes(b"this is not audio" * 10)
    with pytest.raises(InvalidInputError, match=f"{junk}"):
        audio.read_audio(junk)


def test_resample_is_librosa_soxr_vhq():
    import librosa

    x = np.random.default_rng(0).standard_normal(4410).astype(np.float32)
    np.testing.assert_array_equal(
        audio.resample(x, 44100, 8000), librosa.resample(x, orig_sr=44100, target_sr=8000, res_type="soxr_vhq")
    )
    assert audio.resample(x, 8000, 8000) is x
