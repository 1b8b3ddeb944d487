"""The far side of a turning head: skin where the portrait's warp stretches a narrow band.

A portrait turned away shows its far cheek squeezed into a narrow band by the outline, and that
band holds the edge of whatever lies beside the face (hair, a glasses arm, the room). When the
wearer turns the other way the band is stretched two or three times over into the cheek, and its
few columns of hair and edge become streaks and a jagged border. The picture has nothing better
there: that cheek was never seen. So the photo avatar keeps a copy of the portrait with the
band round the outline filled with the skin just inside it (:func:`skin_filled`, made once per
photo, as the shut-eyes copy is), and where a frame's warp stretches the face's triangles well
past their size in the portrait (:class:`Stretch`) it draws that copy, through the same map.
At rest and under ordinary motion nothing is stretched and nothing changes.
"""
from __future__ import annotations

import cv2
import numpy as np

from livecam.analysis import face_regions as regions
from livecam.analysis.face_measures import face_width
from livecam.effects.avatar_stage import pull_push
from livecam.effects.mesh_warp import signed_areas

FILL_BAND = 0.1  # the band filled, inside the outline, in face widths
FEATURE_GROW = 0.03  # eyes, brows and lips grown by this (face widths): never a source of the fill
# A face triangle's area over its area in the portrait where the copy starts to show / fully shows.
# Tuning half, face-box SSIM lp_d12 / lp_d20 / lp_s18 / lp_d3 (frame 0 as the photo) and, from turned
# photos, lp_d12 (frame 47) / lp_d3 (frame 22): without the copy 0.7907 / 0.8271 / 0.8329 / 0.7922
# and 0.7163 / 0.7197; (1.6, 2.6) 0.7901 / 0.8271 / 0.8329 / 0.7926 and 0.7235 / 0.7146; (2.0, 3.0)
# 0.7905 / ... / 0.7923 and 0.7221 / 0.7155; (2.5, 4.0) the first four unchanged and 0.7200 / 0.7169;
# (3.0, 5.0) unchanged and 0.7191 / 0.7177. From 1.6 the flat fill also took the skin's own texture
# off cheeks only moderately widened (lp_d3's sheet); from 2.5 it shows only where the band's few
# columns would be streaks.
STRETCH = (2.5, 4.0)
SOFT = 0.015  # the copy's weight softened by this (face widths)
CELL = 4  # pixels a side of the cells the weight is drawn on
FEATURES = (regions.RIGHT_EYE, regions.LEFT_EYE, regions.RIGHT_BROW, regions.LEFT_BROW, regions.LIPS_OUTER)


def skin_filled(image: np.ndarray, landmarks: np.ndarray, person: np.ndarray | None = None) -> np.ndarray:
    """``image`` with the band round the face outline (``FILL_BAND`` wide, inside it) filled smoothly
    from the face's skin inside the band (eyes, brows and lips left out), worked on the box round
    the face only; everything else as ``image``."""
    out = image.copy()
    lm = np.asarray(landmarks, np.float64)
    fw = face_width(lm)
    oval = lm[np.asarray(regions.FACE_OVAL), :2]
    h, w = image.shape[:2]
    x0, y0 = np.maximum(np.floor(oval.min(0) - 0.05 * fw).astype(int), 0)
    x1, y1 = np.minimum(np.ceil(oval.max(0) + 0.05 * fw).astype(int) + 1, (w, h))
    if x1 - x0 < 8 or y1 - y0 < 8:
        return out
    o = (x0, y0)
    face = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(face, [np.round(oval - o).astype(np.int32)], 1)
    band = max(1, int(round(FILL_BAND * fw)))
    inner = cv2.erode(face, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * band + 1, 2 * band + 1)))
    features = np.zeros_like(face)
    cv2.fillPoly(features, [np.round(lm[np.asarray(f), :2] - o).astype(np.int32) for f in FEATURES], 1)
    grow = max(1, int(round(FEATURE_GROW * fw)))
    features = cv2.dilate(features, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1)))
    valid = inner & (1 - features)
    if person is not None:
        valid &= (person[y0:y1, x0:x1] > 127).astype(np.uint8)
    if np.count_nonzero(valid) < 16:
        return out
    crop = image[y0:y1, x0:x1].astype(np.float32)
    filled = pull_push(crop, valid.astype(np.float32))
    hole = (face > 0) & (inner == 0)
    out[y0:y1, x0:x1][hole] = np.clip(filled[hole], 0, 255).astype(np.uint8)
    return out


