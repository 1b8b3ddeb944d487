"""The face swap's shut eye on real pixels: a blink closes the photo's own lids into a thin, soft lash
line on lid skin (not a painted black crescent), half-closed lids fall continuously, and an open
eye is left as it was. The blink clip comes from the shared test data (skipped where it is absent)."""
import cv2
import numpy as np
import pytest
from conftest import FIXTURES, shared_data

from livecam.analysis.avatar_photo import load_avatar_photo
from livecam.analysis.face_tracker import FaceTracker
from livecam.effects import avatar as av
from livecam.settings import FaceSettings, RuntimeSettings
from livecam.types import Analysis

BLINK_CLIP = "video/lp_s18_room_landscape.mp4"  # tuning half: eyes open on frames 0-5, shut on 8-11


@pytest.fixture(scope="module")
def blink():
    data_dir = shared_data()
    if not data_dir.is_dir():
        pytest.skip(f"shared test data not found at {data_dir}")
    cap = cv2.VideoCapture(str(data_dir / BLINK_CLIP))
    tracker = FaceTracker(FaceSettings(), RuntimeSettings())
    out = []
    try:
        for _ in range(11):
            ok, frame = cap.read()
            assert ok
            faces = tracker.process(frame)
            assert faces
            out.append((frame, faces[0]))
    finally:
        cap.release()
    return out


@pytest.fixture(scope="module")
def astronaut_swap_run(blink):
    """The astronaut's photo worn through the blink: the swap, and its output on the shut frame."""
    swap = av.FaceSwap(load_avatar_photo(FIXTURES / "sk_astronaut.png", store=False))
    for frame, face in blink:
        out, _ = swap.apply(frame, Analysis(faces=[face]))
    return swap, out


def _mask(landmarks, outline, shape):
    m = np.zeros(shape[:2], np.uint8)
    cv2.fillPoly(m, [np.round(landmarks[np.asarray(outline), :2]).astype(np.int32)], 1)
    return m.astype(bool)


def _dark_line(out, lm, k):
    """Over the middle 60 % of eye ``k`` (the column strip from 4 % of the face width above its lid
    margins to as far below): per column, how many rows are darker than three quarters of the way
    from the lid skin (75th percentile) to the darkest pixel (the line's core), and that contrast;
    medians over the columns, plus the mean darkness (skin - darkest) of the outer and the inner
    third of the eye's length."""
    grey = cv2.cvtColor(out, cv2.COLOR_BGR2GRAY).astype(float)
    pairs, corners = av.LID_PAIRS[k], av.LID_CORNERS[k]
    outer, inner = lm[corners[0], 0], lm[corners[1], 0]
    ys = lm[[p for pair in pairs for p in pair], 1]
    fw = av.face_width(lm)
    y0, y1 = int(ys.min() - 0.04 * fw), int(ys.max() + 0.04 * fw)
    rows, depth = [], {}
    for share in np.linspace(0.1, 0.9, 33):
        col = grey[y0:y1, int(round(outer + share * (inner - outer)))]
        skin, dark = np.percentile(col, 75), col.min()
        if 0.2 <= share <= 0.8:
            rows.append(((col < skin - 0.75 * (skin - dark)).sum(), skin - dark))
        if share <= 1 / 3 or share >= 2 / 3:
            depth.setdefault(share <= 1 / 3, []).append(skin - dark)
    rows = np.array(rows, float)
    return float(np.median(rows[:, 0])), float(np.median(rows[:, 1])), np.mean(depth[True]), np.mean(depth[False])


def test_a_shut_eye_is_a_thin_soft_lash_line_darkest_at_the_outer_corner(blink, astronaut_swap_run):
    """On the clip's shut frame the photo's eye is shut: a lash line still shows (dlib and people read
    it as an eye), but its core is thinner than 0.4 of the wearer's open lid gap (the drawn crescent
    of before was 0.51-0.60 of it, 6-7 rows), and it is darker at the outer corner than at the inner."""
    swap, out = astronaut_swap_run
    assert min(swap._lids) > 0.9
    lm = swap._last
    open_lm = blink[0][1].landmarks
    for k, pairs in enumerate(av.LID_PAIRS):
        open_gap = np.mean([open_lm[d, 1] - open_lm[u, 1] for u, d in pairs])
        assert open_gap > 5
        thickness, contrast, outer, inner = _dark_line(out, lm, k)
        assert contrast > 40  # the lashes are there
        assert thickness < 0.4 * open_gap
        assert outer > inner + 5


