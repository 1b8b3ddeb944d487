"""The one video writer: ``run --output file`` and ``render`` both record through :class:`VideoWriter`.

H.264 in fragmented MP4, encoded by an ffmpeg child process (:mod:`livecam.ffmpeg_tool`), into a file
that is private (0600) from its first byte and that never replaces anything it should not (how the
file gets its name: :mod:`livecam.output_file`):

- A live recording takes its name when it starts (so a crash leaves a playable file under it: every
  fragment is complete on disk before the next starts); a render takes it only once complete.
- Writes never block: the pipe is non-blocking, and an encoder that takes nothing for ``STALL_S``
  (``STARTUP_S`` before its first frame) is killed and the recording ends with a sentence; a file
  without one whole fragment (:mod:`livecam.mp4_fragments`) is removed rather than left unplayable.
  ``close(timeout)`` finishes within the timeout (the file keeps its last whole fragment) so a signal
  can end the process in time.
- The file (or its folder) moved or deleted meanwhile stops the recording at the next frame with a
  sentence: the encoder holds the file open, so its writes never fail there.
- Live recordings carry each frame's time (a Matroska stream on the pipe, :mod:`livecam.matroska`;
  variable frame rate), so the recorded duration is the wall time however slow the pipeline; a
  render is frame-exact.
"""

from __future__ import annotations

import errno
import fractions
import logging
import os
import select
import signal
import struct
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import numpy as np

from livecam.ffmpeg_tool import _ffmpeg_has_encoder, _passthrough_timing, find_ffmpeg
from livecam.imaging import as_bgr8, cover_fit
from livecam.matroska import _mkv_frame_prefix, _mkv_header
from livecam.messages import shown
from livecam.mp4_fragments import _cut_after_whole_fragments, _whole_fragments
from livecam.not_running import not_running_for
from livecam.output_file import _expanded, _fix, _identity, _identity_of, _Target, _unlink_ours
from livecam.private_files import file_size_limit
from livecam.sinks import Output, OutputError, OutputFailed

try:
    import fcntl
except ImportError:  # Windows: no pipe sizes to set
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger("livecam.recording")

Timing = Literal["clock", "frames"]
FRAGMENT_S = 1.0  # a crash or a full disk loses at most about this much of a recording
STALL_S = 5.0  # an encoder that takes no byte for this long has stalled (a busy machine can pause it 1-2 s)
STARTUP_S = 15.0  # ffmpeg's own start (loading its libraries on a busy machine) before it reads anything
_PIPE_BYTES = 1 << 20  # a bigger pipe than the default 64 KiB: a frame goes in a few writes, not hundreds
# ffmpeg's words go to a hidden temporary file; only its end is ever read (the reason it stopped). An
# encoder that kept printing grew that file by 1.1 GB in a 5 s recording and LiveCam read it all back
# at the end (2.4 GB of memory); past STDERR_MAX_BYTES it is cut back to its last STDERR_KEEP_BYTES.
STDERR_KEEP_BYTES = 64 << 10
STDERR_MAX_BYTES = 1 << 20
CLOSE_TIMEOUT_S = 30.0  # a normal end: ffmpeg encodes what it still holds, then the file is complete


# The writers whose file is not finished yet, for a process that must end at once (see end_recordings_now).
_UNFINISHED: set["VideoWriter"] = set()


def end_recordings_now() -> None:
    """From a stop's watchdog, just before the process ends with os._exit (a stop that overran, a second
    Ctrl+C): every unfinished file ends as its close would end it, at once. The watchdog knew the
    recording only once it was open: a signal while ffmpeg was asked what it can do and started left a
    0-byte file under the user's name, and one in the first second an unplayable header."""
    for writer in list(_UNFINISHED):
        writer.end_now()


def _frames(n: int) -> str:
    return "1 frame" if n == 1 else f"{n} frames"


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"


# ------------------------------------------------------------------ the writer


class _Stopped(Exception):
    """ffmpeg went away or stalled while a frame was being written; the text says which."""


_STALLED = "the encoder took nothing for"
_LOST = "the file was moved or deleted"
_UNSAVED = "the disk reported an error while saving it"


