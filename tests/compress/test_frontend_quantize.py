"""quantize_input's float->int8 step against TFLite Micro's own QUANTIZE kernel (the oracle)."""

import numpy as np
import pytest

from edgel3_mote.compress.frontend import quantize_input
from edgel3_mote.export.ir import read_tflite
from edgel3_mote.export.reference import TflmRunner


@pytest.fixture(scope="module")
def quantize_model():
    """A float-in, int8-out model whose int8 output is TFLM's QUANTIZE of the input (then a RESHAPE)."""
    import tensorflow as tf
    import tf_keras as keras

    inputs = keras.Input((256,))
    model = keras.Model(inputs, keras.layers.Reshape((16, 16))(inputs))
    rng = np.random.default_rng(0)

    def representative():
        for _ in range(4):
            yield [rng.uniform(-4.78, 2.07, (1, 256)).astype(np.float32)]

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_output_type = tf.int8
    tflite = converter.convert()
    graph = read_tflite(tflite, supported=None)
    scale, zero_point = graph.tensor(graph.outputs[0]).quant
    return TflmRunner(tflite), scale, zero_point


def test_quantize_input_matches_tflm_quantize(quantize_model):
    runner, scale, zero_point = quantize_model
    assert -128 <= zero_point <= 127 and scale > 0
    rng = np.random.default_rng(1)
    # exact ties (k + 0.5) * scale, their float32 neighbours, random values and out-of-range values
    ties = ((np.arange(-60, 60) + 0.5) * np.float32(scale)).astype(np.float32)
    values = np.concatenate(
        [
            ties,
            np.nextafter(ties, np.float32(np.inf)),
            np.nextafter(ties, np.float32(-np.inf)),
            rng.uniform(-6, 4, 256 * 3 - 3 * len(ties) - 8).astype(np.float32),
            np.array([-100, 100, 0, -0.0, 1e-9, -1e-9, 2.07, -4.78], np.float32),
        ]
    )
    assert values.size == 256 * 3
    for chunk in values.reshape(3, 256):
        got = runner.invoke(chunk[None]).ravel()
        np.testing.assert_array_equal(quantize_input(chunk, (1.0, 0.0), scale, zero_point), got)
