"""Load the original Keras 2 (2.0.x) h5 files into the tf_keras models of this package.

Layouts understood (all written by Keras 2's ``save_weights_to_hdf5_group``):

- full-model files (``model.save``): weights under ``model_weights/``, e.g. the released
  ``edgel3_sea_ust_audio_emb_64.h5`` with its kapre ``Melspectrogram`` layer;
- weights-only files (``model.save_weights``): ``layer_names`` at the root;
- l3embedding AVC checkpoints, single-GPU: the nested ``vision_model`` / ``audio_model``
  groups hold their layers' weights (``vision_model/conv2d_1/kernel:0`` ...);
- l3embedding AVC checkpoints, multi-GPU (``multi_gpu_model``): one nested group named after
  the inner model (``cnn_L3_melspec2``) holds every weight of both networks and the head.

Weights are matched by layer name when every layer of the target (sub-)network is found by
name in the file's matching network; otherwise by position (the n-th conv, the BN after it,
the input BN, the n-th dense), which is how the AVC checkpoints' auto-numbered names
(``conv2d_8`` for the first audio conv) map onto ours. Every target weight must be found with
its exact shape, or a :class:`WeightsError` names the layer and the file; nothing is assigned
until everything has been checked, so a failed load leaves the model untouched.
Nested groups list trainable weights before non-trainable ones (Keras 2 ``Model.weights``),
so a layer's weights are gathered by name, and layers are ordered by first appearance.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np

from edgel3_mote.errors import WeightsError

if TYPE_CHECKING:
    import tf_keras as keras

BN_WEIGHTS = ("gamma", "beta", "moving_mean", "moving_variance")
FRONTEND_WEIGHTS = ("real_kernels", "imag_kernels", "mel")  # positional: kapre stores the mel matrix as Variable:0
NETWORK_CONTAINERS = {"vision_model": "vision", "audio_model": "audio"}


@dataclass
class SourceLayer:
    """One layer's weights as stored in the file."""

    container: str | None  # top-level group when the layer sits inside a nested model
    name: str
    weights: dict[str, np.ndarray]  # short name ('kernel', 'gamma', ...) -> array, file order

    @property
    def kind(self) -> str:
        return _kind(list(self.weights), [a.ndim for a in self.weights.values()])


@dataclass
class LoadReport:
    """What a load did: how many arrays came from the file, and what was left over."""

    path: str
    layout: str  # full-model | weights-only | avc-single-gpu | avc-multi-gpu
    keras_version: str | None
    matched_layers: int = 0
    matched_arrays: int = 0
    file_arrays: int = 0
    modes: dict[str, str] = field(default_factory=dict)  # target part -> by-name | by-position
    unused_layers: list[str] = field(default_factory=list)
    frontend_from_file: bool = False

    def summary(self) -> str:
        return (
            f"{self.matched_arrays} of {self.file_arrays} arrays from {Path(self.path).name} "
            f"({self.layout}; {', '.join(f'{k}: {v}' for k, v in self.modes.items())})"
        )


def _kind(short_names: list[str], ndims: list[int]) -> str:
    names = set(short_names)
    if "real_kernels" in names:
        return "frontend"
    if "moving_mean" in names or "gamma" in names:
        return "bn"
    if "kernel" in names:
        return "conv" if ndims[short_names.index("kernel")] == 4 else "dense"
    return "other"


def _decode(names) -> list[str]:
    return [n.decode("utf8") if isinstance(n, bytes) else str(n) for n in names]


