"""The live loop for the command line: open the source and the output, run until Ctrl+C or N frames,
and say in plain words what is happening (provider, fps, fallbacks, a lost virtual camera).

While no app has the LiveCam camera open (Linux, see :mod:`livecam.idle`), the webcam is released
and processing stops; the virtual camera itself stays open so apps keep listing it. The first app
that opens it brings both back. ``output.always_on`` keeps everything running instead.
"""
from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from typing import Any

from livecam.live_session import PAUSED_CARD, RESUME_RETRY_S, LiveSession  # noqa: F401 (PAUSED_CARD for tests)
from livecam.pipeline import Pipeline
from livecam.settings import Settings

log = logging.getLogger("livecam")

STATS_EVERY_S = 5.0


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
    session = LiveSession(settings.capture, source, pipeline, sender, frames)
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
