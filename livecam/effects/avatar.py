"""Avatar effects: face swap from one photo, and a photo avatar driven by the wearer's face.

Both are the same operation: a picture whose 468 mesh points are known once (the avatar photo) is
warped triangle by triangle so that its points land where the frame wants them, then blended in.
Face swap puts the photo's face onto the wearer's landmarks; the photo avatar moves the portrait's
own landmarks by the wearer's motion since a neutral pose and shows the portrait instead of the
wearer.

Speed (≤ 8 ms a 720p frame on one core on top of the face stage) shapes the design:

- The piecewise-affine warp is one ``cv2.remap`` from a map built at 1/``MAP_STEP`` resolution:
  triangle ids are rasterised on the coarse grid (one ``fillConvexPoly`` per triangle), each grid
  point gets its triangle's affine, and the map is upsampled with bilinear interpolation. The warp
  is continuous and linear inside triangles, so the upsampled map is off by well under a pixel;
  per-triangle ``warpAffine`` calls would cost ~900 calls a frame.
- Colour and lighting are matched by the ratio of low-passed skin (live over photo), computed on
  the same coarse grid with a masked blur (eyes, brows, lips and nostrils left out so an open mouth
  does not darken the chin), then upsampled. That carries the live skin tone and the direction of
  the light and keeps the photo's detail; seamlessClone does the same job in ~25 ms at 720p.
- Blending is a feathered alpha in 8-bit OpenCV arithmetic inside the face's box only.

The photo avatar composes the portrait over the chosen background by handing the background effect
(which runs next) the portrait's person mask: it sets ``analysis.mask`` and clears ``small`` and
``small_mask`` so the blur recomputes them from the portrait.
"""
from __future__ import annotations

import logging
import math

import cv2
import numpy as np

from livecam.analysis import face_regions as regions
from livecam.analysis.avatar_photo import AvatarPhoto, AvatarPhotoError, load_avatar_photo
from livecam.analysis.head_pose import POSE_INDICES, rotation_matrix
from livecam.settings import AvatarSettings
from livecam.types import Analysis, Face

log = logging.getLogger(__name__)

BADGE_OFF_WARNING = "The AI-altered badge is off; viewers will not be told this video is altered."

MAP_STEP = 4  # frame pixels per coarse-grid cell of the warp map
BOX_MARGIN = 0.12  # face box grown by this fraction of its size on each side (feather room)
SOURCE_FACE_WIDTH = 320  # photo faces are resampled to about this width once, so remap never aliases
LIGHT_SIGMA = 0.10  # lighting low-pass, fraction of the face width
FEATHER = 0.045  # face-edge feather (Gaussian sigma), fraction of the face width
EDGE_INSET = 0.025  # face mask pulled in from the mesh outline, fraction of the face width
KEEP_FEATHER = 0.012  # softness of the kept eyes and mouth, fraction of the face width
GAIN_LIMITS = (0.25, 4.0)  # live/photo lighting ratio; beyond this one of them is in deep shadow
YAW_FADE = (28.0, 48.0)  # |yaw| in degrees where the swap starts fading out and where it is gone
FOLD_FADE = (0.02, 0.10)  # share of face triangles turned inside out: start fading, gone
FADE_RATE = 0.25  # per frame, towards the target opacity: ~4 frames to settle, no pops


# ---------------------------------------------------------------- geometry (pure)


def frontal_layout(landmarks: np.ndarray) -> np.ndarray:
    """(468, 2) mesh points with the head rotated to face the camera: a pose-free layout to triangulate."""
    r = rotation_matrix(landmarks)
    p = landmarks.astype(np.float64) * np.array([1.0, -1.0, -1.0])  # image axes -> canonical axes
    p -= p.mean(0)
    front = p @ r  # r.T applied to each row: undo the head rotation
    return np.stack([front[:, 0], -front[:, 1]], axis=1)


def triangulate(points: np.ndarray) -> np.ndarray:
    """Delaunay triangles over 2-D points, as (M, 3) int32 indices into ``points``."""
    pts = np.asarray(points, dtype=np.float64)
    lo = np.floor(pts.min(0)) - 2
    hi = np.ceil(pts.max(0)) + 2
    subdiv = cv2.Subdiv2D((int(lo[0]), int(lo[1]), int(hi[0] - lo[0]) + 1, int(hi[1] - lo[1]) + 1))
    subdiv.insert([(float(x), float(y)) for x, y in pts])
    corners = subdiv.getTriangleList().reshape(-1, 3, 2)
    # Subdiv2D returns coordinates; map them back to point indices (its outer virtual vertices drop out).
    dist = ((corners[:, :, None, :] - pts[None, None]) ** 2).sum(-1)
    index = dist.argmin(-1)
    exact = (dist.min(-1) < 1e-6).all(1)
    return index[exact].astype(np.int32)


