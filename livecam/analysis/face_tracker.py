"""Face analysis for video: detect rarely, track with the mesh, steady the points.

Like MediaPipe's face_landmark_front graph, each face's next crop comes from this frame's
landmarks, so most frames cost one mesh inference per face. The detector runs when no face is
tracked, when a face was lost (and on every frame for a while after, while there is room: see
SEEK_FRAMES), and every ``detect_every`` frames to pick up newcomers while there is room for one
(fewer than ``max_faces`` tracked); where a detection overlaps a tracked face the tracked crop is
kept (AssociationNormRectCalculator keeps the later, landmark-based rect), so the detector never
makes a tracked face jump. The first face is the one a swap covers (see FIRST_WIDER).

Irises, when asked for, cost nearly as much as the mesh (the iris model, ~1.4 ms an eye on one CPU
thread), so each eye's model runs every ``IRIS_EVERY`` frames, the two eyes on different frames. In between an
iris is carried: its last model points follow the eye's corners (the similarity that maps the corners
then onto the corners now), and a template match of the iris patch from the model's frame, in a small
window around that guess, adds the eye's own movement since; where the patch is not found again (a
blink, a hand, an eye narrowed since), or is found only well past how well it usually matches on
this eye (MATCH_RISE: a lid starting to cover the iris), the model runs instead. The same model run
traces the lids as the picture shows them (``Face.lids``, and the outline ``Face.eye_openings``,
carried with the eye's corners: free, another output of the same inference). In between, that lid
gap follows the mesh's lid gap relative to the model's frame; where the mesh's lids move by a
tenth, or the other eye's model finds its lids closing (blinks are two-eyed, and on some faces the
mesh barely moves one eye's lids), the model reads the eye again; an eye it reads narrower than its
usual opening is read again after half the cycle (its lids are not at rest). That costs runs only
where lids move: per frame 0.37 -> 0.51 on lp_d6 (expressions), 0.26 -> 0.28 on lp_s18. A caller that needs
every frame's own model estimate (an evaluation's judge) asks for ``fresh_iris``.

The mesh itself is the face stage's cost. A caller whose effects all take it (``carry``: the studio
effects, never a face swap or the photo avatar, which get every frame's own reading) has meshes
carried between reads instead: the last read moved on by half the velocity of the two reads before
it, a frame (the whole velocity carries the reads' own jitter on, twice: with it the studio effects
flickered 2.5 % more on lp_d3, with half 0.6 %). How many frames in a row are carried follows how
fast the face moves: a carried mesh misses by up to half the velocity a frame, so one frame where the
face moves 3 % of its width a frame, up to three where it moves 1 % (CARRY_MISS, CARRY_RUN). A still
face (the bench clip: 0.3 % a frame at the median) is then read one frame in four, one that turns and
pulls faces (lp_d3) one in three, and the carried landmarks stay within 1.2 % of the face's width of
every frame's read at p95 on both (0.5 % at the median). A frame is read, not carried, where the
picture over the face's predicted box no longer looks like the one over the last read's box (a cut, a
face that left, a hand, a prediction gone wrong): the two small grey views are compared by their
correlation, so lighting and contrast set no threshold.

A face swap or the photo avatar (``verify``) is drawn where the mesh says the face is, and a mesh that
lies beside the face, face-shaped and near its crop's middle, passes every check of the mesh itself (the
crop follows it): the wearer's own face left unswapped. While one is on, the mesh is held against the
detector's keypoints (``mesh_check``) on every frame the detector runs, on every VERIFY_EVERY-th frame
(an extra detector run: the swap's face stage +0.47 ms a frame at 720p, mean) and on any frame whose
mesh jumped off its crop's middle by JUMP; a mesh that misses them is refused like any faulty answer
(its crop stays the last agreeing mesh's), and every frame is held against the detector until a mesh
agrees again.
"""
from __future__ import annotations

import logging
import math

import cv2
import numpy as np

