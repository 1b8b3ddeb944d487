"""Where the photo avatar's head is: the wearer's head position read from this frame's picture.

The face stage's jitter filter (One Euro, MediaPipe's settings: 0.05 Hz at rest) smooths every
mesh point hard while the head is still, so its points trail a head that starts to move by pixels,
and the portrait, placed by them, trails the wearer. The head's position is the centre of the
mesh's ~30 rigid pose points, an average that takes most of the per-point jitter away, so it needs
far less smoothing: :class:`HeadPlacement` takes that centre from the unfiltered points
(``Face.raw_landmarks``) through its own, lighter One Euro filter. Rotation, scale and expression
keep the filtered points: on the tuning clips the rotation read from the unfiltered points gained
nothing over the position alone, at three times the cost.
"""
from __future__ import annotations

import numpy as np

from livecam.analysis.face_measures import face_width
from livecam.analysis.head_pose import POSE_INDICES
from livecam.analysis.one_euro import BETA, D_CUTOFF, OneEuroFilter

MIN_CUTOFF = 10.0  # Hz: the position's smoothing while still (the points' own filter has 0.05)
FRAME_DT = 1.0 / 30  # seconds between frames (the face stage's own assumption without timestamps)


class HeadPlacement:
    """The centre of the wearer's pose points, neutral and now, as the picture showed them."""

    def __init__(self, min_cutoff: float = MIN_CUTOFF) -> None:
        self._filter = OneEuroFilter(min_cutoff, BETA, D_CUTOFF)
        self._neutral: np.ndarray | None = None
        self._size = 1.0

    def reset(self) -> None:
        """Forget the neutral face: the next one given is it."""
        self._neutral = None
        self._filter.reset()

    def restart(self) -> None:
        """Keep the neutral face, start the smoothing afresh (a face that comes back)."""
        self._filter.reset()

    def __call__(self, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(neutral centre, centre now): the pose points' centre (x, y, z, frame pixels) on the first
        unfiltered mesh after :meth:`reset` and on ``raw``, the latter smoothed."""
        centre = np.asarray(raw)[POSE_INDICES].mean(0, dtype=np.float64)
        if self._neutral is None:
            self._neutral = centre
            self._size = max(face_width(raw), 1.0)
        return self._neutral, self._filter(centre, FRAME_DT, scale=self._size).astype(np.float64)
