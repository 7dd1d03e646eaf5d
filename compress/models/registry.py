"""The model registry: one stable name per model, used by every command.

``build_model(name, weights=None, seed=0, include_frontend=True)``: ``weights=None`` gives
seeded random weights (BN statistics included, so no BN is an identity) and marks the model
``model.edgel3_random_weights = True`` so callers can say so. ``include_frontend=False`` gives
the *backbone*: the same layers (same names, same variables) from conv 1 on, fed with the
spectrogram after the input BatchNormalization; ``input_affine`` still answers for it.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
from typing import TYPE_CHECKING, Any

import numpy as np

from edgel3_mote.errors import EdgeL3MoteError, InvalidInputError

if TYPE_CHECKING:
    import tf_keras as keras

# EdgeL3 paper Table II per-layer pruning plans (overall sparsity, %); applied by
# edgel3_mote.compress.pruning.presets.apply_plan.
PRUNING_PLANS = ("53.49", "63.48", "72.29", "73.55", "80.87", "87.08", "90.51", "95.45", "97.00", "98.00", "99.00")
BASE_NAMES = ("l3-melspec2", "l3-melspec2-6144", "l3-avc", "sea-512", "sea-256", "sea-128", "sea-64")
MODEL_NAMES = BASE_NAMES + tuple(f"edgel3-{plan}" for plan in PRUNING_PLANS)


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    name: str
    family: str  # 'l3' | 'sea' | 'avc' | 'edgel3' (pruned L3)
    frontend: Any  # FrontendConfig
    window_samples: int  # samples per embedding window at frontend.sr (1 s)
    embedding_dim: int  # for 'avc': the audio sub-network's embedding
    input_bn: bool  # a 1-channel BN follows the spectrogram (see input_affine)
    description: str


def _widths(name: str) -> tuple[int, ...]:
    from edgel3_mote.compress.models.widths import L3_FILTERS, sea_filters

    return sea_filters(int(name.split("-")[1])) if name.startswith("sea-") else L3_FILTERS


def get_spec(name: str) -> ModelSpec:
    """The :class:`ModelSpec` of a registry name; unknown names list the valid ones."""
    from edgel3_mote.compress.frontend import L3_FRONTEND, SEA_FRONTEND

    if not isinstance(name, str) or name not in MODEL_NAMES:
        raise InvalidInputError(f"unknown model {name!r}: choose one of {', '.join(MODEL_NAMES)}")
    if name.startswith("sea-"):
        dim = int(name.split("-")[1])
        return ModelSpec(
            name,
            "sea",
            SEA_FRONTEND,
            SEA_FRONTEND.sr,
            dim,
            True,
            f"EdgeL3 SEA student, 8 kHz 64x50 log-mel, filters {list(_widths(name))}, {dim}-d embedding",
        )
    if name == "l3-avc":
        return ModelSpec(
            name,
            "avc",
            L3_FRONTEND,
            L3_FRONTEND.sr,
            512,
            True,
            "L3-Net audio-visual correspondence model (224x224x3 frame + 1 s audio -> "
            "2-way softmax); training/fine-tuning only, not an embedding model",
        )
    if name.startswith("edgel3-"):
        from edgel3_mote.compress.pruning.presets import preset_source

        plan = name.split("-", 1)[1]
        return ModelSpec(
            name,
            "edgel3",
            L3_FRONTEND,
            L3_FRONTEND.sr,
            512,
            True,
            f"L3 audio (l3-melspec2), plan {plan} % pruned ({preset_source(plan)})",
        )
    dim = 6144 if name.endswith("6144") else 512
    return ModelSpec(
        name,
        "l3",
        L3_FRONTEND,
        L3_FRONTEND.sr,
        dim,
        True,
        f"L3-Net audio cnn_L3_melspec2, 48 kHz 256x199 log-mel, {dim}-d embedding",
    )


def network_param_count(name: str) -> int:
    """Parameters of the network without the fixed front-end tables (convs, BNs, dense).

    Computed from the architecture, without TensorFlow (tests check it equals Keras' count).
    """
    spec = get_spec(name)
    widths = _widths(name)

    def audio_or_vision(in_channels: int, bn_after_last: bool) -> int:
        total, prev = 4 * in_channels, in_channels  # input BN
        for i, width in enumerate(widths):
            total += 9 * prev * width + width
            if i < 7 or bn_after_last:
                total += 4 * width
            prev = width
        return total

    if spec.family == "avc":
        return audio_or_vision(3, True) + audio_or_vision(1, True) + (1024 * 128 + 128) + (128 * 2 + 2)
    return audio_or_vision(1, spec.family == "sea")


def conv_param_count(name: str) -> int:
    """Conv kernels + biases of an audio model (4,684,224 for the L3 audio network)."""
    widths, prev, total = _widths(name), 1, 0
    for width in widths:
        total += 9 * prev * width + width
        prev = width
    return total


def _build_full(spec: ModelSpec):
    from edgel3_mote.compress.models.l3 import build_l3_audio_model

    if spec.family == "sea":
        from edgel3_mote.compress.models.sea import build_sea_model

        return build_sea_model(spec.embedding_dim)
    if spec.family == "avc":
        # imported only here: the vision network pulls in keras.applications (seconds)
        from edgel3_mote.compress.models.avc import build_avc_model

        return build_avc_model()
    return build_l3_audio_model(pool_size=(8, 8) if spec.embedding_dim == 6144 else None)


def _walk_layers(model):
    import tf_keras as keras

    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _walk_layers(layer)
        else:
            yield layer


def randomize_weights(model: keras.Model, seed: int = 0) -> None:
    """Deterministic random weights for every conv, dense and BN layer (front-end untouched).

    He-normal kernels, small biases, and BN statistics that are not the identity: the
    spectrogram BN gets dB-like statistics (mean ~ -27, variance ~ 115, as the real SEA-64),
    so the random network sees inputs of a realistic scale.
    """
    import tf_keras as keras

    rng = np.random.default_rng(seed)
    for layer in _walk_layers(model):
        if isinstance(layer, keras.layers.BatchNormalization):
            n = int(layer.gamma.shape[0])
            spectrogram_bn = n == 1
            gamma = rng.uniform(0.8, 1.2, n)
            beta = rng.normal(0.0, 0.1, n)
            mean = rng.uniform(-35.0, -20.0, n) if spectrogram_bn else rng.normal(0.0, 0.1, n)
            var = rng.uniform(80.0, 150.0, n) if spectrogram_bn else rng.uniform(0.5, 1.5, n)
            layer.set_weights([a.astype(np.float32) for a in (gamma, beta, mean, var)])
        elif getattr(layer, "kernel", None) is not None:
            shape = tuple(layer.kernel.shape)
            std = np.sqrt(2.0 / np.prod(shape[:-1]))
            layer.kernel.assign(rng.normal(0.0, std, shape).astype(np.float32))
            if getattr(layer, "bias", None) is not None:
                layer.bias.assign(rng.normal(0.0, 0.01, tuple(layer.bias.shape)).astype(np.float32))


def _apply_pruning_plan(model, plan: str):
    try:
        presets = importlib.import_module("edgel3_mote.compress.pruning.presets")
        apply_plan = presets.apply_plan
    except (ImportError, AttributeError):
        raise EdgeL3MoteError(
            f"pruned preset edgel3-{plan} needs "
            f"edgel3_mote.compress.pruning.presets.apply_plan, which is not "
            f"installed: use l3-melspec2 or update the package"
        ) from None
    result = apply_plan(model, plan)
    return result if result is not None else model


def build_model(
    name: str, weights: str | os.PathLike | None = None, seed: int = 0, include_frontend: bool = True
) -> keras.Model:
    """Build a registry model, with ``weights`` (an original h5 / .h5.gz) or seeded random ones.

    The model carries ``edgel3_model_name``, ``edgel3_random_weights``, ``edgel3_seed``,
    ``edgel3_weights`` (path or None) and ``edgel3_load_report`` attributes.
    """
    spec = get_spec(name)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise InvalidInputError(f"seed must be an integer, got {seed!r}")
    if not include_frontend and spec.family == "avc":
        raise InvalidInputError("l3-avc has no backbone (it takes an image and audio): use include_frontend=True")
    model = _build_full(spec)
    report = None
    if weights is None:
        randomize_weights(model, int(seed))
    else:
        from edgel3_mote.compress.weights import load_weights

        report = load_weights(model, weights)
    if spec.family == "edgel3":
        model = _apply_pruning_plan(model, name.split("-", 1)[1])
    affine = input_affine(model) if spec.input_bn and spec.family != "avc" else None
    if not include_frontend:
        from edgel3_mote.compress.models.l3 import split_frontend

        model = split_frontend(model)[2]
    model.edgel3_model_name = name
    model.edgel3_random_weights = weights is None
    model.edgel3_seed = int(seed) if weights is None else None
    model.edgel3_weights = None if weights is None else str(weights)
    model.edgel3_load_report = report
    if affine is not None:
        model.edgel3_input_affine = affine
    return model


def input_affine(model: keras.Model) -> tuple[float, float]:
    """``(scale, offset)`` of the 1-channel input BN: ``y = scale * x + offset``.

    ``scale = gamma / sqrt(var + eps)``, ``offset = beta - mean * scale`` (float32 as Keras
    computes it). Works on full models, the AVC model, and backbones from ``build_model``.
    """
    from edgel3_mote.compress.models.l3 import find_input_bn

    bn = find_input_bn(model)
    if bn is None:
        stored = getattr(model, "edgel3_input_affine", None)
        if stored is not None:
            return float(stored[0]), float(stored[1])
        raise InvalidInputError(
            f"model {model.name!r} has no input BatchNormalization: pass the "
            f"full model (include_frontend=True) or a backbone from build_model"
        )
    gamma, beta, mean, var = (np.asarray(w, np.float32).reshape(-1) for w in bn.get_weights())
    if gamma.size != 1:
        raise InvalidInputError(
            f"input BN of {model.name!r} has {gamma.size} channels, not 1: input_affine is for audio models"
        )
    scale = gamma / np.sqrt(var + np.float32(bn.epsilon))
    offset = beta - mean * scale
    return float(scale[0]), float(offset[0])
