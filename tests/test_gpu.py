"""GPU set-up detection and the doctor's repair lines, on simulated installs (no GPU needed).

Installs are simulated with real package metadata (dist-info folders in a temporary site folder),
so the same importlib.metadata code that reads a user's environment reads them.
"""
import logging
import sys
from importlib import metadata

import pytest

from livecam import doctor as doctor_lines
from livecam import gpu

DRIVER_13 = gpu.Driver(version="580.65.06", cuda=(13, 0), gpus=("NVIDIA GeForce RTX 4070",))
DRIVER_12 = gpu.Driver(version="550.54.14", cuda=(12, 4), gpus=("NVIDIA GeForce RTX 3060",))
CPU_BUILD = gpu.RuntimeBuild(package="onnxruntime", version="1.32.0", cuda="")
GPU_BUILD = gpu.RuntimeBuild(package="onnxruntime-gpu", version="1.31.1", cuda="13.0")
PY = sys.executable


def fake_dist(site, name, version, files):
    """A dist-info folder as pip writes it, and the files its RECORD lists."""
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "RECORD").write_text("".join(f"{f},,\n" for f in files))
    for f in files:
        (site / f).parent.mkdir(parents=True, exist_ok=True)
        (site / f).write_bytes(b"")


@pytest.fixture
def site(tmp_path, monkeypatch):
    """An empty site-packages that gpu.py reads instead of the real one."""
    folder = tmp_path / "site-packages"
    folder.mkdir()
    monkeypatch.setattr(gpu, "_distributions", lambda: metadata.distributions(path=[str(folder)]))
    return folder


def doctor(monkeypatch, installed, build, driver, cuda_works=None, cuda_error="", reason=""):
    monkeypatch.setattr(gpu, "cuda_provider_error", lambda: cuda_error)
    monkeypatch.setattr(gpu, "installed_runtimes", lambda: installed)
    monkeypatch.setattr(gpu, "runtime_build", lambda: build)
    monkeypatch.setattr(gpu, "nvidia_driver", lambda: driver)
    monkeypatch.setattr(doctor_lines, "_cuda_really_works", lambda: (cuda_works, reason))
    return doctor_lines._provider_lines()


def errors(lines):
    return [text for status, text in lines if status == "error"]


# ---------------------------------------------------------------- which runtime is installed


def test_both_runtime_packages_are_found_and_nothing_else(site):
    fake_dist(site, "onnxruntime", "1.32.0", ["onnxruntime/__init__.py", "onnxruntime/capi/_pybind_state.py"])
    fake_dist(site, "onnxruntime-gpu", "1.31.1", ["onnxruntime/__init__.py"])
    fake_dist(site, "onnxruntime-extensions", "0.14.0", ["onnxruntime_extensions/__init__.py"])
    fake_dist(site, "numpy", "2.4.6", ["numpy/__init__.py"])
    assert gpu.installed_runtimes() == {"onnxruntime": "1.32.0", "onnxruntime-gpu": "1.31.1"}


def test_clobbered_install_gets_the_exact_repair_commands(monkeypatch):
    lines = doctor(monkeypatch, {"onnxruntime": "1.32.0", "onnxruntime-gpu": "1.31.1"}, CPU_BUILD, None)
    (line,) = errors(lines)
    assert "2 ONNX Runtime packages are installed (onnxruntime 1.32.0, onnxruntime-gpu 1.31.1)" in line
    assert "the files of onnxruntime 1.32.0 are what runs" in line
    # No driver: the default runtime for this platform, without NVIDIA's libraries.
    assert line.endswith(
        f"repair it with: {PY} -m pip uninstall -y onnxruntime onnxruntime-gpu && "
        f"{PY} -m pip install {gpu.default_runtime()}"
    )


def test_clobbered_install_on_a_gpu_machine_repairs_to_the_gpu_flavour(monkeypatch):
    monkeypatch.setattr(gpu, "gpu_wheels_exist", lambda *a: True)
    lines = doctor(monkeypatch, {"onnxruntime": "1.32.0", "onnxruntime-gpu": "1.31.1"}, CPU_BUILD, DRIVER_13)
    assert errors(lines)[0].endswith(
        f"{PY} -m pip uninstall -y onnxruntime onnxruntime-gpu && {PY} -m pip install 'onnxruntime-gpu[cuda,cudnn]'"
    )
    # A CUDA 12 driver gets the last CUDA 12 build.
    lines = doctor(monkeypatch, {"onnxruntime": "1.32.0", "onnxruntime-gpu": "1.31.1"}, GPU_BUILD, DRIVER_12)
    assert errors(lines)[0].endswith(f"{PY} -m pip install 'onnxruntime-gpu[cuda,cudnn]<1.27'")


