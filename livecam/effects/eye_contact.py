"""Eye contact: while the wearer looks at the screen, their eyes turn to meet the camera.

Gaze comes from the face mesh and the iris model (``needs`` "iris"): each eyeball's centre sits
behind the middle of its two corners (along the head's forward axis, from the mesh's 3-D pose), and
the iris centre lies one eyeball radius from it along the gaze, so under the webcam's near-orthographic
view the iris's offset from the eyeball centre, over that radius, is the sine of the gaze's angle to
the camera. Looking into the lens puts the iris centre on the eyeball centre.

The correction moves each iris, and the eyeball around it, by the offset that takes the (slowly
smoothed) gaze onto the lens, inside the eye's opening only (the mesh's, widened to the iris's own
outline where the iris model's lid contour shows more of the iris; see :func:`eye_openings`): a backward ``remap`` whose displacement
is the full shift along the iris's path (from where it is to where it goes, so the iris moves whole)
and fades to nothing over the white of the eye. What the move uncovers from under a lid is filled
with the white as the output shows it around the gap (the white it continues and the lid it meets,
leaning on the white's own colour where little is near), or the iris's own texture or colour where
the iris was hidden; content pushed past a lid goes under it, as a real eye rotating does. The lids,
the lash line and everything outside the opening stay the wearer's, pixel for pixel. (Raising the
upper lid with an upward correction, as real lids follow the eye, was tried twice: it cost the
measured correction (lp_d6, 8.2 -> 8.5 at a quarter of the iris's move, 9.0 at 0.6), lowered the
blink correlation and did not help eyes narrowed to a slit, where no iris shows to move.)

Because the shift follows the gaze only slowly, the small quick movements of the eyes still show; the
correction fades out smoothly (and back in) when the gaze leaves the cone around the screen, the head
turns past about 25°, or the lids close, so blinks are the wearer's own and nothing stares. Each
eye fades on its own when its lids close or narrow so far that little iris shows: read from the
picture (the iris model's lid contour, ``Face.lids``), not from the mesh alone, whose lids stop at
~0.8 of open on a blink and on some faces stay open while the picture's eyes are nearly shut (moving
content there drew a dark line under the lid).

Cost: two small eye patches (about 1.5x the eye's width) per face, and the iris model in the face
stage: each eye's model every 16th frame (8th while it reads the lids narrower than usual) and
where the carried iris is lost, matches worse than it usually does on that eye, or the lids move,
the iris carried in between (see ``face_tracker``). The patches' per-pixel float steps (the move's map,
the fill of what it uncovers) run in ``face_kernels``' compiled loops, to the bit what the numpy
steps kept here as their reference (``_sample_map_steps``, ``_fill_steps``) give, and so do the
opening's inner part and the fill's colours in ``effect_kernels``' (``_inside``, ``_colours``); the
per-frame geometry on a few points is Python floats, not numpy calls (~10 us each on arrays that small).
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from livecam.analysis import face_regions as regions
from livecam.analysis.face_kernels import READY, bump_angle, fill_into, known_planes, off_path, sample_points
from livecam.analysis.face_measures import lid_gap
from livecam.analysis.head_pose import rotation_matrix
from livecam.effects import AvatarSettings, EyeContactSettings, effect_kernels
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
# The same from the picture's lids (``Face.lids``), which close much further than the mesh's on a blink.
SEEN_BLINK = (0.75, 0.55)
# The picture's lid gap over the iris's diameter (how much of the iris shows between the lids): open
# eyes show 0.8-1.1 of it (medians 0.9-1.1 on the clips), slits on lp_d3 0.3-0.5; from the first an eye's correction fades, at the second it is off (an eye
# narrowed to a slit shows too little iris to move, and what it shows is mostly lid and lashes).
VISIBLE_IRIS = (0.75, 0.5)
RISE, FALL = 0.12, 0.4  # per-frame steps of the effect's weight towards on and off
# Per-frame step of an eye's weight back up after its lids reopen: the lids' own ramp (BLINK,
# SEEN_BLINK, VISIBLE_IRIS) already fades it over their travel, so the face's slow RISE on top only
# left the eye under-corrected for 8 frames after every blink (lp_d6 7.41 -> 7.14 deg at 0.3; 1.0,
# no step at all, 6.97, lets a carried lid reading's jitter move the iris frame to frame).
EYE_RISE = 0.3
# Per-frame step of the correction towards this frame's: slow for differences under SMALL_DEG, so the
# small quick movements of the eyes (and the estimate's jitter) pass through, and quick for bigger
# ones, so a glance to another part of the screen is met again within a few frames.
FOLLOW_SLOW, FOLLOW_FAST = 0.12, 0.7
SMALL_DEG, BIG_DEG = 1.5, 5.0
MAX_SHIFT = 0.8  # of the iris radius: the most an iris is moved (1.0 gained 0.08° on lp_d6, with larger artefacts)
# Where the white the move uncovers has little visible white nearby, its fill leans on the white's
# own colour with this weight (of 255, a fully white neighbourhood).
WHITE_PRIOR = 64.0
CORE, REACH = 1.15, 3.0  # the shift is whole out to CORE iris radii from the iris centre, nothing past REACH

EYES = (
    # contour, (upper lid, lower lid, outer corner, inner corner), iris rows in Face.iris
    (np.asarray(regions.RIGHT_EYE), (159, 145, 33, 133), slice(0, 5)),
    (np.asarray(regions.LEFT_EYE), (386, 374, 263, 362), slice(5, 10)),
)


def lid_openness(landmarks: np.ndarray) -> tuple[float, float]:
    """Lid gap over eye width, (right, left)."""
    return tuple(lid_gap(landmarks, *ends) for _, ends, _ in EYES)  # type: ignore[return-value]


def visible_iris(landmarks: np.ndarray, iris: np.ndarray, lids) -> tuple[float, float]:
    """Per eye (right, left), how much of the iris's diameter shows between the lids as the picture
    shows them: ``lids`` (``Face.lids``, lid gap over eye width) times the eye's width, over the iris
    model's iris diameter. Open eyes show 0.8-1.1 of it, eyes narrowed to a slit 0.3-0.5."""
    out = []
    for k, (_, (_, _, outer, inner), rows) in enumerate(EYES):
        (ox, oy), (nx, ny) = landmarks[outer, :2].tolist(), landmarks[inner, :2].tolist()
        out.append(float(lids[k]) * math.hypot(ox - nx, oy - ny) / max(2.0 * iris_radius(iris, rows), 1e-6))
    return tuple(out)  # type: ignore[return-value]


