"""The photo avatar's surroundings follow the wearer's own picture, cell by cell, where that motion
is consistent.

The portrait's warp is a mesh: the face's points, a ring of 28 points round the head (which
follow the wearer's own motion there, ``PhotoAvatar.follow_surround``), a body ring and the box's
edge. Between those points the warp is piecewise affine, so hair strands, the neck and the collar
move only as their few nearest points do: the part of the picture outside the face outline held
most of the self-reenactment loss (photo9: +0.11 of the face box's SSIM if perfect, on all four
sides).

The flow the head ring already reads (:class:`photo_motion.SurroundFlow`: DIS from the neutral
frame's crop round the head to this frame's) is measured both ways, and :func:`consistent` keeps it
only where the two undo each other (forward-backward check): where the chin covers the neck, at the
edge of hair that swings over the room, or where the picture has no texture, DIS fills in a smooth
guess in one direction that the other does not return, and following that guess tore a chin into a
notch (photo10, the reporting half's moving clip; on the tuning side it lowered lp_d3's frames 22-24
by 0.011-0.014 of the face box's SSIM below the mesh alone; with the check no frame of eight
tuning-side clips is more than 0.003 below it). The check is made on the fields shrunk to the
smoothing's scale, its tolerance in those cells. The kept backward field is smoothed by normalised
convolution (only consistent cells vote), one motion per patch of ``SMOOTH`` face widths, and the
share of consistent cells under each patch is how far the map follows it.

:func:`follow` carries it onto the stage (the portrait's face lies over the wearer's neutral face,
scaled as the stage laid it out) and moves the warp's coarse map towards it round the face: fully
from the outline out, fading to nothing ``INSIDE`` face widths inside it (the face itself is the
mesh's), by no more than the head itself has moved (hair, neck and collar hang between the head and
the body: nothing round the head moves further than the head does, give or take the flow's own
pixel), and never so that the warped grid folds (a cell whose map would turn over keeps the mesh's).
Elsewhere the map stays the mesh's, which moves rigidly with the head.

**Only where the portrait shows what the wearer's neutral frame showed** (:func:`gate`, photo10's,
once per neutral frame: a local SSIM of the portrait at rest against the neutral crop). The check
above says whether the *flow* is right; this one whether it is the motion of *this picture*. On
another person's portrait the same place holds other hair, another collar or room, and the wearer's
consistent motion there tore Obama's collar under the jaw on lp_d12 (frame 48) and ruffled the
astronaut's hair: ungated, 5.7 % and 7.7 % of the frame's pixels changed by more than 10 levels
against the mesh alone over lp_d12's 150 frames; gated, 0.05 % and 0.09 %.
"""
from __future__ import annotations

import cv2
import numpy as np

from livecam.effects.mesh_warp import Grid
from livecam.imaging import shrink_by

# Face widths inside the face outline over which the flow's share falls from 1 (at the outline) to
# 0: the jaw's edge moves with the wearer's picture, the face's inside with the mesh (photo10's).
INSIDE = 0.05
# The flow's smoothing (Gaussian sigma, face widths): one motion per patch, not per pixel (a raw
# field drew the collar in swirls; photo10's).
SMOOTH = 0.06
# The flow is worked on shrunk to about this many of its pixels per sigma (the smoothing leaves
# nothing finer).
SHRINK = 1.5
EDGE = 0.05  # share of the crop's size over which the field fades out at its edge
# The forward-backward check's tolerance (Sundaram, Brox and Keutzer 2010, "Dense point trajectories
# by GPU-accelerated large displacement optical flow"): the round trip may miss by 1 % of the two
# motions' squared length plus half a cell squared (the resolution the field is used at). Made at
# the crop's full resolution instead (half a crop pixel), tuning face-box SSIM lp_d12 / lp_d20 /
# lp_d3 / lp_s32 0.8082 / 0.8405 / 0.7985 / 0.8191 against 0.8131 / 0.8413 / 0.8000 / 0.8256 so, at
# about twice the cost.
FB_RELATIVE = 0.01
FB_PIXELS = 0.5
FOLD_PASSES = 16  # :func:`unfolded`'s passes (up to 9-16 needed on tuning-side frames)
# :func:`likeness` (photo10's): the local SSIM (window WINDOW crop pixels) from which (0) to which (1)
# the portrait counts as the wearer's neutral picture. The wearer's own frame scores 0.64-0.74 at its
# 5th percentile and 0.86-0.90 at its 25th, other people's 0.38-0.73 at their 95th.
LIKE = (0.7, 0.9)
WINDOW = 3.0


def shrink_factor(sigma: float, shape: tuple[int, ...]) -> int:
    """The whole factor a field smoothed by ``sigma`` pixels is worked on shrunk by (SHRINK)."""
    q = max(1, int(round(sigma / SHRINK)))
    return q if min(shape[:2]) >= 4 * q else 1


