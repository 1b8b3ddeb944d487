"""Eye contact: while the wearer looks at the screen, their eyes turn to meet the camera.

Gaze comes from the face mesh and the iris model (``needs`` "iris"): each eyeball's centre sits
behind the middle of its two corners (along the head's forward axis, from the mesh's 3-D pose), and
the iris centre lies one eyeball radius from it along the gaze, so under the webcam's near-orthographic
view the iris's offset from the eyeball centre, over that radius, is the sine of the gaze's angle to
the camera. Looking into the lens puts the iris centre on the eyeball centre.

The correction moves each iris, and the eyeball around it, by the offset that takes the (slowly
smoothed) gaze onto the lens, inside the eye's opening only: a backward ``remap`` whose displacement
is the full shift on the iris and fades to nothing over the white of the eye. Samples that would come
from beyond the lids are taken from the nearest point inside the opening in the same column (the
white of the eye stretches), and content pushed past a lid goes under it, as a real eye rotating does.
The lids, the lash line and everything outside the opening stay the wearer's, pixel for pixel.

Because the shift follows the gaze only slowly, the small quick movements of the eyes still show; the
correction fades out smoothly (and back in) when the gaze leaves the cone around the screen, the head
turns past about 25°, or the lids close, so blinks are the wearer's own and nothing stares.

Cost: two small eye patches (about 1.5x the eye's width) per face; the iris model's two crops run in
the face stage when this effect is on.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from livecam.analysis import face_regions as regions
from livecam.analysis.face_measures import lid_gap
from livecam.analysis.head_pose import rotation_matrix
from livecam.effects import AvatarSettings, EyeContactSettings
from livecam.effects.base import NO_OUTPUTS, EffectBase, Outputs
from livecam.types import Analysis

# Eye geometry in eye widths (corner to corner, ~30 mm): the iris centre is ~11 mm from the eyeball's
# centre of rotation, which sits ~6 mm behind the corners' midpoint.
IRIS_RADIUS_OF_ROTATION = 0.37
EYEBALL_DEPTH = 0.2
# Where the iris centre sits, relative to the corners' midpoint, when the eye looks along the head's
# forward axis: a little above the corner line (in eye widths, image y down). Set so that the median
# gaze on the shared talking-head clips, where people mostly look into the lens, is the lens.
IRIS_REST_Y = -0.03

# The cone of "looking at the screen", degrees from the lens: (up, down, to the side) with the camera
# above the screen; mirrored up/down with the camera below. Beyond it by FADE_DEG the effect is off.
CONE_TOWARD_SCREEN = 28.0
CONE_AWAY = 6.0
CONE_SIDE = 22.0
FADE_DEG = 7.0
HEAD_YAW = (20.0, 25.0)  # head turned past the first: fading; past the second: off
HEAD_PITCH = (20.0, 28.0)
BLINK = (0.85, 0.7)  # lid gap over the usual open gap: from the first the effect fades, at the second it is off
RISE, FALL = 0.12, 0.4  # per-frame steps of the effect's weight towards on and off
# Per-frame step of the correction towards this frame's: slow for differences under SMALL_DEG, so the
# small quick movements of the eyes (and the estimate's jitter) pass through, and quick for bigger
# ones, so a glance to another part of the screen is met again within a few frames.
FOLLOW_SLOW, FOLLOW_FAST = 0.12, 0.7
SMALL_DEG, BIG_DEG = 1.5, 5.0
MAX_SHIFT = 0.8  # of the iris radius: the most an iris is moved
CORE, REACH = 1.15, 3.0  # the shift is whole out to CORE iris radii from the iris centre, nothing past REACH

EYES = (
    # contour, (upper lid, lower lid, outer corner, inner corner), iris rows in Face.iris
    (np.asarray(regions.RIGHT_EYE), (159, 145, 33, 133), slice(0, 5)),
    (np.asarray(regions.LEFT_EYE), (386, 374, 263, 362), slice(5, 10)),
)


def lid_openness(landmarks: np.ndarray) -> tuple[float, float]:
    """Lid gap over eye width, (right, left)."""
    return tuple(lid_gap(landmarks, *ends) for _, ends, _ in EYES)  # type: ignore[return-value]


def _forward(landmarks: np.ndarray) -> np.ndarray:
    """The head's forward axis in image coordinates (x right, y down, z away from the camera)."""
    f = rotation_matrix(landmarks)[:, 2]  # canonical axes: y up, z to the camera
    return np.array([f[0], -f[1], -f[2]])


