"""The downstream classifier (the MLP head) as an int8 model that runs on the mote after the embedding.

``export_classifier(head_h5, embedding_manifest, calibration_embeddings, out_dir)`` converts a
head saved by ``edgel3-mote evaluate --save-classifier`` (StandardScaler already folded into its
first Dense) to a full-integer int8 TFLite of FULLY_CONNECTED ops, and writes
``head_int8.tflite`` + ``head_manifest.json``.

Two choices make the head chain onto the embedding engine with no glue code:

- The head's INPUT quantisation is the embedding model's OUTPUT quantisation (scale and zero
  point from the embedding's ``manifest.json``), so the embedding engine's int8 output is the
  head engine's int8 input byte for byte, with no requantisation. The converter calibrates its
  input range as min/max of the representative data, then sets ``scale = (max - min) / 255``,
  ``zero_point = -128 - min / scale``; we add the two extremes the embedding can express,
  ``(-128 - zp) * s`` and ``(127 - zp) * s``, to one element each of two calibration rows, which
  yields exactly ``(s, zp)``. A last-ulp difference of the scale is written over in a patched
  copy of the model (``ir.with_tensor_quantization``; TFLM and the code generator both derive the
  multipliers from the tensor scales); anything larger is an error.
- The final softmax is dropped: the engine has no SOFTMAX kernel, and softmax is monotonic, so
  the device returns int8 LOGITS and the class is their argmax on either side. Probabilities,
  where wanted, are ``softmax(dequantised logits)`` on the host.

``head_agreement(...)`` is the host-side check: how often the int8 head (TFLite Micro) picks
the same class as the float classifier on the dequantised embeddings.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from edgel3_mote.atomic import atomic_dir
from edgel3_mote.errors import ExportError, InvalidInputError
from edgel3_mote.export.manifest import Manifest, TensorInfo

HEAD_TFLITE = "head_int8.tflite"
HEAD_MANIFEST = "head_manifest.json"
# The scale may differ from the embedding's in the last float32 bits only.
SCALE_RTOL = 1e-5


def _load_manifest(manifest) -> Manifest:
    """The embedding export's manifest: a Manifest, its JSON dict, its path or its export folder."""
    if isinstance(manifest, Manifest):
        m = manifest
    elif isinstance(manifest, dict):
        m = Manifest.from_dict(manifest, source="the embedding manifest")
    else:
        m = Manifest.load(manifest)
    if m.output.scale is None or m.output.zero_point is None or not m.output.shape:
        raise InvalidInputError("the embedding manifest has no output scale/zero_point/shape; re-run the export")
    return m


def _load_head(head_h5):
    """(float model with softmax, class names, logits model) of a saved classifier."""
    import tf_keras as keras

    from edgel3_mote.compress.evaluate.protocol import check_saved_classifier, classes_path

    head_h5 = Path(head_h5)
    sidecar = classes_path(head_h5)
    classes = check_saved_classifier(head_h5)
    model = keras.models.load_model(head_h5, compile=False)
    dense = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    if not dense or not all(isinstance(layer, keras.layers.Dense) for layer in dense):
        raise ExportError(
            f"{head_h5} is not a plain Dense stack (layers: {[type(x).__name__ for x in dense]}); "
            f"export the MLP saved by --save-classifier"
        )
    if dense[-1].units != len(classes):
        raise ExportError(f"{head_h5} has {dense[-1].units} outputs but {len(classes)} class names in {sidecar}")
    # the same stack with a linear last layer: logits (softmax is monotonic; the engine lacks it)
    x = inp = keras.Input(model.input_shape[1:])
    for i, layer in enumerate(dense):
        cfg = layer.get_config()
        if i == len(dense) - 1:
            if cfg["activation"] not in ("softmax", "linear"):
                raise ExportError(f"the classifier's last activation is {cfg['activation']}; expected softmax")
            cfg["activation"] = "linear"
        new = keras.layers.Dense.from_config(cfg)
        x = new(x)
        new.set_weights(layer.get_weights())
    return model, classes, keras.Model(inp, x)


def dequantize(q: np.ndarray, quant: TensorInfo) -> np.ndarray:
    return (np.asarray(q, np.float32) - np.float32(quant.zero_point)) * np.float32(quant.scale)


def _representative(cal: np.ndarray, quant: TensorInfo, kernel: np.ndarray) -> np.ndarray:
    """Calibration rows whose overall min/max are exactly the embedding's int8 range."""
    scale, zp = quant.quant
    s = np.float32(scale)
    lo, hi = np.float32((-128 - zp) * s), np.float32((127 - zp) * s)
    if len(cal) < 2:
        raise InvalidInputError(f"need at least 2 calibration embeddings, got {len(cal)}")
    rows = np.clip(cal, lo, hi).astype(np.float32)
    # put each extreme on the feature the head weighs least, to disturb the hidden ranges least
    quiet = int(np.argmin(np.abs(kernel).sum(axis=1)))
    rows[0, quiet], rows[1, quiet] = hi, lo
    return rows


