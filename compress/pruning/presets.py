"""EdgeL3 per-layer sparsity plans (Kumari et al. 2019, Table II, and derived ones) and one-shot pruning.

A *plan* is 8 sparsities in percent, one per conv layer (conv1 .. conv8 = the embedding layer).
Each preset is named after the overall sparsity it gives on the L3 audio model, weighted by the
conv kernels' weight counts (biases are not pruned): e.g. ``95.45`` (EdgeL3) keeps ~213 K of
the 4.68 M kernel weights. ``overall_sparsity`` computes that figure from any plan.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Sequence

from edgel3_mote.errors import InvalidInputError

if TYPE_CHECKING:
    import tf_keras as keras

NUM_CONVS = 8

# name -> per-layer sparsity (%) for conv1..conv8. Where each row comes from: PRESET_SOURCES.
PRESETS: dict[str, tuple[float, ...]] = {
    "53.49": (0, 30, 40, 50, 30, 50, 50, 60),
    "63.48": (0, 40, 50, 60, 40, 60, 60, 70),
    "72.29": (0, 40, 50, 60, 40, 70, 70, 80),
    "73.55": (0, 60, 60, 70, 50, 70, 70, 80),
    "80.87": (0, 70, 70, 75, 60, 80, 80, 85),
    "87.08": (0, 80, 80, 85, 40, 85, 85, 95),
    "90.51": (30, 85, 85, 90, 60, 90, 90, 95),
    "95.45": (0, 85, 85, 85, 75, 95, 98, 98),
    "97.00": (0, 93, 94, 96, 97, 95.97, 98, 97),
    "98.00": (0, 95, 96, 97, 97, 98, 98.65, 98),
    "99.00": (0, 94, 96, 99, 99, 99, 99, 99.2),
}
ALIASES = {"edgel3": "95.45", "97": "97.00", "98": "98.00", "99": "99.00"}

# Provenance of each preset, shown by `edgel3-mote models`/`prune --help`. "paper": the per-layer
# values of Kumari et al. 2019, Table II (95.45 is the plan of the released EdgeL3 model). "derived":
# not a row of the paper -- per-layer values chosen here so the plan's overall sparsity on the L3
# audio model (``overall_sparsity``) equals the name; fractional per-layer values mark them.
PAPER_TABLE_II = "paper: Kumari et al. 2019 (EdgeL3), Table II"
DERIVED = "derived: per-layer values chosen here to reach the named overall sparsity; not in the paper"
PRESET_SOURCES: dict[str, str] = {
    **{name: PAPER_TABLE_II for name in ("53.49", "63.48", "72.29", "73.55", "80.87", "87.08", "90.51", "95.45")},
    **{name: DERIVED for name in ("97.00", "98.00", "99.00")},
}

# Kernel weight counts of the L3 audio model's 8 convs (3x3, widths 64..512, 1 input channel).
L3_WIDTHS = (64, 64, 128, 128, 256, 256, 512, 512)
L3_KERNEL_COUNTS = tuple(9 * cin * cout for cin, cout in zip((1,) + L3_WIDTHS[:-1], L3_WIDTHS))


def preset_names() -> list[str]:
    return list(PRESETS)


def preset_source(name: str) -> str:
    """Where a preset's per-layer values come from (the paper's Table II, or derived here)."""
    key, _ = resolve_plan(name)
    if key is None:
        raise InvalidInputError(f"{name!r} is not a preset: presets are {', '.join(PRESETS)}")
    return PRESET_SOURCES[key]


def resolve_plan(plan: str | Sequence[float] | Iterable[str]) -> tuple[str | None, tuple[float, ...]]:
    """``plan`` (a preset name, "edgel3", 8 numbers, or "a,b,...") -> (preset name or None, 8 %).

    Numbers are percentages in [0, 100); a list of 8 fractions all <= 1 is NOT reinterpreted
    (1 would be 1 %), so callers pass percent everywhere.
    """
    if isinstance(plan, str):
        key = ALIASES.get(plan.strip().lower(), plan.strip())
        if key in PRESETS:
            return key, PRESETS[key]
        try:
            number: str | None = f"{float(key):.2f}"
        except ValueError:
            number = None
        if number in PRESETS:
            return number, PRESETS[number]
        if "," in plan:
            return resolve_plan(plan.split(","))
        raise InvalidInputError(
            f"unknown pruning plan {plan!r}: use a preset ({', '.join(PRESETS)}, edgel3) or 8 per-layer percentages"
        )
    values: list[float | str] = list(plan)
    if len(values) == 1 and isinstance(values[0], str):
        return resolve_plan(values[0])
    try:
        numbers = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise InvalidInputError(
            f"pruning plan {values!r} is not 8 numbers: give 8 per-layer percentages, e.g. 0 85 85 85 75 95 98 98"
        ) from None
    if len(numbers) != NUM_CONVS:
        raise InvalidInputError(
            f"a pruning plan needs {NUM_CONVS} per-layer sparsities (conv1..conv8), got {len(numbers)}: {list(numbers)}"
        )
    if any(not 0.0 <= s < 100.0 for s in numbers):
        raise InvalidInputError(f"per-layer sparsities are percentages in [0, 100), got {list(numbers)}")
    for name, preset in PRESETS.items():
        if preset == numbers:
            return name, numbers
    return None, numbers


def overall_sparsity(
    plan: str | Sequence[float] | Iterable[str], kernel_counts: Sequence[int] = L3_KERNEL_COUNTS
) -> float:
    """Overall sparsity (%) of a plan, weighted by the convs' kernel weight counts."""
    _, sparsities = resolve_plan(plan)
    total = sum(kernel_counts)
    pruned = sum(round(s / 100.0 * n) for s, n in zip(sparsities, kernel_counts))
    return 100.0 * pruned / total


def kept_weights(plan: str | Sequence[float] | Iterable[str], kernel_counts: Sequence[int] = L3_KERNEL_COUNTS) -> int:
    """Nonzero kernel weights left by a plan (the paper's "213 K" for 95.45)."""
    _, sparsities = resolve_plan(plan)
    return sum(n - round(s / 100.0 * n) for s, n in zip(sparsities, kernel_counts))


def apply_plan(model: keras.Model, plan_name_or_list: str | Sequence[float] | Iterable[str]) -> keras.Model:
    """One-shot magnitude pruning of the model's 8 conv kernels to the plan's sparsities.

    The smallest-|w| weights of each conv kernel are set to exact zeros (in place); the same
    model is returned. Works on any model of the L3 family with 8 convs (L3, SEA, masked);
    a ``MaskedConv2D`` also gets its mask set, so retraining keeps the zeros.
    """
    from edgel3_mote.compress.pruning.layerwise import prune_one_shot

    _, sparsities = resolve_plan(plan_name_or_list)
    prune_one_shot(model, [s / 100.0 for s in sparsities])
    return model
