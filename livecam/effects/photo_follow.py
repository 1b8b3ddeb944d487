"""The photo avatar's surroundings follow the wearer's own picture, pixel by pixel.

The portrait's warp is a mesh: the face's points, a ring of 28 points round the head (which
follow the wearer's own motion there, ``PhotoAvatar.follow_surround``), a body ring and the box's
edge. Between those points the warp is piecewise affine, so hair strands, the neck and the collar
move only as their few nearest points do: the part of the picture outside the face outline held
most of the self-reenactment loss (photo9: +0.11 of the face box's SSIM if perfect, on all four
sides), and a neck pulled by a ring point draws the collar as a jagged edge.

The flow the head ring already reads (:class:`photo_motion.SurroundFlow`: DIS from the neutral
frame's crop round the head to this frame's, taken where the head's shift says) says, at every
pixel of that crop, where the wearer's picture came from. :func:`backward` turns it into a backward
field (where each pixel now was in the neutral frame) and smooths it: one motion per patch of
``SMOOTH`` face widths, not per pixel (a raw DIS field drew the sweater's collar in swirls).
:func:`follow` carries it onto the stage (the portrait's face lies over the wearer's neutral face,
scaled as the stage laid it out) and moves the warp's coarse map towards it round the face: fully
from the outline out, fading to nothing ``INSIDE`` face widths inside it (the face itself is the
mesh's), by at most ``REACH`` face widths, and fading out at the crop's edge (beyond it the mesh's
map stands).

**Only where the portrait shows what the wearer's neutral frame showed** (:func:`gate`, once per
neutral frame: a local SSIM of the portrait at rest against the neutral crop). The wearer's motion at
a place says how *that picture* moved; on another person's portrait the same place holds other hair,
another collar or room, and following it dragged ears into flaps and stretched jaws and collars
(Cruise's, the astronaut's and Obama's portraits on lp_d12). A portrait of the wearer from the same
seat (their own frame, as the self-reenactment scores) follows everywhere; another person's (tuning
photos Cruise, astronaut, Biden) is left to the mesh but for a few pixels of hair edge where two
plain backdrops meet (0.0-0.3 % of the pixels move by more than 10 levels, against 7 % on the
wearer's own portrait).
"""
from __future__ import annotations

import cv2
import numpy as np

from livecam.effects.mesh_warp import Grid
from livecam.imaging import shrink_by

# Tuning side, face-box SSIM lp_d12 / lp_d20 (frame 0 as the portrait, frames 10-149; HEAD 0.7971 /
# 0.8303, the final form 0.8139 / 0.8414). Each line: the others as shipped.
# Face widths inside the face outline over which the flow's share falls from 1 (at the outline) to
# 0: the jaw's edge moves with the wearer's picture, the face's inside with the mesh. 0: 0.8124 /
# 0.8396; 0.1: 0.8146 / 0.8429.
INSIDE = 0.05
# The flow's smoothing (Gaussian sigma, face widths). 0.03: 0.8150 / 0.8421; 0.04: 0.8149 / 0.8419;
# unsmoothed (an earlier form) 0.8137 / 0.8421 with swirls in the collar on the sheets, which 0.06
# leaves out.
SMOOTH = 0.06
# The flow is worked on shrunk to about this many of its pixels per sigma (cost: at 720p the crop's
# flow is ~170 x 136). 1.0: 0.8134 / 0.8412; 2.0: 0.8141 / 0.8414.
SHRINK = 1.5
# Face widths the flow may take a cell off the mesh's map (measured before the gate): 0.03: 0.8102 /
# 0.8413; 0.06: 0.8135 / 0.8413; 0.1: 0.8146 / 0.8413; 0.3 and unbounded as 0.15.
REACH = 0.15
# :func:`likeness`: the local SSIM (window WINDOW crop pixels) from which (0) to which (1) the portrait
# counts as the wearer's neutral picture. The wearer's own frame scores 0.64-0.74 at its 5th
# percentile and 0.86-0.90 at its 25th, other people's 0.38-0.73 at their 95th (a 1.5 pixel window
# told them apart less well: 0.42-0.84). (0.6, 0.85): 0.8147 / 0.8415; (0.75, 0.95): 0.8120 / 0.8404.
LIKE = (0.7, 0.9)
WINDOW = 3.0
EDGE = 0.05  # share of the crop's size over which the field fades out at its edge


