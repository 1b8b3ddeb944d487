"""Frame sources: a camera, a looping video file or a still image, each on its own thread.

Every source keeps only its newest frame. ``latest(after)`` hands out the newest frame newer than
``after`` (or, after a timeout, whatever is newest), so a slow consumer skips frames instead of
falling behind: latency cannot grow. Each frame keeps its capture time (``time.monotonic()``).

A camera that is missing, busy or unplugged never raises into the pipeline: the source shows a
"camera disconnected - retrying" card at the camera's frame rate (real time, so ``--frames N``
takes N / fps seconds and the fps reported is true; cards are not processed, so they cost little)
and reopens the camera with exponential back-off, waiting on an Event so it neither spins a core
nor delays ``close()``. A video file that
is deleted, emptied, cut short or replaced while it plays is treated the same way: a "video file
missing - retrying" card at the file's own frame rate (so ``--frames N`` keeps counting and ends)
and a reopen with back-off, playing again as soon as a readable file is back at that path. A source
thread that fails in any other way shows a card and restarts with back-off; its traceback goes to
the log file only.
"""

from __future__ import annotations

import collections
import logging
import os
import stat
import statistics
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from livecam.imaging import as_bgr8, cover_fit
from livecam.media import IMAGE_SUFFIXES, MAX_VIDEO_PIXELS, MISSING, NOT_REGULAR, VIDEO_SUFFIXES, ImageError
from livecam.media import media_kind, why_not_a_file
from livecam.media import read_image as read_bounded_image
from livecam.messages import NO_FILES_FIX, OUT_OF_FILES, shown
from livecam.not_running import not_running_for, resumed_at
from livecam.resources import demo_clip_path
from livecam.settings import CaptureSettings
from livecam.types import Frame

# FFmpeg prints its own line ("moov atom not found") for every file it cannot open, once per retry
# while a clip is missing; LiveCam says it once in words. Set before OpenCV's FFmpeg backend starts
# (it reads this on the first VideoCapture); export OPENCV_FFMPEG_LOGLEVEL=16 to see them again.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
# OpenCV's own warnings ("[ WARN:0@0.05] global cap.cpp:212 open VIDEOIO(FFMPEG): backend is generally
# available but can't be used to capture by name" for an empty or cut-short clip, "can't open camera
# by index") reached the terminal beside LiveCam's sentence; errors still do. OPENCV_LOG_LEVEL wins.
if "OPENCV_LOG_LEVEL" not in os.environ:
    try:
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    except AttributeError:  # a build without the logging module
        pass

log = logging.getLogger(__name__)
trace = logging.getLogger("livecam.trace")  # tracebacks: the log file keeps them, the console does not

CAMERA_PROBE_S = 3.0  # "auto" passes over a camera that gives no first frame in this long (a cold UVC start is ~1 s)

PLACEHOLDER_TEXT = "camera disconnected - retrying"  # Hershey fonts are ASCII-only: a hyphen, not a dash
FILE_PLACEHOLDER_TEXT = "video file missing - retrying"
FAILED_PLACEHOLDER_TEXT = "video source failed - retrying"
STUCK_PLACEHOLDER_TEXT = "video source not responding"
STUCK_S = 2.0  # a source whose thread lives but has sent nothing for this long is stuck in a driver call
STUCK_GAPS = 3  # ... or for this many of its own usual gaps between frames (a camera slower than it says)
FAST_READS = 8  # reads whose median gap shows a camera far faster than asked (not one burst)
BACKOFF_START = 0.5
BACKOFF_MAX = 8.0
# Reads whose buffers are watched for reuse; the first this many are copied meanwhile (a reuse shows only at
# the read that overwrites): a reader's ring of more buffers than this goes unnoticed.
OWN_READS = 8
READ_FAILURES_BEFORE_RECONNECT = 5  # a single dropped read is normal on USB; five in a row is not


class CaptureError(RuntimeError):
    """A source cannot be opened at all (missing or unreadable file); the message says what to do."""


class FrameClock:
    """Ticks at a fixed rate on the monotonic clock, waiting on ``stop`` so a close is never delayed.

    When the caller falls behind by more than one period the clock restarts from now instead of
    bursting to catch up: a late frame is simply late, the next ones are not crammed together.
    """

    def __init__(self, fps: float, stop: threading.Event) -> None:
        self.period = 1.0 / fps
        self._stop = stop
        self._next = time.monotonic()

    def wait(self) -> bool:
        """Wait for the next tick; False once ``stop`` is set."""
        self._next += self.period
        delay = self._next - time.monotonic()
        if delay < -self.period or delay > self.period:
            # Behind by more than a period: restart from now. Ahead by more than one can only be a
            # clock that went backwards (a monotonic clock that is not): waiting it out froze the
            # source, or the sender, for as long as the clock had jumped.
            self._next = time.monotonic()
            delay = 0.0 if delay < 0 else self.period
        if delay > 0:
            return not self._stop.wait(delay)
        return not self._stop.is_set()


