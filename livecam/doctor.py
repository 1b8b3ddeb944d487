"""``livecam doctor``: what works, what does not, and the exact command that fixes it.

Every check is one (status, sentence) line: the virtual camera, the cameras, ONNX Runtime and the
GPU, the tray app's platform, the saved effects and the network. It sits above everything it checks
(devices, analysis, effects); nothing below imports it, so listing devices never pulls it in.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from pathlib import Path

from livecam import devices

log = logging.getLogger(__name__)


def _camera_lines() -> list[tuple[str, str]]:
    cams = devices.list_cameras()
    if not cams:
        return [
            ("warn", "No camera found; LiveCam shows the demo clip until one is plugged in (or pass a video file).")
        ]
    names = "; ".join(f"{c['index']}: {c['name']}" + (f" ({c['path']})" if c["path"] else "") for c in cams)
    noun = "camera" if len(cams) == 1 else "cameras"
    return [("ok", f"Found {len(cams)} {noun}: {names}.")]


def _virtual_camera_lines() -> list[tuple[str, str]]:
    if not devices.is_linux():
        return [("info", f"LiveCam sends video through OBS Studio's virtual camera; {devices.OBS_FIX}.")]
    cams = devices.list_virtual_cameras()
    if not cams:
        return [("error", devices.no_loopback_sentence())]
    ours = [c for c in cams if c["label"].strip() == devices.LIVECAM_LABEL]
    if not ours:
        others = ", ".join(f"{c['path']} ({c['label']})" for c in cams)
        return [
            (
                "warn",
                f'No v4l2loopback device is labelled "{devices.LIVECAM_LABEL}" (found {others}); LiveCam will use '
                f"{cams[0]['path']}, or reload the module with: {devices.RELOAD_FIX}",
            )
        ]
    lines = []
    for cam in ours:
        where = f"Virtual camera {cam['path']} ({cam['label']})"
        if not Path(cam["path"]).exists():
            lines.append(
                ("error", f"{where} is in sysfs but {cam['path']} is missing; reload the module with: "
                          f"{devices.RELOAD_FIX}")
            )
        elif not cam["ready"]:
            lines.append(
                (
                    "error",
                    f"{where} exists but you may not write to it; run sudo usermod -aG video $USER and log in again.",
                )
            )
        elif cam["exclusive_caps"] is False:
            lines.append(
                (
                    "warn",
                    f"{where} has exclusive_caps=0, so Chrome and Meet will not list it: reload the module with "
                    f"exclusive_caps=1: {devices.RELOAD_FIX}",
                )
            )
        elif cam["exclusive_caps"] is None:
            lines.append(
                (
                    "ok",
                    f"{where} is ready; its exclusive_caps setting cannot be read, so if Chrome does not list it "
                    f"reload the module with: {devices.RELOAD_FIX}",
                )
            )
        else:
            lines.append(("ok", f"{where} is ready, with exclusive_caps=1 so Chrome and Meet list it."))
    return lines


def _cuda_really_works() -> tuple[bool | None, str]:
    """Open the smallest shipped model on CUDA: (whether ORT really gave it CUDA, why not); None
    when no model can be opened."""
    import onnxruntime

    from livecam.analysis import runtime

    # ORT's log and the runtime's warning would print the failure here; the doctor line says it once.
    onnxruntime.set_default_logger_severity(4)
    runtime_log = logging.getLogger(runtime.__name__)
    # Only this thread's lines: the settings window runs this check beside the live loop, and a level set on
    # the shared logger hid the live models' own warnings meanwhile (a GPU lost mid-session, moved to the
    # CPU without a word).
    quiet = _ThisThreadBelow(logging.ERROR)
    runtime_log.addFilter(quiet)
    try:
        models = runtime.manifest()["models"]
        name = min(models, key=lambda m: (runtime.models_dir() / models[m]["file"]).stat().st_size)
        session = runtime.load_model(name, provider="cuda")
        return session.provider == runtime.PROVIDER_NAMES["cuda"], session.fallback
    except (runtime.ModelError, OSError, KeyError, ValueError):
        return None, ""
    finally:
        onnxruntime.set_default_logger_severity(2)
        runtime_log.removeFilter(quiet)


class _ThisThreadBelow(logging.Filter):
    """Drops the records below ``level`` logged on the thread that made it; other threads' pass."""

    def __init__(self, level: int) -> None:
        super().__init__()
        self.level, self.thread = level, threading.get_ident()

    def filter(self, record: logging.LogRecord) -> bool:
        return record.thread != self.thread or record.levelno >= self.level


