"""Per-model tables of the on-device log-mel front-end: ``em_frontend_tables.h/.c``.

``firmware/frontend/em_logmel.c`` is generic; everything model-specific is generated here
from a ``FrontendConfig`` and two pairs of numbers from the export manifest:

- ``input_affine = (scale, offset)``: the model's 1-channel input BatchNormalization, applied in
  float on the device before quantising (the int8 graph starts after it);
- ``input_quant = (scale, zero_point)``: the int8 model input's quantisation.

The tables: the periodic Hann window, the FFT twiddles W_n^k (float64 -> float32 once; const
in flash, see em_fft.c for why), and the mel matrix stored sparse per band as (first bin,
length, offset into one packed weight array) -- 64 SEA bands use ~1 K weights instead of 33 K.
``quantize_input`` (re-exported from ``compress.frontend``) is the host reference of the
device's int8 output.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from edgel3_mote.atomic import atomic_write_text
from edgel3_mote.compress.frontend import (
    FrontendConfig,
    db_constants,
    fft_twiddles,
    hann_window,
    quantize_input,
    sparse_mel,
)
from edgel3_mote.errors import ExportError
from edgel3_mote.export.codegen.ops.base import c_float

__all__ = [
    "fft_twiddles",
    "sparse_mel",
    "render_frontend_tables",
    "generate_frontend_tables",
    "quantize_input",
    "reference_logmel_s8",
    "scratch_bytes",
    "FRONTEND_C_DIR",
    "FRONTEND_C_SOURCES",
    "FRONTEND_C_HEADERS",
]

TEMPLATE_DIR = Path(__file__).parent / "templates" / "frontend"
# The generic C sources the tables go with (copy them next to the generated tables).
FRONTEND_C_DIR = Path(__file__).resolve().parents[1] / "firmware" / "frontend"
FRONTEND_C_SOURCES = ("em_fft.c", "em_logmel.c")
FRONTEND_C_HEADERS = ("em_fft.h", "em_logmel.h")
VALUES_PER_LINE = 6


def scratch_bytes(cfg: FrontendConfig) -> int:
    """em_logmel_get_buffer_size() for this config: one FFT buffer + one frame's mel values.

    The two-pass front-end never holds the clip's spectrogram, so this does not grow with the window.
    """
    return 4 * (cfg.n_dft + cfg.n_mels)


def reference_logmel_s8(
    pcm, cfg: FrontendConfig, input_affine, input_quant, window_samples: int | None = None
) -> np.ndarray:
    """What ``em_logmel_s8`` must output for int16 ``pcm``: int8 ``(n_mels, n_frames)``.

    The device's own conventions, made explicit: x / 32768 as the float audio, zero-padded at
    the end to the model window, then the numpy reference and ``quantize_input``.
    """
    from edgel3_mote.compress.frontend import model_input_int8
    from edgel3_mote.errors import InvalidInputError

    window_samples = cfg.sr if window_samples is None else int(window_samples)
    pcm = np.asarray(pcm)
    if pcm.ndim != 1 or pcm.dtype != np.int16 or len(pcm) > window_samples:
        raise InvalidInputError(
            f"pcm must be 1-D int16 with at most {window_samples} samples "
            f"(got {pcm.dtype} {pcm.shape}): frame the audio into model windows first"
        )
    audio = np.zeros(window_samples, np.float64)
    audio[: len(pcm)] = pcm / 32768.0
    return model_input_int8(audio, cfg, input_affine, *input_quant)


def _rows(values: Sequence[Any] | np.ndarray, fmt: Callable[[Any], str]) -> list[str]:
    items = [fmt(v) for v in values] or [fmt(0)]  # C has no empty arrays
    return [", ".join(items[i : i + VALUES_PER_LINE]) + "," for i in range(0, len(items), VALUES_PER_LINE)]


def _check(cfg: FrontendConfig, input_affine, input_quant, window_samples: int) -> None:
    if not cfg.return_decibel:
        raise ExportError(
            "the device front-end implements only dB output (return_decibel=True): "
            "export a model whose front-end returns decibels"
        )
    if cfg.n_dft < 4 or cfg.n_dft > 65536:
        raise ExportError(f"n_dft={cfg.n_dft} is outside the device FFT's 4..65536: use a smaller n_dft")
    if window_samples <= 0:
        raise ExportError(f"window_samples={window_samples} must be positive: give the model's input length")
    scale, offset = (float(v) for v in input_affine)
    q_scale, zero_point = float(input_quant[0]), input_quant[1]
    if not (math.isfinite(scale) and math.isfinite(offset)):
        raise ExportError(f"input affine ({scale}, {offset}) is not finite: check the input BatchNormalization")
    if not (math.isfinite(q_scale) and q_scale > 0):
        raise ExportError(f"input scale {q_scale} must be positive and finite: check the int8 model's input")
    if int(zero_point) != zero_point or not -128 <= int(zero_point) <= 127:
        raise ExportError(f"input zero point {zero_point} is not an int8 value: check the int8 model's input")


def render_frontend_tables(
    cfg: FrontendConfig, input_affine, input_quant, window_samples: int | None = None
) -> tuple[str, str]:
    """(header text, source text) of em_frontend_tables for this model."""
    import jinja2

    window_samples = cfg.sr if window_samples is None else int(window_samples)
    _check(cfg, input_affine, input_quant, window_samples)
    starts, lengths, offsets, weights = sparse_mel(cfg)
    p_min, db_k, db_amin = db_constants(cfg)
    context = {
        "cfg": cfg,
        "n_frames": cfg.n_frames(window_samples),
        "window_samples": window_samples,
        "pad_left": cfg.pad_left(window_samples),
        "p_min": c_float(float(p_min)),
        "db_k": c_float(float(db_k)),
        "db_amin": c_float(float(db_amin)),
        "dynamic_range": c_float(cfg.dynamic_range),
        "affine_scale": c_float(input_affine[0]),
        "affine_offset": c_float(input_affine[1]),
        "input_scale": c_float(input_quant[0]),
        "input_zero_point": int(input_quant[1]),
        "n_weights": max(len(weights), 1),
        "scratch_bytes": scratch_bytes(cfg),
        "window": _rows(hann_window(cfg.n_dft), c_float),
        "twiddles": _rows(fft_twiddles(cfg.n_dft), c_float),
        "mel_start": _rows(starts, str),
        "mel_length": _rows(lengths, str),
        "mel_offset": _rows(offsets, lambda v: f"{int(v)}u"),
        "mel_weights": _rows(weights, c_float),
        "config_comment": ", ".join(f"{k}={v}" for k, v in cfg.to_dict().items()),
    }
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR), undefined=jinja2.StrictUndefined, keep_trailing_newline=True
    )
    return (
        env.get_template("em_frontend_tables.h.j2").render(**context),
        env.get_template("em_frontend_tables.c.j2").render(**context),
    )


def generate_frontend_tables(
    cfg: FrontendConfig, input_affine, input_quant, out_dir, window_samples: int | None = None
) -> list[Path]:
    """Write ``em_frontend_tables.h`` and ``.c`` into ``out_dir`` (atomically); return their paths.

    ``input_affine = (scale, offset)`` and ``input_quant = (scale, zero_point)`` as in the export
    manifest's ``input_affine`` and ``input``; ``window_samples`` defaults to 1 s (``cfg.sr``).
    """
    header, source = render_frontend_tables(cfg, input_affine, input_quant, window_samples)
    out_dir = Path(out_dir)
    return [
        atomic_write_text(out_dir / "em_frontend_tables.h", header),
        atomic_write_text(out_dir / "em_frontend_tables.c", source),
    ]
