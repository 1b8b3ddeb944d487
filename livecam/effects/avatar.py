"""Avatar effects: face swap from one photo, and a photo avatar driven by the wearer's face.

Both are the same operation: a picture whose 468 mesh points are known once (the avatar photo) is
warped triangle by triangle so that its points land where the frame wants them, then blended in.
Face swap puts the photo's face onto the wearer's landmarks; the photo avatar moves the portrait's
own landmarks by the wearer's motion since a neutral pose and shows the portrait instead of the
wearer.

Speed (≤ 8 ms a 720p frame on one core on top of the face stage) shapes the design:

- The piecewise-affine warp is one ``cv2.remap`` from a map built at 1/``MAP_STEP`` resolution
  (``livecam.effects.mesh_warp``), over 240 of the 468 mesh points (every feature outline plus
  evenly spread fill points): ~450 triangles instead of ~900, same look at webcam sizes.
- Colour and lighting are matched by the ratio of low-passed skin (live over photo), computed on
  the coarse grid (or one twice as coarse for webcam-sized faces) with a masked blur (eyes, brows, lips and nostrils left out so an open mouth
  does not darken the chin), then upsampled. That carries the live skin tone and the direction of
  the light and keeps the photo's detail. ``cv2.seamlessClone`` on the same 720p face costs about
  five times this whole effect (39 ms against 7 ms of CPU, measured side by side).
- Blending is a feathered alpha in 8-bit OpenCV arithmetic inside the face's box only.

The photo avatar composes the portrait over the chosen background by handing the background effect
(which runs next) the portrait's person mask: it overwrites ``analysis.mask`` (and ``small`` /
``small_mask`` with the portrait's, so the blur never sees the wearer).
"""
from __future__ import annotations

import logging
import math

import cv2
import numpy as np

from livecam.analysis import face_regions as regions
from livecam.analysis.avatar_photo import AvatarPhoto, AvatarPhotoError, load_avatar_photo
from livecam.analysis.head_pose import POSE_INDICES
from livecam.effects.mesh_warp import (
    Grid,
    MeshWarp,
    fold_share,
    frontal_layout,
    triangulate,
    warp,
    warp_points,
)
from livecam.settings import AvatarSettings
from livecam.types import Analysis

log = logging.getLogger(__name__)

BADGE_OFF_WARNING = "The AI-altered badge is off; viewers will not be told this video is altered."

MAP_STEP = 4  # frame pixels per coarse-grid cell of the warp map
BOX_MARGIN = 0.12  # face box grown by this fraction of its size on each side (feather room)
SOURCE_FACE_WIDTH = 320  # photo faces are resampled to about this width once, so remap never aliases
LIGHT_SIGMA = 0.10  # lighting low-pass, fraction of the face width
FEATHER = 0.045  # face-edge feather (Gaussian sigma), fraction of the face width
EDGE_INSET = 0.05  # face mask pulled in from the mesh outline (which often runs onto hair or background), fraction of the face width
KEEP_FEATHER = 0.012  # softness of the kept eyes and mouth, fraction of the face width
LIGHT_HALF_FROM = 40  # face width in grid cells from which lighting is measured at half the grid's resolution
GAIN_LIMITS = (0.25, 4.0)  # live/photo lighting ratio; beyond this one of them is in deep shadow
YAW_FADE = (28.0, 48.0)  # |yaw| in degrees where the swap starts fading out and where it is gone
FOLD_FADE = (0.02, 0.10)  # share of face triangles turned inside out: start fading, gone
FADE_RATE = 0.25  # per frame, towards the target opacity: ~4 frames to settle, no pops


def masked_lowpass(image: np.ndarray, mask: np.ndarray, sigma: float) -> np.ndarray:
    """Normalised convolution: the blur of ``image`` where ``mask`` is 1, spread smoothly elsewhere."""
    m = mask.astype(np.float32)
    num = cv2.GaussianBlur(image.astype(np.float32) * m[..., None], (0, 0), sigma)
    den = cv2.GaussianBlur(m, (0, 0), sigma)
    return num / np.maximum(den, 1e-3)[..., None]


def face_width(landmarks: np.ndarray) -> float:
    oval = landmarks[np.asarray(regions.FACE_OVAL), :2]
    return float(np.linalg.norm(oval.max(0) - oval.min(0)) / math.sqrt(2))


