"""Edges of the person mask on the CPU path: temporal smoothing that never freezes an error, the
frame-guided upsample, the edge control, the person's colour at the edge, and the wall column."""
from pathlib import Path

import cv2
import numpy as np
import pytest

from livecam.analysis import Analyzer
from livecam.analysis import temporal as T
from livecam.analysis.person_mask import PersonMask
from livecam.analysis.segmenter import Segmenter
from livecam.settings import Settings, update
from livecam.types import Analysis

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
S18 = DATA / "video" / "lp_s18_room_landscape.mp4"
FIXTURES = Path(__file__).parent / "fixtures"


def _settings(**segmentation) -> Settings:
    return update(Settings(), segmentation={"model": "landscape", **segmentation}, runtime={"threads": 1, "provider": "cpu"})


# ---------------------------------------------------------------- temporal smoothing


def test_still_pixels_hold_shimmer_and_moving_pixels_follow():
    previous = np.full((4, 8), 0.5, np.float32)
    current = np.full((4, 8), 0.7, np.float32)  # a small change: shimmer where the picture is still
    motion = np.zeros((4, 8), np.float32)
    motion[:, 4:] = 1.0  # the right half of the picture moved
    out, _ = T.smooth_mask(previous, current, motion, 0.9)
    assert np.allclose(out[:, :4], 0.5 + 0.1 * 0.2)  # held with weight 0.9
    assert np.allclose(out[:, 4:], 0.7)  # follows at once


def test_a_still_region_never_freezes_an_error_the_model_dropped():
    """The wall above the head is still; once the model stops calling it person, the mask must let
    go within RELEASE_FRAMES frames instead of fading out over dozens."""
    held = np.ones((6, 6), np.float32)  # the error: wall held as person
    dropped = np.zeros((6, 6), np.float32)
    still = np.zeros((6, 6), np.float32)
    streak = None
    for frame in range(T.RELEASE_FRAMES):
        held, streak = T.smooth_mask(held, dropped, still, 0.9, streak)
        if frame < T.RELEASE_FRAMES - 1:
            assert held.min() > 0.5  # still smoothing: one frame of disagreement may be noise
    assert held.max() == 0.0


def test_shimmer_that_changes_direction_is_never_released():
    held = np.full((4, 4), 0.5, np.float32)
    still = np.zeros((4, 4), np.float32)
    streak = None
    for frame in range(12):
        noisy = np.full((4, 4), 0.9 if frame % 2 else 0.1, np.float32)
        held, streak = T.smooth_mask(held, noisy, still, 0.9, streak)
        assert 0.3 < held.mean() < 0.7
    assert np.abs(streak).max() < T.RELEASE_FRAMES


def test_scene_cut_tells_a_new_scene_from_motion():
    room = np.zeros((90, 160, 3), np.uint8)
    room[:, :] = np.linspace(30, 220, 160, dtype=np.uint8)[None, :, None]  # a lit wall
    cv2.rectangle(room, (60, 30), (100, 90), (20, 20, 20), -1)  # a dark figure
    moved = np.roll(room, 4, axis=1)  # the figure moving: the same scene
    other = 255 - room  # another camera
    a, b, c = T.thumbnail(room), T.thumbnail(moved), T.thumbnail(other)
    assert not T.scene_cut(None, a)
    assert not T.scene_cut(a, b)
    assert T.scene_cut(a, c)


# ---------------------------------------------------------------- the guided upsample


def _step_scene(width=320, height=180, edge_x=131):
    """A bright person (left) against a dark room (right), edge at ``edge_x``."""
    frame = np.full((height, width, 3), 40, np.uint8)
    frame[:, :edge_x] = 200
    return frame


