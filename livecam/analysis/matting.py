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

import concurrent.futures
import logging
import os
import time
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

# "spin": False: between its steps the session's second thread sleeps instead of spinning. On this
# project's 2-core machine with other work running, rvm at 2 threads took 59 ms of CPU (65 ms wall)
# a frame that way against 103 ms (122 ms wall) spinning (int8, 640x360, A/B alternated, load 4.8);
# on a laptop the video-call app needs that core.
SPEC = {"file": RVM.file, "sha256": RVM.sha256, "licence": RVM.licence, "fp16": True, "spin": False}
STATE = {"r1i": "r1o", "r2i": "r2o", "r3i": "r3o", "r4i": "r4o"}
# rvm's states are ConvGRU hidden states, which lie in [-1, 1] (on 330 frames of the demo and four shared clips the
# largest was 1.0000002, float rounding); past this is a fault.
STATE_BOUND = 1.001
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
    every: int = 1  # rvm runs on every n-th frame; in between its last matte follows the picture (Follow)
    lag: int = 0  # rvm runs on a worker thread and its result is taken this many frames later (Follow)


# Live on a CPU: the frame at 640 px (half of 720p), inner size 320, and rvm on every third frame
# only; in between its last matte follows the picture (Follow), and while the picture is still rvm
# is not run at all. Measured on this project's 2-core AMD EPYC with a 30 fps camera's pace at 720p
# (the calibration in livecam.analysis.rvm_live, A/B in one run, load 0.8): the int8 copy on every
# frame kept 20 fps (2 threads, 17.5 with one); rvm one frame in three kept 30 fps with two threads
# (22.5 with one, and 22.5 with two at load 1.4, when the second core is busy). Where people move
# little is lost (six clips of shared/data/video, 60 frames each: mask IoU against rvm on every
# frame 0.990, worst frame 0.97; IoU against the green-screen clip's masks 0.950 either way), so
# the full-precision network fits, and it is the better one (tuning half of shared/data/masks/dev:
# IoU 0.957 against 0.948 for the int8 copy at the same cadence).
#
# Where that is too slow (a busy or slower CPU), rvm runs beside the live loop on a worker thread,
# its result taken two frames later: 30 fps with one thread at load 0.8 (the loop's frames 7 ms on
# average, 9 ms at the slowest 5 %), but the matte is carried further, so it follows fast moves
# less well (IoU against rvm on every frame 0.983, worst frame 0.72) and shimmers more on still
# edges (still-pixel flicker 1.19 of 1000 against 0.50 for rvm on every frame and 0.20 in the
# loop). The int8 copy (livecam.analysis.rvm_quant, about a quarter less CPU time) is the last
# resort. `auto` measures them in this order and takes the first that keeps 25 fps.
#
# A smaller inner size was cheaper still but is not safe: at 256 or 288 the recurrent state drifted
# on a still small photo until the person was gone (IoU 0.78 -> 0.00 over 40 frames); at 320 it holds.
CPU_LIVE = Profile("rvm-cpu-live-1in3", input_long=640, inner=320, min_threads=2, every=3)
CPU_LIVE_BESIDE = Profile("rvm-cpu-live-1in3-beside", input_long=640, inner=320, every=3, lag=2)
CPU_LIVE_INT8 = Profile("rvm-cpu-live-int8-1in3-beside", input_long=640, inner=320, int8=True, every=3, lag=2)
CPU_PROFILES = (CPU_LIVE, CPU_LIVE_BESIDE, CPU_LIVE_INT8)  # best first: `auto` takes the first that keeps 25 fps
# On a GPU and in `render` (no real-time limit) rvm sees the whole frame: on the dev photos IoU
# 0.946 at inner 640, 0.943 at 960 (no gain above 640).
GPU_LIVE = Profile("rvm-gpu-live", input_long=None, inner=640)
OFFLINE = Profile("rvm-offline-full", input_long=None, inner=640)


# Between two rvm frames its matte and colour are moved with the picture: dense optical flow (DIS,
# OpenCV's fastest preset) from this frame back to the one rvm saw, on grey frames FLOW_WIDTH wide.
FLOW_WIDTH = 320  # at most the network's input width