def test_half_removed_runtime_and_no_runtime(monkeypatch):
    (line,) = errors(doctor(monkeypatch, {"onnxruntime-gpu": "1.31.1"}, None, None))
    assert "cannot be imported" in line and f"{PY} -m pip uninstall -y onnxruntime-gpu && " in line
    (line,) = errors(doctor(monkeypatch, {}, None, None))
    assert line == (
        f"No ONNX Runtime is installed, so no model can run; install it with: {PY} -m pip install {gpu.default_runtime()}"
    )


def test_metadata_says_one_package_but_the_files_are_another(monkeypatch):
    (line,) = errors(doctor(monkeypatch, {"onnxruntime-gpu": "1.31.1"}, CPU_BUILD, None))
    assert "pip lists onnxruntime-gpu 1.31.1 but the onnxruntime folder holds onnxruntime 1.32.0's files" in line


# ---------------------------------------------------------------- GPU states


def test_gpu_install_without_a_gpu_is_fine_and_says_so(monkeypatch):
    lines = doctor(monkeypatch, {"onnxruntime-gpu": "1.31.1"}, GPU_BUILD, None)
    assert not errors(lines)
    assert ("ok", "ONNX Runtime: onnxruntime-gpu 1.31.1 (built for CUDA 13.0).") in lines
    assert any(s == "info" and "No NVIDIA driver was found" in t and "a GPU is optional" in t for s, t in lines)


def test_without_a_gpu_cuda_and_tensorrt_are_not_listed_as_ok(monkeypatch):
    from livecam.analysis import runtime

    built_in = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    monkeypatch.setattr(runtime, "available_providers", lambda: built_in)
    lines = doctor(monkeypatch, {"onnxruntime-gpu": "1.31.1"}, GPU_BUILD, None)
    ok = [t for s, t in lines if s == "ok"]
    assert not any("CUDAExecutionProvider" in t or "TensorrtExecutionProvider" in t for t in ok)
    assert ("ok", "ONNX Runtime providers usable here: CPUExecutionProvider (TensorRT and CUDA are built in but "
                  "need an NVIDIA GPU, and none was found).") in lines
    with_gpu = doctor(monkeypatch, {"onnxruntime-gpu": "1.31.1"}, GPU_BUILD, DRIVER_13, cuda_works=True)
    assert ("ok", f"ONNX Runtime providers: {', '.join(built_in)}.") in with_gpu


def test_gpu_package_without_its_libraries_names_them_and_the_command(monkeypatch, site):
    monkeypatch.setattr(gpu, "_system_library", lambda file: "")
    lines = doctor(monkeypatch, {"onnxruntime-gpu": "1.31.1"}, GPU_BUILD, DRIVER_13, cuda_works=False,
                   cuda_error="libcublasLt.so.13: cannot open shared object file: No such file or directory")
    assert ("ok", "NVIDIA driver 580.65.06, which runs CUDA up to 13.0 with NVIDIA GeForce RTX 4070.") in lines
    missing, fallback = errors(lines)
    assert "needs CUDA runtime (libcudart.so.13), cuBLAS (libcublas.so.13)" in missing
    assert "cuDNN (libcudnn.so.9)" in missing
    assert missing.endswith(f"{PY} -m pip install 'onnxruntime-gpu[cuda,cudnn]==1.31.1'")
    assert fallback == (
        "A model asked for CUDA but ran on the CPU: ONNX Runtime's CUDA provider cannot load "
        "(libcublasLt.so.13: cannot open shared object file: No such file or directory)."
    )


