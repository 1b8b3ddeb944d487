"""Fail closed, isolate faults, update in place: the frame that leaves never shows more than the
user chose, one broken effect never stops the stream, and a slider never resets an effect."""
import logging
import threading
import time

import cv2
import numpy as np
import pytest

from livecam import settings as S
from livecam.effects import background as background_module
from livecam.effects import touch_up as touch_up_module
from livecam.effects.base import NO_OUTPUTS, EffectBase
from livecam.live_runner import LiveRunner
from livecam.pipeline import Pipeline
from livecam.types import Frame


def _sharpness(image: np.ndarray) -> float:
    """Detail finer than ~4 px: what is left after taking away a Gaussian-blurred copy."""
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32)
    return float(np.abs(grey - cv2.GaussianBlur(grey, (0, 0), 4)).mean())


def _is_hidden(out: np.ndarray, raw: np.ndarray) -> bool:
    """Blurred beyond recognition: under 5 % of the raw frame's detail left."""
    return out.shape == raw.shape and _sharpness(out) < 0.05 * _sharpness(raw)


class _Raising(EffectBase):
    """An effect that fails on the frames whose number is in ``bad`` (all frames when None)."""

    needs = frozenset({"mask"})

    def __init__(self, bad=None):
        self.calls = 0
        self.bad = bad

    def apply(self, image, analysis):
        self.calls += 1
        if self.bad is None or self.calls in self.bad:
            raise cv2.error("injected failure")
        return image, NO_OUTPUTS


def test_an_effect_that_raises_hides_the_frame_and_the_stream_goes_on(astronaut, monkeypatch, caplog):
    effect = _Raising()
    monkeypatch.setattr(background_module, "build_background", lambda *a: effect)
    pipeline = Pipeline(S.update(S.Settings(), background={"mode": "blur"}))
    with caplog.at_level(logging.ERROR):
        outs = [pipeline.process(astronaut) for _ in range(40)]
    assert all(_is_hidden(out, astronaut) for out in outs), "no frame may show the raw room"
    # Retried with back-off (frames 1, 2, 4, 8, 16, 32), not on every frame.
    assert 5 <= effect.calls <= 8
    assert caplog.text.count("Background failed") == 1, "logged once"
    assert pipeline.failure_counts()["background"] == effect.calls
    assert any("keeps failing" in p for p in pipeline.problems())


def test_a_passing_frame_after_a_failure_shows_the_effect_again(astronaut, monkeypatch):
    effect = _Raising(bad={1})
    monkeypatch.setattr(background_module, "build_background", lambda *a: effect)
    pipeline = Pipeline(S.update(S.Settings(), background={"mode": "blur"}))
    first, second = pipeline.process(astronaut), pipeline.process(astronaut)
    assert _is_hidden(first, astronaut)
    assert np.array_equal(second, astronaut)  # the injected effect passes the frame through when it works
    assert not pipeline.problems()


def test_a_failing_touch_up_is_skipped_not_hidden(astronaut, monkeypatch):
    class Broken(_Raising):
        needs = frozenset({"faces"})

    monkeypatch.setattr(touch_up_module, "TouchUp", lambda *a: Broken())
    pipeline = Pipeline(S.update(S.Settings(), background={"mode": "off"}, touch_up={"strength": 50}))
    out = pipeline.process(astronaut)
    assert np.array_equal(out, astronaut), "touch-up hides nothing, so failing it shows the frame as it is"


@pytest.mark.parametrize("content", [b"", b"this is text, not a picture", None])
def test_an_unusable_first_background_hides_the_frame(astronaut, tmp_path, content):
    path = tmp_path / "bg.jpg"
    if content is None:
        path.mkdir()  # a directory named like a picture
    else:
        path.write_bytes(content)
    pipeline = Pipeline(S.update(S.Settings(), background={"mode": "image", "image": str(path)}))
    out = pipeline.process(astronaut)
    assert _is_hidden(out, astronaut)
    assert len(pipeline.problems()) == 1 and "full blur" in pipeline.problems()[0]
    # Fixed by the user: the next frame shows the chosen effect.
    pipeline.apply(S.update(pipeline.settings, background={"mode": "color", "color": "#0000ff"}))
    out = pipeline.process(astronaut)
    assert not pipeline.problems() and (out[:40, -40:] == (255, 0, 0)).all()


