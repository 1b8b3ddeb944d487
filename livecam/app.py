"""The live loop for the command line: open the source and the output, run until Ctrl+C or N frames,
and say in plain words what is happening (provider, fps, fallbacks, a lost virtual camera).

While no app has the LiveCam camera open (Linux, see :mod:`livecam.idle`), the webcam is released
and processing stops; the virtual camera itself stays open so apps keep listing it. The first app
that opens it brings both back. ``output.always_on`` keeps everything running instead.
"""
from __future__ import annotations

import logging
import os
import sys
import threading
import time
from typing import Any

from livecam.live_session import PAUSED_CARD, RESUME_RETRY_S, LiveSession  # noqa: F401 (PAUSED_CARD for tests)
from livecam.messages import NO_THREAD, no_thread
from livecam.pipeline import Pipeline
from livecam.recording import end_recordings_now
from livecam.settings import Settings
from livecam.stop_signals import catch_stop_signals

log = logging.getLogger("livecam")

STATS_EVERY_S = 5.0


def describe_stats(pipeline: Pipeline, sender, with_status: bool = True) -> str:
    stages = pipeline.stage_ms()
    st = sender.stats()
    if st.get("state") == "paused":
        return "idle: no app is using the LiveCam camera"
    parts = [f"{st.get('fps_out', 0):.1f} fps out"]
    if "total" in stages:
        parts.append(f"processing {stages['total']:.1f} ms" + (" (pipelined: the analysis runs beside it)"
                                                              if getattr(pipeline, "pipelined", False) else ""))
    if st.get("latency_ms_median") is not None:
        parts.append(f"latency {st['latency_ms_median']:.0f} ms")
    providers = sorted(set(pipeline.providers().values()))
    if providers:
        parts.append("on " + ", ".join(p.replace("ExecutionProvider", "") for p in providers))
    if with_status and st.get("status"):
        parts.append(st["status"])
    return "; ".join(parts)


def _flush_logs() -> None:
    """What os._exit would otherwise lose: the console and the log file's last lines."""
    for logger in (logging.getLogger(), log):
        for handler in logger.handlers:
            try:
                handler.flush()
            except Exception:  # noqa: BLE001 - exiting anyway
                pass
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass


STOP_WITHIN_S = 2.0  # after SIGTERM/SIGINT the process is gone within this, whatever is blocked


