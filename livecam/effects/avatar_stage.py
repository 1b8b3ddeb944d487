"""The photo avatar's stage: the portrait laid out in a frame of one size, split into a person layer
and a clean background plate, with the control points its warp moves.

- **Framing.** The portrait takes the wearer's framing: its face lands where the wearer's neutral
  face is, at the same size (so a photo taken from the same seat lands pixel for pixel), enlarged a
  little more when that lets it cover the frame; beyond its edges a blurred copy fills in.
- **Layers.** The person (the photo under its person mask) is warped; the background behind it is a
  clean plate, the photo with the person inpainted away once at build time. What the moving head
  uncovers shows that plate, never a stretched band of the photo.
- **Control points.** The chosen mesh points (expression), a ring around the head that moves
  rigidly with it (hair, ears), a wider body ring and the warped box's edge: above the chin these
  move with the head, below the neck with the torso (shoulders, which start higher beside the
  jaw), so the neck bends between them and nothing above the shoulders is ever stretched. The head ring's own points under the chin
  follow that rule too (:meth:`Stage.neck_ring`): a head that turns or slides over a still body
  leaves the collar where it is. Under the chin the ring has more rows out to the body ring
  (``NECK_STEPS``), so the neck bends over several rows of triangles, not one. The body ring and
  the box edge take only the travel the head's centre made as well as its face
  (:meth:`Stage.beyond_travel`): a turn swings the face, not what lies beside the head. Beside the
  ears the ring has one more row halfway to the outline (:meth:`Stage._add_ear_points`).
- **Below the frame.** A portrait cut by the frame's bottom goes on below it (the photo's own rows
  where it has them, else clothes made up from its last rows, see :func:`extend_below`), so a body
  that rises moves up whole instead of stretching its clothes up from a fixed bottom edge.
"""
from __future__ import annotations

import cv2
import numpy as np

from livecam.analysis import face_regions as regions
from livecam.analysis.face_measures import face_width, mouth_openness
from livecam.analysis.head_pose import POSE_INDICES, rigid_fit
from livecam.analysis.torso_motion import EARS
from livecam.effects.avatar_mouth import shows_teeth, skin_near_mouth
from livecam.effects.background import composite
from livecam.effects.mesh_warp import Grid, MeshWarp, triangulate
from livecam.imaging import cover_fit, finite_in_unit_range

FACE_SHARE = (0.15, 0.9)  # the face outline's height over the frame's, at most and at least
FACE_CENTRE = (0.5, 0.45)  # where the face sits before the wearer's is known (fractions of w, h)
COVER_STRETCH = 1.15  # a portrait this much short of covering the frame is enlarged to cover it
RING_POINTS = 28  # points around the head that move rigidly with it (hair, ears, jaw line)
RING_SCALE = 1.35  # head ring radius over the face outline's
# The head ring's depth behind the face outline, in face widths: how far the hair and ears swing
# the other way on a turn. Tuning side, face-box SSIM (frame 0 as the portrait, whole clips; lp_d3 /
# lp_d12 / lp_d12 from its turned frame 47 / lp_d3 from frame 22 / lp_s18 / lp_d20 / lp_d19 / lp_d18):
# 0.35: 0.7702 / 0.7848 / 0.7203 / 0.7166 / 0.8008 / 0.8229 / 0.8591 / 0.8590; 0.45: 0.7718 / 0.7850
# / 0.7255 / 0.7206 / 0.8015 / 0.8230 / 0.8575 / 0.8583; 0.5: 0.7721 / 0.7851 / 0.7275 / 0.7221 /
# 0.8018 / 0.8230 / 0.8568 / 0.8579; 0.6: 0.7718 / 0.7850 / 0.7297 / 0.7218; 0.7: 0.7711 / 0.7848 /
# 0.7292 / 0.7174. Turning heads gain, the two nearly still ones (lp_d19, lp_d18) lose a little.
RING_DEPTH = 0.5
BODY_SCALE = 2.4  # body ring radius over the face outline's: fixed, as is everything beyond it
BOX_MARGIN = 0.05  # the warped box reaches this far past the body ring, share of the face height
NECK = 0.5  # below the chin, in face heights, where the torso's motion has taken over from the head's
# Rows the torso's top rises by per pixel out from the jaw's side (see :meth:`Stage.head_follow`).
# Tuning half, face-box / clothes SSIM lp_d12, lp_d19 (an untracked torso kept still): by height
# alone (0) 0.7984 / 0.8527, 0.8680 / 0.5726; 0.5: 0.7983 / 0.8654, 0.8681 / 0.5938; 1: 0.7932 /
# 0.8682, 0.8682 / 0.6099; 2: 0.7879 / 0.8682, 0.8681 / 0.6129. Steeper keeps more of the shoulders
# still but pulls the neck's sides away from a moving jaw (lp_d12's face box).
SHOULDER_SLOPE = 0.5
BELOW = 0.6  # face heights of clothing made up below a portrait cut by the frame's bottom edge
ABOVE = 0.3  # face heights over which a portrait cut by the frame's top edge fades out above it
MAX_SLOPE = 4.0  # pixels a row at most that the outline widens by there (shoulders, not arms held out)
DARK_FLOOR = 12.0  # BGR levels added to each channel before taking a colour's shares: the dark have no hue
# Rows of head-ring points added under the chin between each ring point there and the body ring or box
# edge beyond it (:meth:`Stage._add_neck_points`). Tuning half, face-box SSIM lp_d12 / lp_s18 / lp_d18 and
# below-the-face-box SSIM lp_d19 / lp_d20: 0 (before) 0.7982 / 0.8340 / 0.8564, 0.5938 / 0.4922; 1 0.8000 /
# 0.8374 / 0.8565, 0.6011 / 0.4924; 2 0.8000 / 0.8375 / 0.8576, 0.6080 / 0.4956; 3 0.7999 / 0.8377 / 0.8578,
# 0.5979 / 0.4970 (lp_d3 has no ring under its chin: 0.7937 throughout).
NECK_STEPS = 2
SHIFT_ROOM = 0.8  # share of the gap between the rings the head may travel (beyond it the neck folds)
MAP_STEP = 6  # frame pixels per coarse-grid cell of the warp map
PLATE_SIZE = 384  # the clean plate is inpainted at this long side, then upsampled (it is smooth anyway)
DRAW_BAND = 48  # rows of the warped box one remap covers: each band skips the clear columns beside the person
DRAW_BLOCK = 8  # the person layer's clear parts are found in blocks of this many pixels a side
PLATE_GROW = 0.02  # the person mask is grown by this share of the plate's size before inpainting
# The person mask's level (0..255) from which the clean plate fills the picture in. The mask's soft
# tail (the guided filter's leak into a dark room, the hair's fuzz) is mostly room: filled in from
# 8 up, the plate smeared the room there, at rest (the still canvas mixes it in by 1 - mask) and
# wherever the moving head uncovered it. Filled where the mask says more person than room, the room
# keeps its own picture there. Tuning side, face-box SSIM lp_d12 / lp_d20 / lp_s18 / lp_d3 (the flow
# round the head every 2nd frame): 8: 0.7906 / 0.8272 / 0.8331 / 0.7928; 64: 0.7913 / 0.8319 /
# 0.8332 / 0.7926; 96: 0.7922 / 0.8310 / 0.8332 / 0.7922; 128: 0.7925 / 0.8301 / 0.8332 / 0.7931;
# 192: 0.7941 / 0.8282 / 0.8332 / 0.7931.
PLATE_HOLE = 128
# The pose points off the face outline: the head's motion is read back from them (:meth:`Stage.beyond_travel`),
# since a turn's outline is moved out on its far side each frame (``photo_turn.Silhouette``).
INNER_POSE = np.setdiff1d(POSE_INDICES, regions.FACE_OVAL)


