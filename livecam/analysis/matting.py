"""Robust Video Matting (RVM, MobileNetV3): a recurrent matting network that returns a soft alpha
and the person's own colour (foreground) at the input's resolution.

GPL-3.0, so never shipped: ``livecam models fetch rvm`` puts it in the user data folder. Its
recurrent state (r1..r4) carries what it learned about the scene from frame to frame; it lives in a
``RecurrentRunner`` (on the GPU between frames where the session runs there) and is reset on a new
source, a new size or a scene cut. The network shrinks its input by ``downsample_ratio`` inside and
upsamples its result with a learned guided filter, so the input size sets the output's sharpness
and the ratio sets the cost.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from livecam.analysis.runtime import (
    ModelError,
    ModelSession,
    RecurrentRunner,
    load_model,
)
from livecam.model_fetch import RVM, model_path

SPEC = {"file": RVM.file, "sha256": RVM.sha256, "licence": RVM.licence, "fp16": True}
STATE = {"r1i": "r1o", "r2i": "r2o", "r3i": "r3o", "r4i": "r4o"}
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Profile:
    """How rvm runs for one use: one name for its sizes, threads and precision, so a render made
    ``--like-live`` and the live loop run (and say) the same thing."""

    name: str
    input_long: int | None  # the frame is shrunk to this long side first; None: the frame's own size
    inner: int  # the network's inner size (long side, px): sets the downsample ratio, i.e. the cost
    int8: bool = False  # the int8 copy made on this machine (livecam.analysis.rvm_quant) instead of fp32
    min_threads: int = 1  # at least this many threads (never more than the machine has)


# Live on a CPU: the frame at 640 px (half of 720p), inner size 320, the int8 copy, two threads where
# the machine has two cores. Measured on this project's 2-core AMD EPYC (AVX-512 VNNI) and the dev
# photos (shared/data/masks/dev): the int8 copy takes about a fifth off the CPU time for under a
# point and a half of IoU (tuning half 0.957 -> 0.945, halo still below the landscape model's). A smaller inner
# size was cheaper still but is not safe: at 256 or 288 the recurrent state drifted on a still small
# photo until the person was gone (IoU 0.78 -> 0.00 over 40 frames); at 320 it holds.
CPU_LIVE = Profile("rvm-cpu-live-int8", input_long=640, inner=320, int8=True, min_threads=2)
CPU_LIVE_FP32 = Profile("rvm-cpu-live-fp32", input_long=640, inner=320, int8=False, min_threads=2)  # no onnx package
# On a GPU and in `render` (no real-time limit) rvm sees the whole frame: on the dev photos IoU
# 0.946 at inner 640, 0.943 at 960 (no gain above 640).
GPU_LIVE = Profile("rvm-gpu-live", input_long=None, inner=640)
OFFLINE = Profile("rvm-offline-full", input_long=None, inner=640)


@dataclass(frozen=True)
class Plan:
    """Input size (w, h) handed to the network and its downsample ratio."""

    width: int
    height: int
    ratio: float


def plan(frame_width: int, frame_height: int, profile: Profile) -> Plan:
    """The network's input size and downsample ratio for a frame under ``profile``."""
    long_side = max(frame_width, frame_height)
    scale = 1.0 if profile.input_long is None else min(1.0, profile.input_long / long_side)
    w, h = max(16, round(frame_width * scale)), max(16, round(frame_height * scale))
    return Plan(w, h, min(1.0, profile.inner / max(w, h)))


def live_threads(threads: int, profile: Profile) -> int:
    """The profile's threads: the setting, raised to its minimum where the machine has the cores."""
    if threads <= 0:  # 0: ONNX Runtime decides
        return threads
    return max(threads, min(profile.min_threads, os.cpu_count() or 1))


def prepare_live_copy(progress=print) -> dict:
    """Make the live CPU profile's int8 copy of the fetched rvm (kept if already made); its record.
    Raises ModelError (one sentence) when it cannot be made."""
    from livecam.analysis import rvm_quant

    size = plan(1280, 720, CPU_LIVE)  # calibrated at the size a 720p camera gives the network
    return rvm_quant.make_int8(model_path(RVM), SPEC["sha256"], (size.width, size.height), size.ratio, progress)


