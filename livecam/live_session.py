"""A live session whose webcam and processing pause while no app watches the virtual camera.

The pipeline and the paced sender live for the whole session; the source and the runner stop
while nobody watches (the webcam's light goes off, CPU drops to nothing) and come back when an app
opens the camera. The CLI's ``run_live`` and the GUI's bridge both run one.
"""
from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from livecam.capture import placeholder_image
from livecam.live_runner import LiveRunner
from livecam.messages import failed, no_thread
from livecam.pipeline import Pipeline
from livecam.settings import CaptureSettings

log = logging.getLogger("livecam")

PAUSED_CARD = "LiveCam - starting the camera"  # what an app sees until the first frame after a pause
RESUME_WAIT_S = 0.1  # how soon a resume is tried again while the released runner finishes its frame
RESUME_RETRY_S = 2.0  # a source that cannot be reopened is tried again this often while an app watches
# How long Quit, switching LiveCam off, or a pause with no app watching waits for the frame being
# processed (one takes well under this). A frame stuck in a model run (until the run guard gives it up,
# up to 10 s) is left on its thread: the sender and the output close under it, and what it makes goes
# nowhere. Waited for, it kept the window and the virtual camera there for the runner's whole 5 s. A
# start or resume that follows waits for it (see ``finishing``): two runners on one pipeline must never be.
FRAME_WAIT_S = 0.3


def _same_source(capture: CaptureSettings, source: Any) -> CaptureSettings:
    """Settings that reopen exactly ``source`` (not "auto" again, which would probe every camera)."""
    found = getattr(source, "device", None)
    if found is None:
        found = getattr(source, "path", None)
    return capture if found is None else dataclasses.replace(capture, source=str(found))


