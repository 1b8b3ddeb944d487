"""tools/build_models.py's planar_input on the shipped selfie models: their NHWC form (the files of
the previous release, by checksum) becomes the shipped files byte for byte, with the same outputs."""
from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

onnx = pytest.importorskip("onnx")

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))
import build_models as B  # noqa: E402

from livecam.analysis import model_history, runtime  # noqa: E402

SELFIE = ("selfie_segmentation", "selfie_segmentation_landscape")


def _interleaved(model):
    """The model with an NHWC input and the Transpose to NCHW before its first layer, as tf2onnx
    leaves it (the inverse of planar_input)."""
    graph = model.graph
    name = graph.input[0].name
    dims = graph.input[0].type.tensor_type.shape.dim
    n, c, h, w = (d.dim_value for d in dims)
    for dim, value in zip(dims, (n, h, w, c)):
        dim.dim_value = value
    for node in graph.node:
        node.input[:] = ["planes" if i == name else i for i in node.input]
    graph.node.insert(0, onnx.helper.make_node("Transpose", [name], ["planes"], perm=[0, 3, 1, 2]))
    return model


def _session(data: bytes) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    return ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("name", SELFIE)
def test_planar_input_makes_the_shipped_selfie_model_from_its_interleaved_form(name):
    spec = B.SPECS[name]
    entry = runtime.manifest()["models"][name]
    shipped = (B.MODELS_DIR / entry["file"]).read_bytes()
    assert spec.layout == entry["layout"] == "NCHW"
    before = B.finish(_interleaved(onnx.load_from_string(shipped)), spec).SerializeToString()
    # The file this replaced, to the byte: the pass is the only change.
    assert hashlib.sha256(before).hexdigest() in model_history.EARLIER[name]
    model = onnx.load_from_string(before)
    B.planar_input(model)
    after = B.finish(model, spec).SerializeToString()
    assert after == shipped and hashlib.sha256(after).hexdigest() == entry["sha256"]
    assert sum(n.op_type == "Transpose" for n in onnx.load_from_string(after).graph.node) == \
        sum(n.op_type == "Transpose" for n in onnx.load_from_string(before).graph.node) - 1

    x = np.random.default_rng(4).uniform(0, 1, (1, spec.height, spec.width, 3)).astype(np.float32)
    want = _session(before).run(None, {"input": x})[0]
    got = _session(after).run(None, {"input": B.in_layout(spec, x)})[0]
    assert got.tobytes() == want.tobytes()


def test_planar_input_refuses_a_model_whose_input_is_not_transposed_first():
    model = onnx.load_from_string((B.MODELS_DIR / "selfie_segmentation_landscape.onnx").read_bytes())
    with pytest.raises(SystemExit, match="cannot make it planar"):
        B.planar_input(model)  # already planar: its input goes straight into a convolution