def iris_radius(iris: np.ndarray, rows: slice) -> float:
    """One eye's iris radius in pixels: the mean distance of its four outline points (``rows`` of
    ``Face.iris``) from its centre. Python floats: numpy's calls cost ~10 us each on five points,
    and the effect measures each iris three times a frame."""
    (cx, cy), *ring = iris[rows, :2].tolist()
    return sum(math.hypot(x - cx, y - cy) for x, y in ring) / len(ring)


def _forward(landmarks: np.ndarray, pose=None) -> np.ndarray:
    """The head's forward axis in image coordinates (x right, y down, z away from the camera).
    ``pose``: the face's (yaw, pitch, roll) from :func:`head_pose` on these landmarks, when known
    (the same axis, without fitting it again)."""
    if pose is None:
        f = rotation_matrix(landmarks)[:, 2]  # canonical axes: y up, z to the camera
    else:  # head_pose's yaw = atan2(fx, fz), pitch = atan2(fy, hypot(fx, fz))
        yaw, pitch = math.radians(pose[0]), math.radians(pose[1])
        f = (math.cos(pitch) * math.sin(yaw), math.sin(pitch), math.cos(pitch) * math.cos(yaw))
    return np.array([f[0], -f[1], -f[2]])


def eyeball_centres(landmarks: np.ndarray, pose=None) -> list[tuple[np.ndarray, float]]:
    """Per eye: the image position (x, y) where the iris centre sits when the eye looks into the lens,
    and the eye's radius of rotation in pixels. ``pose``: see :func:`_forward`."""
    fx, fy, fz = _forward(landmarks, pose).tolist()
    out = []
    for _, (_, _, outer, inner), _ in EYES:
        a, b = landmarks[outer].tolist(), landmarks[inner].tolist()  # Python floats: the float64 steps, faster
        d = (b[0] - a[0], b[1] - a[1], b[2] - a[2])
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
    tx = ty = 0.0
    for (centre, radius), (_, _, rows) in zip(centres, EYES):
        (x, y), (cx, cy) = iris[rows.start, :2].tolist(), centre.tolist()
        tx += (x - cx) / max(radius, 1e-6)
        ty += (y - cy) / max(radius, 1e-6)
    return np.array([_clip(tx / len(EYES), -0.99, 0.99), _clip(ty / len(EYES), -0.99, 0.99)])


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