from livecam.analysis import face_regions as regions
from livecam.analysis import mesh_check
from livecam.analysis.eye_closure import OPEN_FALL, OPEN_RISE
from livecam.analysis.face_detector import FaceDetector
from livecam.analysis.face_landmarker import (
    PRESENCE_THRESHOLD,
    FaceLandmarker,
    Roi,
    contour_lid_gap,
    roi_from_detection,
    roi_from_landmarks,
)
from livecam.analysis.face_measures import lid_gap
from livecam.analysis.head_pose import head_pose
from livecam.analysis.one_euro import OneEuroFilter
from livecam.analysis.runtime import ModelOutputError
from livecam.imaging import box_iou
from livecam.settings import FaceSettings, RuntimeSettings
from livecam.types import Face

log = logging.getLogger(__name__)

ASSOCIATION_IOU = 0.5  # MediaPipe's min_similarity_threshold for detection vs tracked rects
DUPLICATE_IOU = 0.5  # two tracks that collapsed onto one face
# The first face is the one a face swap or the photo avatar covers: the wearer, nearest the camera. With
# room for more faces and someone else in view, the wearer's face lost for a few frames came back as a
# newer track, second in the list, and only at the next periodic run (up to detect_every frames later):
# the swap stayed on the other person and the wearer's own face left unswapped for the rest of the
# session. After a loss the detector runs on every frame (while there is room, for up to SEEK_FRAMES
# frames), and a newcomer this much wider than the first face goes first. And while the first face is
# lost and not found again (``wearer_lost``), the next face to turn up takes its place: the other
# faces are not the wearer's, and a frame whose first face is one of them is not the swap's to draw.
SEEK_FRAMES = 90
FIRST_WIDER = 1.5
# A mesh narrower or shorter than this share of the crop it was read from is not a face: a faulty
# model (all zeros or ones, finite, so no NaN check catches it) puts every point on one spot with a
# passing presence score, and a face read from such a mesh (its box, pose and scale all zero) sent
# the photo avatar's neutral pose, and every frame after it, to ~25 s of rasterising a mesh
# thousands of frames wide. A real face spans about two thirds of its crop, at full profile a third;
# and at least MIN_FACE pixels (a detector fault gives crops of no size, whose share is no bound).
MIN_SPREAD = 0.1
MIN_FACE = 4.0
# A mesh whose box centre is farther than this from the centre of the crop it was read from (in crop
# sides) is refused as a model fault, not drawn: shifted but face-shaped, it passes the landmarker's own
# checks (face_landmarker.mesh_fault), and a face swap drawn there uncovered the wearer's face. The crop
# follows the face, so a real mesh sits near its centre: at most 0.116 in the 3623 reads of the shared
# clips and photos (lp_d12's gestures; median 0.0025); 0.25 is about twice that, 0.375 of a face's
# width. A face that jumps farther still is read near the crop's middle (the model's own pull: the
# astronaut moved 64 px of a 155 px crop read 44 px moved, then followed), so it is not refused.
MESH_OFF_CROP = 0.25
# How often (frames) the mesh is held against the detector while ``verify``: a mesh that drifts off the
# face slowly is found within this many frames (a third of a second at 30 fps); the detector's run (2.4 ms
# of CPU at 720p idle, more on a busy machine) costs a tenth of that a frame (tools/ab_interleaved.py
# swap at load 7.5: the face stage 4.51 -> 4.98 ms mean).
VERIFY_EVERY = 10
# A mesh whose box centre moved this far (crop sides) off its crop's centre, where the last read put it,
# is held against the detector on that frame. The crop is 1.56-1.88 of the detector's box side (tuning
# half), under 2: a mesh that jumped by mesh_check.MISS detector sides jumped at least this many crop
# sides, so every jump the check refuses is looked at on its first frame. Genuine reads on the tuning
# half: none past it (at most 0.056 of 1981; median 0.0024), so it adds detector runs only on fast moves.
JUMP = mesh_check.MISS / 2.0
IRIS_EVERY = 16  # frames between two runs of one eye's iris model
EYE_CORNERS = ((regions.RIGHT_EYE_OUTER, regions.RIGHT_EYE_INNER), (regions.LEFT_EYE_OUTER, regions.LEFT_EYE_INNER))
PATCH = 1.2  # the template's half side, of the iris radius: the iris and a rim of white and lid
SEARCH = 0.7  # how far the template match looks past the corners' guess, of the iris radius
POOR_MATCH = 0.08  # normalised squared difference past which the patch counts as not found
# A lid coming down over the iris raises the template match's difference before it passes POOR_MATCH
# (lp_d18's blink: 0.001-0.01 open, 0.034-0.05 shut), and how far it rises depends on the face, the
# lashes and the light. So each eye's difference is measured against its own running level: past it by
# MATCH_RISE of its running spread (both followed at MATCH_RATE a frame, once MATCH_WARM matches were
# seen), the eye has changed and the model reads it. On the 11 clips in the shared data, with 16
# frames between runs, 4, 6 and 8 spreads all caught every blink that 8 frames with POOR_MATCH alone
# caught, and more (every 16 with POOR_MATCH alone missed lp_d18's and one of lp_s18's;
# tests/test_iris_cadence.py has the bench clip's); 8 runs the model least (lp_d6's first 90 frames:
# 40 runs, 49 at 6, 38 with every 8 frames and POOR_MATCH alone).
MATCH_RISE = 8.0
MATCH_RATE = 0.125
MATCH_WARM = 4
# The mesh's lid gap against the model's frame's, past which the model looks again: the mesh closes
# a lid only to ~0.8 of open on a blink, the picture to 0.3, so a move this big is a lid moving.
LID_MOVED = 0.1
# An eye the model reads narrower than its usual opening by LID_MOVED (a blink's tail, a squint) is
# read again after NARROW_EVERY frames, not IRIS_EVERY: its lids are not at rest, and the carried gap
# (the mesh's change since) follows a reopening lid only part of the way. With every eye on 16,
# lp_s18's eyes read at 0.34 on the way up from a blink were carried at that for 16 frames while they
# opened to 0.43 (the swap drew the open eye 0.43 shut; 0.23 with this, 0.24 reading every 8 frames).
NARROW_EVERY = IRIS_EVERY // 2
# Mesh points of each eye's lids and corners (upper, lower, outer, inner), the eyes in EYE_CORNERS order.
MESH_LIDS = ((159, 145, 33, 133), (386, 374, 263, 362))
# Carrying the mesh (``carry``): the share of the reads' velocity carried on, a frame; the most frames
# carried in a row; the most a carried mesh may miss, in face widths: it misses by up to about half its
# velocity for each frame carried (where the face speeds up or stops), so a face moving 3 % of its width a
# frame is carried one frame, 1.5 % two, 1 % three (lp_d12's gestures, at up to 0.06 carried one frame,
# missed by 1.9 % at p95); and the least correlation between the grey views (LOOK px square) of the face
# box's middle on the last read and of the predicted box's now (0.94 at the least on lp_d3's turns and
# expressions; a cut or a face gone is near 0).
CARRY_STEP = 0.5
CARRY_RUN = 3
CARRY_MISS = 0.015
CARRY_LOOK = 0.9
LOOK = 24
LOOK_SPAN = 0.6


