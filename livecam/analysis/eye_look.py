"""Where an eye looks, from the picture itself: the iris's place along the eye, cheaply.

The face mesh has no iris points and the iris model costs about 1 ms an eye, more than the face
swap can spend; but inside the lids the iris is the darkest thing there is. Its place is the
centroid of the darkest sixth of the pixels inside the eye outline, projected on the line from
the outer to the inner corner: 0 at the outer corner, 1 at the inner, about 0.5 looking ahead.
Lashes along the upper lid are dark too, but they run along the eye and barely move that
projection. Pure functions on a crop a few dozen pixels wide.
"""
from __future__ import annotations

import cv2
import numpy as np

from livecam.analysis import face_regions as regions

# (outline, outer corner, inner corner) per eye, subject's right eye first.
EYE_CORNERS = ((regions.RIGHT_EYE, 33, 133), (regions.LEFT_EYE, 263, 362))
DARKEST = 15  # percent of the eye's pixels taken as the iris (it fills a third or more of an open eye)
MIN_PIXELS = 12  # an eye smaller than this (closed, far away) gives no reading


def iris_along(image: np.ndarray, landmarks: np.ndarray, outline, outer: int, inner: int) -> float | None:
    """The iris's place along one eye (0 outer corner .. 1 inner corner), or None when the eye is
    too small or shut to tell."""
    pts = landmarks[np.asarray(outline), :2]
    x0, y0 = np.maximum(np.floor(pts.min(0)).astype(int), 0)
    x1, y1 = np.minimum(np.ceil(pts.max(0)).astype(int) + 1, (image.shape[1], image.shape[0]))
    if x1 - x0 < 4 or y1 - y0 < 2:
        return None
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(mask, [np.round(pts - (x0, y0)).astype(np.int32)], 1)
    crop = image[y0:y1, x0:x1]
    grey = crop[..., 1] if crop.ndim == 3 else crop  # green: the iris against the white, no conversion
    inside = mask.view(bool)
    values = grey[inside]
    if len(values) < MIN_PIXELS:
        return None
    k = len(values) * DARKEST // 100
    dark = inside & (grey <= np.partition(values, k)[k])
    ys, xs = np.nonzero(dark)
    centre = np.array([xs.mean() + x0, ys.mean() + y0])
    a, b = landmarks[outer, :2], landmarks[inner, :2]
    axis = b - a
    return float(np.dot(centre - a, axis) / max(float(np.dot(axis, axis)), 1e-6))


def iris_positions(image: np.ndarray, landmarks: np.ndarray) -> list[float | None]:
    """:func:`iris_along` for both eyes, subject's right eye first."""
    return [iris_along(image, landmarks, outline, outer, inner) for outline, outer, inner in EYE_CORNERS]
