"""The motion gate: a picture that has not changed reuses the last mask (and faces), but never
carries a held error along, the model still runs every few frames, and where nothing moves the
edge settles instead of following the sensor's noise."""
from pathlib import Path

import cv2
import numpy as np
import pytest

from livecam.analysis import Analyzer
from livecam.analysis import temporal as T
from livecam.analysis.person_mask import PersonMask
from livecam.settings import Settings, update
from livecam.types import Analysis

FIXTURES = Path(__file__).parent / "fixtures"


def _settings(gate=True, **segmentation) -> Settings:
    return update(Settings(), segmentation={"model": "landscape", **segmentation},
                  runtime={"threads": 1, "provider": "cpu", "motion_gate": gate})


@pytest.fixture(scope="module")
def astronaut():
    image = cv2.imread(str(FIXTURES / "sk_astronaut.png"))
    assert image is not None
    return cv2.resize(image, (640, 640), interpolation=cv2.INTER_AREA)[:360]


def _noisy(image, rng, level=1.0):
    """The same picture with a sensor's noise: 'unchanged' to the eye, not to the bytes."""
    return np.clip(image + rng.normal(0, level, image.shape), 0, 255).astype(np.uint8)


def _frames(stage, images, foreground=False):
    out = []
    for image in images:
        result = Analysis()
        stage.process(image, result, foreground=foreground)
        out.append((result, stage.still))
    return out


def test_a_still_picture_reuses_the_mask_but_the_model_still_runs_every_few_frames(astronaut):
    rng = np.random.default_rng(0)
    stage = PersonMask(_settings())
    runs = _frames(stage, [_noisy(astronaut, rng) for _ in range(12)])
    still = [s for _, s in runs]
    assert still[0] is False and any(still)
    # Never more than GATE_MAX_SKIPS reused frames in a row.
    longest = max(len(r) for r in "".join("s" if s else "." for s in still).split("."))
    assert longest == T.GATE_MAX_SKIPS
    for result, was_still in runs:
        assert result.mask is not None and result.mask.shape == astronaut.shape[:2]
        assert (result.timings["refine"] == 0.0) == was_still  # reused: no work at all
        assert result.timings["inference"] == 0.0 or not was_still
    reused = [i for i, s in enumerate(still) if s]
    assert runs[reused[0]][0].mask is runs[reused[0] - 1][0].mask  # the last mask, as it was


def test_a_moving_picture_is_worked_out_on_every_frame(astronaut):
    stage = PersonMask(_settings())
    moving = [np.ascontiguousarray(np.roll(astronaut, 4 * i, axis=1)) for i in range(6)]
    runs = _frames(stage, moving)
    assert not any(s for _, s in runs)
    assert all(r.timings["inference"] > 0.0 for r, _ in runs)  # 1.6 model pixels a frame: no rest either


def test_the_gate_can_be_switched_off(astronaut):
    stage = PersonMask(_settings(gate=False))
    assert not any(s for _, s in _frames(stage, [astronaut] * 5))


def test_no_reuse_while_a_held_error_is_on_its_way_out(astronaut):
    """The streak counter releases a held mistake after a few frames of disagreement (the s18 wall
    column); reusing the mask meanwhile would hold the mistake longer, so the gate waits."""
    stage = PersonMask(_settings())
    _frames(stage, [astronaut] * 2)
    stage._streak[:] = 0
    stage._streak[5, 5] = 2  # a pixel on its way to being released
    stage._skips = 0
    _frames(stage, [astronaut])
    assert stage.still is False


def test_a_picture_with_colour_at_the_edge_does_not_reuse_a_band_without_it(astronaut):
    stage = PersonMask(_settings())
    _frames(stage, [astronaut])  # blur: the band without the person's colour
    result, still = _frames(stage, [astronaut], foreground=True)[0]
    assert not still and result.foreground.colour is not None


def test_faces_are_reused_only_when_the_mask_was(astronaut, monkeypatch):
    analyzer = Analyzer(_settings())
    calls = []
    tracker = analyzer.tracker
    real = tracker.process

    def counting(image, **kw):
        calls.append(1)
        return real(image, **kw)

    monkeypatch.setattr(tracker, "process", counting)
    rng = np.random.default_rng(1)
    stills = []
    for _ in range(6):
        result = analyzer.analyze(_noisy(astronaut, rng), {"mask", "faces"})
        stills.append(analyzer._person.still)
        assert len(result.faces) == 1  # the faces are there on every frame, fresh or reused
    assert any(stills) and len(calls) == stills.count(False)
    moving = [np.ascontiguousarray(np.roll(astronaut, 5 * i, axis=1)) for i in range(1, 4)]
    before = len(calls)
    for image in moving:
        analyzer.analyze(image, {"mask", "faces"})
    assert len(calls) - before == 3


