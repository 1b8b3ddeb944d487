"""Auto-framing: the framing an operator would pick, no jitter, easing, holding and easing back out,
and the pixels of the cut-out on real frames."""
import cv2
import numpy as np
import pytest

from livecam import settings as S
from livecam.effects.auto_frame import DEAD_ZONE, EYE_LINE, FACE_SHARE, HOLD_S, AutoFrame, target_framing
from livecam.pipeline import Pipeline
from livecam.types import Analysis, Face

W, H = 1280, 720


def _face(box) -> Face:
    return Face(box=np.asarray(box, np.float32), score=1.0, landmarks=np.zeros((468, 3), np.float32))


def _frame_settings(**values):
    return S.update(S.Settings(), auto_frame={"enabled": True, **values}).auto_frame


def _run(effect, boxes, frame):
    """Feed one face box per frame (None = no face); returns the framing after each frame."""
    out = []
    for box in boxes:
        effect.apply(frame, Analysis(faces=[] if box is None else [_face(box)]))[0]
        out.append(effect.framing)
    return out


@pytest.fixture(scope="module")
def grey():
    return np.full((H, W, 3), 90, np.uint8)


def test_target_framing_is_head_and_shoulders():
    box = (600, 300, 680, 400)  # 100 px face in a 720 px frame
    f = target_framing(np.array(box), (W, H), max_zoom=3.0)
    assert f.zoom == pytest.approx(FACE_SHARE * H / 100)
    crop_h = H / f.zoom
    assert f.x == pytest.approx(640)
    top = f.y - crop_h / 2
    assert (350 - top) / crop_h == pytest.approx(EYE_LINE)  # face centre at the eye line
    assert target_framing(np.array(box), (W, H), max_zoom=1.5).zoom == 1.5  # the limit holds
    near = target_framing(np.array((0, 0, 500, 700)), (W, H), max_zoom=3.0)
    assert near.zoom == 1.0 and (near.x, near.y) == (W / 2, H / 2)  # a face filling the picture: no zoom
    edge = target_framing(np.array((0, 0, 60, 60)), (W, H), max_zoom=3.0)
    half_w, half_h = W / 2 / edge.zoom, H / 2 / edge.zoom
    assert edge.x == pytest.approx(half_w) and edge.y == pytest.approx(half_h)  # never past the border


def test_a_large_face_off_to_one_side_gets_zoom_to_be_centred():
    """A face already a third of the picture high needs no zoom for its size, but sitting at x = 200
    of 1280 it can only be centred in a cut-out at most 400 px wide: the zoom comes from the pan."""
    box = np.array((100, 240, 300, 480))  # 240 px high: a third of 720
    for max_zoom in (1.5, 2.0, 3.0):
        f = target_framing(box, (W, H), max_zoom=max_zoom)
        assert f.zoom > 1.0 and f.zoom <= max_zoom
        crop_w = W / f.zoom
        assert f.x == pytest.approx(crop_w / 2)  # pushed against the left edge: as near as it gets
    assert target_framing(box, (W, H), max_zoom=1.5).zoom == 1.5  # the limit holds
    # With room to spare the face is centred exactly (zoom 2.25 keeps it under 3/4 of the framing).
    near = np.array((340, 240, 540, 480))  # centre x = 440: a 880 px cut-out centres it
    f = target_framing(near, (W, H), max_zoom=3.0)
    assert f.x == pytest.approx(440) and W / f.zoom <= 880 + 1e-6
    # A face already in the middle is not zoomed for panning.
    centred = target_framing(np.array((540, 200, 740, 440)), (W, H), max_zoom=3.0)
    assert centred.x == pytest.approx(W / 2) and centred.zoom < 1.1


def _bright_centre(image: np.ndarray) -> tuple[float, float]:
    ys, xs = np.nonzero(image[..., 1] > 200)
    return float(xs.mean()), float(ys.mean())


