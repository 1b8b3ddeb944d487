"""Pure mask helpers: temporal smoothing against flicker, a frame-guided upsample against soft and
misplaced edges, and the person's own colour in the edge band against room-tinted fringes. Each
takes arrays and parameters only, so each can be tested on its own."""
from __future__ import annotations

import cv2
import numpy as np

from livecam.analysis import mask_kernels

MOTION_FULL = 0.1  # mean grey change (0..1) over a 5x5 patch at which the mask follows the model at once
# A disagreement with the model larger than RELEASE_DELTA, in the same direction for RELEASE_FRAMES
# frames in a row, is a real change (the model corrected itself, or something moved slowly), not
# shimmer: the smoothed mask then takes the model's value at once. Shimmer changes direction from
# frame to frame; a held error does not. This bounds how long a still region can hold a mistake.
RELEASE_DELTA = 0.3
RELEASE_FRAMES = 4


def frame_motion(previous_grey: np.ndarray | None, grey: np.ndarray) -> np.ndarray | None:
    """Local image change between two small uint8 grey frames, float32 0..1 (None on the first frame)."""
    if previous_grey is None or previous_grey.shape != grey.shape:
        return None
    return cv2.blur(cv2.absdiff(grey, previous_grey), (5, 5)).astype(np.float32) * np.float32(1 / 255)


SCENE_CUT = 40.0  # mean grey change (0..255) of a 32x18 thumbnail at which a frame starts a new scene


def thumbnail(image_bgr: np.ndarray) -> np.ndarray:
    """A 32x18 grey thumbnail, for telling a scene cut from motion."""
    return cv2.resize(cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY), (32, 18), interpolation=cv2.INTER_AREA)


def scene_cut(previous: np.ndarray | None, current: np.ndarray) -> bool:
    """Whether two thumbnails show different scenes (a new source, a cut in a video): temporal
    state from the old scene (held masks, a matting network's memory) must not carry over. A person
    moving, even close to the camera, changes far less of the picture than this."""
    if previous is None or previous.shape != current.shape:
        return previous is not None
    return float(cv2.absdiff(previous, current).mean()) > SCENE_CUT