def triangle_affines(src: np.ndarray, dst: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """(M + 1, 3, 2) float32 affines taking destination points to source points, ``[x, y, 1] @ A``.

    Row 0 is the least-squares affine of all points (used outside the mesh, so the warp continues
    smoothly past its edge); row i + 1 is triangle i's exact affine, or row 0's if it is degenerate."""
    d = dst[:, :2].astype(np.float64)
    s = src[:, :2].astype(np.float64)
    ones = np.ones((len(d), 1))
    overall = np.linalg.lstsq(np.hstack([d, ones]), s, rcond=None)[0]
    d0, d1, d2 = d[triangles[:, 0]], d[triangles[:, 1]], d[triangles[:, 2]]
    s0, s1, s2 = s[triangles[:, 0]], s[triangles[:, 1]], s[triangles[:, 2]]
    # Closed form of the 2x2 linear part L with s_i - s0 = (d_i - d0) L, batched.
    a, b = d1 - d0, d2 - d0
    det = a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]
    ok = np.abs(det) > 1e-6
    inv_det = np.where(ok, 1.0 / np.where(ok, det, 1.0), 0.0)
    inv = np.empty((len(triangles), 2, 2))
    inv[:, 0, 0], inv[:, 0, 1] = b[:, 1] * inv_det, -a[:, 1] * inv_det
    inv[:, 1, 0], inv[:, 1, 1] = -b[:, 0] * inv_det, a[:, 0] * inv_det
    ds = np.stack([s1 - s0, s2 - s0], axis=1)  # (M, 2, 2)
    lin = inv @ ds
    out = np.empty((len(triangles) + 1, 3, 2))
    out[0] = overall
    out[1:, :2] = lin
    out[1:, 2] = s0 - np.einsum("mi,mij->mj", d0, lin)
    out[1:][~ok] = overall
    return out.astype(np.float32)


def signed_areas(points: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    p0, p1, p2 = points[triangles[:, 0], :2], points[triangles[:, 1], :2], points[triangles[:, 2], :2]
    a, b = p1 - p0, p2 - p0
    return 0.5 * (a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0])


def fold_share(src: np.ndarray, dst: np.ndarray, triangles: np.ndarray) -> float:
    """Area-weighted share of triangles whose orientation flipped: the mesh is tearing (large turns)."""
    a_src, a_dst = signed_areas(src, triangles), signed_areas(dst, triangles)
    weight = np.abs(a_src)
    flipped = (a_src * a_dst) < 0
    return float(weight[flipped].sum() / max(weight.sum(), 1e-9))


class Grid:
    """A box of the frame sampled every ``step`` pixels; cell (i, j) is centred on frame pixel
    (x0 + (j + 0.5) step - 0.5, y0 + (i + 0.5) step - 0.5), which is what ``cv2.resize`` by ``step``
    assumes, so maps made on the grid upsample without shift."""

    def __init__(self, x0: int, y0: int, cols: int, rows: int, step: int) -> None:
        self.x0, self.y0, self.cols, self.rows, self.step = x0, y0, cols, rows, step

    @classmethod
    def around(cls, points: np.ndarray, margin: float, frame_size: tuple[int, int], step: int) -> "Grid | None":
        w, h = frame_size
        lo, hi = points[:, :2].min(0), points[:, :2].max(0)
        pad = margin * (hi - lo).max()
        x0, y0 = max(0, int(lo[0] - pad)), max(0, int(lo[1] - pad))
        x1, y1 = min(w, int(math.ceil(hi[0] + pad))), min(h, int(math.ceil(hi[1] + pad)))
        cols, rows = (x1 - x0) // step, (y1 - y0) // step
        if cols < 4 or rows < 4:
            return None
        return cls(x0, y0, cols, rows, step)

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.y0, self.y0 + self.rows * self.step), slice(self.x0, self.x0 + self.cols * self.step)

    def to_cells(self, points: np.ndarray) -> np.ndarray:
        """Frame points -> fractional cell coordinates."""
        return (points[..., :2] - (self.x0, self.y0) + 0.5) / self.step - 0.5

    def cell_polys(self, points: np.ndarray, indices) -> np.ndarray:
        """A region outline in 1/16 cell units, for fillPoly/fillConvexPoly with shift=4."""
        return np.round(self.to_cells(points[np.asarray(indices)]) * 16).astype(np.int32)

    def centres(self) -> tuple[np.ndarray, np.ndarray]:
        s = self.step
        xs = (np.arange(self.cols, dtype=np.float32) + 0.5) * s - 0.5 + self.x0
        ys = (np.arange(self.rows, dtype=np.float32) + 0.5) * s - 0.5 + self.y0
        return xs, ys

    def up(self, image: np.ndarray) -> np.ndarray:
        return cv2.resize(image, (self.cols * self.step, self.rows * self.step), interpolation=cv2.INTER_LINEAR)


