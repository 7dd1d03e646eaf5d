"""DeviceClient against the real C protocol server (TEST DOUBLE board/front-end/engine)."""

import device_double as D
import numpy as np
import pytest

from edgel3_mote.board_tests.harness import protocol as P
from edgel3_mote.board_tests.harness.client import CommandError, DeviceClient


@pytest.fixture(scope="module")
def lib():
    return D.build()


def make_client(lib, corrupt_first_writes=0):
    link = D.DoubleLink(D.DoubleDevice(lib), corrupt_first_writes)
    return DeviceClient(link, timeout=0.05, retries=2), link


def test_info_layers_mem(lib):
    dev, _ = make_client(lib)
    assert dev.wait_ready(timeout=0.5)
    info = dev.info()
    assert info["protocol_version"] == P.PROTOCOL_VERSION
    assert info["max_payload"] == P.MAX_PAYLOAD
    assert (info["board"], info["core"], info["clock_hz"]) == ("host-double", "x86-64", 1_000_000)
    assert info["ticks_are_instructions"] is False
    assert info["model_name"] == "double-16" and len(info["model_sha256"]) == 64
    assert info["input_shape"] == [40, 50, 1] and info["output_shape"] == [16]
    assert info["input_scale"] == 0.25 and info["input_zero_point"] == -3
    assert info["output_scale"] == 0.0625 and info["output_zero_point"] == -128
    assert (info["window_samples"], info["sample_rate"], info["num_layers"]) == (3000, 8000, 3)
    assert dev.layers() == D.LAYER_NAMES
    mem = dev.mem()
    assert mem["stack_bytes"] == 8192 and mem["stack_high_water"] == 777 and mem["heap_bytes"] == 0
    assert mem["arena_bytes"] == 4096 and mem["pcm_buffer_bytes"] == 6000
    assert mem["spectrogram_buffer_bytes"] == 0  # no copy: GET_SPECTROGRAM recomputes it into the input


@pytest.mark.parametrize("n_samples", [3000, 1234, 1])
def test_window_roundtrip_matches_mirrors(lib, n_samples):
    dev, _ = make_client(lib)
    pcm = np.random.default_rng(n_samples).integers(-32768, 32767, n_samples).astype(np.int16)
    result, spec = dev.run_window(pcm, layer_ticks=True)
    want_spec = D.fake_spectrogram(pcm)
    # the spectrogram the device fed its engine, although the engine clobbered its input
    np.testing.assert_array_equal(spec, want_spec)
    np.testing.assert_array_equal(result.embedding, D.fake_embedding(want_spec))
    assert result.samples == n_samples
    assert result.layer_ticks == [100, 200, 300]
    assert result.frontend_ticks > 0 and result.engine_ticks > 0
    assert dev.infer(layer_ticks=False).layer_ticks == []


def test_retries_after_corruption_on_the_wire(lib):
    dev, link = make_client(lib, corrupt_first_writes=2)
    assert dev.ping(b"abc") == b"abc"
    assert link.writes == 3  # two BAD_CRC answers, then success


def test_errors_raise_with_status_and_limits(lib):
    dev, _ = make_client(lib)
    with pytest.raises(CommandError) as exc:
        dev.infer()
    assert exc.value.status == P.Status.NOT_LOADED
    with pytest.raises(CommandError) as exc:
        dev.load_audio(np.zeros(3001, np.int16))
    assert exc.value.status == P.Status.TOO_LONG
    from edgel3_mote.errors import InvalidInputError

    with pytest.raises(InvalidInputError):
        dev.ping(b"x" * (P.MAX_PAYLOAD + 1))
    with pytest.raises(InvalidInputError):
        dev.load_audio(np.zeros(10, np.float32))


def test_sliding_windows_send_only_new_samples_and_resends_are_idempotent(lib):
    dev, link = make_client(lib)
    rng = np.random.default_rng(3)
    audio = rng.integers(-32768, 32767, 3000 + 4 * 700).astype(np.int16)
    wins = [audio[i * 700 : i * 700 + 3000] for i in range(5)]
    prev = None
    for w in wins:
        before = link.writes
        result, spec = dev.run_window(w, layer_ticks=False, previous=prev, hop=700)
        np.testing.assert_array_equal(spec, D.fake_spectrogram(w))
        np.testing.assert_array_equal(result.embedding, D.fake_embedding(spec))
        if prev is not None:  # SLIDE + 2 chunks of 510 samples (700 new), INFER, 2 spectrogram chunks
            assert link.writes - before == 1 + 2 + 1 + 2
        prev = w
    # a SLIDE whose answer was lost is resent with the same id: applied once
    dev.load_audio(wins[0])
    dev._slide_id += 1
    for _ in range(2):
        r = dev.exchange(P.Cmd.SLIDE_AUDIO, P.encode_slide_audio(dev._slide_id, 700))
        assert P.decode_load_audio(r.payload)[0] == 2300
    with pytest.raises(CommandError):  # dropping more than is loaded
        dev.exchange(P.Cmd.SLIDE_AUDIO, P.encode_slide_audio(dev._slide_id + 1, 2301))