def smooth_mask(previous: np.ndarray | None, current: np.ndarray, motion: np.ndarray | None,
                strength: float, streak: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Image-motion-adaptive smoothing of float masks in 0..1; returns (mask, streak).

    Where the picture did not change, a change of the mask is model noise (the shimmer users see at
    hair and shoulders), so the previous mask is kept with weight ``strength``; where the picture
    moved, the mask follows the model at once, so nothing lags behind a moving hand.

    ``streak`` (int8, same shape; pass back what the previous call returned) counts, per pixel, the
    frames in a row in which the model disagreed with the held mask by more than RELEASE_DELTA in the
    same direction; at RELEASE_FRAMES the model's value is taken as it is. Without it a still wall
    keeps whatever the mask said about it with weight ``strength`` every frame, so a mistake the
    model has already dropped fades out over many frames instead of leaving.
    """
    if streak is None or streak.shape != current.shape:
        streak = np.zeros(current.shape, np.int8)
    if previous is None or motion is None or previous.shape != current.shape or strength <= 0:
        streak[:] = 0
        return current, streak
    if _compiled_arrays((previous, current, motion), np.float32, current.shape) and _compiled_arrays(
            (streak,), np.int8, current.shape):
        # The same numbers in one compiled pass (mask_kernels.smooth_into); both results are new
        # arrays, as below: the held mask is handed out with the frame's analysis.
        out, streak_out = np.empty_like(current), np.empty_like(streak)
        mask_kernels.smooth_into(previous, current, motion, np.float32(strength), streak, out, streak_out,
                                 np.float32(RELEASE_DELTA), RELEASE_FRAMES)
        return out, streak_out
    diff = current - previous
    direction = (diff > RELEASE_DELTA).view(np.int8) - (diff < -RELEASE_DELTA).view(np.int8)
    # Same direction as the streak so far: it grows; otherwise it restarts at this frame's direction.
    streak = direction + streak * ((streak * direction) > 0)
    np.clip(streak, -RELEASE_FRAMES, RELEASE_FRAMES, out=streak)
    keep = np.float32(strength) * np.clip(np.float32(1.0) - motion * np.float32(1 / MOTION_FULL), 0.0, 1.0)
    keep *= np.abs(streak) < RELEASE_FRAMES
    return current - keep * diff, streak


# The motion gate. A picture whose 5x5-mean grey change at the model's size stays under GATE_STILL
# everywhere has not changed (sensor noise at that size is 1-2 levels): its mask is the last one.
# The model still runs at least every GATE_MAX_SKIPS + 1 frames, so nothing slower than that
# (a dimming room) goes unseen for long.
GATE_STILL = 3.0 / 255
GATE_MAX_SKIPS = 3
# Settling: where the picture did not change (5x5-mean grey change at the model's size of at most 4
# levels: SETTLE_STILL; motion comes in whole levels) an edge alpha keeps its last value. The
# frame-guided edge follows the sensor's noise, and with the steep edge curve that noise flips edge
# pixels by tens of levels from frame to frame; a real change of the outline (a moving hand, a held
# error released by the streak counter) moves the picture or swings the alpha off the ramp, and
# passes at once. Tuned once on the clips of quality.TUNING_CLIPS (d0, d18, d20, d6, s18 and AOC of
# shared/data/video); the other five are the check. Flicker there as a share of the raw model's (all
# pixels / still pixels / warped, see quality.py), against 0.389 / 0.171 / 0.411 for the old test
# (up to 15 levels, changes up to 128 of 255 held): up to 2 levels 0.413 / 0.136 / 0.374, 3 0.393 /
# 0.141 / 0.382, 4 0.380 / 0.145 / 0.388, 5 0.371 / 0.147 / 0.392, 7 0.358 / 0.150 / 0.400. A looser
# test holds edges that move (less change over all pixels, more that the motion does not explain);
# 4 is the tightest that is no worse than the old test on any of the three.
SETTLE_STILL = 4.5 / 255


def still(motion: np.ndarray) -> bool:
    """Whether nothing in the picture changed (``motion`` from frame_motion)."""
    return float(motion.max()) < GATE_STILL


# The small-motion tier of the gate. A picture that moved by less than HOLD_SHIFT of a model pixel
# since the model last ran gives the model nothing it can resolve: its outline would move by less
# than its own sampling (the Nyquist half-pixel), and the frame-guided edge, fitted against the new
# frame, follows the sub-pixel move. So the held mask serves, refined afresh, and the model runs at
# least every HOLD_MAX_SKIPS + 1 frames. The bound is checked at every pixel from the picture itself,
# not tuned on a clip: a texture whose 5x5-mean gradient is g (grey levels a model pixel) moved by d
# model pixels changes by at most d * g on that mean (brightness constancy, |∇I · v| <= |∇I|₁ |v|),
# so a change above GATE_STILL + HOLD_SHIFT * g is either a larger move or something new (a hand
# coming into a flat room: g is about 0 there, and only the noise bound is left). Motion is measured
# against the frame the model last saw, so slow drifts add up and the bound holds over the skips.
# HOLD_MAX_SKIPS guards what motion does not show (light changing slowly). 2 rather than 1: on the
# tuning clips (quality.TUNING_CLIPS) the flicker ratios (all / still / warped) were 0.380 / 0.145 /
# 0.388 with the model on every frame, 0.382 / 0.145 / 0.389 with 1, 0.383 / 0.144 / 0.388 with 2, the
# green-screen IoU 0.8474 / 0.8474 / 0.8475; the model then ran on 38 % of the s18 clip's frames
# (51 % with 1: the median frame is still one with a model run).
HOLD_SHIFT = 0.5
HOLD_MAX_SKIPS = 2


def texture(grey: np.ndarray) -> np.ndarray:
    """The 5x5-mean gradient (L1, central differences, 0 on the border pixels) of a small uint8 grey
    frame, float32 in the 0..1 units of frame_motion per pixel of that frame: what a one-pixel move
    can change there. Shifted views and uint8 differences: a third of cv2.Sobel's cost at 256 x 144."""
    h, w = grey.shape
    gx, gy = np.zeros((h, w), np.uint8), np.zeros((h, w), np.uint8)
    cv2.absdiff(grey[:, 2:], grey[:, :-2], dst=gx[:, 1:-1])  # |I(x+1) - I(x-1)|: twice the slope
    cv2.absdiff(grey[2:], grey[:-2], dst=gy[1:-1])
    total = cv2.boxFilter(cv2.add(gx, gy, dtype=cv2.CV_16U), cv2.CV_32F, (5, 5))
    total *= np.float32(0.5 / 255)
    return total


def small_motion(motion: np.ndarray, texture_map: np.ndarray) -> bool:
    """Whether every pixel's change since the reference frame (``motion`` from frame_motion) is what
    noise plus a move of at most HOLD_SHIFT pixels of that frame's ``texture`` can make."""
    if motion.shape != texture_map.shape:
        return False
    return float(cv2.subtract(motion, texture_map * np.float32(HOLD_SHIFT)).max()) < GATE_STILL


def ramp(alpha: np.ndarray) -> np.ndarray:
    """The points (N x 2 int32, x and y, in row order) where a uint8 alpha is on the edge ramp:
    under 2 % or over 98 %, the room (or the person) share is too small to tint anything."""
    points = cv2.findNonZero(cv2.inRange(alpha, 5, 250))  # 4x faster than numpy's flatnonzero
    return np.zeros((0, 2), np.int32) if points is None else points.reshape(-1, 2)


def settle(alpha: np.ndarray, previous: np.ndarray, motion: np.ndarray, points: np.ndarray | None = None) -> np.ndarray:
    """Keep ``previous`` (uint8, same size as ``alpha``) where the picture is still and the new
    alpha is on the edge ramp; ``alpha`` is changed in place. ``points``: ramp(alpha), when the
    caller has it.

    Only where the new alpha is itself on the ramp: pulling a pixel that left the band back to a
    middle value widens the band, and the edge colour's cost grows with it (+1.2 ms at 720p with a
    picture background, for flicker 0.64 instead of 0.69 of raw on the 11 clips). The ramp is a
    few hundred pixels of a 640x360 working frame, so the motion is looked up at those alone (the
    nearest model-size pixel, as a nearest-neighbour resize would pick it): 0.06 ms against 0.18
    for resizing the motion map to the frame."""
    points = ramp(alpha) if points is None else points
    if not len(points):
        return alpha
    cols, rows = nearest_source(motion.shape, alpha.shape)
    if (_compiled_arrays((alpha, previous), np.uint8, alpha.shape)
            and _compiled_arrays((motion,), np.float32, motion.shape)
            and _compiled_arrays((points,), np.int32, (len(points), 2))):
        # The same copy in one compiled pass over the points (mask_kernels.settle_points).
        mask_kernels.settle_points(alpha, previous, motion, points, cols, rows, np.float32(SETTLE_STILL))
        return alpha
    x, y = points[:, 0], points[:, 1]
    quiet = motion[rows[y], cols[x]] < np.float32(SETTLE_STILL)
    x, y = x[quiet], y[quiet]
    alpha[y, x] = previous[y, x]
    return alpha


def _compiled_arrays(arrays: tuple, dtype, shape: tuple[int, ...]) -> bool:
    """Whether the compiled loops are there (``mask_kernels.READY``) and each array is C-contiguous
    of ``dtype`` and ``shape``, as they take them."""
    if not mask_kernels.READY:
        return False
    for a in arrays:  # a plain loop: a generator's calls cost more than the checks, several times a frame
        if not (isinstance(a, np.ndarray) and a.dtype == dtype and a.shape == shape and a.flags.c_contiguous):
            return False
    return True


_NEAREST: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}