def coarse_map(src: np.ndarray, dst: np.ndarray, triangles: np.ndarray, grid: Grid) -> np.ndarray:
    """(rows, cols, 2) float32: for each grid cell, where to sample the source picture."""
    ids = np.zeros((grid.rows, grid.cols), np.int32)
    # Whole cells are enough: the warp is continuous, so a cell on an edge that takes the neighbour's
    # affine lands within a fraction of a pixel of the exact place.
    corners = np.round(grid.to_cells(dst)[triangles]).astype(np.int32)  # (M, 3, 2)
    for i, tri in enumerate(list(corners), start=1):  # a list of views: half the cost of iterating the array
        cv2.fillConvexPoly(ids, tri, i)
    a = triangle_affines(src, dst, triangles)[ids]  # (rows, cols, 3, 2)
    xs, ys = grid.centres()
    return a[..., 0, :] * xs[None, :, None] + a[..., 1, :] * ys[:, None, None] + a[..., 2, :]


def warp(picture: np.ndarray, coarse: np.ndarray, grid: Grid, border: int = cv2.BORDER_REPLICATE) -> np.ndarray:
    """``picture`` resampled through the upsampled coarse map: one remap for the whole box."""
    return cv2.remap(picture, grid.up(coarse), None, cv2.INTER_LINEAR, borderMode=border)


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


def skin_mask(landmarks: np.ndarray, grid: Grid, shape: tuple[int, int] | None = None) -> np.ndarray:
    """uint8 1 on the face's skin (oval minus eyes, brows, lips, nostrils), 0 elsewhere, on ``grid``."""
    mask = np.zeros(shape or (grid.rows, grid.cols), np.uint8)
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