def test_settling_holds_edge_changes_where_still_and_lets_real_ones_through():
    previous = np.full((20, 50), 60, np.uint8)
    noise = 160
    alpha = previous.copy()
    alpha[:, :10] = noise  # the edge moved on a still picture (sensor noise): held
    alpha[:, 10:20] = 255  # the outline really moved (room to person): off the ramp, passes
    alpha[:, 20:30] = noise  # the same change where the picture moved: passes
    alpha[:, 30:40] = noise  # moved by less than the still test's level: held
    motion = np.zeros((10, 25), np.float32)
    motion[:, 10:15] = 0.5
    motion[:, 15:20] = T.SETTLE_STILL * 0.9
    out = T.settle(alpha.copy(), previous, motion)
    assert (out[:, :10] == 60).all()
    assert (out[:, 10:20] == 255).all()
    assert (out[:, 20:30] == noise).all()
    assert (out[:, 30:] == 60).all()


def test_settling_lowers_flicker_on_a_still_noisy_picture(astronaut):
    """Sensor noise on an unchanged picture moves the frame-guided edge; settled, it stays put."""
    rng = np.random.default_rng(2)
    images = [_noisy(astronaut, rng, 2.0) for _ in range(10)]

    def flicker(gate_settings):
        stage = PersonMask(gate_settings)
        masks = [r.mask.astype(np.int16) for r, _ in _frames(stage, images)]
        return np.mean([np.abs(a - b).mean() for a, b in zip(masks[2:], masks[3:])])

    settled = flicker(_settings())
    unsettled = flicker(_settings(gate=False, temporal_smoothing=0.0))
    assert settled < 0.5 * unsettled


def _dense_settle(alpha, previous, motion):
    """Settling as it was written first, over whole frames: the reference for the sparse one."""
    h, w = alpha.shape
    quiet = cv2.resize(cv2.compare(motion, T.SETTLE_STILL, cv2.CMP_LT), (w, h), interpolation=cv2.INTER_NEAREST)
    cv2.bitwise_and(quiet, cv2.inRange(alpha, 5, 250), dst=quiet)
    cv2.copyTo(previous, quiet, alpha)
    return alpha


@pytest.mark.parametrize("motion_shape, alpha_shape", [((131, 256), (360, 640)), ((66, 128), (720, 1280)),
                                                       ((7, 9), (23, 31)), ((36, 64), (36, 64))])
def test_settling_at_the_ramp_pixels_alone_equals_the_whole_frame_pass(motion_shape, alpha_shape):
    rng = np.random.default_rng(5)
    alpha = rng.integers(0, 256, alpha_shape, dtype=np.uint8)
    alpha[rng.random(alpha_shape) < 0.5] = 0  # most of a frame is off the ramp
    previous = rng.integers(0, 256, alpha_shape, dtype=np.uint8)
    motion = (rng.integers(0, 9, motion_shape) / 255).astype(np.float32)
    out = T.settle(alpha.copy(), previous, motion)
    assert np.array_equal(out, _dense_settle(alpha.copy(), previous, motion))
    assert (out != alpha).sum() > 0.05 * alpha.size  # the test holds pixels at all


# ---------------------------------------------------------------- the small-motion tier


def _shifted(image, dx):
    """``image`` moved right by ``dx`` pixels (sub-pixel: bilinear), as a camera sees a slow sway."""
    m = np.float32([[1, 0, dx], [0, 1, 0]])
    return cv2.warpAffine(image, m, image.shape[1::-1], borderMode=cv2.BORDER_REPLICATE)


def _pair(image, moved, gate=True):
    """The stage's results on ``image`` and then ``moved``, and whether the model rested on the second."""
    stage = PersonMask(_settings(gate))
    first, second = Analysis(), Analysis()
    stage.process(image, first, foreground=True)
    stage.process(moved, second, foreground=True)
    return first, second, stage.held


