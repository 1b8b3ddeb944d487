"""The wearer's glasses frames stay in front of a swapped face (issue 18, item 3).

A face swap draws the photo's skin over everything inside the wearer's face outline, so thin
glasses frames vanish into the photo's skin. ``GlassesKeeper`` finds them on the wearer's frame and
puts those pixels back on top of the swapped face with soft edges.

How, and why this way (there is no glasses or occlusion model to be had here):

- Everything is read in an **eye-band box aligned to the wearer's eyes** (the line through both
  eye centres level, ``SCALE`` pixels between them; a face over twice that size is halved by
  ``pyrDown`` first, so thin lines are not stepped over): frames ride rigidly on the head, so in
  this box they keep their place from frame to frame, and one small picture (129 x 64 pixels
  whatever the camera) costs the same on a 512 clip and at 720p.
- **A frame is a thin line**: its brightness differs from the median of its neighbourhood (a
  median wide enough to wipe out a line ``LINE_WIDTH`` wide keeps the skin's shading, so only thin
  structures are left; grey alone, with its own thresholds, kept as much of the tuning glasses as
  Lab did and separated the tuning clips as well, for one channel's median instead of three). Thin lines
  that belong to the wearer's own face, and that the photo replaces, are left out by the
  landmarks: the eyes with their lids, creases and lashes, the brows, the sides of the nose below
  the bridge, and everything outside the face outline (which the swap leaves as it is anyway).
- **Is there a pair of glasses at all**: wrinkles, lash lines and skin texture make thin lines
  too, so the mask is gated per clip. The evidence is one line running across the bridge and one
  along a lower rim (``line_evidence``: strong in most columns, on adjacent rows from column to
  column, which texture and wrinkles are not). It is read every ``EVIDENCE_EVERY`` frames,
  smoothed and switched with hysteresis, and the gate fades, so the mask never flickers on and
  off. Rimless and half-rim glasses (no lower rim) read as none: the swap then stays as it was.
- The mask itself is smoothed in the eye-aligned box across frames (where the frames stay put),
  so a line that comes and goes with noise does not flicker.
- The upper rims are kept only where they run clear of the brows: a rim that touches a brow cannot
  be told from the brow's own edge, and the brows are the photo's.
"""
from __future__ import annotations

import cv2
import numpy as np

from livecam.analysis import face_regions as regions

SCALE = 56.0  # eye-centre distance in the working box, pixels
BOX = (-1.15, 1.15, -0.6, 0.55)  # working box: x left..right, y top..bottom, in eye distances from the eyes' midpoint
LINE_WIDTH = 5  # median kernel (working pixels): lines up to about 2 px wide (0.04 eye distances) are found
LINE_RAMP = (2.0, 5.0)  # lightness (Lab L units) off the neighbourhood's median: no line .. full line
# Zones that carry the glasses evidence, in eye distances like BOX: the bridge (between the inner
# eye corners, from under the brows to the eyes' line) and the lower rims under each eye.
BRIDGE = (-0.2, 0.2, -0.4, 0.1)
RIMS = ((-0.7, -0.3, 0.2, 0.5), (0.3, 0.7, 0.2, 0.5))
GLASSES_ON, GLASSES_OFF = 2.0, 1.4  # smoothed evidence (line_evidence) that switches the gate on / off
SCORE_RATE = 0.4  # evidence smoothing per reading
GATE_RATE = 0.2  # the gate's fade per frame
MASK_RATE = 0.5  # the mask's smoothing per look
MASK_EVERY = 2  # the lines are looked for on every 2nd frame while glasses are kept
EVIDENCE_EVERY = 4  # the evidence is read on every 4th frame (and nothing else while no glasses are seen)
EYE_GROW = (0.06, 0.14)  # the wearer's eyes left out with this margin (lids, creases, lashes), x and y
BROW_GROW = 0.03  # the brows' margin
NOSE_SIDES = (-0.12, 0.12, 0.2)  # x range and top (eye distances) of the nose band below the bridge, left out
BESIDE = 96  # mask values up to this (of 255) are the skin beside the lines, where the colour shift is read
OUTLINE_INSET = 0.05  # the face outline pulled in by this much (its edge onto hair or background is a line too)

_SIZE = (int(round((BOX[1] - BOX[0]) * SCALE)), int(round((BOX[3] - BOX[2]) * SCALE)))
_RIGHT_EYE, _LEFT_EYE = np.array(regions.RIGHT_EYE), np.array(regions.LEFT_EYE)
_BROWS = (np.array(regions.RIGHT_BROW), np.array(regions.LEFT_BROW))
_OVAL = np.array(regions.FACE_OVAL)
_CROSS = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))


def _rows_cols(zone: tuple[float, float, float, float]) -> tuple[slice, slice]:
    x0, x1, y0, y1 = (int(round((v - o) * SCALE)) for v, o in zip(zone, (BOX[0], BOX[0], BOX[2], BOX[2])))
    return slice(y0, y1), slice(x0, x1)