def test_gpu_install_without_a_gpu_lists_the_libraries_waiting_for_a_driver(monkeypatch, site):
    libs = ["libcudart.so.13", "libcublas.so.13", "libcublasLt.so.13", "libcurand.so.10"]
    fake_dist(site, "nvidia-cuda-runtime", "13.5.37", [f"nvidia/cu13/lib/{f}" for f in libs])
    monkeypatch.setattr(gpu, "_system_library", lambda file: "")
    lines = doctor(monkeypatch, {"onnxruntime-gpu": "1.31.1"}, GPU_BUILD, None)
    assert not errors(lines) and not any("wait for" in t for _, t in lines)  # cuDNN is missing: say nothing
    fake_dist(site, "nvidia-cudnn-cu13", "9.28.1.4", ["nvidia/cudnn/lib/libcudnn.so.9"])
    lines = doctor(monkeypatch, {"onnxruntime-gpu": "1.31.1"}, GPU_BUILD, None)
    assert not errors(lines)
    assert ("info", "The CUDA libraries are installed (libcudart.so.13, libcublas.so.13, libcublasLt.so.13, "
                    "libcurand.so.10, libcudnn.so.9) and wait for an NVIDIA driver.") in lines


def test_a_session_that_fell_back_says_what_ort_said(monkeypatch, site):
    monkeypatch.setattr(gpu, "_system_library", lambda file: "/usr/lib/" + file)
    lines = doctor(monkeypatch, {"onnxruntime-gpu": "1.31.1"}, GPU_BUILD, DRIVER_13, cuda_works=False,
                   reason="CUDA failure 35: CUDA driver version is insufficient for CUDA runtime version")
    assert errors(lines) == ["A model asked for CUDA but ran on the CPU (CUDA failure 35: CUDA driver version "
                             "is insufficient for CUDA runtime version)."]


def test_libraries_are_reported_with_where_they_come_from(monkeypatch, site, tmp_path):
    libs = ["libcudart.so.13", "libcublas.so.13", "libcublasLt.so.13", "libcurand.so.10"]
    fake_dist(site, "nvidia-cuda-runtime", "13.5.37", [f"nvidia/cu13/lib/{f}" for f in libs])
    system = tmp_path / "usr-lib"
    system.mkdir()
    (system / "libcudnn.so.9").write_bytes(b"")
    monkeypatch.setenv("LD_LIBRARY_PATH", str(system))
    monkeypatch.setattr(gpu.platform, "system", lambda: "Linux")
    found = {lib.role: lib for lib in gpu.cuda_libraries(13)}
    assert found["cuBLAS"].source == "nvidia-cuda-runtime 13.5.37 (pip)"
    assert found["cuBLAS"].path == str(site / "nvidia/cu13/lib/libcublas.so.13")
    assert found["cuDNN"].source == "system" and found["cuDNN"].path == str(system / "libcudnn.so.9")
    lines = doctor(monkeypatch, {"onnxruntime-gpu": "1.31.1"}, GPU_BUILD, DRIVER_13, cuda_works=True)
    assert not errors(lines)
    texts = [t for _, t in lines]
    assert f"Found CUDA runtime (libcudart.so.13), cuBLAS (libcublas.so.13), cuBLASLt (libcublasLt.so.13), cuRAND (libcurand.so.10) from the pip package nvidia-cuda-runtime 13.5.37, in {site / 'nvidia/cu13/lib'}." in texts
    assert f"Found cuDNN (libcudnn.so.9) from the system, in {system}." in texts
    assert "CUDA works: a model ran on the GPU (CUDAExecutionProvider)." in texts


def test_a_driver_too_old_for_the_runtime_says_update_or_pin(monkeypatch):
    (line,) = errors(doctor(monkeypatch, {"onnxruntime-gpu": "1.31.1"}, GPU_BUILD, DRIVER_12))
    assert "needs CUDA 13 but this driver runs CUDA up to 12.4" in line
    assert "update the NVIDIA driver to 580 or newer" in line
    assert line.endswith(f"{PY} -m pip install 'onnxruntime-gpu[cuda,cudnn]<1.27'")


def test_cpu_runtime_on_a_gpu_machine_says_how_to_switch(monkeypatch):
    monkeypatch.setattr(gpu, "gpu_wheels_exist", lambda *a: True)
    lines = doctor(monkeypatch, {"onnxruntime": "1.32.0"}, CPU_BUILD, DRIVER_13)
    (warn,) = [t for s, t in lines if s == "warn"]
    assert warn.endswith(
        f"{PY} -m pip uninstall -y onnxruntime && {PY} -m pip install 'onnxruntime-gpu[cuda,cudnn]'"
    )


