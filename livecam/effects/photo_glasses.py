"""The avatar photo's own glasses frames, found whole and painted out from the skin and lids around
them, once per photo, before anything else reads the photo (issue 18, item 2).

Frames left on the photo are drawn onto the swapped face, and dlib's eye points on the output then
slide onto the rims, so open and shut eyes look alike (blink r 0.875 -> 0.110 with drawn thick rims).

- **What is not skin here**: each pixel's Lab distance to the median of its neighbourhood
  (``LOCAL_WINDOW``, wider than twice a thick plastic rim, narrower than the cheek's shading): a
  rim is a line of some other colour, dark or light, whatever the light on the face; broad shading
  (dark circles under the eyes, a cheek in shadow) is its own neighbourhood and does not stand out.
- **A loop round each eye**: rays from the eye's centre (in the eyes' own frame, so a rolled head
  is no matter) outwards; the runs of such pixels past the lashes' margin are the candidates, and the
  rim is the longest chain of them going round the eye with a smooth radius from ray to ray. A
  frame is a closed loop: on most rays that do not cross a brow, round *both* eyes.
  Lid creases, brows and hair edges do not make two smooth loops; a photo without glasses is
  left byte for byte as it was.
- **Whole rims**: on each ray the run of not-skin pixels at the rim's radius is taken from its inner
  to its outer edge, so a thick frame goes with its body, not only its two edges.
- **Over a brow** a ray's run is the brow's as much as the rim's, so the rim there is placed on the
  ellipse through the rest of the loop, and only the band of its usual thickness is taken: the
  brow's hair above and below it stays (and fills it).
- **Bridge and temples**: not-skin pixels outside both lenses, at eye height, joined to a rim. Over
  the nose the rims and the bridge crowd the neighbourhood's median; further looks there measure
  against the picture with what was found painted out, and small holes enclosed there are frame.
- **Thin rims** (metal wire; found where the not-skin map finds no loop): thin lines, dark or light
  (a Hessian line filter at 1-2 px), that face the right way. A bridge: one near-level line across
  most of the nose between the eyes (a lid crease, a wrinkle or the nose's root is shorter or
  elsewhere). Lenses: a pair of mirrored ellipses round the eyes on whose outlines such lines run,
  searched on a grid and climbed; each rim is then followed as a smooth closed path near it, refitted
  once. Drawn ``RIM_WIDTH`` wide with the bridge and the temples joined to it.
- **Left alone**: the eye openings with their lashes (``LASH_MARGIN``) and, but for a crossing
  rim's band, the brows.
- **Not found**: light rims on light skin that differ from it by less than ``NOT_SKIN`` and are no
  thin line (clear plastic frames: their soft edges make no bridge line across the nose); frames
  whose loop a brow or the picture's edge hides on most rays.
- **Lenses** (within thin rims): once the rims are gone, the lens's own tint, lift and reflections
  would read as a lighter, greenish ellipse round each eye with an edge where the rim was. Inside
  the lens the skin's colour from just outside the rim, low-passed, takes the place of the lens's
  (``clear_lenses``); the eye openings with their lashes and the brows stay as they were.
- **Fill**: ``cv2.inpaint`` (Telea) over the frames grown by a pixel: each rim pixel from the skin
  and lid pixels on both sides of it, so a lid crease under a rim goes on as lid.
"""
from __future__ import annotations

import cv2
import numpy as np

from livecam.analysis import face_regions as regions
from livecam.analysis.face_measures import face_width

