"""The One Euro filter (Casiez, Roussel, Vogel, CHI 2012) over whole arrays of coordinates.

A low-pass filter whose cutoff rises with speed: a still head gets heavy smoothing (no jitter), a
moving one almost none (no lag). Speed is divided by ``scale`` (the face size) so the same settings
work for a face near the camera and one far away, as MediaPipe's LandmarksSmoothingCalculator does.
"""
from __future__ import annotations

import math

import numpy as np

# MediaPipe's settings for face and pose landmarks (min_cutoff 0.05 Hz, beta 80, derivative 1 Hz),
# with speed in face sizes per second.
MIN_CUTOFF = 0.05
BETA = 80.0
D_CUTOFF = 1.0


def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
    tau = 1.0 / (2.0 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    def __init__(self, min_cutoff: float = MIN_CUTOFF, beta: float = BETA, d_cutoff: float = D_CUTOFF) -> None:
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None

    def reset(self) -> None:
        self._x = self._dx = None

    def __call__(self, x: np.ndarray, dt: float, scale: float = 1.0) -> np.ndarray:
        """Filter one new sample ``x`` taken ``dt`` seconds after the previous one."""
        x = np.asarray(x, dtype=np.float32)
        if self._x is None or self._x.shape != x.shape or dt <= 0:
            self._x, self._dx = x.copy(), np.zeros_like(x)
            return x.copy()
        inv_scale = 1.0 / max(scale, 1e-6)
        dx = (x - self._x) * (inv_scale / dt)
        self._dx += _alpha(self.d_cutoff, dt) * (dx - self._dx)
        cutoff = self.min_cutoff + self.beta * np.abs(self._dx)
        a = _alpha(cutoff, dt)
        self._x += a * (x - self._x)
        return self._x.copy()
