"""The portrait's mesh kept on its own face: where the fitted mesh reaches past the face's visible
edge (a turned photo's far cheek, whose mesh silhouette lies over the hair or the room behind), its
points are pulled back onto the face, once per photo.

The photo avatar warps the picture under the mesh with the mesh. A mesh point that sits on hair
at rest carries that hair with it: when the wearer turns the head back, the far cheek widens and
those pixels are stretched into it, with a jagged edge where the hair's border crosses the
triangles. Pulled onto the face's edge, the points take skin with them and the hair beyond stays
with the head ring (hair, ears), which moves it whole.
"""
from __future__ import annotations

import cv2
import numpy as np

from livecam.analysis import face_regions as regions
from livecam.analysis.face_measures import face_width

PULL_MAX = 0.12  # at most this far (face widths) a point is pulled in
PULL_STEP = 0.004  # the search's step along the way in (face widths)
# The mesh's inner points are kept this far (face widths) inside the outline, so the triangles between
# them and the outline hold a band of the photo's own cheek that a turn back can widen, not a sliver
# of its edge. Tuning half, face-box SSIM on lp_d12 / lp_d20 / lp_s18 / lp_d3 (frame 0 as the photo),
# and from turned photos lp_d12 (its frame 47) / lp_d3 (frame 22): old code 0.7907 / 0.8271 / 0.8319 /
# 0.7922 and 0.7145 / 0.7140; 0.015, 0.03 and 0.05 all 0.7907 / 0.8271 / 0.8329 / 0.7922 (within
# 0.0001) and 0.7159 / 0.7185, 0.7163 / 0.7197, 0.7152 / 0.7187.
BAND = 0.03
# Points that stay where the mesh put them: the features (a brow's tail or an eye's corner near the
# outline of a turned face is the feature, wherever it lies).
KEEP = (regions.RIGHT_EYE, regions.LEFT_EYE, regions.RIGHT_BROW, regions.LEFT_BROW, regions.LIPS_OUTER,
        regions.LIPS_INNER)


def face_region(shape: tuple[int, ...], landmarks: np.ndarray, person: np.ndarray | None) -> np.ndarray:
    """uint8 mask (1 = the face as the photo shows it): inside the mesh's outline and on the person."""
    region = np.zeros(shape[:2], np.uint8)
    cv2.fillPoly(region, [np.round(landmarks[np.asarray(regions.FACE_OVAL), :2]).astype(np.int32)], 1)
    if person is not None:
        region &= (person > 127).astype(np.uint8)
    return region


def pull_inside(points: np.ndarray, region: np.ndarray, centre: np.ndarray, reach: float, step: float) -> np.ndarray:
    """``points`` (N, 2+) with those outside ``region`` moved straight towards ``centre`` to the first
    place inside it, at most ``reach`` pixels (farther ones go that far)."""
    out = np.array(points, np.float64, copy=True)
    h, w = region.shape
    xy = out[:, :2]
    way = centre[None] - xy
    dist = np.linalg.norm(way, axis=1, keepdims=True)
    unit = way / np.maximum(dist, 1e-6)
    ts = np.arange(0.0, reach + step, step)
    path = xy[:, None] + unit[:, None] * np.minimum(ts[None, :, None], dist[:, :, None])
    ix = np.clip(np.round(path[..., 0]).astype(int), 0, w - 1)
    iy = np.clip(np.round(path[..., 1]).astype(int), 0, h - 1)
    inside = region[iy, ix] > 0
    first = np.where(inside.any(1), inside.argmax(1), len(ts) - 1)
    out[:, :2] = path[np.arange(len(out)), first]
    return out


def on_face(landmarks: np.ndarray, shape: tuple[int, ...], person: np.ndarray | None = None) -> np.ndarray:
    """``landmarks`` (468, 3; depth kept) kept on the photo's face: the outline's points pulled in
    onto the person (``person``: uint8 mask, 255 = person) where they lie on the room, and every
    other point but the features' (``KEEP``) at least ``BAND`` inside that outline. Each moves
    straight towards the outline's centre, at most ``PULL_MAX`` face widths."""
    lm = np.array(landmarks, np.float64, copy=True)
    fw = face_width(lm)
    oval = np.asarray(regions.FACE_OVAL)
    centre = lm[oval, :2].mean(0)
    reach, step = PULL_MAX * fw, max(0.5, PULL_STEP * fw)
    if person is not None:
        on = (person > 127).astype(np.uint8)
        lm[oval] = pull_inside(lm[oval], on, centre, reach, step)
    region = face_region(shape, lm, person)  # a point on the outline's own line counts as inside
    margin = int(round(BAND * fw))
    if margin > 0:
        region = cv2.erode(region, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * margin + 1, 2 * margin + 1)))
    inner = np.setdiff1d(np.arange(len(lm)), np.concatenate([oval, *(np.asarray(r) for r in KEEP)]))
    lm[inner] = pull_inside(lm[inner], region, centre, reach, step)
    return lm
