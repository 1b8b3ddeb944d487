"""The "AI-altered" disclosure badge: visible by default, in a corner, scaled, legible, and only
hidden by an explicit setting that is logged."""
import json
import logging

import cv2
import numpy as np
import pytest
from conftest import FIXTURES

from livecam import settings as S
from livecam.effects import REGISTRY, SPECS, BadgeSettings, build_effect, sections_for
from livecam.effects.badge import BADGE_OFF_WARNING, Badge
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


def test_badge_is_on_by_default_with_a_face_altering_effect_and_off_only_by_setting():
    photo = str(FIXTURES / "mpl_grace_hopper.jpg")
    assert BadgeSettings().enabled is True
    assert build_effect(SPECS["badge"], S.Settings()) is None  # nothing alters a face, nothing to disclose
    frame = np.full((360, 640, 3), 120, np.uint8)
    for on in (S.update(S.Settings(), avatar={"mode": "swap", "photo": photo}),
               S.update(S.Settings(), eye_contact={"enabled": True})):
        badge = build_effect(SPECS["badge"], on)
        assert isinstance(badge, Badge) and badge.visible
        assert _changed(badge.apply(frame, Analysis(altered=True))[0], frame).any()
        hidden = build_effect(SPECS["badge"], S.update(on, badge={"enabled": False}))
        assert hidden.apply(frame, Analysis(altered=True))[0] is frame
    # Key light is lighting, not a changed face: no badge.
    assert build_effect(SPECS["badge"], S.update(S.Settings(), key_light={"strength": 70})) is None
    altering = {spec.name for spec in REGISTRY if spec.alters_face}
    assert altering == {"avatar", "eye_contact"}
    assert set(SPECS["badge"].reads) >= {"avatar", "eye_contact"}  # a change there reconsiders the badge


def test_turning_the_badge_off_is_logged_and_takes_no_rebuild(caplog):
    on = S.update(S.Settings(), eye_contact={"enabled": True})
    badge = build_effect(SPECS["badge"], on)
    with caplog.at_level(logging.WARNING):
        assert badge.update(*sections_for(SPECS["badge"], on)) is True
    assert BADGE_OFF_WARNING not in caplog.text
    off = S.update(on, badge={"enabled": False})
    with caplog.at_level(logging.WARNING):
        assert badge.update(*sections_for(SPECS["badge"], off)) is True
    assert BADGE_OFF_WARNING in caplog.text and not badge.visible
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        build_effect(SPECS["badge"], off)  # a start with the badge off says so too
    assert BADGE_OFF_WARNING in caplog.text
    assert badge.update(*sections_for(SPECS["badge"], on)) is True and badge.visible


def test_old_settings_with_avatar_badge_migrate(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"avatar": {"mode": "swap", "photo": "/x.jpg", "badge": False}}))
    loaded = S.load(path)
    assert loaded.badge.enabled is False and loaded.avatar.mode == "swap"
    assert not (tmp_path / "settings.json.bak").exists()  # read as a good file, not a broken one
    # A badge section written alongside wins over the old field.
    both = {"avatar": {"badge": False}, "badge": {"enabled": True}}
    assert S.from_dict(both).badge.enabled is True
    assert both == {"avatar": {"badge": False}, "badge": {"enabled": True}}  # the caller's dict is untouched
    assert "badge" not in S.to_dict(S.Settings())["avatar"]


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


def test_badge_stays_between_glances_and_goes_after_its_hold():
    """Eye contact alters only the frames where you look at the screen: the label went on and off
    26 times in 300 frames of lp_d3. It now stays HOLD_FRAMES after the last altered frame."""
    from livecam.effects.badge import HOLD_FRAMES

    frame = np.full((360, 640, 3), 120, np.uint8)
    badge = Badge()
    glances = [True, False, False, True] + [False] * 5 + [True] + [False] * 3
    shown = [_changed(badge.apply(frame, Analysis(altered=a))[0], frame).any() for a in glances]
    assert all(shown)
    tail = [_changed(badge.apply(frame, Analysis(altered=False))[0], frame).any() for _ in range(HOLD_FRAMES)]
    assert tail.index(False) == HOLD_FRAMES - 3 and not any(tail[HOLD_FRAMES - 3:])
    hidden = Badge(BadgeSettings(enabled=False))
    assert all(hidden.apply(frame, Analysis(altered=a))[0] is frame for a in glances)
