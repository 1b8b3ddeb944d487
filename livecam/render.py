"""Offline rendering: a video file through the same pipeline as the live camera, frame for frame.

Nothing the user did not ask for is written: an effect that cannot be applied stops the render
before the first frame, and the output is written by the one writer (:mod:`livecam.recording`,
H.264, 0600) beside the target and given its name only when complete, never replacing a file
without ``--overwrite``, never an input, never through a symbolic link. SIGTERM or Ctrl+C stops
within 2 s and removes the unfinished file. The input is read by :class:`livecam.capture.VideoReader`
(any file name the OS allows) and the output has the same size, rate and frame count.
"""
from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from livecam.analysis import run_guard
from livecam.capture import CaptureError, VideoReader
from livecam.media import RECORDING_SUFFIXES
from livecam.messages import shown
from livecam.oneshot import STOP_ASKED
from livecam.output_file import input_files
from livecam.pipeline import Pipeline
from livecam.recording import (
    OutputError,
    OutputFailed,
    VideoWriter,
    _frames,
    end_recordings_now,
)
from livecam.settings import Settings
from livecam.stop_signals import catch_stop_signals

log = logging.getLogger(__name__)

STOP_WITHIN_S = 2.0  # after SIGTERM/SIGINT the process is gone within this


def _error(sentence: str) -> int:
    print(f"livecam: {sentence}", file=sys.stderr)
    return 1


def _same_file(a: tuple[int, int], path: Path) -> bool:
    return _identity(path) == a


def render_file(src: str, dst: str, settings: Settings, progress: bool = True) -> int:
    """Write ``dst`` with the input's size, fps and frame count. Returns a process exit code."""
    with run_guard.patience():  # a model run that takes seconds on a huge frame is slow, not hung
        return _render(src, dst, settings, progress)


def _render(src: str, dst: str, settings: Settings, progress: bool) -> int:
    target = Path(dst)
    if dst.endswith(tuple(sep for sep in (os.sep, os.altsep) if sep)):
        # Path() drops the slash: "o.mp4/" (a folder the user named) was written as the file o.mp4.
        return _error(f"{shown(dst)} ends in {dst[-1]}, so it names a folder, not a video file; give the file's "
                      f"name without the {dst[-1]} at the end.")
    if target.suffix.lower() not in RECORDING_SUFFIXES:
        return _error(f"{shown(dst)} is not a video file name; end it in {' or '.join(RECORDING_SUFFIXES)}.")
    try:
        reader = VideoReader(src)
    except CaptureError as exc:
        return _error(str(exc).replace("; pass a camera index like 0 or a video/image path.", "."))
    if _same_file(reader.identity, target):
        reader.close()
        return _error(f"{shown(dst)} is the input video itself, and the input and output must be different files; "
                      "choose another output name.")
    pipeline = Pipeline(settings, offline=not settings.output.like_live)
    frames = iter(reader)
    writer: VideoWriter | None = None
    stop = threading.Event()
    n, complete = 0, False
    signals = _Signals(stop)
    try:
        problems = pipeline.unbuildable()
        first = next(frames, None)
        if first is not None and not problems:
            # Models open on the first frame: a missing or broken one shows up here, before anything is written.
            first_out = pipeline.process(first)
            problems = list(pipeline.analyzer.broken.values())
        if problems or first is None:
            if problems:
                return _error(f"{problems[0]} Nothing was written.")
            if reader.failure:
                return _error(f"{shown(src)} could not be decoded ({reader.failure}); nothing was written.")
            return _error(f"{shown(src)} has no frames to render.")
        h, w = first_out.shape[:2]
        try:
            writer = VideoWriter(target, w, h, reader.fps, overwrite=settings.output.overwrite,
                                 inputs=[src, *input_files(settings)], timing="frames", publish="end")
        except OutputError as exc:
            return _error(str(exc))
        total, t0 = reader.frame_count, time.monotonic()
        folder = _Folder(target.parent)
        try:
            writer.write(first_out)
            n = 1
            for frame in frames:
                if stop.is_set():
                    break
                fault = folder.fault(n)
                if fault:
                    raise OutputFailed(fault)
                writer.write(pipeline.process(frame))
                n += 1
                if progress and (n % 5 == 0 or n == total):
                    _progress(n, total, time.monotonic() - t0)
        except OutputFailed as exc:
            fault = folder.fault(n) if writer.lost else None
            if fault:  # the writer saw its file go with the folder: the folder's sentence says what happened
                exc = OutputFailed(fault)
            own_sentence = writer.error is not None and str(exc) == writer.error
            _discard(writer)
            if progress and n >= 5:
                print(file=sys.stderr)  # the progress line ends before the sentence, not glued to it
            # The writer's own sentence says what became of the file; others (a fault outside it) do not.
            return _error(str(exc) if own_sentence else f"{exc} Nothing was written to {shown(dst)}.")
        complete = not stop.is_set()
        if complete:
            # Still under the stop signals: ffmpeg may take up to CLOSE_TIMEOUT_S to finish the file, and
            # a SIGTERM or Ctrl+C meanwhile ended LiveCam by KeyboardInterrupt, exit 130 and no sentence,
            # leaving the hidden .livecam-part file and a running ffmpeg behind.
            writer.close()
    finally:
        signals.restore()
        reader.close()
        pipeline.close()
        if writer is not None and not complete:
            _discard(writer)  # an interrupted render leaves nothing behind
    if progress:
        print(file=sys.stderr)
    if not complete:
        return _error(f"Stopped after {_frames(n)}; nothing was written to {shown(dst)}.")
    if writer.error:
        return _error(writer.error)
    if writer.note:
        return _error(writer.note)
    if reader.failure:
        # The decoder raised mid-clip (a damaged stream): the file is right, a claim of the whole clip is not.
        return _error(f"Decoding {shown(src)} failed after {n} frames ({reader.failure}); {shown(dst)} has those "
                      f"{n} frames.")
    short = reader.missing_frames(n)
    if short:
        # A clip cut short mid-stream (a copy that did not finish) decodes until the cut and then
        # ends as if complete: the file is right, the claim that the clip was rendered is not.
        return _error(f"{shown(src)} ended after {n} of its {reader.frame_count} frames (it is cut short or damaged); "
                      f"{shown(dst)} has those {n} frames.")
    if pipeline.concealed:
        failed = ", ".join(sorted(pipeline.failure_counts())) or "an effect"
        return _error(f"{pipeline.concealed} of {n} frames in {shown(dst)} are hidden behind a blur because {failed} "
                      "failed on them (the log says why).")
    print(f"livecam: wrote {n} frames ({w}x{h}, H.264) to {shown(dst)}; models: {pipeline.analyzer.profile}.",
          file=sys.stderr)
    return 0


