"""BlazeFace face detection (MediaPipe's short- and full-range models), decoded as MediaPipe does.

Every constant below is MediaPipe 0.10.21's (``face_detection_short_range.pbtxt``,
``face_detection_full_range.pbtxt`` and ``face_detection.pbtxt``): SsdAnchorsCalculator,
TensorsToDetectionsCalculator, NonMaxSuppressionCalculator (weighted, IoU 0.3), and
ImageToTensorCalculator with the aspect ratio kept (letterbox, zero border, range -1..1).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from livecam import model_specs
from livecam.analysis.runtime import ModelOutputError, load_model


@dataclass(frozen=True)
class DetectorSpec:
    model: str
    size: int  # square input, pixels
    strides: tuple[int, ...]
    interpolated_scale_aspect_ratio: float
    min_score: float


SPECS = {
    "short": DetectorSpec(model_specs.bundled_files("face_detector")["short"], 128, (8, 16, 16, 16), 1.0, 0.5),
    "full": DetectorSpec(model_specs.bundled_files("face_detector")["full"], 192, (4,), 0.0, 0.6),
}
NMS_IOU = 0.3
SCORE_CLIP = 100.0
NUM_KEYPOINTS = 6  # right eye, left eye, nose tip, mouth centre, right ear tragion, left ear tragion
# The face's own features, the ears left out: on a turned head the far ear is a guess off the box.
FEATURES = slice(0, 4)
# What a face box the models give looks like. On the tuning half (975 detections of both models on
# the shared clips and photos) every box was square (w/h 0.999-1.000) with its centre in the picture,
# at least 13 of the model's input pixels and at most 0.73 of the picture's long side wide, and no
# keypoint lay farther outside it than 0.19 of its side. A model answering garbage with confident
# scores (huge or tiny boxes, boxes off the picture, keypoints anywhere) found "a face" the mesh then
# found nothing in: the face swap took that for no face in view, and the wearer's own face left
# unswapped and unbadged. Such a box is a model fault. The limits are far outside what a face gives: a
# box ASPECT times wider than tall (or taller), keypoints KEYPOINT_OUT of its side outside it, a side
# over BOX_MAX of the picture's long side or under BOX_MIN of the model's input pixels.
ASPECT = 1.5
KEYPOINT_OUT = 0.5
BOX_MAX = 2.0
BOX_MIN = 2.0


@dataclass
class Detection:
    box: np.ndarray  # (4,) float32 x0, y0, x1, y1 in frame pixels
    keypoints: np.ndarray  # (6, 2) float32 frame pixels
    score: float

    @property
    def features(self) -> np.ndarray:
        """(4, 2) right eye, left eye, nose tip, mouth centre: the keypoints a face's own are judged by."""
        return self.keypoints[FEATURES]


def ssd_anchor_centres(size: int, strides: tuple[int, ...], interpolated_scale_aspect_ratio: float) -> np.ndarray:
    """(N, 2) anchor centres in 0..1, in the model's output order.

    With ``fixed_anchor_size`` every anchor is 1x1, so only the centres matter. Consecutive layers
    with the same stride share one feature map (SsdAnchorsCalculator merges them), each
    contributing one anchor per aspect ratio (here only 1.0) plus the interpolated one if enabled.
    """
    per_layer = 1 + (1 if interpolated_scale_aspect_ratio > 0 else 0)
    centres = []
    i = 0
    while i < len(strides):
        j = i
        while j < len(strides) and strides[j] == strides[i]:
            j += 1
        cells = int(np.ceil(size / strides[i]))
        ys, xs = np.meshgrid((np.arange(cells) + 0.5) / cells, (np.arange(cells) + 0.5) / cells, indexing="ij")
        grid = np.stack([xs.ravel(), ys.ravel()], axis=1)
        centres.append(np.repeat(grid, per_layer * (j - i), axis=0))
        i = j
    return np.concatenate(centres).astype(np.float32)


def weighted_nms(boxes: np.ndarray, keypoints: np.ndarray, scores: np.ndarray, iou_threshold: float):
    """MediaPipe's WEIGHTED non-maximum suppression: each kept face is the score-weighted mean of
    the boxes and keypoints that overlap the best remaining one by more than ``iou_threshold``;
    its score stays the best one's. Returns lists of (box, keypoints, score), best first."""
    order = np.argsort(-scores, kind="stable")
    boxes, keypoints, scores = boxes[order], keypoints[order], scores[order]
    areas = np.maximum(boxes[:, 2] - boxes[:, 0], 0) * np.maximum(boxes[:, 3] - boxes[:, 1], 0)
    remaining = np.arange(len(scores))
    out = []
    while remaining.size:
        top = remaining[0]
        b = boxes[remaining]
        ix = np.clip(np.minimum(b[:, 2], boxes[top, 2]) - np.maximum(b[:, 0], boxes[top, 0]), 0, None)
        iy = np.clip(np.minimum(b[:, 3], boxes[top, 3]) - np.maximum(b[:, 1], boxes[top, 1]), 0, None)
        inter = ix * iy
        union = areas[remaining] + areas[top] - inter
        iou = np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)
        overlap = iou > iou_threshold
        overlap[0] = True  # the best box goes with itself even when it has no area (a model fault): else this never ends
        members = remaining[overlap]
        w = scores[members]
        total = w.sum()
        box = (boxes[members] * w[:, None]).sum(0) / total
        kps = (keypoints[members] * w[:, None, None]).sum(0) / total
        out.append((box.astype(np.float32), kps.astype(np.float32), float(scores[top])))
        remaining = remaining[~overlap]
    return out