def face_frame(landmarks: np.ndarray) -> tuple[float, float, float]:
    """(centre x, centre y, height) of a face outline: what framing matches."""
    oval = landmarks[np.asarray(regions.FACE_OVAL), :2]
    cx, cy = oval.mean(0)
    return float(cx), float(cy), float(oval[:, 1].max() - oval[:, 1].min())


def layout(photo_size: tuple[int, int], landmarks: np.ndarray, size: tuple[int, int],
           target: tuple[float, float, float] | None = None) -> tuple[float, float, float]:
    """(scale, tx, ty) placing the photo in a frame of ``size``: frame = photo * scale + (tx, ty).

    With ``target`` (the wearer's neutral face: centre x, y and height, see :func:`face_frame`) the
    portrait's face takes the wearer's place and size, so the avatar keeps the wearer's framing;
    without it the face sits at ``FACE_CENTRE``. A photo that would nearly cover the frame is
    enlarged a little to cover it (no backdrop bars), and where it covers, its edges stay outside."""
    pw, ph = photo_size
    w, h = size
    cx, cy, face_h = face_frame(landmarks)
    face_h = max(face_h, 1.0)
    cover = max(w / pw, h / ph)
    if target is None:
        want, (gx, gy) = cover, (FACE_CENTRE[0] * w, FACE_CENTRE[1] * h)
    else:
        want, (gx, gy) = target[2] / face_h, target[:2]
        if want < cover <= want * COVER_STRETCH:
            want = cover
    scale = float(np.clip(want, FACE_SHARE[0] * h / face_h, FACE_SHARE[1] * h / face_h))
    tx, ty = gx - cx * scale, gy - cy * scale
    if pw * scale >= w - 1e-6:
        tx = float(np.clip(tx, w - pw * scale, 0.0))
    if ph * scale >= h - 1e-6:
        ty = float(np.clip(ty, h - ph * scale, 0.0))
    return scale, float(tx), float(ty)