class LiveSession:
    """Source and runner, which stop while nobody watches, around the pipeline and sender, which stay.

    ``viewers_changed`` is the :class:`livecam.idle.ViewerWatch` callback (watch thread); the main
    loop calls :meth:`follow_viewers` to act on it, so opening and closing happen on one thread.
    """

    def __init__(self, capture: CaptureSettings, source: Any, pipeline: Pipeline, sender, frames: int,
                 make_runner: Callable[[Any, int], LiveRunner] | None = None,
                 open_source: Callable[[CaptureSettings], Any] | None = None) -> None:
        from livecam.capture import open_source as open_default

        self._open_source = open_source or open_default
        # The GUI wraps source and sender to copy frames out; the CLI runs them as they are.
        self._make_runner = make_runner or (lambda src, n: LiveRunner(src, pipeline, sender, frames=n))
        self._capture = _same_source(capture, source)
        self.size = source.size
        self.source: Any = source
        self.pipeline, self.sender, self.frames = pipeline, sender, frames
        self.runner: LiveRunner | None = self._make_runner(source, frames).start()
        self.processed_before = 0
        self.error: str | None = None
        self.wake = threading.Event()
        self._want: tuple[bool, float] | None = None
        self._retry_at = 0.0
        # Why the last resume failed while an app watches (the app sees the paused card meanwhile): said
        # once per cause, not on every retry, and shown by the tray's state line. None once resumed.
        self.problem: str | None = None
        self._released: LiveRunner | None = None  # the runner released last: it may still be inside a frame

    @property
    def processed(self) -> int:
        return self.processed_before + (self.runner.processed if self.runner else 0)

    @property
    def idle(self) -> bool:
        return self.runner is None

    def viewers_changed(self, watched: bool, t: float) -> None:
        self._want = (watched, t)
        self.wake.set()

    def follow_viewers(self) -> None:
        self.wake.clear()
        if self._want is None:
            return
        watched, t = self._want
        if not watched:
            self.problem = None  # nobody waits for the camera any more: a later app is told afresh
        if not watched and self.runner is not None:
            # The virtual camera must have had a frame, or apps with exclusive_caps never list it.
            if self.sender.stats()["frames_sent"] > 0:
                self.release()
                log.info("No app is using the LiveCam camera: the camera is released and processing is paused "
                         "until one opens it.")
        elif watched and self.runner is None and time.monotonic() >= self._retry_at:
            if self.problem is None:
                log.info("An app opened the LiveCam camera: resuming.")
            self.resume(t)

    @property
    def settled(self) -> bool:
        """Whether the session already does what the last viewer change asked (running or idle)."""
        return self._want is None or self._want[0] == (self.runner is not None)

    def release(self) -> None:
        runner, self.runner = self.runner, None
        if runner is None:
            return
        runner.stop(timeout=0)  # no new frame is taken from here on...
        self.source.close()  # ...so the camera can go at once (its light turns off)
        self.source = None
        runner.stop(FRAME_WAIT_S)  # one stuck in a model run held the control thread 5 s; resume waits for it
        self._released = runner
        self.processed_before += runner.processed
        self.error = self.error or runner.error
        self.sender.pause(last=placeholder_image(*self.size, PAUSED_CARD))

    def resume(self, since: float) -> None:
        from livecam.capture import CaptureError

        remaining = self.frames - self.processed if self.frames else 0
        if self.frames and remaining <= 0:
            return
        if self.finishing:
            # Its frame is still in the pipeline (a model run stuck until the run guard gives it up): a
            # second runner beside it shared the pipeline, and the old one's exit unhooked the new one's
            # prefetch (every frame analysed twice, and each picture analysed ahead kept for good).
            self._retry_at = time.monotonic() + RESUME_WAIT_S
            return
        self._released = None
        try:
            source = self._open_source(self._capture)
        except CaptureError as exc:
            self._cannot_resume(str(exc))
            return
        if source.size != self.size:
            source.close()
            self._cannot_resume("The source now delivers {}x{} instead of {}x{}; LiveCam tries again.".format(
                *source.size, *self.size))
            return
        try:
            source.start()
            self.source = source
            self.pipeline.reset_temporal()  # the mask history is from before the pause
            self.sender.resume(since)
            self.runner = self._make_runner(source, remaining).start()
        except RuntimeError as exc:
            if not no_thread(exc):
                raise
            # The camera's or the runner's thread refused (the system at its limit): it was a traceback that
            # ended `livecam run`. The app keeps the card and LiveCam tries again while it watches.
            self.source = None
            source.close()
            self.sender.pause(last=placeholder_image(*self.size, PAUSED_CARD))
            self._cannot_resume(failed("LiveCam could not resume for the app that opened its camera", exc))
            return
        if self.problem is not None:
            log.info("LiveCam resumed for the app that opened its camera.")
            self.problem = None

    def _cannot_resume(self, sentence: str) -> None:
        """Try again in RESUME_RETRY_S; ``sentence`` goes to the log once per cause (every 2 s it was the
        same line again for as long as the app watched) and stays as ``problem`` for the tray."""
        self._retry_at = time.monotonic() + RESUME_RETRY_S
        if sentence != self.problem:
            log.error("%s", sentence)
        self.problem = sentence

    @property
    def finishing(self) -> bool:
        """Whether a runner this session let go of is still inside a frame (a model run stuck until the
        run guard gives it up): nothing else may run on the pipeline until it is out."""
        released = self._released
        return released is not None and not released.done.is_set()

    def wait_finished(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s for :attr:`finishing` to end; True once it has."""
        released = self._released
        return released is None or released.done.wait(timeout)

    def close(self, timeout: float = 5.0, frame_wait: float | None = None) -> None:
        """Stop the runner (waiting at most ``frame_wait`` s, default ``timeout``, for a frame being
        processed) and the source (at most ``timeout`` s)."""
        if self.runner is not None:
            self.runner.stop(timeout if frame_wait is None else frame_wait)
            self.processed_before += self.runner.processed
            self.error = self.error or self.runner.error
            self._released, self.runner = self.runner, None
        if self.source is not None:
            self.source.close(timeout=timeout)  # a camera stuck in its driver must not eat the 2 s
            self.source = None