class Stretch:
    """Per stage: the face's triangles that reach into the filled band, and their areas in the
    portrait, to tell a frame's stretch. Those deeper in (the lips' and lids' slivers, which an open
    mouth or eye stretches most of all) are the same in the copy and are never looked at."""

    def __init__(self, rest: np.ndarray, triangles: np.ndarray, oval: np.ndarray, fw: float) -> None:
        """``rest`` the face's control points in the portrait, ``triangles`` the face's own (indices
        into ``rest``), ``oval`` the rows of ``rest`` that are its outline, in order, ``fw`` its width
        (all laid out on the stage)."""
        rest = np.asarray(rest, np.float64)[:, :2]
        self.oval = np.asarray(oval)
        outline = rest[self.oval].astype(np.float32)
        depth = np.array([abs(cv2.pointPolygonTest(outline, (float(x), float(y)), True)) for x, y in rest])
        near = depth[triangles].min(1) < FILL_BAND * fw
        self.triangles = np.asarray(triangles)[near]
        self.area = np.abs(signed_areas(rest, self.triangles))
        self.fw = fw

    def weight(self, dst: np.ndarray, bounds: tuple[int, int, int, int]
               ) -> tuple[tuple[slice, slice], np.ndarray] | None:
        """Where the face's triangles at ``dst`` (its control points) are stretched past ``STRETCH[0]``:
        the box (rows, columns of the frame, within ``bounds``: x0, y0, x1, y1) and a uint8 weight
        (0..255) over it, kept inside the face's outline at ``dst``; None where nothing is.
        The weight is drawn and softened on cells of ``CELL`` pixels (it is smooth anyway)."""
        a = signed_areas(dst, self.triangles)
        ratio = a / np.maximum(self.area, 1e-3)  # a folded (negative) triangle lies behind: never filled
        wt = np.clip((ratio - STRETCH[0]) / (STRETCH[1] - STRETCH[0]), 0.0, 1.0)
        hot = np.flatnonzero(wt > 0)
        if not len(hot):
            return None
        hot = hot[np.argsort(wt[hot])]  # the most stretched drawn last where two share a cell
        corners = np.asarray(dst, np.float64)[self.triangles[hot], :2]
        pad = int(np.ceil(3 * SOFT * self.fw)) + CELL
        x0, y0 = np.maximum(np.floor(corners.reshape(-1, 2).min(0)).astype(int) - pad, bounds[:2])
        x1, y1 = np.minimum(np.ceil(corners.reshape(-1, 2).max(0)).astype(int) + pad + 1, bounds[2:])
        if x1 - x0 < 2 or y1 - y0 < 2:
            return None
        cells = np.zeros((-(-(y1 - y0) // CELL), -(-(x1 - x0) // CELL)), np.uint8)
        polys = np.round((corners - (x0, y0)) * (16 / CELL)).astype(np.int32)
        for poly, value in zip(polys, np.round(wt[hot] * 255).astype(int).tolist()):
            cv2.fillConvexPoly(cells, poly, value, cv2.LINE_8, 4)
        cells = cv2.GaussianBlur(cells, (0, 0), max(0.5, SOFT * self.fw / CELL))
        weight = cv2.resize(cells, (cells.shape[1] * CELL, cells.shape[0] * CELL), interpolation=cv2.INTER_LINEAR)
        weight = weight[:y1 - y0, :x1 - x0]
        inside = np.zeros_like(weight)
        outline = np.asarray(dst, np.float64)[self.oval, :2]
        cv2.fillPoly(inside, [np.round((outline - (x0, y0)) * 16).astype(np.int32)], 255, cv2.LINE_8, 4)
        weight = cv2.min(weight, inside)
        bx, by, bw, bh = cv2.boundingRect(weight)
        if bw == 0 or bh == 0:
            return None
        return (slice(y0 + by, y0 + by + bh), slice(x0 + bx, x0 + bx + bw)), weight[by:by + bh, bx:bx + bw]
