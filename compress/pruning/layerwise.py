"""Layer-wise magnitude pruning of the L3 family's 8 convs: one-shot (numpy) or gradual (TF-MOT).

One-shot zeroes exactly ``round(s * n)`` smallest-|w| weights of each conv kernel. Gradual
pruning wraps each conv with TF-MOT's ``prune_low_magnitude`` (``ConstantSparsity`` or
``PolynomialDecay`` schedule); train with ``UpdatePruningStep`` in the callbacks, then
``strip_pruning`` to get plain layers back (done by :func:`strip`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import tf_keras as keras

from edgel3_mote.errors import InvalidInputError

if TYPE_CHECKING:
    import tensorflow_model_optimization as tfmot

NUM_CONVS = 8
EMBEDDING_LAYER_NAMES = ("audio_embedding_layer", "vision_embedding_layer")


def _positional_index(name: str) -> int | None:
    if name in EMBEDDING_LAYER_NAMES:
        return NUM_CONVS - 1
    if name.startswith("conv2d_") and name[7:].isdigit():
        return int(name[7:]) - 1
    return None


def conv_layers(model: keras.Model) -> list[keras.layers.Conv2D]:
    """The model's Conv2D layers (MaskedConv2D included) in order, nested models flattened."""
    found = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            found += conv_layers(layer)
        elif isinstance(layer, keras.layers.Conv2D):
            found.append(layer)
        elif hasattr(layer, "layer") and isinstance(layer.layer, keras.layers.Conv2D):
            found.append(layer.layer)  # a TF-MOT PruneLowMagnitude wrapper
    return found


def conv_slots(model: keras.Model) -> list[tuple[int, keras.layers.Conv2D]]:
    """(plan index 0..7, conv layer) pairs: by order for 8 convs, by name for reduced models."""
    convs = conv_layers(model)
    if len(convs) == NUM_CONVS:
        return list(enumerate(convs))
    slots = [(_positional_index(c.name), c) for c in convs]
    if not convs or any(i is None or not 0 <= i < NUM_CONVS for i, _ in slots):
        raise InvalidInputError(
            f"model {model.name!r} has {len(convs)} convs "
            f"({[c.name for c in convs]}), not the L3 family's 8: "
            f"pass an L3/SEA audio model"
        )
    return [(i, c) for i, c in slots if i is not None]  # all of them (checked above)


def magnitude_mask(kernel: np.ndarray, sparsity: float) -> np.ndarray:
    """0/1 mask (kernel's shape, float32) zeroing the ``round(sparsity*n)`` smallest |w|."""
    if not 0.0 <= sparsity < 1.0:
        raise InvalidInputError(f"sparsity must be a fraction in [0, 1), got {sparsity}")
    flat = np.abs(np.asarray(kernel, dtype=np.float64)).ravel()
    k = int(round(sparsity * flat.size))
    mask = np.ones(flat.size, dtype=np.float32)
    mask[np.argsort(flat, kind="stable")[:k]] = 0.0
    return mask.reshape(np.shape(kernel))


def threshold_mask(kernel: np.ndarray, threshold: float) -> np.ndarray:
    """The original EdgeL3 rule: keep weights with |w| > threshold."""
    return (np.abs(np.asarray(kernel)) > threshold).astype(np.float32)


def _check_sparsities(sparsities: Sequence[float]) -> list[float]:
    values = [float(s) for s in sparsities]
    if len(values) != NUM_CONVS:
        raise InvalidInputError(f"need {NUM_CONVS} per-layer sparsities, got {len(values)}")
    return values


def prune_one_shot(model: keras.Model, sparsities: Sequence[float]) -> list[np.ndarray | None]:
    """Zero the smallest-magnitude kernel weights of each conv in place; returns the 8 masks
    (None for a conv a reduced model lacks).

    ``sparsities`` are fractions. A :class:`MaskedConv2D` gets the mask too (the product
    with its existing mask, so already-pruned weights stay pruned).
    """
    from edgel3_mote.compress.pruning.masked import MaskedConv2D

    values = _check_sparsities(sparsities)
    masks: list[np.ndarray | None] = [None] * NUM_CONVS
    for i, conv in conv_slots(model):
        kernel = conv.kernel.numpy()
        if isinstance(conv, MaskedConv2D):
            kernel = kernel * conv.kernel_mask.numpy()
        mask = magnitude_mask(kernel, values[i])
        if isinstance(conv, MaskedConv2D):
            conv.set_mask(mask * conv.kernel_mask.numpy())
        else:
            conv.kernel.assign(kernel * mask)
        masks[i] = mask
    return masks


def layer_sparsity(model: keras.Model) -> list[dict]:
    """Per-conv kernel statistics: name, weights, zeros, sparsity (%)."""
    from edgel3_mote.compress.pruning.masked import effective_kernel

    rows = []
    for i, conv in conv_slots(model):
        kernel = effective_kernel(conv)
        zeros = int(np.count_nonzero(kernel == 0))
        rows.append(
            {
                "index": i,
                "name": conv.name,
                "shape": list(kernel.shape),
                "weights": int(kernel.size),
                "zeros": zeros,
                "sparsity": 100.0 * zeros / kernel.size,
            }
        )
    return rows


def total_sparsity(rows: list[dict]) -> float:
    return 100.0 * sum(r["zeros"] for r in rows) / sum(r["weights"] for r in rows)


# --- gradual pruning with TF-MOT -------------------------------------------------------------


def pruning_schedule(
    final_sparsity: float,
    *,
    kind: str = "polynomial",
    begin_step: int = 0,
    end_step: int = 1000,
    frequency: int = 100,
    initial_sparsity: float = 0.0,
) -> tfmot.sparsity.keras.PruningSchedule:
    import tensorflow_model_optimization as tfmot

    if kind == "constant":
        return tfmot.sparsity.keras.ConstantSparsity(
            final_sparsity, begin_step=begin_step, end_step=-1, frequency=frequency
        )
    if kind == "polynomial":
        return tfmot.sparsity.keras.PolynomialDecay(
            initial_sparsity=initial_sparsity,
            final_sparsity=final_sparsity,
            begin_step=begin_step,
            end_step=end_step,
            frequency=frequency,
        )
    raise InvalidInputError(f"unknown pruning schedule {kind!r}: use 'constant' or 'polynomial'")


def wrap_for_gradual_pruning(model: keras.Model, sparsities: Sequence[float], **schedule_kwargs: Any) -> keras.Model:
    """A clone whose convs with sparsity > 0 are TF-MOT ``prune_low_magnitude`` wrappers.

    Other layers are *shared* with ``model`` (same variables). Train the result with
    ``tfmot.sparsity.keras.UpdatePruningStep()`` among the callbacks, then :func:`strip`.
    """
    import tensorflow_model_optimization as tfmot

    values = _check_sparsities(sparsities)
    targets = {id(conv): values[i] for i, conv in conv_slots(model) if values[i] > 0}

    def clone(layer):
        if id(layer) in targets:
            return tfmot.sparsity.keras.prune_low_magnitude(
                layer, pruning_schedule=pruning_schedule(targets[id(layer)], **schedule_kwargs)
            )
        return layer

    return keras.models.clone_model(model, clone_function=clone)


def pruning_callbacks() -> list[keras.callbacks.Callback]:
    import tensorflow_model_optimization as tfmot

    return [tfmot.sparsity.keras.UpdatePruningStep()]


def strip(model: keras.Model) -> keras.Model:
    """Remove TF-MOT wrappers (the pruned zeros stay in the plain kernels)."""
    import tensorflow_model_optimization as tfmot

    return tfmot.sparsity.keras.strip_pruning(model)
