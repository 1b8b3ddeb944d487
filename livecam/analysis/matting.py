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

from dataclasses import dataclass

import cv2
import numpy as np

from livecam.analysis.runtime import ModelSession, RecurrentRunner, load_model
from livecam.model_fetch import RVM, model_path

SPEC = {"file": RVM.file, "sha256": RVM.sha256, "licence": RVM.licence, "fp16": True}
STATE = {"r1i": "r1o", "r2i": "r2o", "r3i": "r3o", "r4i": "r4o"}

# The network's inner size (long side, px) per use. Measured with 1 CPU thread: 320 ≈ 60 ms a
# frame, 640 ≈ 250-280 ms; on the dev photos IoU 0.946 at 640, 0.943 at 960 (no gain above 640).
LIVE_CPU_INNER = 320  # live on the CPU: the most a call can afford, "slow without a GPU"
FULL_INNER = 640  # on a GPU, and in `render`, which has no real-time limit
LIVE_CPU_INPUT = 640  # live on the CPU the input is shrunk to this long side (half of 720p):
# the learned upsampler's cost grows with the input, and half the frame is what the CPU path gives too


@dataclass(frozen=True)
class Plan:
    """Input size (w, h) handed to the network and its downsample ratio."""

    width: int
    height: int
    ratio: float


def plan(frame_width: int, frame_height: int, on_gpu: bool, offline: bool) -> Plan:
    """Input size per use: small for live CPU, the full frame on a GPU and in render."""
    long_side = max(frame_width, frame_height)
    if on_gpu or offline:
        scale, inner = 1.0, FULL_INNER
    else:
        scale, inner = min(1.0, LIVE_CPU_INPUT / long_side), LIVE_CPU_INNER
    w, h = max(16, round(frame_width * scale)), max(16, round(frame_height * scale))
    return Plan(w, h, min(1.0, inner / max(w, h)))


class Matting:
    """One RVM stream. ``__call__(frame)`` → (alpha float32 0..1, foreground BGR uint8), both at
    the plan's input size."""

    name = "rvm"

    def __init__(self, provider: str = "auto", threads: int = 1, offline: bool = False,
                 io_binding: bool | None = None) -> None:
        self.session: ModelSession = load_model("rvm", provider, threads, spec=SPEC, path=model_path(RVM))
        self.runner = RecurrentRunner(self.session, STATE, io_binding=io_binding)
        self.offline = offline
        self._plan: Plan | None = None
        self._frame_size: tuple[int, int] | None = None

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
            self._plan = plan(w, h, self.on_gpu, self.offline)
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