class _Iris:
    """One eye's iris as the model last saw it (points, the eye's corners, the patch around it, its
    radius, the lid gaps), and how many frames ago."""
    __slots__ = ("age", "corners", "lid", "mesh_lid", "opening", "patch", "points", "radius")

    def __init__(self, image_bgr: np.ndarray, points: np.ndarray, corners: np.ndarray, age: int,
                 lid: float = 0.0, mesh_lid: float = 0.0, opening: np.ndarray | None = None) -> None:
        self.points, self.corners, self.age = points, corners, age
        self.opening = opening  # (16, 2) the model's lid contour (the eye's opening) on its frame
        self.lid, self.mesh_lid = lid, mesh_lid  # the contour's and the mesh's lid gaps on the model's frame
        self.radius = float(np.mean(np.hypot(*(points[1:, :2] - points[0, :2]).T)))
        half = max(2, round(PATCH * self.radius))
        self.patch = _patch(image_bgr, float(points[0, 0]), float(points[0, 1]), half)


def _patch(image_bgr: np.ndarray, x: float, y: float, half: int) -> np.ndarray:
    """The green channel (the iris against the white, no conversion) of a square around (x, y)."""
    h, w = image_bgr.shape[:2]
    # getRectSubPix dies (SIGSEGV) for a centre past about 2^31 pixels off: a model fault's point ended the
    # process. Further off the frame than the patch, every pixel is the border anyway.
    x, y = float(np.clip(x, -half - 1, w + half + 1)), float(np.clip(y, -half - 1, h + half + 1))
    return cv2.extractChannel(cv2.getRectSubPix(image_bgr, (2 * half + 1, 2 * half + 1), (x, y)), 1)


