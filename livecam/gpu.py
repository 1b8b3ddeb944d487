"""The GPU set-up as it really is, for ``livecam doctor`` and for the runtime.

Which ONNX Runtime package owns the ``onnxruntime/`` folder (``onnxruntime`` and ``onnxruntime-gpu``
write the same files, so with both installed the one installed last silently wins), the NVIDIA
driver and the CUDA version it supports, and the CUDA/cuDNN libraries ONNX Runtime will load, with
where each comes from (NVIDIA's pip packages or the system). Detection only reads package metadata,
/proc and the loader's cache, and asks the driver its version, so it is safe on any machine.

``preload()`` is the one guarded call to ``onnxruntime.preload_dlls()``: it makes the CUDA and
cuDNN libraries from NVIDIA's pip packages (``onnxruntime-gpu[cuda,cudnn]``) loadable, so only the
driver has to come from the system.
"""
from __future__ import annotations

import contextlib
import ctypes
import functools
import io
import logging
import os
import platform
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

log = logging.getLogger(__name__)

CPU_PACKAGE = "onnxruntime"
GPU_PACKAGE = "onnxruntime-gpu"
# The newest onnxruntime-gpu on PyPI built for CUDA 12: 1.27 moved to CUDA 13, which needs driver 580+.
CUDA12_REQUIREMENT = "onnxruntime-gpu[cuda,cudnn]<1.27"
# The oldest Linux driver branch for each CUDA major (NVIDIA's CUDA compatibility table).
MIN_DRIVER = {12: "525", 13: "580"}
# Where Linux says which NVIDIA kernel module is loaded; a module constant so tests can point it elsewhere.
PROC_DRIVER = Path("/proc/driver/nvidia/version")


def _distributions():
    """The installed packages (a function of its own so tests can point it at a fake site folder)."""
    return metadata.distributions()


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def gpu_wheels_exist(system: str | None = None, machine: str | None = None) -> bool:
    """Whether PyPI has onnxruntime-gpu for this platform (x86-64 Linux and Windows only).

    Keep in step with the markers in pyproject.toml: there the base install takes onnxruntime-gpu
    (whose CPU provider is the same as onnxruntime's) exactly where this is True, so adding the GPU
    extra never puts a second package into the same folder.
    """
    system = system or platform.system()
    machine = (machine or platform.machine()).lower()
    return system in ("Linux", "Windows") and machine in ("x86_64", "amd64")


def default_runtime() -> str:
    """The ONNX Runtime package a plain ``pip install livecam`` gives on this platform."""
    return GPU_PACKAGE if gpu_wheels_exist() else CPU_PACKAGE


def installed_runtimes() -> dict[str, str]:
    """Every installed package that writes the ``onnxruntime/`` folder, name → version."""
    found: dict[str, str] = {}
    for dist in _distributions():
        name = _normalize(dist.metadata["Name"] or "")
        if not (name == CPU_PACKAGE or name.startswith(("onnxruntime-", "ort-"))) or name in found:
            continue
        files = dist.files or []
        # onnxruntime-extensions, -genai and the like have their own folders; only the runtimes clash.
        if any(f.parts[:1] == ("onnxruntime",) and f.name == "__init__.py" for f in files):
            found[name] = dist.version
    return found


@dataclass(frozen=True)
class RuntimeBuild:
    """What the importable ``onnxruntime`` really is (the files on disk, whatever pip believes)."""

    package: str  # "onnxruntime" or "onnxruntime-gpu" (or another flavour)
    version: str
    cuda: str  # CUDA version it was built for, "" for builds without CUDA

    @property
    def cuda_major(self) -> int | None:
        return int(self.cuda.split(".")[0]) if self.cuda[:1].isdigit() else None


def runtime_build() -> RuntimeBuild | None:
    """The build of the importable onnxruntime, or None when none can be imported."""
    try:
        from onnxruntime.capi import build_and_package_info as info
    except ImportError:
        return None
    return RuntimeBuild(
        package=_normalize(getattr(info, "package_name", CPU_PACKAGE)),
        version=getattr(info, "__version__", "?"),
        cuda=getattr(info, "cuda_version", "") or "",
    )


# ---------------------------------------------------------------- driver


@dataclass(frozen=True)
class Driver:
    version: str  # e.g. "580.65.06"; "" when only the CUDA library answered
    cuda: tuple[int, int] | None  # the newest CUDA this driver runs, from cuDriverGetVersion
    gpus: tuple[str, ...]  # names from nvidia-smi, when it is installed


def _driver_cuda_version() -> tuple[int, int] | None:
    """Ask the driver's own CUDA library (libcuda / nvcuda) which CUDA version it supports."""
    name = "nvcuda.dll" if platform.system() == "Windows" else "libcuda.so.1"
    try:
        lib = ctypes.CDLL(name)
        value = ctypes.c_int(0)
        if lib.cuDriverGetVersion(ctypes.byref(value)) != 0 or value.value <= 0:
            return None
    except (OSError, AttributeError):
        return None
    return value.value // 1000, value.value % 1000 // 10


