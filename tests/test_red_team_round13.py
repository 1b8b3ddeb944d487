"""Red team, round 13: the live loop over time (a process that is stopped and continued) and what
LiveCam writes unasked.

1. A process stopped and continued (Ctrl+Z then ``fg``, ``kill -STOP``/``-CONT``, a paused VM): the
   monotonic clock goes on while no thread runs. Found for real (``livecam run``, four 5 s stops):
   each continue logged "video ... stopped responding; LiveCam shows a placeholder" and sent a
   placeholder card, then "is back" 4 ms later: the live loop, woken first, judged the source by
   the age of its last frame, though the source's thread had not run either.
2. The same stop while a frame was being handed to the output: the send in flight was judged hung
   the moment the process went on (it had "taken" 5 s against a 3 s deadline), so the virtual
   camera was dropped and reopened, and a recording (not recoverable) was stopped for good.
   And while a model ran: found for real (``livecam run``, the general person mask at 720p, three
   11 s stops), "The selfie_segmentation model stopped answering (no result in 10 s ...) Restart
   LiveCam": the model given up for good, the picture hidden behind a full blur until a restart.
3. ``livecam bench --effects swap`` (or animate, or avatar) kept a copy of LiveCam's own sample
   photo among the user's kept avatar photos (``livecam avatars list``, the settings window's
   "Kept copies"), a personal folder, though the user chose no photo.
"""
from __future__ import annotations

import logging
import threading
import time
from contextlib import contextmanager

import numpy as np
import pytest
from live_doubles import StoppedClock

from livecam import capture
from livecam.analysis import run_guard
from livecam.analysis.runtime import ModelHung
from livecam.pacing import PacedSender
from livecam.sinks import NullOutput

W, H = 64, 48


# ------------------------------------------------------------------ 1. the source after a stop

class _Camera(capture.FrameSource):
    """Publishes one frame, then one more each time ``send`` is set (a camera that is fine, but
    whose next frame comes only after the process went on)."""

    def __init__(self) -> None:
        super().__init__(W, H, 30, "camera 0")
        self.send = threading.Event()

    def _run(self) -> None:
        self._publish(np.full((H, W, 3), 90, np.uint8))
        while not self._stop.wait(0.005):
            if self.send.is_set():
                self.send.clear()
                self._publish(np.full((H, W, 3), 90, np.uint8))


def test_a_process_stopped_and_continued_does_not_call_the_camera_stuck(monkeypatch, caplog):
    clock = StoppedClock(monkeypatch)
    source = _Camera().start()
    try:
        first = source.latest(-1, timeout=2.0)
        assert not first.placeholder
        with caplog.at_level(logging.INFO, "livecam.capture"):
            clock.skip(5.0, after=0.05)  # the process "stops" for 5 s while the loop waits for a frame
            frame = source.latest(after=first.index, timeout=0.3)
            assert not frame.placeholder and frame.index == first.index
            assert source.error is None
            source.send.set()  # the camera's thread runs again: its next frame comes
            frame = source.latest(after=first.index, timeout=2.0)
            assert not frame.placeholder and frame.index > first.index
        assert "stopped responding" not in caplog.text
    finally:
        source.close()


def test_a_camera_that_really_stops_after_a_process_stop_is_still_told(monkeypatch, caplog):
    """Time the process runs still counts: a camera that sends nothing for STUCK_S of it is stuck."""
    clock = StoppedClock(monkeypatch)
    source = _Camera().start()
    try:
        first = source.latest(-1, timeout=2.0)
        clock.skip(5.0, after=0.05)
        assert not source.latest(after=first.index, timeout=0.3).placeholder
        with caplog.at_level(logging.WARNING, "livecam.capture"):
            frames = []
            for _ in range(8):  # the loop goes on, 0.5 s of running time between looks
                clock.offset += 0.5
                frames.append(source.latest(after=first.index, timeout=0.01))
        assert frames[-1].placeholder and not frames[0].placeholder
        assert "stopped responding" in caplog.text
    finally:
        source.close()


# ------------------------------------------------------------------ 2. the output after a stop

class _SlowOnce(NullOutput):
    """The null output whose first send waits until ``release`` (a send in flight when the process stops)."""

    recoverable = False  # as a recording: a hang ends it for good

    def __init__(self) -> None:
        super().__init__(W, H, 30)
        self.entered, self.release = threading.Event(), threading.Event()
        self.aborted = False
        self.sent = 0

    def _send(self, image) -> None:
        if self.sent == 0:
            self.entered.set()
            self.release.wait(10)
        self.sent += 1

    def abort(self) -> None:
        self.aborted = True
        self.release.set()


