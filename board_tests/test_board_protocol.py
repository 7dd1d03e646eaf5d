"""The protocol on the board: INFO is sane and every command is answered."""

import numpy as np

from edgel3_mote.board_tests.harness import protocol as P


def test_info_fields_are_sane(info, deployment, request):
    setup, _ = deployment
    assert info["protocol_version"] == P.PROTOCOL_VERSION
    assert info["max_payload"] == P.MAX_PAYLOAD
    assert info["board"] == request.config.getoption("--board")
    assert info["core"].startswith("cortex-m")
    assert 1_000_000 <= info["clock_hz"] <= 1_000_000_000
    assert info["ticks_are_instructions"] is setup.emulated
    assert info["model_sha256"] == setup.manifest.sha256
    m = setup.manifest
    assert int(np.prod(info["input_shape"])) == int(np.prod(m.input.shape))
    assert info["output_shape"] == [int(np.prod(m.output.shape))]
    assert info["input_zero_point"] == m.input.zero_point
    assert info["output_zero_point"] == m.output.zero_point
    assert np.isclose(info["input_scale"], m.input.scale, rtol=1e-6)
    assert np.isclose(info["output_scale"], m.output.scale, rtol=1e-6)
    assert info["window_samples"] == m.window_samples
    assert info["sample_rate"] == m.frontend.sr
    assert info["num_layers"] >= 1 and info["arena_bytes"] > 0 and info["weight_bytes"] > 0
    assert 0 < info["static_ram_bytes"] and 0 < info["flash_bytes"]


def test_every_command_is_answered(device, info):
    cases = {
        P.Cmd.INFO: (b"", P.Status.OK),
        P.Cmd.MEM: (b"", P.Status.OK),
        P.Cmd.LAYERS: (P.encode_layers(0), P.Status.OK),
        P.Cmd.PING: (b"ping", P.Status.OK),
        P.Cmd.RESET: (b"", P.Status.OK),
        P.Cmd.INFER: (b"\x00", P.Status.NOT_LOADED),  # after RESET
        P.Cmd.GET_SPECTROGRAM: (P.encode_get_spectrogram(0), P.Status.NOT_LOADED),
        P.Cmd.LOAD_AUDIO: (P.encode_load_audio(info["window_samples"], np.zeros(1, np.int16)), P.Status.BAD_OFFSET),
        P.Cmd.SLIDE_AUDIO: (P.encode_slide_audio(0, 0), P.Status.BAD_ARG),
        0x55: (b"", P.Status.UNKNOWN_CMD),
    }
    for cmd, (payload, want) in cases.items():
        r = device.exchange(cmd, payload, check=False)
        assert (r.cmd, P.Status(r.status)) == (int(cmd), want), cmd
    assert len(device.layers()) == info["num_layers"]
