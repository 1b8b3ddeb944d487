"""Red team round 31: round 30's leftovers about a system at its limit.

1. A model whose session is created on a run guard's thread that cannot start ("can't start new
   thread", the process at its thread limit): the sentence said "the file may be damaged, reinstall
   LiveCam", the wrong fix. It now says the system is at its limit, in the words the live loop uses
   (messages.NO_THREAD). A thread refused once still opens on the CPU retry, as before.
2. An app opening the camera after a pause when the camera's or the live loop's thread cannot start:
   a traceback out of LiveSession.follow_viewers that ended ``livecam run``. Now the app keeps the
   "starting the camera" card, one sentence says why, and LiveCam tries again while the app watches.
3. A video file opened with the process at its open-file limit (``ulimit -n 5``): "cannot be opened
   (damaged, emptied or an unsupported format); pass another video". OpenCV gives no errno, so at a
   failed open a probe holds a few descriptors of the file: refused with EMFILE/ENFILE, the sentence
   says the limit and the fix (messages.NO_FILES_FIX, as the recording's).
"""
from __future__ import annotations

import errno
import os
import threading
import weakref

import numpy as np
import pytest
from clips import moving_dot_clip
from conftest import FIXTURES

from livecam import messages
from livecam.analysis import run_guard, runtime


@pytest.fixture
def no_model_thread(monkeypatch):
    """Every model thread is refused, as at the process's thread limit; other threads start."""
    refused: list[str] = []

    class Thread(threading.Thread):
        def start(self):
            if self.name.startswith("livecam-model-"):
                refused.append(self.name)
                raise RuntimeError("can't start new thread")
            super().start()

    monkeypatch.setattr(run_guard.threading, "Thread", Thread)
    return refused


# -------------------------------------------------------------- 1. a model's session at the thread limit


def test_a_model_that_cannot_get_its_thread_says_the_system_is_at_its_limit(monkeypatch, no_model_thread):
    """Before: "Model selfie_segmentation_landscape.onnx could not be loaded (CPUExecutionProvider: can't
    start new thread); the file may be damaged, reinstall LiveCam." """
    monkeypatch.setattr(runtime, "_pool", weakref.WeakValueDictionary())  # open afresh, not a pooled session
    with pytest.raises(runtime.ModelError) as info:
        runtime.load_model("selfie_segmentation_landscape", provider="cpu")
    said = str(info.value)
    assert said == f"Model selfie_segmentation_landscape.onnx could not be loaded: {messages.NO_THREAD}"
    assert "damaged" not in said and "reinstall" not in said
    assert no_model_thread == ["livecam-model-selfie_segmentation_landscape"] * 2  # the CPU retry was refused too
    no_model_thread.clear()
    monkeypatch.undo()  # threads to be had again: the same model opens (nothing of the refusal was kept)
    session = runtime.load_model("selfie_segmentation_landscape", provider="cpu")
    assert session.provider == "CPUExecutionProvider"


def test_a_model_whose_thread_is_refused_once_opens_on_the_retry(monkeypatch):
    """The limit for a moment: the second try (the CPU fallback) gets its thread and the model opens,
    as it did before; only a refusal on every try is the sentence above."""
    refused: list[str] = []

    class Thread(threading.Thread):
        def start(self):
            if self.name.startswith("livecam-model-") and not refused:
                refused.append(self.name)
                raise RuntimeError("can't start new thread")
            super().start()

    monkeypatch.setattr(run_guard.threading, "Thread", Thread)
    monkeypatch.setattr(runtime, "_pool", weakref.WeakValueDictionary())
    session = runtime.load_model("selfie_segmentation_landscape", provider="cpu")
    assert refused and session.provider == "CPUExecutionProvider"


def test_a_refused_thread_in_any_effect_failure_gets_the_same_sentence():
    """messages.failed, which words an effect or a job that failed, named it "a fault inside LiveCam
    (RuntimeError)"; it says the system is at its limit, as the live loop does."""
    said = messages.failed("Blur could not be started", RuntimeError("can't start new thread"))
    assert said == f"Blur could not be started: {messages.NO_THREAD}"
    assert messages.failed("X", RuntimeError("other")).endswith("(RuntimeError); LiveCam's log has the details.")


# -------------------------------------------------------------- 2. idle resume at the thread limit


class _Runner:
    """Stands in for LiveRunner: starts (or is refused, as its thread would be) and stops at once."""

    refuse = False

    def __init__(self) -> None:
        self.processed, self.error, self.done = 0, None, threading.Event()

    def start(self) -> "_Runner":
        if _Runner.refuse:
            raise RuntimeError("can't start new thread")
        return self

    def stop(self, timeout: float | None = None) -> None:
        self.done.set()