class _Folder:
    """The output's folder, looked at before each frame: the writer holds its file open, so every write
    still succeeded after the folder was deleted or made read-only, and a render processed the whole
    clip (1647 frames) before saying its file was lost."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._identity = _identity(path)
        # Where access() says no from the start (an ACL or a network mount it misreads) while the file
        # was made there, only the folder's own change counts.
        self._writable = os.access(path, os.W_OK)

    def fault(self, n: int) -> str | None:
        """The sentence that stops the render after ``n`` frames, or None while the folder is usable."""
        if self._identity is None or _identity(self.path) != self._identity:
            return (f"The folder {shown(self.path)} was moved or deleted while LiveCam was rendering into it, so "
                    f"the render stopped after {n} frames.")
        if self._writable and not os.access(self.path, os.W_OK):
            return (f"LiveCam may no longer write in the folder {shown(self.path)} (it was made read-only while "
                    f"LiveCam was rendering into it), so the render stopped after {n} frames.")
        return None


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return (st.st_dev, st.st_ino)


def _discard(writer: VideoWriter) -> None:
    """Remove the unfinished file; in a folder made read-only it cannot be, and the sentence already
    said why the render stopped: a traceback there would be all the user saw."""
    try:
        writer.discard()
    except OSError as exc:
        log.warning("The unfinished render beside %s could not be removed (%s).", shown(writer.path), exc)


class _Signals:
    """SIGTERM/SIGINT/SIGHUP stop the render after the frame in hand; if that frame takes too long (a
    stuck model), the unfinished file is removed and the process ends at STOP_WITHIN_S."""

    def __init__(self, stop: threading.Event) -> None:
        self._stop = stop
        self._previous: dict[int, Any] = {}
        self._timers: list[threading.Timer] = []
        self._previous = catch_stop_signals(self._request)

    def _hard_exit(self) -> None:
        end_recordings_now()  # the writer too while it is still being opened (not known here yet)
        print("\nlivecam: Stopped; nothing was written.", file=sys.stderr, flush=True)
        os._exit(1)

    def _request(self, *_: Any) -> None:
        if self._stop.is_set():
            self._hard_exit()  # a second Ctrl+C: no more waiting
        self._stop.set()
        timer = threading.Timer(STOP_WITHIN_S - 0.1, self._hard_exit)
        timer.daemon = True
        timer.start()
        self._timers.append(timer)

    def restore(self) -> None:
        for timer in self._timers:
            timer.cancel()  # stopped in time
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        STOP_ASKED.clear()  # the stop was this render's (a process that goes on opens its outputs afresh)


def _progress(n: int, total: int, elapsed: float) -> None:
    fps = n / elapsed if elapsed > 0 else 0.0
    if total:
        filled = int(30 * min(n, total) / total)
        bar = "#" * filled + "-" * (30 - filled)
        print(f"\r[{bar}] {n}/{total} frames  {fps:5.1f} fps", end="", file=sys.stderr, flush=True)
    else:
        print(f"\r{n} frames  {fps:5.1f} fps", end="", file=sys.stderr, flush=True)
