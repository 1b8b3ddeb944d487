"""One pip command per flavour, never two ONNX Runtime packages in one folder.

The markers are checked for every platform offline; the real resolution of the built wheel (pip
install --dry-run --report, which installs nothing) needs the package index and skips without it.
"""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from livecam import gpu

ROOT = Path(__file__).resolve().parent.parent
RUNTIMES = {"onnxruntime", "onnxruntime-gpu"}
PLATFORMS = [("Linux", "x86_64"), ("Windows", "AMD64"), ("Linux", "aarch64"), ("Darwin", "arm64"),
             ("Darwin", "x86_64"), ("Windows", "ARM64")]


def _requirements(extra: str = ""):
    tomllib = pytest.importorskip("tomllib")
    requirements = pytest.importorskip("packaging.requirements")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    lines = project["dependencies"] + (project["optional-dependencies"][extra] if extra else [])
    return [requirements.Requirement(line) for line in lines]


def _applies(req, system, machine):
    return req.marker is None or req.marker.evaluate({"platform_system": system, "platform_machine": machine})


@pytest.mark.parametrize("system, machine", PLATFORMS)
def test_every_platform_gets_exactly_one_runtime_package(system, machine):
    for extra in ("", "gpu"):
        runtimes = {r.name for r in _requirements(extra) if r.name in RUNTIMES and _applies(r, system, machine)}
        expected = "onnxruntime-gpu" if gpu.gpu_wheels_exist(system, machine) else "onnxruntime"
        assert runtimes == {expected}, (system, machine, extra)


@pytest.mark.parametrize("system, machine", PLATFORMS)
def test_the_gpu_extra_adds_nvidias_libraries_only_where_they_exist(system, machine):
    (req,) = _requirements("gpu")[-1:]
    assert req.name == "onnxruntime-gpu" and req.extras == {"cuda", "cudnn"}
    assert _applies(req, system, machine) is gpu.gpu_wheels_exist(system, machine)


# ---------------------------------------------------------------- the real resolution


def _pip(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    if _pip("index", "versions", "onnxruntime", timeout=120).returncode != 0:
        pytest.skip("the package index cannot be reached")
    out = tmp_path_factory.mktemp("wheel")
    built = _pip("wheel", "--no-deps", "--quiet", "--wheel-dir", str(out), str(ROOT))
    assert built.returncode == 0, built.stderr[-2000:]
    (path,) = out.glob("livecam-*.whl")
    return path


def resolve(wheel, extras, tmp_path):
    """The packages `pip install "livecam[extras]"` would install into an empty environment."""
    report = tmp_path / "report.json"
    spec = f"livecam{extras} @ {wheel.as_uri()}"
    done = _pip("install", "--dry-run", "--ignore-installed", "--quiet", "--report", str(report), spec)
    assert done.returncode == 0, done.stderr[-2000:]
    return {i["metadata"]["name"].lower().replace("_", "-") for i in json.loads(report.read_text())["install"]}


def test_plain_install_resolves_one_runtime_and_no_nvidia_libraries(wheel, tmp_path):
    names = resolve(wheel, "", tmp_path)
    assert names & RUNTIMES == {gpu.default_runtime()}
    assert not any(n.startswith("nvidia-") for n in names)


def test_gpu_install_resolves_onnxruntime_gpu_with_cuda_and_cudnn_and_not_onnxruntime(wheel, tmp_path):
    if not gpu.gpu_wheels_exist():
        pytest.skip("PyPI has no onnxruntime-gpu for this platform")
    names = resolve(wheel, "[gpu]", tmp_path)
    assert "onnxruntime-gpu" in names and "onnxruntime" not in names
    assert any(n.startswith("nvidia-cudnn-cu") for n in names)
    assert any(n.startswith("nvidia-cuda-runtime") for n in names) and "nvidia-cublas" in {
        n.removesuffix("-cu12") for n in names
    }
