"""Hands near the face: MediaPipe's palm detector and hand landmark model, run only while something
moves around the face, so the face effects can keep a hand that passes in front of the face in front.

The decoding follows MediaPipe 0.10.21's hand graphs (``palm_detection_cpu.pbtxt``,
``hand_landmark_cpu.pbtxt``, ``palm_detection_detection_to_roi.pbtxt``,
``hand_landmark_landmarks_to_roi.pbtxt``): SSD anchors with strides 8,16,16,16, weighted NMS at IoU
0.3, a square crop turned so the wrist-to-middle-finger line points up (2.6x the palm box, shifted
half of it towards the fingers), and, while a hand is followed, the next crop from its own points
(2.0x their box, shifted 0.1 towards the fingers) instead of a new detection.

Running both models costs about 12 ms on one core (palm 8, landmarks 4), so a tiny grey picture of
the ring around the face is compared with the last one first: a still ring (most frames of a
call) runs nothing, and a followed hand costs the landmark model alone.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from livecam import model_specs
from livecam.analysis.face_detector import ssd_anchor_centres, weighted_nms
from livecam.analysis.runtime import load_model

PALM_SIZE = 192
PALM_STRIDES = (8, 16, 16, 16)
PALM_MIN_SCORE = 0.5
NMS_IOU = 0.3
SCORE_CLIP = 100.0
PALM_KEYPOINTS = 7  # wrist centre, index/middle/ring/pinky finger bases, thumb base, thumb middle
HAND_SIZE = 224
HAND_MIN_SCORE = 0.5
# Crop rules of MediaPipe's hand graphs: (scale, shift towards the fingers) for a crop made from a
# palm detection and for one made from the last frame's points.
FROM_PALM = (2.6, 0.5)
FROM_POINTS = (2.0, 0.1)
# The points MediaPipe's landmarks-to-roi step boxes: wrist, thumb base joints, and the two lower
# joints of each finger (fingertips swing too much to steady the crop).
ROI_POINTS = (0, 1, 2, 3, 5, 6, 9, 10, 13, 14, 17, 18)

# The ring around the face that is watched for motion: this many face widths around its centre,
# less the face itself (1.2 face widths: talking and blinking are not a hand coming).
WATCH_SPAN = 3.0
WATCH_CELLS = 48
# "Something moves": this share of the ring's cells (48x48 grey, each about a sixteenth of a face
# width) changed by more than CELL_CHANGE grey levels since the last frame. Camera noise rarely
# moves a cell's average that far; a hand entering the ring covers 5-10 % of it. On five calm webcam
# clips 0-8 % of frames pass, on a lively talking-and-gesturing one 76 %.
CELL_CHANGE = 10
MOTION_SHARE = 0.04
# While the ring moves but no hand was found, the palm detector runs on every this-many-th frame.
DETECT_EVERY = 3
# What a model's output may be to count as a hand at the face (a fault's finite garbage must not
# become a mask that puts the live face back over an effect): its palm at most this many face widths
# wide (a real one at the cheek is 0.37), each point within this many palm widths of the palm's
# centre (1.95 for an open hand), and the palm's centre within the watched square.
MAX_WIDTH = 1.5
MAX_REACH = 3.5

# Finger bones: the lines drawn for the hand's outline (MediaPipe's HAND_CONNECTIONS).
BONES = ((0, 1), (1, 2), (2, 3), (3, 4), (0, 5), (5, 6), (6, 7), (7, 8), (5, 9), (9, 10), (10, 11),
         (11, 12), (9, 13), (13, 14), (14, 15), (15, 16), (13, 17), (0, 17), (17, 18), (18, 19), (19, 20))
PALM = (0, 1, 5, 9, 13, 17)


@dataclass(frozen=True)
class Hand:
    points: np.ndarray  # (21, 2) float32 frame pixels: wrist, then 4 per finger from the thumb
    score: float  # hand presence, 0..1

    @property
    def width(self) -> float:
        """The palm's size in pixels (the hand's own scale): its width across the finger bases, or,
        for a hand seen from the side, where that width shrinks, its length from wrist to middle
        finger base."""
        p = self.points
        return float(max(np.linalg.norm(p[5] - p[17]), 0.9 * np.linalg.norm(p[9] - p[0])))


@dataclass(frozen=True)
class Crop:
    """A square, turned region of the frame: frame = centre + R(angle) @ (offset in the square)."""

    centre: tuple[float, float]
    size: float
    angle: float  # radians; 0 = the square's up is the frame's up

    def matrix(self, out: int) -> np.ndarray:
        """2x3 affine from the ``out``-pixel square to frame pixels."""
        c, s = math.cos(self.angle), math.sin(self.angle)
        k = self.size / out
        cx, cy = self.centre
        # frame = centre + R @ ((u - out/2) * k, (v - out/2) * k)
        return np.array([[c * k, -s * k, cx - (c - s) * self.size / 2],
                         [s * k, c * k, cy - (s + c) * self.size / 2]], dtype=np.float64)

    def cut(self, image: np.ndarray, out: int) -> np.ndarray:
        return cv2.warpAffine(image, self.matrix(out), (out, out), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0)

    def to_frame(self, points: np.ndarray, out: int) -> np.ndarray:
        m = self.matrix(out)
        return (points @ m[:, :2].T + m[:, 2]).astype(np.float32)


def upright_angle(wrist: np.ndarray, middle: np.ndarray) -> float:
    """The turn that makes the wrist-to-middle-finger line point up (MediaPipe: target 90 degrees)."""
    a = math.pi / 2 - math.atan2(-(middle[1] - wrist[1]), middle[0] - wrist[0])
    return a - 2 * math.pi * math.floor((a + math.pi) / (2 * math.pi))


def crop_around(points: np.ndarray, angle: float, scale: float, shift: float) -> Crop:
    """The square crop around ``points`` in the frame turned by ``angle``: their box in that turned
    frame, moved ``shift`` of its height towards the fingers, its long side times ``scale``."""
    c, s = math.cos(angle), math.sin(angle)
    turned = points @ np.array([[c, -s], [s, c]])  # each point in the crop's own axes (R^T p)
    lo, hi = turned.min(0), turned.max(0)
    w, h = hi - lo
    mid = (lo + hi) / 2 + np.array([0.0, -shift * h])
    centre = np.array([c * mid[0] - s * mid[1], s * mid[0] + c * mid[1]])
    return Crop((float(centre[0]), float(centre[1])), float(max(w, h) * scale), angle)


class PalmDetector:
    """Palms in a square region of a BGR frame (MediaPipe's palm detector, lite)."""

    def __init__(self, provider: str = "auto", threads: int = 1) -> None:
        self.session = load_model(model_specs.bundled_files("palm")["palm"], provider=provider, threads=threads)
        self.anchors = ssd_anchor_centres(PALM_SIZE, PALM_STRIDES, 1.0)
        names = [o["name"] for o in self.session.spec["outputs"]]
        self._i_boxes, self._i_scores = names.index("regressors"), names.index("classificators")

    def detect(self, image_bgr: np.ndarray, region: Crop, max_hands: int = 2) -> list[Crop]:
        """The hand crops (for the landmark model) of the palms found in ``region`` (unturned)."""
        rgb = cv2.cvtColor(region.cut(image_bgr, PALM_SIZE), cv2.COLOR_BGR2RGB)
        outputs = self.session.run(self.session.normalize(rgb))
        raw = outputs[self._i_boxes].reshape(-1, 4 + 2 * PALM_KEYPOINTS)
        logits = outputs[self._i_scores].reshape(-1).astype(np.float64)
        scores = 1.0 / (1.0 + np.exp(-np.clip(logits, -SCORE_CLIP, SCORE_CLIP)))
        keep = np.nonzero(scores >= PALM_MIN_SCORE)[0]
        if keep.size == 0:
            return []
        raw, scores, anchors = raw[keep], scores[keep], self.anchors[keep]
        # reverse_output_order: x, y, w, h in input pixels relative to the anchor centre.
        centre = raw[:, :2] + anchors * PALM_SIZE
        half = raw[:, 2:4] / 2
        boxes = np.concatenate([centre - half, centre + half], axis=1)
        kps = raw[:, 4:].reshape(-1, PALM_KEYPOINTS, 2) + anchors[:, None, :] * PALM_SIZE
        crops = []
        for box, kp, _score in weighted_nms(boxes, kps, scores, NMS_IOU)[:max_hands]:
            corners = region.to_frame(np.array([[box[0], box[1]], [box[2], box[3]]], np.float32), PALM_SIZE)
            kp = region.to_frame(kp, PALM_SIZE)
            size = float(np.abs(box[2:] - box[:2]).max()) * region.size / PALM_SIZE
            angle = upright_angle(kp[0], kp[2])
            c, s = math.cos(angle), math.sin(angle)
            centre = corners.mean(0)
            scale, shift = FROM_PALM
            # The shift is along the crop's own up, which the turn carries into the frame.
            centre = centre + np.array([s, -c]) * shift * size
            crops.append(Crop((float(centre[0]), float(centre[1])), size * scale, angle))
        return crops


class HandLandmarker:
    """21 hand points from a hand crop (MediaPipe's hand landmark model, lite)."""

    def __init__(self, provider: str = "auto", threads: int = 1) -> None:
        self.session = load_model(model_specs.bundled_files("hand")["hand"], provider=provider, threads=threads)
        names = [o["name"] for o in self.session.spec["outputs"]]
        self._i_points, self._i_flag = names.index("landmarks"), names.index("hand_flag")

    def run(self, image_bgr: np.ndarray, crop: Crop) -> Hand | None:
        rgb = cv2.cvtColor(crop.cut(image_bgr, HAND_SIZE), cv2.COLOR_BGR2RGB)
        outputs = self.session.run(self.session.normalize(rgb))
        score = float(np.asarray(outputs[self._i_flag]).reshape(-1)[0])
        if not score >= HAND_MIN_SCORE:  # also refuses NaN
            return None
        points = np.asarray(outputs[self._i_points], np.float32).reshape(21, 3)[:, :2]
        if not np.isfinite(points).all():
            return None
        return Hand(crop.to_frame(points, HAND_SIZE), score)


def face_region(box: np.ndarray) -> Crop:
    """The unturned square WATCH_SPAN face widths wide around the face: where a hand can cover it."""
    x0, y0, x1, y1 = (float(v) for v in box[:4])
    side = max(x1 - x0, y1 - y0) * WATCH_SPAN
    return Crop(((x0 + x1) / 2, (y0 + y1) / 2), side, 0.0)


def _usable(region: Crop, shape: tuple[int, ...]) -> bool:
    """A face box the hands can be looked for around: finite, at least a few pixels, and no larger
    than a few frames (a face model's fault otherwise makes crops, points and blurs without bound)."""
    return (math.isfinite(region.centre[0]) and math.isfinite(region.centre[1]) and math.isfinite(region.size)
            and 4.0 <= region.size <= 4.0 * WATCH_SPAN * max(shape[:2]))


def plausible(hand: Hand, region: Crop) -> bool:
    """Whether ``hand`` can be a hand at the face watched in ``region`` (see MAX_WIDTH, MAX_REACH)."""
    p = hand.points
    if not np.isfinite(p).all():
        return False
    width = hand.width
    palm = p[list(PALM)].mean(0)
    face = region.size / WATCH_SPAN
    reach = float(np.linalg.norm(p - palm, axis=1).max())
    return (0.0 < width <= MAX_WIDTH * face and reach <= MAX_REACH * width
            and bool(np.all(np.abs(palm - region.centre) <= region.size / 2)))


def on_face(point: np.ndarray, outline: np.ndarray | None) -> bool:
    """Whether ``point`` lies inside the face's outline.

    The palm detector and the landmark model, shown the lower half of a face, read a hand there
    (lp_d9 at 720p: 93 of 300 frames, scores 0.66-0.9, no lower than real hands' 0.55-0.99), and
    keeping that "hand" in front would put the wearer's own mouth back over a face swap. A real hand
    raised to the face comes from below or beside it: its wrist stays outside the outline, and when
    it is first found (before it is followed) so is its palm."""
    if outline is None:
        return False
    xy = (float(point[0]), float(point[1]))
    return cv2.pointPolygonTest(np.asarray(outline, np.float32).reshape(-1, 1, 2), xy, False) >= 0


def _ring_cells() -> np.ndarray:
    ring = np.ones((WATCH_CELLS, WATCH_CELLS), bool)
    half = WATCH_CELLS / WATCH_SPAN * 1.2 / 2
    a, b = int(WATCH_CELLS / 2 - half), math.ceil(WATCH_CELLS / 2 + half)
    ring[a:b, a:b] = False
    return ring


RING = _ring_cells()


class HandTracker:
    """Hands around the first face, frame after frame: the palm detector only when the ring around
    the face moves and no hand is followed; the landmark model while one is."""

    def __init__(self, provider: str = "auto", threads: int = 1) -> None:
        self.palms = PalmDetector(provider, threads)
        self.landmarks = HandLandmarker(provider, threads)
        self._ring: np.ndarray | None = None
        self._crops: list[Crop] = []
        self._since_detect = DETECT_EVERY
        self.ran: tuple[str, ...] = ()  # the models run on the last frame (for tests and the bench)

    def providers(self) -> dict[str, str]:
        return {"palm_detection_lite": self.palms.session.provider, "hand_landmark_lite": self.landmarks.session.provider}

    def reset(self) -> None:
        self._ring, self._crops, self._since_detect = None, [], DETECT_EVERY

    def _moved(self, image_bgr: np.ndarray, region: Crop) -> bool:
        grey = cv2.cvtColor(region.cut(image_bgr, WATCH_CELLS), cv2.COLOR_BGR2GRAY).astype(np.int16)
        last, self._ring = self._ring, grey
        if last is None:
            return True
        changed = np.abs(grey - last) > CELL_CHANGE
        return float(changed[RING].mean()) > MOTION_SHARE

    def process(self, image_bgr: np.ndarray, face_box: np.ndarray | None,
                outline: np.ndarray | None = None) -> list[Hand]:
        """``outline``: the face's outline (frame pixels, a polygon), when known: a "hand" whose wrist
        lies inside it, or that is first found with its palm inside it, is the face itself (see
        ``on_face``) and is dropped."""
        self.ran = ()
        region = None if face_box is None else face_region(face_box)
        if region is None or not _usable(region, image_bgr.shape):
            self.reset()
            return []
        moved = self._moved(image_bgr, region)
        crops, fresh = self._crops, not self._crops
        if fresh:
            self._since_detect += 1
            if not moved or self._since_detect < DETECT_EVERY:
                return []
            self._since_detect = 0
            crops = self.palms.detect(image_bgr, region)
            self.ran += ("palm",)
        hands, self._crops = [], []
        for crop in crops:
            hand = self.landmarks.run(image_bgr, crop)
            self.ran += ("hand",)
            if hand is None or not plausible(hand, region) or on_face(hand.points[0], outline):
                continue
            if fresh and on_face(hand.points[list(PALM)].mean(0), outline):
                continue  # a hand is first seen coming in: a palm found inside the face is the face
            hands.append(hand)
            points = hand.points[list(ROI_POINTS)]
            scale, shift = FROM_POINTS
            self._crops.append(crop_around(points, upright_angle(hand.points[0], hand.points[9]), scale, shift))
        return hands


def hand_mask(hands: list[Hand], shape: tuple[int, int], soft: float = 0.12) -> np.ndarray | None:
    """uint8 (H, W) cover of the hands (255 = hand): the palm filled and each finger bone drawn as
    thick as a finger, its edge softened by ``soft`` of the palm width. None when there is no hand."""
    if not hands:
        return None
    h, w = shape[:2]
    mask = np.zeros((h, w), np.uint8)
    widest = 0.0
    for hand in hands:
        pts = np.round(hand.points * 4).astype(np.int32)  # 2 fractional bits for cv2's shift
        finger = max(int(hand.width * 0.32), 2)
        cv2.fillConvexPoly(mask, cv2.convexHull(pts[list(PALM)]), 255, cv2.LINE_AA, shift=2)
        for a, b in BONES:
            cv2.line(mask, tuple(pts[a]), tuple(pts[b]), 255, finger, cv2.LINE_AA, shift=2)
        for tip in (4, 8, 12, 16, 20):
            cv2.circle(mask, tuple(pts[tip]), finger * 2, 255, -1, cv2.LINE_AA, shift=2)
        widest = max(widest, hand.width)
    k = int(widest * soft) | 1
    if k >= 3:
        _soften(mask, k)
    return mask


# The widest Gaussian the hand's edge is blurred with at full size; a wider one is made at a lower
# resolution, and only around the hands. Over the whole frame at full size a 1500 px hand of a 4K
# close-up (k = 179) cost 151 ms of CPU per frame (9 ms now); up to k = 31 the mask is unchanged.
MAX_TAPS = 31


def _soften(mask: np.ndarray, k: int) -> None:
    """Blur ``mask`` in place with a k x k Gaussian, only around what is drawn on it (the rest is 0
    and stays 0)."""
    x, y, w, h = cv2.boundingRect(mask)
    if w == 0 or h == 0:
        return
    rows = slice(max(y - k, 0), min(y + h + k, mask.shape[0]))
    cols = slice(max(x - k, 0), min(x + w + k, mask.shape[1]))
    roi = mask[rows, cols]
    step = -(-k // MAX_TAPS)
    if step == 1:
        roi[:] = cv2.GaussianBlur(roi, (k, k), 0)
        return
    rh, rw = roi.shape
    small = cv2.resize(roi, (-(-rw // step), -(-rh // step)), interpolation=cv2.INTER_AREA)
    ks = (k // step) | 1
    roi[:] = cv2.resize(cv2.GaussianBlur(small, (ks, ks), 0), (rw, rh), interpolation=cv2.INTER_LINEAR)

