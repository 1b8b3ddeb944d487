"""The live loop for the command line: open the source and the output, run until Ctrl+C or N frames,
and say in plain words what is happening (provider, fps, fallbacks, a lost virtual camera).

While no app has the LiveCam camera open (Linux, see :mod:`livecam.idle`), the webcam is released
and processing stops; the virtual camera itself stays open so apps keep listing it. The first app
that opens it brings both back. ``output.always_on`` keeps everything running instead.
"""
from __future__ import annotations

import dataclasses
import logging
import signal
import sys
import threading
import time
from typing import Any

from livecam.capture import placeholder_image
from livecam.pipeline import LiveRunner, Pipeline
from livecam.settings import CaptureSettings, Settings

log = logging.getLogger("livecam")

STATS_EVERY_S = 5.0
PAUSED_CARD = "LiveCam - starting the camera"  # what an app sees until the first frame after a pause
RESUME_RETRY_S = 2.0  # a source that cannot be reopened is tried again this often while an app watches


def describe_stats(pipeline: Pipeline, sender, with_status: bool = True) -> str:
    stages = pipeline.stage_ms()
    st = sender.stats()
    if st.get("state") == "paused":
        return "idle: no app is using the LiveCam camera"
    parts = [f"{st.get('fps_out', 0):.1f} fps out"]
    if "total" in stages:
        parts.append(f"processing {stages['total']:.1f} ms")
    if st.get("latency_ms_median") is not None:
        parts.append(f"latency {st['latency_ms_median']:.0f} ms")
    providers = sorted(set(pipeline.providers().values()))
    if providers:
        parts.append("on " + ", ".join(p.replace("ExecutionProvider", "") for p in providers))
    if with_status and st.get("status"):
        parts.append(st["status"])
    return "; ".join(parts)


def _same_source(capture: CaptureSettings, source: Any) -> CaptureSettings:
    """Settings that reopen exactly ``source`` (not "auto" again, which would probe every camera)."""
    found = getattr(source, "device", None)
    if found is None:
        found = getattr(source, "path", None)
    return capture if found is None else dataclasses.replace(capture, source=str(found))


class _LiveSession:
    """Source and runner, which stop while nobody watches, around the pipeline and sender, which stay.

    ``viewers_changed`` is the :class:`livecam.idle.ViewerWatch` callback (watch thread); the main
    loop calls :meth:`follow_viewers` to act on it, so opening and closing happen on one thread.
    """

    def __init__(self, capture: CaptureSettings, source: Any, pipeline: Pipeline, sender, frames: int) -> None:
        from livecam.capture import open_source

        self._open_source = open_source
        self._capture = _same_source(capture, source)
        self.size = source.size
        self.source: Any = source
        self.pipeline, self.sender, self.frames = pipeline, sender, frames
        self.runner: LiveRunner | None = LiveRunner(source, pipeline, sender, frames=frames).start()
        self.processed_before = 0
        self.error: str | None = None
        self.wake = threading.Event()
        self._want: tuple[bool, float] | None = None
        self._retry_at = 0.0

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
        if not watched and self.runner is not None:
            # The virtual camera must have had a frame, or apps with exclusive_caps never list it.
            if self.sender.stats()["frames_sent"] > 0:
                self.release()
                log.info("No app is using the LiveCam camera: the camera is released and processing is paused "
                         "until one opens it.")
        elif watched and self.runner is None and time.monotonic() >= self._retry_at:
            log.info("An app opened the LiveCam camera: resuming.")
            self.resume(t)

    def release(self) -> None:
        runner, self.runner = self.runner, None
        if runner is None:
            return
        runner.stop(timeout=0)  # no new frame is taken from here on...
        self.source.close()  # ...so the camera can go at once (its light turns off)
        self.source = None
        runner.stop()
        self.processed_before += runner.processed
        self.error = self.error or runner.error
        self.sender.pause(last=placeholder_image(*self.size, PAUSED_CARD))

    def resume(self, since: float) -> None:
        from livecam.capture import CaptureError

        remaining = self.frames - self.processed if self.frames else 0
        if self.frames and remaining <= 0:
            return
        try:
            source = self._open_source(self._capture)
        except CaptureError as exc:
            self._retry_at = time.monotonic() + RESUME_RETRY_S
            log.error("%s", exc)
            return
        if source.size != self.size:
            log.error("The source now delivers %dx%d instead of %dx%d; LiveCam tries again.", *source.size, *self.size)
            source.close()
            self._retry_at = time.monotonic() + RESUME_RETRY_S
            return
        source.start()
        self.source = source
        self.sender.resume(since)
        self.runner = LiveRunner(source, self.pipeline, self.sender, frames=remaining).start()

    def close(self) -> None:
        if self.runner is not None:
            self.runner.stop()
            self.processed_before += self.runner.processed
            self.error = self.error or self.runner.error
            self.runner = None
        if self.source is not None:
            self.source.close()
            self.source = None


def run_live(settings: Settings, frames: int = 0) -> int:
    from livecam.capture import CaptureError, open_source
    from livecam.idle import watch_output
    from livecam.output import OutputError, PacedSender, open_output

    try:
        source = open_source(settings.capture)
    except CaptureError as exc:
        print(f"livecam: {exc}", file=sys.stderr)
        return 1
    source.start()
    log.info("Source: %s", source.description)
    width, height = source.size
    pipeline = Pipeline(settings)
    for problem in pipeline.problems():
        log.error(problem)
    try:
        output = open_output(settings.output, width, height)
    except OutputError as exc:
        print(f"livecam: {exc}", file=sys.stderr)
        source.close()
        pipeline.close()
        return 1
    log.info("Output: %s", output.description)
    sender = PacedSender(output, settings.output.fps).start()
    session = _LiveSession(settings.capture, source, pipeline, sender, frames)
    watch = watch_output(output, settings.output.always_on, session.viewers_changed)

    stop = threading.Event()

    def request_stop(*_: Any) -> None:
        stop.set()
        session.wake.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, request_stop)
    # A preview window needs the main thread to run Qt's events; other outputs just wait.
    pump = getattr(output, "pump", None)
    last_stats = time.monotonic()
    try:
        while True:
            # Woken at once by an app opening or closing the camera, or by a signal; otherwise a
            # light poll for the runner's end while working, and a rare one while idle.
            session.wake.wait(0.03 if pump else 0.25 if session.runner else RESUME_RETRY_S)
            if session.runner is not None and session.runner.done.is_set():
                break  # N frames done, or processing stopped with an error
            if stop.is_set() or (pump is not None and not pump()) or sender.failed.is_set():
                break
            session.follow_viewers()
            if not frames and not session.idle and time.monotonic() - last_stats >= STATS_EVERY_S:
                last_stats = time.monotonic()
                log.info(describe_stats(pipeline, sender))
    except KeyboardInterrupt:
        pass
    finally:
        if watch is not None:
            watch.close()
        session.close()
        sender.stop()  # sends what is pending, then releases the device
        output.close()  # a recording is finished here: it can still fail (disk full on the last fragment)
        pipeline.close()
    log.info("Stopped after %d frames (%s).", session.processed, describe_stats(pipeline, sender, with_status=False))
    problem = session.error or (sender.status if sender.failed.is_set() else None) or getattr(output, "error", None)
    if problem:
        print(f"livecam: {problem}", file=sys.stderr)
        return 1
    return 0