@contextlib.contextmanager
def _plain_h5(path: Path) -> Iterator[Path]:
    """Yield a path to the h5 itself; ``.gz`` files are gunzipped to a temporary file first."""
    with open(path, "rb") as f:
        gzipped = f.read(2) == b"\x1f\x8b"
    if not gzipped:
        yield path
        return
    fd, tmp = tempfile.mkstemp(suffix=".h5", prefix="edgel3-mote-weights-")
    try:
        with os.fdopen(fd, "wb") as fout, gzip.open(path, "rb") as fin:
            shutil.copyfileobj(fin, fout)
    except (OSError, EOFError) as exc:
        os.unlink(tmp)
        raise WeightsError(
            f"{path} is not a valid gzip file ({exc}): re-download it or give the uncompressed .h5"
        ) from None
    try:
        yield Path(tmp)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def check_model_file(path: str | os.PathLike, flag: str) -> Path:
    """Refuse, in one line naming the file, a weight / model file that cannot be one -- before any work:
    missing, empty, or not HDF5 (``.h5``; ``.h5.gz``: not gzip), not a zip (``.keras``). Cheap: no TensorFlow."""
    import zipfile

    import h5py

    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{flag} {path} does not exist: check the path")
    size = path.stat().st_size
    if size == 0:
        raise WeightsError(f"{flag} {path} is empty (0 bytes): re-download or re-export it")
    with open(path, "rb") as f:
        head = f.read(2)
    if path.suffix == ".keras":
        ok, kind = zipfile.is_zipfile(path), "a .keras (zip) model"
    elif head == b"\x1f\x8b":
        ok, kind = True, "gzip"  # decompressed (and checked) when read
    else:
        ok, kind = h5py.is_hdf5(str(path)), "an HDF5 (.h5) file"
    if not ok:
        raise WeightsError(
            f"{flag} {path} is not {kind} ({size:,} bytes): it is corrupt or another kind of file; "
            f"re-download or re-export it"
        )
    return path


def read_weight_file(path: str | os.PathLike) -> tuple[str, str | None, list[SourceLayer]]:
    """Read every weight of a Keras 2 h5 file: ``(layout, keras_version, layers)``."""
    import h5py

    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file {path} does not exist: check the path")
    with _plain_h5(path) as h5_path:
        try:
            f = h5py.File(h5_path, "r")
        except OSError as exc:
            raise WeightsError(
                f"{path} is not a readable HDF5 file ({exc}): it is corrupt or not a "
                f"Keras .h5; re-download or re-export it"
            ) from None
        with f:
            full_model = "model_weights" in f
            root = f["model_weights"] if full_model else f
            if "layer_names" not in root.attrs:
                raise WeightsError(
                    f"{path} has no Keras 2 layer list (attribute 'layer_names'): "
                    f"give a Keras 2 .h5 model or weights file"
                )
            version = root.attrs.get("keras_version", f.attrs.get("keras_version"))
            version = _decode([version])[0] if version is not None else None
            layers: list[SourceLayer] = []
            for group_name in _decode(root.attrs["layer_names"]):
                layers += _read_group(path, root, group_name)
    containers = {l.container for l in layers} - {None}
    if containers & set(NETWORK_CONTAINERS):
        layout = "avc-single-gpu"
    elif containers:
        layout = "avc-multi-gpu"
    else:
        layout = "full-model" if full_model else "weights-only"
    return layout, version, layers


def _read_group(path: Path, root, group_name: str) -> list[SourceLayer]:
    try:
        group = root[group_name]
        weight_names = _decode(group.attrs.get("weight_names", []))
        grouped: dict[str, dict[str, np.ndarray]] = {}
        for weight_name in weight_names:
            prefix, _, short = weight_name.rpartition("/")
            sub = prefix.split("/")[-1] if prefix else group_name
            short = short.split(":")[0]
            key = sub
            while short in grouped.get(key, {}):  # same name again: a different layer
                key += "'"
            grouped.setdefault(key, {})[short] = np.asarray(group[weight_name][()])
    except (KeyError, OSError, ValueError) as exc:
        raise WeightsError(
            f"{path}: layer {group_name!r} is damaged ({exc}): the file is corrupt; re-download or re-export it"
        ) from None
    nested = len(grouped) > 1 or (len(grouped) == 1 and next(iter(grouped)) != group_name)
    return [SourceLayer(group_name if nested else None, name.rstrip("'"), ws) for name, ws in grouped.items()]


# ---------------------------------------------------------------- network segments


def _family_of_names(names: list[str], has_frontend: bool) -> str:
    for n in names:
        if n.endswith("_embedding_layer"):
            return n.split("_")[0]  # 'audio' | 'vision'
    return "audio" if has_frontend else "any"


