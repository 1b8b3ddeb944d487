"""The safe frame: what leaves when an effect the user chose cannot run.

A background or avatar that fails must not show the room or the face it was hiding, so the whole
frame is blurred so strongly that nothing in it can be recognised (shapes and colours only), which
keeps the call's picture alive instead of freezing it. It is cheap (quarter size, twice halved) so
it can run on every frame of a long fault.
"""
from __future__ import annotations

import cv2
import numpy as np

SIGMA_SHARE = 0.06  # Gaussian sigma as a share of the frame width: 77 px at 720p, faces become blobs


def conceal(image: np.ndarray) -> np.ndarray:
    """``image`` blurred beyond recognition, same size and type."""
    h, w = image.shape[:2]
    small = cv2.resize(image, (max(1, w // 16), max(1, h // 16)), interpolation=cv2.INTER_AREA)
    sigma = max(1.0, SIGMA_SHARE * small.shape[1])
    small = cv2.GaussianBlur(small, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
