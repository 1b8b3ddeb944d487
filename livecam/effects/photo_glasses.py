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
- **Left alone**: the eye openings with their lashes (``LASH_MARGIN``) and, but for a crossing
  rim's band, the brows.
- **Not found**: light rims on light skin that differ from it by less than ``NOT_SKIN``; frames
  whose loop a brow or the picture's edge hides on most rays.
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


def _left_alone(landmarks: np.ndarray, shape, eyes, dist, rot) -> np.ndarray:
    """uint8 masks: the eye openings with their lashes' margin and the brows (left alone); the brows
    grown by ``BROW_GROW`` (a rim there runs into the brow's colour and is lost to the loop); the
    brows outside the eyes' margin."""
    mask = np.zeros(shape[:2], np.uint8)
    angle = float(np.degrees(np.arctan2(rot[0, 1], rot[0, 0])))
    for eye in eyes:
        c = eye.mean(0)
        half = np.abs((eye - c) @ rot.T).max(0) + np.array(LASH_MARGIN) * dist
        cv2.ellipse(mask, (int(round(c[0] * 16)), int(round(c[1] * 16))),
                    (int(round(half[0] * 16)), int(round(half[1] * 16))), angle, 0.0, 360.0, 1, -1, cv2.LINE_8, 4)
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
    across = np.array([-rot[1, 0], -rot[1, 1]])  # the face's up direction in the picture
    ys, xs = np.mgrid[0:h, 0:w]
    mid = (centres[0] + centres[1]) / 2
    height = (xs - mid[0]) * across[0] + (ys - mid[1]) * across[1]
    level = (height > -EYE_LEVEL[0] * dist) & (height < EYE_LEVEL[1] * dist)
    oval = np.zeros((h, w), np.uint8)
    cv2.fillPoly(oval, [np.round(landmarks[list(regions.FACE_OVAL), :2]).astype(np.int32)], 1)
    oval = cv2.dilate(oval, np.ones((5, 5), np.uint8))
    outside = frame & (lenses == 0) & level & (oval > 0)
    joined = (outside | rims).astype(np.uint8)
    n, labels = cv2.connectedComponents(joined, connectivity=8)
    keep = np.zeros(n, bool)
    keep[labels[rims]] = True
    keep[0] = False
    return keep[labels] & (rims | outside)


def find_frames(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """bool mask over ``image`` (BGR uint8, ``landmarks`` its 468 mesh points): the glasses frames
    (rims, bridge, temples), all False where there are none.

    Where frames crowd (the bridge between two rims) the neighbourhood's median is frame-coloured
    itself and they do not stand out: further looks over the nose, next to what was found, measure
    them against the picture with what was found painted out."""
    found = _rims(image, landmarks)
    if not found.any():
        return found
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
    return found | (small[labels] & (alone == 0))


def remove_frames(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """``image`` with its glasses frames painted out from the skin and lids around them; ``image``
    itself (the same array) where no frames are found."""
    mask = find_frames(image, landmarks)
    return _paint_out(image, mask) if mask.any() else image