def _vertex(a: float, b: float, c: float) -> float:
    """Sub-pixel offset of a parabola's minimum through three neighbouring samples."""
    den = a - 2.0 * b + c
    return min(max(0.5 * (a - c) / den, -0.5), 0.5) if den > 1e-12 else 0.0


def _similarity(then: np.ndarray, now: np.ndarray) -> tuple[np.ndarray, complex]:
    """The similarity that takes the eye's corners (outer, inner) then onto the corners now, as a 2x3
    matrix, and its scale-rotation as a complex number."""
    (ax0, ay0), (bx0, by0) = then.tolist()
    (ax1, ay1), (bx1, by1) = now.tolist()
    d0 = complex(bx0 - ax0, by0 - ay0)
    z = complex(bx1 - ax1, by1 - ay1) / d0 if d0 else 1 + 0j
    m = np.array([[z.real, -z.imag, ax1 - z.real * ax0 + z.imag * ay0],
                  [z.imag, z.real, ay1 - z.imag * ax0 - z.real * ay0]])
    return m, z


# The iris model's lid contour: points 0-8 the lower lid and 9-15 the upper, both from the outer corner
# (0 joins 9, 8 joins 15); the upper one reversed closes the outline.
OPENING_ORDER = np.r_[0:9, 15:8:-1]


def _opening(contour: np.ndarray) -> np.ndarray:
    """(16, 2) the eye's opening, a closed outline, from one iris-model eye contour."""
    return contour[OPENING_ORDER, :2].astype(np.float64)


def carry_opening(corners: np.ndarray, state: _Iris) -> np.ndarray:
    """(16, 2) the eye's opening on this frame: the model's lid contour moved with the corners."""
    m, _ = _similarity(state.corners, corners)
    return (state.opening @ m[:, :2].T + m[:, 2]).astype(np.float32)


def carry_iris(image_bgr: np.ndarray, corners: np.ndarray, state: _Iris) -> tuple[np.ndarray | None, float]:
    """(5, 3) iris points of one eye on this frame from its last model run (``state``) and this
    frame's eye corners (outer, inner), and the template match's difference there; None for the
    points when the iris patch is not found again (a blink, a hand, the eye narrowed since)."""
    m, z = _similarity(state.corners, corners)
    out = state.points.copy()
    out[:, :2] = state.points[:, :2] @ m[:, :2].T + m[:, 2]
    out[:, 2] *= abs(z)
    half = state.patch.shape[0] // 2
    reach = max(2, round(SEARCH * state.radius * abs(z)))
    cx, cy = float(out[0, 0]), float(out[0, 1])
    scores = cv2.matchTemplate(_patch(image_bgr, cx, cy, half + reach), state.patch, cv2.TM_SQDIFF_NORMED)
    low, _, (x, y), _ = cv2.minMaxLoc(scores)
    if low > POOR_MATCH:
        return None, float(low)
    n = scores.shape[0]
    dx = x - reach + (_vertex(*scores[y, x - 1:x + 2].tolist()) if 0 < x < n - 1 else 0.0)
    dy = y - reach + (_vertex(*scores[y - 1:y + 2, x].tolist()) if 0 < y < n - 1 else 0.0)
    out[:, 0] += dx
    out[:, 1] += dy
    return out, float(low)


def match_rose(match: np.ndarray, low: float) -> bool:
    """Whether the template match's difference ``low`` rose past one eye's running level (``match``:
    level, spread, matches seen) by MATCH_RISE spreads; where it did not, the level and spread take it
    in (a rise is left out: the model's reading follows, and the eye's usual level stays its own)."""
    level, spread, n = match
    if n >= MATCH_WARM and low > level + MATCH_RISE * spread:
        return True
    match[0] += MATCH_RATE * (low - level)
    match[1] += MATCH_RATE * (abs(low - level) - spread)
    match[2] += 1
    return False