class _Sender:
    """Stands in for PacedSender: records pauses (with their card) and resumes."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def stats(self) -> dict:
        return {"frames_sent": 1}

    def pause(self, last=None) -> None:
        self.calls.append(("pause", last))

    def resume(self, since=None) -> None:
        self.calls.append(("resume", since))


@pytest.mark.parametrize("refused", ["capture", "runner"])
def test_an_app_coming_back_when_no_thread_can_start_keeps_the_card_and_is_tried_again(
        monkeypatch, caplog, refused):
    """An app opens the camera after a pause and the camera's thread or the live loop's cannot start.
    Before: RuntimeError("can't start new thread") out of follow_viewers, a traceback that ended
    `livecam run` (and the tray app's control job said "LiveCam could not start: can't start new thread").
    Now the app keeps the "starting the camera" card, the source opened for it is closed again, one
    sentence says why, and the next try (while the app watches) resumes."""
    from livecam import capture
    from livecam.live_session import PAUSED_CARD, LiveSession
    from livecam.settings import Settings, update

    settings = update(Settings(), capture={"source": str(FIXTURES / "sk_astronaut.png"), "width": 96, "height": 64})
    sources: list = []

    def open_source(capture_settings):
        sources.append(capture.open_source(capture_settings))
        return sources[-1]

    sender = _Sender()
    first = open_source(settings.capture).start()
    live = LiveSession(settings.capture, first, pipeline=None, sender=sender, frames=0,
                       make_runner=lambda src, n: _Runner(), open_source=open_source)
    live.pipeline = type("Pipeline", (), {"reset_temporal": lambda self: None})()
    live.viewers_changed(False, 0.0)
    live.follow_viewers()
    assert live.idle and first._stop.is_set()

    if refused == "capture":
        real = threading.Thread.start

        def start(thread):
            if thread.name.startswith("livecam-capture"):
                raise RuntimeError("can't start new thread")
            return real(thread)

        monkeypatch.setattr(threading.Thread, "start", start)
    else:
        _Runner.refuse = True
    caplog.set_level("INFO", logger="livecam")
    try:
        live.viewers_changed(True, 1.0)
        live.follow_viewers()  # before: raised RuntimeError
    finally:
        _Runner.refuse = False
        monkeypatch.undo()
    assert live.idle and live.source is None
    assert len(sources) == 2 and sources[1]._stop.is_set()  # the source opened for the app is closed again
    said = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert said == [f"LiveCam could not resume for the app that opened its camera: {messages.NO_THREAD}"]
    kind, card = sender.calls[-1]
    assert kind == "pause" and np.array_equal(card, capture.placeholder_image(96, 64, PAUSED_CARD))

    live._retry_at = 0.0  # the next try, as the main loop makes it RESUME_RETRY_S later
    live.follow_viewers()
    assert not live.idle and len(sources) == 3 and sender.calls[-1][0] == "resume"
    live.close(timeout=2.0)


# -------------------------------------------------------------- 3. a video file at the open-file limit


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return moving_dot_clip(tmp_path_factory.mktemp("clip") / "clip.mp4")


@pytest.fixture
def files_left(request, clip):
    """The process with only ``request.param`` file descriptors free (as under ``ulimit -n 5``); restored after."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    highest = max(int(fd) for fd in os.listdir("/proc/self/fd"))
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, highest + 64), hard))
    held: list[int] = []
    try:
        try:
            while True:
                held.append(os.open(os.devnull, os.O_RDONLY))
        except OSError as exc:
            assert exc.errno == errno.EMFILE
        for _ in range(request.param):
            os.close(held.pop())
        yield request.param
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.mark.parametrize("files_left", [0, 1], indirect=True)
@pytest.mark.parametrize("opener", ["source", "render"])
def test_a_video_file_at_the_open_file_limit_says_so_not_damaged(clip, files_left, opener):
    """Found for real: ``livecam run --source clip.mp4`` under ``ulimit -n 5`` said "cannot be opened (damaged,
    emptied or an unsupported format); pass another video or a camera index" (one descriptor free: FFmpeg's
    open fails with no errno); with none free, "cannot be read (Too many open files); pass another video"."""
    from livecam import capture
    from livecam.settings import Settings, update

    with pytest.raises(capture.CaptureError) as info:
        if opener == "render":
            capture.VideoReader(clip)
        else:
            capture.open_source(update(Settings(), capture={"source": str(clip)}).capture)
    said = str(info.value)
    assert said == (f"Video file {clip} cannot be opened now: LiveCam has as many files open as the system allows; "
                    f"{messages.NO_FILES_FIX}.")


def test_a_damaged_video_with_files_to_spare_is_still_called_damaged(tmp_path):
    """The probe answers no where descriptors are to be had: a damaged file is still called damaged."""
    from livecam import capture

    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\0not a video" * 100)
    with pytest.raises(capture.CaptureError, match=r"cannot be opened \(damaged"):
        capture.VideoReader(bad)