FEATURE_POLYS = tuple(regions.FEATURES.values())
KEEP_POLYS = (regions.RIGHT_EYE, regions.LEFT_EYE, regions.LIPS_INNER)
# The eyelids from the second ring above the lid margin to the first ring below it (MediaPipe mesh
# rings "upper 2" and "lower 1", outer corner first). A blink shows the wearer's own lids here: the
# photo's lids, stretched over a closed eye, keep the photo's dark lash line and crease and read as
# still open (dlib's eye ratio on the output missed most blinks that way).
RIGHT_LIDS = (226, 113, 225, 224, 223, 222, 221, 189, 244, 243, 112, 26, 22, 23, 24, 110, 25, 130)
LEFT_LIDS = (446, 342, 445, 444, 443, 442, 441, 413, 464, 463, 341, 256, 252, 253, 254, 339, 255, 359)
EYES = ((regions.RIGHT_EYE, RIGHT_LIDS, (159, 145, 33, 133)), (regions.LEFT_EYE, LEFT_LIDS, (386, 374, 362, 263)))
# Lid gap over its usual open value where the wearer's lids start showing through and where they fully
# do. The mesh closes only partly on a blink (closed eyes measured at 0.6-0.8 of open on the shared
# clips, open ones at 0.8-0.9), so the ramp starts just under open.
BLINK_KEEP = (0.88, 0.65)
OUTLINES = (regions.FACE_OVAL, regions.RIGHT_EYE, regions.LEFT_EYE, regions.RIGHT_BROW, regions.LEFT_BROW,
            regions.LIPS_OUTER, regions.LIPS_INNER, regions.NOSTRILS, regions.NOSE_BRIDGE, RIGHT_LIDS, LEFT_LIDS)
WARP_POINTS = 240  # of the 468 (see warp_points)


def skin_mask(landmarks: np.ndarray, grid: Grid) -> np.ndarray:
    """uint8 1 on the face's skin (oval minus eyes, brows, lips, nostrils), 0 elsewhere, on ``grid``."""
    mask = np.zeros((grid.rows, grid.cols), np.uint8)
    cv2.fillPoly(mask, [grid.cell_polys(landmarks, regions.FACE_OVAL)], 1, cv2.LINE_8, 4)
    features = [grid.cell_polys(landmarks, p) for p in FEATURE_POLYS]
    cv2.fillPoly(mask, features, 0, cv2.LINE_8, 4)
    # Grow the holes a little: the low-pass must not see the dark lash line or lip edge.
    return cv2.erode(mask, np.ones((3, 3), np.uint8))


def mouth_openness(landmarks: np.ndarray) -> float:
    """Inner-lip gap over mouth width: 0 closed, ~0.5 wide open (the expression measure in the eval)."""
    gap = np.linalg.norm(landmarks[13, :2] - landmarks[14, :2])
    width = np.linalg.norm(landmarks[78, :2] - landmarks[308, :2])
    return float(gap / max(width, 1e-6))


def lid_gap(landmarks: np.ndarray, upper: int, lower: int, outer: int, inner: int) -> float:
    return float(np.linalg.norm(landmarks[upper, :2] - landmarks[lower, :2])
                 / max(np.linalg.norm(landmarks[outer, :2] - landmarks[inner, :2]), 1e-6))


def eye_openness(landmarks: np.ndarray) -> float:
    """Mean lid gap over eye width of both eyes (blinks dip towards 0)."""
    return float(np.mean([lid_gap(landmarks, *ends) for _, _, ends in EYES]))


# ---------------------------------------------------------------- face swap