# ---------------------------------------------------------------- driver detection


def test_driver_is_read_from_proc_and_libcuda(monkeypatch, tmp_path):
    proc = tmp_path / "version"
    proc.write_text(
        "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.65.06  Release Build  (dvs-builder@U16)\n"
        "GCC version:  gcc version 12.3.0\n"
    )
    monkeypatch.setattr(gpu, "PROC_DRIVER", proc)
    monkeypatch.setattr(gpu, "_driver_cuda_version", lambda: (13, 0))
    monkeypatch.setattr(gpu, "_nvidia_smi", lambda: ("", ()))
    gpu.nvidia_driver.cache_clear()
    try:
        assert gpu.nvidia_driver() == gpu.Driver(version="580.65.06", cuda=(13, 0), gpus=())
        monkeypatch.setattr(gpu, "PROC_DRIVER", tmp_path / "absent")
        monkeypatch.setattr(gpu, "_driver_cuda_version", lambda: None)
        gpu.nvidia_driver.cache_clear()
        assert gpu.nvidia_driver() is None
    finally:
        gpu.nvidia_driver.cache_clear()


@pytest.mark.parametrize(
    "system, machine, expected",
    [("Linux", "x86_64", True), ("Windows", "AMD64", True), ("Linux", "aarch64", False),
     ("Darwin", "arm64", False), ("Darwin", "x86_64", False), ("Windows", "ARM64", False)],
)
def test_gpu_wheels_exist_where_pypi_has_them(system, machine, expected):
    assert gpu.gpu_wheels_exist(system, machine) is expected


# ---------------------------------------------------------------- the preload guard


@pytest.fixture
def preload_calls(monkeypatch):
    import onnxruntime

    calls = []

    def fake_preload_dlls(**kwargs):
        print("Failed to load libcublasLt.so.13: cannot open shared object file")
        calls.append(kwargs)

    monkeypatch.setattr(onnxruntime, "preload_dlls", fake_preload_dlls, raising=False)
    monkeypatch.setattr(gpu, "_preload_tensorrt", lambda: None)
    gpu.preload.cache_clear()
    yield calls
    gpu.preload.cache_clear()


def test_preload_skips_the_cpu_package(monkeypatch, preload_calls):
    monkeypatch.setattr(gpu, "runtime_build", lambda: CPU_BUILD)
    monkeypatch.setattr(gpu, "nvidia_driver", lambda: DRIVER_13)
    assert gpu.preload() is False and preload_calls == []


def test_preload_skips_a_machine_without_a_driver(monkeypatch, preload_calls):
    monkeypatch.setattr(gpu, "runtime_build", lambda: GPU_BUILD)
    monkeypatch.setattr(gpu, "nvidia_driver", lambda: None)
    assert gpu.preload() is False and preload_calls == []


def test_preload_runs_once_and_keeps_ort_prints_off_the_terminal(monkeypatch, preload_calls, capsys, caplog):
    monkeypatch.setattr(gpu, "runtime_build", lambda: GPU_BUILD)
    monkeypatch.setattr(gpu, "nvidia_driver", lambda: DRIVER_13)
    with caplog.at_level(logging.DEBUG, logger="livecam.gpu"):
        assert gpu.preload() is True
        assert gpu.preload() is True
    assert len(preload_calls) == 1
    assert capsys.readouterr().out == ""
    assert "libcublasLt.so.13" in caplog.text


def test_a_failing_preload_does_not_stop_livecam(monkeypatch, preload_calls, caplog):
    import onnxruntime

    def broken(**kwargs):
        raise RuntimeError("Invalid parameter of directory")

    monkeypatch.setattr(onnxruntime, "preload_dlls", broken, raising=False)
    monkeypatch.setattr(gpu, "runtime_build", lambda: GPU_BUILD)
    monkeypatch.setattr(gpu, "nvidia_driver", lambda: DRIVER_13)
    with caplog.at_level(logging.WARNING):
        assert gpu.preload() is False
    assert "Loading the CUDA libraries failed" in caplog.text


def test_the_real_runtime_is_described():
    build = gpu.runtime_build()
    import onnxruntime

    assert build.version == onnxruntime.__version__
    assert build.package in gpu.installed_runtimes()
