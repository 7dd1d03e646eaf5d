"""Filter-wise pruning and depth reduction: smaller *dense* "reduced" L3-family models.

Filter-wise: each conv keeps its ``width`` filters of largest L1 norm (in their original
order); the filters are physically removed together with the matching input channels of the
next conv and the matching BatchNorm parameters and statistics, which are carried over (the
original code re-initialised BN). The reduced model is a clone of the input model's graph
with narrower convs, so any member of the family (L3, SEA, masked) works.

Depth: the embedding is taken from an earlier conv (conv7/6/5), later layers dropped, the
map max-pooled whole (the L3 builder's ``include_layers``).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import tf_keras as keras

from edgel3_mote.compress.pruning.layerwise import NUM_CONVS, conv_layers, conv_slots
from edgel3_mote.compress.pruning.masked import MaskedConv2D, effective_kernel
from edgel3_mote.errors import InvalidInputError


def filter_l1_norms(conv: keras.layers.Conv2D) -> np.ndarray:
    """L1 norm of each output filter of a conv's (effective) kernel."""
    return np.abs(effective_kernel(conv)).sum(axis=(0, 1, 2))


def filters_to_keep(conv: keras.layers.Conv2D, width: int) -> np.ndarray:
    """Indices (ascending) of the ``width`` filters with the largest L1 norms."""
    n = int(conv.filters)
    if not 1 <= width <= n:
        raise InvalidInputError(f"conv {conv.name!r} has {n} filters: a width must be in 1..{n}, got {width}")
    order = np.argsort(-filter_l1_norms(conv), kind="stable")
    return np.sort(order[:width])


def _clone_layer(widths_by_name: dict):
    def clone(layer):
        config = layer.get_config()
        if layer.name in widths_by_name:
            config["filters"] = widths_by_name[layer.name]
        return layer.__class__.from_config(config)

    return clone


def prune_filters(
    model: keras.Model, widths: Sequence[int], keep: Sequence[np.ndarray] | None = None
) -> tuple[keras.Model, list[np.ndarray]]:
    """Reduced copy of ``model`` with ``widths[i]`` filters in conv ``i``.

    ``keep`` overrides the L1 choice (per conv, the filter indices to keep). Returns the new
    model and the kept indices. The model must be a chain (the L3 audio family).
    """
    slots = conv_slots(model)
    widths = [int(w) for w in widths]
    if len(widths) != NUM_CONVS:
        raise InvalidInputError(f"need {NUM_CONVS} per-layer widths, got {len(widths)}")
    keep_by_name: dict[str, np.ndarray] = {}
    for i, conv in slots:
        idx = np.sort(np.asarray(keep[i])) if keep is not None else filters_to_keep(conv, widths[i])
        if keep is not None and len(idx) != widths[i]:
            raise InvalidInputError(f"conv {conv.name!r}: {len(idx)} kept filters, width {widths[i]}")
        keep_by_name[conv.name] = idx
    if any(isinstance(layer, keras.Model) for layer in model.layers):
        raise InvalidInputError(
            "filter pruning works on a single audio model, not a nested one (give the AVC model's audio sub-network)"
        )
    reduced = keras.models.clone_model(model, clone_function=_clone_layer({n: len(k) for n, k in keep_by_name.items()}))
    channels = None  # kept channels of the tensor flowing into the next layer (None = all)
    for src, dst in zip(model.layers, reduced.layers):
        weights = src.get_weights()
        if isinstance(src, keras.layers.Conv2D):
            out = keep_by_name[src.name]
            kernel = weights[0] if channels is None else weights[0][:, :, channels, :]
            new = [kernel[..., out]]
            if src.use_bias:
                new.append(weights[1][out])
            if isinstance(src, MaskedConv2D):
                mask = weights[-1] if channels is None else weights[-1][:, :, channels, :]
                new.append(mask[..., out])
            dst.set_weights(new)
            channels = out
        elif isinstance(src, keras.layers.BatchNormalization) and channels is not None:
            dst.set_weights([w[channels] for w in weights])
        elif weights:
            dst.set_weights(weights)
    return reduced, [keep_by_name[c.name] for _, c in slots]


def dead_filters(model: keras.Model, tol: float = 0.0) -> list[np.ndarray]:
    """Per conv, the indices of filters whose effective kernel is all zero (|w| <= tol)."""
    return [np.flatnonzero(filter_l1_norms(c) <= tol) for c in conv_layers(model)]


def reduce_depth(model: keras.Model, model_name: str, last_conv: int) -> keras.Model:
    """The embedding from conv ``last_conv`` (1-based: 7, 6, 5 ...), later layers dropped.

    Built with the L3 builder's ``include_layers`` for registry model ``model_name``'s
    family (same front-end, current widths, same conv class), weights copied by name; the
    last kept conv's map is max-pooled whole.
    """
    from edgel3_mote.compress.models.l3 import build_audio_network
    from edgel3_mote.compress.models.registry import get_spec

    spec = get_spec(model_name)
    if spec.family not in ("l3", "sea", "edgel3"):
        raise InvalidInputError(f"depth reduction is for audio embedding models, not {model_name!r}")
    if not 1 <= last_conv <= NUM_CONVS:
        raise InvalidInputError(f"last conv must be 1..{NUM_CONVS}, got {last_conv}")
    convs = conv_layers(model)
    if len(convs) != NUM_CONVS:
        raise InvalidInputError(f"{model.name!r} has {len(convs)} convs: reduce depth on a full model")
    has_frontend = any(l.name == "melspectrogram_1" for l in model.layers)
    reduced = build_audio_network(
        spec.frontend,
        include_frontend=has_frontend,
        include_layers=[i < last_conv for i in range(NUM_CONVS)],
        num_filters=[int(c.filters) for c in convs],
        conv_cls=MaskedConv2D if isinstance(convs[0], MaskedConv2D) else None,
        embedding_bn=spec.family == "sea",
        pool_size=None,
        name=f"{model.name}_conv{last_conv}",
    )
    source = {layer.name: layer for layer in model.layers}
    for layer in reduced.layers:
        if layer.weights and layer.name in source:
            layer.set_weights(source[layer.name].get_weights())
    return reduced