def _spread(landmarks: np.ndarray, roi_size: float, box: np.ndarray | None = None) -> bool:
    """Whether the mesh spans at least MIN_SPREAD of its crop, and MIN_FACE pixels, both ways.
    ``box``: the mesh's x0, y0, x1, y1 when known (max - min is np.ptp's own arithmetic)."""
    if box is None:
        return bool(np.ptp(landmarks[:, :2], axis=0).min() >= max(MIN_SPREAD * roi_size, MIN_FACE))
    return bool((box[2:] - box[:2]).min() >= max(MIN_SPREAD * roi_size, MIN_FACE))


def _look(image_bgr: np.ndarray, box: np.ndarray) -> np.ndarray | None:
    """The LOOK x LOOK grey view (green channel) of the middle of a face box (LOOK_SPAN of its sides:
    the face itself, little of the room or of the chin that a close face puts past the frame's edge),
    or None where that leaves the frame."""
    h, w = image_bgr.shape[:2]
    centre, half = 0.5 * (box[:2] + box[2:]), 0.5 * LOOK_SPAN * (box[2:] - box[:2])
    x0, y0, x1, y1 = (int(round(float(v))) for v in (*(centre - half), *(centre + half)))
    if x0 < 0 or y0 < 0 or x1 > w or y1 > h or x1 - x0 < 2 or y1 - y0 < 2:
        return None
    return cv2.resize(cv2.extractChannel(image_bgr[y0:y1, x0:x1], 1), (LOOK, LOOK), interpolation=cv2.INTER_AREA)


def _bounds(landmarks: np.ndarray) -> np.ndarray:
    """x0, y0, x1, y1 of the mesh: the box the spread check and the next crop both read."""
    xy = landmarks[:, :2]
    return np.concatenate([xy.min(0), xy.max(0)])


def _off_crop(box: np.ndarray, roi: Roi, limit: float = MESH_OFF_CROP) -> bool:
    """The mesh's box (``_bounds``) is centred farther than ``limit`` crop sides from its crop's centre."""
    dx, dy = 0.5 * float(box[0] + box[2]) - roi.cx, 0.5 * float(box[1] + box[3]) - roi.cy
    return not dx * dx + dy * dy <= (limit * roi.size) ** 2


class _Track:
    __slots__ = ("filter", "id", "iris_frame", "irises", "keypoints", "look", "match", "presence", "reads", "roi", "usual")

    def __init__(self, track_id: int, roi: Roi, keypoints: np.ndarray | None) -> None:
        self.id = track_id
        self.roi = roi
        self.filter = OneEuroFilter()
        self.keypoints = keypoints
        self.irises: list[_Iris | None] = [None, None]
        self.match = np.zeros((2, 3))  # per eye: the template difference's running level, spread, samples
        self.iris_frame = -1  # the frame the irises were last found on
        self.usual = [0.0, 0.0]  # per eye: the model's usual open lid gap (as EyeClosure follows it)
        self.reads: list[tuple[int, np.ndarray]] = []  # (frame, mesh) of the last two reads, oldest first
        self.presence = 0.0  # the last read's presence score
        self.look: np.ndarray | None = None  # the last read's grey view of its face box (``_look``)


def carried_mesh(image_bgr: np.ndarray, track: _Track, frame: int) -> np.ndarray | None:
    """This frame's mesh carried from the track's last two reads, or None where it must be read: the
    reads are too far apart or too long ago (CARRY_RUN), the face moves too fast to be carried this many
    frames (CARRY_MISS), or the picture over the predicted face box is not the face the last read saw."""
    if len(track.reads) < 2 or track.look is None:
        return None
    (f0, m0), (f1, m1) = track.reads
    ahead = frame - f1  # frames since the last read
    if not 0 < ahead <= CARRY_RUN or f1 - f0 > CARRY_RUN + 1:
        return None
    velocity = (m1 - m0) * np.float32(1.0 / (f1 - f0))
    box1 = _bounds(m1)
    if ahead * CARRY_STEP * float(np.abs(velocity[:, :2]).max()) > CARRY_MISS * float(box1[2] - box1[0]):
        return None
    mesh = m1 + np.float32(CARRY_STEP * ahead) * velocity
    look = _look(image_bgr, _bounds(mesh))
    if look is None:
        return None
    return mesh if float(cv2.matchTemplate(look, track.look, cv2.TM_CCOEFF_NORMED)[0, 0]) >= CARRY_LOOK else None