def test_turning_the_background_off_shows_the_frame(astronaut, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"garbage")
    pipeline = Pipeline(S.update(S.Settings(), background={"mode": "image", "image": str(bad)}))
    pipeline.process(astronaut)
    pipeline.apply(S.update(pipeline.settings, background={"mode": "off"}))
    assert np.array_equal(pipeline.process(astronaut), astronaut)  # off is what the user chose
    assert not pipeline.problems()


def test_the_live_runner_keeps_going_when_processing_raises(astronaut):
    class Source:
        def __init__(self):
            self.i = 0

        def latest(self, after=-1, timeout=0.5):
            self.i += 1
            return Frame(astronaut, self.i, time.monotonic())

    class Pipe:
        def process(self, image, t=None):
            raise RuntimeError("boom")

    class Sender:
        def __init__(self):
            self.frames = []

        def submit(self, image, t):
            self.frames.append(image)

    sender = Sender()
    runner = LiveRunner(Source(), Pipe(), sender, frames=10).start()
    assert runner.wait(10)
    assert runner.error is None and runner.processed == 10 and runner.errors == 10
    assert all(_is_hidden(f, astronaut) for f in sender.frames)


def test_cheap_changes_update_the_live_effect_in_place(astronaut):
    pipeline = Pipeline(S.update(S.Settings(), background={"mode": "blur"}, touch_up={"strength": 40},
                                 low_light={"mode": "manual", "exposure": 0.5, "denoise": 40}))
    for _ in range(3):
        pipeline.process(astronaut)
    before = {name: pipeline._slots[i].effect for i, name in enumerate(["low_light", "touch_up", "avatar", "background"])}
    denoiser = before["low_light"]._denoiser
    average = None if denoiser.average is None else denoiser.average.copy()
    pipeline.apply(S.update(pipeline.settings, background={"blur": 90}, touch_up={"strength": 80},
                            low_light={"exposure": 1.0}))
    pipeline.process(astronaut)
    after = {name: pipeline._slots[i].effect for i, name in enumerate(["low_light", "touch_up", "avatar", "background"])}
    for name in ("low_light", "touch_up", "background"):
        assert after[name] is before[name], f"{name} must be updated, not rebuilt"
    assert after["background"].strength == 90 and after["touch_up"].amount == 0.8
    assert after["low_light"]._denoiser is denoiser and average is not None  # the denoiser keeps its history


def test_expensive_changes_are_built_off_the_processing_thread(astronaut, tmp_path, monkeypatch):
    picture = np.full((32, 32, 3), (0, 200, 0), np.uint8)
    path = tmp_path / "green.png"
    cv2.imwrite(str(path), picture)
    built_on, release = [], threading.Event()
    real = background_module.build_background

    def slow_build(*args):
        built_on.append(threading.current_thread().name)
        if args[0].mode == "image":
            release.wait(10)
        return real(*args)

    monkeypatch.setattr(background_module, "build_background", slow_build)
    pipeline = Pipeline(S.update(S.Settings(), background={"mode": "color", "color": "#ff0000"}),
                        background_builds=True)
    try:
        pipeline.apply(S.update(pipeline.settings, background={"mode": "image", "image": str(path)}))
        out = pipeline.process(astronaut)  # the picture is still loading: the red background stays
        assert (out[:40, -40:] == (0, 0, 255)).all()
        release.set()
        pipeline.wait_for_builds()
        out = pipeline.process(astronaut)
        assert (out[:40, -40:] == (0, 200, 0)).all()
        assert built_on[-1].startswith("livecam-build")
    finally:
        release.set()
        pipeline.close()