def consistent(fwd: np.ndarray, back: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray, int]:
    """From DIS's ``fwd`` (neutral crop -> this frame's, on the neutral crop) and ``back`` (this
    frame's -> neutral, on this frame's crop): where each pixel of this frame's crop was in the
    neutral one (offsets, crop pixels), kept only where the round trip returns within
    ``FB_RELATIVE``/``FB_PIXELS`` and smoothed by ``sigma`` pixels over those places alone; the share
    (0..1) of such places round each; and the whole factor all three are worked on shrunk by. The
    check is made on the shrunk fields, its tolerance in their cells (the smoothing leaves nothing
    finer, and it costs a sixteenth at the usual factor 4)."""
    q = shrink_factor(sigma, back.shape)
    if q > 1:  # trimmed to whole blocks: OpenCV's fast area path; offsets in shrunk cells
        h, w = back.shape[:2]
        size = (w // q, h // q)
        fwd = cv2.resize(fwd[:h // q * q, :w // q * q], size, interpolation=cv2.INTER_AREA) * np.float32(1.0 / q)
        back = cv2.resize(back[:h // q * q, :w // q * q], size, interpolation=cv2.INTER_AREA) * np.float32(1.0 / q)
    h, w = back.shape[:2]
    xs = np.arange(w, dtype=np.float32)[None, :] + back[..., 0]
    ys = np.arange(h, dtype=np.float32)[:, None] + back[..., 1]
    there = cv2.remap(fwd, xs, ys, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    miss = cv2.add(there, back)
    tol = np.float32(FB_RELATIVE) * (cv2.magnitude(there[..., 0], there[..., 1]) ** 2
                                     + cv2.magnitude(back[..., 0], back[..., 1]) ** 2) + np.float32(FB_PIXELS)
    inside = (xs >= 0) & (xs <= w - 1) & (ys >= 0) & (ys <= h - 1)
    ok = ((cv2.magnitude(miss[..., 0], miss[..., 1]) ** 2 <= tol) & inside).astype(np.float32)
    weighted = back * (ok * np.float32(q))[..., None]  # back in the crop's pixels
    if sigma / q > 0.3:
        weighted = cv2.GaussianBlur(weighted, (0, 0), sigma / q, borderType=cv2.BORDER_REPLICATE)
        ok = cv2.GaussianBlur(ok, (0, 0), sigma / q, borderType=cv2.BORDER_REPLICATE)
    field = weighted / np.maximum(ok, np.float32(1e-3))[..., None]
    return field, ok, q


def unfolded(mesh: np.ndarray, off: np.ndarray, share: np.ndarray, step: float) -> np.ndarray:
    """``mesh + off * share`` (the coarse map moved towards the flow, cells ``step`` pixels apart),
    with the share taken back round every quad of cells where that map turns the grid over (its
    Jacobian's determinant not positive, while the mesh's was): to 0 at the quad's corners, and
    round them no faster than one cell's worth of motion a cell (a cell ``d`` cells away keeps at
    most ``d * step / |off|``), so the way back to the mesh is no fold itself. The picture there
    keeps the mesh's motion. A few passes; a map still folded after them is the mesh's."""
    mx = mesh[:-1, 1:] - mesh[:-1, :-1]
    my = mesh[1:, :-1] - mesh[:-1, :-1]
    was = (mx[..., 0] * my[..., 1] - mx[..., 1] * my[..., 0]) > 0
    per_cell = np.float32(0.5 * step) / np.maximum(cv2.magnitude(off[..., 0], off[..., 1]), np.float32(1e-6))
    share = share.copy()
    for _ in range(FOLD_PASSES):
        part = mesh + off * share[..., None]
        dx = part[:-1, 1:] - part[:-1, :-1]
        dy = part[1:, :-1] - part[:-1, :-1]
        bad = ((dx[..., 0] * dy[..., 1] - dx[..., 1] * dy[..., 0] <= 0) & was).astype(np.uint8)
        if not bad.any():
            return part
        clear = np.ones(share.shape, np.uint8)  # 0 at each folded quad's four corner cells
        clear[:-1, :-1] &= 1 - bad
        clear[:-1, 1:] &= 1 - bad
        clear[1:, :-1] &= 1 - bad
        clear[1:, 1:] &= 1 - bad
        away = cv2.distanceTransform(clear, cv2.DIST_L2, 3)
        share = np.minimum(share, away * per_cell)
    return mesh.copy()


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


def follow(coarse: np.ndarray, grid: Grid, outline: np.ndarray, field: tuple[np.ndarray, np.ndarray, int],
           to_crop: tuple[float, float, float], crop_step: int, guess: tuple[int, int], k: float, top: int,
           face_width: float, reach: float, like: np.ndarray | None = None) -> np.ndarray:
    """``coarse`` (the stage's warp map on ``grid``: per cell, where to sample the person layer)
    moved, in place, towards where the wearer's ``field`` (:func:`consistent`: the offsets, the
    share of consistent flow, the factor the crop is shrunk by) says each cell's picture was in the
    neutral frame, by at most ``reach`` stage pixels a cell and never folding the grid.

    ``outline`` the driven face outline (stage pixels); ``to_crop`` (a, u0, v0): a stage pixel (x, y)
    lies at crop pixel (a x + u0, a y + v0) now; ``crop_step`` the crop's shrink factor and ``guess``
    the shift its crop was taken at (frame pixels); ``k`` stage pixels per wearer pixel; ``top`` the
    person layer's rows above the frame; ``face_width`` the portrait's (stage pixels); ``like``
    (:func:`gate`, on the shrunk crop) scales the move."""
    field, trust, q = field
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
    share *= cv2.warpAffine(trust, m, size, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)
    if like is not None:
        share *= cv2.warpAffine(like, m, size, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)
    coarse[r0:r1, c0:c1] = unfolded(part.copy(), off, share, grid.step)
    return coarse