class FaceDetector:
    """Finds faces in a BGR frame. ``model`` is "short" (webcam distance, within ~2 m) or "full"."""

    def __init__(self, model: str = "short", provider: str = "auto", threads: int = 1) -> None:
        if model not in SPECS:
            raise ValueError(f"Unknown face detector {model!r}; choose short or full.")
        self.spec = SPECS[model]
        self.session = load_model(self.spec.model, provider=provider, threads=threads)
        self.anchors = ssd_anchor_centres(self.spec.size, self.spec.strides, self.spec.interpolated_scale_aspect_ratio)
        names = [o["name"] for o in self.session.spec["outputs"]]
        self._i_boxes, self._i_scores = names.index("regressors"), names.index("classificators")

    def letterbox(self, image_bgr: np.ndarray) -> tuple[np.ndarray, float, float, float]:
        """The square, zero-padded model input (RGB uint8) and how it maps back: frame = origin + t * side."""
        h, w = image_bgr.shape[:2]
        side = float(max(h, w))
        left, top = (w - side) / 2.0, (h - side) / 2.0
        s = self.spec.size / side
        m = np.array([[s, 0.0, -left * s], [0.0, s, -top * s]], dtype=np.float64)
        small = cv2.warpAffine(image_bgr, m, (self.spec.size, self.spec.size), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        return cv2.cvtColor(small, cv2.COLOR_BGR2RGB), left, top, side

    def detect(self, image_bgr: np.ndarray, max_faces: int = 1, min_score: float | None = None) -> list[Detection]:
        rgb, left, top, side = self.letterbox(image_bgr)
        outputs = self.session.run(self.session.normalize(rgb))
        raw = outputs[self._i_boxes].reshape(-1, 16)
        logits = outputs[self._i_scores].reshape(-1)
        if logits.size > 1 and logits.min() == logits.max():
            # One score for every anchor is a model or driver fault (all zeros, all ones), never a picture:
            # black, white, grey and noise inputs all give the anchors different scores. Taken for "no
            # face", a face swap faded out and showed the wearer's own face for as long as it lasted.
            raise ModelOutputError(f"Model {self.session.name} gave all {logits.size} anchors the same score; "
                                   "this frame's result is not used.")
        threshold = self.spec.min_score if min_score is None else min_score
        scores = 1.0 / (1.0 + np.exp(-np.clip(logits.astype(np.float64), -SCORE_CLIP, SCORE_CLIP)))
        keep = np.nonzero(scores >= threshold)[0]
        if keep.size == 0:
            return []
        raw, scores, anchors = raw[keep], scores[keep], self.anchors[keep]
        size = float(self.spec.size)
        # reverse_output_order: x, y, w, h; offsets are in input pixels relative to the anchor centre.
        cx = raw[:, 0] / size + anchors[:, 0]
        cy = raw[:, 1] / size + anchors[:, 1]
        hw, hh = raw[:, 2] / size / 2, raw[:, 3] / size / 2
        boxes = np.stack([cx - hw, cy - hh, cx + hw, cy + hh], axis=1)
        kps = raw[:, 4:4 + 2 * NUM_KEYPOINTS].reshape(-1, NUM_KEYPOINTS, 2) / size + anchors[:, None, :]
        faces = []
        for box, kp, score in weighted_nms(boxes, kps, scores, NMS_IOU)[:max_faces]:
            box = box * side + np.array([left, top, left, top], np.float32)
            kp = kp * side + np.array([left, top], np.float32)
            fault = box_fault(box, kp, image_bgr.shape, side / size)
            if fault:
                raise ModelOutputError(f"Model {self.session.name} gave a face box {fault}; "
                                       "this frame's result is not used.")
            faces.append(Detection(box.astype(np.float32), kp.astype(np.float32), score))
        return faces


def box_fault(box: np.ndarray, keypoints: np.ndarray, shape: tuple[int, ...], pixel: float) -> str:
    """Why a detection (frame pixels; ``pixel``: one model input pixel in frame pixels) is no face's, or ""."""
    h, w = shape[:2]
    bw, bh = float(box[2] - box[0]), float(box[3] - box[1])
    if not min(bw, bh) >= BOX_MIN * pixel:
        return "too small for a face"
    if max(bw, bh) > BOX_MAX * max(h, w) or max(bw, bh) > ASPECT * min(bw, bh):
        return "of a size or shape no face has"
    if not (0.0 <= 0.5 * (box[0] + box[2]) <= w and 0.0 <= 0.5 * (box[1] + box[3]) <= h):
        return "outside the picture"
    grown = np.array([box[0] - KEYPOINT_OUT * bw, box[1] - KEYPOINT_OUT * bh, box[2] + KEYPOINT_OUT * bw,
                      box[3] + KEYPOINT_OUT * bh])
    face = keypoints[FEATURES]
    if not ((face >= grown[:2]).all() and (face <= grown[2:]).all()):
        return "whose eyes, nose and mouth lie outside it"
    return ""
