"""The frame-guided edge's per-pixel step, worked in cache-sized strips.

``temporal.apply_coefficients`` turns the guided fit's small coefficient maps into the uint8 alpha at
the working size (half the frame) through frame-size float32 temporaries: at 720p a 3-channel one
of 2.8 MB and two of 0.9 MB, each written out to memory and read back by the next step. The same
arithmetic on strips of STRIP_ROWS rows keeps the temporaries in the core's cache. On the s18 clip at
720p, one thread: 0.51 ms against 0.69-0.84 (same run, load 5). The coefficients are enlarged by
``warpAffine`` (positions exact to 1/32 of a coefficient cell) instead of ``resize``: within one
level of ``apply_coefficients`` everywhere.
"""
from __future__ import annotations

import cv2
import numpy as np

from livecam.analysis.temporal import buffer

# 64 working rows: at 720p three temporaries of 0.5 MB together; 30-row strips cost more in calls
# than they save (0.95 ms), whole-frame warps gain nothing (0.74).
STRIP_ROWS = 64
_ONES3 = np.ones((1, 3), np.float32)


def apply_coefficients(a8: np.ndarray, b8: np.ndarray, guide8: np.ndarray, space: dict) -> np.ndarray:
    """uint8 alpha at the guide's size: a8 · guide8 + b8, saturated to 0..255, with ``a8`` (h, w, 3)
    and ``b8`` (h, w) the small coefficient maps of ``temporal.curve_coefficients`` enlarged
    bilinearly (pixel centres on pixel centres, as ``cv2.resize``) and ``guide8`` the uint8 BGR
    working frame. ``space``: the caller's dict, in which the strip buffers live between frames."""
    h, w = guide8.shape[:2]
    ch, cw = b8.shape[:2]
    fx, fy = cw / w, ch / h
    rows = min(STRIP_ROWS, h)
    q = buffer(space, "strip_a", (rows, w, 3))
    s = buffer(space, "strip_sum", (rows, w))
    b = buffer(space, "strip_b", (rows, w))
    out = np.empty((h, w), np.uint8)
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    for y0 in range(0, h, rows):
        n = min(rows, h - y0)
        # Rows y0 .. y0 + n of the whole enlargement: the inverse map shifted by y0 rows.
        m = np.float32([[fx, 0, 0.5 * fx - 0.5], [0, fy, fy * (y0 + 0.5) - 0.5]])
        qs = cv2.warpAffine(a8, m, (w, n), dst=q[:n], flags=flags, borderMode=cv2.BORDER_REPLICATE)
        cv2.multiply(qs, guide8[y0:y0 + n], dst=qs, dtype=cv2.CV_32F)
        total = cv2.transform(qs, _ONES3, dst=s[:n])  # a · guide: the three products summed
        bs = cv2.warpAffine(b8, m, (w, n), dst=b[:n], flags=flags, borderMode=cv2.BORDER_REPLICATE)
        cv2.add(total, bs, dst=out[y0:y0 + n], dtype=cv2.CV_8U)  # rounds and saturates both ends
    return out
