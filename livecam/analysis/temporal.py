"""Pure mask helpers: temporal smoothing against flicker and guided-filter edge refinement against
halos. Each takes arrays and parameters only, so each can be tested on its own."""
from __future__ import annotations

import cv2
import numpy as np


def smooth_mask(previous: np.ndarray | None, current: np.ndarray, strength: float) -> np.ndarray:
    """Motion-adaptive exponential smoothing of float masks in 0..1.

    Small changes are mostly model noise (the flicker users see at hair and shoulders), so they are
    averaged hard; large changes are real motion, so the mask follows them at once and nothing lags
    behind a moving hand.
    """
    if previous is None or previous.shape != current.shape or strength <= 0:
        return current
    change = cv2.absdiff(current, previous)
    # weight of the old mask: `strength` for tiny changes, falling to 0 for a change of 0.5 or more
    keep = strength * np.clip(1.0 - change * 2.0, 0.0, 1.0)
    return current + keep * (previous - current)


def guided_filter(guide: np.ndarray, src: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """He et al.'s guided filter with a grey guide (float32 0..1): the output follows the guide's
    edges, which snaps a coarse mask to real hair and shoulder contours. opencv-python-headless has
    no ximgproc, and the filter is six box filters."""
    ksize = (2 * radius + 1, 2 * radius + 1)
    mean_i = cv2.boxFilter(guide, -1, ksize)
    mean_p = cv2.boxFilter(src, -1, ksize)
    corr_ip = cv2.boxFilter(guide * src, -1, ksize)
    corr_ii = cv2.boxFilter(guide * guide, -1, ksize)
    var_i = corr_ii - mean_i * mean_i
    cov_ip = corr_ip - mean_i * mean_p
    a = cov_ip / (var_i + eps)
    b = mean_p - a * mean_i
    return cv2.boxFilter(a, -1, ksize) * guide + cv2.boxFilter(b, -1, ksize)


def refine_mask(small_bgr: np.ndarray, mask: np.ndarray, radius: int = 2, eps: float = 1e-3) -> np.ndarray:
    """Snap a model-resolution mask to the edges of the frame shrunk to the same size (the model's
    own input), with a guided filter. Returns float32 0..1 at that size; upsampling the smooth
    result to the frame is then cheap and leaves no blocky stair-steps."""
    guide = cv2.cvtColor(small_bgr, cv2.COLOR_BGR2GRAY).astype(np.float32) * np.float32(1 / 255)
    return np.clip(guided_filter(guide, mask, radius, eps), 0.0, 1.0)


def to_frame_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """float 0..1 mask at any size → uint8 0..255 at frame size (w, h), ready for integer compositing."""
    m8 = cv2.convertScaleAbs(mask, alpha=255.0)
    if (m8.shape[1], m8.shape[0]) != size:
        m8 = cv2.resize(m8, size, interpolation=cv2.INTER_LINEAR)
    return m8