class _SourceFace:
    """The avatar photo prepared once: cropped and resampled to a working face size, its skin low-pass
    (for lighting transfer), and the triangulation of its mesh."""

    def __init__(self, photo: AvatarPhoto) -> None:
        landmarks = photo.landmarks.astype(np.float32)
        scale = SOURCE_FACE_WIDTH / face_width(landmarks)
        lo, hi = landmarks[:, :2].min(0), landmarks[:, :2].max(0)
        pad = 0.5 * (hi - lo).max()
        x0, y0 = lo - pad
        size = (int(math.ceil((hi[0] - lo[0] + 2 * pad) * scale)), int(math.ceil((hi[1] - lo[1] + 2 * pad) * scale)))
        picture, sx, sy = photo.image, scale, scale
        if scale < 1:  # shrink with area averaging first (warpAffine has none), then only crop
            h, w = picture.shape[:2]
            picture = cv2.resize(picture, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
            sx, sy = picture.shape[1] / w, picture.shape[0] / h
            m = np.array([[1.0, 0, -x0 * sx], [0, 1.0, -y0 * sy]])
        else:
            m = np.array([[scale, 0, -x0 * scale], [0, scale, -y0 * scale]])
        self.image = cv2.warpAffine(picture, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        self.landmarks = landmarks.copy()
        self.landmarks[:, :2] = (landmarks[:, :2] - (x0, y0)) * (sx, sy)
        self.landmarks[:, 2] *= scale
        layout = frontal_layout(self.landmarks)
        self.points = warp_points(layout, WARP_POINTS, OUTLINES)
        self.triangles = triangulate(layout[self.points])
        self.control = self.landmarks[self.points]
        self.mesh = MeshWarp(self.control, self.triangles)
        self.mouth_open = mouth_openness(self.landmarks)
        # Skin low-pass at the source's full working size (once), as float32 for the lighting ratio.
        full = Grid(0, 0, size[0], size[1], 1)
        skin = skin_mask(self.landmarks, full)
        self.lowpass = masked_lowpass(self.image, skin, LIGHT_SIGMA * SOURCE_FACE_WIDTH)


class FaceSwap:
    """Draws the avatar photo's face onto the wearer's, keeping (by default) the wearer's eyes and
    mouth interior so blinks, gaze and speech stay real."""

    needs = frozenset({"faces"})
    stage = "post"

    def __init__(self, photo: AvatarPhoto, keep_eyes_mouth: bool = True) -> None:
        self.source = _SourceFace(photo)
        self.keep_eyes_mouth = keep_eyes_mouth
        self._opacity = 0.0
        self._lids = [0.0, 0.0]
        self._last: np.ndarray | None = None  # landmarks of the last face seen, for the fade-out
        self._open_eye = [0.0, 0.0]  # each eye's usual open lid gap: rises fast, falls slowly

    def lid_weights(self, landmarks: np.ndarray) -> list[float]:
        """How much of the wearer's own eyelids to show, per eye: 0 while open, 1 when closed."""
        weights = []
        for k, (_, _, ends) in enumerate(EYES):
            gap = lid_gap(landmarks, *ends)
            ref = self._open_eye[k]
            ref += (0.3 if gap > ref else 0.01) * (gap - ref)
            self._open_eye[k] = ref
            lo, hi = BLINK_KEEP
            weights.append(float(np.clip((lo - gap / max(ref, 1e-6)) / (lo - hi), 0.0, 1.0)))
        return weights

    def target_opacity(self, landmarks: np.ndarray, pose: tuple[float, float, float]) -> float:
        yaw = abs(pose[0])
        lo, hi = YAW_FADE
        by_yaw = float(np.clip((hi - yaw) / (hi - lo), 0.0, 1.0))
        folds = fold_share(self.source.control, landmarks[self.source.points], self.source.triangles)
        lo, hi = FOLD_FADE
        by_folds = float(np.clip((hi - folds) / (hi - lo), 0.0, 1.0))
        return min(by_yaw, by_folds)

    def apply(self, image: np.ndarray, analysis: Analysis) -> np.ndarray:
        face = analysis.faces[0] if analysis.faces else None
        if face is not None:
            self._last = face.landmarks
            target = self.target_opacity(face.landmarks, face.pose)
            self._lids = self.lid_weights(face.landmarks)
        else:
            target = 0.0
        self._opacity += FADE_RATE * (target - self._opacity)
        if target == 0.0 and self._opacity < 0.02:
            self._opacity = 0.0
        if self._opacity <= 0.0 or self._last is None:
            return image
        return self.render(image, self._last, self._opacity, self._lids)

    def render(self, image: np.ndarray, landmarks: np.ndarray, opacity: float = 1.0,
               lids: list[float] | tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
        """``image`` with the photo's face warped onto ``landmarks`` at ``opacity`` (pure, no state)."""
        h, w = image.shape[:2]
        grid = Grid.around(landmarks, BOX_MARGIN, (w, h), MAP_STEP)
        if grid is None:
            return image
        src = self.source
        fw = face_width(landmarks)
        cell_fw = fw / grid.step
        coarse = src.mesh.coarse(landmarks[src.points], grid)
        rows, cols = grid.slices
        live = image[rows, cols]
        warped = warp(src.image, coarse, grid)
        if not self.keep_eyes_mouth:
            fill_mouth(warped, landmarks, grid, src.mouth_open)

        # Lighting: live skin low-pass over the photo's (warped). For webcam-sized faces it runs on
        # a grid twice as coarse again (the low-pass is ten cells wide anyway); small faces keep
        # enough cells for the skin between eyes and mouth.
        k = 2 if cell_fw >= LIGHT_HALF_FROM else 1
        half = Grid(grid.x0, grid.y0, max(1, grid.cols // k), max(1, grid.rows // k), k * grid.step)
        skin = skin_mask(landmarks, half)
        live_small = cv2.resize(live, (half.cols, half.rows), interpolation=cv2.INTER_AREA)
        live_low = masked_lowpass(live_small, skin, LIGHT_SIGMA * cell_fw / k)
        where = coarse if k == 1 else cv2.resize(coarse, (half.cols, half.rows), interpolation=cv2.INTER_AREA)
        src_low = cv2.remap(src.lowpass, where, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        gain = np.clip((live_low + 4.0) / (src_low + 4.0), *GAIN_LIMITS)
        face = cv2.multiply(warped, grid.up(gain), dtype=cv2.CV_8U)  # saturates; no float image

        alpha = face_alpha(landmarks, grid, opacity)
        if self.keep_eyes_mouth:
            keep = [(lid_poly, weight) for (_, lid_poly, _), weight in zip(EYES, lids) if weight > 0.0]
            keep += [(poly, 1.0) for poly in KEEP_POLYS]
            alpha = cut_regions(alpha, landmarks, grid, keep, max(0.7, KEEP_FEATHER * fw))
        out = image.copy()
        out[rows, cols] = blend(face, live, alpha)
        return out


def face_alpha(landmarks: np.ndarray, grid: Grid, opacity: float) -> np.ndarray:
    """uint8 alpha over the grid's box at full resolution: the face oval pulled in and feathered."""
    cell_fw = face_width(landmarks) / grid.step
    alpha = np.zeros((grid.rows, grid.cols), np.uint8)
    cv2.fillPoly(alpha, [grid.cell_polys(landmarks, regions.FACE_OVAL)], 255, cv2.LINE_AA, 4)
    inset = max(1, int(round(EDGE_INSET * cell_fw)))
    alpha = cv2.erode(alpha, np.ones((2 * inset + 1, 2 * inset + 1), np.uint8))
    alpha = cv2.GaussianBlur(alpha, (0, 0), max(0.5, FEATHER * cell_fw))
    if opacity < 1.0:
        alpha = cv2.convertScaleAbs(alpha, alpha=opacity)
    return grid.up(alpha)


def cut_regions(alpha: np.ndarray, landmarks: np.ndarray, grid: Grid, polys, feather: float) -> np.ndarray:
    """``alpha`` with soft holes where ``polys`` are (the wearer's own eyes and mouth interior show).
    ``polys`` holds (outline indices, weight 0..1) pairs, painted in order."""
    full = Grid(grid.x0, grid.y0, alpha.shape[1], alpha.shape[0], 1)
    pad = int(math.ceil(3 * feather)) + 1
    keep = np.zeros_like(alpha)
    for poly, weight in polys:
        pts = full.cell_polys(landmarks, poly)
        cv2.fillPoly(keep, [pts], int(round(255 * weight)), cv2.LINE_AA, 4)
        # Blur only around this region: the rest of the box has nothing to soften.
        x0, y0 = np.maximum(pts.min(0) // 16 - pad, 0)
        x1, y1 = pts.max(0) // 16 + pad + 1
        sub = keep[y0:y1, x0:x1]
        if sub.size:
            keep[y0:y1, x0:x1] = cv2.GaussianBlur(sub, (0, 0), feather)
    return cv2.multiply(alpha, cv2.bitwise_not(keep), scale=1 / 255)


def blend(face: np.ndarray, live: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """uint8 ``face`` (or float, saturated to uint8) over ``live`` by uint8 ``alpha`` (255 = face)."""
    if face.dtype != np.uint8:
        face = cv2.convertScaleAbs(face)
    a3 = cv2.merge([alpha, alpha, alpha])
    return cv2.add(cv2.multiply(face, a3, scale=1 / 255), cv2.multiply(live, cv2.bitwise_not(a3), scale=1 / 255))


FILL_FROM = 1.4  # mouth fill starts once the opening passes this multiple of the picture's own
FILL_FULL = 1.5  # ... and is complete this many times the picture's opening (at least 0.05) later


def fill_mouth(patch: np.ndarray, landmarks: np.ndarray, grid: Grid, source_open: float = 0.0) -> None:
    """Paint a shaded mouth interior, in place, inside the inner lips once the mouth opens wider than
    the picture's own (whose stretched closed lips would otherwise fill the gap). ``patch`` covers
    ``grid``'s box at full resolution. Colours come from the picture's own lips, so a black-and-white
    photo gets a grey mouth."""
    opening = mouth_openness(landmarks)
    # The picture's own mouth, stretched, serves until it is stretched too far: at once for closed
    # lips (a line of lip pixels), only for wide opening when the picture shows its teeth.
    strength = float(np.clip((opening - FILL_FROM * source_open - 0.04) / (FILL_FULL * max(source_open, 0.05)), 0, 1))
    if strength <= 0.0:
        return
    full = Grid(grid.x0, grid.y0, patch.shape[1], patch.shape[0], 1)
    outer = full.to_cells(landmarks[np.asarray(regions.LIPS_OUTER)])
    x0, y0 = np.maximum(np.floor(outer.min(0)).astype(int) - 2, 0)
    x1, y1 = np.minimum(np.ceil(outer.max(0)).astype(int) + 3, (patch.shape[1], patch.shape[0]))
    if x1 - x0 < 3 or y1 - y0 < 3:
        return
    region = patch[y0:y1, x0:x1]
    sub = Grid(grid.x0 + x0, grid.y0 + y0, x1 - x0, y1 - y0, 1)
    inner = np.zeros(region.shape[:2], np.uint8)
    cv2.fillPoly(inner, [sub.cell_polys(landmarks, regions.LIPS_INNER)], 255, cv2.LINE_AA, 4)
    lips = np.zeros_like(inner)
    cv2.fillPoly(lips, [sub.cell_polys(landmarks, regions.LIPS_OUTER)], 255, cv2.LINE_8, 4)
    lips[inner > 0] = 0
    lip = np.array(cv2.mean(region, mask=lips)[:3], np.float32) if lips.any() else np.float32([60, 60, 120])
    grey = float(lip.mean())
    dark = lip * np.float32(0.4)
    dark = np.clip(dark.mean() + 1.8 * (dark - dark.mean()), 0, 255)  # more saturated than the lips
    teeth_colour = np.float32([0.80, 0.87, 0.93]) * np.float32(min(235.0, grey * 1.5 + 30))

    top, bottom = sub.to_cells(landmarks[13]), sub.to_cells(landmarks[14])
    left, right = sub.to_cells(landmarks[78]), sub.to_cells(landmarks[308])
    gap = max(float(bottom[1] - top[1]), 1.0)
    half = max(float(abs(right[0] - left[0])) / 2, 1.0)
    ys = np.arange(region.shape[0], dtype=np.float32)[:, None]
    xs = np.arange(region.shape[1], dtype=np.float32)[None, :]
    t = np.clip((ys - top[1]) / gap, 0.0, 1.0)
    across = np.clip(np.abs(xs - (left[0] + right[0]) / 2) / half, 0.0, 1.0)
    # Darker towards the middle and the corners; upper teeth under the top lip, not at the corners.
    shade = (0.6 + 0.4 * np.abs(2 * t - 1)) * (1.0 - 0.4 * across ** 2)
    teeth = np.clip(1.3 - (ys - top[1]) / (0.22 * gap), 0.0, 1.0) * (1.0 - across ** 3)
    teeth *= 0.85 * min(1.0, (opening - source_open) * 5)
    colour = dark * shade[..., None] * (1 - teeth[..., None]) + teeth_colour * teeth[..., None]
    a = cv2.GaussianBlur(inner, (0, 0), 0.8).astype(np.float32)[..., None] * np.float32(strength / 255)
    region[:] = np.clip(colour * a + region.astype(np.float32) * (1 - a), 0, 255).astype(np.uint8)


# ---------------------------------------------------------------- photo avatar

PORTRAIT_FACE_HEIGHT = 0.42  # the portrait's face fills this share of the frame height, as at a webcam
PORTRAIT_FACE_MAX = 0.6  # ... or up to this share when the portrait is short and must fill the height
PORTRAIT_FACE_CENTRE = (0.5, 0.45)  # where the face sits in the frame, as fractions of width, height
RING_POINTS = 28  # points around the head that move rigidly with it (hair, ears, jaw line)
RING_SCALE = 1.45  # ring radius over the face outline's
FRAME_SCALE = 1.9  # the warped region: this many face heights around the face; fixed beyond it
ANIMATE_MAP_STEP = 6  # the portrait's warped region is ~4x the swap's box; its map is coarser to match
MAX_SHIFT = 0.3  # head translation limit, in face widths (the portrait's body does not move)
SCALE_LIMITS = (0.85, 1.2)  # leaning in and out, relative to the neutral pose
MAX_TURN = 25.0  # degrees of head rotation passed on to the portrait
REST_RATE = 0.12  # per frame without a face: the portrait relaxes back to its own pose


def rigid_fit(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """Scale, rotation, and the two centroids of the similarity taking 3-D ``src`` points onto ``dst``
    (Umeyama): dst ~ s R (src - c_src) + c_dst."""
    cs, cd = src.mean(0), dst.mean(0)
    a, b = src - cs, dst - cd
    u, sv, vt = np.linalg.svd(a.T @ b)
    d = np.sign(np.linalg.det(vt.T @ u.T)) or 1.0
    e = np.diag([1.0, 1.0, d])
    r = vt.T @ e @ u.T
    scale = float((sv * np.diag(e)).sum() / max((a * a).sum(), 1e-9))
    return scale, r, cs, cd


def person_mask(picture: np.ndarray) -> np.ndarray:
    """uint8 person mask of a still picture (255 = person), from the general selfie model with the
    picture's own edges snapping it (guided filter at up to 512 px)."""
    from livecam.analysis.segmenter import Segmenter
    from livecam.analysis.temporal import guided_filter

    prob = Segmenter("general").predict(picture)
    h, w = picture.shape[:2]
    k = min(1.0, 512 / max(h, w))
    size = (max(1, int(w * k)), max(1, int(h * k)))
    guide = cv2.cvtColor(cv2.resize(picture, size, interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY)
    prob = cv2.resize(prob, size, interpolation=cv2.INTER_LINEAR)
    refined = guided_filter(guide.astype(np.float32) / 255, prob.astype(np.float32), 4, 1e-3)
    return cv2.resize(cv2.convertScaleAbs(np.clip(refined, 0, 1), alpha=255), (w, h), interpolation=cv2.INTER_LINEAR)


class _Stage:
    """The portrait laid out in a frame of one size: the still canvas (portrait over a blurred copy of
    itself), its person mask, and the control points at rest with their triangulation."""

    def __init__(self, photo: AvatarPhoto, mask: np.ndarray, size: tuple[int, int]) -> None:
        w, h = size
        lm = photo.landmarks.astype(np.float64)
        oval = lm[np.asarray(regions.FACE_OVAL), :2]
        face_h = float(oval[:, 1].max() - oval[:, 1].min())
        ph, pw = photo.image.shape[:2]
        # Webcam-like face size, but grown (up to a limit) until the portrait fills the frame's
        # height: a portrait edge inside the warped region would bend with the head.
        scale = min(max(PORTRAIT_FACE_HEIGHT * h / face_h, h / ph), PORTRAIT_FACE_MAX * h / face_h)
        centre = oval.mean(0)
        tx, ty = PORTRAIT_FACE_CENTRE[0] * w - centre[0] * scale, PORTRAIT_FACE_CENTRE[1] * h - centre[1] * scale
        if ph * scale >= h:
            ty = float(np.clip(ty, h - ph * scale, 0.0))
        if pw * scale >= w:
            tx = float(np.clip(tx, w - pw * scale, 0.0))
        self.rect = (tx, ty, tx + pw * scale, ty + ph * scale)
        portrait = _place(photo.image, scale, tx, ty, size)
        inside = _place(np.full((ph, pw), 255, np.uint8), scale, tx, ty, size, cv2.INTER_NEAREST)
        self.mask = _place(mask, scale, tx, ty, size)
        # Beyond the portrait's edges: a blurred, darkened cover-fit copy, as players show tall videos.
        from livecam.effects.background import cover_fit

        small = cover_fit(photo.image, (max(1, w // 8), max(1, h // 8)))
        backdrop = cv2.resize(cv2.GaussianBlur(small, (0, 0), 3), size, interpolation=cv2.INTER_LINEAR)
        backdrop = cv2.convertScaleAbs(backdrop, alpha=0.6)
        self.canvas = np.where(inside[..., None] > 0, portrait, backdrop)
        self.canvas4 = cv2.merge([*cv2.split(self.canvas), self.mask])

        self.landmarks = lm.copy()
        self.landmarks[:, :2] = lm[:, :2] * scale + (tx, ty)
        self.landmarks[:, 2] *= scale
        self.face_width = face_width(self.landmarks)
        self.centre = self.landmarks[POSE_INDICES].mean(0)
        oval3 = self.landmarks[np.asarray(regions.FACE_OVAL)]
        c2 = oval3[:, :2].mean(0)
        angles = np.linspace(0, 2 * np.pi, RING_POINTS, endpoint=False)
        radius = np.array([np.interp(a, *_polar(oval3[:, :2] - c2)) for a in angles]) * RING_SCALE
        ring = np.stack([c2[0] + radius * np.cos(angles), c2[1] + radius * np.sin(angles),
                         np.full(RING_POINTS, oval3[:, 2].mean())], axis=1)
        # The fixed frame around the head, kept inside the portrait (its edge must not move), and
        # the ring pulled inside the frame where the portrait is cropped tight.
        half = 0.5 * FRAME_SCALE * face_h * scale
        bx0, by0 = max(c2[0] - half, self.rect[0] + 1, 0.0), max(c2[1] - half, self.rect[1] + 1, 0.0)
        bx1, by1 = min(c2[0] + half, self.rect[2] - 2, w - 1.0), min(c2[1] + half, self.rect[3] - 2, h - 1.0)
        u = np.array([0, 0.25, 0.5, 0.75, 1, 1, 1, 1, 1, 0.75, 0.5, 0.25, 0, 0, 0, 0])
        v = np.array([0, 0, 0, 0, 0, 0.25, 0.5, 0.75, 1, 1, 1, 1, 1, 0.75, 0.5, 0.25])
        fx, fy = bx0 + u * (bx1 - bx0), by0 + v * (by1 - by0)
        self.frame_points = np.stack([fx, fy, np.zeros_like(fx)], axis=1)
        margin = 0.04 * face_h * scale
        ring[:, :2] = c2 + (ring[:, :2] - c2) * _fit_inside(ring[:, :2] - c2, c2,
                                                           (bx0 + margin, by0 + margin, bx1 - margin, by1 - margin))[:, None]
        self.ring = ring
        # How far the head may shift before the ring would leave the fixed frame.
        room = np.array([ring[:, 0].min() - bx0, ring[:, 1].min() - by0, bx1 - ring[:, 0].max(), by1 - ring[:, 1].max()])
        self.max_shift = float(max(0.0, min(MAX_SHIFT * face_width(self.landmarks), 0.8 * room.min())))
        self.points = warp_points(frontal_layout(self.landmarks), WARP_POINTS, OUTLINES)
        self.rest = self.control(self.landmarks, ring)
        self.triangles = triangulate(self.rest[:, :2])
        self.mesh = MeshWarp(self.rest, self.triangles)
        self.grid = Grid.around(self.frame_points, 0.0, size, ANIMATE_MAP_STEP)
        self._small: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
        self.mouth_open = mouth_openness(self.landmarks)

    def small(self, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """The still canvas and its mask at the segmenter's size (w, h), for the background blur."""
        if size not in self._small:
            self._small[size] = (cv2.resize(self.canvas, size, interpolation=cv2.INTER_AREA),
                                 cv2.resize(self.mask, size, interpolation=cv2.INTER_AREA).astype(np.float32) / 255)
        return self._small[size]

    def control(self, face: np.ndarray, ring: np.ndarray) -> np.ndarray:
        """The warp's control points: the chosen mesh points, the ring, the fixed frame."""
        return np.concatenate([face[self.points], ring, self.frame_points]).astype(np.float32)


def _place(picture: np.ndarray, scale: float, tx: float, ty: float, size: tuple[int, int],
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


def _polar(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Angle-sorted (angles, radii) of 2-D points around the origin, wrapped for np.interp."""
    ang = np.arctan2(points[:, 1], points[:, 0]) % (2 * np.pi)
    rad = np.hypot(points[:, 0], points[:, 1])
    order = np.argsort(ang)
    ang, rad = ang[order], rad[order]
    return np.concatenate([ang - 2 * np.pi, ang, ang + 2 * np.pi]), np.concatenate([rad, rad, rad])


class PhotoAvatar:
    """Replaces the wearer with a portrait that follows their head motion and expression.

    The first frame with a face is the neutral pose (``recapture()`` takes the next one again); each
    frame the wearer's motion since then (a 3-D similarity fitted on the mesh's rigid points) and
    expression (what is left, in the neutral's frame) move the portrait's own landmarks. The frame
    shows only the portrait, and ``analysis.mask`` becomes its person mask so the background effect
    that runs next composes it over the chosen background; ``small``/``small_mask``, when the
    segmenter made them, become the still portrait and its mask at that size (else they stay None
    and the blur shrinks the frame itself)."""

    needs = frozenset({"faces"})
    stage = "post"

    def __init__(self, photo: AvatarPhoto) -> None:
        self.photo = photo
        self._mask = person_mask(photo.image)
        self._stage: _Stage | None = None
        self._neutral: np.ndarray | None = None
        self._offset: tuple[np.ndarray, np.ndarray] | None = None  # mesh and ring minus rest, for the relax

    def recapture(self) -> None:
        """Take the wearer's next face as the new neutral pose."""
        self._neutral = None

    def stage_for(self, size: tuple[int, int]) -> _Stage:
        if self._stage is None or (self._stage.canvas.shape[1], self._stage.canvas.shape[0]) != size:
            self._stage = _Stage(self.photo, self._mask, size)
            self._offset = None
        return self._stage

    def driven_points(self, stage: _Stage, landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The portrait's mesh and ring moved by the wearer's motion and expression since neutral."""
        if self._neutral is None:
            self._neutral = landmarks.astype(np.float64).copy()
        n, w = self._neutral, landmarks.astype(np.float64)
        s, r, cn, cw = rigid_fit(n[POSE_INDICES], w[POSE_INDICES])
        aligned = ((w - cw) @ r) / s + cn  # the wearer brought back into the neutral's frame
        if mouth_openness(aligned) < mouth_openness(n) - 0.01:
            # A neutral caught mid-word would make later closed lips overlap: the most closed mouth
            # seen so far is the neutral mouth.
            lower = n[:, 1] > n[2, 1]  # below the base of the nose
            n[lower] = aligned[lower]
        expression = aligned - n
        # Turn the portrait at most MAX_TURN: a flat photo has no far side, and beyond that its
        # mesh folds over itself (nose over cheek).
        rvec = cv2.Rodrigues(r)[0]
        angle = float(np.linalg.norm(rvec))
        if angle > math.radians(MAX_TURN):
            r = cv2.Rodrigues(rvec * (math.radians(MAX_TURN) / angle))[0]
        k = stage.face_width / max(face_width(n), 1e-6)
        s = float(np.clip(s, *SCALE_LIMITS))
        shift = (cw - cn) * k
        shift[:2] = np.clip(shift[:2], -stage.max_shift, stage.max_shift)
        shift[2] = 0.0
        c = stage.centre
        face = c + s * ((stage.landmarks - c + k * expression) @ r.T) + shift
        ring = c + s * ((stage.ring - c) @ r.T) + shift
        return face.astype(np.float32), ring.astype(np.float32)

    def apply(self, image: np.ndarray, analysis: Analysis) -> np.ndarray:
        h, w = image.shape[:2]
        stage = self.stage_for((w, h))
        if analysis.faces:
            face, ring = self.driven_points(stage, analysis.faces[0].landmarks)
            self._offset = (face - stage.landmarks, ring - stage.ring)
        elif self._offset is not None:
            self._offset = tuple(o * np.float32(1.0 - REST_RATE) for o in self._offset)
            face, ring = stage.landmarks + self._offset[0], stage.ring + self._offset[1]
            if max(np.abs(o[:, :2]).max() for o in self._offset) < 0.2:
                self._offset = None  # at rest: the still canvas, no warp
        else:
            face, ring = None, None
        if face is None:
            out, mask = stage.canvas.copy(), stage.mask.copy()
        else:
            out, mask = self.render(stage, face, ring)
        analysis.mask = mask
        if analysis.small is not None:
            # The blur takes its background from the portrait at rest, shrunk once: the moving head
            # is cut out by the full-size mask anyway, and shrinking the frame again costs ~1 ms.
            analysis.small, analysis.small_mask = stage.small((analysis.small.shape[1], analysis.small.shape[0]))
        else:
            analysis.small_mask = None
        return out

    def render(self, stage: _Stage, face: np.ndarray, ring: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The frame and person mask with the portrait's mesh at ``face`` and its head ring at ``ring``."""
        out, mask = stage.canvas.copy(), stage.mask.copy()
        grid = stage.grid
        if grid is None:
            return out, mask
        coarse = stage.mesh.coarse(stage.control(face, ring), grid)
        rows, cols = grid.slices
        warped = warp(stage.canvas4, coarse, grid)
        region = cv2.cvtColor(warped, cv2.COLOR_BGRA2BGR)
        fill_mouth(region, face, grid, stage.mouth_open)
        out[rows, cols] = region
        mask[rows, cols] = cv2.extractChannel(warped, 3)
        return out, mask


# ---------------------------------------------------------------- builder


def build_avatar(settings: AvatarSettings):
    """The face swap or photo avatar for ``settings``, or AvatarPhotoError with one plain sentence."""
    if settings.mode == "off":
        return None
    if not settings.badge:
        log.warning(BADGE_OFF_WARNING)
    photo = load_avatar_photo(settings.photo)
    if settings.mode == "swap":
        return FaceSwap(photo, keep_eyes_mouth=settings.keep_eyes_mouth)
    return PhotoAvatar(photo)


__all__ = ["BADGE_OFF_WARNING", "AvatarPhotoError", "FaceSwap", "PhotoAvatar", "build_avatar"]