def eye_landmarks(face) -> np.ndarray:
    """The mesh points the eyes are measured and moved on: the face's points as this frame's picture
    shows them (``Face.raw_landmarks``), not the jitter filter's, which lag a moving head. The iris is
    found on the picture, so its offset from the filtered corners read a turning or nodding head as
    gaze: on lp_d6 that reading was 2.3 deg (median; mean 3.1) from a fresh model run's on the same
    frame (0.7 with the face stage unfiltered), and the correction aimed that far off."""
    return face.landmarks if face.raw_landmarks is None else face.raw_landmarks


def eye_openings(landmarks: np.ndarray, openings: np.ndarray | None,
                 iris: np.ndarray | None = None) -> list[list[np.ndarray]]:
    """Per eye, the polygons whose union is its opening: the mesh's eye contour and, where the face
    stage traced it (``Face.eye_openings``), the part of the iris model's lid contour the iris
    (``Face.iris``) covers. The mesh's opening is smaller than a wide-open eye's (lp_d6's wide and
    cross-eyed frames): the part of the iris outside it stayed where it was while the rest moved, a
    cut iris and a second pupil. The model's contour alone reaches past the lower lid onto the skin
    on those frames, where the fill of what the move uncovers drew a white crescent; inside the iris
    it is the iris's own outline."""
    out = []
    for k, (contour, _, rows) in enumerate(EYES):
        polys = [landmarks[contour, :2]]
        if openings is not None and iris is not None:
            r = IRIS_OPENING * iris_radius(iris, rows)
            disc = (iris[rows.start, :2].astype(np.float64) + r * _CIRCLE).astype(np.float32)
            hull = cv2.convexHull(np.asarray(openings[k], np.float32))
            area, part = cv2.intersectConvexConvex(hull, disc)
            if area > 1.0 and part is not None:
                polys.append(part.reshape(-1, 2))
        out.append(polys)
    return out


IRIS_OPENING = 1.05  # of the iris radius: how far from the iris's centre the model's contour counts
_CIRCLE = np.stack([np.cos(np.linspace(0, 2 * np.pi, 24, endpoint=False)),
                    np.sin(np.linspace(0, 2 * np.pi, 24, endpoint=False))], 1)


def _fill(mask: np.ndarray, polys, offset=(0, 0)) -> None:
    # Rounded in frame coordinates the same way everywhere: the same edge pixels to the last bit.
    for poly in polys:
        p = np.rint(np.asarray(poly, np.float32) * 16).astype(np.int32)
        # The offset in the points' own fixed point: the same pixels as subtracting it from them.
        cv2.fillPoly(mask, [p], 255, cv2.LINE_AA, 4, (-16 * offset[0], -16 * offset[1]))


def eye_regions(landmarks: np.ndarray, shape: tuple[int, ...], openings: np.ndarray | None = None,
                iris: np.ndarray | None = None) -> np.ndarray:
    """uint8 mask, 255 inside the two eye openings (the only pixels this effect may change);
    ``openings``, ``iris``: the face's ``Face.eye_openings`` and ``Face.iris``, see :func:`eye_openings`."""
    mask = np.zeros(shape[:2], np.uint8)
    for polys in eye_openings(landmarks, openings, iris):
        _fill(mask, polys)
    return mask


