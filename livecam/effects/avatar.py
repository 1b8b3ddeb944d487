"""Avatar effects: face swap from one photo, and a photo avatar driven by the wearer's face.

Both are the same operation: a picture whose 468 mesh points are known once (the avatar photo) is
warped triangle by triangle so that its points land where the frame wants them, then blended in.
Face swap puts the photo's face onto the wearer's landmarks; the photo avatar moves the portrait's
own landmarks by the wearer's motion since a neutral pose and shows the portrait instead of the
wearer.

Speed (swap <= 10 ms a 720p frame on one core with the face stage, photo avatar <= 10 ms on top of it)
shapes the design:

- The piecewise-affine warp is one ``cv2.remap`` from a map built at 1/``MAP_STEP`` resolution
  (``livecam.effects.mesh_warp``), over 240 of the 468 mesh points (every feature outline plus
  evenly spread fill points): ~450 triangles instead of ~900, same look at webcam sizes.
- Light, colour, skin statistics and occluders are worked out on that coarse grid (a few thousand
  cells, ``livecam.effects.avatar_light``); only a per-pixel gain and offset, the grain and the
  alpha reach full resolution. ``cv2.seamlessClone`` on the same 720p face costs about five times
  this whole effect (39 ms against 7 ms of CPU, measured side by side).
- Blending is a feathered alpha in 8-bit OpenCV arithmetic inside the face's box only.
- Thin things the coarse grid cannot see are handled at their own small scale: the wearer's glasses
  frames, found in a 129x64 box aligned to the eyes and put back in front
  (``livecam.effects.avatar_keep``), and the lid skin a shut eye is filled from, picked once per
  photo with the glare on its glasses left out (``livecam.effects.lid_skin``).

Effects never touch the ``Analysis`` they get: the photo avatar hands the background effect (which
runs next) the portrait's person mask as an output, so the chosen background goes behind the
portrait, and ``altered`` tells the disclosure badge the frame is altered.
"""
from __future__ import annotations

import logging
import math

import cv2
import numpy as np

from livecam.analysis import face_regions as regions
from livecam.analysis.avatar_photo import (
    AvatarPhoto,
    AvatarPhotoError,
    load_avatar_photo,
)
from livecam.analysis.eye_closure import EyeClosure, LidReader
from livecam.analysis.eye_look import EYE_CORNERS, iris_positions
from livecam.analysis.face_measures import face_width, lid_gap, mouth_openness
from livecam.analysis.head_pose import CANONICAL, POSE_INDICES, rigid_fit
from livecam.analysis.runtime import ModelHung
from livecam.analysis.torso_motion import TorsoMotion, carried, neck_top
from livecam.effects import avatar_light as light
from livecam.effects import avatar_pose_shade, lid_skin
from livecam.effects.avatar_cover import cover_cells, fill_cover
from livecam.effects.photo_glasses import remove_frames
from livecam.effects.avatar_keep import GlassesKeeper
from livecam.effects.avatar_pose_shade import NoseBase
from livecam.effects.avatar_mouth import (
    fill_mouth,
    interior_weight,
    mouth_gain,
    shows_teeth,
    shut_mouth,
    skin_near_mouth,
    split_teeth,
    transplant_mouth,
)
from livecam.effects.avatar_stage import Stage, clean_plate, face_frame, pull_push
from livecam.effects.background import BLUR_SCALE
from livecam.effects.compositing import blend, keep_in_front
from livecam.effects.base import EffectBase
from livecam.effects.lens_glare import glare_cells
from livecam.effects.mesh_warp import (
    Grid,
    MeshWarp,
    fold_share,
    frontal_layout,
    remap_fixed,
    row_spans,
    signed_areas,
    triangulate,
    warp_points,
)
from livecam.effects.photo_fill import Stretch, skin_filled
from livecam.effects.photo_motion import HeadPlacement, SurroundFlow
from livecam.effects.photo_outline import on_face
from livecam.effects.photo_turn import Silhouette
from livecam.imaging import read_ahead
from livecam.settings import AvatarSettings
from livecam.types import Analysis

log = logging.getLogger(__name__)

MAP_STEP = 4  # frame pixels per coarse-grid cell of the warp map
FACE_CELLS = 100  # at most this many cells across a face's width: a face close to the camera (output unchanged up to 400 px)
MAX_FACE = 2.0  # a face wider than this many times the frame's longer side is a torn mesh, not a face
BOX_MARGIN = 0.12  # face box grown by this fraction of its size on each side (feather room)
SOURCE_FACE_WIDTH = 320  # photo faces are resampled to about this width once, so remap never aliases
FEATHER = 0.045  # face-edge feather (Gaussian sigma), fraction of the face width
EDGE_INSET = 0.05  # face mask pulled in from the mesh outline (which often runs onto hair or background), fraction of the face width
KEEP_FEATHER = 0.012  # softness of the kept eyes and mouth, fraction of the face width
SKIN_INSET = 0.06  # skin statistics from this far inside the outline, fraction of the face width
SKIN_REACH = 0.08  # the wearer's low-pass reaches this far past the outline (jaw, ears, neck): no seam
FEATURE_GROW = 0.03  # features (eyes, brows, lips, nostrils) grown by this much before skin is measured
MOUTH_KEEP = (0.04, 0.12)  # wearer's mouth opening where their interior starts to show, and fully does
INTERIOR_OPEN = (0.06, 0.12)  # the same where the photo shows no teeth (default mode: the photo's own mouth)
YAW_FADE = (28.0, 48.0)  # |yaw| in degrees where the swap starts fading out and where it is gone
FOLD_FADE = (0.02, 0.10)  # share of the shown face drawn by triangles turned inside out: start fading, gone
FADE_RATE = 0.25  # per frame, towards the target opacity: ~4 frames to settle, no pops
# Frames without a face that hold the swap where it is before it fades: a face at the detector's
# threshold, found every other frame, held the swap at 0.43-0.57 and showed the wearer's face.
MISS_HOLD = 1


FEATURE_POLYS = tuple(regions.FEATURES.values())
_FEATURES = tuple(np.asarray(p) for p in FEATURE_POLYS)  # as indices once, not converted every frame
_FACE_OVAL = np.asarray(regions.FACE_OVAL)
KEEP_POLYS = (regions.RIGHT_EYE, regions.LEFT_EYE)
# The eyelids from the second ring above the lid margin to the first ring below it (MediaPipe mesh
# rings "upper 2" and "lower 1", outer corner first): where a blink blends in the photo's shut lids
# (with ``own_eyes_mouth``, where the wearer's own lids show instead). The photo's open lids merely
# stretched over a closing eye keep its dark lash line and crease and read as still open.
RIGHT_LIDS = (226, 113, 225, 224, 223, 222, 221, 189, 244, 243, 112, 26, 22, 23, 24, 110, 25, 130)
LEFT_LIDS = (446, 342, 445, 444, 443, 442, 441, 413, 464, 463, 341, 256, 252, 253, 254, 339, 255, 359)
EYES = ((regions.RIGHT_EYE, RIGHT_LIDS, (159, 145, 33, 133)), (regions.LEFT_EYE, LEFT_LIDS, (386, 374, 362, 263)))
# Lid gap over its usual open value where the wearer's lids start showing through and where they fully
# do. The mesh closes only partly on a blink (closed eyes measured at 0.6-0.8 of open on the shared
# clips, open ones at 0.8-0.9), so the ramp starts at the usual open gap: a half-closed or squinting
# eye already shows some of the wearer's lids (dlib's eye-opening on the output followed the
# wearer's at 0.65 / 0.57 / 0.93 on lp_d9 / lp_d20 / lp_d3 instead of 0.63 / 0.28 / 0.88 with the
# ramp from 0.92). Keeping the wearer's lids always costs identity (lp_d0 with fr_obama: 0 of 10
# frames closer to the photo than to the wearer).
BLINK_KEEP = (1.0, 0.75)
# Closing the photo's own lids. The mesh's lid gap on a blink falls only to 0.6-0.8 of its usual open
# value (against dlib's 68-point eye ratio at 0.67 of its median on lp_d0), so the photo's eye would
# stay a third open; the lids are pushed together from this share of the open gap (none) to this one
# (shut). Lid margins meet LID_MEET of the way down (an upper lid falls; the lower barely moves), and
# the ring above the margin follows by LID_RING so the lid skin is not stretched thin. The ramp starts
# a little below the usual open gap: talking wearers' lid gaps waver there, and every lid lowered on
# an open eye cost identity (lp_d12 with dl_tom_cruise: 0.60 from 0.90, 0.52 from 0.86).
LID_CLOSE = (0.86, 0.70)
# The mesh's lid gap (share of its usual open value) under which the iris model's lid contour is
# read (every 2nd frame): open eyes cost nothing; squints, looking down and blinks are read.
READ_LIDS = 0.88
LID_MEET = 0.8
SHUT_GROW = 0.025  # a shut eye's opening grown by this (fraction of the face width) before it is filled
# How far above the upper margin a lid part-way down covers the photo's open lid (fraction of the face
# width). Past SHUT_GROW: the photo's own lash line and the dark crease right over it, left beside the
# falling lid, read as an eye still open (narrow-eyed photos worst: tuning half, 150 frames, blink r
# Cruise onto lp_d12 0.394 -> 0.473 and onto lp_d19 0.635 -> 0.790). Further hides ordinary open
# eyes that a high usual open gap draws part-way shut (lp_d3 with three photos: -0.004 to -0.012 at
# 0.03, -0.008 to -0.033 at 0.035, -0.01 to -0.05 at 0.045). Its own constant, not a larger
# SHUT_GROW: that grows the ring the fill is taken from too, which behind glasses reaches lens glare.
LID_COVER = 0.03
# The lashes along a falling lid, their widest (a third in from the outer corner, shut) as a fraction
# of the face width, with a soft shadow round them and the lid's shading above. A flat black band
# 0.024 wide with a sharp edge read as drawn-on eyeliner; dlib took a thin line under a light lid
# for an open eye. Tuning half, 60 frames, lp_d3 (three photos) and lp_s18 (two), blink r mean
# 0.903 with that band: thin and soft (0.012, shadow 0.35, lash colour the darkest fifth) 0.786;
# 0.018 and shadow 0.5, 0.804; the lash colour from the darkest 5 %, 0.833; a sharper, more even
# line (soft 0.15, inner 0.85), 0.857; shadow 0.7, 0.880; these values with the lid's shading, 0.889,
# and 0.896 with one blur for its shading and the shadow. Lifting the whole lid to flat skin (no
# crease) instead of its low-pass only: 0.761.
LASH_WIDTH = 0.016
LASH_STRENGTH = 1.0  # their opacity
LASH_SHADOW = 1.0  # the soft shadow around the lashes (blurred by 1.5 times their width), share of their opacity
LASH_SOFT = 0.25  # their edge's blur (Gaussian sigma), share of their width
LASH_PEAK = 0.7  # widest at 0.5 ** (1 / LASH_PEAK) of the way from the outer corner (a third)
LASH_INNER = 0.6  # their opacity at the inner corner, share of the outer's
LASH_SHARE = 5  # the lash colour: the median of this darkest percentage of the photo's lid margins
LID_TEXTURE = 0.06  # the lid skin's fine detail carried over a shut eye, clipped to this share of its grey
LASH_FADE = 0.15  # closure by which the lashes along a falling lid are fully drawn
LID_SHADE = (0.5, 0.04)  # a shut lid's shading above its lashes: most opacity (lash colour; lid_skin.shade_opacity) and height (face widths)
# Closure by which the falling lid's skin fully covers the top of the opening: at once (0), the
# first tenth of a blink changed the eye about 3 times as much as the others (s18, astronaut photo);
# 0.2 cost blink r 0.011 (tuning half, 60 frames, lp_d3 and lp_s18) with the cover at SHUT_GROW. With
# a larger LID_COVER (0.035) at 0.1 the first step of a falling lid changed the eye 3.5 times the
# median step (the falling-lid test's limit).
LID_FADE = 0.2
LID_OVER = 0.01  # a falling lid's skin reaches this far below its lash line (fraction of the face width)
SHADOW_LIFT = 0.4  # a shut lid's pixel this much (share) darker than its light skin is lifted fully to it
SHUT_SKIN = (40, 85)  # grey percentiles around an eye: below the first no fill is taken, from the second all
LID_WHOLE = (0.7, 1.0)  # closure from which a shut lid's lightened skin reaches the ring above the eye, and fully
LID_TOP = 9  # the first points of each RIGHT_LIDS / LEFT_LIDS: the ring above the upper lid, outer to inner
LID_CORNERS = ((33, 133), (263, 362))  # outer and inner eye corners
LID_PUSH = 0.7  # share of that closing the frame's own lid points take too (the shut texture does the rest)
LID_RING = 0.5
# Lid margins per eye as (upper, lower) pairs from the outer corner in, and the ring above the upper
# margin in the same order (MediaPipe's eye "upper 0", "lower 0" and "upper 1" contours).
LID_PAIRS = (
    ((246, 7), (161, 163), (160, 144), (159, 145), (158, 153), (157, 154), (173, 155)),
    ((466, 249), (388, 390), (387, 373), (386, 374), (385, 380), (384, 381), (398, 382)),
)
LID_RINGS = ((247, 30, 29, 27, 28, 56, 190), (467, 260, 259, 257, 258, 286, 414))
GAZE_MAX = 0.12  # the photo's iris moves at most this many eye widths (further samples the lid corners)
GAZE_RATE = 0.5  # per frame, towards the newest reading of the wearer's iris: steadies its jitter
GAZE_EVERY = 2  # frames between readings of the wearer's irises (eyes turn slower than they blink)
GAZE_HOLD = 0.3  # lid closure from which the wearer's iris reading is not trusted (held)
RESIDUAL_SIGMA = 0.25  # the residual colour match near the outline, share of the lighting low-pass
RESIDUAL_BORDER = 0.3  # it fades out this far inside the outline (fraction of the face width)
# The border's low band (two-band blend): within SEAM_BAND of the outline (full up to the first,
# gone at the second, fractions of the face width) the relit face's colour at the SEAM_SIGMA scale
# becomes the wearer's skin just outside the outline (``avatar_light.match_border``), whatever covers
# either face (the photo's beard or temple hair, the side shadow of its light), so no band shows at
# jaw, hairline or ears; its detail stays. Above the brows (the hairline) the band is SEAM_TOP.
# Tuning half (tools/eval_avatar.py, 150 frames), against the wearer's own colour over (0.05, 0.16):
# seam dE median 4.20 -> 3.21, brow band 7.17 -> 6.12, identity margin 0.216 -> 0.225, SSIM 0.962 ->
# 0.961. On 60 frames (0.14, 0.28) gave seam 3.92 (against 3.27) and a brow band step further from
# the wearer's own (brow x 1.46 -> 2.56); the skin ring above the forehead taken like the rest
# pulled hair colour into the brow band (lp_s18: 4.0 -> 6.6).
SEAM_BAND = (0.10, 0.22)
SEAM_TOP = (0.05, 0.16)
# Where the wearer's skin runs on above the outline (a high forehead), that skin's colour reaches
# SEAM_TOP_SKIN (past the 8-16 % band a seam is seen on); the wearer's own colour beside hair still
# only SEAM_TOP. Tuning half, 150 frames: seam dE 3.11 -> 2.37 (max 3.53 -> 2.91), id margin 0.287 ->
# 0.289, brow dE 5.06 -> 5.15. As deep at the jaw and cheeks (0.16, 0.28): seam 2.21 but id margin
# -0.006 (lp_d3 pairs -0.02 to -0.03) and swap SSIM -0.001.
SEAM_TOP_SKIN = (0.16, 0.26)
SEAM_SIGMA = 0.04
BROW_FADE = 0.08  # above the brows' tops the hairline's rules take over within this (fraction of the face width)
MAX_SEAM = 60.0  # largest correction (BGR levels) of that pass
OUTLINES = (regions.FACE_OVAL, regions.RIGHT_EYE, regions.LEFT_EYE, regions.RIGHT_BROW, regions.LEFT_BROW,
            regions.LIPS_OUTER, regions.LIPS_INNER, regions.NOSTRILS, regions.NOSE_BRIDGE, RIGHT_LIDS, LEFT_LIDS)
