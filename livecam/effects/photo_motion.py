"""Where the photo avatar's head is: the wearer's head position read from this frame's picture.

The face stage's jitter filter (One Euro, MediaPipe's settings: 0.05 Hz at rest) smooths every
mesh point hard while the head is still, so its points trail a head that starts to move by pixels,
and the portrait, placed by them, trails the wearer. The head's position is the centre of the
mesh's ~30 rigid pose points, an average that takes most of the per-point jitter away, so it needs
far less smoothing: :class:`HeadPlacement` takes that centre from the unfiltered points
(``Face.raw_landmarks``) through its own, lighter One Euro filter. Rotation, scale and expression
keep the filtered points: on the tuning clips the rotation read from the unfiltered points gained
nothing over the position alone, at three times the cost.

Round the head, the wearer's own picture says how hair, ears and neck move: :class:`SurroundFlow`
(see there) measures it for the portrait's head ring, which otherwise moves rigidly with the head.
"""
from __future__ import annotations

import cv2
import numpy as np

from livecam.analysis.face_measures import face_width
from livecam.analysis.head_pose import POSE_INDICES
from livecam.analysis.one_euro import BETA, D_CUTOFF, OneEuroFilter
from livecam.imaging import shrink_by, whole_factor_box

MIN_CUTOFF = 10.0  # Hz: the position's smoothing while still (the points' own filter has 0.05)
FRAME_DT = 1.0 / 30  # seconds between frames (the face stage's own assumption without timestamps)
FLOW_PRESET = cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST  # FAST: +0.003 mean tuning SSIM at about twice the cost
FLOW_WIDTH = 200  # the crop round the head is shrunk to at most this width for the flow
FLOW_MARGIN = 0.2  # the crop reaches this share of the points' spread past them on each side
# The flow is measured every this many frames; in between, the motion last measured beyond the
# guess rides on the head's. Tuning half, face-box SSIM lp_d12 / lp_d20 / lp_s18 / lp_d3: every
# frame 0.7951 / 0.8273 / 0.8326 / 0.7925, every 2nd 0.7907 / 0.8271 / 0.8320 / 0.7921 (the rigid
# ring: 0.7703 / 0.8257 / 0.8040 / 0.7865); 720p thread time over the rigid ring +0.71 and +0.34 ms.
# Every 2nd frame was chosen for the cost; the photo avatar has the room under its 14 ms now
# (photo9: every frame, with the plate's PLATE_HOLE 128: 0.7971 / 0.8303 / 0.8338 / 0.7935 against
# 0.7925 / 0.8301 / 0.8332 / 0.7931 every 2nd; with FAST, every frame, at the plate's old 8: 0.7955 /
# 0.8269 / 0.8371 / 0.7956 at about twice the flow's cost).
FLOW_EVERY = 1
FLOW_CELL = 4  # shrunk pixels a side of the cells the flow is averaged over
FLOW_MIN = 32  # shrunk pixels a side below which a crop holds too little to measure


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


class SurroundFlow:
    """How the picture round the wearer's head has moved since the neutral frame, at given points.

    The portrait's head ring (hair, ears, the neck beside the jaw, see ``avatar_stage``) moves
    rigidly with the head, but a wearer's own hair and neck do not quite: hair swings and lags, the
    neck and collar beside the jaw stay as the head turns. A dense optical flow (DIS, OpenCV's
    fastest preset) from the neutral frame's crop round the points to this frame's, both shrunk
    about ``FLOW_WIDTH`` pixels wide, says where each part of that crop has gone. This frame's crop
    is taken where a guess (the caller's: where the rigidly moved ring went) says the points went,
    so the flow measures only what the head's motion leaves (a few pixels even when the camera pans
    a third of the crop), and being measured against the neutral frame each time (not chained) it
    cannot drift. It is measured every ``FLOW_EVERY`` frames."""

    def __init__(self) -> None:
        self._dis = cv2.DISOpticalFlow_create(FLOW_PRESET)
        self.reset()

    def reset(self) -> None:
        """Forget the neutral frame: the next one given is it."""
        self._box: tuple[int, int, int, int] | None = None
        self._ref: np.ndarray | None = None
        self._step = 1
        self._count = 0
        self._left: np.ndarray | None = None  # the motion last measured beyond the guess

    def _crop(self, image: np.ndarray, dx: int = 0, dy: int = 0) -> np.ndarray:
        """The grey crop at the box moved by (dx, dy), shrunk by the whole factor ``_step`` (OpenCV's
        fast area path); past the frame's edge its last pixels repeat."""
        x0, y0, x1, y1 = self._box
        h, w = image.shape[:2]
        cx0, cy0, cx1, cy1 = max(x0 + dx, 0), max(y0 + dy, 0), min(x1 + dx, w), min(y1 + dy, h)
        if cx1 - cx0 < 2 or cy1 - cy0 < 2:
            return self._ref.copy()  # gone from the frame: nothing measured
        grey = cv2.cvtColor(image[cy0:cy1, cx0:cx1], cv2.COLOR_BGR2GRAY)
        if (cx0, cy0, cx1, cy1) != (x0 + dx, y0 + dy, x1 + dx, y1 + dy):
            grey = cv2.copyMakeBorder(grey, cy0 - y0 - dy, y1 + dy - cy1, cx0 - x0 - dx, x1 + dx - cx1,
                                      cv2.BORDER_REPLICATE)
        return shrink_by(grey, self._step)

    def __call__(self, image: np.ndarray, points: np.ndarray, guess=(0.0, 0.0)) -> np.ndarray | None:
        """Per point of ``points`` ((n, 2), where they were in the neutral frame) its displacement
        (frame pixels) since then, ``guess`` (x, y) the displacement expected (the head's); zeros
        on the neutral frame itself (the first call after :meth:`reset`, which fixes the crop round
        the points), None when the crop would be too small to measure."""
        pts = np.asarray(points, np.float64)[:, :2]
        if self._ref is None:
            h, w = image.shape[:2]
            lo, hi = pts.min(0), pts.max(0)
            grow = FLOW_MARGIN * (hi - lo)
            x0, y0 = np.maximum(np.floor(lo - grow), 0).astype(int)
            x1, y1 = np.minimum(np.ceil(hi + grow), (w, h)).astype(int)
            box, step = whole_factor_box(int(x0), int(y0), int(x1), int(y1), FLOW_WIDTH)
            if min(box[2] - box[0], box[3] - box[1]) // step < FLOW_MIN:
                return None
            self._box, self._step = box, step
            self._ref = self._crop(image)
            return np.zeros_like(pts)
        dx, dy = np.round(np.asarray(guess, np.float64)[:2]).astype(int)
        self._count += 1
        if self._left is not None and len(self._left) == len(pts) and self._count % FLOW_EVERY:
            return self._left + (dx, dy)
        flow = self._dis.calc(self._ref, self._crop(image, int(dx), int(dy)), None)
        # One motion per patch, not per pixel: the flow averaged over FLOW_CELL-pixel cells, read
        # between cell centres.
        rows, cols = flow.shape[0] // FLOW_CELL, flow.shape[1] // FLOW_CELL
        cells = cv2.resize(flow[:rows * FLOW_CELL, :cols * FLOW_CELL], (cols, rows), interpolation=cv2.INTER_AREA)
        at = ((pts - self._box[:2]) / self._step / FLOW_CELL - 0.5).astype(np.float32).reshape(-1, 1, 2)
        moved = cv2.remap(cells, at[..., 0], at[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        self._left = moved.reshape(-1, 2).astype(np.float64) * self._step
        return self._left + (dx, dy)
