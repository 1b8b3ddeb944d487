"""The dark under the nose belongs to the wearer's pose, not to the photo.

How much of the nostrils and of the nose's underside a camera sees depends on how the head is tilted:
a portrait taken from below, or a broad smile that lifts the upper lip, shows them as a large dark
area. The warp puts the photo's nose base onto the wearer's, stretched to the wearer's (often longer)
nose-to-lip distance, so that area becomes a dark triangle under the nose of a wearer who faces the
camera. The wearer supplies head pose, so there the swapped face is made no darker, relative to the
skin around it, than the wearer's own face is at the same place (give or take ``SLACK``): it is blended
towards the photo's own skin beside it, so the photo's colour and grain stay and its nostrils show
within the wearer's view of them.

"Relative to the skin around it" is a morphological closing (dark holes smaller than the kernel
filled from the skin beside them, highlights left in place) smoothed a little: the same measure on
both faces, so the two lighting conditions cancel and no constant depends on either's exposure.
"""
from __future__ import annotations

import cv2
import numpy as np

from livecam.analysis.face_measures import face_width
from livecam.effects.avatar_light import blur8

from livecam.effects import swap_kernels

# The compiled loops (numba) where they could be made (``livecam.jit``); else the same values from OpenCV calls.
_kernels = swap_kernels if swap_kernels.READY else None

# The nose base: nostrils, columella and the top of the philtrum (the stretched area lies between).
NOSE_BASE = (64, 98, 97, 2, 326, 327, 294, 278, 344, 440, 275, 4, 45, 220, 115, 48, 164, 0)
_NOSE_BASE = np.array(NOSE_BASE)  # as an index once, not a list built every frame
GROW = 0.03  # the region grown by this, of the face width
FEATHER = 0.03  # its edge softened over this, of the face width
HOLE = 0.16  # dark areas narrower than this (of the face width) are measured against the skin beside them
HOLE_CELLS = 7.0  # the skin beside them is worked out at this many pixels a hole
# How much darker (a share of the skin's brightness) the photo's nose base may stay than the wearer's at
# the same place: nostrils the photo's light shows a little more than the wearer's keep their shape (they
# are the photo's nose); a dark area where the wearer shows skin is lifted to within this of it.
# Tuning half, 60 frames: 0 erased a frontal photo's nostrils (sk_astronaut on lp_d19) and cost the
# identity margin 0.03 (median); 0.3 left half of the dark triangles; 0.2 left a soft shadow under the
# nose, dark share under the nose 0.33-0.39 -> 0.03-0.11, margins within 0.05 of none, shares unchanged.
SLACK = 0.2
# The lift is made only where a dark area needs it: at least AREA of the nose base filled by over STRONG.
# Tuning half, 60 frames, with the lift on every frame against none: id margin median 0.301 -> 0.277,
# blink r 0.788 -> 0.722 (dlib fits the whole face's landmarks, eyes included, and the small lifts on
# ordinary photos moved that fit); gated, the 8 pairs without a dark area are as with none, and
# the 4 with one (Cruise x2, Biden2 and the Julia Roberts crop on lp_s18) keep the lift.
STRONG, AREA = 0.3, 0.1
# While the gate finds no dark area it is read again only every RECHECK-th frame: the reading is most of
# the cost (0.5-0.9 ms at 720p) and a pose that shows a dark nose base lasts far longer than a few
# frames; once found, it is read (and lifted) every frame.
RECHECK = 4


def _skin(small: np.ndarray, hole: float, sigma: float) -> np.ndarray:
    """The skin's colour around each pixel of ``small`` (an image at HOLE_CELLS pixels a hole): dark
    holes narrower than ``hole`` pixels filled from beside them, with a square kernel (separable: a
    round one costs its diameter per pixel), smoothed by ``sigma`` (pixels of ``small``)."""
    k = max(3, int(round(hole)) | 1)
    closed = cv2.morphologyEx(small, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))
    return cv2.GaussianBlur(closed, (0, 0), max(0.5, sigma))


def _darkness(luma: np.ndarray, skin: np.ndarray) -> np.ndarray:
    """Per pixel, luma over the skin's around it (1 = as light as the skin, 0 = black)."""
    return np.minimum(luma / np.maximum(skin, 1.0), 1.0)