def eyeball_centres(landmarks: np.ndarray) -> list[tuple[np.ndarray, float]]:
    """Per eye: the image position (x, y) where the iris centre sits when the eye looks into the lens,
    and the eye's radius of rotation in pixels."""
    fx, fy, fz = _forward(landmarks)
    out = []
    for _, (_, _, outer, inner), _ in EYES:
        a, b = landmarks[outer].astype(np.float64), landmarks[inner].astype(np.float64)
        d = b - a
        width = math.sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2])  # 3-D: foreshortening does not shrink it
        # The face's up direction (image y is down): forward x the corner line, pointing up the image.
        ux, uy = (fy * d[2] - fz * d[1]) / max(width, 1e-6), (fz * d[0] - fx * d[2]) / max(width, 1e-6)
        if uy > 0:
            ux, uy = -ux, -uy
        cx = (a[0] + b[0]) / 2 - EYEBALL_DEPTH * width * fx - IRIS_REST_Y * width * ux
        cy = (a[1] + b[1]) / 2 - EYEBALL_DEPTH * width * fy - IRIS_REST_Y * width * uy
        out.append((np.array([cx, cy]), IRIS_RADIUS_OF_ROTATION * width))
    return out


def gaze_vector(landmarks: np.ndarray, iris: np.ndarray, centres=None) -> np.ndarray:
    """Sine of the gaze's angle to the lens, (x right, y down), both eyes averaged. ``centres``: this
    face's :func:`eyeball_centres`, when already known."""
    centres = eyeball_centres(landmarks) if centres is None else centres
    total = np.zeros(2)
    for (centre, radius), (_, _, rows) in zip(centres, EYES):
        total += (iris[rows.start, :2] - centre) / max(radius, 1e-6)
    return np.clip(total / len(EYES), -0.99, 0.99)


def gaze_angles(landmarks: np.ndarray, iris: np.ndarray) -> tuple[float, float]:
    """(sideways, down) degrees from the lens: + = to the image's right, + = below the lens."""
    s = gaze_vector(landmarks, iris)
    return math.degrees(math.asin(s[0])), math.degrees(math.asin(s[1]))


def _ramp(value: float, full: float, none: float) -> float:
    """1 at or inside ``full``, 0 at or past ``none``, smooth in between (value, full, none >= 0)."""
    if value <= full:
        return 1.0
    if value >= none:
        return 0.0
    t = (value - full) / (none - full)
    return 0.5 + 0.5 * math.cos(math.pi * t)