def _repair(commands: list[str]) -> str:
    return " && ".join(commands)


def _runtime_package_lines(installed: dict[str, str], build, driver) -> list[tuple[str, str]]:
    """Which ONNX Runtime package is installed, and whether a second one clobbered it."""
    from livecam import gpu

    packages = ", ".join(f"{name} {version}" for name, version in sorted(installed.items()))
    fix = _repair(gpu.repair_commands(installed, driver))
    if build is None:
        if not installed:
            return [("error", f"No ONNX Runtime is installed, so no model can run; install it with: "
                              f"{gpu.pip_command('install', gpu.wanted_runtime(driver))}")]
        return [("error", f"{packages} is installed but cannot be imported (uninstalling a package that shared "
                          f"its folder removed its files); repair it with: {fix}")]
    if len(installed) > 1:
        return [("error", f"{len(installed)} ONNX Runtime packages are installed ({packages}) and write the same "
                          f"folder, so the files of {build.package} {build.version} are what runs and updating or "
                          f"removing either breaks the other; repair it with: {fix}")]
    if installed and build.package not in installed:
        return [("error", f"pip lists {packages} but the onnxruntime folder holds {build.package} "
                          f"{build.version}'s files; repair it with: {fix}")]
    flavour = f"built for CUDA {build.cuda}" if build.cuda else "CPU build"
    return [("ok", f"ONNX Runtime: {build.package} {build.version} ({flavour}).")]


def _library_lines(build, driver) -> list[tuple[str, str]]:
    """The CUDA/cuDNN libraries this onnxruntime-gpu loads, and where each one comes from."""
    from livecam import gpu

    libraries = gpu.cuda_libraries(build.cuda_major)
    missing = [lib for lib in libraries if not lib.path]
    lines = []
    by_source: dict[str, list] = {}
    for lib in libraries:
        if lib.path:
            by_source.setdefault(lib.source, []).append(lib)
    for source, libs in by_source.items():
        where = str(Path(libs[0].path).parent)
        names = ", ".join(f"{lib.role} ({lib.file})" for lib in libs)
        origin = f"the pip package {source[:-6]}" if source.endswith(" (pip)") else "the system"
        lines.append(("ok", f"Found {names} from {origin}, in {where}."))
    if missing:
        names = ", ".join(f"{lib.role} ({lib.file})" for lib in missing)
        lines.append(("error", f"onnxruntime-gpu {build.version} needs {names}, which this machine lacks, so models "
                               f"run on the CPU; install NVIDIA's libraries with: "
                               f"{gpu.pip_command('install', gpu.gpu_requirement(driver, build))}"))
    return lines