LOCAL_WINDOW = 0.08  # neighbourhood of the local median, fraction of the face width (odd pixels)
NOT_SKIN = 22.0  # Lab distance (OpenCV's 8-bit Lab) to the local median: a frame's pixel
RAYS = 96  # rays round each eye
# Searched radii along a ray, in eye distances (centre to centre), in the frame stretched so the
# usual lens (wider than high) is a circle: the lens's x radius.
SEARCH = (0.3, 0.8)
LENS_ASPECT = 0.75  # a lens's height over its width: y distances are divided by this
LASH_MARGIN = (0.06, 0.08)  # the eye opening grown by this, in eye distances (x, y): lids and lashes
BROW_GROW = 0.02  # near the brows, fraction of the face width
STEP = 0.5  # ray samples, pixels
SMOOTH = 0.02  # a rim moves by at most this (eye distances) from one ray to the next
MIN_SHARE = 0.55  # a loop: at least this share of the rays that can see (not through a brow) agree
MAX_RUN = 0.14  # a rim no thicker than this, in eye distances
MAX_SKIP = 8  # rays a rim may be lost for (behind a brow, a glare) and go on
GROW = 1  # found pixels grown by this many pixels before the fill (anti-aliased edges)
INPAINT_RADIUS = 3
REACH = 0.05  # each further look, this far from what the looks before found (eye distances)
LOOKS = 4  # further looks at most
KNOT = 0.15  # holes in the frames over the nose smaller than this square (eye distances) are frame
EYE_LEVEL = (0.25, 0.35)  # bridge and temples this far below / above the eyes' line (eye distances)
# Thin rims (metal wire, clear plastic's edges): too close to the skin's colour for ``NOT_SKIN``, but
# thin lines, dark or light, that run round the eyes and across the nose.
LINE_SCALES = (1.0, 1.5, 2.0)  # Gaussian sigmas of the line filter, pixels at the working face width
LINE = 12.0  # a thin line's strength (scale-normalised Hessian on 8-bit L) that may be a rim's
FACING = 0.8  # |cos| between a line's normal and the direction it must face (about 37 degrees)
BRIDGE_SPAN = 0.15  # the bridge is looked for this far either side of the nose's midline (eye distances)
BRIDGE_LEVEL = (0.25, 0.2)  # ... and this far below / above the eyes' line
BRIDGE_RUN = 0.7  # a bridge: one near-level line across at least this share of that span
LENS_A = (0.40, 0.72)  # lens half width searched (eye distances)
LENS_B = (0.32, 0.62)  # lens half height searched
LENS_SHIFT = ((-0.08, 0.08), (-0.04, 0.12))  # lens centre from the eye's: outwards, downwards
LENS_STEP = 0.04  # search step of the lens's axes and shift (eye distances)
LENS_SHARE = 0.3  # a lens: a line facing outwards on at least this share of its outline, round both eyes
CLIMB_CAP = 1.5  # on the climb to the best lens, a line counts for at most this many times ``LINE``
LENS_BAND = 0.12  # a rim is followed this far inside or outside the lens found (eye distances)
FOLLOW = 0.5  # once the loop is found, its path is a rim where its line is this share of ``LINE`` (faint arcs)
GAIN_CAP = 3.0  # a line counts for at most this many times ``LINE`` on the rim's path (a rim outshines a crease)
RIM_WIDTH = 7  # a thin rim's path drawn this wide (pixels), its soft edges with the fill's ``GROW``
TINT_RING = 0.12  # the skin a lens is matched to: this far outside its rim (eye distances)
TINT_BLUR = 0.12  # the low-pass of that skin, carried into the lens (Gaussian sigma, eye distances)
LENS_BLUR = 0.03  # the lens's own low-pass, replaced by it: its cast, lift and reflections (sigma, eye distances)
TINT_FEATHER = 0.06  # the lens's change fades in over this from the eye openings' margin (eye distances)
PIECE = 0.3  # pieces of line smaller than this times the eye distance (pixels) are not frame


def _eyes(landmarks: np.ndarray):
    """Centres of the two eye openings, the eye distance and the rotation frame -> eye frame."""
    eyes = [landmarks[list(e), :2].astype(np.float64) for e in (regions.RIGHT_EYE, regions.LEFT_EYE)]
    centres = [e.mean(0) for e in eyes]
    axis = centres[1] - centres[0]
    dist = max(float(np.hypot(*axis)), 1e-6)
    rot = np.array([[axis[0], axis[1]], [-axis[1], axis[0]]]) / dist  # frame -> along / across
    return eyes, centres, dist, rot


def not_skin(image: np.ndarray, landmarks: np.ndarray, around: np.ndarray | None = None) -> np.ndarray:
    """float32 per pixel of ``image`` (BGR uint8): Lab distance to the median of its neighbourhood
    (of ``around``'s, where given: the same picture with what was found painted out)."""
    k = int(round(LOCAL_WINDOW * face_width(landmarks))) | 1
    lab = cv2.cvtColor(image, cv2.COLOR_BGR2LAB).astype(np.float32)
    ref = cv2.medianBlur(image if around is None else around, max(3, k))
    ref = cv2.cvtColor(ref, cv2.COLOR_BGR2LAB).astype(np.float32)
    return np.sqrt(((lab - ref) ** 2).sum(-1))