def eye_openness(landmarks: np.ndarray) -> float:
    """Mean lid gap over eye width of both eyes (blinks dip towards 0)."""
    right = np.linalg.norm(landmarks[159, :2] - landmarks[145, :2]) / max(
        np.linalg.norm(landmarks[33, :2] - landmarks[133, :2]), 1e-6)
    left = np.linalg.norm(landmarks[386, :2] - landmarks[374, :2]) / max(
        np.linalg.norm(landmarks[362, :2] - landmarks[263, :2]), 1e-6)
    return float((right + left) / 2)


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
        m = np.array([[scale, 0, -x0 * scale], [0, scale, -y0 * scale]], np.float64)
        size = (int(math.ceil((hi[0] - lo[0] + 2 * pad) * scale)), int(math.ceil((hi[1] - lo[1] + 2 * pad) * scale)))
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        self.image = cv2.warpAffine(photo.image, m, size, flags=interp, borderMode=cv2.BORDER_REPLICATE)
        self.landmarks = landmarks.copy()
        self.landmarks[:, :2] = landmarks[:, :2] * scale - (x0 * scale, y0 * scale)
        self.landmarks[:, 2] *= scale
        self.triangles = triangulate(frontal_layout(self.landmarks))
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
        self._last: np.ndarray | None = None  # landmarks of the last face seen, for the fade-out

    def target_opacity(self, landmarks: np.ndarray, pose: tuple[float, float, float]) -> float:
        yaw = abs(pose[0])
        lo, hi = YAW_FADE
        by_yaw = float(np.clip((hi - yaw) / (hi - lo), 0.0, 1.0))
        folds = fold_share(self.source.landmarks, landmarks, self.source.triangles)
        lo, hi = FOLD_FADE
        by_folds = float(np.clip((hi - folds) / (hi - lo), 0.0, 1.0))
        return min(by_yaw, by_folds)

    def apply(self, image: np.ndarray, analysis: Analysis) -> np.ndarray:
        face = analysis.faces[0] if analysis.faces else None
        if face is not None:
            self._last = face.landmarks
            target = self.target_opacity(face.landmarks, face.pose)
        else:
            target = 0.0
        self._opacity += FADE_RATE * (target - self._opacity)
        if target == 0.0 and self._opacity < 0.02:
            self._opacity = 0.0
        if self._opacity <= 0.0 or self._last is None:
            return image
        return self.render(image, self._last, self._opacity)

    def render(self, image: np.ndarray, landmarks: np.ndarray, opacity: float = 1.0) -> np.ndarray:
        """``image`` with the photo's face warped onto ``landmarks`` at ``opacity`` (pure, no state)."""
        h, w = image.shape[:2]
        grid = Grid.around(landmarks, BOX_MARGIN, (w, h), MAP_STEP)
        if grid is None:
            return image
        src = self.source
        fw = face_width(landmarks)
        cell_fw = fw / grid.step
        coarse = coarse_map(src.landmarks, landmarks, src.triangles, grid)
        rows, cols = grid.slices
        live = image[rows, cols]
        warped = warp(src.image, coarse, grid)
        if not self.keep_eyes_mouth:
            warped = fill_mouth(warped, landmarks, grid, src.mouth_open)

        # Lighting: live skin low-pass over the photo's (warped), both on the coarse grid.
        skin = skin_mask(landmarks, grid)
        live_small = cv2.resize(live, (grid.cols, grid.rows), interpolation=cv2.INTER_AREA)
        live_low = masked_lowpass(live_small, skin, LIGHT_SIGMA * cell_fw)
        src_low = cv2.remap(src.lowpass, coarse, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        gain = np.clip((live_low + 4.0) / (src_low + 4.0), *GAIN_LIMITS)
        face = cv2.multiply(warped, grid.up(gain), dtype=cv2.CV_32F)

        alpha = face_alpha(landmarks, grid, opacity)
        if self.keep_eyes_mouth:
            alpha = cut_regions(alpha, landmarks, grid, KEEP_POLYS, max(0.7, KEEP_FEATHER * fw))
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
    """``alpha`` with soft holes where ``polys`` are (the wearer's own eyes and mouth interior show)."""
    full = Grid(grid.x0, grid.y0, alpha.shape[1], alpha.shape[0], 1)
    pad = int(math.ceil(3 * feather)) + 1
    keep = np.zeros_like(alpha)
    for poly in polys:
        pts = full.cell_polys(landmarks, poly)
        cv2.fillPoly(keep, [pts], 255, cv2.LINE_AA, 4)
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


def fill_mouth(patch: np.ndarray, landmarks: np.ndarray, grid: Grid, source_open: float = 0.0) -> np.ndarray:
    """Paint a shaded mouth interior inside the inner lips once the mouth opens wider than the
    picture's own (whose stretched closed lips would otherwise fill the gap)."""
    opening = mouth_openness(landmarks)
    if opening <= source_open + 0.04:
        return patch
    full = Grid(grid.x0, grid.y0, patch.shape[1], patch.shape[0], 1)
    poly = full.cell_polys(landmarks, regions.LIPS_INNER)
    mask = np.zeros(patch.shape[:2], np.uint8)
    cv2.fillPoly(mask, [poly], 255, cv2.LINE_AA, 4)
    pts = full.to_cells(landmarks[np.asarray(regions.LIPS_INNER)])
    top, bottom = full.to_cells(landmarks[13]), full.to_cells(landmarks[14])
    x0, y0 = np.floor(pts.min(0)).astype(int)
    x1, y1 = np.ceil(pts.max(0)).astype(int) + 1
    x0, y0 = max(x0, 0), max(y0, 0)
    x1, y1 = min(x1, patch.shape[1]), min(y1, patch.shape[0])
    if x1 <= x0 or y1 <= y0:
        return patch
    # Dark, warm interior, a little lighter near the lips; a soft band of upper teeth when wide open.
    ys = np.arange(y0, y1, dtype=np.float32)[:, None]
    gap = max(float(bottom[1] - top[1]), 1.0)
    t = np.clip((ys - top[1]) / gap, 0.0, 1.0)
    shade = 0.35 + 0.65 * np.abs(2 * t - 1) ** 2
    base = np.array([22, 24, 60], np.float32)  # BGR: dark red-brown
    interior = base[None, None, :] * shade[..., None] * np.ones((1, x1 - x0, 1), np.float32)
    teeth = np.clip(1.0 - (ys - top[1]) / (0.22 * gap), 0.0, 1.0) * min(1.0, (opening - source_open) * 4)
    interior = interior * (1 - teeth[..., None]) + np.float32(200) * teeth[..., None] * np.array(
        [0.92, 0.95, 1.0], np.float32)
    m = cv2.GaussianBlur(mask[y0:y1, x0:x1], (0, 0), 1.0).astype(np.float32)[..., None] / 255
    out = patch.copy()
    region = out[y0:y1, x0:x1].astype(np.float32)
    out[y0:y1, x0:x1] = np.clip(interior * m + region * (1 - m), 0, 255).astype(np.uint8)
    return out


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


__all__ = ["AvatarPhotoError", "FaceSwap", "PhotoAvatar", "build_avatar", "BADGE_OFF_WARNING"]
