"""The classifier head on the mote: int8 head export, its engine, the chained engines, agreement.

One module fixture runs ``edgel3-mote evaluate --numeric int8 --save-classifier`` with the real
SEA-64 on 1-s segments of three real animal recordings (few epochs): that gives the int8
embedding export, its int8 embeddings (the cache) and the deployable head, all real.
"""

from __future__ import annotations

import ctypes
import json

import numpy as np
import pytest
from codegen_models import KERNEL_SOURCES

from edgel3_mote.cli import main
from edgel3_mote.errors import ExportError
from edgel3_mote.export.classifier import HEAD_MANIFEST, HEAD_TFLITE, export_classifier, head_agreement
from edgel3_mote.export.codegen import generate_engine
from edgel3_mote.export.manifest import Manifest
from edgel3_mote.export.reference import TflmRunner

CHAIN_C = """#include <string.h>
#include "model_engine.h"
#include "em_head_engine.h"
typedef char em_chain_fits[(EM_OUTPUT_BYTES == EM_HEAD_INPUT_BYTES) ? 1 : -1];
/* spectrogram already in em_model_input(); the embedding goes straight into the head's input */
int em_chain_invoke(int8_t *embedding, int8_t *logits) {
  int status = em_model_invoke(embedding, 0);
  if (status != 0) return status;
  memcpy(em_head_input(), embedding, EM_HEAD_INPUT_BYTES);
  return em_head_invoke(logits, 0);
}
"""


@pytest.fixture(scope="module")
def deployed(tmp_path_factory, clips_dir, sea64_weights):
    from edgel3_mote.tools.make_animal_segments import main as make_segments

    root = tmp_path_factory.mktemp("head")
    sub = root / "three"
    sub.mkdir()
    for name in ("cow", "dog", "owl"):
        (sub / f"{name}.mp3").symlink_to(clips_dir / f"{name}.mp3")
    assert make_segments([str(sub), str(root / "set"), "--folds", "3"]) == 0
    out = root / "report"
    head_h5 = root / "head.h5"
    assert (
        main(
            [
                "evaluate",
                "--dataset",
                "folder",
                "--root",
                str(root / "set"),
                "--folds",
                "3",
                "--model",
                "sea-64",
                "--weights",
                str(sea64_weights),
                "--numeric",
                "int8",
                "--calibration",
                str(sub),
                "--calibration-steps",
                "20",
                "--epochs",
                "5",
                "--patience",
                "3",
                "--learning-rate",
                "1e-3",
                "--hop-size",
                "0.5",
                "--save-classifier",
                str(head_h5),
                "-o",
                str(out),
            ]
        )
        == 0
    )
    export = next((out / "exports").iterdir())
    manifest = Manifest.load(export)
    scale, zp = manifest.output.quant
    deq = np.concatenate([np.load(p)["embedding"] for p in sorted((out / "cache").rglob("*.npz"))])
    emb_q = np.round(deq / np.float32(scale) + zp).astype(np.int8)
    assert np.allclose((emb_q.astype(np.float32) - zp) * np.float32(scale), deq, atol=1e-6)
    head_dir = root / "head_export"
    head_manifest = export_classifier(head_h5, export / "manifest.json", deq, head_dir)
    return {
        "root": root,
        "head_h5": head_h5,
        "export": export,
        "manifest": manifest,
        "emb_q": emb_q,
        "head_dir": head_dir,
        "head_manifest": head_manifest,
        "head_tflite": (head_dir / HEAD_TFLITE).read_bytes(),
    }


def test_head_export_matches_embedding_quantisation(deployed):
    hm, m = deployed["head_manifest"], deployed["manifest"]
    assert json.loads((deployed["head_dir"] / HEAD_MANIFEST).read_text()) == hm
    assert hm["classes"] == ["cow", "dog", "owl"]
    assert hm["input"]["zero_point"] == m.output.zero_point
    assert np.float32(hm["input"]["scale"]) == np.float32(m.output.scale)  # exact: no requantisation
    assert hm["ops"] == ["FULLY_CONNECTED"] * 3 and hm["output"]["shape"] == [1, 3]
    runner = TflmRunner(deployed["head_tflite"])
    assert runner.input_details["quantization_parameters"]["scales"][0] == np.float32(m.output.scale)