class EyeContact(EffectBase):
    """``enabled`` eye contact with the camera ``camera`` ("above" or "below") the screen."""

    needs = frozenset({"faces_carried", "iris"})
    in_place = True
    provides = frozenset({"altered"})

    def __init__(self, settings: EyeContactSettings, avatar: AvatarSettings | None = None) -> None:
        self.reset()
        self.update(settings, avatar if avatar is not None else AvatarSettings())

    def reset(self) -> None:
        """A new or resumed source: no correction carried over, the lids' usual gaps learned anew."""
        self.weight = 0.0  # how much of the correction shows now (0..1)
        self._shift: np.ndarray | None = None  # the smoothed correction, sine units (x, y)
        self._open = [0.0, 0.0]  # each eye's usual open lid gap (mesh): rises fast, falls slowly
        self._seen_open = [0.0, 0.0]  # the same from the picture (``Face.lids``)
        # Per eye, how much of the correction its lids allow (0..1); None until the first face (it
        # starts at the lids' own value: the face's weight already fades the correction in).
        self.eye_weight: list[float] | None = None

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
        """How much correction this frame allows for the face (0..1): gaze within the cone and head."""
        side, down = (math.degrees(math.asin(v)) for v in gaze)
        toward = down if self.camera == "above" else -down  # + = towards the screen
        limit = CONE_TOWARD_SCREEN if toward > 0 else CONE_AWAY
        w = _ramp(abs(toward), limit, limit + FADE_DEG) * _ramp(abs(side), CONE_SIDE, CONE_SIDE + FADE_DEG)
        return w * _ramp(abs(pose[0]), *HEAD_YAW) * _ramp(abs(pose[1]), *HEAD_PITCH)

    def lid_weights(self, landmarks: np.ndarray, iris: np.ndarray, lids: np.ndarray | None) -> list[float]:
        """Per eye, how much correction its lids allow (0..1): the lower of the mesh's and the
        picture's lid gap against their usual open gap, and of how much iris the picture's lids
        leave visible. ``lids``: the picture's gaps (``Face.lids``); without them, the mesh alone."""
        out = []
        shown = visible_iris(landmarks, iris, lids) if lids is not None else None
        for k, gap in enumerate(lid_openness(landmarks)):
            ratios = [(_usual(self._open, k, gap), BLINK)]
            w = 1.0
            if shown is not None:
                ratios.append((_usual(self._seen_open, k, float(lids[k])), SEEN_BLINK))
                w = _clip((shown[k] - VISIBLE_IRIS[1]) / (VISIBLE_IRIS[0] - VISIBLE_IRIS[1]), 0.0, 1.0)
            for ratio, (hi, lo) in ratios:
                w = min(w, _clip((ratio - lo) / (hi - lo), 0.0, 1.0))
            out.append(w)
        return out

    def apply(self, image: np.ndarray, analysis: Analysis, own: bool = False) -> tuple[np.ndarray, Outputs]:
        face = analysis.faces[0] if analysis.faces else None
        if self.passive or face is None or face.iris is None:
            self.weight = max(0.0, self.weight - FALL)
            return image, NO_OUTPUTS  # no eyes to go on: the frame's own eyes, never a guess
        landmarks = eye_landmarks(face)
        centres = eyeball_centres(landmarks, face.pose)
        gaze = gaze_vector(landmarks, face.iris, centres)
        self.weight = _step(self.weight, self.target_weight(landmarks, face.pose, gaze))
        lids = self.lid_weights(landmarks, face.iris, face.lids)
        # An eye's weight drops with its lids at once (a blink shuts them in one or two frames, and
        # the ramp already follows the lid's travel, so the fade is as smooth as the lid) and comes
        # back within a few frames (EYE_RISE).
        self.eye_weight = lids if self.eye_weight is None else [
            min(t, w + EYE_RISE) for w, t in zip(self.eye_weight, lids)]
        want = -gaze  # sine units: what takes the gaze onto the lens
        if self._shift is None:
            self._shift = want
        else:
            degrees = math.degrees(float(np.hypot(*(want - self._shift))))
            t = min(max((degrees - SMALL_DEG) / (BIG_DEG - SMALL_DEG), 0.0), 1.0)
            rate = FOLLOW_SLOW + (FOLLOW_FAST - FOLLOW_SLOW) * t
            self._shift = self._shift + rate * (want - self._shift)
        if self.weight < 0.01 or max(self.eye_weight) < 0.01:
            return image, NO_OUTPUTS
        patches = []
        polys = eye_openings(landmarks, face.eye_openings, face.iris)
        for (_, radius), (_, _, rows), eye_weight, opening in zip(centres, EYES, self.eye_weight, polys):
            if eye_weight < 0.01:
                continue  # this eye shut or a slit: its own pixels, untouched
            r_iris = iris_radius(face.iris, rows)
            shift = self._shift * radius * self.weight * eye_weight
            norm = math.hypot(*shift.tolist())
            if norm > MAX_SHIFT * r_iris:
                shift *= MAX_SHIFT * r_iris / norm
            if norm < 0.05:
                continue
            made = moved_eye(image, opening, face.iris[rows.start, :2], r_iris, shift, eye_weight)
            if made is not None:
                patches.append(made)
        if not patches:
            return image, NO_OUTPUTS
        # Both eyes are read from ``image`` before either is written: written into ``image`` itself
        # (ours to write into), the second eye reads the frame's own pixels as from a copy.
        out = image if own else image.copy()
        for patch, (x0, y0, x1, y1) in patches:
            out[y0:y1, x0:x1] = patch
        return out, {"altered": True}


