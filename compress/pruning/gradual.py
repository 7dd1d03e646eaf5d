"""Gradual layer-wise pruning with TF-MOT while distilling from the unpruned model.

The model's own unpruned embeddings are the targets (MSE), so pruning needs no labels: the
8 convs are wrapped with ``prune_low_magnitude`` (PolynomialDecay from 0 to each layer's
target over the first 80 % of the steps, or ConstantSparsity), trained with
``UpdatePruningStep`` on the fixed front-end's spectrograms, then stripped. The wrappers share
the model's layers, so the model passed in ends up pruned.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import tf_keras as keras

from edgel3_mote.compress.pruning import layerwise


def prune_gradually(
    model: keras.Model,
    sparsities: Sequence[float],
    *,
    clips: Sequence[str | Path],
    model_name: str,
    epochs: int = 4,
    batch_size: int = 16,
    hop_size: float = 0.25,
    schedule: str = "polynomial",
    seed: int = 0,
    masked: bool = False,
    learning_rate: float = 1e-4,
) -> tuple[keras.Model, keras.callbacks.History]:
    """Prune ``model`` (plain Conv2D, with front-end) to ``sparsities`` (fractions); returns
    ``(model, history)`` -- a MaskedConv2D copy when ``masked``."""
    from edgel3_mote.compress.data import pipeline
    from edgel3_mote.compress.retrain.distill import predict, student_inputs

    keras.utils.set_random_seed(seed)
    windows = pipeline.clip_windows(clips, model_name, hop_size)
    inputs = windows.model_inputs()
    targets = predict(model, inputs, desc="unpruned targets")
    backbone, spectrograms = student_inputs(model, inputs)
    steps = pipeline.steps_per_epoch(len(inputs), batch_size) * epochs
    frequency = max(1, steps // 20)
    end_step = max(frequency, (int(0.8 * steps) // frequency) * frequency)
    wrapped = layerwise.wrap_for_gradual_pruning(
        backbone, sparsities, kind=schedule, begin_step=0, end_step=end_step, frequency=frequency
    )
    wrapped.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="mse")
    ds = pipeline.epoch_dataset(spectrograms, targets, batch_size, seed, 0, epochs)
    fit = wrapped.fit(
        ds,
        epochs=epochs,
        steps_per_epoch=pipeline.steps_per_epoch(len(inputs), batch_size),
        callbacks=layerwise.pruning_callbacks(),
        verbose=2,
    )
    for layer in wrapped.layers:  # the last optimizer step may have moved pruned weights
        for weight, mask, _ in getattr(layer, "pruning_vars", []):
            weight.assign(weight * mask)
    layerwise.strip(wrapped)
    history = [{"epoch": e + 1, "loss": float(l)} for e, l in enumerate(fit.history["loss"])]
    if masked:
        from edgel3_mote.compress.pruning.masked import architecture_builder, masked_copy

        model = masked_copy(model, architecture_builder(model_name))
    return model, history