def _gpu_lines(build, driver, providers: list[str]) -> list[tuple[str, str]]:
    from livecam import gpu

    if driver is None:
        if not build.cuda:
            return [("info", "No NVIDIA driver was found; the models run on the CPU.")]
        lines = [("info", "No NVIDIA driver was found, so the models run on the CPU (onnxruntime-gpu runs on "
                          "the CPU as well as onnxruntime does; a GPU is optional).")]
        libraries = gpu.cuda_libraries(build.cuda_major)
        if all(lib.path for lib in libraries):  # the GPU flavour on a machine without a GPU
            names = ", ".join(lib.file for lib in libraries)
            lines.append(("info", f"The CUDA libraries are installed ({names}) and wait for an NVIDIA driver."))
        return lines
    gpus = f" with {', '.join(driver.gpus)}" if driver.gpus else ""
    cuda = f", which runs CUDA up to {driver.cuda[0]}.{driver.cuda[1]}" if driver.cuda else ""
    lines = [("ok", f"NVIDIA driver {driver.version or '(version unknown)'}{cuda}{gpus}.")]
    if not build.cuda:
        if gpu.gpu_wheels_exist():
            fix = _repair([gpu.pip_command("uninstall", "-y", build.package),
                           gpu.pip_command("install", gpu.gpu_requirement(driver))])
            lines.append(("warn", f"This machine has an NVIDIA GPU but {build.package} {build.version} runs on the "
                                  f"CPU only; for the GPU run: {fix}"))
        else:
            lines.append(("info", "PyPI has no onnxruntime-gpu for this platform, so the models run on the CPU."))
        return lines
    if gpu.driver_too_old(driver, build):
        lines.append(("error", f"onnxruntime-gpu {build.version} needs CUDA {build.cuda_major} but this driver runs "
                               f"CUDA up to {driver.cuda[0]}.{driver.cuda[1]}: update the NVIDIA driver to "
                               f"{gpu.MIN_DRIVER.get(build.cuda_major, 'a newer version')} or newer, or install "
                               f"the CUDA {driver.cuda[0]} build with: "
                               f"{gpu.pip_command('install', gpu.CUDA12_REQUIREMENT)}"))
        return lines
    lines += _library_lines(build, driver)
    works, reason = _cuda_really_works()
    if works is True:
        lines.append(("ok", "CUDA works: a model ran on the GPU (CUDAExecutionProvider)."))
    elif works is False:
        load_error = gpu.cuda_provider_error()
        if load_error:
            why = f": ONNX Runtime's CUDA provider cannot load ({load_error})"
        else:
            why = f" ({reason})" if reason else "; the lines above say what is missing"
        lines.append(("error", f"A model asked for CUDA but ran on the CPU{why}."))
    else:
        lines.append(("info", "CUDA is listed; whether it really works shows when the first model loads."))
    if "TensorrtExecutionProvider" in providers and not gpu.tensorrt_library().path:
        lines.append(("info", "--provider tensorrt also needs TensorRT 10; install it with: "
                              f"{gpu.pip_command('install', *gpu.tensorrt_requirement(build.cuda_major))}"))
    return lines


def _provider_lines() -> list[tuple[str, str]]:
    from livecam import gpu
    from livecam.analysis import runtime

    installed, build, driver = gpu.installed_runtimes(), gpu.runtime_build(), gpu.nvidia_driver()
    lines = _runtime_package_lines(installed, build, driver)
    if build is None:
        return lines
    try:
        providers = runtime.available_providers()
    except runtime.ModelError as exc:
        return lines + [("error", str(exc))]
    lines.append(_providers_line(providers, driver))
    return lines + _gpu_lines(build, driver, providers)


# Built into onnxruntime-gpu whether or not the machine has an NVIDIA GPU; without one they cannot run.
NVIDIA_ONLY = {"TensorrtExecutionProvider": "TensorRT", "CUDAExecutionProvider": "CUDA"}


def _providers_line(providers: list[str], driver) -> tuple[str, str]:
    """Only what can run here is [ok]: CUDA and TensorRT are listed by the GPU build even with no GPU."""
    if driver is not None:
        return "ok", f"ONNX Runtime providers: {', '.join(providers)}."
    usable = [p for p in providers if p not in NVIDIA_ONLY]
    idle = [NVIDIA_ONLY[p] for p in providers if p in NVIDIA_ONLY]
    if not idle:
        return "ok", f"ONNX Runtime providers: {', '.join(providers)}."
    return "ok", (f"ONNX Runtime providers usable here: {', '.join(usable) or 'none'} ({' and '.join(idle)} "
                  f"{'is' if len(idle) == 1 else 'are'} built in but need{'s' if len(idle) == 1 else ''} an NVIDIA "
                  "GPU, and none was found).")


def diagnose() -> list[tuple[str, str]]:
    """(status, sentence) lines for ``livecam doctor``; status is "ok", "info", "warn" or "error"."""
    from livecam import offline

    # The network check last: by then ONNX Runtime is loaded and the models have run.
    from livecam.analysis import rvm_live

    damaged = _damaged_models()  # read by two checks; hashing the 16 MB of models once is enough
    return (_camera_lines() + _virtual_camera_lines() + _provider_lines() + _model_lines(damaged) + _gui_lines()
            + _effect_lines(damaged) + rvm_live.doctor_lines() + [offline.network_line()])