def eye_regions(landmarks: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """uint8 mask, 255 inside the two eye openings (the only pixels this effect may change)."""
    mask = np.zeros(shape[:2], np.uint8)
    for contour, _, _ in EYES:
        cv2.fillPoly(mask, [np.rint(landmarks[contour, :2] * 16).astype(np.int32)], 255, cv2.LINE_AA, 4)
    return mask


class EyeContact(EffectBase):
    """``enabled`` eye contact with the camera ``camera`` ("above" or "below") the screen."""

    needs = frozenset({"faces", "iris"})
    provides = frozenset({"altered"})

    def __init__(self, settings: EyeContactSettings, avatar: AvatarSettings | None = None) -> None:
        self.weight = 0.0  # how much of the correction shows now (0..1)
        self._shift: np.ndarray | None = None  # the smoothed correction, sine units (x, y)
        self._open = [0.0, 0.0]  # each eye's usual open lid gap: rises fast, falls slowly
        self.update(settings, avatar if avatar is not None else AvatarSettings())

    def update(self, settings: EyeContactSettings, avatar: AvatarSettings, *_reads) -> bool:
        self.camera = settings.camera
        # The eyes going out must be the wearer's, where the irises were found: the photo avatar shows
        # a portrait, and a face swap without the wearer's own eyes shows the photo's (which look
        # where the photo looked). Then there is nothing to turn.
        self.passive = avatar.mode == "animate" or (
            avatar.mode == "swap" and not getattr(avatar, "own_eyes_mouth", getattr(avatar, "keep_eyes_mouth", True)))
        return True

    # ------------------------------------------------------------ deciding
    def target_weight(self, landmarks: np.ndarray, pose, gaze: np.ndarray) -> float:
        """How much correction this frame allows (0..1): gaze within the cone, head and lids."""
        side, down = (math.degrees(math.asin(v)) for v in gaze)
        toward = down if self.camera == "above" else -down  # + = towards the screen
        limit = CONE_TOWARD_SCREEN if toward > 0 else CONE_AWAY
        w = _ramp(abs(toward), limit, limit + FADE_DEG) * _ramp(abs(side), CONE_SIDE, CONE_SIDE + FADE_DEG)
        w *= _ramp(abs(pose[0]), *HEAD_YAW) * _ramp(abs(pose[1]), *HEAD_PITCH)
        for k, gap in enumerate(lid_openness(landmarks)):
            ref = self._open[k]
            ref += (0.3 if gap > ref else 0.01) * (gap - ref)
            self._open[k] = ref
            ratio = gap / max(ref, 1e-6)
            hi, lo = BLINK
            w *= float(np.clip((ratio - lo) / (hi - lo), 0.0, 1.0))
        return w

    def apply(self, image: np.ndarray, analysis: Analysis) -> tuple[np.ndarray, Outputs]:
        face = analysis.faces[0] if analysis.faces else None
        if self.passive or face is None or face.iris is None:
            self.weight = max(0.0, self.weight - FALL)
            return image, NO_OUTPUTS  # no eyes to go on: the frame's own eyes, never a guess
        centres = eyeball_centres(face.landmarks)
        gaze = gaze_vector(face.landmarks, face.iris, centres)
        target = self.target_weight(face.landmarks, face.pose, gaze)
        step = RISE if target > self.weight else FALL
        self.weight = float(np.clip(self.weight + np.clip(target - self.weight, -step, step), 0.0, 1.0))
        want = -gaze  # sine units: what takes the gaze onto the lens
        if self._shift is None:
            self._shift = want
        else:
            degrees = math.degrees(float(np.hypot(*(want - self._shift))))
            t = min(max((degrees - SMALL_DEG) / (BIG_DEG - SMALL_DEG), 0.0), 1.0)
            rate = FOLLOW_SLOW + (FOLLOW_FAST - FOLLOW_SLOW) * t
            self._shift = self._shift + rate * (want - self._shift)
        if self.weight < 0.01:
            return image, NO_OUTPUTS
        out = image.copy()
        moved = False
        for (_, radius), (contour, _, rows) in zip(centres, EYES):
            iris = face.iris[rows]
            r_iris = float(np.mean(np.linalg.norm(iris[1:, :2] - iris[0, :2], axis=1)))
            shift = self._shift * radius * self.weight
            norm = float(np.hypot(*shift))
            if norm > MAX_SHIFT * r_iris:
                shift *= MAX_SHIFT * r_iris / norm
            if norm < 0.05:
                continue
            moved |= move_eye(image, out, face.landmarks[contour, :2], iris[0, :2], r_iris, shift)
        return out, ({"altered": True} if moved else NO_OUTPUTS)


def move_eye(image: np.ndarray, out: np.ndarray, contour: np.ndarray, iris: np.ndarray, r_iris: float,
             shift: np.ndarray) -> bool:
    """Move the iris at ``iris`` (and the eyeball around it) by ``shift`` pixels inside the opening
    ``contour``, writing into ``out``. False when the eye is too small or outside the frame.

    What the move uncovers was never in the picture (it was under a lid): it is filled with the
    white of the eye as the opening shows it nearby (a wide average over the visible white, so shading
    carries over and no flat patch appears), or with the iris's colour where the uncovered point lies
    on the iris, blended in over a pixel or two past the lid. (Stretching the edge pixels instead
    drew the lash line out into streaks.)"""
    h, w = image.shape[:2]
    pad = 2
    x0, y0 = np.floor(contour.min(0)).astype(int) - pad
    x1, y1 = np.ceil(contour.max(0)).astype(int) + pad + 1
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if x1 - x0 < 6 or y1 - y0 < 4 or r_iris < 1.0:
        return False
    roi = image[y0:y1, x0:x1]
    rh, rw = roi.shape[:2]
    poly = np.rint((contour - (x0, y0)) * 16).astype(np.int32)
    opening = np.zeros((rh, rw), np.uint8)
    cv2.fillPoly(opening, [poly], 255, cv2.LINE_AA, 4)
    # Where a sample may come from: the opening less a pixel at the lids (the lash line is not eyeball).
    inner = cv2.erode((opening > 127).astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    if inner.sum() < 6:
        return False
    ix, iy = iris[0] - x0, iris[1] - y0
    ys, xs = np.mgrid[0:rh, 0:rw].astype(np.float32)
    # Backward map: the output pixel p shows the input at p - shift * bump(|p - (iris + shift)|).
    d = np.hypot(xs - (ix + shift[0]), ys - (iy + shift[1])) / r_iris
    t = np.clip((d - CORE) / (REACH - CORE), 0.0, 1.0)
    bump = (0.5 + 0.5 * np.cos(np.pi * t)).astype(np.float32)
    sx = (xs - shift[0] * bump).astype(np.float32)
    sy = (ys - shift[1] * bump).astype(np.float32)
    # Sampled as is, except where the source lies further past a lid than the output pixel itself
    # (so the lid line, where the shift has faded out, keeps its own pixels).
    moved = cv2.remap(roi, sx, sy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
    past = cv2.distanceTransform((~inner).astype(np.uint8), cv2.DIST_L2, 3)
    beyond = cv2.remap(past, sx, sy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE) - past
    if beyond.max() > 0.05:
        # Only needed here (a frame that moves nothing past a lid skips it): the iris's colour, and
        # the white of the eye spread over the patch (normalised convolution).
        d_src = np.hypot(xs - ix, ys - iy)
        iris_px = roi[inner & (d_src < 0.7 * r_iris)]
        iris_colour = iris_px.mean(0) if len(iris_px) else roi[inner].min(0)
        white = (inner & (d_src > 1.15 * r_iris)).astype(np.float32)
        sigma = max(1.0, 0.8 * r_iris)
        spread = cv2.GaussianBlur(roi.astype(np.float32) * white[..., None], (0, 0), sigma)
        weight = cv2.GaussianBlur(white, (0, 0), sigma)[..., None]
        white_colour = np.where(weight > 0.02, spread / np.maximum(weight, 1e-6), iris_colour)
        # A point of the iris hidden under a lid takes the iris's texture from the point opposite it
        # through the iris's centre (visible, with its own shading), edged softly; the white takes
        # the white's colour at the source point.
        on_iris = np.clip(r_iris + 0.5 - np.hypot(sx - ix, sy - iy), 0.0, 1.0)[..., None]
        iris_at = cv2.remap(roi, (2 * ix - sx).astype(np.float32), (2 * iy - sy).astype(np.float32),
                            cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
        white_at = cv2.remap(white_colour.astype(np.float32), sx, sy, cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_REPLICATE)
        fill = on_iris * iris_at + (1.0 - on_iris) * white_at
        k = np.clip(beyond / 1.5, 0.0, 1.0)[..., None]
        moved = moved * (1.0 - k) + fill * k
    # Blend inside the opening only, feathered inwards so the lid line stays the wearer's.
    alpha = cv2.GaussianBlur(opening, (0, 0), 0.7)
    alpha = cv2.min(alpha, opening).astype(np.float32)[..., None] * (1.0 / 255.0)
    out[y0:y1, x0:x1] = (moved * alpha + roi * (1.0 - alpha) + 0.5).astype(np.uint8)
    return True
