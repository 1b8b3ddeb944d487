"""The session factory: verified model files, provider fallback, plain-language errors."""
import logging
import shutil

import numpy as np
import pytest

from livecam.analysis import runtime


def test_every_manifest_model_loads_on_cpu_and_reports_its_real_provider():
    for name in runtime.manifest()["models"]:
        session = runtime.load_model(name, provider="cpu", threads=1)
        assert session.provider == "CPUExecutionProvider"
        assert list(session.input_shape) == session.spec["inputs"][0]["shape"]


def test_corrupt_model_file_is_refused_with_a_clear_error(tmp_path, monkeypatch):
    src = runtime.models_dir()
    shutil.copytree(src, tmp_path / "models")
    target = tmp_path / "models" / "selfie_segmentation_landscape.onnx"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    runtime.verified_path.cache_clear()
    with pytest.raises(runtime.ModelError) as err:
        runtime.load_model("selfie_segmentation_landscape", directory=tmp_path / "models")
    message = str(err.value)
    assert "corrupt" in message and "reinstall" in message and "\n" not in message


def test_missing_model_file_is_a_clear_error(tmp_path):
    shutil.copy(runtime.models_dir() / "manifest.json", tmp_path / "manifest.json")
    with pytest.raises(runtime.ModelError, match="is missing"):
        runtime.load_model("face_landmark", directory=tmp_path)


def test_unknown_model_name():
    with pytest.raises(runtime.ModelError, match="Unknown model 'nope'"):
        runtime.load_model("nope")


def test_unknown_provider_is_a_clear_error():
    with pytest.raises(runtime.ModelError, match="Unknown inference provider 'quantum'"):
        runtime.provider_list("quantum")


def test_unavailable_gpu_provider_falls_back_to_cpu_with_a_warning(caplog, monkeypatch):
    monkeypatch.setattr(runtime, "available_providers", lambda: ["CPUExecutionProvider"])
    with caplog.at_level(logging.WARNING):
        session = runtime.load_model("selfie_segmentation_landscape", provider="cuda")
    assert session.provider == "CPUExecutionProvider"
    assert "not available" in caplog.text and "onnxruntime-gpu" in caplog.text


def test_gpu_listed_but_unusable_runs_on_cpu_and_says_so(caplog, monkeypatch):
    """onnxruntime-gpu lists CUDA without CUDA libraries; the session then silently gets the CPU."""
    monkeypatch.setattr(runtime, "available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    with caplog.at_level(logging.WARNING):
        session = runtime.load_model("selfie_segmentation_landscape", provider="auto")
    assert session.provider == "CPUExecutionProvider"
    assert "runs on CPUExecutionProvider" in caplog.text


def test_normalize_follows_manifest():
    session = runtime.load_model("selfie_segmentation_landscape", provider="cpu")
    x = session.normalize(np.full((144, 256, 3), 255, np.uint8))
    norm = session.spec["normalization"]
    assert x.shape == (1, 144, 256, 3) and x.dtype == np.float32
    assert np.allclose(x, 255 * norm["scale"] + norm["offset"])


# ---------------------------------------------------------------- recurrent runner
# A tiny recurrent ONNX graph, written as protobuf by hand so the test needs no `onnx` package:
#   r1o = r1i + src    (state that grows from a [1, 1] zero to the frame's shape, like RVM's)
#   r2o = r2i + 1      (a frame counter)
#   fgr = r1o * 2,  pha = src


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, value) -> bytes:
    if isinstance(value, int):
        return _varint(number << 3) + _varint(value)
    data = value.encode() if isinstance(value, str) else value
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def _node(op: str, inputs, output: str) -> bytes:
    return b"".join(_field(1, i) for i in inputs) + _field(2, output) + _field(4, op)


def _tensor_info(name: str, dims) -> bytes:
    shape = b"".join(_field(1, _field(1, d) if isinstance(d, int) else _field(2, d)) for d in dims)
    tensor_type = _field(1, 1) + _field(2, shape)  # elem_type 1 = float
    return _field(1, name) + _field(2, _field(1, tensor_type))


def _constant(name: str, value: float) -> bytes:
    return _field(2, 1) + _field(8, name) + _field(9, np.float32(value).tobytes())


def recurrent_model_bytes() -> bytes:
    graph = b"".join(
        [
            _field(1, _node("Add", ["r1i", "src"], "r1o")),
            _field(1, _node("Add", ["r2i", "one"], "r2o")),
            _field(1, _node("Mul", ["r1o", "two"], "fgr")),
            _field(1, _node("Identity", ["src"], "pha")),
            _field(2, "recurrent"),
            _field(5, _constant("one", 1.0)),
            _field(5, _constant("two", 2.0)),
            _field(11, _tensor_info("src", [1, "n"])),
            _field(11, _tensor_info("r1i", ["a", "b"])),
            _field(11, _tensor_info("r2i", ["c", "d"])),
            *(_field(12, _tensor_info(name, ["x", "y"])) for name in ("fgr", "pha", "r1o", "r2o")),
        ]
    )
    return _field(1, 8) + _field(7, graph) + _field(8, _field(2, 13))  # IR version 8, opset 13


@pytest.fixture
def recurrent_session(tmp_path):
    import onnxruntime as ort

    path = tmp_path / "recurrent.onnx"
    path.write_bytes(recurrent_model_bytes())
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return runtime.ModelSession(
        name="recurrent", spec={}, session=session, provider="CPUExecutionProvider", threads=1
    )


@pytest.mark.parametrize("io_binding", [False, True])
def test_recurrent_runner_feeds_state_back_and_resets(recurrent_session, io_binding):
    runner = runtime.RecurrentRunner(recurrent_session, state={"r1i": "r1o", "r2i": "r2o"}, io_binding=io_binding)
    src = np.array([[1.0, 2.0, 3.0]], np.float32)
    first = runner.step({"src": src})
    second = runner.step({"src": src}, outputs=("fgr", "pha", "r2o"))
    assert set(first) == {"fgr", "pha"} and first["fgr"].shape == (1, 3)
    np.testing.assert_array_equal(first["fgr"], 2 * src)  # r1o = 0 + src
    np.testing.assert_array_equal(second["fgr"], 4 * src)  # r1o = src + src
    np.testing.assert_array_equal(second["pha"], src)
    np.testing.assert_array_equal(second["r2o"], [[2.0]])  # two frames counted
    if io_binding:
        from onnxruntime import OrtValue

        assert all(isinstance(v, OrtValue) for v in runner._state.values())
    runner.reset()
    np.testing.assert_array_equal(runner.step({"src": src})["fgr"], 2 * src)


def test_recurrent_runner_takes_initial_state_and_keeps_to_the_cpu_there(recurrent_session):
    runner = runtime.RecurrentRunner(
        recurrent_session, state={"r1i": "r1o", "r2i": "r2o"}, initial={"r1i": np.full((1, 3), 10, np.float32)}
    )
    assert runner.io_binding is False and runner.device == "cpu"  # a CPU session needs no binding
    out = runner.step({"src": np.ones((1, 3), np.float32)}, outputs=("fgr", "r2o"))
    np.testing.assert_array_equal(out["fgr"], np.full((1, 3), 22.0))
    np.testing.assert_array_equal(out["r2o"], [[1.0]])


def test_recurrent_runner_names_a_wrong_state_name(recurrent_session):
    with pytest.raises(runtime.ModelError, match="no input or output named 'r9i'"):
        runtime.RecurrentRunner(recurrent_session, state={"r9i": "r1o"})