class NoseBase:
    """The nose-base lift for one wearer: reads the gate every frame while it lifts, every RECHECK-th
    frame while it finds nothing to lift."""

    def __init__(self) -> None:
        self._wait = 0

    def lift(self, face: np.ndarray, live: np.ndarray, landmarks: np.ndarray, origin: tuple[int, int],
             fw: float | None = None) -> None:
        """:func:`lift_nose_base` on this frame, or nothing on a frame the gate is not read."""
        if self._wait > 0:
            self._wait -= 1
            return
        self._wait = 0 if lift_nose_base(face, live, landmarks, origin, fw) else RECHECK - 1


def nose_crop(landmarks: np.ndarray, origin: tuple[int, int], fw: float) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """The nose base's points relative to ``origin`` and the box (x0, y0, x1, y1, not clipped to the
    face) that :func:`lift_nose_base` reads around them: the swap's row spans must hold it whole."""
    pts = landmarks[_NOSE_BASE, :2] - np.asarray(origin, np.float32)
    pad = (GROW + 2 * FEATHER + 0.5 * HOLE) * fw
    x0, y0 = np.floor(pts.min(0) - pad).astype(int)
    x1, y1 = np.ceil(pts.max(0) + pad).astype(int)
    return pts, (int(x0), int(y0), int(x1), int(y1))


