"""Parity on the board: the device embedding is byte-identical to tflite-micro run on the
device's own spectrogram, and the device front-end agrees with the numpy reference."""

import numpy as np


def test_int8_exact_vs_tflite_micro(device, windows, tflm, deployment):
    from edgel3_mote.board_tests.harness.bench import reference_spectrogram_int8

    setup, _ = deployment
    for pcm in windows:
        result, spec = device.run_window(pcm, layer_ticks=False)
        oracle = np.asarray(tflm.invoke(spec.reshape(tflm.input_shape))).reshape(-1)
        np.testing.assert_array_equal(result.embedding, oracle)
        ref = reference_spectrogram_int8(pcm, setup.manifest)
        diff = np.abs(spec.astype(np.int16) - ref.astype(np.int16))
        assert diff.max() <= 1, diff.max()
        assert np.mean(diff == 0) >= 0.999, np.mean(diff == 0)
