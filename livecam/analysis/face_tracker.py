"""Face analysis for video: detect rarely, track with the mesh, steady the points.

Like MediaPipe's face_landmark_front graph, each face's next crop comes from this frame's
landmarks, so most frames cost one mesh inference per face. The detector runs when no face is
tracked, when a face was lost, and every ``detect_every`` frames to pick up newcomers; where a
detection overlaps a tracked face the tracked crop is kept (AssociationNormRectCalculator keeps the
later, landmark-based rect), so the detector never makes a tracked face jump.
"""
from __future__ import annotations

import logging

import numpy as np

from livecam.analysis.face_detector import FaceDetector
from livecam.analysis.face_landmarker import PRESENCE_THRESHOLD, FaceLandmarker, Roi, roi_from_detection, roi_from_landmarks
from livecam.analysis.head_pose import head_pose
from livecam.analysis.one_euro import OneEuroFilter
from livecam.imaging import box_iou
from livecam.settings import FaceSettings, RuntimeSettings
from livecam.types import Face

log = logging.getLogger(__name__)

ASSOCIATION_IOU = 0.5  # MediaPipe's min_similarity_threshold for detection vs tracked rects
DUPLICATE_IOU = 0.5  # two tracks that collapsed onto one face


class _Track:
    __slots__ = ("id", "roi", "filter", "keypoints")

    def __init__(self, track_id: int, roi: Roi, keypoints: np.ndarray | None) -> None:
        self.id = track_id
        self.roi = roi
        self.filter = OneEuroFilter()
        self.keypoints = keypoints


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
        self._shape: tuple[int, ...] | None = None
        self._last_t: float | None = None
        self._next_id = 1

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

    def process(self, image_bgr: np.ndarray, want_iris: bool = False, t: float | None = None) -> list[Face]:
        """Faces in this frame. ``t`` is the capture time in seconds (for the jitter filter);
        without it frames are taken to be 1/fps apart."""
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
        if t is not None:
            if self._last_t is not None and t > self._last_t:
                dt = t - self._last_t
            self._last_t = t

        s = self.settings
        self._since_detect += 1
        if not self._tracks or self._lost or self._since_detect >= s.detect_every:
            self._detect(image_bgr)

        faces: list[Face] = []
        kept: list[_Track] = []
        self._lost = False
        for track in self._tracks:
            landmarks, presence = self.landmarker.run(image_bgr, track.roi)
            if presence < PRESENCE_THRESHOLD:
                self._lost = True
                continue
            next_roi = roi_from_landmarks(landmarks)
            if any(box_iou(next_roi.box(), other.roi.box()) > DUPLICATE_IOU for other in kept):
                continue  # two tracks converged on one face; the earlier (older) one stays
            track.roi = next_roi
            kept.append(track)
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
            )
            if want_iris:
                face.iris = self.landmarker.iris(image_bgr, landmarks)
            track.keypoints = None  # detector keypoints belong to the frame the detector ran on
            faces.append(face)
        self._tracks = kept
        return faces

    def _detect(self, image_bgr: np.ndarray) -> None:
        self._since_detect = 0
        self.detector_runs += 1
        detections = self.detector.detect(image_bgr, max_faces=self.settings.max_faces)
        boxes = [t.roi.box() for t in self._tracks]
        for det in detections:
            roi = roi_from_detection(det)
            matched = next((t for t, b in zip(self._tracks, boxes) if box_iou(roi.box(), b) > ASSOCIATION_IOU), None)
            if matched is not None:
                matched.keypoints = det.keypoints
                continue
            if len(self._tracks) >= self.settings.max_faces:
                break
            self._tracks.append(_Track(self._next_id, roi, det.keypoints))
            boxes.append(roi.box())
            self._next_id += 1