def run_live(settings: Settings, frames: int = 0) -> int:
    from livecam.capture import CaptureError, open_source
    from livecam.idle import watch_output
    from livecam.output import OutputError, PacedSender, open_output
    from livecam.output_file import input_files

    stop = threading.Event()
    stopped_at: list[float] = []
    watchdogs: list[threading.Timer] = []
    output = session = None  # a stop signal may come before either is opened

    def hard_exit(why: str = f"Stopping took longer than {STOP_WITHIN_S:g} s") -> None:
        # The orderly stop overran (something is stuck in a driver or a model) or a second signal asked
        # not to wait: the recording's encoder is killed (its file keeps its whole fragments) and the
        # process ends now.
        if output is not None:
            output.abort()
        # The recording too while it is still being opened (output is None then): it has its name from the start.
        end_recordings_now()
        writer = getattr(output, "writer", None)
        if writer is None:
            said = ""
        elif writer.removed:
            said = ", and the recording, not one whole second long yet, is removed"
        else:
            said = ", and the recording keeps what it had up to its last whole second"
        log.warning("%s; LiveCam exits now%s.", why, said)
        _flush_logs()
        os._exit(1)

    def request_stop(*_: Any) -> None:
        if stop.is_set():
            hard_exit("A second stop signal came")  # a second Ctrl+C: no more waiting
        stop.set()
        stopped_at.append(time.monotonic())
        watchdog = threading.Timer(STOP_WITHIN_S - 0.1, hard_exit)
        watchdog.daemon = True
        watchdog.start()
        watchdogs.append(watchdog)
        if session is not None:
            session.wake.set()

    # Caught before anything is opened, SIGINT too (not KeyboardInterrupt: it could land mid-cleanup). Caught
    # only once the loop ran, a stop while the models loaded or ffmpeg started raised KeyboardInterrupt out of
    # here with the camera's thread and the encoder running: the recording left as an empty file under its
    # name, and at times the interpreter's end aborted under the camera's decoder ("FATAL: exception not
    # rethrown", SIGABRT). A stop during the start now ends the way one in the loop does.
    catch_stop_signals(request_stop)
    try:
        source = open_source(settings.capture)
    except CaptureError as exc:
        print(f"livecam: {exc}", file=sys.stderr)
        return 1
    pipeline = sender = None
    try:
        source.start()
        log.info("Source: %s", source.description)
        width, height = source.size
        pipeline = Pipeline(settings)
        for problem in pipeline.problems():
            log.error(problem)
        if stop.is_set():
            # Stopped while the models loaded: no recording or virtual camera is opened for a run that
            # will not happen (the 2 s watchdog could end the process with it half made).
            source.close(timeout=0.2)
            pipeline.close()
            log.info("Stopped before the first frame.")
            _flush_logs()
            os._exit(0)  # as a stop in the loop ends
        output = open_output(settings.output, width, height, inputs=input_files(settings))
        log.info("Output: %s", output.description)
        sender = PacedSender(output, settings.output.fps).start()
        session = LiveSession(settings.capture, source, pipeline, sender, frames)
        watch = watch_output(output, settings.output.always_on, session.viewers_changed)
    except Exception as exc:  # noqa: BLE001 - re-raised below unless said: the camera's thread is stopped first
        # Raised past the open camera (a bug's traceback), the interpreter's end also aborted under its
        # thread ("terminate called without an active exception", exit 134).
        said = isinstance(exc, OutputError) or (isinstance(exc, RuntimeError) and no_thread(exc))
        # The user's stop cut the output's open short (the virtual camera's driver had not answered yet): a
        # stop, not a failure, so it ends as a stop in the loop does (exit 0; it was 1).
        stopped = isinstance(exc, OutputError) and stop.is_set()
        if stopped:
            log.info("%s", exc)
        elif isinstance(exc, OutputError):
            print(f"livecam: {exc}", file=sys.stderr)
        elif said:
            # The process or the system at its limit of threads. It was a traceback, the recording left as
            # an empty file under its name, and at times an abort at the interpreter's end (the camera's
            # thread still decoding).
            print(f"livecam: {NO_THREAD}", file=sys.stderr)
        (session or source).close()
        if sender is not None:
            sender.stop()
        if output is not None:
            output.close()  # a recording that holds no frame is removed
        if pipeline is not None:
            pipeline.close()
        if not said:
            raise
        if stopped:
            _flush_logs()
            os._exit(0)  # as a stop in the loop ends (the 2 s promise: no interpreter teardown)
        return 1

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
            if pump is not None and not stop.is_set() and not pump():
                # The preview window was closed: the user's Quit, as Ctrl+C (it waited for a frame stuck
                # in a model for the session's whole 5 s, the process still there).
                request_stop()
            if stop.is_set() or sender.failed.is_set():
                break
            session.follow_viewers()
            if not frames and not session.idle and time.monotonic() - last_stats >= STATS_EVERY_S:
                last_stats = time.monotonic()
                log.info(describe_stats(pipeline, sender))
    except KeyboardInterrupt:
        pass
    finally:
        # After a signal every step gets a share of what is left of STOP_WITHIN_S; the recording
        # comes first among the slow ones (it keeps its last whole fragment if time runs out).
        def left(share: float, normal: float) -> float:
            if not stopped_at:
                return normal
            return max(0.05, share * (stopped_at[0] + STOP_WITHIN_S - 0.3 - time.monotonic()))

        if watch is not None:
            watch.close()
        session.close(timeout=left(0.2, 5.0))
        sender.stop(timeout=left(0.3, 5.0))  # sends what is pending
        close_recording = getattr(output, "writer", None)
        if close_recording is not None:
            output.close(timeout=left(1.0, 30.0))  # finished here: it can still fail (disk full on the last fragment)
        else:
            output.close()
        pipeline.close()
        for watchdog in watchdogs:
            watchdog.cancel()  # stopped in time
    stats = sender.stats()
    log.info("Stopped after %d frame%s (%s).", session.processed, "" if session.processed == 1 else "s", describe_stats(pipeline, sender, with_status=False))
    summary = getattr(output, "summary", None)
    said = summary(missed=stats["left_out"], made=session.processed) if summary is not None else None
    if said:
        log.info(said)
    problem = session.error or (sender.status if sender.failed.is_set() else None) or getattr(output, "error", None)
    if problem:
        print(f"livecam: {problem}", file=sys.stderr)
    code = 1 if problem else 0
    if stopped_at:
        # Asked to end: everything is closed and the file finished; the interpreter's own teardown
        # (models, threads, modules) can take seconds on a busy machine, and the 2 s promise wins.
        _flush_logs()
        os._exit(code)
    return code