class FaceTracker:
    """``process(frame)`` -> the faces in it, tracked across calls. Frames are BGR uint8."""

    def __init__(self, settings: FaceSettings, runtime: RuntimeSettings, fps: float = 30.0) -> None:
        self.settings = settings
        self.runtime = runtime
        self.detector = FaceDetector(settings.detector, runtime.provider, runtime.threads)
        self.landmarker = FaceLandmarker(runtime.provider, runtime.threads)
        self.frame_dt = 1.0 / fps
        self.detector_runs = 0  # for benchmarks: how often the expensive path ran
        self.reset()

    def reset(self) -> None:
        self._tracks: list[_Track] = []
        self._since_detect = 0
        self._lost = False
        self._seek = 0  # frames left in which the detector runs on each frame, looking for a lost face
        self._vacant = False  # the first face (the wearer's) was lost and nobody has taken its place yet
        self._shape: tuple[int, ...] | None = None
        self._last_t: float | None = None
        self._next_id = 1
        self._frame = 0
        self._found: list | None = None  # this frame's detections, where the detector ran on it
        self._since_found = 0  # frames since the detector last ran
        self._doubted = False  # a mesh was refused against the detector and none has agreed since

    @property
    def seeking(self) -> bool:
        """A face was lost in the last SEEK_FRAMES frames and not found again: the faces of a frame
        before may lack it, back in view now."""
        return self._lost or self._seek > 0

    @property
    def wearer_lost(self) -> bool:
        """The first face was lost and is still looked for, while other faces are tracked: this frame's
        first face is someone else's, and the wearer's may be in view unread (turned, half hidden)."""
        return self._vacant and bool(self._tracks)

    def apply(self, settings: FaceSettings) -> None:
        """Take new face settings between frames; only a detector change reopens a model."""
        if settings.detector != self.settings.detector:
            self.detector = FaceDetector(settings.detector, self.runtime.provider, self.runtime.threads)
        if not settings.smoothing:
            for track in self._tracks:
                track.filter.reset()
        self._tracks = self._tracks[: settings.max_faces]
        self.settings = settings

    def providers(self) -> dict[str, str]:
        return {self.detector.session.name: self.detector.session.provider,
                self.landmarker.session.name: self.landmarker.session.provider}

    def process(self, image_bgr: np.ndarray, want_iris: bool = False, t: float | None = None,
                fresh_iris: bool = False, carry: bool = False, verify: bool = False) -> list[Face]:
        """Faces in this frame. ``t`` is the capture time in seconds (for the jitter filter);
        without it frames are taken to be 1/fps apart. ``fresh_iris``: run the iris model on both
        eyes this frame instead of carrying irises between runs. ``carry``: the caller takes a mesh
        carried from the last reads on up to CARRY_RUN frames in a row (see the module's notes).
        ``verify``: an effect draws over the face where the mesh says it is; the mesh is held against
        the detector (see the module's notes), and one that misses its keypoints raises ModelOutputError."""
        if not isinstance(image_bgr, np.ndarray) or image_bgr.ndim != 3 or image_bgr.shape[2] != 3 \
                or image_bgr.dtype != np.uint8:
            raise ValueError("Face analysis needs a BGR uint8 frame of shape (height, width, 3).")
        if image_bgr.shape[0] < 2 or image_bgr.shape[1] < 2:
            return []
        if image_bgr.strides[1] < 0 or image_bgr.strides[2] < 0:  # e.g. a mirrored view; OpenCV needs forward steps
            image_bgr = np.ascontiguousarray(image_bgr)
        if image_bgr.shape != self._shape:
            self.reset()
            self._shape = image_bgr.shape
        dt = self.frame_dt
        if t is not None and math.isfinite(t):  # an infinite time kept as the last would freeze dt for good
            if self._last_t is not None and t > self._last_t:
                dt = t - self._last_t
            self._last_t = t

        s = self.settings
        self._frame += 1
        self._since_detect += 1
        self._since_found += 1
        self._found = None
        # The periodic run looks for newcomers only: with max_faces faces tracked there is no room
        # for one, and a detection over a tracked face keeps the tracked crop, so it would change
        # nothing but that frame's keypoints (~3 ms a run, the face stage's slowest frames).
        room = len(self._tracks) < s.max_faces
        if self._lost:
            self._seek = SEEK_FRAMES
        if not self._tracks or self._lost or (room and (self._seek > 0 or self._since_detect >= s.detect_every)):
            self._detect(image_bgr)
        self._seek = max(0, self._seek - 1)
        if not self._lost and self._seek == 0:
            self._vacant = False  # looked for long enough: whoever is first now is the one a swap covers

        faces: list[Face] = []
        kept: list[_Track] = []
        self._lost = False
        for n, track in enumerate(self._tracks):
            # A detection this frame comes with keypoints the mesh read goes with.
            landmarks = carried_mesh(image_bgr, track, self._frame) if carry and track.keypoints is None else None
            if landmarks is not None:
                presence, box = track.presence, _bounds(landmarks)
            else:
                landmarks, presence = self.landmarker.run(image_bgr, track.roi)
                box = None if presence < PRESENCE_THRESHOLD else _bounds(landmarks)
                if box is None or not _spread(landmarks, track.roi.size, box):
                    self._lost = True
                    self._vacant |= n == 0
                    continue
                if _off_crop(box, track.roi):
                    raise ModelOutputError(f"Model {self.landmarker.session.name} put the face off the middle of "
                                           "the picture it was shown; this frame's result is not used.")
                if verify:
                    self._verify(image_bgr, track, landmarks, box)
                track.reads = [*track.reads[-1:], (self._frame, landmarks)]
                track.presence = presence
                track.look = _look(image_bgr, box) if carry else None
            next_roi = roi_from_landmarks(landmarks, box)
            if any(box_iou(next_roi.box(), other.roi.box()) > DUPLICATE_IOU for other in kept):
                continue  # two tracks converged on one face; the earlier (older) one stays
            track.roi = next_roi
            kept.append(track)
            raw = landmarks
            if s.smoothing:
                landmarks = track.filter(landmarks, dt, scale=next_roi.size / 1.5)
            xy = landmarks[:, :2]
            face = Face(
                box=np.concatenate([xy.min(0), xy.max(0)]).astype(np.float32),
                score=presence,
                landmarks=landmarks,
                pose=head_pose(landmarks),
                keypoints=track.keypoints,
                track_id=track.id,
                raw_landmarks=raw,
            )
            if want_iris:
                face.iris, face.lids, face.eye_openings = self._irises(image_bgr, landmarks, track, fresh_iris)
            track.keypoints = None  # detector keypoints belong to the frame the detector ran on
            faces.append(face)
        self._tracks = kept
        return faces

    def _irises(self, image_bgr: np.ndarray, landmarks: np.ndarray, track: _Track,
                fresh: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(10, 3) iris points, (2,) lid gaps (see ``Face.lids``) and (2, 16, 2) openings: each eye's model every
        IRIS_EVERY frames (the eyes half a cycle apart), carried in between; both from the model
        after a gap or when ``fresh``."""
        fresh = fresh or track.iris_frame != self._frame - 1
        track.iris_frame = self._frame
        out: list[np.ndarray | None] = [None, None]
        lids = np.zeros(2, np.float32)
        openings = np.zeros((2, 16, 2), np.float32)
        ran, moved = [False, False], [False, False]
        # Both eyes blink together, and on some faces the mesh barely moves one eye's lids: where one
        # eye's model finds its lids closing since its last reading, the other eye is read too (the
        # third pass reads the right eye again when the left one's reading found them closing).
        for eye in (0, 1, 0):
            if out[eye] is not None and (ran[eye] or not moved[1 - eye]):
                continue
            outer, inner = EYE_CORNERS[eye]
            state = track.irises[eye]
            corners = landmarks[[outer, inner], :2].astype(np.float64)
            mesh_lid = lid_gap(landmarks, *MESH_LIDS[eye])
            carried = None
            if not (fresh or moved[1 - eye] or state is None or state.age >= IRIS_EVERY
                    or abs(mesh_lid - state.mesh_lid) > LID_MOVED * state.mesh_lid):
                carried, low = carry_iris(image_bgr, corners, state)
                if carried is not None and match_rose(track.match[eye], low):
                    carried = None
            if carried is None:  # the model's turn, or the patch was not found again
                points, contour = self.landmarker.iris_eye_lids(image_bgr, landmarks, eye)
                lid = contour_lid_gap(contour)
                moved[eye] = state is not None and lid < (1.0 - LID_MOVED) * state.lid  # closing
                ran[eye] = True
                # After a gap both eyes start together; the second's next run then comes half a
                # cycle later, so the two models never share a frame again.
                age = -(IRIS_EVERY // 2) * eye if fresh else 0
                # The usual opening, as EyeClosure follows it; an eye narrower is read again sooner.
                usual = track.usual[eye] or lid
                usual += (OPEN_RISE if lid > usual else OPEN_FALL) * (lid - usual)
                track.usual[eye] = usual
                if lid < (1.0 - LID_MOVED) * usual:
                    age = max(age, IRIS_EVERY - NARROW_EVERY)
                state = _Iris(image_bgr, points, corners, age, lid, mesh_lid, _opening(contour))
                track.irises[eye] = state
                out[eye], lids[eye], openings[eye] = points, lid, state.opening
            else:
                out[eye] = carried
                # The mesh's lids move with the picture's, only not as far: its (small) change since
                # the model's frame scales the model's gap.
                lids[eye] = state.lid * min(mesh_lid / max(state.mesh_lid, 1e-6), 1.5)
                openings[eye] = carry_opening(corners, state)
            state.age += 1
        return np.concatenate(out), lids, openings

    def _verify(self, image_bgr: np.ndarray, track: _Track, landmarks: np.ndarray, box: np.ndarray) -> None:
        """Raise ModelOutputError where this read mesh misses the detector's keypoints, on the frames the
        module's notes name; after that, every frame is checked until a mesh agrees."""
        if self._found is None:
            if not (self._doubted or self._since_found >= VERIFY_EVERY or _off_crop(box, track.roi, JUMP)):
                return
            self.detector_runs += 1
            self._since_found = 0
            # One face more than are tracked: a face someone else nearer the camera outranks is still found.
            self._found = self.detector.detect(image_bgr, max_faces=self.settings.max_faces + 1)
        miss = mesh_check.nearest_miss(landmarks, box, self._found)
        if miss is not None and miss <= mesh_check.MISS:
            self._doubted = False
            return
        if miss is None and not self._doubted:
            return  # no face found there (turned away, in the dark): nothing to hold the mesh against
        # Refused before the track takes it: the crop stays the last agreeing mesh's, on the face.
        self._doubted = True
        raise ModelOutputError(f"Model {self.landmarker.session.name} put the face's eyes, nose and mouth where the "
                               "face detector finds none; this frame's result is not used.")

    def _detect(self, image_bgr: np.ndarray) -> None:
        self._since_detect = 0
        self._since_found = 0
        self.detector_runs += 1
        detections = self.detector.detect(image_bgr, max_faces=self.settings.max_faces)
        self._found = detections
        boxes = [t.roi.box() for t in self._tracks]
        for det in detections:
            roi = roi_from_detection(det)
            matched = next((t for t, b in zip(self._tracks, boxes) if box_iou(roi.box(), b) > ASSOCIATION_IOU), None)
            if matched is not None:
                matched.keypoints = det.keypoints
                continue
            if len(self._tracks) >= self.settings.max_faces:
                break
            first = bool(self._tracks) and (self._vacant or roi.size > FIRST_WIDER * self._tracks[0].roi.size)
            self._vacant = False
            self._tracks.insert(0 if first else len(self._tracks), _Track(self._next_id, roi, det.keypoints))
            boxes.insert(0 if first else len(boxes), roi.box())
            self._next_id += 1
            self._seek = 0