class VideoWriter:
    """Frames in, a private H.264 MP4 out (see the module's docstring for the guarantees).

    ``timing="clock"``: each frame's ``t`` (``time.monotonic()``) is its time in the file (live
    recordings); ``"frames"``: frame ``n`` is at ``n / fps`` (render). ``publish="start"`` gives the
    file its name at once (a live recording, playable under its name whatever happens);
    ``"end"`` only at :meth:`close` (render). ``write`` raises OutputFailed with ``error``'s
    sentence once the recording cannot go on.
    """

    def __init__(self, path: str | Path, width: int, height: int, fps: float, *, overwrite: bool = False,
                 inputs: Iterable[str | Path] = (), timing: Timing = "clock",
                 publish: Literal["start", "end"] = "start") -> None:
        self.path = _expanded(path)
        self.width, self.height, self.fps = int(width), int(height), float(fps)
        self.timing = timing
        self.frames = 0
        self._misfit_said = False
        self.error: str | None = None
        self.note: str | None = None  # a sentence about where the file ended up, when not at ``path``
        self.removed = False  # stopped before one whole fragment was written: the file was removed
        self.lost = False  # moved or deleted by someone else while it was written
        self._closed = False
        self._killed = False  # by us: a stall, a deadline, an abort
        self._first_ms: int | None = None
        self._last_ms = -1
        self._t0: float | None = None
        self._last_image: np.ndarray | None = None
        self._lock = threading.Lock()
        exe = find_ffmpeg()
        if exe is None:
            raise OutputError(
                "Recording needs ffmpeg, which is not installed; install it (for example sudo apt install ffmpeg) "
                "and try again."
            )
        self._publish_at_start = publish == "start"
        self._target = _Target(self.path, overwrite, inputs, publish_at_start=self._publish_at_start)
        self._fd = self._target.fd
        # Held while the file is tidied and its descriptor closed, by _finish or end_now: never the
        # descriptor after it was closed (its number may name another file by then).
        self._fd_lock = threading.Lock()
        self._fd_closed = False
        self._unnamed_size = -1  # the file's size when last looked at for its first whole fragment
        _UNFINISHED.add(self)
        try:
            self._start(exe)
        except BaseException:
            with self._fd_lock:
                _UNFINISHED.discard(self)
                ours = self._fd_identity
                os.close(self._fd)
                self._fd_closed = True
                self._target.discard()
                if publish == "start":
                    _unlink_ours(self.path, ours)
            raise

    @property
    def _fd_identity(self) -> tuple[int, int] | None:
        return _identity_of(self._fd)

    def _start(self, exe: str) -> None:
        w, h = self.width, self.height
        if _ffmpeg_has_encoder(exe, "libx264"):
            # zerolatency: no look-ahead, so a fragment leaves the encoder as soon as it is complete;
            # ultrafast above 1080p so a 4K recording keeps up on a laptop
            preset = "ultrafast" if w * h > 1920 * 1080 else "veryfast"
            codec = ["-c:v", "libx264", "-preset", preset, "-tune", "zerolatency", "-crf", "23"]
        else:
            codec = ["-c:v", "mpeg4", "-q:v", "4"]
        even = [] if w % 2 == 0 and h % 2 == 0 else ["-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2"]
        if self.timing == "clock":
            source = ["-f", "matroska", "-i", "pipe:0"]
            timing = [*_passthrough_timing(exe), "-enc_time_base", "-1", "-video_track_timescale", "1000"]
        else:
            rate = fractions.Fraction(self.fps).limit_denominator(1001)
            source = ["-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{w}x{h}", "-r", str(rate), "-i", "pipe:0"]
            timing = []
        container = "mov" if self.path.suffix.lower() == ".mov" else "mp4"
        cmd = [
            exe, "-hide_banner", "-nostdin", "-loglevel", "error", *source, *even, *codec, *timing,
            "-pix_fmt", "yuv420p", "-force_key_frames", f"expr:gte(t,n_forced*{FRAGMENT_S:g})", "-g", "100000",
            "-movflags", "+frag_keyframe+empty_moov+default_base_moof", "-flush_packets", "1",
            "-f", container, "pipe:1",
        ]  # fmt: skip
        try:
            self._stderr = tempfile.TemporaryFile()
        except OSError as exc:  # a full or read-only temporary folder: raised, a traceback ended run and render
            raise OutputError(f"LiveCam cannot keep ffmpeg's messages in {shown(tempfile.gettempdir())} "
                              f"({exc.strerror or exc}); free some space there, or set TMPDIR to another "
                              "folder.") from None
        self._stderr_tail = b""  # what was kept of it when it was cut back
        if fcntl is not None:
            # Shared with ffmpeg's descriptor 2: its writes then land at the end even after a cut to 0.
            fd = self._stderr.fileno()
            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_APPEND)
        try:
            # Its own session and process group: Ctrl+C in the terminal reaches LiveCam only, which
            # then ends the input so ffmpeg can finish the file; a kill reaches all of ffmpeg at once.
            # C locale: its error text is matched below.
            self._proc = subprocess.Popen(
                cmd, stdin=subprocess.PIPE, stdout=self._fd, stderr=self._stderr, start_new_session=True,
                env={**os.environ, "LC_ALL": "C"},
            )
        except OSError as exc:
            self._stderr.close()
            raise OutputError(
                f"ffmpeg could not be started ({exc.strerror}); {_fix(exc, 'reinstall ffmpeg')}."
            ) from None
        self._pipe = self._proc.stdin.fileno()
        # Where pipes cannot be polled (Windows) writes block, and the sender's deadline aborts them.
        self._poll = select.poll() if hasattr(select, "poll") else None
        if self._poll is not None:
            os.set_blocking(self._pipe, False)
            self._poll.register(self._pipe, select.POLLOUT)
        if hasattr(fcntl, "F_SETPIPE_SZ"):
            try:
                fcntl.fcntl(self._pipe, fcntl.F_SETPIPE_SZ, _PIPE_BYTES)
            except OSError:
                pass  # the system's limit is lower: the default size works, with more writes
        if self.timing == "clock":
            try:
                self._put(_mkv_header(w, h))
            except _Stopped as exc:
                self._kill()
                raise OutputError(f"ffmpeg could not start the recording ({exc}); reinstall ffmpeg.") from None

    # -- writing

    def write(self, image: np.ndarray, t: float | None = None) -> None:
        """Hand one frame to ffmpeg. Returns within ``deadline_s`` whatever ffmpeg does; raises
        OutputFailed (its sentence is ``error``) once the recording has stopped."""
        with self._lock:
            if self.error is not None or self._closed:
                raise OutputFailed(self.error or f"The recording to {shown(self.path)} is closed.")
            if self._target.lost():
                # The file holds its descriptor, so every write went on succeeding into a file that was
                # deleted, or moved where no sentence would say, until the recording stopped.
                self._finish(timeout=5.0, reason=_LOST, publish=self._publish_at_start)
                raise OutputFailed(self.error or f"Recording to {shown(self.path)} stopped.")
            frame = self._fitted(image)
            data = frame.data
            try:
                if self.timing == "clock":
                    ms = self._stamp(time.monotonic() if t is None else t)
                    self._put(_mkv_frame_prefix(ms, data.nbytes))
                    self._last_image = frame
                self._put(data)
            except _Stopped as exc:
                if str(exc).startswith(_STALLED):
                    self._kill()  # it will not finish the file on its own
                # A render's file takes its name only when complete: published here, the cut file sat
                # under the name while the render said nothing was written there.
                self._finish(timeout=5.0, reason=str(exc), publish=self._publish_at_start)
                raise OutputFailed(self.error or f"Recording to {shown(self.path)} stopped.") from None
            self.frames += 1
            if fcntl is not None:
                self._trim_stderr()  # one fstat a frame
            if self._target.replaces and self._target.temp is not None:
                self._name_once_playable()

    def _name_once_playable(self) -> None:
        """Give a live recording that replaces a file its name once its first whole fragment is on disk
        (about a second in): one fstat a frame until then. Where the file cannot be read without moving
        ffmpeg's own position in it (no pread: Windows) it is named at the end."""
        if not hasattr(os, "pread"):
            return
        try:
            size = os.fstat(self._fd).st_size
            if size == self._unnamed_size:
                return
            self._unnamed_size = size
            if not _whole_fragments(self._fd)[1]:
                return
        except (OSError, struct.error):
            return  # looked at again at the next frame, and at the end
        self.note = self._target.publish()
        if self._target.temp is not None:
            self._target.replaces = False  # kept under its hidden name, which the note gives; not tried again

    def _stderr_end(self) -> bytes:
        """The last STDERR_KEEP_BYTES ffmpeg printed."""
        fd = self._stderr.fileno()
        size = os.fstat(fd).st_size
        end = os.pread(fd, STDERR_KEEP_BYTES, max(0, size - STDERR_KEEP_BYTES))
        return (self._stderr_tail + end)[-STDERR_KEEP_BYTES:]

    def _trim_stderr(self) -> None:
        try:
            if os.fstat(self._stderr.fileno()).st_size > STDERR_MAX_BYTES:
                self._stderr_tail = self._stderr_end()
                os.ftruncate(self._stderr.fileno(), 0)
        except OSError:
            pass  # kept as it is: a bigger file, nothing lost

    def _fitted(self, image: Any) -> np.ndarray:
        """``image`` as exactly the BGR uint8 frame size the encoder was started with. Raw frames
        have no size of their own: one frame of another size (a source that changed size, a grey
        frame) shifted every later frame of a render into garbage, and nothing said so."""
        w, h = self.width, self.height
        if isinstance(image, np.ndarray) and image.shape == (h, w, 3) and image.dtype == np.uint8:
            return np.ascontiguousarray(image)
        frame = as_bgr8(image)
        if frame is None:
            if not self._misfit_said:
                log.warning("A frame that was no picture went into %s as a grey card.", shown(self.path))
            self._misfit_said = True
            return np.full((h, w, 3), 48, np.uint8)
        if frame.shape[:2] != (h, w):
            if not self._misfit_said:
                log.warning("Frames of %dx%d went into the %dx%d recording %s, scaled to fit.",
                            frame.shape[1], frame.shape[0], w, h, shown(self.path))
            self._misfit_said = True
            frame = cover_fit(frame, (w, h))
        return np.ascontiguousarray(frame)

    def _stamp(self, t: float) -> int:
        if self._t0 is None:
            self._t0 = t
        ms = max(self._last_ms + 1, round(1000 * (t - self._t0)))  # strictly increasing, as MP4 needs
        if self._first_ms is None:
            self._first_ms = ms
        self._last_ms = ms
        return ms

    @property
    def deadline_s(self) -> float:
        """The longest one write may take before the encoder counts as stalled."""
        return STALL_S if self.frames else STARTUP_S

    def _put(self, data: Any) -> None:
        view = memoryview(data).cast("B")
        patience = self.deadline_s
        asked, waited = time.monotonic(), 0.0  # the last wait for the pipe: when, and for how long
        deadline = asked + patience
        while view:
            try:
                n = os.write(self._pipe, view)
            except BlockingIOError:
                now = time.monotonic()
                # LiveCam and ffmpeg stopped together (a paused VM) and continued: neither ran, so that
                # time is not the encoder's. Counted, the first look after the continue killed it.
                deadline += not_running_for(asked, waited, now)
                remaining = deadline - now
                if remaining <= 0 or self._poll is None:
                    raise _Stopped(f"the encoder took nothing for {patience:g} s") from None
                asked, waited = now, min(remaining, 0.2)
                self._poll.poll(waited * 1000)
                continue
            except (BrokenPipeError, OSError, ValueError):
                raise _Stopped("the encoder was stopped" if self._killed else "ffmpeg stopped taking frames") from None
            view = view[n:]
            asked, waited = time.monotonic(), 0.0
            deadline = asked + patience  # progress: a slow encoder is not a stalled one

    @property
    def started_at(self) -> float | None:
        """``time.monotonic()`` of the first frame of a timed recording (its time 0), or None."""
        return self._t0

    @property
    def duration_s(self) -> float:
        """Seconds of video written so far."""
        if self.timing == "frames" or self._first_ms is None:
            return self.frames / self.fps if self.fps > 0 else 0.0
        return (self._last_ms - self._first_ms) / 1000 + 1 / self.fps

    # -- ending

    def abort(self) -> None:
        """From another thread: kill ffmpeg now, so a write stuck on it returns (the file keeps its
        whole fragments)."""
        self._kill()

    def _kill(self) -> None:
        self._killed = True
        try:
            os.killpg(self._proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError, AttributeError):
            pass

    def close(self, timeout: float = CLOSE_TIMEOUT_S) -> None:
        """End the input and let ffmpeg finish the file, for at most ``timeout`` s (then the last
        whole fragment is kept); the file gets its name now if it did not have it yet. ``error``
        says what went wrong, ``note`` where the file went when its name was taken meanwhile."""
        if not self._lock.acquire(timeout=max(0.0, min(timeout, self.deadline_s + 1))):
            self.abort()  # a write is stuck on ffmpeg: killing it frees the write and the lock
            self._lock.acquire()
        try:
            self._hold_last_frame(timeout)
            self._finish(timeout=timeout, reason=None)
        finally:
            self._lock.release()

    def _hold_last_frame(self, timeout: float) -> None:
        """A frame's time in the file lasts until the next frame; the last one would end at once,
        cutting off the time since it came (long, when the encoder was slow). It is shown again at
        the moment the recording stops, unless that must happen within a few seconds."""
        if self.timing != "clock" or self._last_image is None or self._closed or self.error or timeout < 5:
            return
        t = time.monotonic()
        if self._t0 is None or 1000 * (t - self._t0) - self._last_ms < 1500 / self.fps:
            return
        data = np.ascontiguousarray(self._last_image).data
        try:
            self._put(_mkv_frame_prefix(self._stamp(t), data.nbytes))
            self._put(data)
        except _Stopped:
            return  # the file simply ends with the last frame that went in

    def discard(self) -> None:
        """Stop now and remove the file, if it never got the target's name (render interrupted)."""
        with self._lock:
            self._kill()
            self._finish(timeout=1.0, reason=None, publish=False)
            self._target.discard()

    def end_now(self) -> None:
        """From a signal's watchdog, while another thread may be inside ``write`` or still starting ffmpeg:
        kill ffmpeg and end the file as ``close`` would. A render's file, which never got its name, is
        removed; a live recording keeps its whole fragments under its name, cut after the last, or is
        removed where it holds none. Never waits on the writer's lock."""
        self._kill()
        proc = getattr(self, "_proc", None)
        if proc is not None:
            try:
                proc.wait(0.5)  # SIGKILLed: gone in a moment, and it writes no more into the file
            except subprocess.TimeoutExpired:
                pass
        if not self._fd_lock.acquire(timeout=0.2):
            return  # _finish is tidying it: it ends the file the same way
        try:
            if not self._publish_at_start:
                self._target.discard()  # a render's hidden file: the render says nothing was written
                self.removed = True
                return
            if self._fd_closed:
                return  # _finish tidied it already
            try:
                playable = _cut_after_whole_fragments(self._fd)
            except (OSError, struct.error):
                return
            if not playable:
                self._remove_unplayable(self._fd_identity)
        finally:
            self._fd_lock.release()

    def _finish(self, timeout: float, reason: str | None, publish: bool = True) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            # End of input: ffmpeg writes the last fragment and exits. Closed through its file
            # object (never written through, so nothing to flush), which owns the descriptor.
            self._proc.stdin.close()
        except OSError:
            pass
        timed_out = False
        try:
            rc = self._proc.wait(max(0.0, timeout))
        except subprocess.TimeoutExpired:
            timed_out = True
            if self._publish_at_start:
                log.info("ffmpeg did not finish %s in %.1f s; it keeps its last whole fragment.", shown(self.path),
                         timeout)
            self._kill()
            rc = self._proc.wait()
        try:
            stderr = self._stderr_end().decode("utf-8", "replace")
        except OSError:
            stderr = ""
        self._stderr.close()
        if rc != 0 and not self._killed:
            reason = self._explain(rc, stderr)  # it stopped by itself: its own words say best why
        with self._fd_lock:
            reason, publish, ours = self._tidy(rc, reason, publish)
        if self.removed:
            if reason is None and self.frames:
                # Frames went in and no video came out, though ffmpeg said all was well (a broken
                # or substituted ffmpeg): the caller must not report a recording that is not there.
                reason = "ffmpeg wrote no playable video"
        if publish and not self._publish_at_start and not self.removed:
            # A render's file takes its name only when whole. Cut by the close's deadline (the frames
            # still in the encoder missing) it was named and called "wrote 200 frames", exit 0, with
            # 180 in it; cut by a full disk at the last fragment, named under "nothing was written to it".
            if timed_out and reason is None:
                reason = (f"ffmpeg did not finish the file within {_duration(timeout)}: is the disk slow or the "
                          "machine busy?")
            if reason is not None:
                self._target.discard()
                self.removed = True
                publish = False
        if reason is not None:
            self.error = self._sentence(reason)
        if publish:
            self.note = self._target.publish() or self.note  # or the one said when it was named mid-recording
        if not self.removed and ours is not None and _identity(self._target.written, follow=False) != ours:
            # Its folder deleted or the file moved meanwhile: the bytes are not where any sentence
            # would say (it used to say "Recorded … to NAME", exit 0, with no such file).
            self.lost = True
            self.note = None
            self.error = self._lost_sentence(stopped=reason == _LOST)
            if not self._publish_at_start:
                # A render's hidden file, found in its folder wherever that went: a render that did not take
                # its name leaves nothing (it stayed in a folder moved during the render's last seconds).
                self._target.discard()
        if publish:
            self._target.let_go_of_folder()  # named, or said where it is: nothing is removed any more
        _UNFINISHED.discard(self)

    def _tidy(self, rc: int, reason: str | None, publish: bool) -> tuple[str | None, bool, tuple[int, int] | None]:
        """Cut the file after its last whole fragment, sync and close it, and remove it where it holds no
        whole fragment: (the reason so far, whether to publish, the file's identity)."""
        playable = True
        ours = self._fd_identity
        try:
            # Only a failed ffmpeg leaves a cut-off fragment; after a clean exit the end is whole.
            playable = _cut_after_whole_fragments(self._fd, cut=rc != 0)
        except (OSError, struct.error) as exc:
            log.warning("Could not tidy the end of %s (%s); it plays up to where it was cut.", shown(self.path), exc)
        unsaved = _saved(self._fd)
        self._fd_closed = True
        if unsaved is not None and reason is None:
            # The disk said the bytes may not all be on it: a render that took its name and said "wrote
            # N frames" could be missing its end; a recording summed up as recorded, likewise.
            reason = unsaved
        if not playable and reason != _LOST:  # not one whole fragment: an empty file helps nobody
            self._remove_unplayable(ours)  # ours read before the close: the descriptor is gone now
            publish = False
        return reason, publish, ours

    def _remove_unplayable(self, ours: tuple[int, int] | None) -> None:
        """Remove a file without one whole fragment: under the user's name only if it is still ``ours``, and
        the hidden file of one that replaces a file (not named yet)."""
        _unlink_ours(self.path, ours)
        self._target.discard()
        self.removed = True

    def _lost_sentence(self, stopped: bool) -> str:
        path, took = shown(self.path), f"after {_duration(self.duration_s)} ({_frames(self.frames)})"
        if not self._publish_at_start:
            return (f"The unfinished render to {path} was moved or deleted (or its folder was) while LiveCam was "
                    f"writing it{f', so the render stopped {took}' if stopped else ''}; nothing was written to "
                    f"{path}.")
        if stopped:
            return (f"The recording to {path} was moved or deleted (or its folder was) while LiveCam was writing "
                    f"it, so the recording stopped {took}, and LiveCam cannot tell where the file is now.")
        return (f"The recording to {path} was moved or deleted (or its folder was) while LiveCam was writing it, so "
                "LiveCam cannot tell where it is now.")

    def _explain(self, rc: int, stderr: str) -> str:
        if "No space left on device" in stderr:
            return "full"
        if "Disk quota exceeded" in stderr:
            return "quota"
        if "File too large" in stderr or rc == -getattr(signal, "SIGXFSZ", -1000):
            return "too large"
        if rc < 0:  # a signal no one in LiveCam sent: "ffmpeg: exit status -9" said nothing to a user
            try:
                name = signal.Signals(-rc).name
            except ValueError:
                name = f"signal {-rc}"
            if name == "SIGKILL":
                return "ffmpeg was ended by SIGKILL, sent by another program or by the system when memory ran out"
            return f"ffmpeg was ended by {name}"
        lines = [line.strip() for line in stderr.splitlines() if line.strip()]
        return "ffmpeg: " + shown(lines[-1] if lines else f"exit status {rc}", 200)

    def _sentence(self, problem: str) -> str:
        path = shown(self.path)
        took = f"after {_duration(self.duration_s)} ({_frames(self.frames)})"
        if self._publish_at_start:
            doing, verb = "recording", "record"
            kept = (f"; nothing playable had been written, so {path} was left as it was" if self.removed
                    and self._target.replaces
                    else "; nothing playable had been written, so the file was removed" if self.removed
                    else "; the disk may not have kept all of it" if problem.startswith(_UNSAVED)
                    else "; the file keeps what was recorded up to its last whole second")
        else:  # a render: its file takes its name only when complete, so a stopped one leaves nothing
            doing, verb, kept = "rendering", "render", "; nothing was written to it"
        if problem == "full":
            return (f"The disk is full: {doing} to {path} stopped {took}{kept}. "
                    f"Free some space or {verb} to another disk.")
        if problem == "quota":
            return f"Your disk quota is used up: {doing} to {path} stopped {took}{kept}."
        if problem == "too large" and (limit := file_size_limit()) is not None:
            # Not the disk's doing: the disk's words sent the user to reformat a disk that holds files of any size.
            return (f"{path} reached the file-size limit this session sets (ulimit -f, {limit / 2**20:.1f} MB): "
                    f"{doing} stopped {took}{kept}. Raise or lift that limit (ulimit -f unlimited) where LiveCam "
                    "is started.")
        if problem == "too large":
            return (f"{path} reached the largest file this disk allows: {doing} stopped {took}{kept}. "
                    f"{verb.capitalize()} to a disk formatted with exFAT, NTFS, APFS or ext4.")
        return f"{doing.capitalize()} to {path} stopped {took} ({problem}){kept}."