@pytest.mark.parametrize("max_zoom", [2.0, 3.0])
def test_on_the_pixels_an_off_centre_face_moves_towards_the_centre(grey, max_zoom):
    """A bright patch where the face is: after the framing settles it sits as near the middle of the
    output as the zoom limit allows (before this, framing from face size alone left it at x = 200)."""
    frame = grey.copy()
    box = (100, 240, 300, 480)
    cv2.rectangle(frame, (150, 300), (250, 420), (0, 255, 0), -1)  # the "face", centred at (200, 360)
    effect = AutoFrame(_frame_settings(max_zoom=max_zoom))
    for _ in range(240):
        out = effect.apply(frame, Analysis(faces=[_face(box)]))[0]
    x, _ = _bright_centre(out)
    before = abs(_bright_centre(frame)[0] - W / 2)
    zoom = effect.framing.zoom
    least = abs(200 * zoom - W / 2)  # cut-out against the left edge: the face at 200 * zoom
    assert before == pytest.approx(440, abs=1)
    assert abs(x - W / 2) == pytest.approx(least, abs=3)
    assert abs(x - W / 2) < 0.6 * before
    assert zoom == pytest.approx(min(max_zoom, 2.25), abs=0.01)


def test_a_still_head_with_jittery_boxes_does_not_move_the_picture(grey):
    rng = np.random.default_rng(0)
    effect = AutoFrame(_frame_settings())
    base = np.array([600, 300, 680, 400], float)
    boxes = [base + rng.normal(0, 2.0, 4) for _ in range(240)]  # ±2 px tracker jitter
    framings = _run(effect, boxes, grey)
    settled = np.array([(f.x, f.y, f.zoom) for f in framings[120:]])
    steps = np.abs(np.diff(settled[:, :2], axis=0))
    assert steps.max() < 0.05, f"the framing twitched by {steps.max():.3f} px"


def test_the_framing_eases_to_a_moved_face_without_overshoot(grey):
    effect = AutoFrame(_frame_settings(speed=0.5))
    _run(effect, [(600, 300, 680, 400)] * 150, grey)
    start = effect.framing.x
    moved = _run(effect, [(900, 300, 980, 400)] * 150, grey)
    xs = np.array([f.x for f in moved])
    goal = target_framing(np.array((900, 300, 980, 400)), (W, H), 2.0).x
    assert xs[-1] == pytest.approx(goal, abs=1.0)
    assert (np.diff(xs) >= -1e-9).all(), "it never swings back"
    assert xs.max() <= goal + 1e-6, "no overshoot"
    speeds = np.diff(xs)
    assert speeds[0] < 0.4 * speeds.max() and (np.diff(speeds[:5]) > 0).all(), "it eases in"
    assert speeds[-1] < 0.05 * speeds.max(), "and eases out"
    assert start < xs[0]


def test_a_small_move_inside_the_dead_zone_is_ignored(grey):
    effect = AutoFrame(_frame_settings())
    _run(effect, [(600, 300, 680, 400)] * 150, grey)
    before = effect.framing
    crop_w = W / before.zoom
    nudge = 0.5 * DEAD_ZONE * crop_w
    _run(effect, [(600 + nudge, 300, 680 + nudge, 400)] * 60, grey)
    assert effect.framing.x == pytest.approx(before.x, abs=0.01)


def test_a_lost_face_holds_then_eases_back_to_the_whole_picture(grey):
    effect = AutoFrame(_frame_settings())
    _run(effect, [(600, 300, 680, 400)] * 150, grey)
    held = effect.framing
    hold_frames = int(HOLD_S * 30)
    during = _run(effect, [None] * (hold_frames - 2), grey)
    assert all(abs(f.zoom - held.zoom) < 1e-6 for f in during), "it holds while the face may come back"
    _run(effect, [None] * 200, grey)
    assert effect.framing.zoom == pytest.approx(1.0, abs=1e-3)
    frame = np.random.default_rng(1).integers(0, 255, (H, W, 3), dtype=np.uint8)
    assert effect.apply(frame, Analysis())[0] is frame, "back at the whole picture the frame goes out untouched"