def _model_lines(damaged: list[str]) -> list[tuple[str, str]]:
    """Is every shipped model file there and whole (``damaged``: :func:`_damaged_models`)? The effects
    build without their models, so a truncated one passed the effect check as "ok" and showed only in a
    call, as a hidden picture."""
    from livecam.analysis import runtime

    if damaged:
        return [("error", why) for why in damaged]
    return [("ok", f"The {len(runtime.manifest()['models'])} models LiveCam ships are all there and whole.")]


def _damaged_models() -> list[str]:
    """Why each shipped model that is missing or damaged cannot be used, one sentence each (the
    manifest's own when it cannot be read); [] when all are whole."""
    from livecam.analysis import runtime

    try:
        folder = runtime.models_dir()
        names = sorted(runtime.manifest()["models"])
    except (runtime.ModelError, KeyError, TypeError) as exc:
        return [str(exc) if isinstance(exc, runtime.ModelError) else
                "LiveCam's model manifest is malformed; reinstall LiveCam."]
    damaged = []
    for name in names:
        try:
            # Uncached: the settings window asks again after the user reinstalled or repaired.
            runtime.check_model(name, folder)
        except runtime.ModelError as exc:
            damaged.append(str(exc))
    return damaged


def _gui_lines() -> list[tuple[str, str]]:
    """Whether the tray app can open here (checked without loading Qt, which aborts when it cannot)."""
    import importlib.util

    from livecam import qt_platform

    if importlib.util.find_spec("PySide6") is None:
        return [("info", "The tray app is not installed (PySide6 is missing); install it with: "
                         "pip install 'livecam[gui]'. `livecam run` works without it.")]
    if not sys.platform.startswith("linux"):
        return [("ok", "The tray app can start (PySide6 is installed).")]
    problem = qt_platform.xcb_problem()
    if problem:
        # Without a desktop session (a server, a CI guest) the tray app is not what runs here.
        desktop = bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
        return [("error" if desktop else "warn", problem)]
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or os.environ.get("QT_QPA_PLATFORM"):
        # The libraries are there, but a stale DISPLAY or an unknown platform still stops Qt.
        reason = qt_platform.probe_platform()
        if reason:
            return [("error", f"The tray app cannot open a window here ({reason}); `livecam gui` runs as "
                              "`livecam run` until that is fixed.")]
    return [("ok", "The tray app's X11 libraries are all installed.")]


def _effect_lines(damaged: list[str] | None = None) -> list[tuple[str, str]]:
    """Can the saved settings' effects be built (pictures, photos, models)? The same check the live
    loop makes, so a broken background shows here before a call, not as a blurred picture in it.
    ``damaged``: :func:`_damaged_models`, when the caller has it already."""
    from livecam import settings as S
    from livecam.effects import REGISTRY, build_effect

    settings = S.load()
    lines: list[tuple[str, str]] = []
    with_models: list[str] = []  # the effects that read a model's analysis (a mask, faces, hands)
    for spec in REGISTRY:
        if not spec.enabled(settings):
            continue
        try:
            effect = build_effect(spec, settings)
        except Exception as exc:  # noqa: BLE001 - builders report bad files as exceptions
            what = "the picture is hidden behind a full blur" if spec.on_failure == "conceal" else "it is skipped"
            lines.append(("error", f"{spec.label}: {str(exc).strip()} Until this is fixed {what}."))
            continue
        if hasattr(effect, "close"):
            effect.close()
        if getattr(effect, "needs", None):
            with_models.append(spec.label.lower())
    if not lines:
        on = [spec.label.lower() for spec in REGISTRY if spec.enabled(settings)]
        if with_models and (_damaged_models() if damaged is None else damaged):
            # The effects build without their models: "ok" here sat beside the damaged-model error.
            lines.append(("warn", f"The saved effects' files can be used, but {', '.join(with_models)} "
                                  f"{'runs' if len(with_models) == 1 else 'run'} on LiveCam's models, and a model "
                                  "file is damaged (see above): reinstall LiveCam before a call."))
        else:
            lines.append(("ok", f"The saved effects can all run ({', '.join(on) or 'none are on'})."))
    return lines
