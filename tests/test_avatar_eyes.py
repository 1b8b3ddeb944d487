"""The face swap's photo lids close as the wearer's own do: a closure split between the lids as the
wearer's mesh margins moved (a smile's raised lower lid narrows the eye from below). Readings on
synthetic points; drawing on real pixels (the astronaut's photo worn on the tuning blink clip,
skipped where the shared data is absent)."""
import cv2
import numpy as np
import pytest
from conftest import FIXTURES, shared_data

from livecam.analysis.avatar_photo import load_avatar_photo
from livecam.analysis.face_tracker import FaceTracker
from livecam.effects import avatar as av
from livecam.effects import avatar_eyes as eyes
from livecam.settings import FaceSettings, RuntimeSettings
from livecam.types import Analysis


def _eye_points(upper=-10.0, lower=10.0, width=100.0):
    """468 mesh points with both eyes' corners level and ``width`` apart, and their margins at
    ``upper`` / ``lower`` pixels across (per eye, or one value for both)."""
    lm = np.zeros((468, 3), np.float32)
    upper, lower = np.broadcast_to(upper, 2), np.broadcast_to(lower, 2)
    for k, ((_, outer, inner), pairs) in enumerate(zip(eyes.EYE_CORNERS, eyes.MARGINS)):
        x0 = 300.0 * k
        lm[outer, :2], lm[inner, :2] = (x0, 200.0), (x0 + width, 200.0)
        for i, (u, d) in enumerate(pairs):
            x = x0 + width * (i + 1) / (len(pairs) + 1)
            lm[u, :2], lm[d, :2] = (x, 200.0 + upper[k]), (x, 200.0 + lower[k])
    return lm


def test_the_split_follows_the_lid_that_moved():
    """From an open rest, a falling upper margin gives the closure to the upper lid, a rising lower
    margin to the lower lid (a smile), and margins that did not move leave the prior."""
    for moved, check in (((0.0, 0.0), lambda s: s == pytest.approx(av.LID_MEET)),
                         ((6.0, 0.0), lambda s: s > 0.95),
                         ((0.0, 6.0), lambda s: s < 0.15),
                         ((3.0, 3.0), lambda s: 0.4 < s < 0.6)):
        split = eyes.LidSplit(av.LID_MEET)
        for _ in range(5):
            split.update(_eye_points())
        now = split.update(_eye_points(-10.0 + moved[0], 10.0 - moved[1]))
        assert all(check(s) for s in now), (moved, now)


def test_a_lid_that_moves_with_its_margins_is_split_in_close_lids():
    lm = _eye_points()
    out = av.close_lids(lm, [0.5, 0.5], [0.25, 1.0])
    for k, m in enumerate((0.25, 1.0)):
        (u, d) = eyes.MARGINS[k][3]
        assert out[u, 1] - lm[u, 1] == pytest.approx(0.5 * m * 20.0)
        assert lm[d, 1] - out[d, 1] == pytest.approx(0.5 * (1.0 - m) * 20.0)


@pytest.fixture(scope="module")
def worn():
    """The astronaut's photo worn on the blink clip's first (open-eyed) frame."""
    data_dir = shared_data()
    if not data_dir.is_dir():
        pytest.skip(f"shared test data not found at {data_dir}")
    cap = cv2.VideoCapture(str(data_dir / "video/lp_s18_room_landscape.mp4"))
    ok, frame = cap.read()
    cap.release()
    assert ok
    face = FaceTracker(FaceSettings(), RuntimeSettings()).process(frame)[0]
    swap = av.FaceSwap(load_avatar_photo(FIXTURES / "sk_astronaut.png", store=False))
    swap.apply(frame, Analysis(faces=[face]))
    return frame, face, swap


def test_a_raised_lower_lid_narrows_the_eye_from_below(worn):
    """The photo's eye openings painted green and its shut lid magenta: with the split at 0.3 (the
    lower margin did most of the moving) a closure of 0.5 leaves the open eye's top higher and its
    bottom higher than the upper lid alone does (the photo avatar's drawing), and as much of the
    opening still open."""
    frame, face, swap = worn
    lm, src = swap._last, swap.source
    image, closed = src.image, src.closed
    painted = image.copy()
    for outline in av.KEEP_POLYS:
        cv2.fillPoly(painted, [np.round(src.landmarks[np.asarray(outline), :2]).astype(np.int32)], (0, 255, 0))
    src.image, src.closed = painted, np.full_like(closed, (255, 0, 255))
    try:
        c, seen = 0.5, {}
        for meet in ((0.3, 0.3), None):
            out = swap.render(frame, lm, 1.0, (c, c), (0.0, 0.0), face.landmarks, meet=meet).astype(int)
            # green by hue: relit, and darkened by the lashes' shadow near them
            green = (out[..., 1] - out[..., 0] > 15) & (out[..., 1] - out[..., 2] > 15)
            for k in (0, 1):
                box = np.zeros(green.shape, np.uint8)
                cv2.fillPoly(box, [np.round(lm[np.asarray((av.RIGHT_LIDS, av.LEFT_LIDS)[k]), :2]).astype(np.int32)], 1)
                ys, _ = np.nonzero(green & (box > 0))
                seen[meet is None, k] = len(ys), np.percentile(ys, 5), np.percentile(ys, 95)
        for k, pairs in enumerate(av.LID_PAIRS):
            gap = lm[pairs[3][1], 1] - lm[pairs[3][0], 1]
            (area, top, bottom), (area_up, top_up, bottom_up) = seen[False, k], seen[True, k]
            assert top < top_up - 0.15 * gap  # the upper lid came down less
            assert bottom < bottom_up - 0.1 * gap  # the lower lid rose
            assert area > 0.8 * area_up  # about as much of the eye is left open
    finally:
        src.image, src.closed = image, closed