def _source_segments(layers: list[SourceLayer]) -> dict[str, list[SourceLayer]]:
    """Split the file's layers into networks: 'audio', 'vision', 'head' (dense) or 'any'."""
    segments: dict[str, list[SourceLayer]] = {}
    weighted = [l for l in layers if l.kind != "other"]
    dense = [l for l in weighted if l.kind == "dense"]
    if dense:
        segments["head"] = dense
    if any(l.container in NETWORK_CONTAINERS for l in weighted):
        for l in weighted:
            if l.container in NETWORK_CONTAINERS and l.kind != "dense":
                segments.setdefault(NETWORK_CONTAINERS[l.container], []).append(l)
        return segments
    frontends = [l for l in weighted if l.kind == "frontend"]
    convs_bns = [l for l in weighted if l.kind in ("conv", "bn")]
    cuts = []
    for i, l in enumerate(convs_bns):
        if l.name.endswith("_embedding_layer"):
            end = i + 1
            if end < len(convs_bns) and convs_bns[end].kind == "bn":
                end += 1
            cuts.append((l.name.split("_")[0], end))
    start = 0
    for family, end in cuts:
        segments[family] = convs_bns[start:end]
        start = end
    if not cuts or start < len(convs_bns):
        family = "any" if not cuts else "extra"
        segments[family] = convs_bns[start:]
    if frontends:
        key = "audio" if "audio" in segments else "any"
        segments[key] = frontends + segments.get(key, [])
    return segments


def _roles(kinds: list[str]) -> list[str]:
    """Positional roles: frontend, input_bn, conv1.., bn1 (BN after conv 1).., dense1.."""
    roles, n_conv, n_dense = [], 0, 0
    for kind in kinds:
        if kind == "frontend":
            roles.append("frontend")
        elif kind == "conv":
            n_conv += 1
            roles.append(f"conv{n_conv}")
        elif kind == "bn":
            roles.append(f"bn{n_conv}" if n_conv else "input_bn")
        elif kind == "dense":
            n_dense += 1
            roles.append(f"dense{n_dense}")
    return roles


# ---------------------------------------------------------------- target side


def _target_kind(layer) -> str:
    import tf_keras as keras

    if isinstance(layer, keras.layers.BatchNormalization):
        return "bn"
    names = [_short(w) for w in layer.weights]
    if not names:
        return "other"
    return _kind(names, [len(w.shape) for w in layer.weights])


def _short(variable) -> str:
    return variable.name.split("/")[-1].split(":")[0]


def _target_parts(model) -> list[tuple[str, str, list]]:
    """``(part name, family, weighted layers)`` for the model and each nested network."""
    import tf_keras as keras

    parts, own = [], []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            parts += _target_parts(layer)
        elif _target_kind(layer) != "other":
            own.append(layer)
    if own:
        kinds = [_target_kind(l) for l in own]
        if all(k == "dense" for k in kinds):
            family = "head"
        else:
            family = _family_of_names([l.name for l in own], "frontend" in kinds)
        parts.insert(0, (model.name, family, own))
    return parts


def _required_weights(layer, kind: str) -> list[tuple[str, Any]]:  # (short name, tf.Variable)
    """``(file short name, variable)`` pairs a target layer needs from the file."""
    variables = {_short(w): w for w in layer.weights}
    if kind == "frontend":
        return list(zip(FRONTEND_WEIGHTS, layer.weights[:3]))
    if kind == "bn":
        return [(n, variables[n]) for n in BN_WEIGHTS if n in variables]
    return [(n, variables[n]) for n in ("kernel", "bias") if n in variables]


def _source_array(src: SourceLayer, short: str) -> np.ndarray | None:
    if src.kind == "frontend":
        values = list(src.weights.values())
        index = FRONTEND_WEIGHTS.index(short)
        return values[index] if index < len(values) else None
    return src.weights.get(short)