def _photo_lash_grey(image, lm):
    """The dark end of the photo's own lash colour band (grey): the 5th percentile of its open lid
    margins."""
    line = np.zeros(image.shape[:2], np.uint8)
    for pairs in av.LID_PAIRS:
        margins = np.vstack([lm[[p[0] for p in pairs], :2], lm[[p[1] for p in pairs], :2]])
        cv2.polylines(line, [np.round(margins).astype(np.int32)], True, 255, 2)
    return float(np.percentile(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(float)[line > 0], 5))


def test_a_shut_eye_holds_no_band_darker_than_the_photos_lashes(astronaut_swap_run):
    """Hardly a pixel of the shut lids is darker than the dark end of the photo's own lash colour
    (brought to the frame's light as the lid skin is) by more than 12 levels, far fewer than a line
    along the eye would hold: the line is the photo's lashes, not black paint (the drawn crescent of
    before had 85 and 146 such pixels on eyes 41-48 px wide)."""
    swap, out = astronaut_swap_run
    lm, src = swap._last, swap.source
    lash = _photo_lash_grey(src.image, src.landmarks)
    grey = cv2.cvtColor(out, cv2.COLOR_BGR2GRAY).astype(float)
    photo_grey = cv2.cvtColor(src.image, cv2.COLOR_BGR2GRAY).astype(float)
    for lids, corners in zip((av.RIGHT_LIDS, av.LEFT_LIDS), av.LID_CORNERS):
        region = _mask(lm, lids, out.shape)
        # The relighting's gain here: the lid skin's level in the frame over the photo's.
        gain = np.percentile(grey[region], 75) / np.percentile(photo_grey[_mask(src.landmarks, lids, photo_grey.shape)], 75)
        eye_width = float(np.linalg.norm(lm[corners[0], :2] - lm[corners[1], :2]))
        assert eye_width > 30
        assert (grey[region] < gain * lash - 12).sum() < 0.4 * eye_width


def test_an_open_eye_is_left_as_it_was(blink, astronaut_swap_run):
    """Shutting one eye changes nothing at the other, open one."""
    swap, _ = astronaut_swap_run
    frame, face = blink[0]
    lm = swap._last
    both_open = swap.render(frame, lm, 1.0, (0.0, 0.0), (0.0, 0.0), face.landmarks)
    one_shut = swap.render(frame, lm, 1.0, (0.0, 1.0), (0.0, 0.0), face.landmarks)
    right = _mask(lm, av.RIGHT_LIDS, frame.shape)
    left = _mask(lm, av.LEFT_LIDS, frame.shape)
    change = np.abs(both_open.astype(int) - one_shut)
    assert change[right].max() <= 1
    assert change[left].mean() > 5  # the other eye did shut


def test_a_closing_lid_falls_without_a_jump(blink, astronaut_swap_run):
    """From open to shut in twentieths, no step changes the eye much more than the others: the first
    (the photo's lashes giving way to the lid at once) was 4.4 times the median step."""
    swap, _ = astronaut_swap_run
    frame, face = blink[10]
    lm = swap._last
    left = _mask(lm, av.LEFT_LIDS, frame.shape)
    steps = [swap.render(frame, lm, 1.0, (v, v), (0.0, 0.0), face.landmarks)[left].astype(int)
             for v in np.linspace(0.0, 1.0, 21)]
    change = [np.abs(b - a).mean() for a, b in zip(steps, steps[1:])]
    assert min(change) > 0.3  # every step moves the lid
    assert max(change) < 3.5 * np.median(change)