def lift_nose_base(face: np.ndarray, live: np.ndarray, landmarks: np.ndarray, origin: tuple[int, int],
                   fw: float | None = None) -> bool:
    """Lighten ``face`` (the swapped face, BGR uint8, in place) under the nose where it is darker,
    relative to its skin, than ``live`` (the wearer's pixels of the same box) is there. ``landmarks``
    are the frame's mesh points (the wearer's), ``origin`` the box's top-left corner in the frame.
    True when it lifted (its gate found a dark area). ``fw``: the landmarks' ``face_width`` where the
    caller has it already (the same value)."""
    fw = face_width(landmarks) if fw is None else fw
    if not np.isfinite(fw) or fw < 8:
        return False
    pts, (x0, y0, x1, y1) = nose_crop(landmarks, origin, fw)
    h, w = face.shape[:2]
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if x1 - x0 < 4 or y1 - y0 < 4:
        return False
    # The region and its feather are smooth: drawn at the skin reference's reduced scale.
    scale = max(1.0, HOLE * fw / HOLE_CELLS)
    small = (max(1, round((x1 - x0) / scale)), max(1, round((y1 - y0) / scale)))
    region = np.zeros(small[::-1], np.uint8)
    hull = cv2.convexHull(np.round((pts - (x0, y0)) / scale * 16).astype(np.int32))
    cv2.fillConvexPoly(region, hull, 255, cv2.LINE_AA, shift=4)
    grow = max(1, int(round(GROW * fw / scale)))
    region = cv2.dilate(region, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1)))
    region = blur8(region, max(0.5, FEATHER * fw / scale))
    # The skin beside each pixel is smooth: worked out at the reduced scale. Which share of each pixel
    # to fill is read at half size (a nostril is still many pixels there); only the blend is full size.
    size = (x1 - x0, y1 - y0)
    half = (max(1, size[0] // 2), max(1, size[1] // 2))
    crop = face[y0:y1, x0:x1]
    grey = cv2.cvtColor(live[y0:y1, x0:x1], cv2.COLOR_BGR2GRAY)
    hole, sigma = HOLE * fw / scale, 0.5 * FEATHER * fw / scale
    skin = _skin(cv2.resize(crop, small, interpolation=cv2.INTER_AREA), hole, sigma)  # BGR: what a filled pixel becomes
    theirs_skin = _skin(cv2.resize(grey, small, interpolation=cv2.INTER_AREA), hole, sigma)
    greys = (_grey_half(crop, half), _grey_half(skin, half, cv2.INTER_LINEAR),
             _grey_half(grey, half), _grey_half(theirs_skin, half, cv2.INTER_LINEAR))
    shares = _fill(greys, cv2.resize(region, half, interpolation=cv2.INTER_LINEAR))
    if shares is None:
        return False
    fill, (r0, r1, c0, c1) = shares
    # The blend, full size, over the box the fill reaches only.
    bx0, by0 = 2 * c0, 2 * r0
    bx1, by1 = min(size[0], 2 * c1 + 2), min(size[1], 2 * r1 + 2)
    fill = cv2.resize(fill, size, interpolation=cv2.INTER_LINEAR)
    skin = cv2.resize(skin, size, interpolation=cv2.INTER_LINEAR)
    lift_toward(face, (x0 + bx0, y0 + by0), skin, fill, (bx0, by0, bx1, by1))
    return True


def lift_toward(face: np.ndarray, at: tuple[int, int], skin: np.ndarray, fill: np.ndarray,
                box: tuple[int, int, int, int]) -> None:
    """The box ``box`` (x0, y0, x1, y1) of ``skin`` (BGR uint8) and ``fill`` (float32, one share a
    pixel) blended into ``face`` (BGR uint8, in place) at ``at`` (x, y): each pixel moved towards the
    skin by its share, rounded half to even and saturated. One compiled loop (``swap_kernels``) where
    it can run, the same values (``tests/test_swap_kernels.py``); otherwise the four OpenCV calls."""
    (x, y), (bx0, by0, bx1, by1) = at, box
    h, w = by1 - by0, bx1 - bx0
    if (_kernels is not None and face.dtype == skin.dtype == np.uint8 and fill.dtype == np.float32
            and face.ndim == skin.ndim == 3 and face.shape[2] == skin.shape[2] == 3 and fill.ndim == 2
            and face.flags.c_contiguous and skin.flags.c_contiguous and fill.flags.c_contiguous
            and skin.shape[:2] == fill.shape and h > 0 and w > 0 and 0 <= by0 and by1 <= fill.shape[0]
            and 0 <= bx0 and bx1 <= fill.shape[1] and 0 <= y and y + h <= face.shape[0]
            and 0 <= x and x + w <= face.shape[1]):
        _kernels.lift_toward(face.reshape(face.shape[0], -1), y, x, skin.reshape(skin.shape[0], -1), fill,
                             by0, bx0, h, w)
        return
    part, skin, fill = face[y:y + h, x:x + w], skin[by0:by1, bx0:bx1], fill[by0:by1, bx0:bx1]
    step = cv2.subtract(skin, part, dtype=cv2.CV_32F)
    part[:] = cv2.add(part, cv2.multiply(step, cv2.merge([fill, fill, fill])), dtype=cv2.CV_8U)


def _fill(greys: tuple[np.ndarray, ...], region: np.ndarray) -> tuple[np.ndarray, tuple[int, ...]] | None:
    """Which share of each pixel (half size, float32) to fill, from the face's grey and its skin's
    and the wearer's grey and its skin's (``greys``, uint8) and the region's weight (``region``,
    uint8), and the first and last row and column it reaches; None where the gate finds no dark
    area. One compiled pass (``swap_kernels.nose_fill``, the same values) where it can run."""
    if (_kernels is not None and region.dtype == np.uint8 and region.ndim == 2 and region.flags.c_contiguous
            and all(g.dtype == np.uint8 and g.shape == region.shape and g.flags.c_contiguous for g in greys)):
        fill, stats = np.empty(region.shape, np.float32), np.empty(6, np.int64)
        top = _kernels.nose_fill(*greys, region, np.float32(SLACK), np.float32(STRONG), np.float32(0.004), fill, stats)
        inside, strong, r0, r1, c0, c1 = stats.tolist()
        if float(top) < 0.02 or strong < AREA * max(inside, 1):
            return None
        return fill, (r0, r1, c0, c1)
    mine_grey, mine_skin, their_grey, their_skin = (g.astype(np.float32) for g in greys)
    mine, theirs = _darkness(mine_grey, mine_skin), _darkness(their_grey, their_skin)
    # The share of the way from this pixel to the skin beside it that brings it to within SLACK of the
    # wearer's darkness: the photo's own nostrils, as dark as its light made them, stay.
    fill = np.clip((theirs - SLACK - mine) / np.maximum(1.0 - mine, 1e-3), 0.0, 1.0)
    weight_half = region.astype(np.float32) * np.float32(1 / 255)
    fill *= weight_half
    # Only a dark area, not a nostril a little darker than the wearer's (see STRONG, AREA).
    inside = weight_half > 0.5
    if float(fill.max()) < 0.02 or np.count_nonzero(fill[inside] > STRONG) < AREA * max(np.count_nonzero(inside), 1):
        return None
    rows, cols = np.nonzero(fill > 0.004)
    return fill, (int(rows.min()), int(rows.max()), int(cols.min()), int(cols.max()))


def _grey_half(image: np.ndarray, size: tuple[int, int], interpolation: int = cv2.INTER_AREA) -> np.ndarray:
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    return cv2.resize(grey, size, interpolation=interpolation)
