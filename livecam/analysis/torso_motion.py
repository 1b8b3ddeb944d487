"""How far the wearer's torso has moved since a reference frame, from the picture alone.

The face mesh says where the head is; nothing says where the shoulders are. A head that turns
moves the face's centre without moving the body, a wearer who leans moves both. The photo avatar
needs to tell the two apart, or its shoulders slide with every head turn. So a small grey crop
below the chin is kept at the neutral pose, and each frame the same part of the picture is
phase-correlated with it (one FFT pair on a 64-pixel-wide crop, ~0.2 ms).

Where the picture shows too little torso (head-and-shoulders framing), the mesh alone still tells a
head that moves on its neck from one the body carries: a turn or a nod swings the face round the
neck's top, so whatever of the head's travel that rotation does not explain moved the neck itself
(:func:`carried`).
"""
from __future__ import annotations

import cv2
import numpy as np

from livecam.analysis import face_regions as regions
from livecam.imaging import shrink_by, whole_factor_box

CROP_WIDTH = 160  # the crop is shrunk by a whole factor to at most this width (3-4 px per cell at 720p)
MIN_ROWS = 32  # a crop shorter than this (shrunk less to keep it) holds too little torso to measure
BAND = (0.3, 1.1)  # rows from chin + this many face heights down (clear of the chin when the head nods)
HALF_WIDTH = 1.0  # half the crop's width, in face heights
MIN_RESPONSE = 0.2  # phase-correlation peak below which the frame's estimate is not trusted
MAX_SHIFT = 0.25  # a shift beyond this share of the crop is a wrap-around or another object
SMOOTHING = 0.5  # weight of the new estimate (the rest is the previous one): no jitter on the shoulders
EARS = (234, 454)  # the face outline's sides, in front of the ears: the neck's top lies at their depth


def neck_top(landmarks: np.ndarray) -> np.ndarray:
    """Where the head turns on its neck, in the mesh's (x, y, z): midway between the ears, at the
    ears' depth and the chin's height."""
    ears = landmarks[list(EARS)]
    return np.array([ears[:, 0].mean(), landmarks[152, 1], ears[:, 2].mean()], np.float64)


def carried(travel: np.ndarray, rotation: np.ndarray, centre: np.ndarray, neck: np.ndarray,
            low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """The share (x, y) of the head's ``travel`` since neutral that the body carried: what the head's
    ``rotation`` about the ``neck``'s top (both neutral mesh coordinates, as the pose points'
    ``centre``) does not explain, beyond what a neck moves a head by on its own (from ``low`` to
    ``high``, x and y).

    A nod, a turn or a tilt swings the face's centre round the neck's top with the body still; a
    wearer who sits up lifts it with no rotation at all. Tuning half, the most a clip's head
    travelled sideways / down and (after the arrow) what its rotation leaves of it, in face widths:
    lp_d3 (nods and turns, body still) 0.163 -> 0.077 / 0.133 -> 0.067; lp_d12 (ducks, leans) 0.418
    -> 0.327 / 0.317 -> 0.318. Up: lp_d20 (sits up) 0.667 -> 0.657, the clips whose body stays
    0.041 -> 0.039 at most."""
    turned = ((rotation - np.eye(3)) @ (np.asarray(centre, np.float64) - neck))[:2]
    rest = np.asarray(travel, np.float64)[:2] - turned
    return rest - np.clip(rest, low, high)


class TorsoMotion:
    """Translation (dx, dy) of the torso in frame pixels since :meth:`reset` (the next frame), or
    None while the picture shows too little torso (a head-and-shoulders crop) or it cannot be
    followed (a plain shirt)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._box: tuple[int, int, int, int] | None = None
        self._ref: np.ndarray | None = None
        self._window: np.ndarray | None = None
        self._shift = np.zeros(2)
        self._scale = 1.0
        self._misses = 0
        self._missing = False

    def _crop(self, image: np.ndarray) -> np.ndarray:
        x0, y0, x1, y1 = self._box
        return shrink_by(cv2.cvtColor(image[y0:y1, x0:x1], cv2.COLOR_BGR2GRAY), int(self._scale)).astype(np.float32)

    def update(self, image: np.ndarray, landmarks: np.ndarray) -> np.ndarray | None:
        """The torso's shift since the reference (zero on the first call), or None (see the class)."""
        if self._missing:
            return None
        if self._ref is None:
            h, w = image.shape[:2]
            oval = landmarks[np.asarray(regions.FACE_OVAL), :2]
            face_h = float(oval[:, 1].max() - oval[:, 1].min())
            chin = float(landmarks[152, 1])
            cx = float(oval[:, 0].mean())
            x0, x1 = int(max(0, cx - HALF_WIDTH * face_h)), int(min(w, cx + HALF_WIDTH * face_h))
            y0, y1 = int(max(0, chin + BAND[0] * face_h)), int(min(h, chin + BAND[1] * face_h))
            box, step = whole_factor_box(x0, y0, x1, y1, CROP_WIDTH)
            # A torso cut by the frame's bottom (head-and-shoulders framing) leaves a short crop:
            # it is shrunk less, down to MIN_ROWS rows, rather than given up.
            step = max(1, min(step, (y1 - y0) // MIN_ROWS))
            box = (x0, y0, x0 + (x1 - x0) // step * step, y0 + (y1 - y0) // step * step)
            if x1 - x0 < CROP_WIDTH // 2 or (box[3] - box[1]) // step < MIN_ROWS:
                self._missing = True
                return None
            self._box, self._scale = box, float(step)
            self._ref = self._crop(image)
            self._window = cv2.createHanningWindow((self._ref.shape[1], self._ref.shape[0]), cv2.CV_32F)
            return self._shift
        (dx, dy), response = cv2.phaseCorrelate(self._ref, self._crop(image), self._window)
        rows, cols = self._ref.shape
        if response < MIN_RESPONSE or abs(dx) > MAX_SHIFT * cols or abs(dy) > MAX_SHIFT * rows:
            self._misses += 1
            return None if self._misses > 2 else self._shift  # a few bad frames keep the last estimate
        self._misses = 0
        self._shift += SMOOTHING * (np.array([dx, dy]) * self._scale - self._shift)
        return self._shift
