"""The L3-Net vision network (l3embedding ``construct_cnn_L3_orig_inputbn_vision_model``).

224x224x3 frames scaled to [-1, 1] -> BN -> the same 4 conv blocks as the audio network
(64..512, each conv -> BN -> ReLU), max-pool 2x2 'same' after blocks 1-3, conv 8 named
``vision_embedding_layer`` -> BN -> ReLU -> max-pool 28x28 -> 512. One quirk is kept on
purpose so original checkpoints reproduce: block 1's second conv applies ReLU *before* its BN.
"""

from __future__ import annotations

from typing import Callable, Sequence

import tf_keras as keras

from edgel3_mote.compress.models.l3 import INPUT_BN_NAME, conv_stack, embedding_pool

IMAGE_SHAPE = (224, 224, 3)
VISION_EMBEDDING_LAYER = "vision_embedding_layer"


def build_vision_model(
    *, num_filters: Sequence[int] | None = None, conv_cls: Callable | None = None, name: str = "vision_model"
) -> keras.Model:
    x = keras.Input(shape=IMAGE_SHAPE, dtype="float32", name="input_1")
    y = keras.layers.BatchNormalization(name=INPUT_BN_NAME)(x)
    y = conv_stack(
        y,
        num_filters=num_filters,
        conv_cls=conv_cls,
        embedding_name=VISION_EMBEDDING_LAYER,
        embedding_bn=True,
        pool_padding="same",
        relu_before_bn=(1,),
    )
    y = embedding_pool(y, (28, 28), "same")
    return keras.Model(inputs=x, outputs=y, name=name)