WARP_POINTS = 240  # of the 468 (see warp_points)
# The photo's face shape. Warping the photo's mesh onto the wearer's points keeps the wearer's
# proportions (eye spacing, brow height, nose length, mouth width), which is much of what a face
# recogniser reads. Each point is moved by the difference between the photo's shape and the wearer's
# average shape (pose and scale taken out), in full from SHAPE_REACH of the face width inside the
# outline, not at all on it: the outline stays on the wearer's jaw so nothing of it shows beside the
# face. The lips move as a whole only and the eyes' lids keep their height, so the photo's open or
# smiling mouth and its squint do not change the wearer's expression, blinks or speech.
# Tuning half, 150 frames, against no shape: 0.6 took the lowest identity from 0.56 to 1.00 with blink
# r 0.83 -> 0.84 and mouth r 0.85 -> 0.86 (medians); the full shape (1.0) also reached 1.00 but cost
# motion (lp_d3 with lp_d19 blink r 0.80 -> 0.65, with mp_sergey mouth r 0.87 -> 0.59).
SHAPE_AMOUNT = 0.6
SHAPE_REACH = 0.15
SHAPE_RATE = 0.05  # per frame, the wearer's average shape follows their newest one


def eye_openness(landmarks: np.ndarray) -> float:
    """Mean lid gap over eye width of both eyes (blinks dip towards 0)."""
    return float(np.mean([lid_gap(landmarks, *ends) for _, _, ends in EYES]))


def cell_points(landmarks: np.ndarray, grid: Grid) -> np.ndarray:
    """Every landmark in 1/16 cell units on ``grid``: ``grid.cell_polys`` of any region is this
    array indexed by the region's points (the same values, one conversion a frame)."""
    return np.round(grid.to_cells(landmarks) * 16).astype(np.int32)


def oval_cells(landmarks: np.ndarray, grid: Grid, points: np.ndarray | None = None) -> np.ndarray:
    """uint8, 1 inside the face outline on ``grid``'s cells. ``points``: ``cell_points`` already
    worked out for these landmarks and grid."""
    oval = np.zeros((grid.rows, grid.cols), np.uint8)
    poly = grid.cell_polys(landmarks, regions.FACE_OVAL) if points is None else points[_FACE_OVAL]
    cv2.fillPoly(oval, [poly], 1, cv2.LINE_8, 4)
    return oval


