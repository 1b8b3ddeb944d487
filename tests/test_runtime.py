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
