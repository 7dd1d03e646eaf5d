"""Fine-tuning a pruned audio network on audio-visual correspondence (AVC), as EdgeL3 did.

The AVC model (``l3-avc``: vision 512 + audio 512 -> Dense 128 -> Dense 2) is trained with the
vision network frozen and the (masked, pruned) audio network trainable. Pairs: a 1-s audio
window and a video frame from the same video and time (corresponding, label [0, 1]) or from
two different videos (label [1, 0]); half of each. Same resumable loop, logs and
``tf.distribute`` scope as distillation.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

from edgel3_mote.errors import InvalidInputError

if TYPE_CHECKING:
    import tensorflow as tf
    import tf_keras as keras

    from edgel3_mote.compress.retrain.distill import DistillConfig


@dataclasses.dataclass
class AvcPairs:
    images: np.ndarray  # (N, H, W, 3) float32 in [-1, 1]
    audio: np.ndarray  # (N, 1, window) float32
    labels: np.ndarray  # (N, 2) one-hot: [different video, same video and time]
    sources: list  # (audio video, audio time, frame video, frame time)

    def __len__(self) -> int:
        return int(len(self.labels))


class _DecodedVideo:
    def __init__(self, segment, sr: int, fps: float, size: tuple[int, int]):
        from edgel3_mote.compress.data.media import read_video_frames
        from edgel3_mote.compress.data.pipeline import load_segment_audio

        self.segment = segment
        self.audio = load_segment_audio(segment, sr)
        self.frames, self.times = read_video_frames(segment.media, fps, size, segment.offset, segment.duration)

    def frame_near(self, t: float) -> np.ndarray:
        return self.frames[int(np.argmin(np.abs(self.times - self.segment.offset - t)))]


def make_avc_pairs(
    segments: Sequence,
    n_pairs: int,
    sr: int,
    image_size: tuple[int, int] = (224, 224),
    seed: int = 0,
    fps: float = 2.0,
    progress: bool = True,
) -> AvcPairs:
    """Balanced positive/negative AVC pairs from matched video segments (decoded once each)."""
    from tqdm import tqdm

    from edgel3_mote.compress.data.media import frame_to_model_input

    if len(segments) < 2:
        raise InvalidInputError("AVC pairs need at least 2 videos (negatives come from another video)")
    videos = [
        _DecodedVideo(s, sr, fps, image_size)
        for s in tqdm(segments, desc="decoding videos", unit="video", disable=not progress)
    ]
    rng = np.random.default_rng(seed)
    images, audio, labels, sources = [], [], [], []
    for k in range(n_pairs):
        a = int(rng.integers(len(videos)))
        va = videos[a]
        span = max(va.audio.size / sr - 1.0, 0.0)
        t = float(rng.uniform(0, span))
        start = int(round(t * sr))
        window = np.zeros(sr, np.float32)
        chunk = va.audio[start : start + sr]
        window[: chunk.size] = chunk
        positive = k % 2 == 0
        if positive:
            f, tf_ = a, t
        else:
            f = int(rng.choice([i for i in range(len(videos)) if i != a]))
            tf_ = float(rng.uniform(0, max(videos[f].audio.size / sr - 1.0, 0.0)))
        images.append(frame_to_model_input(videos[f].frame_near(tf_ + 0.5)))
        audio.append(window[None, :])
        labels.append([0.0, 1.0] if positive else [1.0, 0.0])
        sources.append((va.segment.ytid, round(t, 3), videos[f].segment.ytid, round(tf_, 3)))
    return AvcPairs(
        np.stack(images).astype(np.float32), np.stack(audio).astype(np.float32), np.asarray(labels, np.float32), sources
    )


def freeze_vision(avc: keras.Model) -> None:
    """Vision network frozen (its BN in inference mode); everything else trainable."""
    vision = avc.get_layer("vision_model")
    vision.trainable = False


def finetune(
    models: Callable,
    train: AvcPairs,
    run_dir: str | Path,
    config: DistillConfig,
    val: AvcPairs | None = None,
    strategy: tf.distribute.Strategy | None = None,
    resume: bool = True,
    callbacks: list | None = None,
) -> dict:
    """Train ``models()`` (the AVC model, built in the strategy scope) on AVC pairs.

    ``config`` is a :class:`~edgel3_mote.compress.retrain.distill.DistillConfig` (its
    training fields). Returns a summary with ``model``, accuracy before/after and history.
    """
    import tensorflow as tf
    import tf_keras as keras

    from edgel3_mote.compress.retrain.distill import resumable_fit
    from edgel3_mote.compress.retrain.distribute import describe, detach, get_strategy

    config.check()
    strategy = strategy or get_strategy("default")
    keras.utils.set_random_seed(config.seed)
    with strategy.scope():
        avc = models()
        freeze_vision(avc)
        optimizer = keras.optimizers.Adam(learning_rate=config.learning_rate)
        avc.compile(optimizer=optimizer, loss="categorical_crossentropy", metrics=["accuracy"])
        optimizer.build(avc.trainable_variables)
    frozen = [v.numpy().copy() for v in avc.get_layer("vision_model").weights]

    def accuracy(pairs):
        b = config.batch_size
        out = np.concatenate(
            [
                avc([pairs.images[i : i + b], pairs.audio[i : i + b]], training=False).numpy()
                for i in range(0, len(pairs), b)
            ]
        )
        return float(np.mean(np.argmax(out, 1) == np.argmax(pairs.labels, 1)))

    before = {"train_accuracy": accuracy(train)}
    if val is not None:
        before["val_accuracy"] = accuracy(val)
    checkpoint = tf.train.Checkpoint(model=avc, optimizer=optimizer)
    fit = resumable_fit(
        avc,
        checkpoint,
        (train.images, train.audio),
        train.labels,
        Path(run_dir),
        config,
        val=None if val is None else ([val.images, val.audio], val.labels),
        resume=resume,
        callbacks=callbacks,
    )
    avc = detach(avc)  # the last collective: every worker reads the trained values
    vision_unchanged = all(np.array_equal(a, v.numpy()) for a, v in zip(frozen, avc.get_layer("vision_model").weights))
    after = {"train_accuracy": accuracy(train)}
    if val is not None:
        after["val_accuracy"] = accuracy(val)
    return {
        "model": avc,
        "before": before,
        "after": after,
        "history": fit["history"],
        "epochs_run": len(fit["history"]),
        "vision_unchanged": vision_unchanged,
        "distribute": describe(strategy),
        "config": dataclasses.asdict(config),
        "train_pairs": len(train),
        "val_pairs": 0 if val is None else len(val),
    }


def pruned_avc_builder(
    plan: str | Sequence[float] | None,
    avc_weights: str | os.PathLike | None = None,
    seed: int = 0,
    audio_model_file: str | os.PathLike | None = None,
) -> Callable[[], keras.Model]:
    """``() -> AVC model`` whose audio network is masked and pruned (plan) or loaded from a file."""

    def build():
        from edgel3_mote.compress.models.avc import build_avc_model
        from edgel3_mote.compress.models.l3 import build_l3_audio_model
        from edgel3_mote.compress.models.registry import build_model
        from edgel3_mote.compress.pruning import presets
        from edgel3_mote.compress.pruning.masked import MaskedConv2D, masked_copy

        avc = build_model("l3-avc", weights=avc_weights, seed=seed)
        vision, audio = avc.get_layer("vision_model"), avc.get_layer("audio_model")
        if audio_model_file is not None:
            from edgel3_mote.compress.retrain.rundir import load_model

            audio = load_model(audio_model_file)
        else:
            audio = masked_copy(audio, lambda conv_cls: build_l3_audio_model(conv_cls=conv_cls, embedding_bn=True))
            if plan is not None:
                presets.apply_plan(audio, plan)
        if not any(isinstance(l, MaskedConv2D) for l in audio.layers):
            print("note: the audio network has plain Conv2D layers: its zeros may not stay zero")
        return build_avc_model(vision, audio, compile=False)

    return build


def register_finetune(subparsers: argparse._SubParsersAction, add_training_args: Callable[..., None]) -> None:
    f = subparsers.add_parser(
        "finetune",
        help="fine-tune a pruned audio network on audio-visual correspondence",
        description="Train the AVC model (l3-avc) with the vision network frozen and a pruned, "
        "masked audio network trainable, on positive/negative audio-frame pairs "
        "from local videos listed in an AudioSet-format segments CSV. Writes "
        "OUT/config.json, logs/, checkpoints/, model.h5 (AVC), audio_model.h5, "
        "summary.json.",
    )
    f.add_argument("--segments", type=Path, required=True, help="AudioSet-format segments CSV")
    f.add_argument("--media", nargs="+", type=Path, required=True, help="folders of <YTID>.* videos")
    f.add_argument("--ontology", type=Path, help="AudioSet ontology.json (label names, children)")
    f.add_argument("--accept", nargs="+", default=[], help="keep segments with any of these labels")
    f.add_argument("--reject", nargs="+", default=[], help="drop segments with any of these labels")
    f.add_argument("--no-children", action="store_true", help="labels do not include ontology children")
    f.add_argument("--avc-weights", type=Path, help="AVC checkpoint h5 (default seeded random)")
    f.add_argument(
        "--audio-plan", nargs="+", default=["95.45"], help="pruning plan of the audio network (default 95.45 = EdgeL3)"
    )
    f.add_argument("--audio-model", type=Path, help="use this saved audio network instead")
    f.add_argument("--pairs", type=int, default=256, help="training pairs (half positive)")
    f.add_argument("--val-pairs", type=int, default=64, help="validation pairs (other seed)")
    add_training_args(f, epochs=20, batch_size=16, lr=1e-4)
    f.set_defaults(func=run_finetune)
    from edgel3_mote.compress.retrain.cli import declare_run_outputs

    declare_run_outputs(f, "finetune", ("audio_model.{fmt}",))


def run_finetune(args: argparse.Namespace) -> int:
    import edgel3_mote  # noqa: F401
    from edgel3_mote.compress.data import audioset
    from edgel3_mote.compress.models.registry import get_spec
    from edgel3_mote.compress.pruning import layerwise, presets
    from edgel3_mote.compress.retrain import rundir
    from edgel3_mote.compress.retrain.cli import prepare_run_dir
    from edgel3_mote.compress.retrain.distill import DistillConfig
    from edgel3_mote.compress.retrain.distribute import get_strategy, is_chief
    from edgel3_mote.compress.weights import check_model_file

    for flag, ref in (("--avc-weights", args.avc_weights), ("--audio-model", args.audio_model)):
        if ref is not None:
            check_model_file(ref, flag)  # before the run folder exists
    plan = None if args.audio_model else list(presets.resolve_plan(args.audio_plan)[1])
    segments = audioset.read_segments(args.segments)
    if args.accept or args.reject:
        ontology = audioset.Ontology.load(args.ontology) if args.ontology else None
        segments = audioset.filter_segments(
            segments, args.accept, args.reject, ontology, include_children=not args.no_children
        )
    segments, missing = audioset.match_media(segments, args.media)
    print(f"{len(segments)} segments with local media ({len(missing)} without)")
    strategy = get_strategy(args.strategy)
    resume = prepare_run_dir(args, "finetune")
    sr = int(get_spec("l3-avc").frontend.sr)
    train = make_avc_pairs(segments, args.pairs, sr, seed=args.seed)
    val = make_avc_pairs(segments, args.val_pairs, sr, seed=args.seed + 1) if args.val_pairs else None
    config = DistillConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        checkpoint_every=args.checkpoint_every,
        patience=args.patience,
        lr_patience=args.lr_patience,
        seed=args.seed,
        tensorboard=not args.no_tensorboard,
    )
    result = finetune(
        pruned_avc_builder(plan, args.avc_weights and str(args.avc_weights), args.seed, args.audio_model),
        train,
        args.output,
        config,
        val=val,
        strategy=strategy,
        resume=resume,
    )
    avc = result.pop("model")
    if not is_chief():
        return 0
    rundir.save_model(avc, rundir.model_path(args.output, args.format))
    audio = avc.get_layer("audio_model")
    rundir.save_model(audio, args.output / f"audio_model.{args.format}")
    rows = layerwise.layer_sparsity(audio)
    result.update(
        {"audio_layers": rows, "audio_sparsity": layerwise.total_sparsity(rows), "segments": [s.ytid for s in segments]}
    )
    rundir.write_json(args.output / "summary.json", result)
    print(
        f"accuracy {result['before']} -> {result['after']}; audio sparsity "
        f"{result['audio_sparsity']:.2f} %; wrote {args.output}"
    )
    return 0