class Matting:
    """One RVM stream. ``__call__(frame)`` → (alpha float32 0..1, foreground BGR uint8), both at
    the plan's input size. ``profile`` says how it runs (sizes, threads, precision)."""

    name = "rvm"

    def __init__(self, provider: str = "auto", threads: int = 1, offline: bool = False,
                 io_binding: bool | None = None, gpu_possible: bool = True) -> None:
        self.offline = offline
        self.notice = ""  # one sentence when the live CPU profile runs in full precision instead
        fp32 = model_path(RVM)
        if offline:
            self.profile = OFFLINE
            session = load_model("rvm", provider, threads, spec=SPEC, path=fp32)
        else:
            session = load_model("rvm", provider, threads, spec=SPEC, path=fp32) if gpu_possible else None
            self.profile = GPU_LIVE if session is not None and session.provider != "CPUExecutionProvider" else CPU_LIVE
            if self.profile is CPU_LIVE:
                session = self._open_cpu_live(fp32, live_threads(threads, CPU_LIVE))
        self.session: ModelSession = session
        self.runner = RecurrentRunner(self.session, STATE, io_binding=io_binding)
        self._plan: Plan | None = None
        self._frame_size: tuple[int, int] | None = None

    def _open_cpu_live(self, fp32: Path, threads: int) -> ModelSession:
        """The int8 copy (made now on its first use); full precision when it cannot be made."""
        from livecam.analysis import rvm_quant

        if not CPU_LIVE.int8:
            return load_model("rvm", "cpu", threads, spec=SPEC, path=fp32)
        try:
            record = prepare_live_copy(log.info)
            spec = {**SPEC, "file": record["file"], "sha256": record["sha256"]}
            return load_model("rvm", "cpu", threads, spec=spec, path=rvm_quant.int8_path(fp32))
        except ModelError as exc:
            # Full precision: a fifth slower, as good or better; a bad fetched file raises its own sentence here.
            session = load_model("rvm", "cpu", threads, spec=SPEC, path=fp32)
            self.notice, self.profile = str(exc), CPU_LIVE_FP32
            log.warning("%s", exc)
            return session

    @property
    def provider(self) -> str:
        return self.session.provider

    @property
    def on_gpu(self) -> bool:
        return self.session.provider != "CPUExecutionProvider"

    def reset(self) -> None:
        """Forget the scene (new source, scene cut)."""
        self.runner.reset()

    def input_for(self, image_bgr: np.ndarray) -> np.ndarray:
        """The frame at the plan's size (a new frame size restarts the recurrent state)."""
        h, w = image_bgr.shape[:2]
        if self._frame_size != (w, h):
            self._frame_size = (w, h)
            self._plan = plan(w, h, self.profile)
            self.runner.reset()
        p = self._plan
        if (p.width, p.height) == (w, h):
            return image_bgr
        return cv2.resize(image_bgr, (p.width, p.height), interpolation=cv2.INTER_AREA)

    def to_tensor(self, small_bgr: np.ndarray) -> np.ndarray:
        rgb = cv2.cvtColor(small_bgr, cv2.COLOR_BGR2RGB)
        return (rgb.astype(np.float32) * np.float32(1 / 255)).transpose(2, 0, 1)[None]

    def infer(self, tensor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ratio = np.array([self._plan.ratio if self._plan else 1.0], np.float32)
        out = self.runner.step({"src": tensor, "downsample_ratio": ratio}, outputs=("fgr", "pha"))
        alpha = np.clip(out["pha"][0, 0], 0.0, 1.0).astype(np.float32, copy=False)
        fgr = out["fgr"][0].transpose(1, 2, 0)  # RGB float 0..1, H x W x 3
        foreground = cv2.cvtColor(cv2.convertScaleAbs(fgr, alpha=255.0), cv2.COLOR_RGB2BGR)
        return alpha, foreground

    def __call__(self, image_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.infer(self.to_tensor(self.input_for(image_bgr)))