def test_guided_upsample_puts_the_edge_where_the_frame_has_it():
    frame = _step_scene()
    h, w = frame.shape[:2]
    small_w, small_h = 64, 36
    small = cv2.resize(frame, (small_w, small_h), interpolation=cv2.INTER_AREA)
    # The model's soft edge sits a small pixel (5 frame px) to the right of the real one.
    xs = (np.arange(small_w, dtype=np.float32) + 0.5) * w / small_w
    mask = np.clip((136 - xs) / 15 + 0.5, 0, 1)[None].repeat(small_h, axis=0).astype(np.float32)
    grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY).astype(np.float32) / 255
    a, b = T.guided_coefficients(grey, mask, 1, 1e-4)
    a8, b8 = T.curve_coefficients(a, b, 0.5, T.EDGE_GAIN)
    alpha = T.apply_coefficients(a8, b8, cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))
    row = alpha[h // 2].astype(int)
    assert (row[:131] == 255).all() and row[131] < 160 and (row[136:] == 0).all()  # cut at the frame's edge
    bilinear = cv2.resize(mask, (w, h))[h // 2]
    assert bilinear[134] > 0.5 and bilinear[140] > 0.15  # the plain upsample keeps room up to x=146


def test_colour_guide_finds_an_edge_of_equal_brightness():
    """Skin-red person against a green room of the same grey level: only the colour guide sees it."""
    h, w, edge_x = 180, 320, 131
    frame = np.empty((h, w, 3), np.uint8)
    frame[:, :edge_x] = (60, 80, 200)  # BGR: grey 0.114*60 + 0.587*80 + 0.299*200 = 113
    frame[:, edge_x:] = (60, 150, 60)  # grey 0.114*60 + 0.587*150 + 0.299*60 = 113
    assert np.ptp(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)[h // 2]) <= 1
    small_w, small_h = 32, 18  # the fit runs at half the model's size
    small = cv2.resize(frame, (small_w, small_h), interpolation=cv2.INTER_AREA)
    xs = (np.arange(small_w, dtype=np.float32) + 0.5) * w / small_w
    mask = np.clip((141 - xs) / 30 + 0.5, 0, 1)[None].repeat(small_h, axis=0).astype(np.float32)  # 10 px off
    a, b, _ = T.colour_guided_fit(small.astype(np.float32) / 255, mask, 2, 1e-4)
    a8, b8 = T.curve_coefficients(a, b, 0.5, T.EDGE_GAIN)
    row = T.apply_coefficients(a8, b8, frame, {})[h // 2].astype(int)
    assert (row[:edge_x - 1] >= 250).all() and row[edge_x + 1] < 128 and (row[edge_x + 4:] <= 5).all()  # at the colour edge
    grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY).astype(np.float32) / 255
    ga, gb = T.guided_coefficients(grey, mask, 2, 1e-4)
    ga8, gb8 = T.curve_coefficients(ga, gb, 0.5, T.EDGE_GAIN)
    grey_row = T.apply_coefficients(ga8, gb8, cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))[h // 2].astype(int)
    assert grey_row[edge_x + 5] > 128  # the grey guide keeps the model's misplaced edge


def test_colour_fit_gives_person_minus_room_where_they_mix():
    person, room = np.array([60, 80, 200], np.float32), np.array([200, 170, 40], np.float32)
    mask = np.clip((16 - np.arange(32, dtype=np.float32)) / 6 + 0.5, 0, 1)[None].repeat(12, axis=0)
    guide = (mask[..., None] * person + (1 - mask[..., None]) * room) / 255
    _, _, shift = T.colour_guided_fit(guide.astype(np.float32), mask.astype(np.float32), 2, 1e-4)
    s = shift[6, 16]
    want = person - room
    assert np.dot(s, want) / (np.linalg.norm(s) * np.linalg.norm(want)) > 0.999  # the same direction
    assert 0.5 < np.linalg.norm(s) / np.linalg.norm(want) <= 1.0  # shrunk a little, never more than the truth
    assert np.abs(shift[6, 0]).max() < 1 and np.abs(shift[6, -1]).max() < 1  # no mix: nothing to swap


def test_curve_coefficients_fold_the_curve_and_scale():
    a = np.full((2, 2), 0.5, np.float32)
    b = np.full((2, 2), 0.1, np.float32)
    a8, b8 = T.curve_coefficients(a, b, 0.4, 3.0)
    guide = np.full((2, 2), 204, np.uint8)  # 0.8 on the 0..1 scale
    q = 0.5 * 0.8 + 0.1
    expected = np.clip((q - 0.4) * 3 + 0.5, 0, 1) * 255
    assert np.allclose(T.apply_coefficients(a8, b8, guide), expected, atol=1)


def test_level_curve_moves_the_outline_and_keeps_the_ends():
    ramp = np.linspace(0, 1, 11, dtype=np.float32)
    looser, tighter = T.level_curve(ramp, 0.3), T.level_curve(ramp, 0.7)
    assert looser[0] == 0 and looser[-1] == 1 and tighter[0] == 0 and tighter[-1] == 1
    assert (looser > 0.5).sum() > (ramp > 0.5).sum() > (tighter > 0.5).sum()


def test_edge_band_fans_out_to_exactly_the_frame_blocks():
    alpha = np.zeros((6, 8), np.uint8)
    alpha[2, 3] = 100
    alpha[4, 6] = 30
    points, flat = T.edge_band(alpha, 2)
    assert sorted(map(tuple, points.tolist())) == [(3, 2), (6, 4)]
    rows, cols = np.divmod(flat, 16)
    assert set(zip(rows.tolist(), cols.tolist())) == {(4, 6), (4, 7), (5, 6), (5, 7), (8, 12), (8, 13), (9, 12), (9, 13)}


def test_sample_matches_bilinear_resize():
    rng = np.random.default_rng(1)
    small = rng.random((9, 16, 3)).astype(np.float32)
    big = cv2.resize(small, (64, 36), interpolation=cv2.INTER_LINEAR)
    points = np.array([[0, 0], [10, 5], [63, 35], [31, 17]], np.int32)
    assert np.allclose(T.sample(small, points, (64, 36)), big[points[:, 1], points[:, 0]], atol=1e-4)


# ---------------------------------------------------------------- the person's colour at the edge


def test_decontamination_replaces_the_room_share_with_the_person_colour():
    person = np.array([0, 0, 255], np.float32)  # red person
    room = np.array([0, 255, 0], np.float32)  # green room
    alpha = np.array([255, 128, 26], np.uint8)
    pixels = (alpha[:, None] / 255 * person + (1 - alpha[:, None] / 255) * room).astype(np.uint8)
    out = T.decontaminate(pixels, alpha, np.tile(person - room, (3, 1)))
    assert (out[:, 1] <= 2).all()  # no green left
    assert (np.abs(out[:, 2].astype(int) - 255) <= 2).all()


# ---------------------------------------------------------------- the stage on a real photo


@pytest.fixture(scope="module")
def astronaut():
    image = cv2.imread(str(FIXTURES / "sk_astronaut.png"))
    assert image is not None
    return cv2.resize(image, (640, 640), interpolation=cv2.INTER_AREA)[:360]  # a 16:9 head and shoulders


def _run(settings, image, frames=3) -> Analysis:
    stage = PersonMask(settings)
    for _ in range(frames):
        result = Analysis()
        stage.process(image, result)
    return result


def test_stage_fills_mask_foreground_and_small(astronaut):
    result = _run(_settings(), astronaut)
    h, w = astronaut.shape[:2]
    assert result.mask.shape == (h, w) and result.mask.dtype == np.uint8
    assert result.foreground.shape == astronaut.shape and result.foreground.colour.dtype == np.uint8
    assert result.small_mask.shape == result.small.shape[:2] == result.raw_mask.shape
    assert {"preprocess", "inference", "refine"} <= set(result.timings)
    edge = (result.mask > 0) & (result.mask < 255)
    picture = result.foreground.image(astronaut)
    assert edge.any() and np.array_equal(picture[~edge], astronaut[~edge])  # only the edge changes
    assert (picture[edge] != astronaut[edge]).any()
    assert 0.2 < (result.mask > 127).mean() < 0.9


def test_the_edge_colour_is_made_only_where_the_background_is_not_the_room(astronaut):
    """A blurred room behind the person matches the room's tint on the edge: no foreground needed.
    The backgrounds declare it as a need; the analyzer reads no background setting."""
    from livecam.effects import SPECS, build_effect

    for mode, wanted in (("blur", False), ("color", True), ("image", True)):
        settings = update(_settings(), background={"mode": mode})
        effect = build_effect(SPECS["background"], settings)
        assert ("foreground" in effect.needs) == wanted, mode
        result = Analyzer(settings).analyze(astronaut, effect.needs)
        assert result.mask is not None and (result.foreground is not None) == wanted, mode
    result = Analyzer(update(_settings(), background={"mode": "blur"})).analyze(astronaut, {"mask", "foreground"})
    assert result.foreground is not None


def test_edge_control_moves_the_outline(astronaut):
    areas = [int((_run(_settings(edge=e), astronaut).mask > 127).sum()) for e in (-1.0, 0.0, 1.0)]
    assert areas[0] < areas[1] < areas[2]
    assert areas[2] - areas[0] > 0.01 * astronaut.shape[0] * astronaut.shape[1]


def test_edge_control_without_refinement_still_moves_the_outline_and_keeps_the_room_out(astronaut):
    tight = _run(_settings(edge=-1.0, refine=False), astronaut).mask
    loose = _run(_settings(edge=1.0, refine=False), astronaut).mask
    assert (tight > 127).sum() < (loose > 127).sum()
    assert tight.min() == 0 and loose[:10, :10].max() < 20  # the room corner stays room


def test_edge_settings_change_in_place_but_the_model_needs_a_rebuild():
    stage = PersonMask(_settings())
    assert stage.update(_settings(edge=0.5, temporal_smoothing=0.5, refine=False))
    assert stage.settings.segmentation.edge == 0.5
    assert not stage.update(_settings(model="general"))


def test_segmenter_margin_repeats_the_top_row_and_is_cut_off_again(astronaut):
    seg = Segmenter("landscape", "cpu", 1)
    small = seg.shrink(astronaut)
    tensor = seg.to_tensor(small)
    top = seg.input_height - small.shape[0]
    assert top > 0 and tensor.shape == (1, 3, seg.input_height, seg.width)  # RGB planes
    assert np.array_equal(tensor[0, :, :top], np.repeat(tensor[0, :, top:top + 1], top, axis=1))
    assert seg.infer(tensor).shape == small.shape[:2]


def test_general_model_keeps_a_wide_frame_in_shape():
    seg = Segmenter("general", "cpu", 1)
    wide = np.zeros((720, 1280, 3), np.uint8)
    portrait = np.zeros((640, 480, 3), np.uint8)
    assert seg.shrink(wide).shape[:2] == (144, 256)  # 16:9 kept, the rest of the square is margin
    assert seg.shrink(portrait).shape[:2] == (256, 256)  # photos are squashed as the model likes best
    assert seg.predict(wide).shape == (144, 256)


@pytest.mark.skipif(not S18.is_file(), reason="needs ../shared/data (the s18 clip)")
def test_no_wall_column_above_the_head_on_s18():
    """Frames 190-230: the head touches the top of the picture, and without the margin the model
    took the wall above it (mask ~0.95 in this box, which is wall: rvm says 0)."""
    analyzer = Analyzer(_settings())
    cap = cv2.VideoCapture(str(S18))
    checked = []
    for index in range(231):
        ok, frame = cap.read()
        assert ok
        if index < 150:
            continue  # temporal state builds up from frame 150
        mask = analyzer.analyze(frame, {"mask"}).mask
        if index in (190, 210, 230):
            checked.append(float(mask[0:30, 740:770].mean()) / 255)
    cap.release()
    assert max(checked) < 0.2, checked


# ---------------------------------------------------------------- livecam eval's scores


def test_halo_score_is_zero_for_the_true_alpha_and_counts_room_shown():
    from livecam import quality as Q

    frame = np.full((40, 40, 3), 100, np.uint8)
    truth = np.zeros((40, 40), np.float32)
    truth[:, :20] = 1.0
    band = Q.outline_band(truth)
    assert band[:, 14:26].all() and not band[:, :13].any() and not band[:, 27:].any()  # 6 px either side
    assert Q.halo_score(frame, truth, truth, Q.LIGHT, band) == 0.0
    loose = truth.copy()
    loose[:, 20:23] = 1.0  # 3 px of room shown next to the person
    expected = 3 / 12 * (240 - 100)
    assert abs(Q.halo_score(frame, truth, loose, Q.LIGHT, band) - expected) < 1e-3
    # The edge colour is used where given: here it equals the new background, which hides the room.
    foreground = frame.copy()
    foreground[:, 20:23] = 240
    assert Q.halo_score(frame, truth, loose, Q.LIGHT, band, foreground) == 0.0


def test_eval_scores_a_small_data_folder_and_skips_rvm_with_a_sentence(tmp_path, monkeypatch, capsys, astronaut):
    import argparse

    from livecam import quality as Q

    monkeypatch.setenv("LIVECAM_DATA_HOME", str(tmp_path / "nothing"))
    images, masks = tmp_path / "masks" / "dev" / "images", tmp_path / "masks" / "dev" / "masks"
    images.mkdir(parents=True)
    masks.mkdir(parents=True)
    (tmp_path / "video").mkdir()
    cv2.imwrite(str(images / "a.png"), astronaut)
    truth = _run(_settings(), astronaut).mask  # LiveCam's own mask as the "truth": final must score ~1
    cv2.imwrite(str(masks / "a.png"), np.where(truth > 127, 255, 0).astype(np.uint8))
    assert Q.main(argparse.Namespace(data=str(tmp_path), json=True, model="all", sheet=None)) == 0
    import json

    report = json.loads(capsys.readouterr().out)
    assert report["skipped"] == [f"rvm: {Q.rvm_missing()}"] and "livecam models fetch rvm" in report["skipped"][0]
    stills = report["models"]["landscape"]["stills"]
    assert stills["images"] == 1 and stills["final"]["iou"] > 0.97 and stills["raw"]["iou"] < stills["final"]["iou"]
    assert "wall_check" in report  # no rvm, no reference for the wall check: said, not faked


def test_warped_flicker_counts_a_lagging_or_flickering_mask_but_not_one_that_moves_with_the_picture(astronaut):
    from livecam import quality as Q

    def shifted(image, dx):
        m = np.float32([[1, 0, dx], [0, 1, 0]])
        return cv2.warpAffine(image, m, (image.shape[1], image.shape[0]), borderMode=cv2.BORDER_REFLECT)

    grey = cv2.cvtColor(astronaut, cv2.COLOR_BGR2GRAY)
    mask = np.zeros(grey.shape, np.float32)
    cv2.circle(mask, (256, 200), 90, 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), 2)
    moved_grey, moved_mask = shifted(grey, 4), shifted(mask, 4)
    flow = Q.FlowWarp(grey, moved_grey)
    plain = float(np.abs(moved_mask - mask).mean())
    assert plain > 5e-3
    assert flow.change(mask, moved_mask) < 0.15 * plain  # follows the picture: hardly any flicker
    # A mask that stays put while the picture moves lags behind it: counted, as much as it lags.
    assert flow.change(mask, mask) > 0.7 * plain
    # On a still picture, every change of the mask is flicker.
    still = Q.FlowWarp(grey, grey.copy())
    noisy = mask.copy()
    noisy[150:160, 200:300] = 1 - noisy[150:160, 200:300]
    assert abs(still.change(mask, noisy) - float(np.abs(noisy - mask).mean())) < 1e-6


def test_eval_clips_reports_warped_flicker_and_the_clips_not_tuned_on(tmp_path, astronaut):
    """Two short clips, one of them a tuning clip by name: every flicker measure is there, per clip
    and over all, and again over the clip that was not tuned on alone."""
    from livecam import quality as Q

    video = tmp_path / "video"
    video.mkdir()
    tuned = min(Q.TUNING_CLIPS)
    for name, step in ((tuned, 0), ("other", 3)):  # a still picture, and one that pans
        writer = cv2.VideoWriter(str(video / f"{name}.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 25, (256, 256))
        for i in range(5):
            pan = np.float32([[1, 0, i * step], [0, 1, 0]])
            frame = cv2.warpAffine(astronaut, pan, (512, 512), borderMode=cv2.BORDER_REFLECT)
            writer.write(cv2.resize(frame, (256, 256), interpolation=cv2.INTER_AREA))
        writer.release()
    report = Q.eval_clips(tmp_path, "landscape", max_frames=5)
    assert set(report["clips"]) == {f"{tuned}.mp4", "other.mp4"}
    for clip in report["clips"].values():
        assert clip["frames"] == 5
        assert all(np.isfinite(clip[f"{key}_{name}"]) for key in Q.FLICKER_KEYS for name in ("raw", "final")
                   if key != "still_flicker")
    assert report["held_out"]["clips"] == ["other.mp4"]
    other = report["clips"]["other.mp4"]
    for key in ("flicker", "warped_flicker"):
        assert report["held_out"][f"{key}_ratio"] == round(other[f"{key}_final"] / other[f"{key}_raw"], 3)
    # The pan is motion the picture explains: the warped measure counts less of it.
    assert other["warped_flicker_raw"] < other["flicker_raw"]


# ---------------------------------------------------------------- the model on every 2nd frame (off by default)


def _moving(astronaut, n, step=4):
    return [np.ascontiguousarray(np.roll(astronaut, step * i, axis=1)) for i in range(n)]


def _inference_calls(stage, images):
    calls = []
    real = stage._backend.infer

    def counting(tensor):
        calls.append(1)
        return real(tensor)

    stage._backend.infer = counting
    results = []
    for image in images:
        result = Analysis()
        stage.process(image, result)
        results.append(result)
    return len(calls), results


def test_by_default_the_model_runs_on_every_frame(astronaut):
    runs, _ = _inference_calls(PersonMask(_settings()), _moving(astronaut, 4, step=1))
    assert runs == 4


@pytest.mark.parametrize("src, size", [((360, 640), (1280, 720)), ((66, 128), (1280, 720)), ((131, 256), (640, 360))])
def test_upscale_matches_a_bilinear_resize(src, size):
    rng = np.random.default_rng(3)
    noise = rng.integers(0, 256, src + (3,), dtype=np.uint8)
    ramp = cv2.GaussianBlur(noise, (0, 0), 2)  # the blurred picture or a matte: smooth between pixels
    for image in (noise, ramp, ramp[..., 0].copy(), (noise[..., 0] > 127).astype(np.uint8) * 255):
        ours = T.upscale(image, size).astype(np.int16)
        theirs = cv2.resize(image, size, interpolation=cv2.INTER_LINEAR).astype(np.int16)
        assert ours.shape == theirs.shape
        diff = np.abs(ours - theirs)
        if size[0] == 2 * src[1]:
            assert diff.max() <= 1  # exact positions: the fixed-point rounding alone
        else:
            assert diff.mean() < 0.5 and np.percentile(diff, 99) <= 2 + 0.05 * np.ptp(image)


def test_the_colour_fit_without_the_edge_colour_gives_the_same_coefficients(astronaut):
    small = cv2.resize(astronaut, (128, 72), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    mask = (cv2.cvtColor(astronaut, cv2.COLOR_BGR2GRAY) > 100).astype(np.float32)
    mask = cv2.resize(mask, (128, 72), interpolation=cv2.INTER_AREA)
    a, b, shift = T.colour_guided_fit(small, mask, 2, 1e-4)
    a2, b2, none = T.colour_guided_fit(small, mask, 2, 1e-4, with_shift=False)
    assert shift.shape == a.shape and none is None
    assert np.array_equal(a, a2) and np.array_equal(b, b2)


def test_the_edge_band_from_the_ramp_before_settling_equals_a_fresh_search():
    rng = np.random.default_rng(7)
    alpha = rng.integers(0, 256, (90, 160), dtype=np.uint8)
    alpha[rng.random(alpha.shape) < 0.6] = 255
    previous = rng.integers(0, 256, alpha.shape, dtype=np.uint8)  # settling moves some pixels off the ramp
    motion = (rng.integers(0, 9, (45, 80)) / 255).astype(np.float32)
    ramp = T.ramp(alpha)
    T.settle(alpha, previous, motion, ramp)
    fresh_points, fresh_flat = T.edge_band(alpha, 2)
    points, flat = T.edge_band(alpha, 2, ramp)
    assert len(points) < len(ramp)
    assert np.array_equal(points, fresh_points) and np.array_equal(flat, fresh_flat)


@pytest.mark.skipif(not S18.is_file(), reason="needs ../shared/data (the s18 clip)")
@pytest.mark.parametrize("size", [(1280, 720), (1920, 1080), (500, 290)])
def test_the_edge_alpha_in_strips_matches_the_whole_frame_step(size):
    """edge_strips.apply_coefficients (the live path) against temporal.apply_coefficients on a real
    frame's fit: within one level everywhere (warpAffine's 1/32-cell positions), including the
    last, shorter strip; the buffers it keeps are reused by the next frame."""
    from livecam.analysis import edge_strips
    from livecam.analysis.person_mask import _halved

    seg = Segmenter("landscape", "cpu", 1)
    cap = cv2.VideoCapture(str(S18))
    space: dict = {}
    for _ in range(2):
        ok, frame = cap.read()
        assert ok
        frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
        work = cv2.resize(frame, (size[0] // 2, size[1] // 2), interpolation=cv2.INTER_AREA)
        small = seg.shrink(frame, work)
        guide, held = _halved(small, seg.predict(frame))
        a, b, _ = T.colour_guided_fit(guide, held, 2, 1e-4)
        a8, b8 = T.curve_coefficients(a, b, T.EDGE_CENTRE)
        whole = T.apply_coefficients(a8, b8, work, {})
        strips = edge_strips.apply_coefficients(a8, b8, work, space)
        assert strips.shape == whole.shape and strips.dtype == np.uint8
        assert ((whole > 0) & (whole < 255)).any()  # a real edge, not an empty picture
        assert np.abs(strips.astype(int) - whole).max() <= 1
    cap.release()


@pytest.mark.skipif(not S18.is_file(), reason="needs ../shared/data (the s18 clip)")
def test_the_compiled_edge_alpha_is_the_whole_frame_step():
    """mask_kernels.edge_alpha (through edge_strips.apply_coefficients) against
    temporal.apply_coefficients, OpenCV's resize, multiply, transform and add, within one level
    and the same bytes at all but a few pixels in a million on real fits (OpenCV's pass down may
    fuse its multiply-add, which numba cannot ask for; the strips differed as often): real fits of s18 at
    720p, 1080p and an odd size, then random maps (steep and flat, values whose sums land on
    rounding ties, past both ends) on working frames of many sizes, coefficient maps finer than
    the frame among them. Every result is a new array (the mask stage keeps it for settling)."""
    from livecam.analysis import edge_strips
    from livecam.analysis import mask_kernels as K
    from livecam.analysis.person_mask import _halved

    calls, differ = [], []
    compiled = K.edge_alpha

    def _near(got, want):
        assert got.shape == want.shape and got.dtype == want.dtype == np.uint8
        assert np.abs(got.astype(int) - want).max() <= 1
        differ.append(np.count_nonzero(got != want))

    def counting(*args):
        calls.append(1)
        return compiled(*args)

    K.edge_alpha = counting
    try:
        seg = Segmenter("landscape", "cpu", 1)
        cap = cv2.VideoCapture(str(S18))
        space: dict = {}
        seen = []
        for size in [(1280, 720), (1920, 1080), (500, 290)]:
            ok, frame = cap.read()
            assert ok
            frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
            work = cv2.resize(frame, (size[0] // 2, size[1] // 2), interpolation=cv2.INTER_AREA)
            guide, held = _halved(seg.shrink(frame, work), seg.predict(frame))
            a8, b8 = T.curve_coefficients(*T.colour_guided_fit(guide, held, 2, 1e-4)[:2], T.EDGE_CENTRE)
            got = edge_strips.apply_coefficients(a8, b8, work, space)
            whole = T.apply_coefficients(a8, b8, work, {})
            assert ((whole > 0) & (whole < 255)).sum() > 100  # a real outline
            _near(got, whole)
            seen.append(got)
        cap.release()
        rng = np.random.default_rng(11)
        for i in range(60):
            h, w = int(rng.integers(1, 200)), int(rng.integers(1, 300))
            ch, cw = int(rng.integers(1, 70)), int(rng.integers(1, 130))
            guide = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            a8 = (rng.standard_normal((ch, cw, 3)) * (0.05 if i % 2 else 3.0)).astype(np.float32)
            b8 = (rng.standard_normal((ch, cw)) * 300 + 127.5).astype(np.float32)
            if i % 5 == 0:  # whole and half levels: the sums land on rounding ties
                a8 = np.round(a8 * 4) / 4
                b8 = np.round(b8 * 2) / 2
            got = edge_strips.apply_coefficients(a8, b8, guide, space)
            _near(got, T.apply_coefficients(a8, b8, guide, {}))
            seen.append(got)
        assert len(calls) == 63
        assert len({id(x) for x in seen}) == len(seen)
        # Real fits: 16 of 20 million pixels on 40 s18 fits at 720p and 1080p (the strips: 24).
        # The random maps with ties: a few in 100 000.
        assert sum(differ[:3]) <= 1e-5 * sum(x.size for x in seen[:3])
        assert sum(differ) <= 1e-4 * sum(x.size for x in seen)
    finally:
        K.edge_alpha = compiled


@pytest.mark.parametrize("size", [(640, 360), (331, 187), (20, 12)])
def test_the_edge_alpha_skips_only_what_is_certain(size):
    """edge_strips fills with 0 or 255 where every coefficient cell a pixel reads puts it there for
    any guide colour, and works the rest: hard steps between certain-0 and certain-255 cells, a
    cell that only nearly reaches 255, a soft patch, and coefficient maps finer than the frame,
    all within one level of the whole-frame step (the compiled pass: that step to the bit). NaN
    and infinite cells (whose result no OpenCV path defines) take the strips, are worked, not
    filled from their certain neighbours, and leave the rest as it is."""
    from livecam.analysis import edge_strips

    rng = np.random.default_rng(3)
    w, h = size
    guide = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    a8 = np.zeros((65, 128, 3), np.float32)
    b8 = np.full((65, 128), -280.0, np.float32)  # room, far past 0
    b8[:, 40:90] = 740.0  # person, far past 255: hard steps at both sides
    b8[20:30, 60:70] = 740.0 - 255.0 * 3 * 0.5  # inside the person, a cell that only nearly reaches 255
    a8[20:30, 60:70] = 0.5
    a8[40:50, 10:20] = rng.normal(0, 0.3, (10, 10, 3))  # a soft patch in the room
    b8[40:50, 10:20] = rng.normal(100, 200, (10, 10))
    whole = T.apply_coefficients(a8, b8, guide, {})
    assert np.array_equal(edge_strips.apply_coefficients(a8, b8, guide, {}), whole)  # the compiled pass
    strips = edge_strips.in_strips(a8, b8, guide, {})
    assert np.abs(strips.astype(int) - whole).max() <= 1
    if w >= 128:  # the room, the person and their steps are all there
        assert (strips == 0).mean() > 0.3 and (strips == 255).mean() > 0.2
        assert ((whole > 0) & (whole < 255)).any()
    b8[5:8, 100:103] = np.nan  # in the room
    a8[5:8, 50:53] = np.inf  # in the person
    broken = np.zeros((65, 128), np.uint8)
    broken[4:9, 99:104] = broken[4:9, 49:54] = 255  # the cells and the ones the enlargement mixes them into
    near = cv2.resize(broken, (w, h), interpolation=cv2.INTER_NEAREST) > 0
    compiled = edge_strips.mask_kernels.edge_alpha
    edge_strips.mask_kernels.edge_alpha = None  # broken maps must not reach the compiled pass
    try:
        worked = edge_strips.apply_coefficients(a8, b8, guide, {})
    finally:
        edge_strips.mask_kernels.edge_alpha = compiled
    assert np.array_equal(worked[~near], strips[~near])
    whole = T.apply_coefficients(a8, b8, guide, {})
    rows = slice(6 * h // 65, 7 * h // 65)
    for cols, fill in ((slice(101 * w // 128, 102 * w // 128), 0), (slice(51 * w // 128, 52 * w // 128), 255)):
        if (whole[rows, cols] != fill).any():  # NaN arithmetic gave something else than the fill
            assert (worked[rows, cols] != fill).any()