def eye_box(landmarks: np.ndarray) -> np.ndarray | None:
    """The 2x3 affine from frame pixels to the working box (eye centres level, SCALE apart)."""
    right = landmarks[_RIGHT_EYE, :2].mean(0)
    left = landmarks[_LEFT_EYE, :2].mean(0)
    v = left - right
    dist = float(np.hypot(*v))
    if not np.isfinite(dist) or dist < 4.0:
        return None
    c, s = v / dist
    rot = np.array([[c, s], [-s, c]]) * (SCALE / dist)
    shift = -rot @ ((left + right) / 2) - np.array([BOX[0], BOX[2]]) * SCALE
    return np.hstack([rot, shift[:, None]]).astype(np.float32)


def line_strength(box_bgr: np.ndarray) -> np.ndarray:
    """Per pixel, how far its brightness stands from the median of its neighbourhood (float32, in
    Lab lightness units: 0-100 over the 8-bit range)."""
    grey = cv2.cvtColor(box_bgr, cv2.COLOR_BGR2GRAY)
    return cv2.absdiff(grey, cv2.medianBlur(grey, LINE_WIDTH)).astype(np.float32) * np.float32(100.0 / 255.0)


def where_frames_may_be(points: np.ndarray) -> np.ndarray:
    """Working-box mask (float32 0/1) of the face inside its outline, minus the wearer's own eyes,
    brows and nose sides; ``points`` are the landmarks in working-box pixels. Drawn, not
    morphed: margins are thick outlines and grown ellipses (cheaper than dilating)."""
    w, h = _SIZE
    zone = np.zeros((h, w), np.uint8)
    poly = lambda idx: np.round(points[idx, :2] * 16).astype(np.int32)
    outline = poly(_OVAL)
    cv2.fillPoly(zone, [outline], 1, cv2.LINE_8, 4)
    cv2.polylines(zone, [outline], True, 0, 2 * max(1, int(round(OUTLINE_INSET * SCALE))), cv2.LINE_8, 4)
    for eye in (_RIGHT_EYE, _LEFT_EYE):
        (cx, cy), (ew, eh) = points[eye, :2].mean(0), np.ptp(points[eye, :2], axis=0)
        axes = (int(round(ew / 2 + EYE_GROW[0] * SCALE)), int(round(eh / 2 + EYE_GROW[1] * SCALE)))
        cv2.ellipse(zone, (int(round(cx)), int(round(cy))), axes, 0.0, 0.0, 360.0, 0, -1)
    thick = 2 * max(1, int(round(BROW_GROW * SCALE)))
    brows = [poly(brow) for brow in _BROWS]
    cv2.fillPoly(zone, brows, 0, cv2.LINE_8, 4)
    cv2.polylines(zone, brows, True, 0, thick, cv2.LINE_8, 4)
    zone[_rows_cols((NOSE_SIDES[0], NOSE_SIDES[1], NOSE_SIDES[2], BOX[3]))] = 0
    return zone.astype(np.float32)


def line_evidence(strength: np.ndarray) -> float:
    """How surely one line runs across a zone from side to side: the median over its columns of
    each column's strongest response, times the share of neighbouring columns whose strongest
    pixels are strong and lie on adjacent rows (a line runs on; skin texture and wrinkles peak at
    random rows, about one pair in five)."""
    peak = strength.max(axis=0)
    row = strength.argmax(axis=0)
    level = float(np.median(peak))
    strong = peak > 0.5 * level
    runs = (np.abs(np.diff(row)) <= 1) & strong[1:] & strong[:-1]
    return level * float(runs.mean())


def glasses_evidence(strength: np.ndarray) -> float:
    """A line across the bridge and one along a lower rim: both must be there (the smaller of the
    bridge and the better rim), as an old face's wrinkles under the eyes or at the nose root make
    one of them, rarely both."""
    bridge = line_evidence(strength[_rows_cols(BRIDGE)])
    rims = max(line_evidence(strength[_rows_cols(z)]) for z in RIMS)
    return min(bridge, rims)