def _nvidia_smi() -> tuple[str, tuple[str, ...]]:
    """(driver version, GPU names) from nvidia-smi; empty when it is missing or finds no GPU."""
    exe = shutil.which("nvidia-smi")
    if not exe:
        return "", ()
    try:
        out = subprocess.run(
            [exe, "--query-gpu=driver_version,name", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return "", ()
    rows = [[part.strip() for part in line.split(",", 1)] for line in out.splitlines() if "," in line]
    return (rows[0][0] if rows else ""), tuple(r[1] for r in rows)


@functools.lru_cache(maxsize=1)
def nvidia_driver() -> Driver | None:
    """The NVIDIA driver on this machine, or None when there is none (a GPU then cannot be used)."""
    version = ""
    try:
        text = PROC_DRIVER.read_text(encoding="utf-8", errors="replace")
        match = re.search(r"Kernel Module(?: for \S+)?\s+(\d+\.\d+(?:\.\d+)?)", text)
        version = match.group(1) if match else ""
    except OSError:
        pass
    cuda = _driver_cuda_version()
    smi_version, gpus = _nvidia_smi()
    version = version or smi_version
    if not (version or cuda or gpus):
        return None
    return Driver(version=version, cuda=cuda, gpus=gpus)


def driver_too_old(driver: Driver, build: RuntimeBuild) -> bool:
    """True when the driver cannot run the CUDA major this onnxruntime was built for."""
    return driver.cuda is not None and build.cuda_major is not None and driver.cuda[0] < build.cuda_major


# ---------------------------------------------------------------- CUDA / cuDNN libraries


@dataclass(frozen=True)
class Library:
    role: str  # "CUDA runtime", "cuBLAS", ...
    file: str  # the file name the loader looks for, e.g. "libcudnn.so.9"
    path: str  # where it was found; "" when missing
    source: str  # "nvidia-cudnn-cu13 9.28.1.4 (pip)", "system", or "" when missing


def library_files(cuda_major: int, system: str | None = None) -> list[tuple[str, str]]:
    """(role, file name) of the libraries onnxruntime-gpu built for ``cuda_major`` cannot start without
    (its CUDA provider's own dependencies, plus cuDNN for every convolution)."""
    if (system or platform.system()) == "Windows":
        names = [f"cudart64_{cuda_major}.dll", f"cublas64_{cuda_major}.dll", f"cublasLt64_{cuda_major}.dll",
                 "curand64_10.dll", "cudnn64_9.dll"]
    else:
        names = [f"libcudart.so.{cuda_major}", f"libcublas.so.{cuda_major}", f"libcublasLt.so.{cuda_major}",
                 "libcurand.so.10", "libcudnn.so.9"]
    return list(zip(("CUDA runtime", "cuBLAS", "cuBLASLt", "cuRAND", "cuDNN"), names))


def tensorrt_requirement(cuda_major: int | None) -> tuple[str, ...]:
    """pip install arguments for the TensorRT 10 libraries that onnxruntime-gpu's TensorRT provider
    links against (libnvinfer.so.10); NVIDIA publishes them on its own index only."""
    return ("--extra-index-url", "https://pypi.nvidia.com", f"tensorrt-cu{cuda_major or 13}-libs<11")


def _pip_libraries() -> dict[str, tuple[str, str]]:
    """File name → (path, "package version (pip)") for libraries in NVIDIA's pip packages."""
    found: dict[str, tuple[str, str]] = {}
    for dist in _distributions():
        name = _normalize(dist.metadata["Name"] or "")
        if not name.startswith(("nvidia-", "tensorrt")):
            continue
        for f in dist.files or []:
            if ".so" in f.name or f.name.endswith(".dll"):
                found.setdefault(f.name, (str(dist.locate_file(f)), f"{name} {dist.version} (pip)"))
    return found


def _system_library(file: str) -> str:
    """Where the system's loader would find ``file`` (LD_LIBRARY_PATH / PATH, then ldconfig's cache)."""
    variable = "PATH" if platform.system() == "Windows" else "LD_LIBRARY_PATH"
    for folder in filter(None, os.environ.get(variable, "").split(os.pathsep)):
        if (Path(folder) / file).is_file():
            return str(Path(folder) / file)
    if platform.system() != "Linux":
        return ""
    try:
        cache = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        try:
            cache = subprocess.run(["/sbin/ldconfig", "-p"], capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.SubprocessError):
            return ""
    for line in cache.splitlines():
        if line.strip().startswith(file + " ") and "=>" in line:
            return line.split("=>", 1)[1].strip()
    return ""


def cuda_libraries(cuda_major: int) -> list[Library]:
    """Each library onnxruntime-gpu needs, found in NVIDIA's pip packages first (as preload_dlls
    looks), else where the system's loader finds it."""
    pip = _pip_libraries()
    out = []
    for role, file in library_files(cuda_major):
        if file in pip:
            out.append(Library(role, file, *pip[file]))
        else:
            path = _system_library(file)
            out.append(Library(role, file, path, "system" if path else ""))
    return out


def tensorrt_library() -> Library:
    """TensorRT's core library, needed only for the tensorrt provider."""
    file = "nvinfer_10.dll" if platform.system() == "Windows" else "libnvinfer.so.10"
    pip = _pip_libraries()
    if file in pip:
        return Library("TensorRT", file, *pip[file])
    path = _system_library(file)
    return Library("TensorRT", file, path, "system" if path else "")


# ---------------------------------------------------------------- preload


@functools.lru_cache(maxsize=1)
def preload() -> bool:
    """Load the CUDA/cuDNN (and TensorRT) libraries from NVIDIA's pip packages, once per process.

    Guarded so it runs only where it can help: the importable onnxruntime is a CUDA build, it has
    ``preload_dlls`` (1.21+), and an NVIDIA driver is present. What ORT prints about libraries it
    cannot find goes to the debug log instead of the terminal; ``livecam doctor`` reports them.
    Returns True when preloading ran.
    """
    build = runtime_build()
    if build is None or not build.cuda or nvidia_driver() is None:
        return False
    import onnxruntime

    if not hasattr(onnxruntime, "preload_dlls"):
        return False
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            onnxruntime.preload_dlls()
    except Exception as exc:  # a broken pip CUDA package must not stop LiveCam; sessions fall back to the CPU
        log.warning("Loading the CUDA libraries failed (%s); models run on the CPU. Run livecam doctor.", exc)
        return False
    finally:
        if printed.getvalue().strip():
            log.debug("onnxruntime.preload_dlls: %s", printed.getvalue().strip())
    _preload_tensorrt()
    return True


def _preload_tensorrt() -> None:
    """TensorRT from pip (tensorrt-cu12/13) lives in its own folder the loader does not search;
    loading it by path first lets ORT's TensorRT provider find it already loaded."""
    pip = _pip_libraries()
    for file in sorted(pip):
        if file.startswith(("libnvinfer.so", "libnvinfer_plugin.so", "libnvonnxparser.so", "nvinfer")):
            with contextlib.suppress(OSError):
                ctypes.CDLL(pip[file][0], mode=getattr(os, "RTLD_GLOBAL", 0))


def cuda_provider_error() -> str:
    """Why ONNX Runtime's CUDA provider library cannot load ("" when it can), in the loader's words.

    ORT only logs this to stderr and quietly falls back to the CPU; loading the library the same
    way (after ``preload``) names the missing piece, e.g. "libcuda.so.1: cannot open shared object
    file" when the driver's own library is absent.
    """
    build = runtime_build()
    if build is None or not build.cuda:
        return "this onnxruntime has no CUDA provider"
    import onnxruntime

    preload()
    capi = Path(onnxruntime.__file__).parent / "capi"
    windows = platform.system() == "Windows"
    names = ["onnxruntime_providers_shared.dll", "onnxruntime_providers_cuda.dll"] if windows else [
        "libonnxruntime_providers_shared.so", "libonnxruntime_providers_cuda.so"]
    for name in names:
        try:
            ctypes.CDLL(str(capi / name))
        except OSError as exc:
            return str(exc)
    return ""


# ---------------------------------------------------------------- repair


def pip_command(*args: str) -> str:
    """A pip command line for the Python running LiveCam, quoted for a shell."""
    import shlex

    return " ".join(shlex.quote(a) for a in (sys.executable, "-m", "pip", *args))


def gpu_requirement(driver: Driver | None, build: RuntimeBuild | None = None) -> str:
    """The pip requirement for the GPU flavour this driver can run (CUDA 12 drivers need the pin)."""
    if driver is not None and driver.cuda is not None and driver.cuda[0] < 13:
        return CUDA12_REQUIREMENT
    if build is not None and build.package == GPU_PACKAGE and build.cuda_major and build.cuda_major >= 13:
        return f"onnxruntime-gpu[cuda,cudnn]=={build.version}"
    return "onnxruntime-gpu[cuda,cudnn]"


def wanted_runtime(driver: Driver | None) -> str:
    """The requirement that gives this machine its best runtime: the GPU flavour with NVIDIA's
    libraries where a driver and GPU wheels exist, else the default package."""
    if driver is not None and gpu_wheels_exist():
        return gpu_requirement(driver)
    return default_runtime()


def repair_commands(installed: dict[str, str], driver: Driver | None) -> list[str]:
    """Commands that leave exactly one runtime, the right one for this machine, freshly installed."""
    names = sorted(installed) or [CPU_PACKAGE, GPU_PACKAGE]
    return [pip_command("uninstall", "-y", *names), pip_command("install", wanted_runtime(driver))]