def test_the_output_is_the_framed_cut_out_scaled_up(astronaut):
    effect = AutoFrame(_frame_settings(max_zoom=2.0))
    box = (200, 100, 300, 220)
    for _ in range(200):
        out = effect.apply(astronaut, Analysis(faces=[_face(box)]))[0]
    f = effect.framing
    h, w = astronaut.shape[:2]
    cw, ch = w / f.zoom, h / f.zoom
    x0, y0 = int(round(f.x - cw / 2)), int(round(f.y - ch / 2))
    expected = cv2.resize(astronaut[y0: y0 + int(round(ch)), x0: x0 + int(round(cw))], (w, h),
                          interpolation=cv2.INTER_LINEAR)
    assert out.shape == astronaut.shape
    assert np.abs(out.astype(int) - expected).mean() < 6  # same picture, up to sub-pixel placement


def test_the_cut_is_scaled_within_a_level_of_resize(astronaut):
    """The one-pass scaling (warpAffine) against cv2.resize of the same whole-pixel cut: a level at
    most, on a photo and on the hardest case, alternating black and white columns and rows."""
    rng = np.random.default_rng(4)
    hard = rng.integers(0, 256, (H, W, 3), np.uint8)
    hard[:, ::2], hard[::3] = 0, 255
    for picture in (cv2.resize(astronaut, (W, H)), hard):
        effect = AutoFrame(_frame_settings(max_zoom=2.5))
        for k in range(60):  # the framing easing in: many cut sizes
            out = effect.apply(picture, Analysis(faces=[_face((900, 80, 1000, 200))]))[0]
            f = effect.framing
            cw, ch = min(W, max(2, round(W / f.zoom))), min(H, max(2, round(H / f.zoom)))
            if (cw, ch) == (W, H):
                continue
            x0, y0 = min(max(0, round(f.x - 0.5 * cw)), W - cw), min(max(0, round(f.y - 0.5 * ch)), H - ch)
            expected = cv2.resize(picture[y0: y0 + ch, x0: x0 + cw], (W, H), interpolation=cv2.INTER_LINEAR)
            assert int(cv2.absdiff(out, expected).max()) <= 1
    assert f.zoom > 1.5


def test_in_the_pipeline_the_face_ends_up_a_third_of_the_picture(astronaut):
    from livecam.analysis.face_tracker import FaceTracker

    settings = S.update(S.Settings(), background={"mode": "off"}, auto_frame={"enabled": True, "max_zoom": 3.0})
    pipeline = Pipeline(settings)
    try:
        for _ in range(150):
            out = pipeline.process(astronaut)
        before = pipeline.last_analysis.faces[0].box
    finally:
        pipeline.close()
    tracker = FaceTracker(settings.face, settings.runtime)
    after = tracker.process(out)[0].box
    h = astronaut.shape[0]
    assert (after[3] - after[1]) / h == pytest.approx(FACE_SHARE, rel=0.2)
    assert (after[3] - after[1]) > 1.2 * (before[3] - before[1])


def test_slider_changes_keep_the_current_framing(grey):
    effect = AutoFrame(_frame_settings())
    _run(effect, [(600, 300, 680, 400)] * 100, grey)
    framing = effect.framing
    settings = S.update(S.Settings(), auto_frame={"enabled": True, "speed": 0.9, "max_zoom": 2.5})
    assert effect.update(settings.auto_frame, settings.output)
    assert effect.framing == framing and effect.speed == 0.9


def test_jitter_on_a_real_still_head_clip(data_dir):
    from livecam.capture import iter_video_frames

    clip = data_dir / "video" / "lp_d18_frontal_plain.mp4"
    if not clip.is_file():
        pytest.skip("lp_d18_frontal_plain.mp4 is not in the shared data")
    settings = S.update(S.Settings(), background={"mode": "off"}, auto_frame={"enabled": True})
    pipeline = Pipeline(settings)
    effect = next(e for e in pipeline.effects if isinstance(e, AutoFrame))
    centres = []
    try:
        for n, frame in enumerate(iter_video_frames(clip)):
            pipeline.process(frame)
            if n >= 60:  # after the first ease-in
                centres.append((effect.framing.x, effect.framing.y))
            if n >= 180:
                break
    finally:
        pipeline.close()
    steps = np.linalg.norm(np.diff(np.array(centres), axis=0), axis=1)
    print(f"auto-framing jitter on a still head: median {np.median(steps):.3f} px, max {steps.max():.3f} px per frame")
    assert np.median(steps) < 0.1
