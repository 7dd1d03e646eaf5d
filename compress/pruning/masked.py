"""``MaskedConv2D``: a Conv2D whose kernel keeps a fixed sparsity pattern while it retrains.

The layer convolves with ``kernel * kernel_mask``. The mask is a non-trainable weight, so it is
saved with the model (h5 or SavedModel) -- the original EdgeL3 code recomputed it from a
magnitude threshold at load time. Masked-out weights get a zero gradient; the kernel is also
zeroed there when the mask is set, so Adam (zero moments -> zero update) and the l2 regulariser
(gradient 2*l*0) leave them exactly zero and ``layer.kernel`` itself shows the zeros.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Sequence

import numpy as np
import tensorflow as tf
import tf_keras as keras

from edgel3_mote.errors import InvalidInputError


@keras.utils.register_keras_serializable(package="edgel3_mote")
class MaskedConv2D(keras.layers.Conv2D):
    """Conv2D with a stored 0/1 kernel mask.

    Build it like a Conv2D (the L3 builders pass it as ``conv_cls``), then fix the pattern
    with :meth:`set_mask` (a 0/1 mask) or :meth:`apply_threshold` (|w| > threshold, the
    original rule; ``mask_threshold`` given at construction is its default). A fresh layer's
    mask is all ones (dense).
    """

    def __init__(self, filters, kernel_size, mask_threshold: float | None = None, **kwargs):
        super().__init__(filters, kernel_size, **kwargs)
        self.mask_threshold = None if mask_threshold is None else float(mask_threshold)

    def build(self, input_shape: tf.TensorShape) -> None:
        super().build(input_shape)
        self.kernel_mask = self.add_weight(
            name="kernel_mask", shape=self.kernel.shape, initializer="ones", trainable=False, dtype=self.dtype
        )

    def convolution_op(self, inputs: tf.Tensor, kernel: tf.Tensor) -> tf.Tensor:
        return super().convolution_op(inputs, kernel * tf.cast(self.kernel_mask, kernel.dtype))

    def set_mask(self, mask: np.ndarray) -> None:
        """Fix the sparsity pattern (1 keep, 0 prune) and zero the pruned kernel weights."""
        mask = np.asarray(mask, dtype=np.float32)
        if mask.shape != tuple(self.kernel.shape):
            raise InvalidInputError(
                f"mask for {self.name!r} has shape {mask.shape}, the kernel "
                f"is {tuple(self.kernel.shape)}: give one mask per kernel weight"
            )
        if not np.all((mask == 0) | (mask == 1)):
            raise InvalidInputError(f"mask for {self.name!r} must hold only 0 and 1")
        self.kernel_mask.assign(mask)
        self.kernel.assign(self.kernel.numpy() * mask)

    def apply_threshold(self, threshold: float | None = None) -> None:
        """The original rule: prune weights with |w| <= threshold (default ``mask_threshold``)."""
        threshold = self.mask_threshold if threshold is None else float(threshold)
        if threshold is None:
            raise InvalidInputError(f"{self.name!r} has no mask_threshold: pass a threshold")
        self.set_mask((np.abs(self.kernel.numpy()) > threshold).astype(np.float32))

    @property
    def sparsity(self) -> float:
        return float(1.0 - np.mean(self.kernel_mask.numpy()))

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config["mask_threshold"] = self.mask_threshold
        return config


def effective_kernel(conv: keras.layers.Conv2D) -> np.ndarray:
    """The kernel a conv actually applies (masked for MaskedConv2D)."""
    kernel = conv.kernel.numpy()
    if isinstance(conv, MaskedConv2D):
        kernel = kernel * conv.kernel_mask.numpy()
    return kernel


def custom_objects() -> dict:
    """What ``keras.models.load_model`` needs for masked models (plus the front-end layer)."""
    objects = {"MaskedConv2D": MaskedConv2D}
    try:
        from edgel3_mote.compress.frontend import MelSpectrogram

        objects["MelSpectrogram"] = MelSpectrogram
    except ImportError:  # front-end not installed in a partial checkout
        pass
    return objects


def set_masks(
    model: keras.Model,
    masks: Sequence[np.ndarray | None] | None = None,
    thresholds: Sequence[float | None] | None = None,
) -> None:
    """Set each MaskedConv2D's pattern from 8 masks or 8 thresholds (None = leave dense)."""
    from edgel3_mote.compress.pruning.layerwise import conv_slots

    if (masks is None) == (thresholds is None):
        raise InvalidInputError("give either per-layer masks or per-layer thresholds")
    for i, conv in conv_slots(model):
        if not isinstance(conv, MaskedConv2D):
            raise InvalidInputError(
                f"conv {conv.name!r} is a {type(conv).__name__}, not a "
                f"MaskedConv2D: build the model with conv_cls=MaskedConv2D"
            )
        mask = None if masks is None else masks[i]
        threshold = None if thresholds is None else thresholds[i]
        if mask is not None:
            conv.set_mask(mask)
        elif threshold is not None:
            conv.apply_threshold(threshold)