def thin_lines(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """float32 per pixel of ``image`` (BGR uint8): how strongly a thin line (dark or light, 2-6 px
    wide) runs through it (the Hessian's eigenvalues' sizes apart, scale-normalised, on L: a line,
    not a blob or an edge's flat side; the largest over ``LINE_SCALES``) and its normal's angle."""
    light = cv2.cvtColor(image, cv2.COLOR_BGR2LAB)[..., 0].astype(np.float32)
    best = np.zeros_like(light)
    normal = np.zeros_like(light)
    for s in LINE_SCALES:
        b = cv2.GaussianBlur(light, (0, 0), s)
        xx = cv2.Sobel(b, cv2.CV_32F, 2, 0, ksize=3)
        yy = cv2.Sobel(b, cv2.CV_32F, 0, 2, ksize=3)
        xy = cv2.Sobel(b, cv2.CV_32F, 1, 1, ksize=3)
        half = np.sqrt(((xx - yy) / 2) ** 2 + xy ** 2)
        trace = (xx + yy) / 2
        strength = s * s * 2 * np.minimum(np.abs(trace), half)  # = ||l1| - |l2|| for l = trace +- half
        # The eigenvector of the eigenvalue with the larger size: trace + half's where trace >= 0.
        theta = 0.5 * np.arctan2(2 * xy, xx - yy)
        theta = np.where(trace >= 0, theta, theta + np.pi / 2)
        better = strength > best
        best = np.where(better, strength, best)
        normal = np.where(better, theta, normal)
    return best, normal


def _facing(normal: np.ndarray, angle) -> np.ndarray:
    """Whether lines with normals ``normal`` face ``angle`` (radians, either way)."""
    return np.abs(np.cos(normal - angle)) > FACING


def _eye_margin(landmarks: np.ndarray, shape, eyes, dist, rot) -> np.ndarray:
    """uint8 mask: the eye openings grown by ``LASH_MARGIN`` (lids and lashes)."""
    mask = np.zeros(shape[:2], np.uint8)
    angle = float(np.degrees(np.arctan2(rot[0, 1], rot[0, 0])))
    for eye in eyes:
        c = eye.mean(0)
        half = np.abs((eye - c) @ rot.T).max(0) + np.array(LASH_MARGIN) * dist
        cv2.ellipse(mask, (int(round(c[0] * 16)), int(round(c[1] * 16))),
                    (int(round(half[0] * 16)), int(round(half[1] * 16))), angle, 0.0, 360.0, 1, -1, cv2.LINE_8, 4)
    return mask


def _left_alone(landmarks: np.ndarray, shape, eyes, dist, rot) -> np.ndarray:
    """uint8 masks: the eye openings with their lashes' margin and the brows (left alone); the brows
    grown by ``BROW_GROW`` (a rim there runs into the brow's colour and is lost to the loop); the
    brows outside the eyes' margin."""
    mask = _eye_margin(landmarks, shape, eyes, dist, rot)
    brows = np.zeros_like(mask)
    cv2.fillPoly(brows, [np.round(landmarks[list(b), :2]).astype(np.int32) for b in (regions.RIGHT_BROW, regions.LEFT_BROW)], 1)
    r = max(1, int(round(BROW_GROW * face_width(landmarks))))
    near = cv2.dilate(brows, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    return np.maximum(mask, brows), near, brows * (mask == 0)


def _runs(on: np.ndarray, max_len: int) -> list[tuple[int, int]]:
    """Runs of True samples along one ray (a one-sample gap bridged), no longer than ``max_len``."""
    out, j, n = [], 0, len(on)
    while j < n:
        if not on[j]:
            j += 1
            continue
        j1 = j
        while j1 + 1 < n and (on[j1 + 1] or (j1 + 2 < n and on[j1 + 2])):
            j1 += 1
        if j1 - j <= max_len:
            out.append((j, j1))
        j = j1 + 1
    return out


def _loop(candidates: list[list[tuple[int, int]]], blind: np.ndarray, tol: float) -> list[tuple[int, int, int]]:
    """The longest chain of runs, one per ray at most, going round the eye ray by ray, each within
    ``tol`` samples (times the square root of the rays skipped) of the one before: the rim.
    ``candidates``: per ray its runs (first, last sample); ``blind``: per ray, whether it crosses a
    brow (a rim behind it is lost there, so any number of those may be skipped). Returns (ray,
    first, last) per link."""
    seen = np.cumsum(~blind)
    best: list[list[tuple[int, tuple | None]]] = []
    top, top_at = 0, None
    for i, runs in enumerate(candidates):
        row = []
        for j0, j1 in runs:
            r = (j0 + j1) / 2
            length, back = 1, None
            for k in range(i - 1, -1, -1):
                if seen[i - 1] - seen[k] > MAX_SKIP:
                    break
                gap = i - k
                for m, (a0, a1) in enumerate(candidates[k]):
                    if abs((a0 + a1) / 2 - r) <= tol * np.sqrt(gap) and best[k][m][0] + 1 > length:
                        length, back = best[k][m][0] + 1, (k, m)
            row.append((length, back))
            if length > top:
                top, top_at = length, (i, len(row) - 1)
        best.append(row)
    chain = []
    while top_at is not None:
        i, m = top_at
        chain.append((i, *candidates[i][m]))
        top_at = best[i][m][1]
    return chain[::-1]


def _paint_out(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``image`` with ``mask`` (grown by ``GROW``) filled from around it (Telea)."""
    k = 2 * GROW + 1
    grown = cv2.dilate(mask.astype(np.uint8), np.ones((k, k), np.uint8))
    return cv2.inpaint(image, grown, INPAINT_RADIUS, cv2.INPAINT_TELEA)


def _rims(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """bool mask over ``image``: the rims round both eyes and what joins them at eye height (bridge,
    temples), as a first look sees them; all False where there is no loop round each eye."""
    h, w = image.shape[:2]
    eyes, centres, dist, rot = _eyes(landmarks)
    score = not_skin(image, landmarks)
    alone, brows, brows_only = _left_alone(landmarks, image.shape, eyes, dist, rot)
    frame = (score > NOT_SKIN) & (alone == 0)
    # Where the loop is known, a rim crossing a brow is taken with the band of brow it covers (the
    # brow's other hairs stay and fill it); never the lids or lashes.
    crossing = (score > NOT_SKIN) & ((alone == 0) | (brows_only > 0))
    found = np.zeros((h, w), np.uint8)  # on the rays that saw the rim
    placed = np.zeros((h, w), np.uint8)  # on the rays between, where the rim was placed
    lenses = np.zeros((h, w), np.uint8)
    radii = np.arange(SEARCH[0] * dist, SEARCH[1] * dist, STEP)
    angles = np.linspace(0.0, 2 * np.pi, RAYS, endpoint=False)
    max_run = MAX_RUN * dist
    for c in centres:
        # Ray directions in the picture: a unit circle in the stretched eye frame.
        local = np.stack([np.cos(angles), np.sin(angles) * LENS_ASPECT], 1)
        dirs = local @ rot  # eye frame -> picture
        pts = c[None, None, :] + dirs[:, None, :] * radii[None, :, None]
        xi, yi = np.round(pts[..., 0]).astype(int), np.round(pts[..., 1]).astype(int)
        inside = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
        xc, yc = np.clip(xi, 0, w - 1), np.clip(yi, 0, h - 1)
        on = frame[yc, xc] & inside
        candidates = [_runs(on[i], int(max_run / STEP)) for i in range(RAYS)]
        blind = (brows[yc, xc] > 0).any(1) | (~inside).any(1)
        can_see = RAYS - int(blind.sum())
        chain = _loop(candidates, blind, SMOOTH * dist / STEP)
        if can_see < RAYS // 3 or sum(not blind[i] for i, _, _ in chain) < MIN_SHARE * can_see:
            return np.zeros((h, w), bool)
        agree = np.zeros(RAYS, bool)
        hits = np.zeros((RAYS, 3))
        for i, j0, j1 in chain:
            # Past a brow's edge a ray's run may be the rim's edge only (the brow takes the rest):
            # the rim there is placed from its neighbours, as on a ray that missed it.
            agree[i] = not blind[i]
            hits[i] = ((j0 + j1) / 2, j0, j1)
        # Between the links (over a brow, where the rim runs into a shadow or a glare) the rim is
        # where the ellipse through the links puts it (a straight guess between the links either
        # side of a brow misses a rim's curve over the eye): its not-skin samples within its usual
        # thickness there.
        links = np.flatnonzero(agree)
        mid = np.interp(np.arange(RAYS), links, hits[links, 0], period=RAYS)
        centres_px = c[None, :] + dirs[links] * (radii[0] + hits[links, 0:1] * STEP)
        if len(links) >= 6:
            ring = np.zeros((h, w), np.uint8)
            cv2.ellipse(ring, cv2.fitEllipse(centres_px.astype(np.float32)), 1, 2)
            on_ring = ring[yc, xc] > 0
            for i in np.flatnonzero(~agree & on_ring.any(1)):
                mid[i] = np.flatnonzero(on_ring[i]).mean()
        half = float(np.median(hits[links, 2] - hits[links, 1])) / 2 + SMOOTH * dist / STEP
        samples = np.arange(len(radii))
        for i in range(RAYS):
            if agree[i]:
                near = (samples >= hits[i, 1]) & (samples <= hits[i, 2])
                for j in np.flatnonzero(near & on[i]):
                    found[yc[i, j], xc[i, j]] = 1
            else:
                near = np.abs(samples - mid[i]) <= half
                hits[i, 2] = mid[i] + half
                for j in np.flatnonzero(near & crossing[yc[i], xc[i]] & inside[i]):
                    placed[yc[i, j], xc[i, j]] = 1
        # The lens: everything inside the rim's outer edge.
        outer = c[None, :] + dirs * (radii[0] + hits[:, 2:3] * STEP)
        cv2.fillPoly(lenses, [np.round(outer).astype(np.int32)], 1)
    # The rays sample the rim; the rim itself is the not-skin pixels they touched and those joined
    # to them within the rim's band.
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    rims = (frame & (cv2.dilate(found, disc) > 0)) | (crossing & (cv2.dilate(placed, disc) > 0))
    # Bridge and temples: outside both lenses, at eye height, joined to a rim.
    ys, xs = np.mgrid[0:h, 0:w]
    outside = frame & (lenses == 0) & _eye_band(xs, ys, landmarks, centres, -rot[1], dist)
    joined = (outside | rims).astype(np.uint8)
    n, labels = cv2.connectedComponents(joined, connectivity=8)
    keep = np.zeros(n, bool)
    keep[labels[rims]] = True
    keep[0] = False
    return keep[labels] & (rims | outside)


def _eye_band(xs: np.ndarray, ys: np.ndarray, landmarks: np.ndarray, centres, up: np.ndarray,
              dist: float) -> np.ndarray:
    """Where a bridge or temple may run (both routes): within ``EYE_LEVEL`` of the line through the
    eye centres, ``up`` being the face's up direction in the picture, and inside the face outline
    grown by 2 px. ``xs``, ``ys``: the pixel grid."""
    mid = (centres[0] + centres[1]) / 2
    height = (xs - mid[0]) * up[0] + (ys - mid[1]) * up[1]
    level = (height > -EYE_LEVEL[0] * dist) & (height < EYE_LEVEL[1] * dist)
    oval = np.zeros(xs.shape, np.uint8)
    cv2.fillPoly(oval, [np.round(landmarks[list(regions.FACE_OVAL), :2]).astype(np.int32)], 1)
    return level & (cv2.dilate(oval, np.ones((5, 5), np.uint8)) > 0)


def _bridge(lines: np.ndarray, normal: np.ndarray, centres, dist: float, rot: np.ndarray):
    """The longest near-level line across the nose between the eyes: the share of ``BRIDGE_SPAN``
    either side of the midline it covers, and its points in the picture (where it is a line)."""
    h, w = lines.shape
    mid = (centres[0] + centres[1]) / 2
    up, along = -rot[1], rot[0]
    heights = np.arange(-BRIDGE_LEVEL[0] * dist, BRIDGE_LEVEL[1] * dist, STEP)
    steps = np.arange(-BRIDGE_SPAN * dist, BRIDGE_SPAN * dist + 0.5, 1.0)
    pts = mid + along * steps[None, :, None] + up * heights[:, None, None]  # heights x steps x 2
    xi = np.clip(np.round(pts[..., 0]).astype(int), 0, w - 1)
    yi = np.clip(np.round(pts[..., 1]).astype(int), 0, h - 1)
    on = (lines[yi, xi] > LINE) & _facing(normal[yi, xi], np.arctan2(up[1], up[0]))
    # Left to right, the line's height moves by at most one sample a pixel: the most samples on it.
    gain = on + 0.001 * np.minimum(lines[yi, xi] / LINE, 2.0) * on
    total, back = gain[:, 0].copy(), []
    for j in range(1, len(steps)):
        padded = np.pad(total, 1, constant_values=-np.inf)
        options = np.stack([padded[:-2], padded[1:-1], padded[2:]])  # from one lower, level, higher
        back.append(options.argmax(0) - 1)
        total = options.max(0) + gain[:, j]
    k = int(total.argmax())
    path = [k]
    for b in back[::-1]:
        k += b[k]
        path.append(k)
    path = np.array(path[::-1])
    cols = np.arange(len(steps))
    hit = on[path, cols]
    return float(hit.mean()), np.stack([xi[path, cols], yi[path, cols]], 1)[hit]


def _lens_outline(c, a: float, b: float, shift, dist: float, rot: np.ndarray, outward: float, t: np.ndarray):
    """Points on a lens's outline (ellipse in the eyes' frame, half axes ``a`` x ``b`` eye distances,
    its centre ``shift`` from the eye's, x outwards) at angles ``t``, and their outward normals."""
    u = shift[0] * outward * dist + a * dist * np.cos(t)
    v = shift[1] * dist + b * dist * np.sin(t)
    n = np.stack([np.cos(t) / a, np.sin(t) / b], 1)
    n /= np.linalg.norm(n, axis=1, keepdims=True)
    return c + np.stack([u, v], 1) @ rot, n @ rot


def _lens_fit(lines: np.ndarray, normal: np.ndarray, free: np.ndarray, centres, dist: float, rot: np.ndarray,
              a: float, b: float, shift) -> tuple[float, float]:
    """How well a pair of mirrored lens outlines lies on outward-facing lines: per eye, the share of
    its outline's points (where a rim can be seen, ``free``) with such a line within a pixel; and the
    mean capped strength of those lines over both (to climb on)."""
    h, w = lines.shape
    t = np.linspace(0.0, 2 * np.pi, RAYS, endpoint=False)
    across = np.array([-1.0, 0.0, 1.0])
    shares, strength = [], 0.0
    for c, outward in zip(centres, (-1.0, 1.0)):  # the right eye is on the picture's left
        pts, n = _lens_outline(c, a, b, shift, dist, rot, outward, t)
        near = pts[:, None, :] + n[:, None, :] * across[None, :, None]
        xi = np.clip(np.round(near[..., 0]).astype(int), 0, w - 1)
        yi = np.clip(np.round(near[..., 1]).astype(int), 0, h - 1)
        facing = np.where(_facing(normal[yi, xi], np.arctan2(n[:, 1:], n[:, :1])), lines[yi, xi], 0.0).max(1)
        seen = free[yi[:, 1], xi[:, 1]]
        shares.append(((facing > LINE) & seen).sum() / seen.sum() if seen.sum() >= RAYS / 2 else 0.0)
        strength += float(np.minimum(facing[seen] / LINE, CLIMB_CAP).sum()) / max(int(seen.sum()), 1)
    return min(shares), strength


def _lenses(lines: np.ndarray, normal: np.ndarray, free: np.ndarray, centres, dist: float, rot: np.ndarray):
    """The pair of lens outlines (mirror images about the nose's midline) on which most of each
    outline's points have a line facing outwards within a pixel: (share on the worse eye, (a, b,
    shift)), searched on a grid of ``LENS_STEP`` and then climbed on finer steps."""
    best = (0.0, None)
    for a in np.arange(LENS_A[0], LENS_A[1] + 1e-6, LENS_STEP):
        for b in np.arange(LENS_B[0], min(LENS_B[1], a) + 1e-6, LENS_STEP):
            for sx in np.arange(LENS_SHIFT[0][0], LENS_SHIFT[0][1] + 1e-6, LENS_STEP):
                for sy in np.arange(LENS_SHIFT[1][0], LENS_SHIFT[1][1] + 1e-6, LENS_STEP):
                    share = _lens_fit(lines, normal, free, centres, dist, rot, a, b, (sx, sy))[0]
                    if share > best[0]:
                        best = (share, (a, b, sx, sy))
    if best[1] is None:
        return best
    # The grid's steps are wider than a thin rim: climb the lines' strength by finer ones.
    at = np.array(best[1])
    score = _lens_fit(lines, normal, free, centres, dist, rot, at[0], at[1], at[2:])[1]
    for step in (LENS_STEP / 2, LENS_STEP / 4, LENS_STEP / 8):
        moved = True
        while moved:
            moved = False
            for k in range(4):
                for sign in (-1, 1):
                    trial = at.copy()
                    trial[k] += sign * step
                    got = _lens_fit(lines, normal, free, centres, dist, rot, trial[0], trial[1], trial[2:])[1]
                    if got > score:
                        at, score, moved = trial, got, True
    share = _lens_fit(lines, normal, free, centres, dist, rot, at[0], at[1], at[2:])[0]
    return share, (at[0], at[1], (at[2], at[3]))


def _rim_path(lines: np.ndarray, normal: np.ndarray, free: np.ndarray, outline: np.ndarray, n: np.ndarray,
              dist: float):
    """The rim round one lens: across each point of ``outline`` (its outward normals ``n``) the
    strongest outward-facing line within ``LENS_BAND`` of it, the path smooth from point to point (it
    may move by ``SMOOTH`` eye distances a point). Returns the path's points and whether a line is
    seen at each (``FOLLOW``)."""
    h, w = lines.shape
    t = np.arange(len(outline))
    offsets = np.arange(-LENS_BAND * dist, LENS_BAND * dist + 1e-6, STEP)
    pts = outline[:, None, :] + n[:, None, :] * offsets[None, :, None]  # rays x offsets x 2
    xi = np.clip(np.round(pts[..., 0]).astype(int), 0, w - 1)
    yi = np.clip(np.round(pts[..., 1]).astype(int), 0, h - 1)
    strength = np.where(_facing(normal[yi, xi], np.arctan2(n[:, 1:], n[:, :1])) & free[yi, xi], lines[yi, xi], 0.0)
    gain = np.minimum(strength / LINE, GAIN_CAP)
    # Twice round, so the path closes: the second lap's choices do not depend on where it began.
    tol = max(1, int(round(SMOOTH * dist / STEP)))
    total, back = gain[0].copy(), []
    for i in list(range(1, len(t))) + list(range(len(t))):
        padded = np.pad(total, tol, constant_values=-np.inf)
        options = np.stack([padded[d:d + len(offsets)] for d in range(2 * tol + 1)])
        back.append(options.argmax(0) - tol)
        total = options.max(0) + gain[i]
    k = int(total.argmax())
    path = [k]
    for step in back[::-1]:
        k += step[k]
        path.append(k)
    path = np.array(path[::-1])[len(t):]  # the second lap, ray by ray
    rays = np.arange(len(t))
    return pts[rays, path], strength[rays, path] > FOLLOW * LINE


def _draw_rim(rims: np.ndarray, at: np.ndarray, seen: np.ndarray) -> None:
    """Draws into ``rims`` (uint8) a rim's path where a line is seen (and between two neighbours
    that see it), ``RIM_WIDTH`` wide."""
    for i in range(len(at)):
        j = (i + 1) % len(at)
        if seen[i] and seen[j]:
            cv2.line(rims, tuple(np.round(at[i]).astype(int)), tuple(np.round(at[j]).astype(int)), 1, RIM_WIDTH)
        elif seen[i]:
            cv2.circle(rims, tuple(np.round(at[i]).astype(int)), RIM_WIDTH // 2, 1, -1)


def _thin_rims(image: np.ndarray, landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """bool masks over ``image``: thin rims, where a near-level line crosses the nose between the eyes
    and lines run round both eyes on two mirrored lens outlines, and the lenses they enclose; all
    False otherwise. A lid crease, a wrinkle or the nose's root makes no such bridge; brows and lids
    make no such pair of loops."""
    h, w = image.shape[:2]
    none = np.zeros((h, w), bool), np.zeros((h, w), bool)
    eyes, centres, dist, rot = _eyes(landmarks)
    lines, normal = thin_lines(image)
    run, bridge = _bridge(lines, normal, centres, dist, rot)
    if run < BRIDGE_RUN:
        return none
    alone = _left_alone(landmarks, image.shape, eyes, dist, rot)[0]
    share, lens = _lenses(lines, normal, alone == 0, centres, dist, rot)
    if share < LENS_SHARE:
        return none
    a, b, shift = lens
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    rims = np.zeros((h, w), np.uint8)
    lenses = np.zeros((h, w), bool)
    t = np.linspace(0.0, 2 * np.pi, RAYS, endpoint=False)
    for c, outward in zip(centres, (-1.0, 1.0)):
        # The lens searched is an ellipse in the eyes' frame; the rim then found is fitted by one of
        # any shape and followed again from it (a rim that is rounder, lower or tilted).
        outline, n = _lens_outline(c, a, b, shift, dist, rot, outward, t)
        at, seen = _rim_path(lines, normal, alone == 0, outline, n, dist)
        fitted = cv2.fitEllipse(at[seen].astype(np.float32)) if seen.sum() >= 6 else None
        if fitted is not None and min(fitted[1]) > LENS_B[0] * dist:
            (cx, cy), (ew, eh), angle = fitted
            spin = np.radians(angle)
            turn = np.array([[np.cos(spin), np.sin(spin)], [-np.sin(spin), np.cos(spin)]])
            outline = np.array([cx, cy]) + np.stack([ew / 2 * np.cos(t), eh / 2 * np.sin(t)], 1) @ turn
            n = np.stack([np.cos(t) / ew, np.sin(t) / eh], 1)
            n = (n / np.linalg.norm(n, axis=1, keepdims=True)) @ turn
            at, seen = _rim_path(lines, normal, alone == 0, outline, n, dist)
        _draw_rim(rims, at, seen)
        inner = np.zeros((h, w), np.uint8)
        cv2.fillPoly(inner, [np.round(at).astype(np.int32)], 1)
        lenses |= inner > 0
    rims = (rims > 0) & (alone == 0)
    # Bridge and temples: level lines outside both lenses, at eye level, joined to a rim.
    up = -rot[1]
    outside = ((lines > LINE) & _facing(normal, np.arctan2(up[1], up[0])) & ~lenses
               & _eye_band(xs, ys, landmarks, centres, up, dist) & (alone == 0))
    seed = rims.copy()
    seed[bridge[:, 1], bridge[:, 0]] = True
    joined = (outside | seed).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(joined, connectivity=8)
    keep = np.zeros(n, bool)
    keep[labels[seed]] = True
    keep &= stats[:, cv2.CC_STAT_AREA] >= PIECE * dist
    keep[0] = False
    # The bridge and temples as wide as the rims' paths are drawn (the line filter's core is thinner).
    pieces = (keep[labels] & (seed | outside) & ~rims).astype(np.uint8)
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (RIM_WIDTH, RIM_WIDTH))
    return (rims | (cv2.dilate(pieces, disc) > 0)) & (alone == 0), lenses


def find_frames(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """bool mask over ``image`` (BGR uint8, ``landmarks`` its 468 mesh points): the glasses frames
    (rims, bridge, temples), all False where there are none."""
    return _find(image, landmarks)[0]


def _find(image: np.ndarray, landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """bool masks over ``image``: the glasses frames (``find_frames``) and the lenses within thin
    rims (all False for frames found by the not-skin map: ``clear_lenses``). Frames that do not stand
    out from the skin's colour are looked for as thin lines (``_thin_rims``).

    Where frames crowd (the bridge between two rims) the neighbourhood's median is frame-coloured
    itself and they do not stand out: further looks over the nose, next to what was found, measure
    them against the picture with what was found painted out."""
    found = _rims(image, landmarks)
    if not found.any():
        return _thin_rims(image, landmarks)
    none = np.zeros(found.shape, bool)
    eyes, centres, dist, rot = _eyes(landmarks)
    alone = _left_alone(landmarks, image.shape, eyes, dist, rot)[0]
    r = max(1, int(round(REACH * dist)))
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    # Only over the nose, between the inner eye corners: elsewhere next to a rim lie the lid lines,
    # crow's feet and brows a further look would take as well.
    h, w = image.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    mid = (centres[0] + centres[1]) / 2
    along = (xs - mid[0]) * rot[0, 0] + (ys - mid[1]) * rot[0, 1]
    height = -((xs - mid[0]) * rot[1, 0] + (ys - mid[1]) * rot[1, 1])
    inner = float(np.linalg.norm(landmarks[regions.LEFT_EYE_INNER, :2] - landmarks[regions.RIGHT_EYE_INNER, :2]))
    bridge = (np.abs(along) < inner / 2) & (height > -EYE_LEVEL[0] * dist) & (height < EYE_LEVEL[1] * dist)
    for _ in range(LOOKS):
        score = not_skin(image, landmarks, _paint_out(image, found))
        near = cv2.dilate(found.astype(np.uint8), disc)
        more = found | ((score > NOT_SKIN) & (alone == 0) & (near > 0) & bridge)
        if (more == found).all():
            break
        found = more
    # Where two rims cross over the nose they enclose a knot of frame colour whose whole
    # neighbourhood is frame: small holes in what was found there are frame too.
    holes = (~found & bridge).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(holes, connectivity=4)
    zone_edge = bridge & ~(cv2.erode(bridge.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0)
    small = stats[:, cv2.CC_STAT_AREA] < (KNOT * dist) ** 2
    small[np.unique(labels[zone_edge])] = False
    small[0] = False
    return found | (small[labels] & (alone == 0)), none


def _spread(values: np.ndarray, weight: np.ndarray, sigma: float) -> np.ndarray:
    """A low-pass of ``values`` (H x W x C) over the pixels ``weight`` (H x W float32) counts, carried
    across the pixels it does not (normalised convolution)."""
    num = cv2.GaussianBlur(values * weight[..., None], (0, 0), sigma)
    den = cv2.GaussianBlur(weight, (0, 0), sigma)[..., None]
    return num / np.maximum(den, 1e-6)


def clear_lenses(image: np.ndarray, landmarks: np.ndarray, frames: np.ndarray, lenses: np.ndarray):
    """``image`` (BGR uint8) with what its ``lenses`` (bool mask) add taken out, a new array. Inside
    the lenses, but for the ``frames`` (filled after this) and the eye openings with their lashes
    (``LASH_MARGIN``) and the brows (left byte for byte as they were), the Lab of the skin in a ring
    just outside the rims (``TINT_RING``), low-passed (``TINT_BLUR``) and carried inwards, takes the
    place of the lens's own low-pass (``LENS_BLUR``): its colour cast, its lift and the reflections
    on it wider than a few pixels; the skin's fine texture stays. The change fades in from the eye
    openings and brows (``TINT_FEATHER``) and out across the outline, so neither gets a new edge."""
    h, w = image.shape[:2]
    eyes, centres, dist, rot = _eyes(landmarks)
    alone = _left_alone(landmarks, image.shape, eyes, dist, rot)[0]
    oval = np.zeros((h, w), np.uint8)
    cv2.fillPoly(oval, [np.round(landmarks[list(regions.FACE_OVAL), :2]).astype(np.int32)], 1)
    lab = cv2.cvtColor(image.astype(np.float32) / 255, cv2.COLOR_BGR2LAB)
    rim = cv2.dilate(frames.astype(np.uint8), np.ones((2 * GROW + 3, 2 * GROW + 3), np.uint8)) > 0
    r = max(1, int(round(TINT_RING * dist)))
    around = cv2.dilate(lenses.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))) > 0
    ring = around & ~lenses & ~rim & (alone == 0) & (oval > 0)
    inside = lenses & ~rim & (alone == 0)
    sigma = TINT_BLUR * dist
    skin = _spread(lab, ring.astype(np.float32), sigma)
    lens = _spread(lab, inside.astype(np.float32), LENS_BLUR * dist)
    # 1 inside the lens, fading in over TINT_FEATHER from the eye openings' margin and the brows, and
    # out across the outline (where a rim was not seen and so is not filled).
    away = cv2.distanceTransform((alone == 0).astype(np.uint8), cv2.DIST_L2, 5)
    weight = np.clip(away / max(TINT_FEATHER * dist, 1.0), 0.0, 1.0)
    weight *= cv2.GaussianBlur(lenses.astype(np.float32), (0, 0), 2.0)
    out = lab + (skin - lens) * weight[..., None]
    bgr = cv2.cvtColor(out, cv2.COLOR_LAB2BGR)
    cleared = np.clip(np.round(bgr * 255), 0, 255).astype(np.uint8)
    changed = weight > 0
    result = image.copy()
    result[changed] = cleared[changed]
    return result


def remove_frames(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """``image`` with its glasses frames painted out from the skin and lids around them, and thin
    rims' lenses cleared of their tint (``clear_lenses``); ``image`` itself (the same array) where no
    frames are found."""
    mask, lenses = _find(image, landmarks)
    if not mask.any():
        return image
    if lenses.any():
        image = clear_lenses(image, landmarks, mask, lenses)
    return _paint_out(image, mask)
