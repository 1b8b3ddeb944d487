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
    assert not any(s for _, s in _frames(stage, moving))


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