def place(picture: np.ndarray, scale: float, tx: float, ty: float, size: tuple[int, int],
          interp: int = cv2.INTER_LINEAR) -> np.ndarray:
    """``picture`` scaled by ``scale`` and moved by (tx, ty) into a canvas of ``size``, black beyond it;
    shrinking goes through area averaging first (warpAffine has none)."""
    if scale < 1 and interp != cv2.INTER_NEAREST:
        h, w = picture.shape[:2]
        small = cv2.resize(picture, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
        sx, sy = small.shape[1] / w, small.shape[0] / h
        m = np.array([[scale / sx, 0.0, tx], [0.0, scale / sy, ty]])
        return cv2.warpAffine(small, m, size, flags=interp, borderMode=cv2.BORDER_CONSTANT)
    m = np.array([[scale, 0.0, tx], [0.0, scale, ty]])
    return cv2.warpAffine(picture, m, size, flags=interp, borderMode=cv2.BORDER_CONSTANT)


def clean_plate(picture: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``picture`` with the person (uint8 ``mask``, 255 = person) filled in from the background
    around them, smoothly (pull-push: averages over ever coarser levels, no inpainting streaks; only
    strips next to the person are ever uncovered). Made at ``PLATE_SIZE`` and used only under the
    grown mask, where the mask passes ``PLATE_HOLE``. A room texture mirrored in from beside the hole
    instead (row by row) lowered the tuning side's face-box SSIM (lp_d20 0.8303 -> 0.8129, lp_s18
    0.8338 -> 0.8300): a wrong texture costs more than a smooth one."""
    h, w = picture.shape[:2]
    k = min(1.0, PLATE_SIZE / max(h, w))
    size = (max(8, round(w * k)), max(8, round(h * k)))
    small = cv2.resize(picture, size, interpolation=cv2.INTER_AREA).astype(np.float32)
    hole = (cv2.resize(mask, size, interpolation=cv2.INTER_AREA) > PLATE_HOLE).astype(np.uint8)
    grow = max(1, int(round(PLATE_GROW * max(size))))
    hole = cv2.dilate(hole, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1)))
    if hole.all():  # nothing to fill from: a flat mid-grey plate
        return np.full_like(picture, 128)
    filled = cv2.convertScaleAbs(pull_push(small, 1.0 - hole.astype(np.float32)))
    up = cv2.resize(filled, (w, h), interpolation=cv2.INTER_LINEAR)
    where = cv2.resize(cv2.GaussianBlur(hole * 255, (0, 0), 1.0), (w, h), interpolation=cv2.INTER_LINEAR)
    return composite(up, picture, where)


def pull_push(image: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Fill where ``valid`` (0..1) is low with the weighted average of coarser levels."""
    h, w = valid.shape
    if valid.min() >= 0.999 or min(h, w) < 2:
        return image
    half = (max(1, w // 2), max(1, h // 2))
    weight = cv2.resize(valid, half, interpolation=cv2.INTER_AREA)
    coarse = cv2.resize(image * valid[..., None], half, interpolation=cv2.INTER_AREA) / np.maximum(weight, 1e-6)[..., None]
    coarse = pull_push(coarse, np.minimum(weight * 4.0, 1.0))
    up = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_LINEAR)
    return image * valid[..., None] + up * (1.0 - valid[..., None])


def _premultiplied(picture: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """BGRA with the colour premultiplied by ``mask``: resampling then blends no background colour
    into the person's edge, and compositing over the plate takes one multiply less per frame."""
    return cv2.merge([*cv2.split(cv2.multiply(picture, cv2.merge([mask] * 3), scale=1 / 255)), mask])


def _skin_like(colour: np.ndarray, skin: np.ndarray, person: np.ndarray) -> np.ndarray:
    """Which of the ``person`` pixels of ``colour`` (BGR) look more like ``skin`` (BGR) than like the
    rest of them, by their shares of B, G and R (so a neck in shadow is still skin), the rest's
    share taken again without the skin found (three rounds); none where that would be most of them
    (skin-coloured clothes, bare shoulders: there is nothing else to go on)."""
    def shares(c: np.ndarray) -> np.ndarray:
        c = c + DARK_FLOOR
        return c / c.sum(-1, keepdims=True)

    pixels, ref = shares(colour), shares(skin)
    near = np.linalg.norm(pixels - ref, axis=-1)
    like = np.zeros_like(person)
    for _ in range(3):
        rest = person & ~like
        if not rest.any():
            break
        like = person & (near < np.linalg.norm(pixels - pixels[rest].mean(0), axis=-1))
    return like if np.count_nonzero(like) < 0.5 * np.count_nonzero(person) else np.zeros_like(person)


def extend_below(person4: np.ndarray, rows: int, skin: np.ndarray | None = None) -> np.ndarray:
    """The premultiplied person layer (BGRA) with ``rows`` more rows below it: the clothes going on.

    The outline goes on widening as fast as it does over the layer's last ``rows // 4`` rows (a
    line fitted to its edges there: shoulders go on sloping out; the mask's very last rows, where
    the segmenter meets the picture's edge, often stall) and is solid inside, clear outside (the
    mask's soft tail there is the room: carried down, it drew a dark smudge beside the shoulders).
    Its colour is the clothing's over those rows, per column, weighted towards the bottom, with
    what is not clothing left out (pixels less than half person, and those that look like ``skin``,
    the face's BGR, see :func:`_skin_like`: the neck in an open collar, a hand), smoothed along the
    row by half that depth and filled from the clothing beside it where a column has none. Each
    column's own colour carried straight down turned every edge the last rows cut (a collar, the
    neck's shadow, a hand) into a streak as long as the body rose (lp_d20: his shirt a stack of
    streaks from frame ~100, with a dark smudge beside the shoulders)."""
    depth = max(2, rows // 4)
    band = person4[-depth:].astype(np.float32)
    alpha = band[..., 3] / 255.0
    colour = band[..., :3] / np.maximum(alpha, 1e-3)[..., None]  # un-premultiplied
    cloth = alpha > 0.5
    if skin is not None and cloth.any():
        cloth &= ~_skin_like(colour, np.asarray(skin, np.float32), cloth)
        cloth = cloth if cloth.any() else alpha > 0.5
    cloth = cloth.astype(np.float32)
    weight = cloth * np.linspace(0.25, 1.0, depth, dtype=np.float32)[:, None]  # the last rows count most
    total = weight.sum(0)
    w = person4.shape[1]
    x = np.arange(w, dtype=np.float32)
    below = np.zeros((rows, w, 4), np.float32)
    edges = [np.flatnonzero(r > 127) for r in person4[-depth:, :, 3]]
    if not total.any() or not len(edges[-1]):  # the person ends above the photo's edge: nothing goes on
        return np.ascontiguousarray(np.concatenate([person4, below.astype(np.uint8)]))
    # Normalised smoothing: each column the weighted mean of the clothing round it.
    sums = np.concatenate([(colour * weight[..., None]).sum(0), total[:, None]], axis=1)[None]
    spread = cv2.GaussianBlur(sums, (0, 0), depth / 2.0, sigmaY=1e-3, borderType=cv2.BORDER_REPLICATE)[0]
    known = np.flatnonzero(spread[:, 3] > 1e-3 * depth)
    per_column = spread[known, :3] / spread[known, 3:]
    row = np.stack([np.interp(x, known.astype(np.float32), per_column[:, c]) for c in range(3)], axis=1)
    down = np.arange(1, rows + 1, dtype=np.float32)[:, None]
    at = np.array([k for k, e in enumerate(edges) if len(e)], np.float32)
    if len(at) > 1:
        left = np.polyfit(at, [e[0] for e in edges if len(e)], 1)[0]
        right = np.polyfit(at, [e[-1] for e in edges if len(e)], 1)[0]
    else:
        left = right = 0.0
    out_l = edges[-1][0] - np.clip(-left, 0.0, MAX_SLOPE) * down
    out_r = edges[-1][-1] + np.clip(right, 0.0, MAX_SLOPE) * down
    cover = np.clip(np.minimum(x[None] - out_l + 1, out_r + 1 - x[None]), 0.0, 1.0)  # one pixel soft
    below[..., 3] = cover * 255.0
    below[..., :3] = row[None] * cover[..., None]
    return np.ascontiguousarray(np.concatenate([person4, np.round(np.clip(below, 0, 255)).astype(np.uint8)]))


def extend_above(person4: np.ndarray, rows: int) -> np.ndarray:
    """``rows`` rows to go above the premultiplied person layer (BGRA): its top rows' colour, smoothed
    along the row, fading out to clear at the top. A head whose portrait is cut by the frame's top edge
    and that moves down (or leans back) samples above the photo: repeating its top row there drew each
    strand of hair as a vertical stripe up to the frame's edge; this ends the hair in a soft top."""
    depth = max(2, rows // 16)
    band = person4[:depth].astype(np.float32).mean(0)[None]  # premultiplied colour and coverage
    k = 2 * max(1, rows // 4) + 1
    band = cv2.blur(band, (k, 1), borderType=cv2.BORDER_REPLICATE)[0]
    fade = (np.arange(rows, dtype=np.float32) / rows)[:, None, None]  # 0 at the top, towards 1 next to row 0
    return np.round(band[None] * fade).astype(np.uint8)


def _around(picture: np.ndarray, rows: slice, cols: slice) -> np.ndarray:
    """A new array holding ``picture`` outside the box (``rows``, ``cols``), the box left for the
    caller to fill (copying it too cost ~0.1 ms a 720p frame for pixels written over at once)."""
    out = np.empty_like(picture)
    out[:rows.start], out[rows.stop:] = picture[:rows.start], picture[rows.stop:]
    out[rows, :cols.start], out[rows, cols.stop:] = picture[rows, :cols.start], picture[rows, cols.stop:]
    return out


def outline_radius(points: np.ndarray, centre: np.ndarray, angles: np.ndarray) -> np.ndarray:
    """The radius of the closed outline ``points`` (2-D, around ``centre``) at ``angles``, interpolated
    between its points by angle (wrapping round)."""
    off = points - centre
    ang = np.arctan2(off[:, 1], off[:, 0]) % (2 * np.pi)
    rad = np.hypot(off[:, 0], off[:, 1])
    order = np.argsort(ang)
    ang, rad = ang[order], rad[order]
    return np.interp(angles % (2 * np.pi), np.concatenate([ang - 2 * np.pi, ang, ang + 2 * np.pi]),
                     np.concatenate([rad, rad, rad]))


def _fit_inside(offsets: np.ndarray, centre: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """Per offset from ``centre``, the factor (at most 1) that keeps ``centre + factor * offset`` in ``box``."""
    x0, y0, x1, y1 = box
    factor = np.ones(len(offsets))
    for axis, lo, hi in ((0, x0, x1), (1, y0, y1)):
        d = offsets[:, axis]
        room = np.where(d > 0, hi - centre[axis], lo - centre[axis])
        with np.errstate(divide="ignore", invalid="ignore"):
            f = np.where(np.abs(d) > 1e-9, room / d, 1.0)
        factor = np.minimum(factor, np.clip(f, 0.0, 1.0))
    return factor


class Stage:
    """The portrait laid out in a frame of one size (see the module docstring)."""

    def __init__(self, image: np.ndarray, landmarks: np.ndarray, mask: np.ndarray, plate: np.ndarray,
                 size: tuple[int, int], points: np.ndarray, target: tuple[float, float, float] | None = None,
                 closed: np.ndarray | None = None) -> None:
        """``image`` the photo, ``landmarks`` its mesh, ``mask`` its person mask, ``plate`` its clean
        plate (:func:`clean_plate`, made once per photo), ``points`` the mesh points to warp with,
        ``closed`` the photo with its eyes shut (``avatar.shut_photo``), laid out as the portrait is
        (:attr:`closed`, sampled through :meth:`draw`'s maps where a blink lowers the lids)."""
        w, h = size
        ph, pw = image.shape[:2]
        lm = landmarks.astype(np.float64)
        self.target = target
        scale, tx, ty = layout((pw, ph), lm, size, target)
        self._placing = (scale, tx, ty)
        self.rect = (tx, ty, tx + pw * scale, ty + ph * scale)
        portrait = place(image, scale, tx, ty, size)
        self.plate = place(plate, scale, tx, ty, size)
        inside = place(np.full((ph, pw), 255, np.uint8), scale, tx, ty, size, cv2.INTER_NEAREST)
        self.mask = place(mask, scale, tx, ty, size)
        if not inside.all():  # beyond the portrait's edges: a blurred, darkened cover-fit copy
            small = cover_fit(image, (max(1, w // 8), max(1, h // 8)))
            backdrop = cv2.convertScaleAbs(cv2.resize(cv2.GaussianBlur(small, (0, 0), 3), size,
                                                      interpolation=cv2.INTER_LINEAR), alpha=0.6)
            portrait = np.where(inside[..., None] > 0, portrait, backdrop)
            self.plate = np.where(inside[..., None] > 0, self.plate, backdrop)
        self.person4 = _premultiplied(portrait, self.mask)
        self.canvas = composite(portrait, self.plate, self.mask)  # the portrait at rest
        # A person cut by the frame's top edge goes on above it, fading out (:func:`extend_above`): the
        # layer gains ``top`` rows there, and everything sampled through the warp's maps (the layer,
        # :attr:`closed`, :meth:`lay_out`'s pictures) sits that many rows lower in its picture.
        self.top = 0
        if self.person4[0, :, 3].any():
            self.top = int(np.ceil(ABOVE * face_frame(lm)[2] * scale))
            self.person4 = np.ascontiguousarray(np.concatenate([extend_above(self.person4, self.top), self.person4]))
        self.closed = None if closed is None else self.lay_out(closed)

        self.landmarks = lm.copy()
        self.landmarks[:, :2] = lm[:, :2] * scale + (tx, ty)
        self.landmarks[:, 2] *= scale
        self.face_width = face_width(self.landmarks)
        self.centre = self.landmarks[POSE_INDICES].mean(0)
        self.mouth_open = mouth_openness(self.landmarks)
        self.mouth_skin = skin_near_mouth(self.canvas, self.landmarks)
        self.teeth = shows_teeth(image, lm)  # read at the photo's own resolution

        oval3 = self.landmarks[np.asarray(regions.FACE_OVAL)]
        c2 = oval3[:, :2].mean(0)
        face_h = float(oval3[:, 1].max() - oval3[:, 1].min())
        angles = np.linspace(0, 2 * np.pi, RING_POINTS, endpoint=False)
        profile = outline_radius(oval3[:, :2], c2, angles)
        unit = np.stack([np.cos(angles), np.sin(angles)], axis=1)
        # The warped box: around the body ring, inside the portrait (its edge must not move) and the frame.
        reach = BODY_SCALE * profile.max() + BOX_MARGIN * face_h
        bx0, by0 = max(c2[0] - reach, self.rect[0] + 1, 0.0), max(c2[1] - reach, self.rect[1] + 1, 0.0)
        bx1, by1 = min(c2[0] + reach, self.rect[2] - 2, w - 1.0), min(c2[1] + reach, self.rect[3] - 2, h - 1.0)
        box = (bx0, by0, bx1, by1)
        margin = 0.04 * face_h
        inner_box = (bx0 + margin, by0 + margin, bx1 - margin, by1 - margin)
        # Per direction: the room to the box's edge; the head ring and body ring sit between the
        # face outline and that edge, and are left out where the face nearly touches it (a big face
        # in a small frame), so no ring point ever lies inside the face.
        far = 1e6
        room = _fit_inside(unit * far, c2, inner_box) * far
        ring_r = np.minimum(RING_SCALE * profile, profile + 0.45 * (room - profile))
        body_r = np.minimum(BODY_SCALE * profile, room)
        has_ring = room >= 1.15 * profile
        has_body = has_ring & (body_r - ring_r > 0.05 * face_h)
        # The ring lies behind the face outline (image z grows away from the camera), as the back
        # of a head does: turning the head then brings the far side's hair and ear into view
        # instead of squeezing them onto the cheek.
        oval_angles = np.arctan2(oval3[:, 1] - c2[1], oval3[:, 0] - c2[0]) % (2 * np.pi)
        order = np.argsort(oval_angles)
        ang, zs = oval_angles[order], oval3[order, 2]
        edge_z = np.interp(angles, np.concatenate([ang - 2 * np.pi, ang, ang + 2 * np.pi]), np.concatenate([zs, zs, zs]))
        depth = edge_z + RING_DEPTH * face_width(self.landmarks)
        self.ring = np.hstack([c2 + unit[has_ring] * ring_r[has_ring, None], depth[has_ring, None]])
        # How much of the portrait's person each head-ring point lies on (0..1): those follow the
        # wearer's own motion round the head (``PhotoAvatar.follow_surround``).
        at = np.clip(np.round(self.ring[:, :2]).astype(int), 0, (w - 1, h - 1))
        self.ring_person = self.mask[at[:, 1], at[:, 0]].astype(np.float64) / 255.0
        self.body = np.hstack([c2 + unit[has_body] * body_r[has_body, None], np.zeros((has_body.sum(), 1))])
        # What moves how. Above the chin everything moves with the head (hair, and the transparent
        # person layer around it: the plate behind stays put), below the neck with the torso, in
        # between a blend: the neck bends, the hair never stretches. The body ring follows the
        # torso except next to a fixed box edge (it would cross it). Where the box's side is the
        # frame's own edge and the portrait goes on past it (shoulders cut by the frame), that side
        # follows the torso too, and what comes into view past the photo's edge continues its rows.
        self.chin, self.neck = float(self.landmarks[152, 1]), NECK * face_h
        self.jaw = (float(c2[0]), 0.5 * self.face_width)  # the neck's axis and half the jaw's width
        open_side = (bx0 <= 1.5 and self.rect[0] <= 0.5, bx1 >= w - 2.5 and self.rect[2] >= w - 0.5,
                     by1 >= h - 2.5 and self.rect[3] >= h - 0.5)

        def opens(points: np.ndarray) -> np.ndarray:
            x, y = points[:, 0], points[:, 1]
            on = ((x <= bx0 + 0.5) & open_side[0]) | ((x >= bx1 - 0.5) & open_side[1]) | ((y >= by1 - 0.5) & open_side[2])
            return on & (y > c2[1])

        exits = c2 + unit * (_fit_inside(unit * far, c2, box) * far)[:, None]
        follow = np.where(opens(exits), 1.0, np.clip((room - body_r) / max(0.1 * face_h, 1e-6), 0.0, 1.0)) * has_body
        self.body_follow = follow[has_body].astype(np.float32)
        self.body_head = self.head_follow(self.body)
        # The head ring's points below the chin lie on the neck and the collar: they follow the
        # same rule, so the neck bends there too instead of the collar swinging with every turn
        # of the head.
        self.ring_head = self.head_follow(self.ring)
        u = np.array([0, 0.25, 0.5, 0.75, 1, 1, 1, 1, 1, 0.75, 0.5, 0.25, 0, 0, 0, 0])
        v = np.array([0, 0, 0, 0, 0, 0.25, 0.5, 0.75, 1, 1, 1, 1, 1, 0.75, 0.5, 0.25])
        self.edge = np.stack([bx0 + u * (bx1 - bx0), by0 + v * (by1 - by0), np.zeros(16)], axis=1)
        self.edge_follow = opens(self.edge).astype(np.float32)
        # ... but only outwards at the sides: moving in, the frame's edge would show the photo's
        # last columns repeated (a striped band); the torso stretches a little instead. At the
        # bottom the person goes on below the photo (see :func:`extend_below`), so a body that rises
        # moves up whole, up to that much, instead of stretching its clothes up to the fixed edge.
        x, y = self.edge[:, 0], self.edge[:, 1]
        self.edge_out = np.stack([np.where(x <= bx0 + 0.5, -1.0, np.where(x >= bx1 - 0.5, 1.0, 0.0)),
                                  np.where(y >= by1 - 0.5, 1.0, 0.0)], axis=1)
        self.edge_head = self.head_follow(self.edge)
        below = int(np.ceil(BELOW * face_h)) if open_side[2] else 0
        self.edge_room = np.zeros((len(self.edge), 2), np.float32)
        if below > 0:
            # The photo's own rows below the frame where it has them, made-up ones past its edge.
            real = int(np.clip(np.floor(self.rect[3]) - 1 - h, 0, below))
            if real > 0:
                strip = (w, real)  # placed on its own: the frame's rows are done already
                self.person4 = np.concatenate([self.person4, _premultiplied(
                    place(image, scale, tx, ty - h, strip), place(mask, scale, tx, ty - h, strip))])
            if below > real:
                self.person4 = extend_below(self.person4, below - real, self.mouth_skin)
            bottom = self.edge_out[:, 1] > 0
            self.edge[bottom, 1] += below  # their rest is in the made-up rows, out of the frame
            self.edge_room[bottom, 1] = below - 1.0
        if self.top and by0 <= 1.5:
            # The box's top edge at the frame's: its rest goes up into the rows above the photo, so a
            # head that moves down brings them into view (the warp keeps each triangle's samples
            # inside its own rest box: with the edge at the frame's top, those rows were never reached
            # and the photo's top row was repeated instead).
            self.edge[self.edge[:, 1] <= by0 + 0.5, 1] -= self.top
        # How far out each moving point may go along its direction from the face centre before the
        # neck folds or the face crosses what lies beyond it: ring points a share of their gap to
        # the body ring (or box edge) beyond, outline points most of the way to the box's edge.
        # What lies beyond moves with the head by its own share, so the gap closes only by the rest.
        self.centre2 = c2
        # Midway between the outline's sides in front of the ears, at their depth: the head's centre,
        # which a turn or nod leaves nearly where it was (see :meth:`beyond_travel`).
        self.head_centre = self.landmarks[list(EARS)].mean(0)
        oval_off = oval3[:, :2] - c2
        oval_dir = oval_off / np.maximum(np.linalg.norm(oval_off, axis=1, keepdims=True), 1e-6)
        oval_room = _fit_inside(oval_dir * far, c2, box) * far
        fixed = np.where(has_body, body_r, room)[has_ring]
        beyond_ring = c2 + unit[has_ring] * fixed[:, None]
        beyond_oval = c2 + oval_dir * oval_room[:, None]
        self.limit_dirs = np.concatenate([unit[has_ring], oval_dir])
        self.limit_rate = 1.0 - self.head_follow(np.concatenate([beyond_ring, beyond_oval]))
        self.limit_follow = np.concatenate([follow[has_ring], np.zeros(len(oval_dir))]) * self.limit_rate
        self.limits = np.concatenate([ring_r[has_ring] + SHIFT_ROOM * (fixed - ring_r[has_ring]),
                                      np.linalg.norm(oval_off, axis=1) + SHIFT_ROOM * (oval_room - np.linalg.norm(oval_off, axis=1))])
        self._add_neck_points(c2, unit[has_ring], ring_r[has_ring], fixed, depth[has_ring])
        self._add_ear_points(c2, profile[has_ring])

        self.points = points
        self.rest = self.control(self.landmarks, self.ring)
        self.triangles = triangulate(self.rest[:, :2])
        self.mesh = MeshWarp(self.rest + np.float32((0, self.top, 0)), self.triangles)  # in the layer's rows
        # Where a turned head folds the mesh, the face's own triangles that still face the camera
        # are drawn over everything else (see :meth:`MeshWarp.coarse`): its far side and the
        # rings behind it never tear the cheek open onto the plate.
        self.face_only = (self.triangles < len(points)).all(1)
        self.grid = Grid.around(self.edge, 0.0, size, MAP_STEP)
        self._solid: tuple[np.ndarray, np.ndarray] | None = None  # see :meth:`_spans`
        self._small: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}

    def _add_neck_points(self, c2: np.ndarray, dirs: np.ndarray, ring_r: np.ndarray, fixed: np.ndarray,
                         depth: np.ndarray) -> None:
        """Under the chin, ``NECK_STEPS`` more head-ring rows between each ring point that takes
        less than the head's whole motion and what lies beyond it (``dirs``, ``ring_r``, ``fixed``:
        its direction and distance from the outline's centre ``c2`` and that of the body ring or box
        edge beyond). They move as the ring does (turned with the head, taken towards the torso by
        their own height, :meth:`neck_ring`), so the neck's fall-off from the head's motion to the
        torso's is spread over several rows of triangles instead of one: across the few large
        triangles between the ring and the body points a rolling head creased the neck along their
        edges (AOC, reporting half)."""
        neck = np.flatnonzero(self.ring_head < 1.0)
        self.neck_rows, self.neck_limits = np.zeros(0, int), np.zeros(0)
        if NECK_STEPS < 1 or not len(neck):
            return
        t = (np.arange(1, NECK_STEPS + 1) / (NECK_STEPS + 1))[:, None]
        r = (ring_r[neck] + t * (fixed[neck] - ring_r[neck])).ravel()
        d = np.tile(dirs[neck], (NECK_STEPS, 1))
        z = ((1.0 - t) * depth[neck]).ravel()
        mid = np.hstack([c2 + d * r[:, None], z[:, None]])
        w, h = self.size
        at = np.clip(np.round(mid[:, :2]).astype(int), 0, (w - 1, h - 1))
        self.ring = np.vstack([self.ring, mid])
        self.ring_person = np.concatenate([self.ring_person, self.mask[at[:, 1], at[:, 0]].astype(np.float64) / 255.0])
        self.ring_head = np.concatenate([self.ring_head, self.head_follow(mid)])
        n = len(self.ring) - len(mid)
        rep = np.tile(neck, NECK_STEPS)
        self.limit_dirs = np.concatenate([self.limit_dirs[:n], d, self.limit_dirs[n:]])
        self.limit_rate = np.concatenate([self.limit_rate[:n], self.limit_rate[rep], self.limit_rate[n:]])
        self.limit_follow = np.concatenate([self.limit_follow[:n], self.limit_follow[rep], self.limit_follow[n:]])
        # No limit of their own in :meth:`shift_share` (it holds the head's whole shift, and they take
        # only their share of it); :meth:`control` keeps each short of its own instead.
        self.limits = np.concatenate([self.limits[:n], np.full(len(mid), np.inf), self.limits[n:]])
        self.neck_rows = np.arange(n, len(self.ring))
        self.neck_limits = r + SHIFT_ROOM * (np.tile(fixed[neck], NECK_STEPS) - r)

    def _add_ear_points(self, c2: np.ndarray, profile: np.ndarray) -> None:
        """Beside each ear (the head-ring points past the outline's side in front of it, ``EARS``,
        from half its height over the chin above it down to the chin: the ear and what hangs from
        it), one more head-ring row halfway between the outline (``profile``: its radius on each
        ring point's direction from ``c2``) and the ring. It moves as the ring does, rigidly with the
        head and then by the wearer's own motion there where it lies on the person
        (``PhotoAvatar.follow_surround``): on a turn the near side's outline swings in with the face
        and the ring behind it swings out, and the ear and earring between them, with no point of
        their own, were stretched 1.5-2x wide (lp_d3 frames 18-29). Her hoop stays about that wide:
        its inner half hangs over the jaw's corner in the photo and goes with the face's triangles
        there, which the jaw swings in further still. Tuning half, face-box SSIM lp_d12
        / lp_d20 / lp_d3 / lp_s18 / lp_d19 / lp_d18: without 0.8006 / 0.8328 / 0.8019 / 0.8375 / 0.8684 /
        0.8595, with 0.8019 / 0.8334 / 0.8053 / 0.8420 / 0.8743 / 0.8603. Moved rigidly at the ears'
        depth instead (not by the wearer's motion) the rows, or the ring points themselves, took the
        ear in with the outline and left the hair beyond it stretched (lp_d3 frames 18-29 0.764 ->
        0.758 / 0.751). Halfway is the plain choice, not a tuned one (a quarter of the way out: lp_d3
        frames 18-29 0.768 against 0.766 here, 250-279 0.736 against 0.734)."""
        n_ring = len(profile)
        base = self.ring[:n_ring]
        off = base[:, :2] - c2
        dist = np.linalg.norm(off, axis=1)
        beside = np.zeros(n_ring, bool)
        for e in EARS:
            ex, ey = self.landmarks[e, :2]
            side = np.sign(ex - c2[0])
            below_ear = (base[:, 1] >= ey - 0.5 * (self.chin - ey)) & (base[:, 1] <= self.chin)
            beside |= (side * (base[:, 0] - ex) > 0) & below_ear
        ks = np.flatnonzero(beside & (self.ring_head[:n_ring] >= 1.0))
        self.ear_rows = np.zeros(0, int)
        if not len(ks):
            return
        r = 0.5 * (profile[ks] + dist[ks])
        mid = np.hstack([c2 + off[ks] / np.maximum(dist[ks, None], 1e-6) * r[:, None], base[ks, 2:3]])
        w, h = self.size
        at = np.clip(np.round(mid[:, :2]).astype(int), 0, (w - 1, h - 1))
        n = len(self.ring)
        self.ring = np.vstack([self.ring, mid])
        self.ring_person = np.concatenate([self.ring_person, self.mask[at[:, 1], at[:, 0]].astype(np.float64) / 255.0])
        self.ring_head = np.concatenate([self.ring_head, self.head_follow(mid)])
        # Limited as their ring point is, along its direction (no limit of their own: they lie inside it).
        self.limit_dirs = np.concatenate([self.limit_dirs[:n], self.limit_dirs[ks], self.limit_dirs[n:]])
        self.limit_rate = np.concatenate([self.limit_rate[:n], self.limit_rate[ks], self.limit_rate[n:]])
        self.limit_follow = np.concatenate([self.limit_follow[:n], self.limit_follow[ks], self.limit_follow[n:]])
        self.limits = np.concatenate([self.limits[:n], np.full(len(mid), np.inf), self.limits[n:]])
        self.ear_rows = np.arange(n, len(self.ring))

    @property
    def size(self) -> tuple[int, int]:
        return self.canvas.shape[1], self.canvas.shape[0]

    def lay_out(self, picture: np.ndarray) -> np.ndarray:
        """``picture`` (of the photo's size: a copy of the portrait, such as :attr:`closed`) laid out
        in the frame as the portrait is, to be sampled through :meth:`draw`'s maps (with the person
        layer's :attr:`top` rows above the frame, the picture's first row repeated there)."""
        laid = place(picture, *self._placing, self.size)
        laid = cv2.copyMakeBorder(laid, self.top, 0, 0, 0, cv2.BORDER_REPLICATE) if self.top else laid
        # Kept with the stage for the session and read on some frames only (the shut-eyes portrait on
        # blinks): a wrong one failed those frames for good, never enough in a row for a fresh build.
        if laid.dtype != picture.dtype or laid.shape != (self.size[1] + self.top, self.size[0]) + picture.shape[2:]:
            raise ValueError("the avatar's portrait was laid out with the wrong shape or type")
        return laid

    def head_follow(self, points: np.ndarray) -> np.ndarray:
        """Share of the head's shift taken at ``points`` (x, y, ...): 1 down to the chin, 0 a neck
        below it under the jaw; beside the jaw the torso starts higher, by ``SHOULDER_SLOPE`` of
        how far a point lies out from the jaw's side (the shoulders slope down from the neck's
        base). By height alone, the shoulders beside a head-and-shoulders frame's chin (lp_d12: the
        frame's side just below the chin's height) took three quarters of the head's shift and slid
        with every turn while the wearer's stayed."""
        p = np.asarray(points, np.float64)
        axis, half = self.jaw
        below = p[:, 1] - self.chin + SHOULDER_SLOPE * np.maximum(np.abs(p[:, 0] - axis) - half, 0.0)
        return (1.0 - np.clip(below / max(self.neck, 1e-6), 0.0, 1.0)).astype(np.float32)

    def shift_share(self, face: np.ndarray, ring: np.ndarray, shift: np.ndarray,
                    body_shift: np.ndarray | None = None) -> float:
        """The share (0..1) of ``shift`` (x, y) the head may take, its mesh at ``face`` and ring at
        ``ring`` before the shift and the body moved by ``body_shift``, without crossing the limits
        set up above."""
        oval = face[np.asarray(regions.FACE_OVAL), :2]
        base = np.einsum("ij,ij->i", np.concatenate([ring[:, :2], oval]) - self.centre2, self.limit_dirs)
        along = (self.limit_dirs @ shift[:2]) * self.limit_rate
        limits = self.limits
        if body_shift is not None:
            limits = limits + self.limit_follow * (self.limit_dirs @ np.asarray(body_shift[:2], np.float64))
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(along > 1e-9, (limits - base) / along, np.inf)
        return float(np.clip(share.min(), 0.0, 1.0))

    def neck_ring(self, ring: np.ndarray, torso: np.ndarray) -> np.ndarray:
        """The head ring moved rigidly with the head (``ring``, rows as :attr:`ring`) with its points
        below the chin taken towards the torso's shift ``torso`` (x, y) by their height, as the
        body ring is: the share of the head's motion falls from 1 at the chin to 0 a neck below."""
        out = np.array(ring, np.float64, copy=True)
        share = self.ring_head[:, None].astype(np.float64)
        out[:, :2] = self.ring[:, :2] + share * (out[:, :2] - self.ring[:, :2]) + (1.0 - share) * np.asarray(torso, np.float64)[:2]
        return out

    def _neck_short_of_beyond(self, ring: np.ndarray, head: np.ndarray, torso: np.ndarray) -> np.ndarray:
        """``ring`` with each of its neck rows (:meth:`_add_neck_points`) kept within the share
        ``SHIFT_ROOM`` of its rest gap to the body ring or box edge beyond it (which moves by its own
        shares of ``head`` and ``torso``), pulled back along its direction from the face's centre: a
        row near the body ring takes two thirds of the head's motion, and a nod crossed it over the
        body point below (lp_d18 frames 63-65)."""
        rows = self.neck_rows
        if not len(rows):
            return ring
        dirs = self.limit_dirs[rows]
        allowed = self.neck_limits + (1.0 - self.limit_rate[rows]) * (dirs @ head) + self.limit_follow[rows] * (dirs @ torso)
        over = np.einsum("ij,ij->i", ring[rows, :2].astype(np.float64) - self.centre2, dirs) - allowed
        if not (over > 0).any():
            return ring
        out = np.array(ring, copy=True)
        out[rows, :2] -= (np.maximum(over, 0.0)[:, None] * dirs).astype(out.dtype)
        return out

    def beyond_travel(self, face: np.ndarray, head: np.ndarray) -> np.ndarray:
        """The share of the head's travel ``head`` (x, y: the face's pose points', by which the mesh at
        ``face`` was moved) that the body ring and box edge take: per axis, what the head's centre
        (:attr:`head_centre`, carried by the head's motion read back from ``face``) travelled the same
        way too, no more than ``head``, none where the two went opposite ways.

        A turn swings the face's front round the head's centre: lp_d3 turned 16 degrees moved her
        face's pose points 0.14 face widths sideways, but her hair beside the head, the wall and the
        hair on her shoulders stayed. Taking the face's travel, the body ring went 46 px towards the
        far side while the head ring, behind the face, swung the other way: the far side's hair
        between them was stretched into vertical streaks, the near side's ring crossed the body ring
        and the box edge (a torn vertical edge of wall beside the ear) and the hair at the bottom
        corner folded into steps (lp_d3 frames 18-29: the inside-out area of the triangles outside
        the face 21.6 -> 2.0 thousandths of a squared face width). The centre's travel alone is not
        enough: the rotation read off the mesh wobbles by a degree or two on a still head (a wink, a
        smile), and the centre, a third of a face width behind the pose points, carried that wobble
        to the clothes beside the neck (lp_d19's sweater: SSIM below the face box 0.61 -> 0.51).
        Where both agree, a head that slides takes all of its travel as before."""
        now = np.asarray(face, np.float64)[INNER_POSE]
        if not np.isfinite(now).all():  # left to the warp, which refuses such a mesh in one sentence
            return head
        s, r, cs, cd = rigid_fit(self.landmarks[INNER_POSE], now)
        centre = (cd + s * (self.head_centre - cs) @ r.T - self.head_centre)[:2]
        return np.where(centre * head > 0, np.sign(head) * np.minimum(np.abs(centre), np.abs(head)), 0.0)

    def control(self, face: np.ndarray, ring: np.ndarray, shifts: np.ndarray | None = None) -> np.ndarray:
        """The warp's control points: the chosen mesh points, the head ring, the body ring and the
        box edge, these two moved by ``shifts`` ((head x, y), (torso x, y)) as set up above, of the
        head's travel only what :meth:`beyond_travel` leaves."""
        body, edge = self.body, self.edge
        if shifts is not None:
            head, torso = np.asarray(shifts, np.float64)[:, :2]
            head = self.beyond_travel(face, head)
            ring = self._neck_short_of_beyond(ring, head, torso)
            body, edge = body.copy(), edge.copy()
            body[:, :2] += self.body_head[:, None] * head + ((1.0 - self.body_head) * self.body_follow)[:, None] * torso
            with_torso = ((1.0 - self.edge_head) * self.edge_follow)[:, None] * torso
            out = self.edge_out
            with_torso = np.where(out != 0, np.maximum(with_torso * out, -self.edge_room) * out, with_torso)
            edge[:, :2] += self.edge_head[:, None] * head + with_torso
        return np.concatenate([face[self.points], ring, body, edge]).astype(np.float32)

    def small(self, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """The still canvas and its mask at the segmenter's size (w, h), for the background blur."""
        if size not in self._small:
            canvas = cv2.resize(self.canvas, size, interpolation=cv2.INTER_AREA)
            mask = cv2.resize(self.mask, size, interpolation=cv2.INTER_AREA).astype(np.float32) / 255
            # Kept for the session, and read by the background, not this effect: a wrong one was never
            # made again (a fresh build of the failing background does not touch it). A mask of NaN hid
            # every frame after it, and nothing raised, so no fresh build came either.
            if canvas.shape != (size[1], size[0], 3) or canvas.dtype != np.uint8 or mask.shape != (size[1], size[0]):
                raise ValueError("the avatar's small canvas came out with the wrong shape or type")
            if not finite_in_unit_range(mask):
                raise ValueError("the avatar's small mask came out with values that are not in 0..1")
            self._small[size] = canvas, mask
        return self._small[size]

    def render(self, face: np.ndarray, ring: np.ndarray, shifts: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray, Grid | None]:
        """Frame, person mask and the warped grid with the portrait's mesh at ``face`` and its head
        ring at ``ring``: the person layer warped over the clean plate."""
        full = self.warp_map(face, ring, shifts)
        if full is None:
            return self.canvas.copy(), self.mask.copy(), None
        out, mask, _ = self.draw(full)
        return out, mask, self.grid

    def warp_map(self, face: np.ndarray, ring: np.ndarray, shifts: np.ndarray | None = None) -> np.ndarray | None:
        """The full-resolution map over :attr:`grid` (where each pixel of the box samples the
        portrait) for the mesh at ``face`` and the head ring at ``ring``, None without a grid;
        :meth:`draw` draws it."""
        if self.grid is None:
            return None
        dst = self.control(face, ring, shifts)
        grid, (top, left) = self._raster_grid(dst)
        coarse = self.mesh.coarse(dst, grid, self.face_only)
        if grid is not self.grid:
            coarse = coarse[top:top + self.grid.rows, left:left + self.grid.cols]
        return self.grid.up_map(coarse)

    def _raster_grid(self, dst: np.ndarray) -> tuple[Grid, tuple[int, int]]:
        """The grid the mesh at ``dst`` is rasterised on, and where :attr:`grid` starts in it (rows,
        columns): :attr:`grid` grown by whole cells until it holds every control point, so the
        compiled raster (``swap_kernels``, exact for meshes on the grid) takes the mesh, and without it
        OpenCV's calls draw the same cells. The box's edge points lie on or past the grid's last cells,
        so every frame went to ~330 ``cv2.fillConvexPoly`` calls (-0.6 ms a 720p frame, paired, load
        3), and OpenCV clips lines that leave its grid, which moved cells of the triangles leaving it
        (the body ring's and the box edge's; lp_s18: ~27 pixels a frame by more than 2 levels, at the
        shoulders' bottom corners; tuning face-box SSIM unchanged to the 4th decimal)."""
        grid = self.grid
        cells = np.round(grid.to_cells(dst))
        (x0, y0), (x1, y1) = cells.min(0), cells.max(0)
        left, top = int(max(0.0, -x0)), int(max(0.0, -y0))
        right, bottom = int(max(0.0, x1 - grid.cols + 1)), int(max(0.0, y1 - grid.rows + 1))
        if not (left or top or right or bottom):
            return grid, (0, 0)
        return Grid(grid.x0 - left * grid.step, grid.y0 - top * grid.step, grid.cols + left + right,
                    grid.rows + top + bottom, grid.step), (top, left)

    def draw(self, full: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray]]:
        """Frame and person mask with the person layer warped through ``full`` (:meth:`warp_map`)
        over the clean plate, and the map as its x and y planes (for sampling more pictures laid
        out as the portrait, such as :attr:`closed`, the same way)."""
        rows, cols = self.grid.slices
        out, mask = _around(self.canvas, rows, cols), _around(self.mask, rows, cols)
        region, alphas, plate = out[rows, cols], mask[rows, cols], self.plate[rows, cols]
        # Where every pixel a band's columns read is clear, the person layer resamples to 0 in all
        # four (premultiplied) channels and the blend gives the plate exactly: about 40 % of the
        # box (the room beside the head and shoulders) is copied, not remapped and blended.
        for r0, r1, c0, c1 in self._spans(full):
            for a, b in ((0, c0), (c1, region.shape[1])):
                if b > a:
                    region[r0:r1, a:b] = plate[r0:r1, a:b]
                    alphas[r0:r1, a:b] = 0
            if c1 <= c0:
                continue
            # The float map straight: OpenCV 5's float-map remap of four 8-bit channels costs half
            # its fixed-point one (and no conversion), at most 2 levels from it.
            warped = cv2.remap(self.person4, full[r0:r1, c0:c1], None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            alpha = cv2.extractChannel(warped, 3)
            behind = cv2.multiply(plate[r0:r1, c0:c1], cv2.merge([cv2.bitwise_not(alpha)] * 3), scale=1 / 255)
            cv2.add(cv2.cvtColor(warped, cv2.COLOR_BGRA2BGR), behind, dst=region[r0:r1, c0:c1])
            alphas[r0:r1, c0:c1] = alpha
        return out, mask, (full[..., 0], full[..., 1])

    def _spans(self, full: np.ndarray) -> list[tuple[int, int, int, int]]:
        """Per band of DRAW_BAND rows of the box, (row0, row1, col0, col1): the columns whose
        bilinear remap through ``full`` may read a pixel of the person layer that is not clear
        (col1 <= col0 where none does). Sampling at (x, y) reads the pixels (x..x+1, y..y+1) from
        their floor, clamped into the picture (BORDER_REPLICATE), so each band's group of DRAW_BLOCK
        columns reads within its bounds (a pixel more each side: no rounding can leave them); a
        summed-area table of the layer's blocks of DRAW_BLOCK² pixels that hold any colour says
        whether that rectangle may hold any."""
        g, person = DRAW_BLOCK, self.person4
        h, w = person.shape[:2]
        if self._solid is None or self._solid[0] is not person:
            solid = np.zeros((-(-h // g) * g, -(-w // g) * g), bool)
            solid[:h, :w] = np.any(person, axis=2)
            blocks = solid.reshape(solid.shape[0] // g, g, solid.shape[1] // g, g).any(axis=(1, 3))
            self._solid = (person, cv2.integral(blocks.view(np.uint8)))
        table = self._solid[1]
        rows, cols = full.shape[:2]
        starts = range(0, rows, DRAW_BAND)
        flat = full.reshape(rows, -1)
        lo, hi = np.empty((2, len(starts), flat.shape[1]), full.dtype)
        for k, r in enumerate(starts):  # a band at a time: ufunc.reduceat down the rows is ten times slower
            np.minimum.reduce(flat[r:r + DRAW_BAND], axis=0, out=lo[k])
            np.maximum.reduce(flat[r:r + DRAW_BAND], axis=0, out=hi[k])
        cuts = np.arange(0, cols, g)
        lo = np.floor(np.minimum.reduceat(lo.reshape(len(starts), cols, 2), cuts, axis=1)) - 1
        hi = np.floor(np.maximum.reduceat(hi.reshape(len(starts), cols, 2), cuts, axis=1)) + 3
        lo, hi = np.nan_to_num(lo, nan=-1e9), np.nan_to_num(hi, nan=1e9)  # no bounds known: the whole picture
        x0, x1 = np.clip(lo[..., 0], 0, w - 1).astype(np.intp) // g, (np.clip(hi[..., 0], 1, w).astype(np.intp) + g - 1) // g
        y0, y1 = np.clip(lo[..., 1], 0, h - 1).astype(np.intp) // g, (np.clip(hi[..., 1], 1, h).astype(np.intp) + g - 1) // g
        seen = (table[y1, x1] - table[y0, x1] - table[y1, x0] + table[y0, x0]) > 0
        first, last = seen.argmax(1), len(cuts) - seen[:, ::-1].argmax(1)
        return [(r, min(r + DRAW_BAND, rows), int(cuts[a]), min(cols, int(b) * g)) if any_
                else (r, min(r + DRAW_BAND, rows), 0, 0) for r, a, b, any_ in zip(starts, first, last, seen.any(1))]