def placeholder_image(width: int, height: int, text: str = PLACEHOLDER_TEXT) -> np.ndarray:
    """A dark card with ``text`` centred in light grey."""
    image = np.full((height, width, 3), 32, np.uint8)
    font = cv2.FONT_HERSHEY_SIMPLEX
    (tw, th), _ = cv2.getTextSize(text, font, 1.0, 2)
    scale = max(0.3, min(2.0, 0.8 * width / tw))
    thickness = max(1, round(2 * scale))
    (tw, th), _ = cv2.getTextSize(text, font, scale, thickness)
    origin = ((width - tw) // 2, (height + th) // 2)
    cv2.putText(image, text, origin, font, scale, (220, 220, 220), thickness, cv2.LINE_AA)
    return image


class FrameSource:
    """Base of all sources: a worker thread publishes frames, ``latest()`` hands out the newest.

    Subclasses implement ``_run()`` (the thread body; it must return once ``self._stop`` is set)
    and call ``_publish(image)``. Use as a context manager, or call ``start()`` and ``close()``.
    """

    # What the user sees while the source is down, as its sentences say it; a background video's
    # viewer sees the background's last picture, not the card.
    stand_in = "LiveCam shows a placeholder"

    def __init__(self, width: int, height: int, fps: float, description: str) -> None:
        self._size = (int(width), int(height))
        self._fps = float(fps)
        self._description = description
        self._error: str | None = None
        self._cond = threading.Condition()
        self._frame: Frame | None = None
        self._count = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._stuck_said = False
        self._running_since = 0.0  # monotonic time the process last resumed after it did not run
        self._copy_reads = False  # the reader reuses its buffers (see _own)
        self._read_buffers: collections.deque[weakref.ref] = collections.deque(maxlen=OWN_READS)
        self._reads_owned = 0
        self._last_read: float | None = None  # monotonic time of the last real frame the thread published
        self._gaps: collections.deque[float] = collections.deque(maxlen=8)  # the times between them

    # -- public API

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of every frame this source delivers."""
        return self._size

    @property
    def fps(self) -> float:
        return self._fps

    @property
    def description(self) -> str:
        return self._description

    @property
    def error(self) -> str | None:
        """The last plain-language problem (e.g. camera unplugged), or None while all is well."""
        return self._error

    def start(self) -> FrameSource:
        if self._thread is None:
            thread = threading.Thread(target=self._guarded_run, name=f"livecam-capture: {self._description}", daemon=True)
            thread.start()  # kept once it runs: close() joined a thread that never started, and raised
            self._thread = thread
        return self

    def latest(self, after: int = -1, timeout: float = 1.0) -> Frame:
        """The newest frame with ``index > after``, waiting up to ``timeout`` s for one.

        If nothing newer arrives in time the newest frame is returned anyway (possibly a
        placeholder); if the source has produced nothing at all yet, a placeholder is made.
        Never queues: frames the caller was too slow for are skipped.
        """
        asked = time.monotonic()
        with self._cond:
            self._cond.wait_for(
                lambda: (self._frame is not None and self._frame.index > after) or self._stop.is_set(), timeout
            )
            frame = self._frame
        now = time.monotonic()
        if not_running_for(asked, timeout, now):
            # Stopped and continued: the source's thread resumes with this one, so it gets its own
            # STUCK_S from now. Judged by the frame's age alone, every Ctrl+Z and fg said the camera
            # "stopped responding" and sent a placeholder card.
            self._running_since = now
        if frame is None:
            return self._publish(placeholder_image(*self._size, "waiting for video"), placeholder=True)
        if frame.index > after or not self._stuck(frame):
            return frame
        # A camera read that never returns (a USB device gone mid-transfer, a hung driver) sends
        # nothing and raises nothing: without this the picture froze, then "catching up" for good.
        self._stuck_said = True
        self._report(f"{self._description} stopped responding; {self.stand_in} until it sends frames again.")
        return self._publish(placeholder_image(*self._size, STUCK_PLACEHOLDER_TEXT), placeholder=True)

    def _stuck(self, frame: Frame) -> bool:
        thread = self._thread
        return (thread is not None and thread.is_alive() and not self._stop.is_set()
                and time.monotonic() - max(frame.t, self._running_since, resumed_at()) > self._stuck_after())

    def _stuck_after(self) -> float:
        """Seconds without a frame that make the source stuck: STUCK_S, or STUCK_GAPS of the gaps it
        really keeps between frames. A camera that sends one frame every 5 s (a long exposure in the
        dark, a slow network camera) though it said 30 fps was called "not responding" between any two
        of its frames: the card, then its picture, two log lines every 5 s for as long as it ran."""
        usual = statistics.median_low(self._gaps) if self._gaps else 0.0  # one long stall does not count
        return max(STUCK_S, 3.0 / max(self._fps, 0.1), STUCK_GAPS * usual)

    def close(self, timeout: float = 5.0) -> None:
        """Stop the thread, waiting at most ``timeout`` s for it (a stuck driver call may never end)."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=timeout)
            if self._thread.is_alive():
                # Stuck in a driver call: releasing under it could crash; the daemon thread ends with us.
                log.warning("%s did not stop in time.", self._description)
                return
        self._release()

    def __enter__(self) -> FrameSource:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- for subclasses

    def _run(self) -> None:
        raise NotImplementedError

    def _release(self) -> None:
        """Free what the thread used; called after the thread has stopped."""

    def _own(self, image: np.ndarray) -> np.ndarray:
        """A picture just read, as one no later read can change. A reader that hands back the same
        buffer every time, overwritten by its next read (some capture backends and wrappers do),
        changed the frame under the pipeline while it worked on it: the mask of one picture was laid
        over the next. So was one that keeps a ring of buffers (read k+2 overwrites read k), which a
        look at the last frame alone missed, and the very first frame, whose reuse shows only at the
        read that overwrites it. The buffers of the last OWN_READS reads are watched (weakly: a fresh
        array per read, as cv2 gives, is freed as usual), the first OWN_READS reads are copied, and
        once a read shares memory with an earlier one every read is copied."""
        if not self._copy_reads:
            root = image
            while isinstance(root.base, np.ndarray):
                root = root.base
            if any((seen := ref()) is not None and np.may_share_memory(image, seen) for ref in self._read_buffers):
                self._copy_reads = True
                log.debug("%s reuses its buffers from read to read; LiveCam copies each frame.", self._description)
            else:
                self._read_buffers.append(weakref.ref(root))
                self._reads_owned += 1
                if self._reads_owned > OWN_READS:
                    return image
        return image.copy()

    def _publish(self, image: np.ndarray, placeholder: bool = False) -> Frame:
        read = not placeholder and threading.current_thread() is self._thread
        if self._stuck_said and read:
            self._stuck_said = False
            self._error = None
            log.info("%s is back.", self._description)
        now = time.monotonic()
        if read:
            if self._last_read is not None:
                self._gaps.append(now - self._last_read)
            self._last_read = now
        with self._cond:
            self._count += 1
            frame = Frame(image=image, index=self._count, t=now, placeholder=placeholder)
            self._frame = frame
            self._cond.notify_all()
        return frame

    def _placeholder_fps(self) -> float:
        """How often a placeholder card is published while the source is down: the source's own rate,
        so a consumer counting frames (``--frames N``) keeps counting in real time."""
        return self._fps

    def _report(self, sentence: str) -> None:
        """Say ``sentence`` once (not once per retry) and keep it as ``error``."""
        if self._error != sentence:
            log.warning("%s", sentence)
        self._error = sentence

    def _show_placeholder(self, card: np.ndarray, seconds: float) -> bool:
        """Publish copies of ``card`` at the placeholder rate for ``seconds``; False once closed."""
        deadline = time.monotonic() + seconds
        period = 1.0 / self._placeholder_fps()
        while not self._stop.is_set():
            self._publish(card.copy(), placeholder=True)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return True
            if self._stop.wait(min(remaining, period)):
                return False
        return False

    def _guarded_run(self) -> None:
        """Run ``_run``; if it fails unexpectedly, show a card and start it again with back-off.

        A source thread must never die and leave the pipeline waiting on a frame that never comes."""
        delay = BACKOFF_START
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self._run()
                return
            except Exception as exc:  # noqa: BLE001 - any failure: placeholder, retry, traceback to the log file
                reason = shown(str(exc) or type(exc).__name__, 100)
                self._report(
                    f"{self._description} stopped unexpectedly ({reason}); {self.stand_in} and keeps retrying."
                )
                trace.debug("%s failed", self._description, exc_info=exc)
            if time.monotonic() - started > 2 * BACKOFF_MAX:
                delay = BACKOFF_START  # it ran fine for a while: a fresh failure starts a fresh back-off
            if not self._show_placeholder(placeholder_image(*self._size, FAILED_PLACEHOLDER_TEXT), delay):
                return
            delay = min(delay * 2, BACKOFF_MAX)


def _open_cv_camera(device: int | str) -> Any:
    return cv2.VideoCapture(device)


class CameraSource(FrameSource):
    """A webcam by index (``0``) or device path (``/dev/video0``).

    Asks for MJPG (most USB cameras only reach 720p30 compressed), the requested size and fps, and
    a one-frame driver buffer. Frames of another size (the camera picked its nearest mode) are
    cover-fitted to the requested size so the rest of the pipeline sees one fixed size.
    ``opener`` builds the ``cv2.VideoCapture``-like object; tests pass a fake one.
    """

    def __init__(
        self,
        index_or_device: int | str,
        width: int = 1280,
        height: int = 720,
        fps: float = 30,
        opener: Callable[[int | str], Any] = _open_cv_camera,
    ) -> None:
        self.device = index_or_device
        name = f"Camera {index_or_device}"
        super().__init__(width, height, fps, name)
        self._opener = opener
        self._cap: Any = None
        self._placeholder = placeholder_image(width, height)
        self.open_attempts = 0  # how often the camera was (re)opened; tests read it
        self._brief = 0  # streams in a row that ended within BACKOFF_MAX of their first frame

    def _open(self) -> Any:
        self.open_attempts += 1
        cap = None
        try:
            cap = self._opener(self.device)
            opened = cap is not None and cap.isOpened()
        except Exception as exc:  # backends raise cv2.error or OSError for vanished devices
            log.debug("%s: open failed: %s", self.description, exc)
            opened = False
        if not opened:
            _release(cap)
            return None
        width, height = self._size
        # FOURCC first: V4L2 only offers the large sizes once MJPG is chosen.
        for prop, value in ((cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*"MJPG")), (cv2.CAP_PROP_FRAME_WIDTH, width),
                            (cv2.CAP_PROP_FRAME_HEIGHT, height), (cv2.CAP_PROP_FPS, self._fps),
                            (cv2.CAP_PROP_BUFFERSIZE, 1)):  # a deep driver queue would hand us old frames
            try:
                cap.set(prop, value)
            except Exception as exc:  # noqa: BLE001 - a mode the driver refuses by raising: it keeps its own
                # Raised, it closed nothing (the device stayed open until collected) and the camera was
                # called "stopped unexpectedly" and reopened, to refuse the same setting again, for good.
                log.debug("%s: setting %d refused: %s", self.description, prop, exc)
        return cap

    def _run(self) -> None:
        delay = BACKOFF_START
        while not self._stop.is_set():
            self._cap = self._open()
            self._reads_owned = 0  # a reopened camera (maybe another device) is watched for reused buffers afresh
            if self._cap is not None and self._stream():
                # It delivered frames, so the next outage starts afresh: even for a camera that keeps stopping soon
                # after (only its sentences are held back), as a longer wait would cost the seconds of video it gives.
                delay = BACKOFF_START
            if self._cap is not None:
                self._cap.release()
                self._cap = None
            if self._stop.is_set():
                return
            self._wait_with_placeholder(delay)
            delay = min(delay * 2, BACKOFF_MAX)

    def _stream(self) -> bool:
        """Read until the camera fails or the source closes; True if any frame came through."""
        got_any = False
        failures = 0
        kept = last = -float("inf")  # when the last read used, and the last read, were taken
        gaps: collections.deque[float] = collections.deque(maxlen=FAST_READS)  # between reads, skipped ones too
        width, height = self._size
        first = None  # when this stream's first frame came
        while not self._stop.is_set():
            try:
                ok, image = self._cap.read()
            except Exception as exc:  # noqa: BLE001 - cv2.error from a device going away: a failed read
                log.debug("%s: read failed: %s", self.description, exc)
                ok, image = False, None
            # A read that says ok but hands over no picture (an empty or flat buffer) is a failed read:
            # cover_fit raised on it, and the camera was closed and reopened for one bad buffer.
            if not ok or not isinstance(image, np.ndarray) or image.ndim not in (2, 3) or not image.size:
                failures += 1
                if failures >= READ_FAILURES_BEFORE_RECONNECT:
                    break
                continue
            failures = 0
            now = time.monotonic()
            gaps.append(now - last)
            last = now
            half = 0.5 / max(self._fps, 0.1)
            if now - kept < half and len(gaps) == FAST_READS and statistics.median(gaps) < half:
                # A camera far faster than the pace asked for (a driver handing back its last buffer at
                # once, a 1000 fps mode): each read was copied and scaled though a newer one replaced it
                # before anyone took it, and a 1080p camera kept one core of two busy (~90 %) on that
                # alone. Its frames are fresh, so the one kept is at most half an interval older than
                # the newest. Only when reads keep coming that fast: a burst from a camera at its pace
                # (queued buffers read back to back after the thread waited for a core) holds frames a
                # whole interval apart, and skipping there kept the oldest of them.
                continue
            kept = now
            image = self._own(image)
            if not got_any:
                got_any, first = True, now
            # Back at its first frame; a camera that stops again soon after each reconnect (a loose cable, a USB
            # port short of power) only once it has stayed BACKOFF_MAX: its outage was said and cleared at every
            # cycle, two lines a second for as long as it ran.
            if self._error is not None and (self._brief < 2 or now - first >= BACKOFF_MAX):
                if not self._stuck_said:  # after a stall, _publish says it (it was said twice)
                    log.info("%s is back.", self.description)
                self._error = None
            if image.ndim == 2:
                image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
            try:
                image = cover_fit(image, (width, height))
            except cv2.error:
                # Samples OpenCV cannot scale (32-bit or signed integers, half floats, booleans: a depth
                # camera's raw mode) go on as they came, like a raw frame of the requested size: the
                # pipeline sends the card for a picture it cannot read. Raised here, OpenCV's assertion
                # text was the sentence and the camera was closed and opened again, frame after frame.
                pass
            self._publish(image)
        if got_any and not self._stop.is_set():
            self._brief = self._brief + 1 if time.monotonic() - first < BACKOFF_MAX else 0
            self._report(
                f"{self.description} keeps stopping soon after it starts sending (a loose cable, or a USB port "
                "short of power?); LiveCam shows a placeholder and keeps retrying." if self._brief >= 2 else
                f"{self.description} stopped sending frames (unplugged?); "
                "LiveCam shows a placeholder and keeps retrying."
            )
        return got_any

    def _wait_with_placeholder(self, delay: float) -> None:
        if self._error is None:
            self._report(
                f"{self.description} is not available ({_why_not_available(self.device)}); "
                "LiveCam shows a placeholder and keeps retrying."
            )
        self._show_placeholder(self._placeholder, delay)

    def _release(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


def _release(cap: Any) -> None:
    if cap is None:
        return
    try:
        cap.release()
    except Exception as exc:  # noqa: BLE001 - a device that went away may fail to let go too
        log.debug("releasing a camera failed: %s", exc)


def _why_not_available(device: int | str) -> str:
    """Why a camera gives no frames, as far as LiveCam can tell: a number Linux does not list (sysfs,
    read at no cost) is no camera at all, and "unplugged" sent the user looking for a cable."""
    from livecam import devices

    if isinstance(device, int) and devices.is_linux() and device not in {c["index"] for c in devices.list_cameras()}:
        return f"there is no camera {device} now; livecam devices lists the cameras"
    return "unplugged or in use by another app"


class _FileGone(Exception):
    """The video file cannot be opened or decoded right now; the text says how, in a few words, and
    ``fix`` what to do where another file is not the answer."""

    def __init__(self, why: str, fix: str | None = None) -> None:
        super().__init__(why)
        self.fix = fix


AT_FILE_LIMIT = "cannot be opened now: LiveCam has as many files open as the system allows"
# Descriptors the video decoder takes to open a file (FFmpeg took 2 for an MP4 here; with 1 free it
# said only "not opened"), with room to spare: fewer free than this and the limit is why.
_DECODER_FILES = 4


def _out_of_files(exc: OSError) -> bool:
    return exc.errno in OUT_OF_FILES


def _at_file_limit(path: Path) -> bool:
    """Whether a failed open of ``path`` by the decoder was the process or the system out of file
    descriptors. OpenCV's failed open carries no errno (it said "damaged" under ``ulimit -n``), so this
    tries to hold a few descriptors of the file at once, as the decoder would."""
    fds: list[int] = []
    try:
        fds.append(os.open(path, os.O_RDONLY | os.O_CLOEXEC))
        while len(fds) < _DECODER_FILES:
            fds.append(os.dup(fds[0]))
    except OSError as exc:
        return _out_of_files(exc)
    finally:
        for fd in fds:
            os.close(fd)
    return False


class VideoFileSource(FrameSource):
    """A video file, looping by default, cover-fitted to the requested size (no bars, no stretch).

    ``realtime=True`` paces frames to the file's own fps, like a camera; ``realtime=False`` decodes
    as fast as it can (the consumer still only ever sees the newest frame). ``width``/``height`` of
    0 keep the file's own size. For offline rendering use :func:`iter_video_frames` instead.

    A file that is missing or unreadable when the source is made is an error (CaptureError); one
    that goes away later (deleted, emptied, cut short, replaced by something unreadable) is an
    outage like an unplugged camera: placeholder cards at the file's frame rate, a reopen with
    back-off, and playback from the start of whatever readable video is back at that path.
    """

    def __init__(
        self,
        path: str | Path,
        width: int = 0,
        height: int = 0,
        fps: float = 0,
        loop: bool = True,
        realtime: bool = True,
    ) -> None:
        self.path = Path(path)
        try:
            self._cap, first = _open_video_with_frame(self.path)
        except _FileGone as exc:
            fix = exc.fix or "pass another video or a camera index"
            raise CaptureError(f"Video file {shown(self.path)} {exc}; {fix}.") from None
        file_fps = _prop(self._cap, cv2.CAP_PROP_FPS)
        h, w = first.shape[:2]
        width, height = (width or w, height or h)
        rate = file_fps if 1 <= file_fps <= 240 else (fps or 30)
        super().__init__(width, height, rate, f"video {shown(self.path.name, 60)}")
        self.loop = loop
        self.realtime = realtime
        self.finished = False  # True once a non-looping file has played to its end
        self.reopen_attempts = 0  # reopens after the file went away; tests read it
        self._first: np.ndarray | None = first

    def _run(self) -> None:
        clock = FrameClock(self._fps, self._stop)
        width, height = self._size
        image, self._first = self._first, None
        while not self._stop.is_set():
            if image is None:
                try:
                    image = self._next_image()
                except _FileGone as exc:
                    image = self._wait_for_file(str(exc))
                if image is None:
                    return  # closed, or a non-looping file played to its end
            self._publish(cover_fit(image, (width, height)))
            image = None
            if self.realtime and not clock.wait():
                return

    def _next_image(self) -> np.ndarray | None:
        """The next frame, rewinding at the end when looping; None at the end of a non-looping file."""
        if self._cap is not None:
            ok, image = _read(self._cap)
            if ok:
                return self._own(image)
        if not self.loop:
            self.finished = True
            return None
        # The end, or a read that failed (the file was cut short or replaced): seeking to 0 is
        # unreliable for some containers and useless for a replaced file; reopening always works.
        self._close_capture()
        self._cap, image = _open_video_with_frame(self.path)
        return image

    def _wait_for_file(self, reason: str) -> np.ndarray | None:
        """Placeholder cards at the frame rate while reopening with back-off; the first frame of the
        file once it is back, or None once the source is closed."""
        self._close_capture()
        self._report(
            f"Video file {shown(self.path)} {reason}; {self.stand_in} and keeps checking for it."
        )
        card = placeholder_image(*self._size, FILE_PLACEHOLDER_TEXT)
        delay = BACKOFF_START
        while self._show_placeholder(card, delay):
            self.reopen_attempts += 1
            try:
                self._cap, image = _open_video_with_frame(self.path)
            except _FileGone:
                delay = min(delay * 2, BACKOFF_MAX)
                continue
            log.info("Video file %s is back.", shown(self.path))
            self._error = None
            return image
        return None

    def _close_capture(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None

    def _release(self) -> None:
        self._close_capture()


class ImageSource(FrameSource):
    """A still image repeated at ``fps``, each copy a new frame with a fresh index and time."""

    def __init__(self, path: str | Path, width: int = 0, height: int = 0, fps: float = 30) -> None:
        self.path = Path(path)
        cover = (width, height) if width and height else None
        try:
            # Decoded bounded: a 20000x20000 picture is refused, a large JPEG decoded near the size used.
            image = read_bounded_image(self.path, cover=cover)
        except ImageError as exc:
            raise CaptureError(str(exc)) from None
        h, w = image.shape[:2]
        width, height = (width or w, height or h)
        super().__init__(width, height, fps, f"image {shown(self.path.name, 60)}")
        self._image = cover_fit(image, (width, height))

    def _run(self) -> None:
        clock = FrameClock(self._fps, self._stop)
        while True:
            # A copy each time: effects may draw into the frame they get.
            self._publish(self._image.copy())
            if not clock.wait():
                return


# ---------------------------------------------------------------- helpers


def _missing(path: Path) -> CaptureError:
    return CaptureError(
        f"Video file {shown(path)} does not exist; pass a camera index like 0 or a video/image path."
    )


class _UnusableName(Exception):
    """The file's name cannot be handed to the video decoder on this system."""


class _NotRegular(Exception):
    """What was opened is no regular file: a FIFO, a folder or a device put there since it was checked."""


class _TooLarge(Exception):
    """The video's frames are over MAX_VIDEO_PIXELS; the text says so in a few words, ``fix`` what to do."""

    fix = "save a smaller copy (1920x1080 is plenty) and use that"


def _refuse_too_large(cap: Any) -> None:
    """_TooLarge (the decoder released) when the container says its frames are over MAX_VIDEO_PIXELS,
    before any is decoded. A 4 MB MJPEG of 12000x12000 frames as the background took ``livecam run``
    from 0.32 GB (the same at 1280x720) to 2.6 GB resident; at MJPEG's 65535x65535 a frame is 13 GB,
    more than most machines have: the out-of-memory killer or a machine swapping, mid-call."""
    w, h = int(_prop(cap, cv2.CAP_PROP_FRAME_WIDTH)), int(_prop(cap, cv2.CAP_PROP_FRAME_HEIGHT))
    if w * h > MAX_VIDEO_PIXELS:
        cap.release()
        raise _TooLarge(f"has frames of {w}x{h} pixels ({w * h / 1e6:.0f} megapixels), over LiveCam's "
                        f"{MAX_VIDEO_PIXELS / 1e6:.0f} megapixel limit for video (8K)")


def _video_capture(path: Path) -> tuple[Any, tuple[int, int]]:
    """``cv2.VideoCapture`` on ``path`` through FFmpeg, and the (device, inode) of what it opened.

    On Linux the decoder gets ``/proc/self/fd/N`` of a descriptor LiveCam opened itself, so no name
    is ever parsed by OpenCV or FFmpeg: a name that is not UTF-8 (which crashes OpenCV), holds
    ``%d`` (an image sequence to OpenCV) or starts with a dash opens like any other, and the file
    decoded is the one identified (renaming it meanwhile changes nothing).
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    proc_fd = Path("/proc/self/fd")
    if proc_fd.is_dir():
        fd = os.open(path, flags)
        try:
            st = os.fstat(fd)
            # The callers' check of the name came before this open: a file swapped for a FIFO in
            # between had FFmpeg's own blocking open of it wait for a writer for ever.
            if not stat.S_ISREG(st.st_mode):
                raise _NotRegular
            cap = cv2.VideoCapture(f"/proc/self/fd/{fd}", cv2.CAP_FFMPEG)  # FFmpeg opens its own description
        finally:
            os.close(fd)
        _refuse_too_large(cap)
        return cap, (st.st_dev, st.st_ino)
    name = str(path)
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise _UnusableName from None
    st = os.stat(path)
    cap = cv2.VideoCapture(name, cv2.CAP_FFMPEG)
    _refuse_too_large(cap)
    return cap, (st.st_dev, st.st_ino)


def _read(cap: Any) -> tuple[bool, np.ndarray | None]:
    """``cap.read()`` as (True, a BGR uint8 picture) or (False, None): a decoder that raises (cv2.error
    from a damaged stream, no memory) or hands over what is no picture (None, an empty array, two
    channels, int32 samples) gave no frame, and grey, BGRA, 16-bit or float samples are made BGR uint8
    (:func:`livecam.imaging.as_bgr8`). Raised, a decoder's error escaped VideoFileSource: at the first
    frame a traceback instead of a sentence; mid-clip the source restarted on the same broken decoder
    forever (the "stopped unexpectedly" card for good). Handed out as they came, such pictures reached
    the background's blend and the pipeline, and an empty one stopped the source on a division by zero."""
    try:
        ok, image = cap.read()
    except Exception as exc:  # noqa: BLE001 - any decoder failure is a read that gave no frame
        trace.debug("decoding a video frame failed", exc_info=exc)
        return False, None
    image = as_bgr8(image) if ok else None
    return image is not None, image


def _prop(cap: Any, prop: int) -> float:
    """``cap.get(prop)``, 0 (what OpenCV says for a property it does not know) where the backend raises."""
    try:
        return float(cap.get(prop) or 0.0)
    except Exception as exc:  # noqa: BLE001 - a container the backend cannot describe: its defaults apply
        trace.debug("reading a video property failed", exc_info=exc)
        return 0.0


def _opened(cap: Any) -> bool:
    """``cap.isOpened()``, False where the backend raises (it could not take the file)."""
    try:
        return bool(cap.isOpened())
    except Exception as exc:  # noqa: BLE001 - raised out of the source's start it was a traceback
        trace.debug("opening a video failed", exc_info=exc)
        return False


def _open_video_with_frame(path: Path) -> tuple[Any, np.ndarray]:
    """Open ``path`` and decode its first frame; _FileGone says in a few words why that failed."""
    why = why_not_a_file(path)
    if why is not None:  # also keeps a FIFO, where opening would block, away from FFmpeg
        raise _FileGone(why)
    try:
        cap, _ = _video_capture(path)
    except _UnusableName:
        raise _FileGone("has a name that is not valid UTF-8, which the video decoder cannot open; rename it") from None
    except _NotRegular:
        raise _FileGone(NOT_REGULAR) from None
    except _TooLarge as exc:
        raise _FileGone(str(exc), exc.fix) from None
    except OSError as exc:
        if _out_of_files(exc):
            raise _FileGone(AT_FILE_LIMIT, NO_FILES_FIX) from None
        raise _FileGone(f"cannot be read ({exc.strerror})") from None
    try:
        if not _opened(cap):
            if _at_file_limit(path):
                raise _FileGone(AT_FILE_LIMIT, NO_FILES_FIX)
            raise _FileGone("cannot be opened (damaged, emptied or an unsupported format)")
        ok, first = _read(cap)
        if not ok:
            raise _FileGone("has no readable frames")
    except BaseException:
        cap.release()
        raise
    return cap, first


class VideoReader:
    """Every frame of a video file once, in order, as BGR: the reader of ``render``, benchmarks and
    tests, where no frame may be skipped. ``fps``, ``frame_count`` (0 when the file does not say),
    ``size`` and ``identity`` ((device, inode) of the file read, to refuse writing onto it) are
    known once it is open; iterate it for the frames. Any name the OS allows opens (see
    :func:`_video_capture`); a file that cannot be read is a CaptureError with one sentence.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        why = why_not_a_file(self.path)
        if why is not None:
            raise _missing(self.path) if why == MISSING else CaptureError(f"{shown(self.path)} {why}; pass a video file.")
        try:
            self._cap, self.identity = _video_capture(self.path)
        except _NotRegular:
            raise CaptureError(f"{shown(self.path)} {NOT_REGULAR}; pass a video file.") from None
        except _TooLarge as exc:
            raise CaptureError(f"Video file {shown(self.path)} {exc}; {exc.fix}.") from None
        except _UnusableName:
            raise CaptureError(
                f"The name of {shown(self.path)} is not valid UTF-8, which the video decoder cannot open on this "
                "system; rename the file."
            ) from None
        except OSError as exc:
            if _out_of_files(exc):
                raise CaptureError(f"Video file {shown(self.path)} {AT_FILE_LIMIT}; {NO_FILES_FIX}.") from None
            raise CaptureError(f"Video file {shown(self.path)} cannot be read ({exc.strerror}).") from None
        if not _opened(self._cap):
            self._cap.release()
            if _at_file_limit(self.path):
                raise CaptureError(f"Video file {shown(self.path)} {AT_FILE_LIMIT}; {NO_FILES_FIX}.")
            from livecam.streams import sound_only

            if sound_only(self.path):
                raise CaptureError(f"{shown(self.path)} has no video frames (it holds sound only); pass a video file.")
            raise CaptureError(
                f"Video file {shown(self.path)} cannot be opened (damaged or an unsupported format); "
                "convert it to MP4 (H.264)."
            )
        fps = _prop(self._cap, cv2.CAP_PROP_FPS)
        self.fps = fps if 1 <= fps <= 240 else 30.0
        count = _prop(self._cap, cv2.CAP_PROP_FRAME_COUNT)
        self.frame_count = max(0, int(count)) if np.isfinite(count) else 0
        self.size = (int(_prop(self._cap, cv2.CAP_PROP_FRAME_WIDTH)), int(_prop(self._cap, cv2.CAP_PROP_FRAME_HEIGHT)))
        self.last_ms: float | None = None  # the time of the last frame read
        self.failure: str | None = None  # why decoding stopped before the end, when the decoder raised

    def __iter__(self) -> Iterator[np.ndarray]:
        while True:
            try:
                ok, image = self._cap.read()
                if ok and image is not None:
                    self.last_ms = self._cap.get(cv2.CAP_PROP_POS_MSEC)  # where decoding got to (see missing_frames)
            except Exception as exc:  # noqa: BLE001 - cv2.error from a damaged stream, no memory
                # Raised through the render, the bench or the eval, it ended them in a traceback; it
                # is the end of what can be decoded, which the caller says (see ``failure``).
                self.failure = shown(str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__, 100)
                trace.debug("decoding %s failed", self.path, exc_info=exc)
                return
            if not ok or image is None:
                return
            picture = as_bgr8(image)  # grey, BGRA, 16-bit or float samples made BGR uint8, like the live source's
            if picture is None:
                self.failure = "a frame is no picture LiveCam can read"
                return
            yield picture

    def missing_frames(self, read: int) -> int:
        """How many frames the container promised beyond the ``read`` that decoded, when the
        decoding also stopped early in time. Both, because a count can be an estimate (duration x
        rate: a variable-rate clip with a pause has fewer frames than that, all of them there)."""
        missing = self.frame_count - read
        slack = max(2, self.frame_count // 100)
        # Only MP4/MOV headers state the count; elsewhere it comes from the container's duration,
        # which a longer audio track stretches (a Matroska clip whose sound outlasts its picture).
        if missing <= slack or self.last_ms is None or self.path.suffix.lower() not in (".mp4", ".m4v", ".mov"):
            return 0
        ended_s, promised_s = self.last_ms / 1000 + 1 / self.fps, self.frame_count / self.fps
        return missing if ended_s < promised_s - slack / self.fps else 0

    def close(self) -> None:
        self._cap.release()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def iter_video_frames(path: str | Path, size: tuple[int, int] | None = None) -> Iterator[np.ndarray]:
    """Every frame of a video file once, in order, as BGR (cover-fitted to ``size`` if given).

    For offline rendering and benchmarks, where no frame may be skipped.
    """
    with VideoReader(path) as reader:
        for image in reader:
            yield cover_fit(image, size) if size else image
        if reader.failure:  # a caller counting on every frame must not take the first part for the whole
            raise CaptureError(f"Decoding {shown(path)} failed ({reader.failure}).")


def _first_working_camera() -> int | str | None:
    from livecam.devices import list_cameras

    for cam in list_cameras():
        device = cam["path"] or cam["index"]
        if _delivers(device):
            return device
    return None


def _delivers(device: int | str) -> bool:
    """Whether the camera opens and hands over a frame within CAMERA_PROBE_S. The probe runs on a
    thread of its own: a driver that blocks in open or read (a camera in a bad state, one another
    program holds) held LiveCam's start, or a resume, for as long as it blocked, and a read that
    raised ended the start with a traceback. Such a camera is passed over with one sentence."""
    from livecam.oneshot import OneShot

    def probe() -> bool:
        cap = _open_cv_camera(device)
        try:
            return bool(cap.isOpened() and cap.read()[0])
        finally:
            cap.release()

    attempt = OneShot(probe, name="livecam-camera-probe")
    if not attempt.finished_within(CAMERA_PROBE_S):
        log.warning("Camera %s gave no picture within %g s (its driver does not answer); LiveCam passes it over.",
                    shown(str(device)), CAMERA_PROBE_S)
        return False
    if attempt.error is not None:  # cv2.error, OSError: not a camera to use
        log.debug("probing camera %s failed: %s", device, attempt.error)
        return False
    return bool(attempt.result)


def _demo_source(settings: CaptureSettings) -> VideoFileSource:
    path = demo_clip_path()
    if not path.is_file():
        raise CaptureError(
            f"No camera was found and the demo clip {path} is missing; connect a camera or pass a video/image path."
        )
    return VideoFileSource(path, settings.width, settings.height, settings.fps)


def open_source(settings: CaptureSettings) -> FrameSource:
    """Build the source ``settings.source`` names (not yet started; ``with`` or ``start()`` starts it).

    "auto": the first camera that delivers a frame, else the demo clip; "demo": the demo clip;
    digits: a camera index; ``/dev/video*``: a camera device; otherwise a video or image file.
    """
    source = str(settings.source).strip()
    w, h, fps = settings.width, settings.height, settings.fps
    if source == "auto":
        device = _first_working_camera()
        if device is not None:
            return CameraSource(device, w, h, fps)
        log.info("No camera found; showing the demo clip.")
        return _demo_source(settings)
    if source == "demo":
        return _demo_source(settings)
    if source.isdigit():
        return CameraSource(int(source), w, h, fps)
    if source.startswith("/dev/video"):
        return CameraSource(source, w, h, fps)
    try:
        path = Path(source).expanduser()
        exists = path.exists()
    except (OSError, ValueError, RuntimeError):  # a name too long, a NUL, a lone surrogate, an unknown ~user
        raise CaptureError(
            f"The source {shown(source)} is not a usable file name; pass a camera index like 0 or a video/image path."
        ) from None
    kind = media_kind(path) if exists else ("image" if path.suffix.lower() in IMAGE_SUFFIXES else "video")
    if not exists:
        if kind == "image":
            raise CaptureError(
                f"Image file {shown(path)} does not exist; pass a camera index like 0 or a video/image path."
            )
        raise _missing(path)
    if kind == "image":
        return ImageSource(path, w, h, fps)
    if kind == "video":
        return VideoFileSource(path, w, h, fps)
    raise CaptureError(
        f"{shown(path)} is neither a video ({', '.join(VIDEO_SUFFIXES)}) nor an image ({', '.join(IMAGE_SUFFIXES)}); "
        "pass a camera index like 0 or a video/image path."
    )