class GlassesKeeper:
    """Per clip: finds the wearer's glasses frames and gives a soft mask of them on the frame."""

    def __init__(self) -> None:
        self.score: float | None = None  # smoothed glasses evidence
        self.wearing = False  # the hysteresis decision
        self.gate = 0.0  # 0..1, fades towards the decision
        self._mask: np.ndarray | None = None  # smoothed mask in the working box
        self._frames = 0
        self._zone: np.ndarray | None = None  # where_frames_may_be, from the last reading
        self._shift: np.ndarray | None = None  # BGR: the swapped face's colour minus the wearer's beside the lines

    def update(self, image: np.ndarray, landmarks: np.ndarray
               ) -> tuple[tuple[slice, slice], np.ndarray] | None:
        """Read one frame: ``(rows, cols), mask`` (uint8, 255 = the wearer's frame pixel in front) for
        the frame box that holds the glasses, or None where nothing is to be kept."""
        self._frames += 1
        read = self.score is None or self._frames % EVIDENCE_EVERY == 0
        if self.gate == 0.0 and not read:
            return None  # no glasses: nothing to do until the evidence is read again
        to_box = eye_box(landmarks)
        if to_box is None:
            return None
        h, w = image.shape[:2]
        w0, h0 = _SIZE
        # The working box's corners in the frame: its bounding box is all that is read and written.
        back = cv2.invertAffineTransform(to_box)
        corners = np.array([[0, 0], [w0, 0], [0, h0], [w0, h0]], np.float32) @ back[:, :2].T + back[:, 2]
        x0, y0 = np.floor(corners.min(0)).astype(int)
        x1, y1 = np.ceil(corners.max(0)).astype(int)
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
        if x1 - x0 < 8 or y1 - y0 < 8:
            return None
        # The lines are looked for again on every MASK_EVERY-th frame (and on every reading); in
        # between, the mask found in the eye-aligned box is carried by this frame's eyes.
        look = read or self._mask is None or self._frames % MASK_EVERY == 0
        if look:
            crop = image[y0:y1, x0:x1]
            local = to_box.copy()
            local[:, 2] += local[:, :2] @ np.float32([x0, y0])
            while float(np.hypot(*local[0, :2])) < 0.5:
                # Sampling a face over twice the box's size would step over thin lines (and alias
                # the skin's pores into lines): halve it first.
                crop = cv2.pyrDown(crop)
                local[:, :2] *= np.float32(2.0)
            box_bgr = cv2.warpAffine(crop, local, _SIZE, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            strength = line_strength(box_bgr)

        if read:
            evidence = glasses_evidence(strength)
            first = self.score is None
            self.score = evidence if first else self.score + SCORE_RATE * (evidence - self.score)
            if self.wearing and self.score < GLASSES_OFF:
                self.wearing = False
            elif not self.wearing and self.score > GLASSES_ON:
                self.wearing = True
                if first:
                    self.gate = 1.0  # glasses there from the first face: no fade-in to hide
        self.gate += GATE_RATE * (float(self.wearing) - self.gate)
        if self.gate < 0.02 and not self.wearing:
            self.gate, self._mask, self._zone, self._shift = 0.0, None, None, None
            return None

        if look:
            if read or self._zone is None:
                # In the eye-aligned box the face's features barely move between readings.
                self._zone = where_frames_may_be(landmarks[:, :2].astype(np.float32) @ to_box[:, :2].T + to_box[:, 2])
            lo, hi = LINE_RAMP
            now = np.clip((strength - lo) / (hi - lo), 0.0, 1.0) * self._zone
            # A working pixel wider: the line's own edges (part frame, part skin) are kept too, and
            # its border is soft once warped back to the frame.
            now = cv2.dilate(now, _CROSS)
            if self._mask is not None:
                now = cv2.addWeighted(self._mask, 1.0 - MASK_RATE, now, MASK_RATE, 0.0)
            self._mask = now
        local_full = to_box.copy()
        local_full[:, 2] += local_full[:, :2] @ np.float32([x0, y0])
        # 8-bit for the way back to the frame: a quarter of the float warp's cost at 720p.
        mask = cv2.warpAffine(cv2.convertScaleAbs(self._mask, alpha=255.0 * self.gate), local_full,
                              (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_CONSTANT)
        return (slice(y0, y1), slice(x0, x1)), mask

    def keep(self, out: np.ndarray, image: np.ndarray, landmarks: np.ndarray) -> None:
        """Put the wearer's glasses frames from ``image`` back on top of ``out`` (in place).

        What goes back is the frames' own contrast, not the wearer's skin around them: the kept
        pixels are the wearer's, shifted by how the swapped face's colour differs from the wearer's
        on the skin right beside the lines (the mask's soft edge). A thin frame is mostly part
        frame, part skin, and the skin part is then the photo's tone, not the wearer's."""
        kept = self.update(image, landmarks)
        if kept is None:
            return
        (rows, cols), mask = kept
        # Only the rows and columns the frames cross.
        x, y, w, h = cv2.boundingRect(mask)
        if w == 0 or h == 0:
            return
        mask = mask[y:y + h, x:x + w]
        rows = slice(rows.start + y, rows.start + y + h)
        cols = slice(cols.start + x, cols.start + x + w)
        wearer, face = image[rows, cols], out[rows, cols]  # ``face`` is a view: written in place
        if self._frames % MASK_EVERY == 0 or self._shift is None:  # it changes slowly: with the mask
            beside = cv2.inRange(mask, 1, BESIDE)
            if cv2.countNonZero(beside) > 0:
                self._shift = np.subtract(cv2.mean(face, beside)[:3], cv2.mean(wearer, beside)[:3])
        if self._shift is not None:
            # Per channel plus a constant: transform is ~20x faster than add with a scalar here.
            shift = np.hstack([np.eye(3), self._shift[:, None]]).astype(np.float32)
            wearer = cv2.transform(wearer, shift)  # saturating, rounded
        alpha = mask.astype(np.float32) * np.float32(1.0 / 255)
        face[...] = cv2.blendLinear(wearer, face, alpha, 1.0 - alpha)
