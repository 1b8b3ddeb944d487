"""Whether ``auto`` may run rvm live on this CPU, and how: a short calibration at first use, remembered.

rvm is LiveCam's best mask, and on a CPU it is worth it only where a live profile
(:data:`livecam.analysis.matting.CPU_PROFILES`, best first) keeps a call at 25 fps or more. The
first time ``auto`` meets a CPU-only session with rvm fetched, the mask stage runs about a second of
the bundled demo clip at 720p in the best profile, exactly as the live loop runs it: the frames come
at a 30 fps camera's pace and the newest one is taken whenever the last is done, rvm runs on one
frame in three beside the loop (never resting on a still picture, as when people move) and the effects' share is
added to each frame. What counts is the frames a second that come out: a frame rvm runs on that
takes longer than the camera's interval costs a camera frame, however cheap the frames between are.
Only where the best profile is too slow is the next (the int8 copy) measured. The result is kept in
the config folder (0600) with what it depends on (CPU, threads, ONNX Runtime, the profile), so later
starts decide at once and a new CPU, runtime or profile measures again. Every decision comes with one
sentence saying why, for the GUI and ``livecam doctor``.
"""
from __future__ import annotations

import json
import logging
import platform
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

TARGET_FPS = 25
# What the rest of a frame costs besides the mask at 720p with the blur background (bench: composite
# 2.1 ms, output conversion 0.3 ms), with room for the capture thread's decode.
OTHER_STAGES_MS = 6.0
CAMERA_FPS = 30  # the pace the calibration's frames come at, as from a webcam
WARMUP_FRAMES = 3
CALIBRATION_FRAMES = 36  # camera frames (1.2 s of the demo clip); few, the machine is the user's
FILE_NAME = "rvm_live.json"
# A "too slow" verdict may come from a busy moment (a build, an update): it is measured again after a
# day. A "fast enough" one stands until the CPU, threads, runtime or profile change.
RECHECK_SLOW_S = 24 * 3600


def budget_ms() -> float:
    """What the mask stage may take a frame, on average, for TARGET_FPS with the effects after it
    (the live watch in person_mask holds rvm to it)."""
    return 1000.0 / TARGET_FPS - OTHER_STAGES_MS


@dataclass(frozen=True)
class Choice:
    use_rvm: bool
    reason: str  # one sentence for the GUI and doctor
    profile: object = None  # the matting.Profile to run live (with use_rvm)


def calibration_path() -> Path:
    from livecam.settings import config_dir

    return config_dir() / FILE_NAME


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_key(threads: int, profile=None) -> str:
    """What a measurement depends on: this CPU, its core count, the threads, ONNX Runtime and the profile."""
    import os

    import onnxruntime

    from livecam.analysis import matting

    profile = profile or matting.CPU_LIVE
    return (f"{_cpu_name()} x{os.cpu_count()} | threads {matting.live_threads(threads, profile)} | "
            f"onnxruntime {onnxruntime.__version__} | {profile.name}")


