"""Requantisation parameters exactly as TensorFlow Lite Micro computes them.

The C kernels (``firmware/include/em_kernels.h``) take the same int32 multiplier/shift pairs,
activation clamps and paddings that TFLM derives at ``Prepare`` time; the code generator
computes them here, once, from the .tflite's float scales. Every function mirrors one TFLite
routine (named in its docstring) including its float32/float64 casts, because a multiplier
one unit off changes output bytes.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

INT8_MIN, INT8_MAX = -128, 127


def _round_half_away(x: float) -> float:
    """``std::round`` (TfLiteRound): halves go away from zero, unlike Python's ``round``."""
    return math.copysign(math.floor(abs(x) + 0.5), x)


def quantize_multiplier(real_multiplier: float) -> tuple[int, int]:
    """TFLite ``QuantizeMultiplier``: real = multiplier * 2^shift / 2^31, multiplier in [2^30, 2^31).

    Returns ``(multiplier, shift)``; ``shift > 0`` is a left shift. Zero maps to ``(0, 0)``.
    """
    real_multiplier = float(real_multiplier)
    if real_multiplier == 0.0:
        return 0, 0
    q, shift = math.frexp(real_multiplier)
    q_fixed = int(_round_half_away(q * (1 << 31)))
    if q_fixed > (1 << 31):
        raise ValueError(f"QuantizeMultiplier overflow for {real_multiplier!r}")
    if q_fixed == (1 << 31):
        q_fixed //= 2
        shift += 1
    if shift < -31:  # too small to represent: TFLite flushes it to zero
        shift, q_fixed = 0, 0
    return int(q_fixed), int(shift)


def conv_multipliers(
    input_scale: float, filter_scales: Sequence[float], output_scale: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel ``(multiplier, shift)`` int32 arrays, as TFLM's
    ``PopulateConvolutionQuantizationParams`` (CONV_2D, DEPTHWISE_CONV_2D) and the per-channel
    branch of ``CalculateOpDataFullyConnected``: double(in) * double(filter[c]) / double(out),
    each scale first read as float32 (the .tflite stores float32)."""
    in_s = float(np.float32(input_scale))
    out_s = float(np.float32(output_scale))
    pairs = [
        quantize_multiplier(in_s * float(np.float32(f)) / out_s)
        for f in np.asarray(filter_scales, dtype=np.float32).reshape(-1)
    ]
    mult = np.array([p[0] for p in pairs], dtype=np.int32)
    shift = np.array([p[1] for p in pairs], dtype=np.int32)
    return mult, shift


def fc_multiplier(input_scale: float, filter_scale: float, output_scale: float) -> tuple[int, int]:
    """Per-tensor FULLY_CONNECTED ``(multiplier, shift)``, as TFLite's
    ``GetQuantizedConvolutionMultipler``: double(in) * double(filter) / double(out)."""
    real = float(np.float32(input_scale)) * float(np.float32(filter_scale)) / float(np.float32(output_scale))
    return quantize_multiplier(real)


def rescale_multiplier(input_scale: float, output_scale: float) -> tuple[int, int]:
    """``(multiplier, shift)`` for a plain rescale in -> out (REDUCE ops' ``PrepareSimple``)."""
    return quantize_multiplier(float(np.float32(input_scale)) / float(np.float32(output_scale)))


def activation_range(activation: str | None, scale: float, zero_point: int) -> tuple[int, int]:
    """TFLite ``CalculateActivationRangeQuantized`` for an int8 output.

    ``activation``: None/"NONE", "RELU", "RELU6", "RELU_N1_TO_1" (the .tflite fused names).
    """
    act = (activation or "NONE").upper()
    scale32 = np.float32(scale)

    def quantize(f: float) -> int:
        # zero_point + static_cast<int32_t>(TfLiteRound(f / scale)), float32 division
        return int(zero_point) + int(_round_half_away(float(np.float32(f) / scale32)))

    if act == "NONE":
        return INT8_MIN, INT8_MAX
    if act == "RELU":
        return max(INT8_MIN, quantize(0.0)), INT8_MAX
    if act == "RELU6":
        return max(INT8_MIN, quantize(0.0)), min(INT8_MAX, quantize(6.0))
    if act == "RELU_N1_TO_1":
        return max(INT8_MIN, quantize(-1.0)), min(INT8_MAX, quantize(1.0))
    raise ValueError(f"unsupported fused activation {activation!r}: use NONE, RELU, RELU6 or RELU_N1_TO_1")


def out_size_and_padding(
    in_size: int, filter_size: int, stride: int, dilation: int = 1, padding: str = "SAME"
) -> tuple[int, int]:
    """TFLite ``ComputeOutSize`` + ``ComputePaddingWithOffset``: ``(out_size, pad_before)``.

    For SAME the odd extra padding row/column goes after (bottom/right), as in TFLite.
    """
    eff = (filter_size - 1) * dilation + 1
    pad_mode = padding.upper()
    if pad_mode == "SAME":
        out = (in_size + stride - 1) // stride
    elif pad_mode == "VALID":
        out = (in_size + stride - eff) // stride
    else:
        raise ValueError(f"unknown padding {padding!r}: use SAME or VALID")
    total = max(0, (out - 1) * stride + eff - in_size)
    return out, (total // 2 if pad_mode == "SAME" else 0)