def skin_cells(landmarks: np.ndarray, grid: Grid, grows: tuple[float, ...],
               fw: float | None = None, points: np.ndarray | None = None,
               oval: np.ndarray | None = None) -> list[np.ndarray]:
    """uint8 masks, 1 on the face's skin on ``grid``, one per ``grows`` entry: the outline moved out
    by that fraction of the face width (negative pulls it in) minus the grown features. ``fw``: the
    landmarks' ``face_width``, ``points`` their ``cell_points``, ``oval`` their ``oval_cells``,
    where the caller has them already (the same values)."""
    cell_fw = (face_width(landmarks) if fw is None else fw) / grid.step
    oval = oval_cells(landmarks, grid, points) if oval is None else oval
    features = np.zeros_like(oval)
    polys = [grid.cell_polys(landmarks, p) if points is None else points[i] for p, i in zip(FEATURE_POLYS, _FEATURES)]
    cv2.fillPoly(features, polys, 1, cv2.LINE_8, 4)
    r = max(1, int(round(FEATURE_GROW * cell_fw)))
    not_features = 1 - cv2.dilate(features, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    masks = []
    for grow in grows:
        mask = oval
        r = int(round(abs(grow) * cell_fw))
        if r:
            kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
            mask = cv2.dilate(oval, kernel) if grow > 0 else cv2.erode(oval, kernel)
        masks.append(mask & not_features)
    return masks


def up_axis(landmarks: np.ndarray, grid: Grid) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The face's own up axis (unit, chin to forehead) and the grid's cell centres (x, y)."""
    up = landmarks[10, :2] - landmarks[152, :2]
    return (up / max(float(np.linalg.norm(up)), 1e-6), *grid.centres())


def upper_face(landmarks: np.ndarray, grid: Grid, axis: tuple | None = None) -> np.ndarray:
    """float32 per cell: 1 above the nose tip, 0 below the upper lip (along the face's own up axis).
    Occluders are looked for up there; a beard below is the wearer's face, not something in front.
    ``axis``: ``up_axis`` already worked out for these landmarks and grid."""
    up, xs, ys = up_axis(landmarks, grid) if axis is None else axis
    tip, lip = landmarks[1, :2], landmarks[0, :2]
    height = (xs[None, :] - tip[0]) * up[0] + (ys[:, None] - tip[1]) * up[1]
    below = min(float(np.dot(lip - tip, up)), -1.0)
    return np.clip(1.0 - height / below, 0.0, 1.0).astype(np.float32)


def below_brows(landmarks: np.ndarray, grid: Grid, fw: float | None = None, axis: tuple | None = None) -> np.ndarray:
    """float32 per cell: 1 up to the brows' tops, falling to 0 BROW_FADE of the face width above them
    (along the face's own up axis). ``axis``: ``up_axis`` already worked out."""
    up, xs, ys = up_axis(landmarks, grid) if axis is None else axis
    top = (landmarks[105, :2] + landmarks[334, :2]) / 2  # their mean, as np.mean sums and divides
    height = (xs[None, :] - top[0]) * up[0] + (ys[:, None] - top[1]) * up[1]
    fw = face_width(landmarks) if fw is None else fw
    return np.clip(1.0 - height / (BROW_FADE * fw), 0.0, 1.0).astype(np.float32)


# ---------------------------------------------------------------- face swap


class _SourceFace:
    """The avatar photo prepared once: cropped and resampled to a working face size, its skin low-pass
    (for relighting), and the triangulation of its mesh."""

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
        # The photo's glasses frames painted out before anything reads it (issue 18, item 2).
        self.image = remove_frames(self.image, self.landmarks)
        layout = frontal_layout(self.landmarks)
        self.points = warp_points(layout, WARP_POINTS, OUTLINES)
        self.triangles = triangulate(layout[self.points])
        self.control = self.landmarks[self.points]
        self.mesh = MeshWarp(self.control, self.triangles)
        self.mouth_open = mouth_openness(self.landmarks)
        # Read from its pixels, not its lip gap: an open mouth of dark interior or tongue (lp_d19,
        # lp_d9) spread apart with the lips left a black hole where the wearer's interior belongs.
        self.teeth = shows_teeth(self.image, self.landmarks)
        self.shape = canonical_shape(self.landmarks)[0]
        self.shape_weight = shape_weights(layout)
        self.fold_weight = shown_weights(layout, self.points, self.triangles)
        self.areas = signed_areas(self.control, self.triangles)  # the photo's, for the fold measure
        # The photo's skin low-pass (BGR float), measured once like the wearer's each frame: on a
        # grid of its own (4 px cells), skin by colour, reaching a little past the outline, with
        # whatever covers the upper face (fringe, glasses frames, a hat) left out and then filled
        # from it, so nothing but skin is ever drawn there.
        grid = Grid(0, 0, max(4, size[0] // MAP_STEP), max(4, size[1] // MAP_STEP), MAP_STEP)
        cells = cv2.resize(self.image, (grid.cols, grid.rows), interpolation=cv2.INTER_AREA)
        cells_lab = light.lab(cells)
        sigma = light.LIGHT_SIGMA * SOURCE_FACE_WIDTH / MAP_STEP
        inner, reach = skin_cells(self.landmarks, grid, (-SKIN_INSET, SKIN_REACH))
        self.cover = cover_cells(cells_lab, self.landmarks, grid, sigma, self.image)
        skin = light.SkinModel(cells_lab, inner * (self.cover < 0.5), sigma)
        self.skin_median = skin.median  # the photo's skin tone (Lab), kept by the relighting
        weights = reach * skin.likelihood(cells_lab) * (1.0 - self.cover)
        # At the scale the wearer's light replaces it (SHADE_SIGMA), not the skin's (``sigma``).
        low = light.wide_lowpass(cells, weights, light.SHADE_SIGMA * SOURCE_FACE_WIDTH / MAP_STEP)
        self.lowpass = cv2.resize(low, size, interpolation=cv2.INTER_LINEAR)
        # Filled from the skin inside the outline only: the ring just past it (``reach``) is hair
        # above a fringe, and as skin-coloured as blonde or light brown hair is, it greyed the fill.
        self.image = fill_cover(self.image, self.cover, cells, inner * skin.likelihood(cells_lab))
        if self.cover.any():
            cells = cv2.resize(self.image, (grid.cols, grid.rows), interpolation=cv2.INTER_AREA)
            cells_lab = light.lab(cells)
        # The photo with its own lids shut, in the open photo's geometry, made once: each eye
        # opening (grown a little: the mesh's lid margin often sits inside the visible iris) filled
        # from the light lid skin around it, and the colour of its lashes, drawn along the falling
        # lid each frame. Pulling the photo's upper lid down by warping smeared the top of its iris
        # and eye white over the closed eye.
        self.closed, self.lash = shut_photo(self.image, self.landmarks)
        self.iris = iris_positions(self.image, self.landmarks)  # where the photo's eyes look
        # Where the photo is skin (its shadows, hair and glasses are not): the second, residual
        # pass of the relighting matches only there.
        # Both kept at the grid's own resolution (one cell per MAP_STEP source pixels, about the
        # frame's scale): sampled once per frame cell, small enough to stay in cache.
        self.cell_scale = 1.0 / MAP_STEP
        self.skin = skin.likelihood(cells_lab)
        # The photo averaged over cells, so sampling it once per frame cell is an average too.
        self.soft = cells.astype(np.float32)


class FaceSwap(EffectBase):
    """Draws the avatar photo's face onto the wearer's: the photo supplies the face (eyes, lids,
    brows, nose, mouth and skin), the wearer the motion and light. Blinks close the photo's own
    lids. ``own_eyes_mouth`` shows the wearer's own eyes and mouth interior instead (more of the
    wearer's look, less of the photo's identity)."""

    # Not "iris": where another effect (eye contact) has the face stage run the iris model, its lid
    # gaps (``Face.lids``) close the photo's lids and the swap runs no model of its own. Asking for
    # it always cost more than the swap's own readings (face stage +0.4 ms CPU median at 720p, swap
    # median unchanged). Tuning half, blink r median 0.853 with it against 0.782 without (0.823
    # once the mesh's open gap started at the first face, not measured together), but lp_d3's slow
    # closes were caught on 1 of 21 shut frames instead of 7: the face stage carries a lid between
    # its runs by the mesh, which barely moves on a slow close.
    needs = frozenset({"faces", "hands"})
    provides = frozenset({"altered"})

    def __init__(self, photo: AvatarPhoto, own_eyes_mouth: bool = False, photo_setting: str | None = None,
                 provider: str = "auto", threads: int = 1) -> None:
        self.source = _SourceFace(photo)
        self.lid_reading = WearerLids(provider, threads)
        self.own_eyes_mouth = own_eyes_mouth
        self.photo_setting = str(photo.path) if photo_setting is None else photo_setting
        self.reset()

    def reset(self) -> None:
        """A new or resumed source: start as if just switched on (no fade from a face of before)."""
        self._opacity = 0.0
        self._missed = 0  # frames since a face was last seen
        self._last: np.ndarray | None = None  # landmarks of the last face seen, for the fade-out
        self.forget_wearer()

    def forget_wearer(self) -> None:
        """Drop what was learned about the wearer (average face shape, usual lid gaps, gaze, whether
        they wear glasses): the next face may be somebody else, and one person's glasses or eye
        shape must not be drawn onto the next for the seconds these take to adapt."""
        self._lids = [0.0, 0.0]
        self._gaze: list[float | None] = [None, None]  # the wearer's irises along their eyes, smoothed
        self._frames = 0
        self._shape: np.ndarray | None = None  # the wearer's average canonical shape
        self.lid_reading.reset()
        self._glasses = GlassesKeeper()  # the wearer's glasses frames kept in front (avatar_keep)
        self._nose = NoseBase()  # whether their pose shows a dark nose base, read now and then

    def update(self, settings: AvatarSettings, *_reads) -> bool:
        """Take own-eyes-mouth in place (the fade and blink state stay); another photo or mode
        needs a rebuild (False)."""
        return _update_in_place(self, settings, "swap")

    def lid_weights(self, landmarks: np.ndarray, image: np.ndarray | None = None,
                    gaps: np.ndarray | None = None) -> list[float]:
        """Per eye, 0 while open to 1 when closed (:class:`WearerLids`): how far to close the photo's
        lids, or with ``own_eyes_mouth`` how much of the wearer's own lids to show."""
        return self.lid_reading.read(landmarks, image, gaps, BLINK_KEEP if self.own_eyes_mouth else LID_CLOSE)

    def target_opacity(self, landmarks: np.ndarray, pose: tuple[float, float, float]) -> float:
        yaw = abs(pose[0])
        lo, hi = YAW_FADE
        by_yaw = float(np.clip((hi - yaw) / (hi - lo), 0.0, 1.0))
        src = self.source
        folds = fold_share(src.areas, landmarks[src.points], src.triangles, src.fold_weight)
        lo, hi = FOLD_FADE
        by_folds = float(np.clip((hi - folds) / (hi - lo), 0.0, 1.0))
        return min(by_yaw, by_folds)

    def apply(self, image: np.ndarray, analysis: Analysis) -> tuple[np.ndarray, dict]:
        face = analysis.faces[0] if analysis.faces else None
        if face is not None and not (np.isfinite(face.landmarks).all() and np.isfinite(face.pose).all()):
            # Before any state takes it in: a NaN pose made the opacity NaN for good (drawn at full,
            # never faded, the wearer never forgotten). Raised, the frame is hidden; not faded, which
            # would show the wearer's face.
            raise ValueError("the face stage gave a face with points or a pose that are not numbers")
        first = self._last is None
        torn = False
        if face is not None:
            target = self.target_opacity(face.landmarks, face.pose)
            # Folded past FOLD_FADE facing the camera (a landmark fault, not a turn): the swap fades on
            # the last whole face. Drawn, the torn mesh spread shreds of the photo over the frame at up
            # to 200 ms a frame for the ~13 frames of the fade, and it entered the wearer's averages.
            torn = not first and target == 0.0 and abs(face.pose[0]) < YAW_FADE[0]
            if not torn:
                self._last = face.landmarks if self.own_eyes_mouth else self.photo_shape(face.landmarks)
                self._lids = self.lid_weights(face.landmarks, image, face.lids)
                self._frames += 1
                if not self.own_eyes_mouth and self._frames % GAZE_EVERY == 0:
                    self.follow_gaze(image, face.landmarks)
            self._missed = 0
        else:
            self._missed += 1
            target = self._opacity if self._missed <= MISS_HOLD else 0.0
        if first and face is not None:
            # The first face this swap sees (just switched on, face already in view): the user asked
            # for the change, so there is no pop to hide; fading in would show a half-swapped face.
            self._opacity = target
        self._opacity += FADE_RATE * (target - self._opacity)
        if target == 0.0 and self._opacity < 0.02:
            if self._opacity > 0.0 and face is None:
                self.forget_wearer()  # faded out with nobody in view: whoever comes next starts afresh
            self._opacity = 0.0
        if self._opacity <= 0.0 or self._last is None:
            return image, {"altered": False}
        out = self.render(image, self._last, self._opacity, self._lids, self.gaze_shift(),
                          face.landmarks if face is not None and not torn else None)
        # A hand raised to the face is the wearer's and passes in front of the photo's face.
        out = keep_in_front(out, image, analysis.hands)
        return out, {"altered": out is not image}

    def photo_shape(self, landmarks: np.ndarray) -> np.ndarray:
        """``landmarks`` moved towards the photo's face shape (see SHAPE_AMOUNT); the wearer's average
        shape is updated on the way."""
        if SHAPE_AMOUNT <= 0.0:
            return landmarks
        xy = landmarks[:, :2]
        if not np.isfinite(landmarks).all() or (xy.max(0) - xy.min(0)).min() < 1e-3:  # np.ptp, without its wrapping
            return landmarks  # a degenerate mesh (a model fault) has no shape, and must not enter the average
        now, back = canonical_shape(landmarks)
        self._shape = now if self._shape is None else self._shape + SHAPE_RATE * (now - self._shape)
        delta = self.source.shape - self._shape
        delta[_LIPS] = delta[_LIPS].mean(0)
        for eye in _EYE_SETS:
            delta[eye, 1] = delta[eye, 1].mean()
        out = landmarks.astype(np.float32).copy()
        out += (SHAPE_AMOUNT * self.source.shape_weight[:, None] * back(delta)).astype(np.float32)
        return out

    def follow_gaze(self, image: np.ndarray, landmarks: np.ndarray) -> None:
        """Track where the wearer's irises sit along their eyes (held while a lid is closing)."""
        for k, now in enumerate(iris_positions(image, landmarks)):
            if now is None or self._lids[k] > GAZE_HOLD:
                continue
            before = self._gaze[k]
            self._gaze[k] = now if before is None else before + GAZE_RATE * (now - before)

    def gaze_shift(self) -> tuple[float, float]:
        """Per eye, how far (in eye widths) to move the photo's iris so it sits where the wearer's does."""
        return tuple(float(np.clip(p - g, -GAZE_MAX, GAZE_MAX)) if p is not None and g is not None else 0.0
                     for p, g in zip(self.source.iris, self._gaze))

    def render(self, image: np.ndarray, landmarks: np.ndarray, opacity: float = 1.0,
               lids: list[float] | tuple[float, float] = (0.0, 0.0),
               gaze: tuple[float, float] = (0.0, 0.0), wearer: np.ndarray | None = None) -> np.ndarray:
        """``image`` with the photo's face warped onto ``landmarks`` at ``opacity``,
        its lids closed by ``lids`` and its irises moved by ``gaze`` (per eye, 0..1 and eye widths);
        ``image`` itself when the face is too small or off the frame. ``wearer`` (the wearer's own
        landmarks in ``image``) lends its mouth interior to an open mouth where the photo shows no
        teeth, and its glasses frames are put back in front (the one state kept: the per-clip
        glasses decision and mask of ``avatar_keep.GlassesKeeper``)."""
        h, w = image.shape[:2]
        fw = face_width(landmarks)
        if not fw < MAX_FACE * max(w, h):  # NaN too; raised, the frame is hidden (a torn mesh cost seconds)
            raise ValueError(f"a face {fw:.0f} pixels wide is no face a {w}x{h} camera sees (a torn mesh)")
        # Coarser cells for a face wider than FACE_CELLS * MAP_STEP: the cell-scale work (blurs, the
        # outline's erode and dilate, their kernels sized in face widths) then grows with the face's
        # area (a face 900 px wide at 720p took 52-66 ms against 8-13 ms at 250 px; 34-45 ms so).
        step = max(MAP_STEP, int(math.ceil(fw / FACE_CELLS)))
        grid = Grid.around(landmarks, BOX_MARGIN, (w, h), step)
        if grid is None:
            return image
        src = self.source
        cell_fw = fw / grid.step
        # A blink also narrows the eye in the warp: the shut texture blended in below holds no iris
        # or eye white, so the coarse map's interpolation across the narrowed opening finds none.
        target = landmarks if self.own_eyes_mouth else close_lids(landmarks, [LID_PUSH * v for v in lids])
        coarse = src.mesh.coarse(target[src.points], grid)
        # Pixels are worked on only where the face's alpha reaches (``part``: its cells grown by one,
        # ~0.9 of the box at 720p): the margin around the face is for the light's cells alone. In
        # the cell grown round it the upsampled alpha is 0 over the outer half cell, which is also
        # all the grain's 5-tap blur reads past the alpha, so every pixel that shows is as the whole
        # box's would be.
        points = cell_points(landmarks, grid)
        alpha_cells = face_alpha(landmarks, grid, opacity, fw, points)
        part = grid.part(alpha_cells)
        rows, cols = part.slices
        live = image[rows, cols]
        full_map = grid.up_map(coarse, part)
        if not self.own_eyes_mouth and any(gaze):
            move_irises(full_map, landmarks, part, src.landmarks, gaze, max(0.7, KEEP_FEATHER * fw))
        # The rest of a frame's work pushes the photo out of cache, and the remap reads it along the map
        # (720p, in the pipeline: remap 0.79 -> 0.50 ms, the read ahead 0.06 ms).
        read_ahead(src.image)
        warped, maps = remap_fixed(src.image, full_map)
        if not self.own_eyes_mouth:
            shut_eyes(warped, maps, src.closed, src.lash, landmarks, target, part, lids,
                      max(0.7, KEEP_FEATHER * fw), fw)
            # A photo that shows its teeth keeps them on their lips as the mouth opens wider; one
            # that shows none opens onto the wearer's own interior (drawn after the relighting,
            # in the frame's light already), not a painted dark one.
            # Only over INTERIOR_OPEN: parted lips at rest (lp_s18 0.04) hold no interior worth its
            # cost (~1 ms at 720p).
            lo, hi = INTERIOR_OPEN
            opened = 0.0 if wearer is None else float(np.clip((mouth_openness(wearer) - lo) / (hi - lo), 0.0, 1.0))
            # The weight (0..1) only where it counts: times 0 it is 0 (most frames).
            interior = 0.0 if opened == 0.0 else interior_weight(landmarks, wearer, src.mouth_open, src.teeth) * opened
            fill_mouth(warped, landmarks, part, src.mouth_open, src.teeth, interior)
            split_teeth(warped, (part.x0, part.y0), src.image, src.landmarks, landmarks, src.mouth_open, src.teeth)
        else:
            interior = 0.0
        shut_mouth(warped, landmarks, part, src.mouth_open)

        # Light, colour and occluders on the coarse grid.
        box_rows, box_cols = grid.slices
        cells = cv2.resize(image[box_rows, box_cols], (grid.cols, grid.rows), interpolation=cv2.INTER_AREA)
        cells_lab = light.lab(cells)
        sigma = light.LIGHT_SIGMA * cell_fw
        oval = oval_cells(landmarks, grid, points)
        inner, reach, outline = skin_cells(landmarks, grid, (-SKIN_INSET, SKIN_REACH, 0.0), fw, points, oval)
        skin = light.SkinModel(cells_lab, inner, sigma)
        # One skin score for both uses: the skin the light is matched on, and what is in front.
        is_skin, unoccluded = skin.likelihoods(cells_lab, light.SKIN_SCORE, light.OCCLUDER_SCORE)
        weights = reach * is_skin
        # The wearer's light at SHADE_SIGMA, coarser than the skin's: the photo keeps its own relief.
        live_low = light.wide_lowpass(cells, weights, light.SHADE_SIGMA * cell_fw)
        photo_low = cv2.remap(src.lowpass, coarse, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        # The photo keeps its own skin tone inside the face; the wearer lends the shading and the
        # scene's share of exposure and colour cast (``avatar_light.skin_tone``).
        inside = depth_inside(landmarks, grid, fw, oval)
        tone = light.tone_map(light.skin_tone(skin.median, src.skin_median), inside, light.TONE_DEPTH)
        gain, offset = light.shading_maps(live_low, photo_low, tone)
        # Second, finer pass near the outline: the first matched two low-passes taken over different
        # skin (the photo's jaw shadow or temple hair falls where the wearer has skin), which left a
        # colour step at the seam. Only where both are skin, so nothing is divided or pulled by hair.
        fine = RESIDUAL_SIGMA * sigma
        at_cells = coarse * np.float32(src.cell_scale) - np.float32(0.5 - 0.5 / MAP_STEP)
        photo_cells = cv2.remap(src.soft, at_cells, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        photo_skin = cv2.remap(src.skin, at_cells, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        live_cells = cells.astype(np.float32)
        toned = light.toned(live_cells, tone, skin.median)
        offset = light.match_residual(photo_cells, gain, offset, toned, weights * photo_skin,
                                      fine, border_weight(landmarks, grid, RESIDUAL_BORDER, inside=inside))
        # The border's low band continues the wearer's skin just outside the outline (jaw, neck,
        # ears, temples) into the face; above the brows the ring is the hairline, where only skin
        # at least about as light as the forehead's counts (hair passes a skin model fitted on a
        # pale face) and the band is narrower, so the brow band keeps the forehead's own light.
        axis = up_axis(landmarks, grid)
        lower = below_brows(landmarks, grid, fw, axis)
        sides = border_weight(landmarks, grid, *SEAM_BAND[::-1], inside=inside) * lower
        where = sides + border_weight(landmarks, grid, *SEAM_TOP[::-1], inside=inside) * (1.0 - lower)
        deep = sides + border_weight(landmarks, grid, *SEAM_TOP_SKIN[::-1], inside=inside) * (1.0 - lower)
        offset = light.match_border(photo_cells, gain, offset, live_cells, outline, reach - outline, weights,
                                    SEAM_SIGMA * cell_fw, where, MAX_SEAM, 1.0 - lower, deep)
        # Upsampled with their context cell (contiguous), read from ``at`` by the one fused pass. The
        # gain upsampled on its one channel (each channel of a three-channel one takes the same
        # values): the fused pass spreads it to the colours.
        gain_px, *at = grid.up_around(gain, part)
        # A quarter of the part box has alpha 0 (its corners round the oval): the face is relit only
        # over each row's alpha > 0 columns and the nose lift's crop (which it reads whole). A frame
        # that takes the wearer's mouth interior keeps the whole box.
        alpha_px = grid.up(alpha_cells, part)
        spans = None
        if interior == 0.0 and light.spans_fit(image):
            spans = row_spans(alpha_px, nose_box(landmarks, part, fw))
        if spans is None:
            face = light.relight_with_grain(warped, gain_px, grid.up_around(offset, part)[0], at, image,
                                            (part.x0, part.y0))
        else:
            face = light.relight_rows(warped, gain_px, grid.up_around(offset, part)[0], at, image, (part.x0, part.y0),
                                spans)
        self._nose.lift(face, live, landmarks, (part.x0, part.y0), fw)  # the wearer's pose decides the dark under the nose
        if interior > 0.0:
            transplant_mouth(face, (part.x0, part.y0), landmarks, image, wearer, interior, np.ones(3))

        alpha = alpha_cells
        in_front = (1.0 - unoccluded) * (outline * upper_face(landmarks, grid, axis))
        if in_front.max() > 0.05:
            # Glare on the wearer's lenses goes back only as far as their frames do (lens_glare).
            in_front[glare_cells(in_front, cells_lab[..., 0], skin.shading, landmarks, grid)] *= self._glasses.gate
        if in_front.max() > 0.05:
            in_front = cv2.GaussianBlur(cv2.dilate(in_front, np.ones((3, 3), np.uint8)), (0, 0), 0.7)
            alpha = cv2.multiply(alpha, 1.0 - in_front, dtype=cv2.CV_8U)
        alpha = alpha_px if alpha is alpha_cells else grid.up(alpha, part)
        if self.own_eyes_mouth:
            keep = [(lid_poly, weight) for (_, lid_poly, _), weight in zip(EYES, lids) if weight > 0.0]
            keep += [(poly, 1.0) for poly in KEEP_POLYS]
            # A closed mouth keeps the photo's lips whole: the wearer's lip line through them read as
            # a jagged light stripe. The wearer's interior shows as the mouth opens.
            lo, hi = MOUTH_KEEP
            mouth = float(np.clip((mouth_openness(landmarks) - lo) / (hi - lo), 0.0, 1.0))
            if mouth > 0.0:
                keep.append((regions.LIPS_INNER, mouth))
            alpha = cut_regions(alpha, landmarks, part, keep, max(0.7, KEEP_FEATHER * fw))
        out = image.copy()
        # The blend of ``compositing.composite``'s whole-frame path (the feathered edge is far more
        # than its band share), written straight into the output: no search for the band's pixels,
        # no copy of the box; one compiled pass where numba is there (the same values).
        if spans is None:
            light.blend_face(face, alpha, image, (part.x0, part.y0), out)
        else:  # alpha is 0 outside the spans (cut_regions and the occluders only lower it)
            light.blend_rows(face, alpha, image, (part.x0, part.y0), out, spans)
        if wearer is not None:
            # The wearer's glasses frames go back on top (the only state here: a per-clip glasses
            # decision and the mask smoothed across frames, see avatar_keep).
            self._glasses.keep(out, image, wearer)
        return out


def nose_box(landmarks: np.ndarray, part: Grid, fw: float) -> tuple[int, int, int, int]:
    """Within ``part``'s pixels, the box ``avatar_pose_shade.lift_nose_base`` reads the face in,
    and a pixel more for rounding."""
    _, (x0, y0, x1, y1) = avatar_pose_shade.nose_crop(landmarks, (part.x0, part.y0), fw)
    return x0 - 1, y0 - 1, x1 + 1, y1 + 1


class _LazyReader:
    """A LidReader built on first use: with the face stage's ``Face.lids`` it is never needed."""

    def __init__(self, provider: str, threads: int) -> None:
        self._args = (provider, threads)
        self._reader: LidReader | None = None

    def contours(self, image: np.ndarray, landmarks: np.ndarray, eyes=(0, 1)) -> list[np.ndarray]:
        if self._reader is None:
            self._reader = LidReader(*self._args)
        return self._reader.contours(image, landmarks, eyes)


class WearerLids:
    """How shut the wearer's lids are, per eye (0 open to 1 shut), as both avatars read them: on the
    picture's lids (the face stage's ``gaps``, ``Face.lids``, where it has them, else the iris
    model's lid contour read here, which closes on a blink where the mesh stops at 0.6-0.8 of
    open), read while the mesh's lid gap narrows against its usual open gap (rises fast, falls
    slowly); the mesh's gap alone where there is no picture to read or the reader has hung."""

    def __init__(self, provider: str, threads: int, refresh: int = 8) -> None:
        # Its own reader only for faces that come without ``lids`` (loaded on first use); read on
        # the frames between the gaze readings, so the two never land on one frame.
        self.closure = EyeClosure(_LazyReader(provider, threads), every=GAZE_EVERY, refresh=refresh)
        self._given_up = False  # the reader's model hung: the mesh's reading alone from now on
        self.reset()

    def reset(self) -> None:
        """Forget the wearer's usual lid gaps (the next face may be somebody else)."""
        self._open = [0.0, 0.0]
        self.closure.reset()

    def read(self, landmarks: np.ndarray, image: np.ndarray | None = None, gaps: np.ndarray | None = None,
             mesh_ramp: tuple[float, float] = LID_CLOSE) -> list[float]:
        """This frame's closure per eye; ``mesh_ramp`` (the mesh's gap over its usual open gap where
        an eye starts to close, and where it is shut) serves only the mesh's own reading."""
        ratios = []
        for k, (_, _, ends) in enumerate(EYES):
            gap = lid_gap(landmarks, *ends)
            # The first face starts the usual gap: from zero it took ~6 frames to rise, and a blink
            # then read as open (lp_s18's first blink, frames 6-8, went unread).
            ref = self._open[k] or gap
            ref += (0.3 if gap > ref else 0.01) * (gap - ref)
            self._open[k] = ref
            ratios.append(gap / max(ref, 1e-6))
        # Where the picture's lids are read they lead and the mesh only says when to read them: the
        # mesh's gap also narrows as a head turns or talks (lp_d12 in glasses: mesh at 0.4-0.7 of
        # open on open eyes, dlib's eye ratio above its median), and taking the more shut of the two
        # drew those open eyes shut. What they read on one eye only must not be contradicted by the
        # mesh (EyeClosure.mesh_agrees): behind glasses the iris model reads an open eye part-way shut.
        span = LID_CLOSE[0] - LID_CLOSE[1]
        if gaps is not None and np.isfinite(gaps).all() and min(gaps) > 0.0:
            # the face stage's reading of the picture's lids
            return EyeClosure.mesh_agrees(self.closure.from_gaps(gaps), ratios, span)
        if image is not None and not self._given_up:
            try:
                shut = self.closure.update(image, landmarks, min(ratios) < READ_LIDS)
                return EyeClosure.mesh_agrees(shut, ratios, span)
            except ModelHung:  # a refinement: the mesh alone closes the lids from now on (the guard said why)
                self._given_up = True
            except Exception as exc:  # noqa: BLE001 - NaN, a wrong shape, ORT raising: this frame, the mesh's reading
                # A refinement that failed must not cost the frame: raised, the whole swap was hidden on
                # every reading (every other frame of a blink) for as long as the model misbehaved.
                log.debug("reading the lids failed: %s", exc)
        lo, hi = mesh_ramp
        return [float(np.clip((lo - r) / (lo - hi), 0.0, 1.0)) for r in ratios]


def _update_in_place(effect, avatar: AvatarSettings, mode: str) -> bool:
    """The cheap avatar setting (own-eyes-mouth, the swap's) goes into ``effect``; False when the
    mode or the photo changed, which needs a rebuild."""
    if avatar.mode != mode or avatar.photo != effect.photo_setting:
        return False
    if isinstance(effect, FaceSwap):
        effect.own_eyes_mouth = bool(avatar.own_eyes_mouth)
    return True


_LIPS = np.array(sorted(set(regions.LIPS_OUTER) | set(regions.LIPS_INNER)))
_EYE_SETS = tuple(np.array(sorted(set(outline) | set(lids))) for outline, lids, _ in EYES)
_TO_CANONICAL = np.array([1.0, -1.0, -1.0])  # image axes (y down, z away) -> canonical (y up, z to camera)


def canonical_shape(landmarks: np.ndarray):
    """(468, 3) mesh points in the canonical face's frame (pose, position and scale taken out), and a
    function taking offsets in that frame back to the image's."""
    p = landmarks.astype(np.float64) * _TO_CANONICAL
    scale, r, c_src, c_dst = rigid_fit(p[POSE_INDICES], CANONICAL)
    shape = scale * (p - c_src) @ r.T + c_dst
    return shape, lambda d: (d @ r) / scale * _TO_CANONICAL


def shape_weights(layout: np.ndarray) -> np.ndarray:
    """Per mesh point (on the frontal ``layout``), how much of the photo's shape it takes: 0 on the
    outline, 1 from SHAPE_REACH of the face width inside it."""
    oval = layout[np.asarray(regions.FACE_OVAL)].astype(np.float32)
    width = float(np.ptp(oval[:, 0]))
    inside = np.array([cv2.pointPolygonTest(oval, (float(x), float(y)), True) for x, y in layout])
    return np.clip(inside / max(SHAPE_REACH * width, 1e-6), 0.0, 1.0)


def shown_weights(layout: np.ndarray, points: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Per triangle (of ``points`` on the frontal ``layout``), the face alpha at its centre: the
    outline pulled in by EDGE_INSET and feathered by FEATHER. A turned head's far cheek folds over
    at the silhouette (the wearer's mesh there faces away), under that feathered edge; only folds
    that show are the mesh tearing (lp_s32 at 20-27 degrees of yaw against a photo turned 12 the
    other way: 10-15 % of the face's area folded, almost all within 0.09 of the face width of the
    outline, which faded the whole swap out)."""
    oval = layout[np.asarray(regions.FACE_OVAL)].astype(np.float32)
    width = max(float(np.ptp(oval[:, 0])), 1e-6)
    centres = layout[points][triangles].mean(1)
    inside = np.array([cv2.pointPolygonTest(oval, (float(x), float(y)), True) for x, y in centres]) / width
    return np.array([0.5 * (1.0 + math.erf((d - EDGE_INSET) / (math.sqrt(2.0) * FEATHER))) for d in inside])


def close_lids(landmarks: np.ndarray, shut) -> np.ndarray:
    """``landmarks`` with each eye's lid margins pushed together by ``shut`` (per eye, 0 open to 1
    closed) and the ring above the upper margin following part of the way; the input itself when
    both eyes are open."""
    if max(shut) <= 0.0:
        return landmarks
    out = landmarks.copy()
    for pairs, ring, amount in zip(LID_PAIRS, LID_RINGS, shut):
        if amount <= 0.0:
            continue
        upper, lower = np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])
        gap = landmarks[lower, :2] - landmarks[upper, :2]
        out[upper, :2] += (amount * LID_MEET) * gap
        out[lower, :2] -= (amount * (1.0 - LID_MEET)) * gap
        out[np.asarray(ring), :2] += (amount * LID_MEET * LID_RING) * gap
    return out


def shut_photo(image: np.ndarray, landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``image`` (the photo at working size, mesh at ``landmarks``) with both eye openings filled
    with lid skin (its light colour, with the fine detail of the lid above carried down over it and
    the crease kept), and the colour of its lash line (BGR): a blink draws the lashes where the lids
    meet."""
    fw = face_width(landmarks)
    h, w = image.shape[:2]
    hole = np.zeros((h, w), np.uint8)
    for outline in KEEP_POLYS:
        cv2.fillPoly(hole, [np.round(landmarks[np.asarray(outline), :2]).astype(np.int32)], 255, cv2.LINE_AA)
    r = max(1, int(round(SHUT_GROW * fw)))
    hole = cv2.dilate(hole, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    # Filled only from the light skin around the opening: the lashes, the crease and the socket's
    # shadow there are dark, and a fill that took them in still read as an open eye (dlib's eye
    # ratio on the output stayed open on shut AOC frames).
    band = cv2.dilate(hole, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (6 * r + 1, 6 * r + 1))) > 0
    band &= hole == 0
    # Behind glasses the lightest pixels there are glare on the lens or a frame's highlight, not
    # skin: only pixels of the photo's own skin hue and not lit past the lid skin count (lid_skin).
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32)
    valid = 1.0 - hole.astype(np.float32) / 255
    if band.any():
        skin = lid_skin.LidSkin(image, landmarks, band, SHUT_SKIN)
        # Past the ring the fill's coarse levels reach the rest of the lens: its glare left out too.
        glare = skin.glare(image)
        valid *= 1.0 - glare
        valid[band] = skin.weights
        ref = skin.colour
    filled = pull_push(image.astype(np.float32), valid)
    alpha = cv2.GaussianBlur(hole, (0, 0), max(1.0, 0.5 * r)).astype(np.float32)[..., None] / 255
    out = filled * alpha + image.astype(np.float32) * (1.0 - alpha)
    # A shut lid is convex and catches the light; the crease and socket shadow above the open eye
    # (which a blink's warp pulls down over it) are lifted towards the lid's light skin, or dlib
    # took that shadow for the upper lid of an open eye.
    if band.any():
        lids = np.zeros((h, w), np.uint8)
        for _, outline, _ in EYES:
            cv2.fillPoly(lids, [np.round(landmarks[np.asarray(outline), :2]).astype(np.int32)], 255, cv2.LINE_AA)
        lids = cv2.GaussianBlur(cv2.max(lids, hole), (0, 0), max(1.0, r)).astype(np.float32) / 255
        ref_grey = float(np.dot(ref, (0.114, 0.587, 0.299)))
        now = cv2.cvtColor(np.clip(out, 0, 255).astype(np.uint8), cv2.COLOR_BGR2GRAY).astype(np.float32)
        # Towards the light skin's colour in proportion to how much darker a pixel is (a plain gain
        # made dark skin orange); the lid's own texture stays where it is already light.
        # Only the lid's low-pass is lifted: its fine detail (pores, the crease line) stays, so a shut
        # lid keeps the photo's own skin and crease instead of a flat patch.
        low = cv2.GaussianBlur(out, (0, 0), max(1.0, r))
        low_grey = cv2.GaussianBlur(now, (0, 0), max(1.0, r))
        lift = np.clip((ref_grey - low_grey) / max(SHADOW_LIFT * ref_grey, 1.0), 0.0, 1.0) * lids
        out += lift[..., None] * (ref - low)
        # The fill holds no texture: the lid skin's fine detail just above each opening is carried
        # down over it (clipped, so the open eye's lashes and crease are not brought along).
        # Glare on a lens has edges too: they are not the lid's texture.
        detail = grey - cv2.GaussianBlur(grey, (0, 0), 1.0)
        detail *= 1.0 - glare
        limit = LID_TEXTURE * ref_grey
        texture = np.zeros((h, w), np.float32)
        for outline in KEEP_POLYS:
            eye = np.zeros((h, w), np.uint8)
            cv2.fillPoly(eye, [np.round(landmarks[np.asarray(outline), :2]).astype(np.int32)], 255)
            eye = cv2.dilate(eye, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
            ys = np.nonzero(eye.any(1))[0]
            if len(ys) == 0:
                continue
            lift_by = float(ys[-1] - ys[0] + 1)
            moved = cv2.warpAffine(detail, np.float32([[1, 0, 0], [0, 1, lift_by]]), (w, h),
                                   borderMode=cv2.BORDER_CONSTANT)
            texture += np.clip(moved, -limit, limit) * (eye > 0)
        texture = cv2.GaussianBlur(texture, (0, 0), 0.5) * alpha[..., 0]
        out += texture[..., None]
    line = np.zeros((h, w), np.uint8)
    for pairs in LID_PAIRS:
        upper = landmarks[[p[0] for p in pairs], :2]
        lower = landmarks[[p[1] for p in pairs], :2]
        cv2.polylines(line, [np.round(np.vstack([upper, lower])).astype(np.int32)], True, 255, 2)
    margin = image[line > 0].reshape(-1, 3).astype(np.float32)
    if len(margin):
        # The lashes' own colour: the median colour of the darkest LASH_SHARE % of the margins by
        # grey, one colour the photo has (per-channel percentiles mixed channels of different pixels).
        g = margin @ np.float32([0.114, 0.587, 0.299])
        lash = np.median(margin[g <= np.percentile(g, LASH_SHARE)], axis=0)
    else:
        lash = np.zeros(3)
    return np.clip(out, 0, 255).astype(np.uint8), lash.astype(np.float32)


def move_irises(full_map: np.ndarray, landmarks: np.ndarray, grid: Grid, source: np.ndarray, gaze,
                feather: float) -> None:
    """Shift where ``full_map`` samples the photo inside each eye outline, in place, by ``gaze`` eye
    widths along the photo's own eye (``source`` holds its landmarks): its iris moves, its lids stay."""
    full = Grid(grid.x0, grid.y0, full_map.shape[1], full_map.shape[0], 1)
    for (outline, outer, inner), shift in zip(EYE_CORNERS, gaze):
        if shift == 0.0:
            continue
        poly = full.cell_polys(landmarks, outline)
        x0, y0 = np.maximum(poly.min(0) // 16 - 1, 0)
        x1, y1 = np.minimum(poly.max(0) // 16 + 2, (full_map.shape[1], full_map.shape[0]))
        if x1 - x0 < 2 or y1 - y0 < 2:
            continue
        mask = np.zeros((y1 - y0, x1 - x0), np.float32)
        cv2.fillPoly(mask, [poly - np.int32([x0 * 16, y0 * 16])], 1.0, cv2.LINE_AA, 4)
        mask = cv2.GaussianBlur(mask, (0, 0), feather)
        axis = (source[inner, :2] - source[outer, :2]).astype(np.float32) * np.float32(shift)
        # Per plane and in place (numpy's broadcast over the two channels costs twice this).
        region = full_map[y0:y1, x0:x1]
        cv2.add(region, cv2.merge([mask * axis[0], mask * axis[1]]), dst=region)


def shut_eyes(warped: np.ndarray, maps: tuple[np.ndarray, np.ndarray], closed: np.ndarray, lash: np.ndarray,
              landmarks: np.ndarray, target: np.ndarray, grid: Grid, shut, feather: float,
              fw: float | None = None) -> None:
    """Lower the photo's upper lids over its eyes in ``warped``, in place, by ``shut`` (per eye, 0
    open to 1 closed): above the falling lid edge the photo's shut lid skin (``closed``, sampled
    through the same full-resolution ``maps``) covers the eye, and the lashes (``lash``, BGR) run
    along that edge. ``target`` holds the lid points the warp was made for (pushed together)."""
    h, w = warped.shape[:2]
    fw = face_width(landmarks) if fw is None else fw
    pad = int(math.ceil(2 * feather)) + 2
    origin = np.float32([grid.x0, grid.y0])
    for (_, lids, _), pairs, corners, amount in zip(EYES, LID_PAIRS, LID_CORNERS, shut):
        if amount <= 0.0:
            continue
        upper = target[[p[0] for p in pairs], :2] - origin
        lower = target[[p[1] for p in pairs], :2] - origin
        # A falling lid covers the eye from the top: its edge moves from the wearer's own upper margin
        # (``landmarks``) to the pushed lower one, leaving about ``1 - amount`` of the opening. From
        # the pushed upper margin (``target``, already LID_PUSH * amount down) the closing counted
        # twice, (1 - amount)(1 - 0.7 amount) was left: a lid a third down left half the eye, and
        # dlib read it as shut as a full closure. (The photo avatar passes the same points twice.)
        edge = landmarks[[p[0] for p in pairs], :2] - origin
        edge = edge + amount * (lower - edge)
        ends = target[list(corners), :2] - origin
        edge = np.vstack([ends[0], edge, ends[1]])
        skin = edge + np.float32([0.0, amount * LID_OVER * fw])
        top = target[list(lids[:LID_TOP]), :2] - origin
        poly = np.vstack([top, skin[::-1]])
        # A lid part-way down covers only the opening and its lash line (LID_COVER): the crease
        # and socket shadow above it, which the shut texture lightens, carry the photo's identity
        # (dlib's identity fell on talking clips whose lid signal wavers). Only a nearly shut eye
        # takes the lightened lid up to the ring above it.
        opening = np.vstack([ends[0], upper - np.float32([0.0, LID_COVER * fw]), ends[1], skin[::-1]])
        whole = float(np.clip((amount - LID_WHOLE[0]) / (LID_WHOLE[1] - LID_WHOLE[0]), 0.0, 1.0))
        x0, y0 = np.maximum(np.floor(poly.min(0)).astype(int) - pad, 0)
        x1, y1 = np.minimum(np.ceil(poly.max(0)).astype(int) + pad + 1, (w, h))
        if x1 - x0 < 2 or y1 - y0 < 2:
            continue
        shift = np.float32([x0, y0])
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        if whole > 0.0:
            cv2.fillPoly(mask, [np.round((poly - shift) * 16).astype(np.int32)], int(round(255 * whole)), cv2.LINE_AA, 4)
        # Faded in over the first LID_FADE of a blink: the photo's own upper lashes give way to the
        # shut lid gradually, not in one step (a squint's first frame jumped).
        cv2.fillPoly(mask, [np.round((opening - shift) * 16).astype(np.int32)],
                     max(int(round(255 * whole)), int(round(255 * min(1.0, amount / LID_FADE)))), cv2.LINE_AA, 4)
        mask = light.blur8(mask, feather)
        lid = cv2.remap(closed, maps[0][y0:y1, x0:x1], maps[1][y0:y1, x0:x1], cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_REPLICATE)
        region = warped[y0:y1, x0:x1]
        blend(lid, region, mask, dst=region)
        # The lashes along the lid's edge, drawn in the frame (the photo's own lash line, warped
        # onto a narrowed eye, broke into steps): a thin soft line on the lid's curve, widest a third
        # of the way in from the outer corner and darkest there, fading towards the inner corner as
        # a real lash line does, with a faint shadow round it. They thicken as the lid closes.
        width = LASH_WIDTH * fw * (0.5 + 0.5 * amount)
        run = np.r_[0.0, np.cumsum(np.linalg.norm(np.diff(edge, axis=0), axis=1))]
        along = run / max(run[-1], 1e-6)  # 0 at the outer corner, 1 at the inner
        taper = width * np.sqrt(np.clip(np.sin(np.pi * along ** LASH_PEAK), 0.0, 1.0))[:, None]
        tangent = np.gradient(edge, axis=0)
        normal = np.stack([-tangent[:, 1], tangent[:, 0]], 1) / np.maximum(np.linalg.norm(tangent, axis=1), 1e-6)[:, None]
        normal *= np.sign(normal[:, 1:].mean() + 1e-9)  # pointing down the face
        upper_side = edge - 0.3 * taper * normal - shift
        lower_side = edge + 0.7 * taper * normal - shift
        strength = 1.0 - (1.0 - LASH_INNER) * along
        line = np.zeros_like(mask)
        for i in range(len(edge) - 1):
            quad = np.vstack([upper_side[i:i + 2], lower_side[i:i + 2][::-1]])
            value = int(round(255 * 0.5 * (strength[i] + strength[i + 1])))
            cv2.fillPoly(line, [np.round(quad * 16).astype(np.int32)], value, cv2.LINE_AA, 4)
        # Round them a soft shadow, and above them the lid's shading: a shut lid curves in towards
        # its lashes, so its skin darkens softly over the last LID_SHADE of its height, which the
        # photo's open lid (lit from the front) does not show. One blur for both: two cost about 1 ms
        # more a shut frame (thread time, 720p).
        soft = cv2.convertScaleAbs(line, alpha=LASH_SHADOW)
        rise = edge - shift - (LID_SHADE[1] * fw * amount) * normal
        shade = lid_skin.shade_opacity(warped, lid, mask, lower, lash, fw, LID_SHADE[0])
        if shade > 0.0:
            cv2.fillPoly(soft, [np.round(np.vstack([rise, (edge - shift)[::-1]]) * 16).astype(np.int32)],
                         int(round(255 * shade)), cv2.LINE_AA, 4)
        a = cv2.max(light.blur8(line, max(0.6, LASH_SOFT * width)), light.blur8(soft, max(1.0, 1.5 * width)))
        a = cv2.convertScaleAbs(a, alpha=LASH_STRENGTH * min(1.0, amount / LASH_FADE))
        dark = np.empty_like(region)
        dark[:] = np.clip(lash, 0, 255).astype(np.uint8)
        blend(dark, region, a, dst=region)


def face_alpha(landmarks: np.ndarray, grid: Grid, opacity: float, fw: float | None = None,
               points: np.ndarray | None = None) -> np.ndarray:
    """uint8 alpha on the grid's cells: the face oval pulled in and feathered. ``points``: the
    landmarks' ``cell_points`` where the caller has them."""
    cell_fw = (face_width(landmarks) if fw is None else fw) / grid.step
    alpha = np.zeros((grid.rows, grid.cols), np.uint8)
    poly = grid.cell_polys(landmarks, regions.FACE_OVAL) if points is None else points[_FACE_OVAL]
    cv2.fillPoly(alpha, [poly], 255, cv2.LINE_AA, 4)
    if not alpha.any():
        # An oval centred on the grid always marks cells: none marked is a raster fault, and the swap
        # would cover nothing while saying it swapped (the wearer's face left under the badge). One
        # centred off the grid (a face past the frame's border) legitimately covers nothing here.
        cx, cy = poly.reshape(-1, 2).mean(axis=0) / 16.0
        if 0.0 <= cx < grid.cols and 0.0 <= cy < grid.rows:
            raise ValueError("the face oval marked no cell of the grid it lies on")
    inset = max(1, int(round(EDGE_INSET * cell_fw)))
    alpha = cv2.erode(alpha, np.ones((2 * inset + 1, 2 * inset + 1), np.uint8))
    alpha = light.blur8(alpha, max(0.5, FEATHER * cell_fw))  # GaussianBlur's values, a third of its cost
    if opacity < 1.0:
        alpha = cv2.convertScaleAbs(alpha, alpha=opacity)
    return alpha


def border_weight(landmarks: np.ndarray, grid: Grid, width: float, full: float = 0.0,
                  inside: np.ndarray | None = None) -> np.ndarray:
    """float32 per cell: 1 outside the face outline and up to ``full`` inside it, falling linearly
    to 0 ``width`` inside it (fractions of the face width). ``inside``: ``depth_inside`` already
    worked out for this face and grid."""
    if inside is None:
        inside = depth_inside(landmarks, grid)
    return np.clip((width - inside) / (width - full), 0.0, 1.0)


def depth_inside(landmarks: np.ndarray, grid: Grid, fw: float | None = None,
                 oval: np.ndarray | None = None) -> np.ndarray:
    """float32 per cell: how far inside the face outline, as a fraction of the face width (0 outside).
    ``oval``: the landmarks' ``oval_cells`` where the caller has them."""
    oval = oval_cells(landmarks, grid) if oval is None else oval
    fw = face_width(landmarks) if fw is None else fw
    return cv2.distanceTransform(oval, cv2.DIST_L2, 3) * np.float32(grid.step / fw)


def cut_regions(alpha: np.ndarray, landmarks: np.ndarray, grid: Grid, polys, feather: float) -> np.ndarray:
    """``alpha`` (full resolution over the grid's box) with soft holes where ``polys`` are (the
    wearer's own eyes and mouth interior show). ``polys`` holds (outline indices, weight 0..1)
    pairs, painted in order."""
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
            keep[y0:y1, x0:x1] = light.blur8(sub, feather)
    return cv2.multiply(alpha, cv2.bitwise_not(keep), scale=1 / 255)


# ---------------------------------------------------------------- photo avatar

# Inner-lip points facing each other, lower then upper: a driven mouth that closes more than the
# portrait's own would push the lower lip through the upper one and fold the mesh.
_LOWER_INNER = np.array([95, 88, 178, 87, 14, 317, 402, 318, 324])
_UPPER_INNER = np.array([191, 80, 81, 82, 13, 312, 311, 310, 415])


def close_lips(face: np.ndarray) -> None:
    """Where a lower inner-lip point has moved above its upper partner (along the face's own up
    axis), put both at their midpoint, in place: lips meet, they never cross."""
    up = face[10, :2] - face[152, :2]
    up = up / max(float(np.linalg.norm(up)), 1e-6)
    lower, upper = face[_LOWER_INNER, :2], face[_UPPER_INNER, :2]
    crossed = (upper - lower) @ up < 0
    if crossed.any():
        mid = (lower[crossed] + upper[crossed]) / 2
        face[_LOWER_INNER[crossed], :2] = mid
        face[_UPPER_INNER[crossed], :2] = mid


MAX_TURN = 25.0  # degrees of head rotation passed on to the portrait (a flat photo has no far side)
SCALE_LIMITS = (0.8, 1.25)  # leaning in and out, relative to the neutral pose
REST_RATE = 0.12  # per frame without a face: the portrait relaxes back to its own pose
# Face widths a head may travel sideways or down over a torso that cannot be followed, beyond what
# its turn, nod or tilt about the neck's top explains (torso_motion.carried), before the body goes
# along (the wearer slides, slumps): within it the body stays still. A neck moves a level head that
# far (lp_d12 ducks his 0.3 down, head level, while his tracked shirt stays within 0.06); shorter
# reaches took the body along with ordinary turns. Leaving the rotation out scores the same on the
# tuning half (lp_d20's clothes 0.5289 without it, 0.5283 with): it keeps the body still under a
# head tilted or turned past the reach (tests/test_avatar.py), which no untracked tuning clip does.
NECK_REACH = 0.25
# Face widths a neck lifts a level head by before the body goes along (the wearer sits up, stands):
# hardly any. The tuning clips whose body stays lift the head by at most 0.04 (lp_d18); lp_d20 sits
# up 0.67 with his head level, and a body that stayed within the reach above lagged him (tuning
# half, clothes SSIM 0.4956); 0.1: 0.5283 (0.05: 0.5339, near those clips' 0.04; face boxes within
# 0.004).
NECK_LIFT = 0.1
# Face widths the wearer's own motion round the head may take a head-ring point off the rigid
# head's (:meth:`PhotoAvatar.follow_surround`): a bound on what a mismatch between the wearer's
# surroundings and the portrait's can do. Tuning half, face-box SSIM lp_d12 / lp_d20 / lp_s18 /
# lp_d3: 0.7703 / 0.8257 / 0.8040 / 0.7865 rigid; 0.08: 0.7956 / 0.8297 / 0.8316 / 0.7916; 0.15:
# 0.8005 / 0.8297 / 0.8315 / 0.7907; 0.3: 0.8009 / 0.8297 / 0.8315 / 0.7906.
SURROUND_REACH = 0.15


def person_mask(picture: np.ndarray, provider: str = "auto", threads: int = 1) -> np.ndarray:
    """uint8 person mask of a still picture (255 = person), from the general selfie model with the
    picture's own edges snapping it (guided filter at up to 512 px)."""
    from livecam.analysis.segmenter import Segmenter
    from livecam.analysis.temporal import guided_filter

    prob = Segmenter("general", provider, threads).predict(picture)
    h, w = picture.shape[:2]
    k = min(1.0, 512 / max(h, w))
    size = (max(1, int(w * k)), max(1, int(h * k)))
    guide = cv2.cvtColor(cv2.resize(picture, size, interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY)
    prob = cv2.resize(prob, size, interpolation=cv2.INTER_LINEAR)
    refined = guided_filter(guide.astype(np.float32) / 255, prob.astype(np.float32), 4, 1e-3)
    return cv2.resize(cv2.convertScaleAbs(np.clip(refined, 0, 1), alpha=255), (w, h), interpolation=cv2.INTER_LINEAR)


class PhotoAvatar(EffectBase):
    """Replaces the wearer with a portrait that follows their head motion and expression.

    The first frame with a face is the neutral pose (``recapture()`` takes the next one again); each
    frame the wearer's motion since then (a 3-D similarity fitted on the mesh's rigid points:
    translation, scale and rotation) and expression (what is left, in the neutral's frame) move the
    portrait's own landmarks. The frame shows only the portrait; its person mask goes out as
    ``mask`` so the background effect that runs next composes it over the chosen background, and
    ``small``/``small_mask`` are the still portrait and its mask at the segmenter's size where it
    ran, else at the blur's own.

    A blink lowers the portrait's own lids (the swap's shut lid and lashes, :func:`shut_eyes`, over
    a shut copy of the portrait made once), read from the picture of the wearer's lids as the swap
    reads them. Its irises stay where the photo has them: moving them to the wearer's reading
    (``eye_look.iris_positions``) lowered the eyes' SSIM on the tuning half (lp_s18 0.878 -> 0.843)."""

    needs = frozenset({"faces"})
    provides = frozenset({"mask", "altered", "small", "small_mask"})
    # Lid closure (0..1, :meth:`lid_weights`) from which the portrait's own shut lid comes down,
    # fully at 1. Tuning half (the head placed by the unfiltered points), eyes-region SSIM / dlib
    # blink r on lp_d12, lp_d3, lp_s18: from 0, 0.682 / 0.676 / 0.883 and 0.55 / 0.76 / 0.92; from
    # 0.3, 0.686 / 0.677 / 0.884 and 0.48 / 0.72 / 0.89; from 0.5, 0.687 / 0.670 / 0.884 and 0.42 /
    # 0.72 / 0.85 (no lids, the placement alone: 0.688 / 0.644 / 0.884 and 0.44 / 0.77 / 0.56).
    LID_START = 0.3
    # Frames between readings of the lids while the mesh sees none narrowing (they keep each eye's
    # usual open gap current). A reading is the iris model on both eyes, ~1 ms: the swap's 8 cost
    # 0.12 ms a frame on average, once a second 0.03, with the same tuning-half eyes SSIM (lp_d12 /
    # lp_d3 / lp_s18: 0.685 / 0.675 / 0.884 against 0.685 / 0.676 / 0.884) and no lower blink r.
    LID_REFRESH = 30
    # A mesh with a point further than this many face widths from where a rigid fit of its pose points
    # onto the portrait's own mesh puts it is torn (a landmark fault), not a face: it is taken as no
    # face (the portrait relaxes from the last whole one). Real faces reach 0.27 at most against six
    # tuning photos on every frame of the six tuning-side clips (an open mouth, a turn, another
    # person's shape); drawn, a torn mesh spread the mouth and lid work over the whole stage (up to
    # ~100 ms a 720p frame).
    TEAR = 0.6

    def __init__(self, photo: AvatarPhoto, mask: np.ndarray | None = None, provider: str = "auto",
                 threads: int = 1, photo_setting: str | None = None, wearer_mouth: bool = True) -> None:
        self.photo = photo
        self.wearer_mouth = wearer_mouth
        self.photo_setting = str(photo.path) if photo_setting is None else photo_setting
        self._mask = person_mask(photo.image, provider, threads) if mask is None else mask
        # Built once per photo (here, off the processing thread); a stage only places them.
        self._plate = clean_plate(photo.image, self._mask)
        self._points = warp_points(frontal_layout(photo.landmarks), WARP_POINTS, OUTLINES)
        # The mesh the portrait is warped by, kept on its own face (a turned photo's far-side mesh
        # reaches over its hair, which a turn back stretched into the cheek), and a copy of the
        # portrait with the band inside its outline filled with skin, for where a turn stretches it.
        self._landmarks = on_face(photo.landmarks, photo.image.shape, self._mask)
        self._filled = skin_filled(photo.image, self._landmarks, self._mask)
        self._filled_stage: np.ndarray | None = None  # laid out as the stage's portrait
        self._stretch: Stretch | None = None
        self._silhouette: Silhouette | None = None  # made with each stage (photo_turn)
        self._stage: Stage | None = None
        self._neutral: np.ndarray | None = None
        self._torso = TorsoMotion()
        self._placement = HeadPlacement()
        self._surround = SurroundFlow()  # the wearer's own motion round the head, for the head ring
        self._offset: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # mesh, ring, shift from rest
        # The wearer's blinks lower the portrait's own lids: the portrait with its eyes shut (made
        # once, as the swap's photo is) and the lids' reader (loaded on first use, only for faces
        # that come without the face stage's ``lids``).
        self._closed, self._lash = self.shut_portrait(photo.image, photo.landmarks)
        self.lid_reading = WearerLids(provider, threads, refresh=self.LID_REFRESH)
        self._shape = photo.landmarks.astype(np.float64)  # what a whole face's mesh is measured against (:meth:`whole`)

    @staticmethod
    def shut_portrait(image: np.ndarray, landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``image`` with its eyes shut and the colour of its lashes (:func:`shut_photo`), worked on
        the box round the eyes only (a portrait is often a whole frame or more)."""
        fw = face_width(landmarks)
        eyes = landmarks[np.r_[RIGHT_LIDS, LEFT_LIDS, regions.RIGHT_BROW, regions.LEFT_BROW], :2]
        h, w = image.shape[:2]
        x0, y0 = np.maximum(np.floor(eyes.min(0) - 0.3 * fw).astype(int), 0)
        x1, y1 = np.minimum(np.ceil(eyes.max(0) + 0.3 * fw).astype(int) + 1, (w, h))
        closed = image.copy()
        if x1 - x0 < 8 or y1 - y0 < 8:
            return closed, np.zeros(3, np.float32)
        local = landmarks.astype(np.float32).copy()
        local[:, :2] -= (x0, y0)
        closed[y0:y1, x0:x1], lash = shut_photo(np.ascontiguousarray(image[y0:y1, x0:x1]), local)
        return closed, lash

    def whole(self, landmarks: np.ndarray) -> bool:
        """Whether the wearer's mesh ``landmarks`` is a face, not a torn mesh: every point within
        ``TEAR`` face widths of where the portrait's own mesh, fitted rigidly on the pose points, puts
        it (whatever the two people's shapes and the expression, a real face stays well inside)."""
        w = np.asarray(landmarks, np.float64)
        with np.errstate(all="ignore"):
            s, r, cn, cw = rigid_fit(self._shape[POSE_INDICES], w[POSE_INDICES])
            off = ((w - cw) @ r) / s + cn - self._shape
            far = float(np.max(np.einsum("ij,ij->i", off[:, :2], off[:, :2])))
        return far <= (self.TEAR * face_width(self._shape)) ** 2  # NaN (a collapsed fit) is torn too

    def update(self, settings: AvatarSettings, *_reads) -> bool:
        """Nothing to take in place (own-eyes-mouth is the swap's; the neutral pose and the fitted
        portrait stay); another photo or mode needs a rebuild (False)."""
        return _update_in_place(self, settings, "animate")

    def reset(self) -> None:
        """A new or resumed source: the wearer's usual lid gaps and the head's smoothing start
        afresh (the next face may be somebody else); the neutral pose stays (``recapture`` takes a
        new one), and with it the neutral frame the flow round the head is measured against (a
        wrong one moves the head ring by at most ``SURROUND_REACH``)."""
        self.lid_reading.reset()
        self._placement.restart()

    def recapture(self) -> None:
        """Take the wearer's next face as the new neutral pose."""
        self._neutral = None
        self._torso.reset()
        self._placement.reset()
        self.lid_reading.reset()

    def stage_for(self, size: tuple[int, int], wearer: np.ndarray | None = None) -> Stage:
        """The stage for frames of ``size``. A new neutral pose (``wearer``'s landmarks while none is
        held) lays the portrait out again in the wearer's framing."""
        target = face_frame(wearer) if wearer is not None and self._neutral is None else None
        if self._stage is None or self._stage.size != size or target is not None:
            if target is None and self._stage is not None and self._stage.size == size:
                target = self._stage.target
            self._stage = Stage(self.photo.image, self._landmarks, self._mask, self._plate, size,
                                self._points, target, self._closed)
            self._offset = None
            self._filled_stage = self._stage.lay_out(self._filled)
            self._stretch = Stretch(self._stage.rest[:len(self._points)], self._stage.triangles[self._stage.face_only],
                                    np.searchsorted(self._points, regions.FACE_OVAL), self._stage.face_width)
            self._silhouette = Silhouette(self._stage.landmarks, self._points, self._stage.ring, self._stage.ring_head)
        return self._stage

    def driven_points(self, stage: Stage, landmarks: np.ndarray, torso: np.ndarray | None = None,
                      raw: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The portrait's mesh and head ring moved by the wearer's motion and expression since
        neutral, and the shifts ((head x, y), (body x, y)) for the rest of the portrait; the body's
        comes from the wearer's ``torso`` shift (frame pixels) where it could be measured. With
        ``raw`` (the mesh before the face stage's jitter filter) the head's position is read from
        this frame's picture (:class:`HeadPlacement`), not from the filtered points that trail a
        moving head."""
        if self._neutral is None:
            self._neutral = landmarks.astype(np.float64).copy()
            self._placement.reset()
            self._surround.reset()
            torso = None
        n, w = self._neutral, landmarks.astype(np.float64)
        s, r, cn, cw = rigid_fit(n[POSE_INDICES], w[POSE_INDICES])
        turn, centre = r, cn  # the head's own rotation about its neck, before the cap below
        aligned = ((w - cw) @ r) / s + cn  # the wearer brought back into the neutral's frame
        closing = mouth_openness(n) - mouth_openness(aligned)
        if closing > stage.mouth_open + 0.01:
            # A neutral caught mid-word, on a photo with closed lips, would push later closed lips
            # through each other: the neutral mouth moves towards the most closed one seen, just
            # far enough that closing fully closes the portrait's mouth.
            lower = n[:, 1] > n[2, 1]  # below the base of the nose
            t = stage.mouth_open / closing
            n[lower] = aligned[lower] + t * (n[lower] - aligned[lower])
        expression = aligned - n
        if raw is not None:
            cn, cw = self._placement(raw)
        rvec = cv2.Rodrigues(r)[0]
        angle = float(np.linalg.norm(rvec))
        if angle > math.radians(MAX_TURN):  # beyond it the mesh folds over itself (nose over cheek)
            r = cv2.Rodrigues(rvec * (math.radians(MAX_TURN) / angle))[0]
        k = stage.face_width / max(face_width(n), 1e-6)
        s = float(np.clip(s, *SCALE_LIMITS))
        shift = (cw - cn) * k
        shift[2] = 0.0
        # Where the torso cannot be followed, a head that turns or nods moves alone: the travel its
        # rotation about the neck's top explains, and a neck's reach more, leave the body still; a
        # head that travels further (the wearer sits up, stands, slides) takes the body along.
        if torso is None:
            fw = face_width(n)
            body = carried(cw - cn, turn, centre, neck_top(n), (-NECK_REACH * fw, -NECK_LIFT * fw),
                           (NECK_REACH * fw, NECK_REACH * fw)) * k
        else:
            body = np.asarray(torso, np.float64)[:2] * k
        c = stage.centre
        face = c + s * ((stage.landmarks - c + k * expression) @ r.T)
        ring = c + s * ((stage.ring - c) @ r.T)
        shift *= stage.shift_share(face, ring, shift, body)
        face += shift
        ring = stage.neck_ring(ring + shift, body)
        close_lips(face)
        return face.astype(np.float32), ring.astype(np.float32), np.stack([shift[:2], body]).astype(np.float32)

    def apply(self, image: np.ndarray, analysis: Analysis) -> tuple[np.ndarray, dict]:
        h, w = image.shape[:2]
        faces = [f for f in analysis.faces[:1] if np.isfinite(f.landmarks).all()
                 and (f.raw_landmarks is None or np.isfinite(f.raw_landmarks).all()) and self.whole(f.landmarks)]
        # A face with points that are not numbers is no face: taken in, it became the neutral pose or
        # the head placement's state, and every later frame raised (hidden for good). Nor is a torn
        # mesh (:meth:`whole`): the portrait relaxes from the last whole face as when none is found.
        wearer = faces[0].landmarks if faces else None
        stage = self.stage_for((w, h), wearer)
        if wearer is not None:
            face, ring, shift = self.driven_points(stage, wearer, self._torso.update(image, wearer),
                                                   faces[0].raw_landmarks)
            ring = self.follow_surround(stage, image, ring)
            # A turn must not fold the far side's outline behind its cheek nor the ring under it.
            face, ring = self._silhouette(face, ring)
            self._offset = (face - stage.landmarks, ring - stage.ring, shift)
        elif self._offset is not None:
            self._placement.restart()  # a face that comes back starts from where it is
            self._offset = tuple(o * np.float32(1.0 - REST_RATE) for o in self._offset)
            face, ring, shift = stage.landmarks + self._offset[0], stage.ring + self._offset[1], self._offset[2]
            if max(np.abs(o[:, :2]).max() for o in self._offset[:2]) < 0.2:
                self._offset = None  # at rest: the still canvas, no warp
        else:
            face = ring = shift = None
        if face is None:
            out, mask = stage.canvas.copy(), stage.mask.copy()
        else:
            out, mask = self.render(stage, face, ring, image, wearer, shift, faces[0].lids if faces else None)
        # The blur takes its background from the portrait at rest, shrunk once (at the segmenter's
        # size where it ran, else the blur's own): the moving head is cut out by the full-size mask
        # anyway, and the same small picture every frame lets the blur be made once, not per frame.
        small = (analysis.small.shape[1], analysis.small.shape[0]) if analysis.small is not None \
            else (max(1, w // BLUR_SCALE), max(1, h // BLUR_SCALE))
        outputs = {"mask": mask, "altered": True}
        outputs["small"], outputs["small_mask"] = stage.small(small)
        return out, outputs

    def follow_surround(self, stage: Stage, image: np.ndarray, ring: np.ndarray) -> np.ndarray:
        """The head ring ``ring`` (rows as ``stage.ring``, moved rigidly with the head) taken to where
        the wearer's own picture at those places has gone since the neutral frame
        (:class:`SurroundFlow`, guessed to have gone where the rigid ring went), by at most
        ``SURROUND_REACH`` face widths a point. The stage laid the portrait's face over the wearer's
        neutral one, so its rest ring marks the same places round the wearer's head. Only ring
        points on the portrait's person (hair, ears, neck) follow: elsewhere the ring carries the
        clear part of the person layer, and moving it with the head keeps the hair's edge moving
        with the head."""
        sx, sy, sh = face_frame(stage.landmarks)
        wx, wy, wh = face_frame(self._neutral)
        k = sh / max(wh, 1e-6)
        # The flow's crop goes where the rigid ring went, on average, not where the face's centre
        # went: on a turn the ring, behind the face, moves less than the face (the near side's hair
        # and the wall beside it hardly move), and reading it in a crop moved with the face left the
        # flow to find the whole difference; over a plain wall DIS found only part of it, and the
        # near side's hair was taken in towards the far side (lp_d3 frames 18-29, 0.1 face widths).
        # Tuning half, face-box SSIM lp_d12 / lp_d20 / lp_d3 / lp_s18 / lp_d19 / lp_d18: the face's
        # shift 0.8000 / 0.8296 / 0.7937 / 0.8375 / 0.8683 / 0.8576, the ring's 0.8000 / 0.8297 /
        # 0.7976 / 0.8370 / 0.8684 / 0.8585 (lp_d3 frames 18-29 0.734 -> 0.751). A head that only
        # slides moves both alike. The ring so read stays with her neck and hair as her jaw turns
        # over them, so every ring point is kept outside the outline (``photo_turn.Silhouette``).
        guess = (ring[:, :2] - stage.ring[:, :2]).mean(0) / k
        moved = self._surround(image, (stage.ring[:, :2] - (sx, sy)) / k + (wx, wy), guess)
        if moved is None:
            return ring
        off = stage.ring[:, :2] + moved * k - ring[:, :2]
        reach = SURROUND_REACH * stage.face_width
        off *= np.minimum(1.0, reach / np.maximum(np.linalg.norm(off, axis=1, keepdims=True), 1e-6))
        # Under the chin a point never moves towards the head: where another person's collar sits
        # closer under the jaw than the wearer's, the jaw folded over it and tore the collar into
        # a jagged edge (Obama's portrait on lp_d12, frames 48 and 88). Tuning half, face-box SSIM
        # lp_d12 / lp_d20 / lp_s18 / lp_d3: 0.8007 / 0.8294 / 0.8318 / 0.7925 unlimited, 0.7948 /
        # 0.8272 / 0.8322 / 0.7925 so; no point under the chin following at all, 0.7866 / 0.8266 /
        # 0.8274 / 0.7925.
        out_dir = ring[:, :2] - ring[:, :2].mean(0)
        out_dir /= np.maximum(np.linalg.norm(out_dir, axis=1, keepdims=True), 1e-6)
        inward = np.minimum((off * out_dir).sum(1), 0.0) * (stage.ring_head < 1.0)
        off -= inward[:, None] * out_dir
        out = ring.copy()
        out[:, :2] += stage.ring_person[:, None] * off
        return out

    def fill_far_side(self, stage: Stage, region: np.ndarray, maps: tuple[np.ndarray, np.ndarray],
                      face: np.ndarray) -> None:
        """Where this frame's warp stretches the face far past its size in the portrait (the far
        cheek of a portrait turned away, as the wearer turns the other way; ``face`` the mesh this
        frame), ``region`` (the frame over the stage's grid, drawn through ``maps``) shows the
        portrait's skin-filled copy (:mod:`photo_fill`), not its edge band stretched into streaks."""
        if self._stretch is None or self._filled_stage is None:
            return
        grid = stage.grid
        hit = self._stretch.weight(face[self._points],
                                   (grid.x0, grid.y0, grid.x0 + region.shape[1], grid.y0 + region.shape[0]))
        if hit is None:
            return
        (rows, cols), weight = hit
        rows, cols = slice(rows.start - grid.y0, rows.stop - grid.y0), slice(cols.start - grid.x0, cols.stop - grid.x0)
        copy = cv2.remap(self._filled_stage, maps[0][rows, cols], maps[1][rows, cols], cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REPLICATE)
        region[rows, cols] = blend(copy, region[rows, cols], weight)

    def shut_lids(self, image: np.ndarray, wearer: np.ndarray, gaps: np.ndarray | None = None) -> list[float]:
        """Per eye, how far (0..1) to lower the portrait's own lids this frame. The portrait's lid
        points already follow the wearer's as part of the expression, which shows a squint or a
        downward look; the shut lid is drawn only over the part of a closure beyond LID_START, which
        the mesh cannot show (lp_d12 looking down through glasses read 0.4-0.5 and was drawn shut)."""
        closure = self.lid_reading.read(wearer, image, gaps)
        return [float(np.clip((v - self.LID_START) / (1.0 - self.LID_START), 0.0, 1.0)) for v in closure]

    def render(self, stage: Stage, face: np.ndarray, ring: np.ndarray, image: np.ndarray | None = None,
               wearer: np.ndarray | None = None, shift: np.ndarray | None = None,
               gaps: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The frame and person mask with the portrait's mesh at ``face`` and its head ring at
        ``ring`` (the head shifted by ``shift``); with the wearer's ``image`` and landmarks, the
        portrait's own lids close as the wearer's do (``gaps``: the face stage's lid reading, when
        it has one) and their mouth interior fills an open mouth."""
        seen = wearer is not None and image is not None
        lids = self.shut_lids(image, wearer, gaps) if seen and stage.closed is not None else [0.0, 0.0]
        # The lid points are not pushed together as the swap's are (LID_PUSH): the portrait's already
        # follow the wearer's, and pushing them further cost (tuning half, lp_d12 / lp_d3 / lp_s18,
        # eyes-region SSIM 0.6855 / 0.6768 / 0.8841 and blink r 0.48 / 0.72 / 0.89 unpushed, against
        # 0.6848 / 0.6750 / 0.8840 and 0.50 / 0.65 / 0.89 with the swap's 0.7).
        full = stage.warp_map(face, ring, shift)
        if full is None:
            return stage.canvas.copy(), stage.mask.copy()
        grid = stage.grid
        out, mask, maps = stage.draw(full)
        rows, cols = grid.slices
        region = out[rows, cols]
        self.fill_far_side(stage, region, maps, face)
        if max(lids) > 0.0:
            shut_eyes(region, maps, stage.closed, self._lash, face, face, grid, lids,
                      max(0.7, KEEP_FEATHER * face_width(face)))
        theirs = seen and self.wearer_mouth
        weight = interior_weight(face, wearer, stage.mouth_open, stage.teeth) if theirs else 0.0
        fill_mouth(region, face, grid, stage.mouth_open, stage.teeth, weight)
        split_teeth(region, (grid.x0, grid.y0), stage.canvas, stage.landmarks, face, stage.mouth_open, stage.teeth)
        shut_mouth(region, face, grid, stage.mouth_open)
        if weight > 0.0:
            skin = skin_near_mouth(image, wearer)
            gain = mouth_gain(stage.mouth_skin, skin) if skin is not None and stage.mouth_skin is not None \
                else np.ones(3)
            transplant_mouth(region, (grid.x0, grid.y0), face, image, wearer, weight, gain)
        return out, mask


# ---------------------------------------------------------------- builder


def build_avatar(settings, runtime=None):
    """The face swap or photo avatar for ``settings`` (AvatarSettings; ``runtime``: RuntimeSettings
    for the photo's ONNX sessions), or AvatarPhotoError with one plain sentence. May run off the
    processing thread: it touches no shared state but the photo-fit cache."""
    if settings.mode == "off":
        return None
    provider = getattr(runtime, "provider", "auto")
    threads = getattr(runtime, "threads", 1)
    photo = load_avatar_photo(settings.photo, provider=provider, threads=threads)
    if settings.mode == "swap":
        effect = FaceSwap(photo, own_eyes_mouth=settings.own_eyes_mouth, photo_setting=settings.photo,
                          provider=provider, threads=threads)
    else:
        effect = PhotoAvatar(photo, provider=provider, threads=threads, photo_setting=settings.photo)
    return effect


__all__ = [
    "AvatarPhotoError",
    "FaceSwap",
    "PhotoAvatar",
    "build_avatar",
    "eye_openness",
    "face_width",
    "mouth_openness",
]