def _remembered() -> dict:
    try:
        data = json.loads(calibration_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


@dataclass(frozen=True)
class Measured:
    fps: float  # frames a second that came out of the mask stage and the effects' share, at a 30 fps camera's pace
    mean_ms: float  # the mask stage per frame processed, on average
    p95_ms: float  # its slowest 5 % (the frames rvm runs on)
    profile: str  # the profile that really ran (an int8 profile falls back to full precision without onnx)


def remember(key: str, measured: Measured) -> None:
    from livecam.private_files import write_private
    from livecam.settings import private_config_dir

    data = _remembered()
    data[key] = {"fps": round(measured.fps, 2), "mean_ms": round(measured.mean_ms, 2), "p95_ms": round(measured.p95_ms, 2),
                 "profile": measured.profile, "measured": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "measured_s": time.time()}
    write_private(private_config_dir() / FILE_NAME, json.dumps(data, indent=2) + "\n")


def measure(threads: int, profile=None) -> Measured:
    """The live loop's frames a second with rvm's mask stage in the live CPU ``profile`` at 720p:
    demo clip frames offered at CAMERA_FPS, the newest taken whenever the last is done, the
    effects' OTHER_STAGES_MS added to each, rvm never resting on a still picture."""
    import cv2
    import numpy as np

    from livecam.analysis.person_mask import PersonMask
    from livecam.resources import demo_clip_path
    from livecam.settings import Settings, update
    from livecam.types import Analysis

    settings = update(Settings(), segmentation={"model": "rvm"},
                      runtime={"provider": "cpu", "threads": threads, "motion_gate": False})
    stage = PersonMask(settings, rvm_profile=profile)
    if stage.model != "rvm":
        raise RuntimeError(stage.notice or "rvm could not be opened")
    cap = cv2.VideoCapture(str(demo_clip_path()))

    def frame():
        ok, image = cap.read()
        if not ok:
            cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, image = cap.read()
            if not ok:
                raise RuntimeError("the demo clip cannot be read")
        return cv2.resize(image, (1280, 720), interpolation=cv2.INTER_LINEAR)

    times: list[float] = []
    try:
        for _ in range(WARMUP_FRAMES):
            stage.process(frame(), Analysis(), foreground=True)
        start, last = time.perf_counter(), -1
        while True:
            newest = int((time.perf_counter() - start) * CAMERA_FPS)  # the camera's newest frame
            if newest >= CALIBRATION_FRAMES:
                break
            if newest == last:
                time.sleep(max(0.0, start + (newest + 1) / CAMERA_FPS - time.perf_counter()))
                continue
            image, last = frame(), newest
            t0 = time.perf_counter()
            stage.process(image, Analysis(), foreground=True)
            times.append((time.perf_counter() - t0) * 1e3)
            time.sleep(OTHER_STAGES_MS / 1000)  # the effects and the output after the mask
    finally:
        cap.release()
    fps = len(times) * CAMERA_FPS / CALIBRATION_FRAMES
    return Measured(fps, statistics.fmean(times), float(np.percentile(times, 95)), stage._backend.profile.name)


def _still_valid(entry) -> bool:
    if not isinstance(entry, dict) or not all(isinstance(entry.get(k), (int, float)) for k in ("fps", "mean_ms")):
        return False
    if _fits(entry):
        return True
    measured = entry.get("measured_s")
    return isinstance(measured, (int, float)) and 0 <= time.time() - measured < RECHECK_SLOW_S


def _fits(entry: dict) -> bool:
    return entry["fps"] >= TARGET_FPS


def auto_choice(threads: int, measure_now: bool = True) -> Choice:
    """Whether ``auto`` runs rvm on this CPU and in which profile, measuring once per machine key
    (``measure_now=False``: only what was measured before, for reports that must not load models or
    write files)."""
    from livecam import model_fetch
    from livecam.analysis import matting

    state = model_fetch.status()
    if not state.startswith("ready"):
        return Choice(False, f"Person mask: the fast model, because rvm is {state}.")
    entry: dict = {}
    for profile in matting.CPU_PROFILES:
        try:
            key = machine_key(threads, profile)
        except ImportError:
            return Choice(False, "Person mask: the fast model, because ONNX Runtime is missing.")
        entry = _remembered().get(key)
        if not _still_valid(entry) and not measure_now:
            return Choice(False, "Person mask: the fast model until the first live start measures whether rvm keeps "
                                 f"{TARGET_FPS} fps on this CPU (a few seconds, once).")
        if not _still_valid(entry):
            log.info("Measuring whether rvm (%s) keeps %d fps on this CPU (a few seconds, once) ...", profile.name, TARGET_FPS)
            try:
                measured = measure(threads, profile)
            except Exception as exc:  # noqa: BLE001 - any failure means: not rvm, and say why
                return Choice(False, f"Person mask: the fast model, because rvm could not be measured here ({exc}).")
            try:
                remember(key, measured)
            except OSError as exc:
                log.warning("The rvm measurement could not be saved (%s); it runs again next start.", exc.strerror)
            entry = {"fps": measured.fps, "mean_ms": measured.mean_ms, "profile": measured.profile}
        if _fits(entry):
            return Choice(True, f"Person mask: rvm ({entry.get('profile', profile.name)}), because it kept "
                                f"{float(entry['fps']):.0f} fps at 720p with the effects on this CPU.", profile)
    return Choice(False, f"Person mask: the fast model, because rvm kept only {float(entry['fps']):.0f} fps at 720p "
                         f"with the effects on this CPU (under {TARGET_FPS}).")


def doctor_lines() -> list[tuple[str, str]]:
    """``livecam doctor``: which model the saved settings make the person mask with live, and why.
    Read-only: nothing is measured, quantised or loaded here (the GUI runs this on a worker thread
    while the live loop may be opening the same model)."""
    from livecam import model_fetch
    from livecam import settings as S
    from livecam.analysis.person_mask import _gpu_possible

    try:
        settings = S.load()
    except Exception as exc:  # noqa: BLE001 - doctor reports, it never stops
        return [("warn", f"Person mask: the saved settings cannot be read ({exc}).")]
    wanted, runtime = settings.segmentation.model, settings.runtime
    if wanted not in ("rvm", "auto"):
        return [("info", f"Person mask: the {wanted} model, because it was chosen.")]
    state = model_fetch.status()
    if not state.startswith("ready"):
        if wanted == "rvm":
            return [("warn", f"Person mask: rvm was chosen but is {state}; until then the landscape model runs "
                             "(livecam models fetch rvm).")]
        return [("info", f"Person mask: the fast model, because rvm is {state}.")]
    if wanted == "rvm":
        return [("info", "Person mask: rvm, because it was chosen.")]
    if _gpu_possible(runtime.provider):
        return [("info", "Person mask: rvm where the GPU opens it, else the fast model unless this CPU measured "
                         f"{TARGET_FPS} fps with it.")]
    try:
        return [("info", auto_choice(runtime.threads, measure_now=False).reason)]
    except Exception as exc:  # noqa: BLE001
        return [("warn", f"Person mask: the choice could not be worked out ({exc}).")]