def load_weights(model: keras.Model, path: str | os.PathLike) -> LoadReport:
    """Load an original Keras 2 h5 file into ``model`` (audio, vision, backbone or AVC).

    Returns a :class:`LoadReport`; raises :class:`WeightsError` (naming the layer and the file)
    for a corrupt file, a different architecture, or a missing or mis-shaped weight, in which
    case the model is left exactly as it was.
    """
    layout, version, layers = read_weight_file(path)
    report = LoadReport(str(path), layout, version, file_arrays=sum(len(l.weights) for l in layers))
    segments = _source_segments(layers)
    used: set[int] = set()
    assignments: list[tuple[Any, np.ndarray]] = []
    for part_name, family, targets in _target_parts(model):
        source = _pick_segment(segments, family, part_name, path)
        try:
            pairs, mode = _match(targets, source, part_name, family, path)
            report.modes[part_name] = mode
            assignments += _check_pairs(pairs, part_name, path, report, used)
        except WeightsError:
            missing = [
                t.name for t in targets if _target_kind(t) != "frontend" and t.name not in {l.name for l in source}
            ]
            found = sum(_target_kind(t) != "frontend" for t in targets) - len(missing)
            if missing and found > len(missing):
                # Most names match, so this is the same naming with layers missing, not a
                # renumbered checkpoint: name what is missing rather than a position mismatch.
                raise WeightsError(
                    f"{path}: no layer {', '.join(map(repr, missing))} for "
                    f"{part_name!r} in the file: give the weights file of this "
                    f"model"
                ) from None
            raise
    for variable, array in assignments:  # everything checked: now assign
        variable.assign(array.astype(variable.dtype.as_numpy_dtype))
    report.matched_arrays = len(assignments)
    report.unused_layers = [l.name for l in layers if id(l) not in used and l.kind != "other"]
    return report


def _check_pairs(pairs, part_name, path, report, used) -> list[tuple[Any, np.ndarray]]:
    """Check every (target layer, file layer) pair's weights; return what to assign."""
    assignments = []
    for target, src in pairs:
        if src is None:
            continue  # front-end not in the file: keep the computed one
        if src.kind == "frontend":
            report.frontend_from_file = True
        used.add(id(src))
        report.matched_layers += 1
        for short, variable in _required_weights(target, _target_kind(target)):
            array = _source_array(src, short)
            where = f"{path}: layer {target.name!r} of {part_name!r} (file layer {src.name!r})"
            if array is None:
                raise WeightsError(f"{where} has no {short!r} weight: the file is for a different architecture")
            if tuple(array.shape) != tuple(variable.shape):
                raise WeightsError(
                    f"{where}: {short!r} has shape {tuple(array.shape)} in the "
                    f"file but {tuple(variable.shape)} in the model: the file is "
                    f"for a different architecture"
                )
            assignments.append((variable, array))
    return assignments


def _pick_segment(segments, family, part_name, path) -> list[SourceLayer]:
    order = {
        "audio": ["audio", "any"],
        "vision": ["vision", "any"],
        "head": ["head"],
        "any": ["audio", "any", "vision"],
    }[family]
    for key in order:
        if key in segments:
            return segments[key]
    raise WeightsError(
        f"{path} holds no {family} network for {part_name!r} (it has: "
        f"{', '.join(sorted(segments)) or 'no weights'}): give a weights file of "
        f"this model"
    )


def _match(targets, source, part_name, family, path):
    """Pair each target layer with a file layer, by name if possible, else by position."""
    names = {l.name: l for l in source if l.kind != "frontend"}
    wanted = [t for t in targets if _target_kind(t) != "frontend"]
    src_front = next((l for l in source if l.kind == "frontend"), None)
    if all(t.name in names for t in wanted):
        pairs = [(t, src_front if _target_kind(t) == "frontend" else names[t.name]) for t in targets]
        return pairs, "by-name"
    source_roles = dict(zip(_roles([l.kind for l in source]), source))
    pairs = []
    for target, role in zip(targets, _roles([_target_kind(t) for t in targets])):
        src = source_roles.get(role)
        if src is None and role != "frontend":
            raise WeightsError(
                f"{path}: no weights for layer {target.name!r} ({role}) of "
                f"{part_name!r}: the file's {family} network has "
                f"{sum(l.kind == 'conv' for l in source)} convs and "
                f"{sum(l.kind == 'bn' for l in source)} BNs; give the weights "
                f"file of this model"
            )
        pairs.append((target, src))
    return pairs, "by-position"
