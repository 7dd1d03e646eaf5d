"""``edgel3-mote models`` and ``edgel3-mote embed``: a thin mirror of the Python API.

Nothing heavy is imported here at module level; TensorFlow loads inside ``embed`` only.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import warnings

from edgel3_mote.cli_types import add_output_argument, declare_outputs, output_dir, writes_nothing

EMBED_DEFAULT_OUTPUT = "build/embeddings"
"""Where ``embed`` writes without -o (under the working directory; never next to the inputs)."""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "models",
        help="list the model names, their input, embedding size and parameters",
        description="List every registry model name with its input, embedding size, parameter "
        "count (network only: the fixed front-end tables are not counted) and nonzero "
        "parameters (fewer for the pruned edgel3-* presets: their pruned conv weights are "
        "exact zeros).",
    )
    p.set_defaults(func=_cmd_models)
    declare_outputs(p, writes_nothing)

    p = subparsers.add_parser(
        "embed",
        help="compute embeddings of audio files (writes <name>.npz per file)",
        description="Compute embeddings every --hop-size seconds and write <name>.npz "
        "(arrays 'embedding' (T, D) and 'timestamps' (T,)) per audio file, like "
        "edgel3/openl3. Without --weights the model has seeded random weights.",
    )
    p.add_argument(
        "inputs", nargs="+", metavar="FILE_OR_DIR", help="audio files (wav/flac/ogg/mp3...) or folders of them"
    )
    p.add_argument("--model", default="sea-64", help="registry model name (see `edgel3-mote models`; default sea-64)")
    p.add_argument(
        "--weights", default=None, metavar="PATH", help="original Keras 2 .h5 (or .h5.gz) weights for the model"
    )
    add_output_argument(p, f"folder for the .npz files (default {EMBED_DEFAULT_OUTPUT}, under the working directory)")
    p.add_argument("--suffix", default=None, help="output name <name>_<suffix>.npz")
    p.add_argument(
        "--hop-size", type=float, default=0.1, metavar="SECONDS", help="seconds between windows (default 0.1)"
    )
    p.add_argument(
        "--no-centering",
        action="store_true",
        help="do not pad half a window before the audio (timestamps = window starts)",
    )
    p.add_argument("--batch-size", type=int, default=32, help="windows per forward pass (default 32)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_embed)
    declare_outputs(p, _embed_outputs)


def _embed_outputs(args):
    """One .npz per input, in -o (or build/embeddings): each checked file by file before TensorFlow."""
    from edgel3_mote.compress.audio import find_audio_files
    from edgel3_mote.compress.embedding import output_path

    folder = args.output or EMBED_DEFAULT_OUTPUT
    names = [output_path(p, folder, args.suffix).name for p in find_audio_files(args.inputs)]
    return [output_dir(folder, "embed", names)]


def _cmd_models(args) -> int:
    from edgel3_mote.compress.models.registry import MODEL_NAMES, get_spec, network_param_count
    from edgel3_mote.compress.pruning.presets import L3_KERNEL_COUNTS, kept_weights

    rows = [("NAME", "INPUT", "EMBEDDING", "PARAMS", "NONZERO", "DESCRIPTION")]
    for name in MODEL_NAMES:
        spec = get_spec(name)
        fe = spec.frontend
        frames = fe.n_frames(spec.window_samples)
        inp = f"{spec.window_samples / fe.sr:g} s @ {fe.sr // 1000} kHz -> {fe.n_mels}x{frames}"
        if spec.family == "avc":
            inp = "224x224x3 + " + inp
        params = network_param_count(name)
        nonzero = params
        if spec.family == "edgel3":  # the plan's pruned kernel weights are exact zeros
            nonzero -= sum(L3_KERNEL_COUNTS) - kept_weights(name.split("-", 1)[1])
        rows.append((name, inp, str(spec.embedding_dim), f"{params:,}", f"{nonzero:,}", spec.description))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[5])
    return 0


@contextlib.contextmanager
def _warnings_to_stderr():
    """Show the API's warnings as one ``edgel3-mote: warning: ...`` line each."""
    from edgel3_mote.compress.embedding import EdgeL3MoteWarning

    def show(message, category, filename, lineno, file=None, line=None):
        print(f"edgel3-mote: warning: {message}", file=sys.stderr)

    with warnings.catch_warnings():
        warnings.simplefilter("always", EdgeL3MoteWarning)
        warnings.showwarning = show
        yield


def _cmd_embed(args) -> int:
    from pathlib import Path

    from edgel3_mote.compress.audio import find_audio_files
    from edgel3_mote.compress.embedding import _check_hop
    from edgel3_mote.compress.models.registry import get_spec
    from edgel3_mote.errors import InvalidInputError

    # Everything the user can get wrong is checked before TensorFlow loads.
    spec = get_spec(args.model)
    if spec.family == "avc":
        raise InvalidInputError(
            "l3-avc is the audio-visual training model, not an embedding "
            "model: use l3-melspec2, an edgel3-* preset or a sea-* model"
        )
    _check_hop(args.hop_size)
    if args.batch_size < 1:
        raise InvalidInputError(f"invalid --batch-size {args.batch_size}: give a positive integer")
    if args.weights is not None and not Path(args.weights).is_file():
        raise InvalidInputError(f"weights file {args.weights} does not exist: check --weights")
    if args.weights is not None:
        from edgel3_mote.compress.weights import check_model_file

        check_model_file(args.weights, "--weights")
    paths = find_audio_files(args.inputs)
    from edgel3_mote.compress.audio import check_audio_headers

    check_audio_headers(paths)

    from edgel3_mote.compress.embedding import process_file

    with _warnings_to_stderr():
        outputs = process_file(
            paths,
            output_dir=args.output or EMBED_DEFAULT_OUTPUT,
            suffix=args.suffix,
            model=args.model,
            weights=args.weights,
            center=not args.no_centering,
            hop_size=args.hop_size,
            batch_size=args.batch_size,
            verbose=not args.quiet,
        )
    for out in outputs if isinstance(outputs, list) else [outputs]:  # a list of inputs gives a list
        print(out)
    return 0