def test_the_texture_bound_lets_sub_pixel_moves_through_and_stops_larger_ones_and_new_things():
    rng = np.random.default_rng(3)
    grey = cv2.GaussianBlur(rng.integers(0, 256, (144, 256), dtype=np.uint8), (0, 0), 2)
    texture = T.texture(grey)

    def moved(dx):
        return T.frame_motion(grey, _shifted(grey[..., None], dx).reshape(grey.shape))

    assert T.small_motion(moved(0.2), texture)  # under HOLD_SHIFT of a pixel
    assert not T.small_motion(moved(1.5), texture)  # three times the bound
    flat = np.full((144, 256), 90, np.uint8)
    hand = flat.copy()
    hand[60:80, 100:120] = 120  # something new in a flat room: no texture there explains it
    assert T.small_motion(T.frame_motion(flat, flat), T.texture(flat))
    assert not T.small_motion(T.frame_motion(flat, hand), T.texture(flat))


def test_a_sub_pixel_move_rests_the_model_and_the_edge_still_follows_the_new_frame(astronaut):
    moved = _shifted(astronaut, 0.5)  # a fifth of a model pixel
    first, held, rested = _pair(astronaut, moved)
    _, fresh, ran = _pair(astronaut, moved, gate=False)
    assert rested and not ran
    assert held.timings["inference"] == 0.0 and held.timings["refine"] > 0.0
    assert held.raw_mask is first.raw_mask  # the model's last output stood in
    assert isinstance(held.foreground, T.EdgeColour) and len(held.foreground)  # the edge colour, afresh
    # Refined against the new frame, the mask is much nearer the model's own on it than the last mask was.
    to_model = np.abs(held.mask.astype(np.int16) - fresh.mask).mean()
    last_to_model = np.abs(first.mask.astype(np.int16) - fresh.mask).mean()
    assert last_to_model > 0.1 and to_model < 0.4 * last_to_model


def test_a_larger_move_runs_the_model(astronaut):
    _, result, rested = _pair(astronaut, _shifted(astronaut, 3.0))  # 1.2 model pixels
    assert not rested and result.timings["inference"] > 0.0


def test_the_model_runs_at_least_every_few_frames_while_the_picture_sways(astronaut):
    stage = PersonMask(_settings())
    rested = []
    for i in range(12):  # a slow drift: a tenth of a model pixel a frame, never still
        _frames(stage, [_shifted(astronaut, 0.25 * i)], foreground=True)
        assert not stage.still
        rested.append(stage.held)
    longest = max(len(r) for r in "".join("h" if h else "." for h in rested).split("."))
    assert rested[0] is False and longest == T.HOLD_MAX_SKIPS
    assert rested.count(False) == -(-12 // (T.HOLD_MAX_SKIPS + 1))  # and no more often than that


def test_the_tier_releases_a_held_error_on_the_same_frame_as_the_model_on_every_frame(astronaut):
    """The streak counter's bound (a mistake held on a still wall leaves within RELEASE_FRAMES frames)
    counts frames, not model runs: on a rested frame the model's last output is counted again."""
    rng = np.random.default_rng(4)
    frames = [_shifted(_noisy(astronaut, rng), 0.25 * i) for i in range(10)]

    def released(gate):
        stage = PersonMask(_settings(gate))
        _frames(stage, frames[:2], foreground=True)
        # Wall above the head held as person; the model's last run already said room once.
        stage._held = stage._held.copy()
        stage._held[:20, :40] = 1.0
        stage._streak[:20, :40] = -1
        stage._skips = 0
        out, rested = [], []
        for frame in frames[2:]:
            result = Analysis()
            stage.process(frame, result, foreground=True)
            out.append(float(result.small_mask[:20, :40].mean()))
            rested.append(stage.held)
        return out, rested

    with_tier, rested = released(True)
    every_frame, _ = released(False)
    assert any(rested)
    first = [next(i for i, v in enumerate(values) if v < 0.5) for values in (with_tier, every_frame)]
    assert first[0] == first[1] <= T.RELEASE_FRAMES


def test_a_nan_from_the_model_still_resets_and_the_next_frame_runs_it(astronaut, monkeypatch):
    stage = PersonMask(_settings())
    _frames(stage, [astronaut], foreground=True)
    seg = stage._backend
    real = seg.infer
    monkeypatch.setattr(seg, "infer", lambda tensor: np.full_like(real(tensor), np.nan))
    _frames(stage, [_shifted(astronaut, 3.0)], foreground=True)  # large move: the model runs, says NaN
    assert stage._held is None  # started afresh
    monkeypatch.setattr(seg, "infer", real)
    result, _ = _frames(stage, [_shifted(astronaut, 3.2)], foreground=True)[0]  # a small move
    assert not stage.held and result.timings["inference"] > 0.0
    assert np.isfinite(result.small_mask).all()
