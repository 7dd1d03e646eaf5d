"""Pruning of the L3 family: EdgeL3 presets, layer-wise (one-shot / TF-MOT gradual),
``MaskedConv2D``, filter-wise reduction and sensitivity analysis."""