def _step(weight: float, target: float) -> float:
    """One frame's move of a weight towards ``target``: RISE up, FALL down (a fade, never a jump)."""
    step = RISE if target > weight else FALL
    return _clip(weight + _clip(target - weight, -step, step), 0.0, 1.0)


def _clip(x: float, lo: float, hi: float) -> float:
    """np.clip of one Python or float64 number, to the bit (NaN kept, -0.0 stays -0.0), as a float:
    np.clip on a scalar costs ~5 us, and the effect takes a dozen a frame."""
    x = float(x)
    if x != x:
        return x
    y = x if x >= lo else lo
    return y if y <= hi else hi


def _usual(usual: list[float], k: int, gap: float) -> float:
    """``gap`` over eye ``k``'s usual open gap, which this reading updates (rises fast, falls slowly)."""
    ref = usual[k] or gap
    ref += (0.3 if gap > ref else 0.01) * (gap - ref)
    usual[k] = ref
    return gap / max(ref, 1e-6)


_GRID = np.zeros((2, 0, 0), np.float32)
_SQUARE = np.ones((3, 3), np.uint8)  # the erosion's 3 x 3 neighbourhood


def _grid(rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel row and column indices (float32) of a rows x cols patch, sliced from one cached grid."""
    global _GRID
    if _GRID.shape[1] < rows or _GRID.shape[2] < cols:
        _GRID = np.mgrid[0:max(rows, 2 * _GRID.shape[1], 64), 0:max(cols, 2 * _GRID.shape[2], 128)].astype(np.float32)
    return _GRID[0, :rows, :cols], _GRID[1, :rows, :cols]


def moved_eye(image: np.ndarray, contour, iris: np.ndarray, r_iris: float, shift: np.ndarray,
              open_: float = 1.0) -> tuple[np.ndarray, tuple[int, int, int, int]] | None:
    """The iris at ``iris`` (and the eyeball around it) moved by ``shift`` pixels inside the opening
    ``contour`` (one polygon, or a list whose union is the opening): (patch, (x0, y0, x1, y1)), the
    moved eye and the box of ``image`` it replaces; None when the eye is too small or outside the
    frame. Reads ``image`` only, so the caller may write the patch into ``image`` itself once every
    eye is made. ``open_``: how far the lids allow the move (the effect's eye weight, 0..1); a
    closing eye's white is mostly lid, so its fill leans less on the white's colour.

    What the move uncovers that was never in the picture (it was under a lid) is filled with the
    white of the eye as the output shows it around the gap (see :func:`_fill_uncovered`), or with the
    iris where the uncovered point lies on the iris: its texture from the point opposite it through
    the iris's centre where that one is visible, its mean colour where not (a lid or lashes there drew
    dark wedges). (Stretching the edge pixels instead drew the lash line out into streaks; stretching
    the white between the lid and the iris stretched the iris too, where it was near the lid; OpenCV's
    inpainting from the lids and the iris drew a shadow under the iris, which reads as a lower gaze,
    and cost about 1.5 ms.)"""
    h, w = image.shape[:2]
    polys = [contour] if isinstance(contour, np.ndarray) else list(contour)
    points = np.concatenate([np.asarray(p)[:, :2] for p in polys])
    pad = 2
    (lx, ly), (hx, hy) = points.min(0).tolist(), points.max(0).tolist()  # Python floats: a few numpy calls less
    x0, y0 = max(math.floor(lx) - pad, 0), max(math.floor(ly) - pad, 0)
    x1, y1 = min(math.ceil(hx) + pad + 1, w), min(math.ceil(hy) + pad + 1, h)
    if x1 - x0 < 6 or y1 - y0 < 4 or r_iris < 1.0:
        return None
    roi = image[y0:y1, x0:x1]
    rh, rw = roi.shape[:2]
    opening = np.zeros((rh, rw), np.uint8)
    _fill(opening, polys, (x0, y0))
    # Where a sample may come from: the opening less a pixel at the lids (the lash line is not eyeball).
    inner, count = _inside(opening)
    if count < 6:
        return None
    (ix, iy), (ux, uy) = np.asarray(iris, np.float64)[:2].tolist(), np.asarray(shift, np.float64)[:2].tolist()
    ix, iy = ix - x0, iy - y0  # exact: no more bits than the iris's own
    sx, sy = sample_map(rh, rw, ix, iy, ux, uy, r_iris)
    moved = cv2.remap(roi, sx, sy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    # Sampled as is, except where the source lies further past a lid than the output pixel itself
    # (so the lid line, where the shift has faded out, keeps its own pixels): 255 at 1.5 px further.
    past = cv2.distanceTransform(cv2.bitwise_not(inner), cv2.DIST_L2, 3)
    beyond = cv2.remap(past, sx, sy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE) - past
    uncovered = cv2.convertScaleAbs(cv2.max(beyond, 0.0), alpha=255.0 / 1.5)
    if cv2.countNonZero(cv2.compare(uncovered, 12, cv2.CMP_GT)):
        moved = _fill_uncovered(roi, moved, inner, uncovered, ix, iy, r_iris, sx, sy, ux, uy, open_)
    alpha = cv2.GaussianBlur(opening, (0, 0), 0.7)  # feathered inwards: the lid line stays the wearer's
    return _blend(moved, roi, cv2.min(alpha, opening)), (x0, y0, x1, y1)


def _inside(opening: np.ndarray) -> tuple[np.ndarray, int]:
    """The opening's pixels over half covered, less those beside one that is not (255), and how
    many: one compiled pass (``effect_kernels.eroded_inside``) where it could be compiled."""
    if effect_kernels.READY and opening.flags.c_contiguous:
        inner = np.empty_like(opening)
        return inner, effect_kernels.eroded_inside(opening, inner)
    inner = cv2.erode(cv2.compare(opening, 127, cv2.CMP_GT), _SQUARE)
    return inner, cv2.countNonZero(inner)


def sample_map(rows: int, cols: int, ix: float, iy: float, ux: float, uy: float,
               r_iris: float) -> tuple[np.ndarray, np.ndarray]:
    """The move's backward map on a rows x cols patch (float32 x and y sources): the output pixel p
    shows the input at p - shift * bump(d), d the distance from p to the iris centre's path (from
    (ix, iy), where it is, to where it goes, ``shift`` = (ux, uy)): the iris moves whole, wherever it
    was and wherever it lands, and the eyeball around it less with distance.

    The per-pixel float32 steps run in ``face_kernels``' loops, OpenCV's ``magnitude`` and numpy's
    ``cos`` between them as calls (no loop repeats those to the bit); :func:`_sample_map_steps` is
    the same in numpy, the reference the test holds the loops to, and the way where they could not be
    compiled (``face_kernels.READY``)."""
    if not READY:
        return _sample_map_steps(rows, cols, ix, iy, ux, uy, r_iris)
    inv_len2 = np.float32(1.0 / max(ux * ux + uy * uy, 1e-6))
    px = np.empty((rows, cols), np.float32)
    py = np.empty((rows, cols), np.float32)
    off_path(np.float32(ix), np.float32(iy), np.float32(ux), np.float32(uy), inv_len2, px, py)
    d = cv2.magnitude(px, py)
    bump_angle(d, np.float32(1.0 / r_iris), np.float32(CORE), np.float32(1.0 / (REACH - CORE)), np.float32(np.pi), px)
    sx = np.empty((rows, cols), np.float32)
    sy = np.empty((rows, cols), np.float32)
    sample_points(np.cos(px), np.float32(ux), np.float32(uy), sx, sy)
    return sx, sy


def _sample_map_steps(rows: int, cols: int, ix: float, iy: float, ux: float, uy: float,
                      r_iris: float) -> tuple[np.ndarray, np.ndarray]:
    """:func:`sample_map` as numpy and OpenCV calls."""
    ys, xs = _grid(rows, cols)
    ex, ey = xs - ix, ys - iy
    along = np.clip((ex * ux + ey * uy) * (1.0 / max(ux * ux + uy * uy, 1e-6)), 0.0, 1.0)
    d = cv2.magnitude(ex - along * ux, ey - along * uy)
    t = np.clip((d * (1.0 / r_iris) - CORE) * (1.0 / (REACH - CORE)), 0.0, 1.0)
    bump = 0.5 + 0.5 * np.cos(np.float32(np.pi) * t)
    return xs - ux * bump, ys - uy * bump


def _blend(a: np.ndarray, b: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``a`` where ``alpha`` (uint8) is 255, ``b`` where it is 0, mixed in between (uint8)."""
    k = alpha.astype(np.float32) * (1.0 / 255.0)
    return cv2.blendLinear(a if a.dtype == np.uint8 else cv2.convertScaleAbs(a), b, k, 1.0 - k)