def test_head_agreement_real_sea64(deployed):
    pct = head_agreement(
        deployed["head_tflite"], deployed["head_h5"], deployed["emb_q"], deployed["export"] / "manifest.json"
    )
    print(f"\nhead agreement int8 (TFLM) vs float on {len(deployed['emb_q'])} real windows: {pct:.2f} %")
    assert pct >= 90.0
    # the same number computed by hand, on a head that really separates the classes
    import tf_keras as keras

    q, (o_scale, o_zp) = deployed["emb_q"], deployed["manifest"].output.quant
    runner = TflmRunner(deployed["head_tflite"])
    device = np.array([np.argmax(runner.invoke(row)) for row in q])
    probs = keras.models.load_model(deployed["head_h5"], compile=False).predict(
        (q.astype(np.float32) - o_zp) * np.float32(o_scale), verbose=0
    )
    host = probs.argmax(axis=1)
    assert pct == pytest.approx(100.0 * np.mean(device == host))
    assert len(np.unique(host)) == 3 and len(np.unique(device)) == 3


def test_head_engine_bit_exact_and_chained(deployed, tmp_path):
    head = deployed["head_tflite"]
    runner = TflmRunner(head)
    generate_engine(head, tmp_path / "head", model_name="head", symbol_prefix="em_head")
    assert sorted(p.name for p in (tmp_path / "head").iterdir()) == [
        "em_head_engine.c",
        "em_head_engine.h",
        "em_head_weights.c",
    ]
    from edgel3_mote.export.hostbuild import load_shared

    (tmp_path / "ticks.c").write_text("#include <stdint.h>\nuint32_t em_board_ticks(void) { return 0; }\n")
    lib = load_shared(
        [
            tmp_path / "head" / "em_head_engine.c",
            tmp_path / "head" / "em_head_weights.c",
            *KERNEL_SOURCES,
            tmp_path / "ticks.c",
        ],
        include_dirs=[tmp_path / "head"],
        name="head",
    )
    lib.em_head_input.restype = ctypes.POINTER(ctypes.c_int8)
    for row in deployed["emb_q"][::7]:
        ctypes.memmove(lib.em_head_input(), row.ctypes.data, row.size)
        out = (ctypes.c_int8 * 3)()
        assert lib.em_head_invoke(out, None) == 0
        assert np.array_equal(np.frombuffer(bytes(out), np.int8), runner.invoke(row).reshape(-1))

    # embedding engine (default names) + head engine (em_head) in ONE library, chained in C
    emb_tflite = (deployed["export"] / "model_int8.tflite").read_bytes()
    generate_engine(emb_tflite, tmp_path / "emb", model_name="sea-64")
    (tmp_path / "chain.c").write_text(CHAIN_C)
    lib = load_shared(
        [
            tmp_path / "emb" / "model_engine.c",
            tmp_path / "emb" / "model_weights.c",
            tmp_path / "head" / "em_head_engine.c",
            tmp_path / "head" / "em_head_weights.c",
            tmp_path / "chain.c",
            *KERNEL_SOURCES,
            tmp_path / "ticks.c",
        ],
        include_dirs=[tmp_path / "emb", tmp_path / "head"],
        name="chain",
    )
    lib.em_model_input.restype = ctypes.POINTER(ctypes.c_int8)
    emb_runner = TflmRunner(emb_tflite)
    rng = np.random.default_rng(0)
    for _ in range(2):
        x = rng.integers(-128, 128, size=emb_runner.input_shape[1:], dtype=np.int8)
        ref_emb = emb_runner.invoke(x).reshape(-1)
        ctypes.memmove(lib.em_model_input(), x.ctypes.data, x.size)
        e, logits = (ctypes.c_int8 * 64)(), (ctypes.c_int8 * 3)()
        assert lib.em_chain_invoke(e, logits) == 0
        assert np.array_equal(np.frombuffer(bytes(e), np.int8), ref_emb)
        assert np.array_equal(np.frombuffer(bytes(logits), np.int8), runner.invoke(ref_emb).reshape(-1))


def test_symbol_prefix_rejects_bad_names(tmp_path, deployed):
    for bad in ("EM_HEAD", "head", "em_board", "em__x", "em_head_"):
        with pytest.raises(ExportError, match="symbol_prefix"):
            generate_engine(deployed["head_tflite"], tmp_path, model_name="h", symbol_prefix=bad)
