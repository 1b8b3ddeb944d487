"""Stand-ins for the two ends of the live loop, for driving ``LiveRunner`` in tests: a camera that
always has the next frame of a list ready (processing is the slow part), a sender that keeps
what it is handed, and an output that keeps what it sends."""
from __future__ import annotations

import numpy as np

from livecam.capture import Frame
from livecam.sinks import NullOutput


class ReadyCamera:
    """A camera that always has the next frame ready, then repeats the last one."""

    def __init__(self, frames):
        self.frames = frames

    def latest(self, after=-1, timeout=0.5):
        i = min(after + 1, len(self.frames) - 1)
        return Frame(self.frames[i], i, float(i) / 30)


class ListSender:
    """Keeps each frame handed over and its capture time."""

    def __init__(self):
        self.frames, self.times = [], []

    def submit(self, image, t):
        self.frames.append(image)
        self.times.append(t)


class RecordingOutput(NullOutput):
    """The null output (the real frame checks), keeping each frame it sends in ``got``."""

    def __init__(self, *args) -> None:
        super().__init__(*args)
        self.got: list[np.ndarray] = []

    def _send(self, image: np.ndarray) -> None:
        super()._send(image)
        self.got.append(image)
