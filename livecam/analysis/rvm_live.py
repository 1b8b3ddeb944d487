"""Whether ``auto`` may run rvm live on this CPU: a short calibration at first use, remembered.

rvm is LiveCam's best mask, and on a CPU it is worth it only where the live profile
(:data:`livecam.analysis.matting.CPU_LIVE`) keeps a call at 25 fps or more. The first time ``auto``
meets a CPU-only session with rvm fetched, the mask stage runs a couple of seconds of the bundled
demo clip at 720p in that profile; the median is kept in the config folder (0600) with what it
depends on (CPU, threads, ONNX Runtime, the model copy), so later starts decide at once and a new
CPU, runtime or model measures again. Every decision comes with one sentence saying why, for the GUI
and ``livecam doctor``.
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
# 2.1 ms, output conversion 0.3 ms), with room for the capture thread's decode: the mask stage
# must fit in what is left of 40 ms.
OTHER_STAGES_MS = 6.0
WARMUP_FRAMES = 3
CALIBRATION_FRAMES = 20  # about a second of the demo clip; few, the machine is the user's
FILE_NAME = "rvm_live.json"
# A "too slow" verdict may come from a busy moment (a build, an update): it is measured again after a
# day. A "fast enough" one stands until the CPU, threads, runtime or profile change.
RECHECK_SLOW_S = 24 * 3600


@dataclass(frozen=True)
class Choice:
    use_rvm: bool
    reason: str  # one sentence for the GUI and doctor


def budget_ms() -> float:
    return 1000.0 / TARGET_FPS - OTHER_STAGES_MS


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


def machine_key(threads: int) -> str:
    """What a measurement depends on: this CPU, its core count, the threads, ONNX Runtime and the profile."""
    import os

    import onnxruntime

    from livecam.analysis import matting

    return (f"{_cpu_name()} x{os.cpu_count()} | threads {matting.live_threads(threads, matting.CPU_LIVE)} | "
            f"onnxruntime {onnxruntime.__version__} | {matting.CPU_LIVE.name}")


def _remembered() -> dict:
    try:
        data = json.loads(calibration_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def remember(key: str, median_ms: float, profile: str) -> None:
    from livecam.private_files import write_private
    from livecam.settings import private_config_dir

    data = _remembered()
    data[key] = {"median_ms": round(median_ms, 2), "profile": profile, "measured": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                 "measured_s": time.time()}
    write_private(private_config_dir() / FILE_NAME, json.dumps(data, indent=2) + "\n")


def measure(threads: int) -> tuple[float, str]:
    """Median ms of rvm's mask stage per 720p frame in the live CPU profile, and the profile that ran."""
    import cv2

    from livecam.analysis.person_mask import PersonMask
    from livecam.resources import demo_clip_path
    from livecam.settings import Settings, update
    from livecam.types import Analysis

    settings = update(Settings(), segmentation={"model": "rvm"}, runtime={"provider": "cpu", "threads": threads})
    stage = PersonMask(settings)
    if stage.model != "rvm":
        raise RuntimeError(stage.notice or "rvm could not be opened")
    cap = cv2.VideoCapture(str(demo_clip_path()))
    times: list[float] = []
    try:
        while len(times) < WARMUP_FRAMES + CALIBRATION_FRAMES:
            ok, frame = cap.read()
            if not ok:
                cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                ok, frame = cap.read()
                if not ok:
                    raise RuntimeError("the demo clip cannot be read")
            frame = cv2.resize(frame, (1280, 720), interpolation=cv2.INTER_LINEAR)
            t0 = time.perf_counter()
            stage.process(frame, Analysis(), foreground=False)
            times.append((time.perf_counter() - t0) * 1e3)
    finally:
        cap.release()
    return statistics.median(times[WARMUP_FRAMES:]), stage._backend.profile.name


def _still_valid(entry) -> bool:
    if not isinstance(entry, dict) or not isinstance(entry.get("median_ms"), (int, float)):
        return False
    if entry["median_ms"] <= budget_ms():
        return True
    measured = entry.get("measured_s")
    return isinstance(measured, (int, float)) and 0 <= time.time() - measured < RECHECK_SLOW_S


def auto_choice(threads: int, measure_now: bool = True) -> Choice:
    """Whether ``auto`` runs rvm on this CPU, measuring once per machine key (``measure_now=False``:
    only what was measured before, for reports that must not load models or write files)."""
    from livecam import model_fetch

    state = model_fetch.status()
    if not state.startswith("ready"):
        return Choice(False, f"Person mask: the fast model, because rvm is {state}.")
    try:
        key = machine_key(threads)
    except ImportError:
        return Choice(False, "Person mask: the fast model, because ONNX Runtime is missing.")
    entry = _remembered().get(key)
    if not _still_valid(entry) and not measure_now:
        return Choice(False, "Person mask: the fast model until the first live start measures whether rvm keeps "
                             f"{TARGET_FPS} fps on this CPU (about ten seconds, once).")
    if not _still_valid(entry):
        log.info("Measuring whether rvm keeps %d fps on this CPU (about two seconds, once) ...", TARGET_FPS)
        try:
            median, profile = measure(threads)
        except Exception as exc:  # noqa: BLE001 - any failure means: not rvm, and say why
            return Choice(False, f"Person mask: the fast model, because rvm could not be measured here ({exc}).")
        try:
            remember(key, median, profile)
        except OSError as exc:
            log.warning("The rvm measurement could not be saved (%s); it runs again next start.", exc.strerror)
        entry = {"median_ms": median, "profile": profile}
    median, profile = float(entry["median_ms"]), str(entry.get("profile", ""))
    fps = 1000.0 / (median + OTHER_STAGES_MS)
    if median <= budget_ms():
        return Choice(True, f"Person mask: rvm ({profile}), because it measured {median:.0f} ms a 720p frame "
                            f"on this CPU, about {fps:.0f} fps with the effects.")
    return Choice(False, f"Person mask: the fast model, because rvm measured {median:.0f} ms a 720p frame on "
                         f"this CPU (about {fps:.0f} fps, under {TARGET_FPS}).")


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