def _frame() -> np.ndarray:
    return np.full((H, W, 3), 120, np.uint8)


@contextmanager
def _send_in_flight(monkeypatch):
    """A sender whose first send has started and waits for ``output.release``: (clock, output, sender)."""
    clock = StoppedClock(monkeypatch)
    output = _SlowOnce()
    sender = PacedSender(output, 30).start()
    try:
        sender.submit(_frame(), time.monotonic())
        assert output.entered.wait(5)
        yield clock, output, sender
    finally:
        output.release.set()
        sender.stop()


def test_a_send_in_flight_while_the_process_was_stopped_is_not_called_hung(monkeypatch):
    with _send_in_flight(monkeypatch) as (clock, output, sender):
        clock.skip(5.0).join()  # stopped for 5 s with the send in flight; both go on together
        time.sleep(0.2)  # the sender ticks a few times, as it does right after a continue
        output.release.set()
        deadline = time.time() + 5
        while output.sent < 3 and time.time() < deadline:
            sender.submit(_frame(), time.monotonic())
            time.sleep(0.05)
        assert not output.aborted and not sender.failed.is_set()
        assert sender.state == "sending" and output.sent >= 3


def test_a_send_that_really_hangs_is_still_dropped(monkeypatch):
    """The stop is excused, a hang is not: the clock moving on while the sender ticks is a hang."""
    with _send_in_flight(monkeypatch) as (clock, output, sender):
        deadline = time.time() + 10
        while not sender.failed.is_set() and time.time() < deadline:
            clock.offset += 0.25  # a quarter second per 30 ms: the sender runs all along
            time.sleep(0.03)
        assert sender.failed.is_set() and output.aborted
        assert "hung" in sender.status


def test_a_model_run_in_flight_while_the_process_was_stopped_is_not_given_up(monkeypatch):
    monkeypatch.setattr(run_guard, "HANG_S", 1.0)
    clock = StoppedClock(monkeypatch)
    guard = run_guard.RunGuard("selfie_segmentation", ModelHung)
    guard.call(lambda: None)  # warm: the live deadline
    running, release = threading.Event(), threading.Event()

    def run() -> str:
        running.set()
        release.wait(10)
        return "mask"

    def stop_and_continue() -> None:
        assert running.wait(5)
        clock.offset += 11.0  # stopped for 11 s in the middle of the run
        time.sleep(1.2)  # the caller's wait ends first, as it did for real
        release.set()  # the run finishes right after the continue

    helper = threading.Thread(target=stop_and_continue, daemon=True)
    helper.start()
    assert guard.call(run) == "mask"
    assert guard.hung is None and guard.call(lambda: 2) == 2
    helper.join()


def test_a_model_run_that_really_hangs_is_still_given_up(monkeypatch):
    monkeypatch.setattr(run_guard, "HANG_S", 0.3)
    guard = run_guard.RunGuard("selfie_segmentation", ModelHung)
    guard.call(lambda: None)
    stuck = threading.Event()
    with pytest.raises(ModelHung):
        guard.call(stuck.wait, 30)  # returns (no hang found) only after 30 s
    stuck.set()


# ------------------------------------------------------------------ 3. no copy of LiveCam's own photo

def test_the_benchmarks_sample_photo_is_not_kept_among_the_users_photos(tmp_path):
    from livecam import bench
    from livecam.analysis.avatar_photo import load_avatar_photo, store_dir, stored_avatars
    from livecam import settings as S
    from livecam.effects import REGISTRY, build_effect

    settings = S.update(S.Settings(), **bench._changes("swap", "cpu", 1))
    spec = next(s for s in REGISTRY if s.name == "avatar")
    effect = build_effect(spec, settings)  # as the bench builds it
    try:
        assert effect is not None
    finally:
        effect.close()
    assert stored_avatars() == [] and not store_dir().exists()
    # The user's own copy of the same picture is theirs: it is kept, as before.
    mine = tmp_path / "me.jpg"
    mine.write_bytes(open(bench.default_avatar(), "rb").read())
    assert load_avatar_photo(mine).path.parent == store_dir()
    assert [s.name for s in stored_avatars()] == [load_avatar_photo(mine).path.name]
