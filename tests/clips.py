"""Small video files made for a test: what render, run and the edge sweep read as their input."""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np


def moving_dot_clip(path: Path, frames: int = 12, size: tuple[int, int] = (160, 120)) -> Path:
    """An mp4v clip of a red dot moving across a dark grey picture (every frame differs)."""
    w, h = size
    out = cv2.VideoWriter(os.fsdecode(path), cv2.VideoWriter_fourcc(*"mp4v"), 15, (w, h))
    for i in range(frames):
        image = np.full((h, w, 3), 40, np.uint8)
        cv2.circle(image, (10 + (i * 7) % (w - 20), h // 2), 8, (0, 0, 255), -1)
        out.write(image)
    out.release()
    return path
