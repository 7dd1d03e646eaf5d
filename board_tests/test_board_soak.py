"""Soak: the real firmware in QEMU behind a damaged line (dropped bytes, flipped bits, garbage bursts,
TCP disconnects + reconnects, both directions). The harness recovers (resync, resend) and every
embedding it reports is still byte-identical to tflite-micro on the device's own spectrogram.

Small here; the long run (>= 500 windows) is the ROBUSTNESS.md command `edgel3-mote emulate --inject-faults`.
"""

import pytest

from edgel3_mote.board_tests.harness.cli import fault_summary

WINDOWS = 12  # 3 synthesised clips x 4 windows


def test_every_embedding_is_exact_and_every_fault_recovered(request, deployment, tmp_path):
    from edgel3_mote.board_tests.harness.bench import run_bench
    from edgel3_mote.board_tests.harness.deploy import open_board
    from edgel3_mote.board_tests.harness.synth import synthesise_clips

    if request.config.getoption("--port"):
        pytest.skip("faults are injected into QEMU's TCP line; a real board's line is tested by its own noise")
    setup, elf = deployment
    clips = synthesise_clips(tmp_path)
    with open_board(setup, elf, infer_timeout=8, log=lambda m: None, faults=0.15, fault_seed=7) as client:
        results = run_bench(
            client,
            setup,
            clips,
            hop=0.25,
            layer_ticks=False,
            repeat_check=False,
            max_windows=WINDOWS // len(clips),
            progress=False,
            log=lambda m: None,
        )
        faults = fault_summary(client)
    s = results["summary"]
    assert s["windows"] == WINDOWS and s["int8_exact_windows"] == WINDOWS
    assert faults["injected"] >= 15, faults
    assert sum(n > 0 for n in faults["by_kind"].values()) >= 5, faults
    assert faults["recovered"] == faults["injected"] and faults["resends"] >= 5, faults