def _convert(logits_model, rows: np.ndarray) -> bytes:
    import warnings

    import tensorflow as tf

    def dataset():
        for r in rows:
            yield [r[None]]

    conv = tf.lite.TFLiteConverter.from_keras_model(logits_model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = dataset
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Statistics for quantized inputs")
        return bytes(conv.convert())


def _match_input_quant(tflite: bytes, quant: TensorInfo) -> bytes:
    """The converted head with its input quantisation exactly the embedding's output quantisation.

    Only a last-ulp difference of the scale is written over (by ``ir.with_tensor_quantization``);
    anything larger, or another zero point, is an error.
    """
    from edgel3_mote.export.ir import read_tflite, with_tensor_quantization

    graph = read_tflite(tflite, supported=None)
    x = graph.tensor(graph.inputs[0])
    if x.scale is None or x.zero_point is None or len(x.scale) != 1 or len(x.zero_point) != 1:
        raise ExportError("the converted head's input is not per-tensor quantised")
    scale, zp = float(x.scale[0]), int(x.zero_point[0])
    scale_f, want_zp = quant.quant
    want_s = np.float32(scale_f)
    if zp != want_zp or abs(scale - float(want_s)) > SCALE_RTOL * float(want_s):
        raise ExportError(
            f"the head's input quantisation ({scale}, {zp}) does not match the embedding's output "
            f"({float(want_s)}, {want_zp}); check the calibration embeddings come from this model"
        )
    if np.float32(scale) != want_s:
        tflite = with_tensor_quantization(tflite, x.id, float(want_s), zp)
    return tflite


def export_classifier(head_h5, embedding_manifest, calibration_embeddings, out_dir) -> dict:
    """Convert the saved classifier to ``out_dir/head_int8.tflite`` + ``head_manifest.json``.

    calibration_embeddings: (N, D) embeddings of this embedding model -- float (dequantised) or
    the int8 engine outputs (dequantised here with the manifest). Returns the head manifest.
    """
    from edgel3_mote.export.ir import read_tflite

    emb_manifest = _load_manifest(embedding_manifest)
    quant = emb_manifest.output
    dim = int(np.prod(quant.shape[1:]))
    float_model, classes, logits_model = _load_head(head_h5)
    if int(float_model.input_shape[-1]) != dim:
        raise InvalidInputError(
            f"the classifier takes {float_model.input_shape[-1]}-d embeddings but the embedding "
            f"model {emb_manifest.model} gives {dim}; train it on this model's embeddings"
        )
    cal = np.asarray(calibration_embeddings)
    if cal.ndim != 2 or cal.shape[1] != dim:
        raise InvalidInputError(f"calibration embeddings of shape {cal.shape}; expected (N, {dim})")
    cal = dequantize(cal, quant) if cal.dtype == np.int8 else cal.astype(np.float32)
    kernel = logits_model.layers[1].get_weights()[0]
    tflite = _match_input_quant(_convert(logits_model, _representative(cal, quant, kernel)), quant)

    graph = read_tflite(tflite)
    kinds = [op.kind for op in graph.ops]
    if set(kinds) - {"FULLY_CONNECTED", "RESHAPE"}:
        raise ExportError(f"the int8 head has ops {kinds}; expected FULLY_CONNECTED only")
    x, y = graph.tensor(graph.inputs[0]), graph.tensor(graph.outputs[0])
    (x_scale, x_zp), (y_scale, y_zp) = x.quant, y.quant
    manifest = {
        "classes": classes,
        "head": str(head_h5),
        "embedding": {"model": emb_manifest.model, "sha256": emb_manifest.sha256},
        "input": {"shape": list(x.shape), "scale": x_scale, "zero_point": x_zp},
        "output": {
            "shape": list(y.shape),
            "scale": y_scale,
            "zero_point": y_zp,
            "meaning": "int8 logits (softmax dropped): class = argmax",
        },
        "ops": kinds,
        "sha256": hashlib.sha256(tflite).hexdigest(),
        "sizes": {
            "int8_tflite_bytes": len(tflite),
            "weight_bytes": sum(int(t.constant.nbytes) for t in graph.tensors if t.is_constant),
        },
        "calibration_rows": int(len(cal)),
    }
    with atomic_dir(out_dir, "export classifier") as tmp:
        (tmp / HEAD_TFLITE).write_bytes(tflite)
        (tmp / HEAD_MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def _int8_rows(embeddings_int8) -> np.ndarray:
    q = np.asarray(embeddings_int8)
    if q.dtype != np.int8 or q.ndim != 2 or len(q) == 0:
        raise InvalidInputError(f"embeddings_int8 must be a non-empty (N, D) int8 array, got {q.dtype} {q.shape}")
    return q


def int8_head_logits(head_tflite, embeddings_int8) -> np.ndarray:
    """(N, classes) int8 logits of the int8 head run by TFLite Micro (what the mote returns)."""
    from edgel3_mote.export.reference import TflmRunner

    data = bytes(head_tflite) if isinstance(head_tflite, (bytes, bytearray)) else Path(head_tflite).read_bytes()
    runner = TflmRunner(data)
    return np.stack([runner.invoke(row).reshape(-1) for row in _int8_rows(embeddings_int8)])


def float_head_classes(head_h5, embeddings_int8, manifest) -> np.ndarray:
    """The float classifier's class per row, on the embeddings dequantised with ``manifest``."""
    quant = _load_manifest(manifest).output
    float_model, _, _ = _load_head(head_h5)
    probs = float_model.predict(dequantize(_int8_rows(embeddings_int8), quant), batch_size=1024, verbose=0)
    return np.argmax(probs, axis=1)


def head_agreement(head_tflite, head_h5, embeddings_int8, manifest) -> float:
    """% of rows where argmax of the int8 head (TFLite Micro) equals the float classifier's argmax.

    embeddings_int8: (N, D) int8 embedding outputs; the float classifier sees them dequantised
    with the embedding ``manifest`` (path or dict). head_tflite: bytes or a path.
    """
    device = np.argmax(int8_head_logits(head_tflite, embeddings_int8), axis=1)
    host = float_head_classes(head_h5, embeddings_int8, manifest)
    return float(100.0 * np.mean(device == host))