class Follow:
    """When rvm runs, and its last matte and colour carried to the frames it skips.

    Per frame: ``advance()``, then ``due()`` says whether rvm starts on this frame: on every
    ``every``-th frame, except that with the motion gate on it rests while the picture has not
    changed since it last ran (its matte still fits and its recurrent state is kept as it is), for
    at most ``max_hold`` frames. With ``lag`` rvm's run goes to a worker thread and its result is
    taken ``lag`` frames later (waiting for it then if need be), so the frames between are made
    while it runs; the same frames get the same masks however fast the machine is. ``carry()``
    moves the last result to this frame."""

    def __init__(self, every: int, lag: int = 0, max_hold: int = 8) -> None:
        self.every, self.lag, self.max_hold = every, lag, max_hold
        self._flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
        self._grid: tuple[np.ndarray, np.ndarray] | None = None
        self._pending = None
        self.reset()

    def reset(self) -> None:
        self.drop()
        self._grey: np.ndarray | None = None  # the small grey frame rvm's last result is for
        self._alpha: np.ndarray | None = None
        self._fgr: np.ndarray | None = None
        self.since = 0  # frames since rvm last started (this one included)
        self.held = False  # the last frame reused rvm's matte unmoved (the picture was still)

    def drop(self) -> None:
        """Forget a run in progress (after it ends: the recurrent state must not change under a reset)."""
        pending, self._pending = self._pending, None
        if pending is not None:
            concurrent.futures.wait([pending[0]])

    @property
    def ready(self) -> bool:
        return self._alpha is not None

    @staticmethod
    def grey(image_bgr: np.ndarray) -> np.ndarray:
        h, w = image_bgr.shape[:2]
        fw = min(FLOW_WIDTH, w)
        size = (fw, max(8, round(fw * h / w)))
        return cv2.cvtColor(cv2.resize(image_bgr, size, interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY)

    def advance(self) -> None:
        """A new frame: a run started ``lag`` frames ago is taken now (its errors raise here)."""
        self.since += 1
        if self._pending is None:
            return
        future, grey, age = self._pending
        self._pending = (future, grey, age + 1)
        if age + 1 >= self.lag:
            self._pending = None
            self.keep(grey, *future.result())

    def due(self, grey: np.ndarray, gate: bool) -> bool:
        if self._pending is not None:
            return False
        if self._grey is None or self._grey.shape != grey.shape:
            return True
        if self.since < self.every:
            return False
        if gate and self.since < self.max_hold:
            from livecam.analysis import temporal as T

            motion = T.frame_motion(self._grey, grey)
            return motion is None or not T.still(motion)
        return True

    def started(self, grey: np.ndarray, future: concurrent.futures.Future | None = None) -> None:
        """rvm started on this frame: at once (its result follows in ``keep``) or on the worker."""
        self.since = 0
        if future is not None:
            self._pending = (future, grey, 0)

    def keep(self, grey: np.ndarray, alpha: np.ndarray, fgr: np.ndarray) -> None:
        self._grey, self._alpha, self._fgr, self.held = grey, alpha, fgr, False

    def carry(self, grey: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """rvm's last matte and colour moved to this frame (float32 alpha, uint8 BGR, rvm's size)."""
        from livecam.analysis import temporal as T

        motion = T.frame_motion(self._grey, grey)
        if motion is not None and T.still(motion):
            self.held = True
            return self._alpha, self._fgr
        self.held = False
        flow = self._flow.calc(grey, self._grey, None)
        # Where the picture did not change the flow is noise, and moving the matte there would make
        # it shimmer (still-pixel flicker on three clips 0.90 -> 0.76 of 1000, rvm on every frame 0.65).
        flow[motion < T.GATE_STILL] = 0
        h, w = self._alpha.shape
        if self._grid is None or self._grid[0].shape != (h, w):
            self._grid = tuple(np.indices((h, w), np.float32)[::-1])  # x, y
        scale = np.float32(w / grey.shape[1])
        flow = cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR)
        flow *= scale
        map_x, map_y = cv2.add(self._grid[0], flow[..., 0]), cv2.add(self._grid[1], flow[..., 1])
        alpha = cv2.remap(self._alpha, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        fgr = cv2.remap(self._fgr, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        return alpha, fgr


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

    size = plan(1280, 720, CPU_LIVE_INT8)  # calibrated at the size a 720p camera gives the network
    return rvm_quant.make_int8(model_path(RVM), SPEC["sha256"], (size.width, size.height), size.ratio, progress)


class Matting:
    """One RVM stream. ``__call__(frame)`` → (alpha float32 0..1, foreground BGR uint8), both at
    the plan's input size, running the network on every frame. ``profile`` says how it runs (sizes,
    threads, precision, how often); ``cpu_profile`` is the one wanted when it runs on the CPU live.
    ``follow`` (profiles that skip frames) says when the network runs (``start`` runs it on a worker
    thread) and carries the matte between the frames it sees."""

    name = "rvm"

    def __init__(self, provider: str = "auto", threads: int = 1, offline: bool = False,
                 io_binding: bool | None = None, gpu_possible: bool = True, cpu_profile: Profile | None = None) -> None:
        self.offline = offline
        self.notice = ""  # one sentence when the int8 profile runs in full precision instead
        fp32 = model_path(RVM)
        if offline:
            self.profile = OFFLINE
            session = load_model("rvm", provider, threads, spec=SPEC, path=fp32)
        else:
            session = load_model("rvm", provider, threads, spec=SPEC, path=fp32) if gpu_possible else None
            on_gpu = session is not None and session.provider != "CPUExecutionProvider"
            cpu_profile = cpu_profile or CPU_LIVE
            self.profile = GPU_LIVE if on_gpu else cpu_profile
            if not on_gpu:
                session = self._open_cpu_live(fp32, live_threads(threads, cpu_profile))
        self.session: ModelSession = session
        self.runner = RecurrentRunner(self.session, STATE, io_binding=io_binding, state_bound=STATE_BOUND)
        self.follow = Follow(self.profile.every, self.profile.lag) if self.profile.every > 1 else None
        self._worker: concurrent.futures.ThreadPoolExecutor | None = None
        # Wall ms of each network run since the live watch last read it; None (nothing kept) unless watched.
        self.run_ms: list[float] | None = None
        self._plan: Plan | None = None
        self._frame_size: tuple[int, int] | None = None

    def _open_cpu_live(self, fp32: Path, threads: int) -> ModelSession:
        """The profile's network: full precision, or the int8 copy (made now on its first use; where
        it cannot be made, full precision as CPU_LIVE_BESIDE runs it, with a notice saying why)."""
        from livecam.analysis import rvm_quant

        if not self.profile.int8:
            return load_model("rvm", "cpu", threads, spec=SPEC, path=fp32)
        try:
            record = prepare_live_copy(log.info)
            spec = {**SPEC, "file": record["file"], "sha256": record["sha256"]}
            return load_model("rvm", "cpu", threads, spec=spec, path=rvm_quant.int8_path(fp32))
        except ModelError as exc:
            # A bad fetched file raises its own sentence here.
            session = load_model("rvm", "cpu", threads, spec=SPEC, path=fp32)
            self.notice, self.profile = str(exc), CPU_LIVE_BESIDE
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
        if self.follow is not None:
            self.follow.reset()  # first: a run in progress ends before the state is cleared
        self.runner.reset()

    def start(self, tensor: np.ndarray) -> concurrent.futures.Future:
        """``infer(tensor)`` on the worker thread (one run at a time; Follow takes its result)."""
        if self._worker is None:
            self._worker = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="livecam-rvm")
        return self._worker.submit(self.infer, tensor)

    def input_for(self, image_bgr: np.ndarray) -> np.ndarray:
        """The frame at the plan's size (a new frame size restarts the recurrent state)."""
        h, w = image_bgr.shape[:2]
        if self._frame_size != (w, h):
            self.reset()  # first: a run in progress on the worker still reads the old plan
            self._frame_size = (w, h)
            self._plan = plan(w, h, self.profile)
        p = self._plan
        if (p.width, p.height) == (w, h):
            return image_bgr
        return cv2.resize(image_bgr, (p.width, p.height), interpolation=cv2.INTER_AREA)

    def to_tensor(self, small_bgr: np.ndarray) -> np.ndarray:
        rgb = cv2.cvtColor(small_bgr, cv2.COLOR_BGR2RGB)
        return (rgb.astype(np.float32) * np.float32(1 / 255)).transpose(2, 0, 1)[None]

    def infer(self, tensor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ratio = np.array([self._plan.ratio if self._plan else 1.0], np.float32)
        t0 = time.perf_counter()
        out = self.runner.step({"src": tensor, "downsample_ratio": ratio}, outputs=("fgr", "pha"))
        if self.run_ms is not None:
            self.run_ms.append((time.perf_counter() - t0) * 1e3)
        alpha = np.clip(out["pha"][0, 0], 0.0, 1.0).astype(np.float32, copy=False)
        fgr = out["fgr"][0].transpose(1, 2, 0)  # RGB float 0..1, H x W x 3
        foreground = cv2.cvtColor(cv2.convertScaleAbs(fgr, alpha=255.0), cv2.COLOR_RGB2BGR)
        return alpha, foreground

    def __call__(self, image_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.infer(self.to_tensor(self.input_for(image_bgr)))
