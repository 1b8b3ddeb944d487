"""Whether a face mesh sits on the face the detector finds: its eyes, nose and mouth against the
detector's keypoints for them. Pure functions.

The mesh model's own answer can be face-shaped, confident and near the middle of its crop and still lie
beside the face (a fault shifting it by a fifth of its crop passed every check of the mesh itself, the
crop followed it, and a face swap was drawn beside the wearer's face, which left unswapped). The face
detector is another model on the whole frame: where its keypoints and the mesh disagree, the mesh is
not the face's.

On the tuning half of the shared data (clips and face photos sorted by name, even places: 2001 mesh
reads, every one with a detection; heads turned up to 21 degrees, glasses, a dim room, low-light photos,
degraded photos) the mean of the four points' offsets was at most 0.087 of the detector's box side
(p99 0.042, median 0.016); the mesh shifted by a tenth of its crop moves them 0.16-0.19. MISS is about
half an eye's width: 1.4x the worst genuine, under a tenth of the crop's shift.
"""
from __future__ import annotations

import numpy as np

from livecam.analysis import face_regions as regions
from livecam.analysis.face_detector import Detection

# The mesh's points for the detector's features (right eye, left eye, nose tip, mouth centre); a
# pair is its mean.
KEYPOINT_MESH = ((regions.RIGHT_EYE_OUTER, regions.RIGHT_EYE_INNER), (regions.LEFT_EYE_OUTER, regions.LEFT_EYE_INNER),
                 (1,), (13, 14))  # the nose tip; the inner lips' middles, as face_measures.mouth_openness
MISS = 0.12  # of the detector's box side, the mean of the four offsets
# A detection is the mesh's to judge when its box's centre is within this many of its sides of the
# mesh's box's centre (genuine: at most 0.12; two faces side by side are a side or more apart).
NEAR = 1.0


def keypoints_of(landmarks: np.ndarray) -> np.ndarray:
    """(4, 2) the mesh's points for the detector's right eye, left eye, nose tip and mouth centre."""
    return np.array([landmarks[list(pair), :2].mean(0) for pair in KEYPOINT_MESH], np.float64)


def miss(landmarks: np.ndarray, detection: Detection) -> float:
    """How far the mesh's eyes, nose and mouth sit from the detection's, as one offset (their mean: a
    shifted mesh moves all four one way, a genuine one's small disagreements partly cancel), in the
    detection's box sides."""
    side = float(detection.box[2] - detection.box[0])
    offset = (keypoints_of(landmarks) - detection.features).mean(0)
    return float(np.hypot(*offset)) / side


def nearest_miss(landmarks: np.ndarray, box: np.ndarray, detections: list[Detection]) -> float | None:
    """The smallest ``miss`` of the mesh (``box``: its x0, y0, x1, y1) against the detections near it
    (NEAR), or None where none is near: the detector found no face there (turned away, in the dark),
    which says nothing either way."""
    centre = 0.5 * (box[:2] + box[2:])
    misses = [miss(landmarks, d) for d in detections
              if np.hypot(*(0.5 * (d.box[:2] + d.box[2:]) - centre)) <= NEAR * float(d.box[2] - d.box[0])]
    return min(misses) if misses else None
