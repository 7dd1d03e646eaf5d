"""The L3-Net audio network (``cnn_L3_melspec2``) and the conv stack every model here shares.

The layer names follow the original Keras 2 models exactly (``conv2d_1`` ... ``conv2d_7``,
``audio_embedding_layer``, ``batch_normalization_1`` for the spectrogram BN, then one BN per
conv, ``activation_i``, ``max_pooling2d_i``), so original h5 files load by layer name. Names
stay *positional* in the reduced variant: skipping conv 3 keeps ``conv2d_4`` named
``conv2d_4``, so a full-size weight file still finds each surviving layer.

Structure (Kumari et al. 2019, edgel3 package; Cramer et al. 2019, l3embedding):
log-mel front-end -> BN(1 channel) -> 4 blocks of two 3x3 'same' convs, each conv -> BN ->
ReLU, max-pool 2x2/2 after blocks 1-3, conv 8 = the embedding layer. The embedding is a
max-pool over the conv-8 map: the whole map (512-d, "short" pooling) or 8x8 windows (6144-d).
EdgeL3's sparse models pool the *raw* conv-8 output; the AVC training model (and the SEA
students) put BN + ReLU after conv 8 first (``embedding_bn=True``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Sequence

import tf_keras as keras

from edgel3_mote.compress.models.widths import L3_FILTERS

if TYPE_CHECKING:
    import tensorflow as tf

    from edgel3_mote.compress.frontend import FrontendConfig

NUM_CONVS = 8
WEIGHT_DECAY = 1e-5  # l2 on conv kernels, as the original training code
AUDIO_EMBEDDING_LAYER = "audio_embedding_layer"
INPUT_BN_NAME = "batch_normalization_1"
FRONTEND_NAME = "melspectrogram_1"


def conv_name(i: int, embedding_name: str) -> str:
    """Name of conv ``i`` (0-based): ``conv2d_1`` .. ``conv2d_7``, then the embedding layer."""
    return embedding_name if i == NUM_CONVS - 1 else f"conv2d_{i + 1}"


def conv_bn_name(i: int) -> str:
    """BN after conv ``i`` (0-based); ``batch_normalization_1`` is the input BN."""
    return f"batch_normalization_{i + 2}"


def check_variant(
    include_layers: Sequence[bool] | None, num_filters: Sequence[int] | None
) -> tuple[tuple[bool, ...], tuple[int, ...]]:
    """Validate and default the reduced-variant parameters (8 flags, 8 widths)."""
    from edgel3_mote.errors import InvalidInputError

    flags = tuple(bool(f) for f in (include_layers if include_layers is not None else [True] * NUM_CONVS))
    widths = tuple(int(w) for w in (num_filters if num_filters is not None else L3_FILTERS))
    if len(flags) != NUM_CONVS:
        raise InvalidInputError(f"include_layers needs {NUM_CONVS} flags (one per conv), got {len(flags)}")
    if len(widths) != NUM_CONVS or any(w < 1 for w in widths):
        raise InvalidInputError(f"num_filters needs {NUM_CONVS} positive widths, got {list(widths)}")
    if not any(flags):
        raise InvalidInputError("include_layers skips every conv: keep at least one")
    return flags, widths


def conv_stack(
    x: tf.Tensor,
    *,
    include_layers: Sequence[bool] | None = None,
    num_filters: Sequence[int] | None = None,
    conv_cls: Callable | None = None,
    embedding_name: str = AUDIO_EMBEDDING_LAYER,
    embedding_bn: bool = False,
    pool_padding: str = "valid",
    relu_before_bn: Sequence[int] = (),
) -> tf.Tensor:
    """The 4 blocks x 2 convs shared by the audio and vision networks; returns the conv-8 map.

    ``include_layers[i]`` False drops conv ``i`` with its BN and ReLU; the pool after a block
    exists only if the block's second conv does (as in the reduced models of the EdgeL3 work).
    ``conv_cls`` builds each conv (default ``Conv2D``); it is called as
    ``conv_cls(filters, (3, 3), padding='same', name=..., kernel_initializer=...,
    kernel_regularizer=...)``, so a ``Conv2D`` subclass such as ``MaskedConv2D`` fits.
    ``relu_before_bn`` lists convs whose ReLU comes before their BN (a quirk of the original
    vision network's second conv).
    """
    flags, widths = check_variant(include_layers, num_filters)
    conv_cls = conv_cls or keras.layers.Conv2D
    last = max(i for i in range(NUM_CONVS) if flags[i])
    y = x
    for i in range(NUM_CONVS):
        if flags[i]:
            y = conv_cls(
                widths[i],
                (3, 3),
                padding="same",
                name=conv_name(i, embedding_name),
                kernel_initializer="he_normal",
                kernel_regularizer=keras.regularizers.l2(WEIGHT_DECAY),
            )(y)
            if i < last or embedding_bn:
                bn = keras.layers.BatchNormalization(name=conv_bn_name(i))
                relu = keras.layers.Activation("relu", name=f"activation_{i + 1}")
                y = bn(relu(y)) if i in relu_before_bn else relu(bn(y))
        block, second = divmod(i, 2)
        if second and block < 3 and flags[i]:
            y = keras.layers.MaxPooling2D(
                pool_size=(2, 2), strides=2, padding=pool_padding, name=f"max_pooling2d_{block + 1}"
            )(y)
    return y


def embedding_pool(
    y: tf.Tensor, pool_size: tuple[int, ...] | None = None, padding: str = "same", name_index: int = 4
) -> tf.Tensor:
    """Max-pool the conv-8 map and flatten. ``pool_size=None`` pools the whole map (1x1 out).

    ``padding`` changes nothing numerically for the sizes used (they divide the map) but is
    kept as each original model had it, so configs compare equal.
    """
    if pool_size is None:
        pool_size = tuple(int(d) for d in y.shape[1:3])
    y = keras.layers.MaxPooling2D(pool_size=pool_size, padding=padding, name=f"max_pooling2d_{name_index}")(y)
    return keras.layers.Flatten(name="flatten_1")(y)


def build_audio_network(
    frontend_cfg: FrontendConfig,
    *,
    include_frontend: bool = True,
    include_layers: Sequence[bool] | None = None,
    num_filters: Sequence[int] | None = None,
    conv_cls: Callable | None = None,
    embedding_bn: bool = False,
    pool_size: tuple[int, int] | None = None,
    embedding_pool_padding: str = "same",
    name: str = "audio_model",
) -> keras.Model:
    """Any member of the L3 audio family (L3, reduced, masked, SEA) for one front-end config.

    ``include_frontend=True``: input ``(1, n_samples)`` audio -> MelSpectrogram -> input BN ->
    convs. ``False``: the backbone, input ``(n_mels, n_frames, 1)`` = the spectrogram *after*
    the input BN (prefer :func:`split_frontend` on a full model, which shares its weights).
    """
    n_samples = int(frontend_cfg.sr)  # one-second windows throughout the L3 family
    if include_frontend:
        from edgel3_mote.compress.frontend import MelSpectrogram

        x = keras.Input(shape=(1, n_samples), dtype="float32", name="input_1")
        y = MelSpectrogram(frontend_cfg, name=FRONTEND_NAME)(x)
        y = keras.layers.BatchNormalization(name=INPUT_BN_NAME)(y)
    else:
        x = keras.Input(
            shape=(frontend_cfg.n_mels, frontend_cfg.n_frames(n_samples), 1), dtype="float32", name="input_1"
        )
        y = x
    y = conv_stack(
        y, include_layers=include_layers, num_filters=num_filters, conv_cls=conv_cls, embedding_bn=embedding_bn
    )
    y = embedding_pool(y, pool_size, embedding_pool_padding)
    return keras.Model(inputs=x, outputs=y, name=name)


def build_l3_audio_model(
    *,
    include_frontend: bool = True,
    include_layers: Sequence[bool] | None = None,
    num_filters: Sequence[int] | None = None,
    conv_cls: Callable | None = None,
    embedding_bn: bool = False,
    pool_size: tuple[int, int] | None = None,
    name: str = "audio_model",
) -> keras.Model:
    """``cnn_L3_melspec2`` at 48 kHz (256x199 log-mel). ``pool_size=(8, 8)`` gives 6144-d.

    ``embedding_bn=False`` (default) is EdgeL3's embedding model (raw conv 8 pooled);
    ``True`` is the AVC training audio network (conv 8 -> BN -> ReLU -> pool).
    """
    from edgel3_mote.compress.frontend import L3_FRONTEND

    return build_audio_network(
        L3_FRONTEND,
        include_frontend=include_frontend,
        include_layers=include_layers,
        num_filters=num_filters,
        conv_cls=conv_cls,
        embedding_bn=embedding_bn,
        pool_size=pool_size,
        name=name,
        # edgel3's sparse models pool 'same'; l3embedding's AVC 'valid'
        embedding_pool_padding="valid" if embedding_bn else "same",
    )


def find_input_bn(model: keras.Model) -> keras.layers.BatchNormalization | None:
    """The 1-channel BatchNormalization that follows the front-end, or None."""
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            found = find_input_bn(layer)
            if found is not None:
                return found
        if isinstance(layer, keras.layers.BatchNormalization) and layer.name == INPUT_BN_NAME:
            return layer
    return None


def split_frontend(
    model: keras.Model, name: str | None = None
) -> tuple[keras.layers.Layer | None, keras.layers.BatchNormalization, keras.Model]:
    """Split a full audio model into ``(frontend_layer, input_bn_layer, backbone)``.

    The backbone re-uses the full model's layer objects after the input BN (same names, same
    variables), so it computes ``model(x) == backbone(input_bn(frontend(x)))`` exactly.
    """
    layers = model.layers
    bn = find_input_bn(model)
    if bn is None or bn not in layers:
        from edgel3_mote.errors import InvalidInputError

        raise InvalidInputError(
            f"model {model.name!r} has no input BatchNormalization "
            f"{INPUT_BN_NAME!r}: pass a full audio model (include_frontend=True)"
        )
    start = layers.index(bn) + 1
    frontend_layer = layers[start - 2] if start >= 2 else None
    x = keras.Input(shape=tuple(bn.output.shape[1:]), dtype="float32", name="input_1")
    y = x
    for layer in layers[start:]:
        y = layer(y)
    return frontend_layer, bn, keras.Model(inputs=x, outputs=y, name=name or model.name)
