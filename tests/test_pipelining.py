"""Pipelining in the live loop: frame n+1 is analysed on a second thread while frame n composites,
and what comes out is the same picture, frame for frame, as one frame at a time."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from livecam import settings as S
from livecam.capture import Frame
from livecam.live_runner import LiveRunner, Prefetch, usable_cores
from livecam.pipeline import Pipeline


def _clip(astronaut, n=12):
    """A person moving sideways a few pixels a frame, so every frame's mask differs."""
    return [np.ascontiguousarray(np.roll(astronaut, 6 * i, axis=1)) for i in range(n)]


class _Camera:
    """A camera that always has the next frame ready: processing is the slow part."""

    def __init__(self, frames):
        self.frames = frames

    def latest(self, after=-1, timeout=0.5):
        i = min(after + 1, len(self.frames) - 1)
        return Frame(self.frames[i], i, float(i) / 30)


class _Sender:
    def __init__(self):
        self.frames, self.times = [], []

    def submit(self, image, t):
        self.frames.append(image)
        self.times.append(t)


def _run(settings, frames, pipelining):
    pipeline = Pipeline(settings)
    sender = _Sender()
    runner = LiveRunner(_Camera(frames), pipeline, sender, frames=len(frames), pipelining=pipelining)
    runner.pipelining = pipelining  # the test machine may have one core; the logic is what is tested
    runner.start()
    assert runner.wait(120) and runner.error is None
    pipeline.close()
    return runner, sender


@pytest.mark.parametrize("changes", [{"background": {"mode": "blur", "blur": 60}},
                                     {"background": {"mode": "color", "color": "#20a040"}, "touch_up": {"strength": 50}}])
def test_pipelined_output_is_the_same_picture_as_one_at_a_time(astronaut, changes):
    settings = S.update(S.Settings(), segmentation={"model": "landscape"},
                        runtime={"provider": "cpu", "threads": 1}, **changes)
    frames = _clip(astronaut)
    serial, one = _run(settings, frames, False)
    piped, two = _run(settings, frames, True)
    assert serial.overlapped == 0 and piped.overlapped >= len(frames) - 2
    assert len(one.frames) == len(two.frames) == len(frames)
    assert two.times == one.times  # each frame goes out with its own capture time: latency stays honest
    for a, b in zip(one.frames, two.frames):
        assert np.array_equal(a, b)
    # And the room really is replaced (a pipelined frame is not the raw frame).
    assert not np.array_equal(two.frames[-1], frames[-1])


def test_a_picture_changing_effect_before_the_analysis_turns_pipelining_off(astronaut):
    settings = S.update(S.Settings(), segmentation={"model": "landscape"}, runtime={"provider": "cpu", "threads": 1},
                        background={"mode": "blur"}, low_light={"mode": "manual", "exposure": 0.5})
    frames = _clip(astronaut, 6)
    serial, one = _run(settings, frames, False)
    piped, two = _run(settings, frames, True)
    assert piped.overlapped == 0
    for a, b in zip(one.frames, two.frames):
        assert np.array_equal(a, b)


def test_prefetch_analyses_on_its_own_thread_and_in_order(astronaut):
    pipeline = Pipeline(S.update(S.Settings(), segmentation={"model": "landscape"},
                                 runtime={"provider": "cpu", "threads": 1}, background={"mode": "blur"}))
    analyzer = pipeline.analyzer
    seen = []
    real = analyzer.analyze

    def spy(image, needs, t=None):
        seen.append((threading.current_thread().name, t))
        return real(image, needs, t=t)

    analyzer.analyze = spy
    prefetch = Prefetch(pipeline)
    frames = _clip(astronaut, 3)
    for i, image in enumerate(frames):
        assert prefetch.start(Frame(image, i, float(i)))
    for image in frames:
        pipeline.process(image)
    prefetch.close()
    assert pipeline.analyzer is analyzer  # handed back
    assert [t for _, t in seen] == [0.0, 1.0, 2.0]
    assert all(name.startswith("livecam-analysis") for name, _ in seen)
    assert "analysis" in pipeline.last_timings


def test_pipelining_is_a_setting_and_needs_two_cores(monkeypatch):
    assert S.Settings().runtime.pipelining is False  # measured slower on a loaded 2-core machine

    class Pipe:
        settings = S.update(S.Settings(), runtime={"pipelining": True})

    source, sender = object(), object()
    monkeypatch.setattr("livecam.live_runner.usable_cores", lambda: 1)
    assert LiveRunner(source, Pipe(), sender).pipelining is False
    monkeypatch.setattr("livecam.live_runner.usable_cores", lambda: 2)
    assert LiveRunner(source, Pipe(), sender).pipelining is True
    # A tap that is both source and sender (the GUI's) pairs each input with the next output.
    assert LiveRunner(source, Pipe(), source).pipelining is False
    Pipe.settings = S.update(S.Settings(), runtime={"pipelining": False})
    assert LiveRunner(source, Pipe(), sender).pipelining is False
    assert usable_cores() >= 1