def masked_copy(
    model: keras.Model, builder: Callable[..., keras.Model], *, masks: Sequence[np.ndarray] | None = None
) -> keras.Model:
    """Rebuild ``model`` with MaskedConv2D convs (``builder(conv_cls=...)``), copying weights.

    Weights are copied by layer name; each mask defaults to the kernel's nonzero pattern,
    so a one-shot pruned model becomes a masked one that stays pruned while it retrains.
    """
    from edgel3_mote.compress.pruning.layerwise import conv_slots

    masked = builder(conv_cls=MaskedConv2D)
    source = {layer.name: layer for layer in model.layers}
    for layer in masked.layers:
        src = source.get(layer.name)
        if src is None:
            raise InvalidInputError(
                f"layer {layer.name!r} of the masked model is not in "
                f"{model.name!r}: build both with the same architecture"
            )
        if isinstance(layer, MaskedConv2D):
            weights = src.get_weights()
            layer.set_weights(weights[: len(layer.trainable_weights)] + [np.ones(layer.kernel.shape)])
        else:
            layer.set_weights(src.get_weights())
    for i, conv in conv_slots(masked):
        mask = masks[i] if masks is not None else (effective_kernel(conv) != 0).astype(np.float32)
        conv.set_mask(mask)
    return masked


def unmasked_copy(model: keras.Model) -> keras.Model:
    """Plain-Conv2D clone with the masked kernels baked in (for tools that want stock layers)."""

    def clone(layer):
        if isinstance(layer, MaskedConv2D):
            config = layer.get_config()
            config.pop("mask_threshold", None)
            return keras.layers.Conv2D.from_config(config)
        return layer.__class__.from_config(layer.get_config())

    plain = keras.models.clone_model(model, clone_function=clone)
    for dst, src in zip(plain.layers, model.layers):
        if isinstance(src, MaskedConv2D):
            dst.set_weights([effective_kernel(src)] + ([src.bias.numpy()] if src.use_bias else []))
        else:
            dst.set_weights(src.get_weights())
    return plain


def architecture_builder(name: str) -> Callable[..., keras.Model]:
    """``builder(conv_cls=...)`` that rebuilds registry model ``name``'s audio architecture."""
    from edgel3_mote.compress.models.registry import get_spec

    spec = get_spec(name)
    if spec.family == "sea":
        from edgel3_mote.compress.models.sea import build_sea_model

        return lambda conv_cls=None: build_sea_model(spec.embedding_dim, conv_cls=conv_cls)
    if spec.family in ("l3", "edgel3"):
        from edgel3_mote.compress.models.l3 import build_l3_audio_model

        pool = (8, 8) if spec.embedding_dim == 6144 else None
        return lambda conv_cls=None: build_l3_audio_model(conv_cls=conv_cls, pool_size=pool)
    raise InvalidInputError(
        f"model {name!r} is not an audio embedding model: masked models exist for l3-melspec2, edgel3-* and sea-* only"
    )


def build_masked_model(
    name: str,
    weights: str | os.PathLike | None = None,
    seed: int = 0,
    include_frontend: bool = True,
    masks: Sequence[np.ndarray] | None = None,
) -> keras.Model:
    """Registry model ``name`` rebuilt with MaskedConv2D convs (masks = its zero pattern)."""
    from edgel3_mote.compress.models.l3 import split_frontend
    from edgel3_mote.compress.models.registry import build_model

    plain = build_model(name, weights=weights, seed=seed, include_frontend=True)
    model = masked_copy(plain, architecture_builder(name), masks=masks)
    if not include_frontend:
        model = split_frontend(model)[2]
    for attr in ("edgel3_model_name", "edgel3_random_weights", "edgel3_seed", "edgel3_weights", "edgel3_input_affine"):
        if hasattr(plain, attr):
            setattr(model, attr, getattr(plain, attr))
    return model


def _plain_convs_with_zeros(model: keras.Model) -> list:
    from edgel3_mote.compress.pruning.layerwise import conv_layers

    return [c for c in conv_layers(model) if type(c) is keras.layers.Conv2D and np.any(c.kernel.numpy() == 0)]


def mask_zero_weights(model: keras.Model) -> tuple[keras.Model, int]:
    """``(model', n)``: plain Conv2D layers holding exact zeros become MaskedConv2D (mask = kernel != 0).

    A one-shot ``prune`` output without ``--masked`` has plain convs whose zeros would train
    back to nonzero values; the masked copy keeps them zero. Returns ``model`` itself and 0
    when no plain conv holds a zero (a dense model, or one already masked).
    """
    targets = {id(c) for c in _plain_convs_with_zeros(model)}
    if not targets:
        return model, 0

    def clone(layer):
        if isinstance(layer, keras.Model):
            return keras.models.clone_model(layer, clone_function=clone)
        if id(layer) in targets:
            return MaskedConv2D.from_config(layer.get_config())
        return layer.__class__.from_config(layer.get_config())

    def copy(src: keras.Model, dst: keras.Model) -> None:
        for s, d in zip(src.layers, dst.layers):
            if isinstance(s, keras.Model):
                copy(s, d)
            elif isinstance(d, MaskedConv2D) and id(s) in targets:
                d.set_weights(s.get_weights() + [np.ones(d.kernel.shape, np.float32)])
                d.set_mask((s.kernel.numpy() != 0).astype(np.float32))
            else:
                d.set_weights(s.get_weights())

    masked = keras.models.clone_model(model, clone_function=clone)
    copy(model, masked)
    return masked, len(targets)