def _fill_uncovered(roi, moved, inner, uncovered, ix, iy, r_iris, sx, sy, shift_x, shift_y, open_=1.0) -> np.ndarray:
    """``moved`` with the points whose source lies past a lid (``uncovered``, uint8, how far) filled:
    the iris's texture or colour where the source lies on the iris, the white elsewhere. ``shift_x``,
    ``shift_y``: the iris's move in pixels (where it is now). Only those points are worked out."""
    rows, cols = np.nonzero(uncovered > 12)
    iris_colour, white_colour, on = _colours(roi, inner, ix, iy, r_iris)
    psx, psy = sx[rows, cols][None], sy[rows, cols][None]
    # The uncovered white, drawn from what surrounds it in the output (a normalised box average, two
    # passes, close to a Gaussian): the white it continues and the lid it meets, so it keeps their
    # shading and has no edge. The moved iris counts as the white's colour there (drawn in, it read
    # as a shadow under the iris, that is, as a lower gaze); where little is near, the white's colour.
    seed = moved.copy()
    if open_ >= 0.5:  # a closing eye's (lid and lashes) stays as it is
        cv2.circle(seed, (round(16 * (ix + shift_x)), round(16 * (iy + shift_y))), round(16 * 1.1 * r_iris),
                   white_colour.tolist(), -1, cv2.LINE_8, 4)
    known = cv2.compare(uncovered, 12, cv2.CMP_LE)
    k = max(3, int(r_iris) | 1)
    spread = cv2.blur(cv2.blur(_known_planes(seed, known), (k, k)), (k, k))  # colour and weight at once
    prior = WHITE_PRIOR * open_ * open_ + 2.0
    # A point of the iris hidden under a lid: the iris's texture from the point opposite it through
    # the iris's centre where that one is visible iris, else the iris's mean colour (see _fill_steps).
    hyp = np.hypot(psx - ix, psy - iy)
    ox, oy = 2 * ix - psx, 2 * iy - psy
    iris_px = cv2.remap(roi, ox, oy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)[0]
    seen = cv2.remap(on, ox, oy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)[0]
    if _fits_fill(spread, uncovered, moved, rows, hyp, iris_px, seen):
        out = moved.copy()
        fill_into(spread, uncovered, rows.astype(np.int64), cols.astype(np.int64), hyp[0], iris_px, seen,
                  white_colour, np.concatenate([iris_colour, iris_colour * 1.2]), np.float32(prior),
                  np.float32(r_iris + 0.5), out)
        return out
    return _fill_steps(moved, rows, cols, spread, uncovered, hyp, iris_px, seen, white_colour, iris_colour, prior,
                       r_iris)