def shrink_factor(sigma: float, shape: tuple[int, ...]) -> int:
    """The whole factor a field smoothed by ``sigma`` pixels is worked on shrunk by (SHRINK)."""
    q = max(1, int(round(sigma / SHRINK)))
    return q if min(shape[:2]) >= 4 * q else 1


def backward(flow: np.ndarray, sigma: float) -> tuple[np.ndarray, int]:
    """Where each pixel of the later crop was in the earlier one (offsets, in the crops' pixels),
    from DIS's ``flow`` (earlier -> later, defined on the earlier crop), smoothed by ``sigma`` pixels:
    the offset b at u solves b = -flow(u + b), one fixed-point step from b = -flow(u). Worked on the
    flow shrunk by the returned whole factor (the smoothing leaves nothing finer than it)."""
    q = shrink_factor(sigma, flow.shape)
    h, w = flow.shape[:2]
    if q > 1:  # trimmed to whole blocks: OpenCV's fast area path
        flow = cv2.resize(flow[:h // q * q, :w // q * q], (w // q, h // q), interpolation=cv2.INTER_AREA)
        flow *= np.float32(1.0 / q)
    h, w = flow.shape[:2]
    xs = np.arange(w, dtype=np.float32)[None, :]
    ys = np.arange(h, dtype=np.float32)[:, None]
    back = cv2.remap(flow, xs - flow[..., 0], ys - flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    back *= np.float32(-q)  # back in the crop's pixels
    if sigma / q > 0.3:
        back = cv2.GaussianBlur(back, (0, 0), sigma / q, borderType=cv2.BORDER_REPLICATE)
    return back, q


def likeness(ref: np.ndarray, portrait: np.ndarray) -> np.ndarray:
    """Per pixel (0..1), how far the portrait at rest (grey, laid over the wearer's neutral crop
    ``ref``) shows what the wearer's neutral frame showed there: SSIM (Gaussian window of WINDOW
    pixels) mapped from LIKE[0] (nothing) to LIKE[1] (all)."""
    a, b = ref.astype(np.float32), portrait.astype(np.float32)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def blur(x):
        return cv2.GaussianBlur(x, (0, 0), WINDOW)

    ma, mb = blur(a), blur(b)
    va, vb, cab = blur(a * a) - ma * ma, blur(b * b) - mb * mb, blur(a * b) - ma * mb
    ssim = ((2 * ma * mb + c1) * (2 * cab + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2))
    return np.clip((ssim - LIKE[0]) / (LIKE[1] - LIKE[0]), 0.0, 1.0).astype(np.float32)


def gate(ref: np.ndarray, laid: np.ndarray, to_laid: np.ndarray, step: int, sigma: float) -> np.ndarray | None:
    """:func:`likeness` of the portrait at rest to the wearer's neutral crop ``ref`` (grey, shrunk by
    ``step``), the portrait taken from ``laid`` (grey, as the stage lays it out; ``to_laid`` maps the
    crop's frame pixels into it), shrunk and smoothed as :func:`backward` leaves the flow (``sigma``
    pixels); None where it is nowhere above 0 (another person's portrait: nothing to do each frame)."""
    portrait = shrink_by(cv2.warpAffine(laid, to_laid, (ref.shape[1] * step, ref.shape[0] * step),
                                        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                        borderMode=cv2.BORDER_REPLICATE), step)
    like = likeness(ref, portrait)
    q = shrink_factor(sigma, like.shape)
    if q > 1:
        h, w = like.shape
        like = cv2.resize(like[:h // q * q, :w // q * q], (w // q, h // q), interpolation=cv2.INTER_AREA)
    if sigma / q > 0.3:
        like = cv2.GaussianBlur(like, (0, 0), sigma / q)
    return like if like.max() > 1e-3 else None


def follow(coarse: np.ndarray, grid: Grid, outline: np.ndarray, field: tuple[np.ndarray, int],
           to_crop: tuple[float, float, float], crop_step: int, guess: tuple[int, int], k: float, top: int,
           face_width: float, reach: float, like: np.ndarray | None = None) -> np.ndarray:
    """``coarse`` (the stage's warp map on ``grid``: per cell, where to sample the person layer)
    moved, in place, towards where the wearer's ``field`` (:func:`backward`: the offsets and the
    factor the crop is shrunk by) says each cell's picture was in the neutral frame.

    ``outline`` the driven face outline (stage pixels); ``to_crop`` (a, u0, v0): a stage pixel (x, y)
    lies at crop pixel (a x + u0, a y + v0) now; ``crop_step`` the crop's shrink factor and ``guess``
    the shift its crop was taken at (frame pixels); ``k`` stage pixels per wearer pixel; ``top`` the
    person layer's rows above the frame; ``face_width`` the portrait's (stage pixels); ``like``
    (:func:`likeness`, on the shrunk crop) scales the move."""
    field, q = field
    a, u0, v0 = to_crop[0] / q, (to_crop[1] + 0.5) / q - 0.5, (to_crop[2] + 0.5) / q - 0.5  # onto the shrunk field
    ch, cw = field.shape[:2]
    xs, ys = grid.centres()
    u, v = a * xs + u0, a * ys + v0
    edge = np.float32(1.0 / (EDGE * max(cw, ch)))
    ramp_u = np.minimum(np.minimum(u, cw - 1 - u) * edge, 1.0)
    ramp_v = np.minimum(np.minimum(v, ch - 1 - v) * edge, 1.0)
    cols, rows = np.flatnonzero(ramp_u > 0), np.flatnonzero(ramp_v > 0)
    if len(cols) < 2 or len(rows) < 2:
        return coarse
    c0, c1, r0, r1 = int(cols[0]), int(cols[-1]) + 1, int(rows[0]), int(rows[-1]) + 1
    size = (c1 - c0, r1 - r0)
    # The field there (those cells map onto the shrunk crop by an axis-aligned affine).
    m = np.array([[a * grid.step, 0.0, u[c0]], [0.0, a * grid.step, v[r0]]])
    back = cv2.warpAffine(field, m, size, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)
    part = coarse[r0:r1, c0:c1]
    # Where that picture was in the stage's person layer, less where the mesh samples it now.
    back *= np.float32(k * crop_step)
    back[..., 0] += xs[c0:c1] - np.float32(k * guess[0])
    back[..., 1] += ys[r0:r1, None] + np.float32(top - k * guess[1])
    off = cv2.subtract(back, part)
    share = np.minimum(np.float32(reach) / np.maximum(cv2.magnitude(off[..., 0], off[..., 1]), np.float32(1e-6)),
                       np.float32(1.0))
    # 1 outside the outline, falling to 0 INSIDE face widths in; fading out at the crop's edge.
    inside = np.zeros(size[::-1], np.uint8)
    sub = Grid(grid.x0 + c0 * grid.step, grid.y0 + r0 * grid.step, size[0], size[1], grid.step)
    cv2.fillPoly(inside, [np.round(sub.to_cells(outline) * 16).astype(np.int32)], 1, shift=4)
    depth = cv2.distanceTransform(inside, cv2.DIST_L2, 3)
    share *= np.maximum(1.0 - depth * np.float32(grid.step / max(INSIDE * face_width, 1e-6)), 0.0)
    share *= np.minimum.outer(ramp_v[r0:r1], ramp_u[c0:c1])
    if like is not None:
        share *= cv2.warpAffine(like, m, size, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)
    part += off * share[..., None]
    return coarse
