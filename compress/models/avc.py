"""The audio-visual correspondence (AVC) model L3-Net is trained on.

concat(vision embedding 512, audio embedding 512) -> Dense 128 ReLU -> Dense 2 softmax
("same video and time" vs not), Adam + categorical cross-entropy, as l3embedding's
``L3_merge_audio_vision_models``. The two sub-networks are nested models named
``vision_model`` and ``audio_model``, as in the original checkpoints.
"""

from __future__ import annotations

import tf_keras as keras

from edgel3_mote.compress.models.l3 import WEIGHT_DECAY, build_l3_audio_model
from edgel3_mote.compress.models.vision import build_vision_model

AVC_MODEL_NAME = "cnn_L3_melspec2"


def build_avc_model(
    vision_model: keras.Model | None = None,
    audio_model: keras.Model | None = None,
    *,
    hidden_units: int = 128,
    learning_rate: float = 1e-4,
    compile: bool = True,
    name: str = AVC_MODEL_NAME,
) -> keras.Model:
    """Build (and compile) the AVC model; default sub-networks are the original L3 ones.

    ``audio_model`` may be any audio network with a 1-D output (a pruned or reduced L3);
    the default is the AVC training variant (BN + ReLU after conv 8, pooled to 512).
    """
    vision_model = vision_model or build_vision_model()
    audio_model = audio_model or build_l3_audio_model(embedding_bn=True)
    x_i = keras.Input(shape=vision_model.input_shape[1:], dtype="float32", name="input_1")
    x_a = keras.Input(shape=audio_model.input_shape[1:], dtype="float32", name="input_2")
    y = keras.layers.Concatenate(name="concatenate_1")([vision_model(x_i), audio_model(x_a)])
    y = keras.layers.Dense(
        hidden_units,
        activation="relu",
        kernel_initializer="he_normal",
        kernel_regularizer=keras.regularizers.l2(WEIGHT_DECAY),
        name="dense_1",
    )(y)
    y = keras.layers.Dense(
        2,
        activation="softmax",
        kernel_initializer="he_normal",
        kernel_regularizer=keras.regularizers.l2(WEIGHT_DECAY),
        name="dense_2",
    )(y)
    model = keras.Model(inputs=[x_i, x_a], outputs=y, name=name)
    if compile:
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
            loss="categorical_crossentropy",
            metrics=["accuracy"],
        )
    return model