def _colours(roi: np.ndarray, inner: np.ndarray, ix: float, iy: float,
             r_iris: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The iris's mean colour (inside 0.8 of its radius, in ``inner``), the white's (see
    :func:`_colours_calls`), float32 BGR, and the iris's mask (255 there): in one compiled loop
    (``effect_kernels.eye_colours``, 42 -> 20 us an eye hot, the same bytes) where the patch fits it."""
    if not (effect_kernels.READY and roi.dtype == np.uint8 and roi.ndim == 3 and roi.shape[2] == 3
            and inner.dtype == np.uint8 and inner.shape == roi.shape[:2] and inner.flags.c_contiguous):
        return _colours_calls(roi, inner, ix, iy, r_iris)
    out, on = np.empty(6, np.float64), np.empty_like(inner)
    grey = cv2.cvtColor(roi, cv2.COLOR_BGR2GRAY)
    light = effect_kernels.eye_colours(roi, grey, inner, np.float32(ix), np.float32(iy), np.float32(0.8 * r_iris),
                                       np.float32(1.15 * r_iris), on, out)
    iris_colour = np.float32(out[:3])
    return iris_colour, np.float32(out[3:]) if light else iris_colour, on


def _colours_calls(roi, inner, ix, iy, r_iris) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_colours` as OpenCV calls: its reference, and its way where the loop cannot run."""
    ys, xs = _grid(*roi.shape[:2])
    d_src = cv2.magnitude(xs - ix, ys - iy)
    on = cv2.bitwise_and(inner, cv2.compare(d_src, 0.8 * r_iris, cv2.CMP_LT))
    iris_colour = np.float32(cv2.mean(roi, on if cv2.countNonZero(on) else inner)[:3])
    white = cv2.bitwise_and(inner, cv2.compare(d_src, 1.15 * r_iris, cv2.CMP_GT))
    # The white's own colour: the white the opening shows lighter than its mean (the rest is lashes,
    # the lids' shadow and the iris's rim, which drew grey patches where little white was near).
    white_colour = iris_colour
    if cv2.countNonZero(white) >= 4:
        grey = cv2.cvtColor(roi, cv2.COLOR_BGR2GRAY)
        light = cv2.bitwise_and(white, cv2.compare(grey, cv2.mean(grey, white)[0], cv2.CMP_GE))
        if cv2.countNonZero(light):
            white_colour = np.float32(cv2.mean(roi, light)[:3])
    return iris_colour, white_colour, on


def _known_planes(seed: np.ndarray, known: np.ndarray) -> np.ndarray:
    """The known colours and their weight as one 4-channel image (0 where not known): ``known_planes``
    where the arrays fit it, else the OpenCV calls it stands for."""
    if (READY and seed.dtype == np.uint8 and seed.ndim == 3 and seed.shape[2] == 3 and seed.flags.c_contiguous
            and known.dtype == np.uint8 and known.shape == seed.shape[:2] and known.flags.c_contiguous):
        out = np.empty((*known.shape, 4), np.uint8)
        known_planes(seed, known, out)
        return out
    return _known_planes_calls(seed, known)


def _known_planes_calls(seed: np.ndarray, known: np.ndarray) -> np.ndarray:
    b, g, r = cv2.split(cv2.bitwise_and(seed, seed, mask=known))
    return cv2.merge([b, g, r, known])


def _fits_fill(spread, uncovered, moved, rows, hyp, iris_px, seen) -> bool:
    """Whether the arrays are the kinds and sizes ``fill_into`` is compiled for (they are, from the
    calls above; the loop does not check its indices) and it compiled."""
    n = len(rows)
    return (READY and spread.dtype == np.uint8 and spread.ndim == 3 and spread.shape[2] == 4
            and spread.flags.c_contiguous
            and uncovered.dtype == np.uint8 and uncovered.flags.c_contiguous and moved.dtype == np.uint8
            and moved.ndim == 3 and moved.shape[2] == 3 and spread.shape[:2] == uncovered.shape == moved.shape[:2]
            and hyp.dtype == np.float32 and hyp.shape == (1, n) and iris_px.dtype == np.uint8
            and iris_px.shape == (n, 3) and iris_px.flags.c_contiguous and seen.dtype == np.uint8
            and seen.shape == (n,))


def _fill_steps(moved, rows, cols, spread, uncovered, hyp, iris_px, seen, white_colour, iris_colour, prior,
                r_iris) -> np.ndarray:
    """The uncovered points' fill as numpy steps (float32 patch out): ``fill_into``'s reference and fallback."""
    at = spread[rows, cols].astype(np.float32)
    white_at = (at[:, :3] * 255.0 + prior * white_colour) / (at[:, 3:] + prior)
    # A point of the iris hidden under a lid: the iris's texture from the point opposite it through
    # the iris's centre where that one is visible iris, else the iris's mean colour.
    on_iris = np.clip(r_iris + 0.5 - hyp, 0.0, 1.0)[0, :, None]
    # A highlight on the cornea is the light's, not the iris's: mirrored, it drew a second one.
    iris_at = np.minimum(iris_px.astype(np.float32), iris_colour * 1.2)
    seen = seen[:, None] * (1.0 / 255.0)
    iris_fill = seen * iris_at + (1.0 - seen) * iris_colour
    fill = on_iris * iris_fill + (1.0 - on_iris) * white_at
    k = uncovered[rows, cols][:, None] * (1.0 / 255.0)
    out = moved.astype(np.float32)
    out[rows, cols] = out[rows, cols] * (1.0 - k) + fill * k
    return out
