"""EdgeL3 Table II presets: each plan's overall sparsity on the L3 audio model matches its name."""

import numpy as np
import pytest

import edgel3_mote  # noqa: F401
from edgel3_mote.compress.pruning import presets
from edgel3_mote.errors import InvalidInputError


def test_l3_kernel_counts_match_the_l3_parameter_count():
    # 4,684,224 conv parameters = kernels + one bias per filter.
    assert sum(presets.L3_KERNEL_COUNTS) + sum(presets.L3_WIDTHS) == 4_684_224


@pytest.mark.parametrize("name", list(presets.PRESETS))
def test_every_preset_overall_sparsity_matches_its_name(name):
    assert abs(presets.overall_sparsity(name) - float(name)) < 0.1


def test_edgel3_plan_is_the_papers_and_keeps_about_213k_weights():
    name, plan = presets.resolve_plan("edgel3")
    assert name == "95.45" and plan == (0, 85, 85, 85, 75, 95, 98, 98)
    assert 212_000 < presets.kept_weights("95.45") < 214_000


def test_plan_parsing_accepts_names_and_numbers_and_rejects_bad_plans():
    assert presets.resolve_plan("97") == ("97.00", presets.PRESETS["97.00"])
    assert presets.resolve_plan(["0", "85", "85", "85", "75", "95", "98", "98"])[0] == "95.45"
    assert presets.resolve_plan("10,10,10,10,10,10,10,10") == (None, (10.0,) * 8)
    assert abs(presets.overall_sparsity([10] * 8) - 10.0) < 1e-3
    for bad in ("42.42", [1, 2, 3], [0, 0, 0, 0, 0, 0, 0, 100], ["a"] * 8):
        with pytest.raises(InvalidInputError):
            presets.resolve_plan(bad)


def test_apply_plan_on_the_real_l3_architecture_gives_the_named_sparsity():
    from edgel3_mote.compress.models.l3 import build_l3_audio_model
    from edgel3_mote.compress.pruning.layerwise import layer_sparsity, total_sparsity

    model = build_l3_audio_model(include_frontend=False)
    rows_before = layer_sparsity(model)
    assert [r["weights"] for r in rows_before] == list(presets.L3_KERNEL_COUNTS)
    assert total_sparsity(rows_before) == 0.0
    original = np.abs(model.get_layer("audio_embedding_layer").kernel.numpy())
    out = presets.apply_plan(model, "95.45")
    assert out is model
    rows = layer_sparsity(model)
    assert abs(total_sparsity(rows) - 95.45) < 0.1
    for row, target in zip(rows, presets.PRESETS["95.45"]):
        assert abs(row["sparsity"] - target) < 0.01, row
    kept = sum(r["weights"] - r["zeros"] for r in rows)
    assert kept == presets.kept_weights("95.45")
    # the survivors are the largest-magnitude weights: min kept |w| >= max pruned |w| per layer
    kept_mask = model.get_layer("audio_embedding_layer").kernel.numpy() != 0
    assert original[kept_mask].min() >= original[~kept_mask].max()
    assert np.count_nonzero(kept_mask) == round(0.02 * kept_mask.size)


def test_registry_edgel3_preset_is_built_through_apply_plan():
    from edgel3_mote.compress.models.registry import build_model
    from edgel3_mote.compress.pruning.layerwise import layer_sparsity, total_sparsity

    model = build_model("edgel3-72.29", seed=0, include_frontend=False)
    rows = layer_sparsity(model)
    assert abs(total_sparsity(rows) - 72.29) < 0.1
    assert [round(r["sparsity"]) for r in rows] == [0, 40, 50, 60, 40, 70, 70, 80]


def test_every_preset_states_its_source_and_derived_ones_say_so():
    assert set(presets.PRESET_SOURCES) == set(presets.PRESETS)
    assert presets.preset_source("edgel3").startswith("paper")
    for name, plan in presets.PRESETS.items():
        fractional = any(v != int(v) for v in plan)
        # a fractional per-layer value is no table row: such presets must be labelled derived
        assert presets.preset_source(name).startswith("derived" if fractional else "paper"), name
