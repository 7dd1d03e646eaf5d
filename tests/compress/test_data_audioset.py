"""AudioSet-format segments, ontology filters, media matching and decoding (real + ffmpeg data)."""

import numpy as np
import pytest
import soundfile as sf

import edgel3_mote  # noqa: F401
from edgel3_mote.compress.data import audioset, media, pipeline, synthetic
from edgel3_mote.errors import InvalidInputError


@pytest.fixture(scope="module")
def balanced(audioset_dir):
    return audioset.read_segments(audioset_dir / "balanced_train_segments.csv")


@pytest.fixture(scope="module")
def ontology(audioset_dir):
    return audioset.Ontology.load(audioset_dir / "ontology.json", audioset_dir / "class_labels_indices.csv")


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    return synthetic.make_test_videos(root, n_videos=3, seconds=3.0), root / "media"


def test_real_balanced_train_file_parses(balanced):
    assert len(balanced) == 22160
    first = balanced[0]
    assert (first.ytid, first.start, first.end, first.labels) == ("--PJHxphWEs", 30.0, 40.0, ("/m/09x0r", "/t/dd00088"))
    assert all(s.end > s.start for s in balanced)


def test_label_filters_with_ontology_children(balanced, ontology):
    dog = ontology.resolve("Dog")
    assert dog == "/m/0bt9lr" and ontology.resolve("/m/0bt9lr") == dog
    assert ontology.name(dog) == "Dog" and "/m/05tny_" in ontology.descendants(dog)  # Bark
    animals_direct = audioset.filter_segments(balanced, ["Animal"], ontology=ontology, include_children=False)
    animals = audioset.filter_segments(balanced, ["Animal"], ontology=ontology)
    assert 0 < len(animals_direct) < len(animals) < len(balanced)
    no_speech = audioset.filter_segments(balanced, ["Animal"], ["Speech"], ontology=ontology)
    assert len(no_speech) < len(animals)
    speech = ontology.expand(["Speech"])
    assert all(not set(s.labels) & speech for s in no_speech)
    dogs = audioset.filter_segments(balanced, ["/m/0bt9lr"], ontology=ontology)
    assert set(s.ytid for s in dogs) <= set(s.ytid for s in animals)
    with pytest.raises(InvalidInputError):
        ontology.resolve("Not a class")


def test_media_matched_by_ytid_and_segment_times(balanced, clip_paths, tmp_path):
    seg_a, seg_b = balanced[1], balanced[2]
    folder = tmp_path / "media"
    (folder / "sub").mkdir(parents=True)
    audio, sr = sf.read(clip_paths[1])  # real cow recording, stored as the trimmed segment
    sf.write(folder / "sub" / f"{seg_a.ytid}_{seg_a.start:.3f}_{seg_a.end:.3f}.wav", audio, sr)
    sf.write(folder / f"{seg_b.ytid}_1.000_2.000.wav", audio, sr)  # other times: no match
    matched, missing = audioset.match_media([seg_a, seg_b], [folder])
    assert [s.ytid for s in matched] == [seg_a.ytid] and [s.ytid for s in missing] == [seg_b.ytid]
    assert matched[0].media_is_segment and matched[0].offset == 0.0
    windows = pipeline.segment_windows(matched, "sea-64", hop_size=0.5, progress=False)
    assert windows.frames.shape[1] == 8000
    expected = media.load_audio(matched[0].media, 8000)
    np.testing.assert_allclose(windows.frames[0], expected[:8000], atol=1e-6)


def test_ffmpeg_videos_give_audio_frames_and_a_shuffled_dataset(videos):
    csv_path, folder = videos
    segments, missing = audioset.match_media(audioset.read_segments(csv_path), [folder])
    assert len(segments) == 3 and not missing and not segments[0].media_is_segment
    audio = pipeline.load_segment_audio(segments[1], 8000)
    assert abs(audio.size - 3 * 8000) < 800
    # the tone is where synthetic put it: 660 Hz for video 1
    spectrum = np.abs(np.fft.rfft(audio[:8000]))
    assert abs(np.argmax(spectrum) * 8000 / 8000 - 660) < 5
    frame = media.read_video_frame(segments[0].media, 1.0)
    assert frame.shape == (224, 224, 3) and frame.dtype == np.uint8 and frame.std() > 10
    other = media.read_video_frame(segments[1].media, 1.0)
    assert np.abs(frame.astype(int) - other).mean() > 10  # different test patterns
    x = media.frame_to_model_input(frame)
    assert x.min() >= -1 and x.max() <= 1
    labels = sorted({l for s in segments for l in s.labels})
    ds = pipeline.streaming_dataset(segments, "sea-64", batch_size=4, seed=0, hop_size=1.0, labels=labels)
    batches = list(ds.as_numpy_iterator())
    assert sum(len(b[0]) for b in batches) == 9 and batches[0][0].shape[1:] == (1, 8000)
    assert np.all(batches[0][1].sum(axis=1) == 2)  # two positive labels per segment
    with pytest.raises(InvalidInputError):
        media.read_video_frame(segments[0].media, 30.0)


def test_epoch_order_is_a_function_of_seed_and_epoch():
    a = pipeline.epoch_order(50, 3, 7)
    assert np.array_equal(a, pipeline.epoch_order(50, 3, 7))
    assert not np.array_equal(a, pipeline.epoch_order(50, 3, 8))
    x = np.arange(10, dtype=np.float32)[:, None]
    ds = pipeline.epoch_dataset(x, x, batch_size=4, seed=3, first_epoch=1, last_epoch=3)
    seen = np.concatenate([b[0][:, 0] for b in ds.as_numpy_iterator()])
    assert len(seen) == 20 and sorted(seen[:10]) == list(range(10))
    np.testing.assert_array_equal(seen[:10], pipeline.epoch_order(10, 3, 1))


def test_label_names_without_an_ontology_are_an_error_not_an_empty_set(balanced):
    with pytest.raises(InvalidInputError, match="--ontology"):
        audioset.filter_segments(balanced, ["Dog"])
    with pytest.raises(InvalidInputError, match="'Speech'"):
        audioset.filter_segments(balanced, ["/m/0bt9lr"], ["Speech"])
    dogs = audioset.filter_segments(balanced, ["/m/0bt9lr"])  # mids work without the ontology
    assert dogs and all("/m/0bt9lr" in s.labels for s in dogs)
