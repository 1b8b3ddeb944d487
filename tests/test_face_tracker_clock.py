"""The face tracker's clock: a capture time that is not a number (an infinite one from a broken
source clock) is no time at all. Kept as the last time, every later real time was "not after it",
so the jitter filter took frames as 1/fps apart for the rest of the session."""
from __future__ import annotations

import numpy as np

from conftest import video_frames
from livecam.analysis.face_tracker import FaceTracker
from livecam.settings import FaceSettings, RuntimeSettings


def _points(times: list, frames: list) -> list[np.ndarray]:
    tracker = FaceTracker(FaceSettings(), RuntimeSettings())
    return [np.array([f.landmarks for f in tracker.process(frame, t=t)]) for frame, t in zip(frames, times)]


def test_an_infinite_capture_time_is_taken_as_none():
    # 10 fps capture times with a 30 fps tracker: the real spacing matters to the jitter filter.
    frames = video_frames("lp_d3_expressions.mp4", 12)
    later = [0.1 * i for i in range(2, 12)]
    with_inf = _points([0.0, float("inf"), *later], frames)
    with_none = _points([0.0, None, *later], frames)
    assert len(with_inf[-1]) == 1
    for a, b in zip(with_inf, with_none):
        np.testing.assert_array_equal(a, b)
    for t in (float("nan"), float("-inf")):
        odd = _points([0.0, t, *later], frames)
        for a, b in zip(odd, with_none):
            np.testing.assert_array_equal(a, b)
