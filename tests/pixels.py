"""Pixel scores shared by the fail-closed tests: whether a frame is hidden, how much of the raw
room's fine detail it keeps, and short moving clips of masks/dev photos with their true room."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import shared_data

# The real functions, taken when the tests are collected, before any test replaces them: scoring
# must not see the faults a test injects into OpenCV.
_GAUSSIAN, _CVT = cv2.GaussianBlur, cv2.cvtColor


def sharpness(image: np.ndarray) -> float:
    """Detail finer than ~4 px: what is left after taking away a Gaussian-blurred copy."""
    grey = _CVT(image, cv2.COLOR_BGR2GRAY).astype(np.float32)
    return float(np.abs(grey - _GAUSSIAN(grey, (0, 0), 4)).mean())


def is_hidden(out: np.ndarray, raw: np.ndarray) -> bool:
    """Blurred beyond recognition: under 5 % of the raw frame's detail left."""
    return out.shape == raw.shape and sharpness(out) < 0.05 * sharpness(raw)


def _detail(image: np.ndarray) -> np.ndarray:
    grey = _CVT(image, cv2.COLOR_BGR2GRAY).astype(np.float32)
    return grey - _GAUSSIAN(grey, (0, 0), 2)


def room_detail(out: np.ndarray, raw: np.ndarray, room: np.ndarray) -> float:
    """How much of the raw room's fine detail ``out`` keeps there: normalised correlation, 1 = all."""
    a, b = _detail(out)[room], _detail(raw)[room]
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum() + 1e-6))


def room_clip(name: str, frames: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """A short moving clip from one masks/dev photo (the model must run: a still picture reuses its
    mask) and, per frame, the room: the true background, 4 px clear of the person."""
    root = shared_data() / "masks" / "dev"
    image, mask = cv2.imread(str(root / "images" / f"{name}.jpg")), cv2.imread(str(root / "masks" / f"{name}.png"), 0)
    if image is None or mask is None:
        pytest.skip(f"{name} is not in the shared masks")
    h, w = image.shape[:2]
    size = (256, round(h * 256 / w) // 2 * 2)
    image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    room = cv2.erode((cv2.resize(mask, size, interpolation=cv2.INTER_NEAREST) < 128).astype(np.uint8),
                     np.ones((9, 9), np.uint8))
    shifts = [3 * (i % 4) for i in range(frames)]
    return [np.roll(image, s, axis=1) for s in shifts], [np.roll(room, s, axis=1)[:, 12:] > 0 for s in shifts]
