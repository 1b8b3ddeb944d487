"""The "AI-altered" disclosure badge: visible by default, in a corner, scaled, legible, and only
hidden by an explicit setting that is logged."""
import logging

import cv2
import numpy as np
import pytest
from conftest import FIXTURES

from livecam import settings as S
from livecam.effects import SPECS, build_effect
from livecam.effects.avatar import BADGE_OFF_WARNING
from livecam.effects.badge import Badge
from livecam.types import Analysis


def _changed(a, b):
    return np.abs(a.astype(int) - b).sum(2) > 0


@pytest.mark.parametrize("size", [(1280, 720), (640, 360), (1920, 1080)])
def test_badge_sits_in_the_top_right_corner_scaled_to_the_frame(size):
    w, h = size
    frame = np.full((h, w, 3), 120, np.uint8)
    out = Badge().apply(frame, Analysis(altered=True))[0]
    assert out.shape == frame.shape and out.dtype == np.uint8
    ys, xs = np.nonzero(_changed(out, frame))
    assert len(xs) > 0
    assert xs.min() > w / 2 and ys.max() < h / 6  # top-right, nowhere else
    assert (ys.max() - ys.min()) == pytest.approx(0.05 * h, rel=0.35)  # about 5 % of the height
    assert xs.max() < w - 0.01 * h and ys.min() > 0.01 * h  # a margin to the frame's edge


def test_badge_is_legible_and_semi_opaque():
    badge = Badge()
    x0, y0, x1, y1 = badge.position((1280, 720))
    black = badge.apply(np.zeros((720, 1280, 3), np.uint8), Analysis(altered=True))[0][y0:y1, x0:x1]
    white = badge.apply(np.full((720, 1280, 3), 255, np.uint8), Analysis(altered=True))[0][y0:y1, x0:x1]
    # White text on a dark plate over a white frame: both ends of the range are there.
    assert (white.min(2) > 240).mean() > 0.05 and (white.max(2) < 140).mean() > 0.3
    # Over black the text still shows, and the plate lets a white frame through partly.
    assert (black.min(2) > 240).mean() > 0.05
    plate = (black.max(2) == 0) & (white.max(2) < 140)
    assert plate.mean() > 0.3
    assert 40 < white[plate].mean() < 140  # darkened, not painted over


def test_badge_shows_only_on_altered_frames():
    frame = np.full((360, 640, 3), 120, np.uint8)
    assert Badge().apply(frame, Analysis(altered=False))[0] is frame
    assert _changed(Badge().apply(frame, Analysis(altered=True))[0], frame).any()


def test_badge_does_not_touch_the_input():
    frame = cv2.imread(str(FIXTURES / "sk_astronaut.png"))
    before = frame.copy()
    Badge().apply(frame, Analysis(altered=True))[0]
    assert (frame == before).all()


def test_badge_is_on_by_default_with_an_avatar_and_off_only_by_setting():
    photo = str(FIXTURES / "mpl_grace_hopper.jpg")
    assert S.AvatarSettings().badge is True
    on = S.update(S.Settings(), avatar={"mode": "swap", "photo": photo})
    assert isinstance(build_effect(SPECS["badge"], on), Badge)
    assert build_effect(SPECS["badge"], S.Settings()) is None  # no avatar, nothing to disclose
    off = S.update(on, avatar={"badge": False})
    assert build_effect(SPECS["badge"], off) is None


def test_turning_the_badge_off_is_logged(caplog):
    photo = str(FIXTURES / "mpl_grace_hopper.jpg")
    settings = S.update(S.Settings(), avatar={"mode": "swap", "photo": photo, "badge": False})
    with caplog.at_level(logging.WARNING):
        build_effect(SPECS["avatar"], settings)
    assert BADGE_OFF_WARNING in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        build_effect(SPECS["avatar"], S.update(settings, avatar={"badge": True}))
    assert BADGE_OFF_WARNING not in caplog.text


def test_pipeline_output_carries_the_badge_and_the_swap():
    from livecam.pipeline import Pipeline

    frame = cv2.imread(str(FIXTURES / "sk_astronaut.png"))
    settings = S.update(S.Settings(), background={"mode": "off"}, output={"kind": "null"},
                        avatar={"mode": "swap", "photo": str(FIXTURES / "mpl_grace_hopper.jpg")})
    pipeline = Pipeline(settings)
    try:
        assert not pipeline.problems()
        for _ in range(8):  # the swap fades in over a few frames
            out = pipeline.process(frame)
        box = pipeline.last_analysis.faces[0].box.astype(int)
    finally:
        pipeline.close()
    x0, y0, x1, y1 = Badge().position((frame.shape[1], frame.shape[0]))
    changed = _changed(out, frame)
    assert changed[y0:y1, x0:x1].mean() > 0.5  # the badge
    bw, bh = box[2] - box[0], box[3] - box[1]
    cheeks = changed[box[1] + bh // 3: box[3] - bh // 3, box[0] + bw // 4: box[2] - bw // 4]
    assert cheeks.mean() > 0.8  # the swapped face