def nearest_source(src_shape: tuple[int, ...], dst_shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(columns, rows): for each destination column and row, the source pixel OpenCV's
    nearest-neighbour resize from ``src_shape`` to ``dst_shape`` takes (asked of OpenCV itself,
    once per pair of sizes, so the rounding is its own)."""
    key = (src_shape[:2], dst_shape[:2])
    found = _NEAREST.get(key)
    if found is None:
        (sh, sw), (dh, dw) = key
        cols = cv2.resize(np.arange(sw, dtype=np.float32)[None], (dw, 1), interpolation=cv2.INTER_NEAREST)
        rows = cv2.resize(np.arange(sh, dtype=np.float32)[:, None], (1, dh), interpolation=cv2.INTER_NEAREST)
        found = _NEAREST[key] = (cols.ravel().astype(np.intp), rows.ravel().astype(np.intp))
    return found


def guided_filter(guide: np.ndarray, src: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """He et al.'s guided filter with a grey guide (float32 0..1): the output follows the guide's
    edges. opencv-python-headless has no ximgproc, and the filter is six box filters."""
    a, b = guided_coefficients(guide, src, radius, eps)
    return a * guide + b


def guided_coefficients(guide: np.ndarray, src: np.ndarray, radius: int, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """The guided filter's local linear model ``src ≈ a * guide + b``, averaged over each window.

    Computed at the model's resolution, ``a`` and ``b`` are smooth, so they can be upsampled and
    applied to a sharper guide (He and Sun's fast guided filter): the mask then follows the edges of
    the larger frame, which a filter at model resolution cannot see."""
    ksize = (2 * radius + 1, 2 * radius + 1)
    mean_i = cv2.boxFilter(guide, -1, ksize)
    mean_p = cv2.boxFilter(src, -1, ksize)
    cov_ip = cv2.boxFilter(guide * src, -1, ksize) - mean_i * mean_p
    var_i = cv2.boxFilter(guide * guide, -1, ksize) - mean_i * mean_i
    a = cov_ip / (var_i + np.float32(eps))
    b = mean_p - a * mean_i
    return cv2.boxFilter(a, -1, ksize), cv2.boxFilter(b, -1, ksize)


def colour_guided_fit(guide: np.ndarray, src: np.ndarray, radius: int, eps: float, with_shift: bool = True,
                      space: dict | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The guided filter's local linear model with a colour guide (float32 BGR 0..1):
    ``src ≈ a · guide + b``, ``a`` (h, w, 3), ``b`` (h, w), averaged over each window (He et al.,
    the 3x3 covariance inverted in closed form). A grey guide misses the edge between a person
    and a room of the same brightness but another colour (skin on a beige wall, a green jumper on
    grass); on shared/data/masks/dev the colour guide lowered the halo score by 5 % of the raw
    model's on both colours. Planar: 1-channel box filters are the fast path in OpenCV.

    Also returns ``shift`` (h, w, 3), person minus room colour (0..255 units) in each window,
    for decontaminate: where a window holds a mix I = m·P + (1 - m)·R, cov(I, m) = var(m)·(P - R),
    so the colour's regression on the mask is P - R, from sums this fit makes anyway. Windows
    with no mix get a shift near 0 (nothing to swap there). None without ``with_shift`` (a blurred
    background needs no edge colour). ``space``: the caller's dict, in which the fit's work buffers
    live between frames (see apply_coefficients)."""
    ksize = (2 * radius + 1, 2 * radius + 1)

    def box(x):
        return cv2.boxFilter(x, -1, ksize)

    if _compiled_arrays((guide,), np.float32, src.shape + (3,)) and _compiled_arrays((src,), np.float32, src.shape):
        return _fit_compiled(guide, src, ksize, eps, with_shift, {} if space is None else space)
    r, g, b_ = cv2.split(guide)
    mr, mg, mb, mp = box(r), box(g), box(b_), box(src)
    x, y, z = box(r * src) - mr * mp, box(g * src) - mg * mp, box(b_ * src) - mb * mp
    e = np.float32(eps)
    rr, rg, rb = box(r * r) - mr * mr + e, box(r * g) - mr * mg, box(r * b_) - mr * mb
    gg, gb, bb = box(g * g) - mg * mg + e, box(g * b_) - mg * mb, box(b_ * b_) - mb * mb + e
    c00, c01, c02 = gg * bb - gb * gb, rb * gb - rg * bb, rg * gb - rb * gg
    c11, c12, c22 = rr * bb - rb * rb, rb * rg - rr * gb, rr * gg - rg * rg
    inv_det = np.float32(1.0) / (rr * c00 + rg * c01 + rb * c02)  # eps on the diagonal keeps it positive
    ar = (c00 * x + c01 * y + c02 * z) * inv_det
    ag = (c01 * x + c11 * y + c12 * z) * inv_det
    ab = (c02 * x + c12 * y + c22 * z) * inv_det
    offset = mp - ar * mr - ag * mg - ab * mb
    coefficients = cv2.merge([box(ar), box(ag), box(ab)]), box(offset)
    if not with_shift:
        return *coefficients, None
    # var(m) + 0.03: a window whose mask hardly varies says little about P - R, and is shrunk
    # towards no swap (on masks/dev 0.01 raised the dark halo score above what the old sure-pixel
    # colour means gave; 0.03 matched them).
    slope = np.float32(255.0) / (box(src * src) - mp * mp + np.float32(0.03))
    return *coefficients, cv2.merge([x * slope, y * slope, z * slope])


def _fit_compiled(guide: np.ndarray, src: np.ndarray, ksize: tuple[int, int], eps: float, with_shift: bool,
                  space: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """colour_guided_fit's numbers with its per-pixel arithmetic in two compiled passes
    (mask_kernels.fit_products, fit_solve) and its box filters as two multi-channel calls (each
    channel's sums are the one-channel call's, in the same order): the numpy steps made some fifty
    small temporaries and eighteen calls, most of the fit's cost at 128 x 65. The 14-channel work
    buffers (half a MB) live in ``space``: fresh ones cost their page faults every frame."""
    h, w = src.shape
    planes = buffer(space, "fit_planes", (h, w, 14))
    mask_kernels.fit_products(guide, src, planes)
    means = cv2.boxFilter(planes, -1, ksize, dst=buffer(space, "fit_means", (h, w, 14)))
    a, offset = np.empty((h, w, 3), np.float32), np.empty((h, w), np.float32)
    shift = np.empty((h, w, 3) if with_shift else (1, 1, 3), np.float32)
    mask_kernels.fit_solve(means, np.float32(eps), np.float32(0.03), np.float32(255.0), a, offset, shift, with_shift)
    return cv2.boxFilter(a, -1, ksize), cv2.boxFilter(offset, -1, ksize), shift if with_shift else None


# The edge curve: the guided mask q is mapped to alpha = clip((q - centre) * EDGE_GAIN + 0.5). The
# model's own ramp is 2-3 model pixels wide (10-15 px at 720p), which mixes the old room into every
# edge pixel; a gain of 4 narrows it to a quarter, placed where the frame's edge is (with the colour
# guide, 4 scored better than 3 on masks/dev, and 5 no better). The centre below 0.5 keeps a little
# more of the outline: on shared/data/masks/dev that lowered the halo score on both light and dark
# colours (the model cuts hair and shoulders more often than it adds room). 0.35 scored a little
# better still on the photos, but on the s18 clip it let a spike of wall stand above the head.
EDGE_GAIN = 4.0
EDGE_CENTRE = 0.4
EDGE_SPAN = 0.3  # segmentation.edge = +1 moves the centre to 0.1 (looser), -1 to 0.7 (tighter)


def edge_centre(edge: float) -> float:
    """The mask level the outline is drawn at, for the user's ``segmentation.edge`` (-1 .. +1)."""
    return float(np.clip(EDGE_CENTRE - EDGE_SPAN * edge, 0.05, 0.95))


def level_curve(mask: np.ndarray, centre: float) -> np.ndarray:
    """Move the outline of a float mask to the level ``centre`` without narrowing it more than
    needed: 0 and 1 stay 0 and 1 (a constant shift would lift the whole room)."""
    gain = 0.5 / max(1e-3, min(centre, 1.0 - centre))
    if centre == 0.5:
        return mask
    return np.clip((mask - np.float32(centre)) * np.float32(gain) + np.float32(0.5), 0.0, 1.0)


def shift_edge(alpha8: np.ndarray, pixels: int) -> np.ndarray:
    """Grow (pixels > 0) or shrink (< 0) a uint8 matte by a few pixels, keeping its soft edge: for
    a matte whose ramp is too narrow for a level change to move it visibly."""
    if pixels == 0:
        return alpha8
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * abs(pixels) + 1, 2 * abs(pixels) + 1))
    return cv2.dilate(alpha8, kernel) if pixels > 0 else cv2.erode(alpha8, kernel)


def curve_coefficients(a: np.ndarray, b: np.ndarray, centre: float, gain: float = EDGE_GAIN) -> tuple[np.ndarray, np.ndarray]:
    """Fold the edge curve and the 0..255 output scale into the (small) coefficient maps, so the
    frame-size work is one multiply-add: alpha8 = a8 * guide8 + b8, saturated to 0..255."""
    a8 = a * np.float32(gain)  # guide is uint8 0..255 and the output too: the two 255s cancel
    b8 = (b - np.float32(centre)) * np.float32(255 * gain) + np.float32(127.5)
    return a8, b8


_ONES3 = np.ones((1, 3), np.float32)


def apply_coefficients(a8: np.ndarray, b8: np.ndarray, guide8: np.ndarray, space: dict | None = None) -> np.ndarray:
    """uint8 alpha at the guide's size from small coefficient maps and a uint8 guide: grey with
    1-channel ``a8``, BGR with 3-channel ``a8`` (from colour_guided_coefficients). ``space``: a
    dict kept by the caller, in which the frame-size float buffers live from frame to frame (fresh
    2-3 MB buffers cost page faults every frame: in the pipeline that tripled this step's time)."""
    h, w = guide8.shape[:2]
    q = cv2.resize(a8, (w, h), dst=buffer(space, "a", (h, w) + a8.shape[2:]), interpolation=cv2.INTER_LINEAR)
    cv2.multiply(q, guide8, dst=q, dtype=cv2.CV_32F)
    if q.ndim == 3:
        q = cv2.transform(q, _ONES3, dst=buffer(space, "sum", (h, w)))  # a · guide: the three products summed
    b = cv2.resize(b8, (w, h), dst=buffer(space, "b", (h, w)), interpolation=cv2.INTER_LINEAR)
    # Straight to uint8: the add rounds and saturates both ends in the same pass.
    return cv2.add(q, b, dtype=cv2.CV_8U)


def buffer(space: dict | None, name: str, shape: tuple[int, ...], dtype=np.float32) -> np.ndarray | None:
    """A work buffer of ``shape`` kept in ``space`` (None without a space: OpenCV allocates)."""
    if space is None:
        return None
    buf = space.get(name)
    if buf is None or buf.shape != shape or buf.dtype != dtype:
        buf = space[name] = np.empty(shape, dtype)
    return buf


_SAMPLE_ROW = 1024


def edge_band(alpha_work: np.ndarray, scale: int, candidates: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The pixels on the edge ramp, from the uint8 alpha at the working size (the frame, or exactly
    half of it with ``scale`` 2): only these mix person and room. Returns (points, flat): the
    working-size points (N x 2, x and y) and the flat frame indices (row * frame width + col) of
    their pixels, ``scale`` x ``scale`` per point in point order. Found at the working size and
    fanned out, because a search over a 720p frame costs four times as much. Frame pixels just
    outside the fanned-out ramp get a few percent alpha from the bilinear upsampling and keep their
    own colour. ``candidates``: points in row order among which every ramp pixel is (the ramp
    before settling, which only takes pixels off it): checked instead of the whole frame."""
    if candidates is not None and _compiled_arrays((alpha_work,), np.uint8, alpha_work.shape) and \
            _compiled_arrays((candidates,), np.int32, (len(candidates), 2)) and scale >= 1:
        # The same points and indices in one compiled pass (mask_kernels.band_points).
        points = np.empty((len(candidates), 2), np.int32)
        flat = np.empty(len(candidates) * scale * scale, np.intp)
        n = mask_kernels.band_points(alpha_work, candidates, scale, points, flat)
        return points[:n], flat[:n * scale * scale]
    if candidates is None:
        points = ramp(alpha_work)
    else:
        values = alpha_work[candidates[:, 1], candidates[:, 0]]
        points = candidates[(values >= 5) & (values <= 250)]
    if not len(points):
        return np.zeros((0, 2), np.int32), np.zeros(0, np.intp)
    w = alpha_work.shape[1]
    x, y = points[:, 0].astype(np.intp), points[:, 1].astype(np.intp)
    if scale == 1:
        return points, y * w + x
    fw = w * scale
    top = y * (scale * fw) + x * scale  # the top-left frame pixel of each block
    offsets = (np.arange(scale, dtype=np.intp)[:, None] * fw + np.arange(scale, dtype=np.intp)[None]).ravel()
    return points, (top[:, None] + offsets[None]).ravel()


def sample(image: np.ndarray, points: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear samples of ``image`` at ``points`` (N x 2, x and y) given in pixels of a picture of
    ``size`` (w, h) that covers the same view: (N, channels) float32."""
    fw, fh = size
    h, w = image.shape[:2]
    n = len(points)
    if (w, h) == (fw, fh):
        return image[points[:, 1], points[:, 0]].astype(np.float32).reshape(n, -1)
    padded = -(-n // _SAMPLE_ROW) * _SAMPLE_ROW  # remap maps must stay under 32767 px a side
    maps = np.zeros((2, padded), np.float32)
    maps[:, :n] = points.T
    maps[0] += np.float32(0.5)
    maps[0] *= np.float32(w / fw)
    maps[1] += np.float32(0.5)
    maps[1] *= np.float32(h / fh)
    maps -= np.float32(0.5)
    out = cv2.remap(image, maps[0].reshape(-1, _SAMPLE_ROW), maps[1].reshape(-1, _SAMPLE_ROW), cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_REPLICATE)
    return out.reshape(padded, -1)[:n].astype(np.float32, copy=False)


def take_pixels(image: np.ndarray, flat: np.ndarray) -> np.ndarray:
    """image.reshape(-1, 3)[flat] as N x 3 uint8, through a 3-byte view (np.take on a view of
    whole pixels is the cheapest gather numpy has: a third less than fancy indexing)."""
    return np.take(np.ascontiguousarray(image).reshape(-1).view("V3"), flat).view(np.uint8).reshape(-1, 3)


def put_pixels(image: np.ndarray, flat: np.ndarray, pixels: np.ndarray) -> None:
    """image.reshape(-1, 3)[flat] = pixels, through a 3-byte view (np.put: three times faster than
    fancy assignment on N x 3)."""
    np.put(image.reshape(-1).view("V3"), flat, np.ascontiguousarray(pixels).reshape(-1).view("V3"))


def decontaminate(pixels: np.ndarray, alpha: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """The person's own colour at edge pixels. A pixel that is only ``alpha`` person is
    alpha * person + (1 - alpha) * room; with the local person - room colour ``shift`` (float32
    M x 3, from colour_guided_fit) the room's share is swapped for the person's:
    F = pixel + (1 - alpha) * (person - room), so the old room does not tint the edge over a new
    background. ``pixels`` uint8 N x 3, ``alpha`` uint8 N, N a multiple of M: each shift serves
    N / M pixels in a row (the block of frame pixels of one working-size point). Returns N x 3 uint8."""
    room_share = (255 - alpha).astype(np.float32)
    room_share *= np.float32(1 / 255)
    out = np.repeat(shift, len(alpha) // max(1, len(shift)), axis=0)
    out *= room_share[:, None]
    return cv2.add(pixels, out, dtype=cv2.CV_8U)  # rounds and saturates to 0..255 in the same pass


def edge_colour(image: np.ndarray, mask: np.ndarray, flat: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """``decontaminate`` of the frame's pixels at the flat indices ``flat``: ``image`` BGR uint8 and
    its uint8 ``mask`` of the same size, ``shift`` M x 3 float32 with each row serving len(flat) / M
    pixels in a row. N x 3 uint8, in one compiled pass (``mask_kernels.edge_colour_into``: the same
    bytes as the gathers and decontaminate: 0.045 against 0.10 ms for 9600 edge pixels of s18 at
    720p, one thread)."""
    n, m = len(flat), len(shift)
    if (m and n % m == 0 and _compiled_arrays((mask,), np.uint8, mask.shape)
            and _compiled_arrays((image,), np.uint8, mask.shape + (3,))
            and _compiled_arrays((shift,), np.float32, (m, 3)) and _compiled_arrays((flat,), np.intp, (n,))):
        out = np.empty((n, 3), np.uint8)
        if mask_kernels.edge_colour_into(image.reshape(-1), mask.reshape(-1), flat, shift, out):
            return out
    return decontaminate(take_pixels(image, flat), np.take(mask.reshape(-1), flat), shift)


class EdgeColour:
    """The person's own colour on the edge pixels only: ``index`` the flat pixel indices (row *
    width + col) of a frame of ``shape``, ``colour`` their N x 3 uint8 BGR. It is what
    Analysis.foreground holds on the selfie-model path. Sparse, because the edge is 1-2 % of a
    720p frame: carrying it in a frame-size copy of the frame, and taking it back out of that copy
    with a full-frame selection in compositing, cost more (0.5-0.7 ms at 720p) than finding and
    recolouring the edge itself."""

    __slots__ = ("index", "colour", "shape")

    def __init__(self, index: np.ndarray, colour: np.ndarray, shape: tuple[int, ...]) -> None:
        self.index, self.colour, self.shape = index, colour, tuple(shape)

    def __len__(self) -> int:
        return len(self.index)

    def image(self, frame: np.ndarray) -> np.ndarray:
        """``frame`` with the person's colour on the edge pixels (for code that wants a picture)."""
        out = frame.copy()
        if len(self.index) and frame.shape == self.shape:
            put_pixels(out, self.index, self.colour)
        return out


def halve(image: np.ndarray, dst: np.ndarray | None = None) -> np.ndarray:
    """``image`` shrunk to half its width and height (rounded down) as ``cv2.resize``'s INTER_AREA
    shrinks it, into ``dst`` when given: a BGR uint8 picture of even size through the compiled
    ``mask_kernels.halve_into`` (the same bytes, half the time), anything else through OpenCV."""
    h, w = image.shape[:2]
    size = (w // 2, h // 2)
    if (h % 2 == 0 and w % 2 == 0 and h and w and _compiled_arrays((image,), np.uint8, (h, w, 3))
            and (dst is None or _compiled_arrays((dst,), np.uint8, (h // 2, w // 2, 3)))):
        out = np.empty((h // 2, w // 2, 3), np.uint8) if dst is None else dst
        mask_kernels.halve_into(image.reshape(h, -1), out.reshape(h // 2, -1))
        return out
    return cv2.resize(image, size, dst=dst, interpolation=cv2.INTER_AREA)


DOUBLE_FROM = 16  # source pixels a side from which a 2x mask enlargement runs the compiled loop


def upscale(image: np.ndarray, size: tuple[int, int], dst: np.ndarray | None = None) -> np.ndarray:
    """``image`` enlarged to ``size`` (w, h) bilinearly, with pixel centres placed as cv2.resize's
    INTER_LINEAR places them and within one level of its values (uint8). Through warpAffine: its
    fixed-point bilinear path enlarges 2-2.5x faster than resize's (a 720p mask from 640x360: 0.17
    against 0.41 ms; a 3-channel 720p picture from 128x66: 0.24 against 0.53 ms, one thread).
    Positions are resolved to 1/32 of a source pixel, exact for a 2x enlargement.

    A uint8 mask enlarged exactly twice (the edge work's alpha to the frame) takes the same bytes
    from ``mask_kernels.double_into``: 0.06 ms against the warp's 0.18 at 720p. Not below
    DOUBLE_FROM pixels a side: OpenCV warps sources of one or two pixels a side by another path,
    with other rounding."""
    h, w = image.shape[:2]
    if (size == (2 * w, 2 * h) and min(h, w) >= DOUBLE_FROM and _compiled_arrays((image,), np.uint8, (h, w))
            and (dst is None or _compiled_arrays((dst,), np.uint8, (2 * h, 2 * w)))):
        out = np.empty((2 * h, 2 * w), np.uint8) if dst is None else dst
        mask_kernels.double_into(image, out)
        return out
    fx, fy = w / size[0], h / size[1]
    m = np.float32([[fx, 0, 0.5 * fx - 0.5], [0, fy, 0.5 * fy - 0.5]])
    return cv2.warpAffine(image, m, size, dst=dst, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)


def to_frame_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """float 0..1 mask at any size → uint8 0..255 at frame size (w, h), ready for integer compositing."""
    m8 = cv2.convertScaleAbs(mask, alpha=255.0)
    if (m8.shape[1], m8.shape[0]) != size:
        m8 = cv2.resize(m8, size, interpolation=cv2.INTER_LINEAR)
    return m8

