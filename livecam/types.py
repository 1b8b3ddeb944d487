"""Data that flows through the pipeline: a captured frame and what analysis found in it."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Frame:
    """One captured picture. ``image`` is BGR uint8 (H, W, 3); ``t`` is the capture time
    (``time.monotonic()``) so latency can be measured end to end."""

    image: np.ndarray
    index: int
    t: float
    placeholder: bool = False  # True when the camera is gone and this is the "retrying" card


@dataclass
class Face:
    """One tracked face in frame pixel coordinates."""

    box: np.ndarray  # (4,) float32: x0, y0, x1, y1
    score: float  # detection or landmark-presence score, 0..1
    landmarks: np.ndarray  # (468, 3) float32: x, y in pixels, z in pixels relative to the face centre
    pose: tuple[float, float, float] = (0.0, 0.0, 0.0)  # yaw, pitch, roll in degrees
    keypoints: np.ndarray | None = None  # (6, 2) detector keypoints, when the detector ran this frame
    iris: np.ndarray | None = None  # (10, 3) refined iris points when an effect asked for them
    track_id: int = 0
    # With ``iris``: each eye's lid gap over its width (right, left) as the iris model's lid contour
    # sees the picture (the mesh's lids stop at ~0.8 of open on a blink), carried like the iris.
    lids: np.ndarray | None = None
    # With ``iris``: each eye's opening as the iris model's lid contour traces it, (2, 16, 2) pixels,
    # carried like the iris; the mesh's opening is smaller than a wide-open eye's.
    eye_openings: np.ndarray | None = None
    # ``landmarks`` before the jitter filter: where the eyes are in this frame's picture. The filter's
    # points lag a moving head by pixels, so what is measured against the picture (the iris's offset
    # from the eye's corners, the eye's opening for pixels to move) uses these. None = the same.
    raw_landmarks: np.ndarray | None = None


@dataclass
class Analysis:
    """What the models found in one frame. Fields are None/empty when no enabled effect needed them."""

    mask: np.ndarray | None = None  # uint8 (H, W), 255 = person, frame resolution, refined
    raw_mask: np.ndarray | None = None  # float32 model-resolution mask before refinement (for evaluation)
    # The frame and the refined mask at the segmentation model's size: effects that work at low
    # resolution anyway (background blur) reuse them instead of shrinking the frame again.
    small: np.ndarray | None = None  # BGR uint8
    small_mask: np.ndarray | None = None  # float32 0..1
    faces: list[Face] = field(default_factory=list)
    # Hands around the first face (``livecam.analysis.hands.Hand``), when an effect needs "hands":
    # a face effect keeps what passes in front of the face in front.
    hands: list[Any] = field(default_factory=list)
    # Set by an effect that really changed who is shown this frame (face swap, photo avatar): the
    # disclosure badge reads it, so it shows exactly when a frame is altered.
    altered: bool = False
    # Person colour in the band around the outline, with the old room's tint removed, when the mask
    # stage estimated it: a frame-size BGR picture or, cheaper, the edge pixels alone
    # (``analysis.temporal.EdgeColour``; ``.image(frame)`` makes the picture). Compositing uses it
    # instead of the raw frame there.
    foreground: Any = None
    timings: dict[str, float] = field(default_factory=dict)  # stage name -> milliseconds
