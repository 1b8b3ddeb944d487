"""The committed ONNX models reproduce the original MediaPipe .tflite outputs.

Goldens in tests/fixtures/golden were recorded by tools/record_goldens.py with LiteRT on the
original models; this test needs only numpy and onnxruntime.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

REPO = Path(__file__).resolve().parents[1]
MODELS = REPO / "models"
GOLDEN = Path(__file__).resolve().parent / "fixtures" / "golden"
MANIFEST = json.loads((MODELS / "manifest.json").read_text())
NAMES = sorted(MANIFEST["models"])
# 1e-3, widened by 1e-5 of the value for the large detection logits (|x| up to ~300) and
# landmark pixel coordinates, where float32 rounding alone reaches a few 1e-5.
ATOL = 1e-3
RTOL = 1e-5

EXPECTED_MODELS = {
    "face_detection_full_range",
    "face_detection_short_range",
    "face_landmark",
    "hand_landmark_lite",
    "iris_landmark",
    "palm_detection_lite",
    "selfie_segmentation",
    "selfie_segmentation_landscape",
}


def test_manifest_lists_all_models():
    assert set(NAMES) == EXPECTED_MODELS
    assert MANIFEST["source"]["license"] == "Apache-2.0"


@pytest.mark.parametrize("name", NAMES)
def test_file_matches_manifest_sha256(name):
    entry = MANIFEST["models"][name]
    digest = hashlib.sha256((MODELS / entry["file"]).read_bytes()).hexdigest()
    assert digest == entry["sha256"]


def _session(path: Path) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("name", NAMES)
def test_onnx_matches_tflite_golden(name):
    entry = MANIFEST["models"][name]
    session = _session(MODELS / entry["file"])
    assert [(i.name, i.shape) for i in session.get_inputs()] == [(i["name"], i["shape"]) for i in entry["inputs"]]
    assert [(o.name, o.shape) for o in session.get_outputs()] == [(o["name"], o["shape"]) for o in entry["outputs"]]

    golden = np.load(GOLDEN / f"{name}.npz")
    factor = int(golden["upsample"])
    scale = np.float32(entry["normalization"]["scale"])
    offset = np.float32(entry["normalization"]["offset"])
    for stem in golden["photos"]:
        pixels = golden[f"{stem}__pixels"]
        pixels = np.repeat(np.repeat(pixels, factor, axis=1), factor, axis=2)
        x = (pixels.astype(np.float32) * scale + offset).astype(np.float32)
        if entry["layout"] == "NCHW":  # the selfie models take the planes (the goldens are NHWC pixels)
            x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
        assert list(x.shape) == entry["inputs"][0]["shape"]
        outputs = session.run(None, {entry["inputs"][0]["name"]: x})
        for spec, value in zip(entry["outputs"], outputs):
            got = value.ravel()
            index_key = f"{stem}__{spec['name']}__index"
            if index_key in golden:
                got = got[golden[index_key]]
            want = golden[f"{stem}__{spec['name']}"]
            diff = np.abs(got - want)
            assert np.all(diff <= ATOL + RTOL * np.abs(want)), (
                f"{name}/{spec['name']} on {stem}: max |onnx - tflite| = {diff.max():.3g}"
            )
