"""Scalar measures of a 468-point face mesh: size, mouth and eye opening. Pure functions."""
from __future__ import annotations

import math

import numpy as np

from livecam.analysis import face_regions as regions

_OVAL = np.asarray(regions.FACE_OVAL)


def face_width(landmarks: np.ndarray) -> float:
    """The face outline's box diagonal over sqrt 2: a size that does not change with head roll."""
    oval = landmarks[_OVAL, :2]
    return float(np.linalg.norm(oval.max(0) - oval.min(0)) / math.sqrt(2))


def mouth_openness(landmarks: np.ndarray) -> float:
    """Inner-lip gap over mouth width: 0 closed, ~0.5 wide open."""
    gap = np.linalg.norm(landmarks[13, :2] - landmarks[14, :2])
    width = np.linalg.norm(landmarks[78, :2] - landmarks[308, :2])
    return float(gap / max(width, 1e-6))


def lid_gap(landmarks: np.ndarray, upper: int, lower: int, outer: int, inner: int) -> float:
    """Lid gap over eye width for one eye given by its four mesh points."""
    return float(np.linalg.norm(landmarks[upper, :2] - landmarks[lower, :2])
                 / max(np.linalg.norm(landmarks[outer, :2] - landmarks[inner, :2]), 1e-6))