def _saved(fd: int) -> str | None:
    """Sync and close the file ``fd``; None when the disk took every byte, else the problem in the words
    :meth:`VideoWriter._sentence` knows. A failing sync or close (a full or failing disk, a network file
    system reporting a lost write late) was a log line, and the file was then named and called written."""
    problem: OSError | None = None
    try:
        os.fsync(fd)
    except OSError as exc:
        problem = exc
    try:
        os.close(fd)
    except OSError as exc:
        problem = problem or exc
    if problem is None or problem.errno == errno.EINVAL:  # EINVAL: a file that cannot be synced (a pipe)
        return None
    known = {errno.ENOSPC: "full", errno.EDQUOT: "quota", errno.EFBIG: "too large"}.get(problem.errno or 0)
    return known or f"{_UNSAVED}: {problem.strerror or problem}"


class FileOutput(Output):
    """A live recording (``run --output file``): the one writer, timed by the frames' send times.

    ``send(image, t)`` raises OutputFailed with one sentence once the recording cannot go on (disk
    full, encoder stalled); ``error`` keeps it and the file keeps what was recorded until then.
    """

    recorder = "ffmpeg"

    def __init__(self, path: str | Path, width: int, height: int, fps: float = 30, overwrite: bool = False,
                 inputs: Iterable[str | Path] = ()) -> None:
        super().__init__(width, height, fps)
        self.path = _expanded(path)
        self.writer = VideoWriter(self.path, self.width, self.height, self.fps, overwrite=overwrite,
                                  inputs=inputs, timing="clock", publish="start")
        self.description = f"file {shown(self.path)}"

    @property
    def frames_written(self) -> int:
        return self.writer.frames

    @property
    def error(self) -> str | None:
        # note: the name was taken meanwhile and the recording went beside it (a replacing recording is
        # named once it holds its first second).
        return self.writer.error or self.writer.note

    def send(self, image: np.ndarray, t: float | None = None) -> None:
        self.check(image)
        self.writer.write(image, t)

    @property
    def deadline_s(self) -> float:
        """How long the sender waits on one send: the writer's own stall check speaks first."""
        return self.writer.deadline_s + 1.0

    def abort(self) -> None:
        self.writer.abort()

    def close(self, timeout: float = CLOSE_TIMEOUT_S) -> None:
        self.writer.close(timeout)

    def summary(self, missed: int = 0, made: int | None = None) -> str | None:
        """One sentence for the end of a run: how much was recorded, and how many of the ``made`` frames
        were never written (``missed``: the sender's ``left_out``, frames replaced while the encoder was
        busy; nothing is said when there were none).

        The count is of frames made, never of frames written: the sender writes a frame again at each
        tick no new one came (that is how the file keeps real time), and "Recorded 8.1 s of video (232
        frames)" stood beside "N of the 200 made were left out"."""
        if self.writer.removed or self.writer.lost or self.writer.note or self.writer.error:
            # A recording that stopped (encoder killed or stalled, disk full) has its own one sentence, which
            # says how much the file keeps. This one said "Recorded 3.0 s" of a file that plays 2 s, and blamed
            # "the computer could not record them fast enough" for the frames a stopped encoder never took.
            return None
        made_words = f" ({_frames(made)} made)" if made is not None else ""
        text = f"Recorded {_duration(self.writer.duration_s)} of video{made_words} to {shown(self.path)}"
        if missed:
            of = f" of the {made} made" if made is not None and made >= missed else ""
            text += (f"; {missed} frame{'s' if missed != 1 else ''}{of} {'were' if missed != 1 else 'was'} "
                     "left out because the computer could not record them fast enough (the frames around them "
                     "stay on screen longer, so the video keeps real time)")
        return text + "."
