"""Where processed frames go: the "LiveCam" virtual camera, an MP4 file, a preview window, or nowhere.

Outputs are registered by name in ``OUTPUTS``; ``open_output`` builds the one the settings ask
for and, when the virtual camera cannot be opened, says how to fix that in one sentence and falls
back to a preview window, then to the null output, so LiveCam still runs. Nothing is ever written
to disk unless the user asked for a file.

:class:`PacedSender` owns the output frame clock: call apps get a steady fps whatever the
processing speed (the last frame is repeated when processing is late, stale frames are dropped
when it is early). Nothing in LiveCam calls ``time.sleep``: this sender paces with
:class:`livecam.capture.FrameClock`, which waits on an Event.
The sender also owns what happens when the output breaks: a lost virtual camera is closed and
reopened with back-off (``state`` "reopening", ``status`` says so in words); a recording that
cannot go on (disk full) stops the sender for good (``state`` "failed", ``failed`` is set).
"""

from __future__ import annotations

import collections
import functools
import logging
import os
import platform
import shutil
import signal
import statistics
import struct
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np

from livecam import devices
from livecam.capture import FrameClock
from livecam.media import RECORDING_SUFFIXES
from livecam.settings import OutputSettings

log = logging.getLogger(__name__)


class OutputError(RuntimeError):
    """An output cannot be opened; the message is one sentence saying what to do."""


class OutputFailed(OutputError):
    """An open output stopped for good (e.g. the disk filled up); the message says what happened."""


class Output:
    """Base of all outputs: ``send(image_bgr)``, ``close()``, ``description``; a context manager.

    The frame check is built once in the constructor so ``send`` stays a couple of comparisons.
    An output whose ``recoverable`` is True can lose its device and get it back: the sender then
    calls ``reopen()`` (which raises OutputError while the device is still gone).
    """

    description = "output"
    fallback_reason: str | None = None  # set by open_output when this output replaced the requested one
    recoverable = False

    def __init__(self, width: int, height: int, fps: float = 30) -> None:
        self.width, self.height, self.fps = int(width), int(height), float(fps)
        self._shape = (self.height, self.width, 3)

    def check(self, image: Any) -> None:
        """Raise ValueError/TypeError unless ``image`` is a (H, W, 3) uint8 array of this output's size."""
        if not isinstance(image, np.ndarray):
            raise TypeError(f"expected a numpy array of shape {self._shape} uint8, got {type(image).__name__}")
        if image.shape != self._shape or image.dtype != np.uint8:
            raise ValueError(f"expected {self._shape} uint8, got {image.shape} {image.dtype}")

    def send(self, image: np.ndarray) -> None:
        self.check(image)
        self._send(image)

    def _send(self, image: np.ndarray) -> None:
        raise NotImplementedError

    def reopen(self) -> None:
        raise OutputError(f"The {self.description} cannot be reopened.")

    def close(self) -> None:
        pass

    def __enter__(self) -> Output:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _default_backend() -> str:
    return "v4l2loopback" if platform.system() == "Linux" else "obs"


def _virtualcam_fix(reason: str, device: str | None) -> str:
    """pyvirtualcam's error text -> one sentence that says what to do on this system."""
    first = reason.strip().splitlines()[0] if reason.strip() else "unknown error"
    if platform.system() != "Linux":
        return f"The OBS virtual camera is not available ({first}); {devices.OBS_FIX}, then start LiveCam again."
    if "No v4l2 loopback device found" in reason:
        return f"No virtual camera device exists (the v4l2loopback module is not loaded); run: {devices.MODPROBE_FIX}"
    which = f"the virtual camera {device}" if device else "the virtual camera"
    if "permission" in reason.lower():
        return f"LiveCam may not write to {which}; run sudo usermod -aG video $USER and log in again."
    return (
        f"LiveCam could not open {which} ({first}); close other programs that feed it, "
        f"or reload the module with: {devices.RELOAD_FIX}"
    )


class VirtualCamOutput(Output):
    """The virtual camera apps list as "LiveCam", through pyvirtualcam.

    On Linux it is the v4l2loopback device labelled "LiveCam" (or ``device`` when given); on
    Windows and macOS pyvirtualcam's OBS backend. ``backend`` picks a pyvirtualcam backend by name
    (tests register a recording one). A device that goes away (module reloaded, OBS closed) makes
    ``send`` raise; :meth:`reopen` then closes the dead handle and opens the camera anew.
    """

    recoverable = True

    def __init__(self, width: int, height: int, fps: float = 30, device: str = "", backend: str | None = None) -> None:
        super().__init__(width, height, fps)
        try:
            import pyvirtualcam
            from pyvirtualcam.camera import BACKENDS
        except ImportError as exc:  # the native module can fail to load even when the package is there
            raise OutputError(
                f"pyvirtualcam cannot be loaded ({exc}); reinstall it with pip install pyvirtualcam."
            ) from exc
        self._pyvirtualcam = pyvirtualcam
        self._backend = backend or _default_backend()
        if self._backend not in BACKENDS:
            raise OutputError(
                f"pyvirtualcam has no {self._backend!r} backend on this system; use --output preview or file instead."
            )
        self._requested = device or None
        self.camera: Any = None
        self._open_camera()

    def _open_camera(self) -> None:
        linux = platform.system() == "Linux"
        chosen = self._requested
        if chosen is None and linux:
            chosen = devices.find_livecam_device()  # looked up again on a reopen: a reloaded module may renumber
            if chosen is None and devices.list_virtual_cameras():
                log.warning('No v4l2loopback device is labelled "LiveCam"; using the first one pyvirtualcam finds.')
        try:
            self.camera = self._pyvirtualcam.Camera(
                self.width, self.height, self.fps, fmt=self._pyvirtualcam.PixelFormat.BGR, device=chosen,
                backend=self._backend,
            )
        except RuntimeError as exc:
            raise OutputError(_virtualcam_fix(str(exc), chosen)) from exc
        label = devices.virtual_camera_label(self.camera.device) if linux else None
        self.description = f"virtual camera {self.camera.device}" + (f" ({label})" if label else "")

    @property
    def device_path(self) -> str | None:
        """The file apps open to read the camera (Linux's device node), for watching who reads it;
        None where the camera is no file (OBS) or while it is lost."""
        device = getattr(self.camera, "device", None)
        return device if isinstance(device, str) and os.path.isabs(device) and os.path.exists(device) else None

    def _send(self, image: np.ndarray) -> None:
        if self.camera is None:
            raise OutputError(f"the {self.description} is closed")
        self.camera.send(image)

    def reopen(self) -> None:
        self._close_camera()
        self._open_camera()

    def _close_camera(self) -> None:
        camera, self.camera = self.camera, None
        if camera is None:
            return
        try:
            camera.close()
        except Exception as exc:  # a vanished device may fail to close too; the handle is dropped either way
            log.debug("closing the %s failed: %s", self.description, exc)

    def close(self) -> None:
        self._close_camera()


# ------------------------------------------------------------------ recordings

RecorderKind = Literal["ffmpeg", "opencv"]
FRAGMENT_S = 1.0  # a crash or a full disk loses at most about this much of a recording
DISK_RESERVE_BYTES = 64 << 20  # the OpenCV fallback stops this far from a full disk, so it can still finish the file
FFMPEG_CLOSE_TIMEOUT_S = 30.0


def find_ffmpeg() -> str | None:
    """The ffmpeg program that writes crash-safe recordings, or None (tests replace this)."""
    return shutil.which("ffmpeg")


@functools.lru_cache(maxsize=4)
def _ffmpeg_has_encoder(exe: str, name: str) -> bool:
    try:
        listed = subprocess.run(
            [exe, "-hide_banner", "-encoders"], capture_output=True, text=True, timeout=20, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return any(line.split()[1:2] == [name] for line in listed.splitlines())


def _create_private(path: Path, overwrite: bool) -> int:
    """Create the recording 0600 (O_EXCL: never replaces a file unless ``overwrite``); returns its fd."""
    # Read-write: after a failure LiveCam reads the box headers back to trim a cut-off fragment.
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    flags |= os.O_TRUNC if overwrite else os.O_EXCL
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise OutputError(
            f"{path} already exists and LiveCam does not replace files; choose another name, "
            "or add --overwrite to replace it."
        ) from None
    except IsADirectoryError:
        raise OutputError(f"{path} is a folder; give a file name ending in .mp4.") from None
    except PermissionError:
        raise OutputError(f"LiveCam may not write {path}; choose a folder you can write to.") from None
    except OSError as exc:
        raise OutputError(f"Cannot create {path} ({exc.strerror}); choose another path.") from None
    if os.name == "posix":
        os.fchmod(fd, 0o600)  # a replaced file would otherwise keep its old, maybe readable, mode
    return fd


def complete_fragments_end(fd: int) -> int:
    """Length of the part of a fragmented MP4 that ends on a whole fragment (moof + mdat).

    Walks the top-level boxes; a box cut short, or a ``moof`` whose ``mdat`` is, is not counted.
    """
    size = os.fstat(fd).st_size
    pos = good = 0
    while pos + 8 <= size:
        os.lseek(fd, pos, os.SEEK_SET)
        header = os.read(fd, 16)
        length, kind = struct.unpack(">I4s", header[:8])
        if length == 1 and len(header) == 16:
            length = struct.unpack(">Q", header[8:16])[0]
        if length < 8 or pos + length > size:
            break
        pos += length
        if kind != b"moof":  # a moof only counts together with the mdat that follows it
            good = pos
    return good


def _duration(frames: int, fps: float) -> str:
    seconds = frames / fps if fps > 0 else 0.0
    return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"


class _FfmpegRecorder:
    """Raw BGR frames piped into ffmpeg, written as fragmented MP4 to a file LiveCam opened.

    Each fragment (one keyframe interval, ``FRAGMENT_S``) is complete on disk before the next
    starts, and an empty ``moov`` comes first, so the file plays whatever happens later: if
    LiveCam is killed ffmpeg sees its input end and finishes the file; if ffmpeg dies too, all
    whole fragments remain; if the disk fills, the cut-off fragment is trimmed away.
    """

    kind: RecorderKind = "ffmpeg"

    def __init__(self, exe: str, fd: int, path: Path, width: int, height: int, fps: float) -> None:
        self.fd, self.path = fd, path
        gop = max(1, round(fps * FRAGMENT_S))
        if _ffmpeg_has_encoder(exe, "libx264"):
            # zerolatency: no look-ahead, so each fragment leaves the encoder as soon as it is complete
            codec = ["-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-crf", "23"]
        else:
            codec = ["-c:v", "mpeg4", "-q:v", "4"]
        even = [] if width % 2 == 0 and height % 2 == 0 else ["-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2"]
        container = "mov" if path.suffix.lower() == ".mov" else "mp4"
        cmd = [
            exe, "-hide_banner", "-nostdin", "-loglevel", "error",
            "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{width}x{height}", "-r", f"{fps:g}", "-i", "pipe:0",
            *even, *codec, "-pix_fmt", "yuv420p", "-g", str(gop),
            "-movflags", "+frag_keyframe+empty_moov+default_base_moof", "-flush_packets", "1",
            "-f", container, "pipe:1",
        ]  # fmt: skip
        self._stderr = tempfile.TemporaryFile()
        try:
            # Its own session: Ctrl+C in the terminal reaches LiveCam only, which then ends the
            # input so ffmpeg can finish the file. C locale: its error text is matched below.
            self._proc = subprocess.Popen(
                cmd, stdin=subprocess.PIPE, stdout=fd, stderr=self._stderr, start_new_session=True,
                env={**os.environ, "LC_ALL": "C"},
            )
        except OSError as exc:
            self._stderr.close()
            raise OutputError(f"ffmpeg could not be started ({exc.strerror}); reinstall ffmpeg.") from None

    def write(self, image: np.ndarray) -> str | None:
        """Hand one frame to ffmpeg; the sentence saying why the recording stopped, or None."""
        try:
            self._proc.stdin.write(np.ascontiguousarray(image).data)
            self._proc.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            return self._finish(timeout=5.0) or "ffmpeg stopped taking frames"
        return None

    def close(self) -> str | None:
        return self._finish(timeout=FFMPEG_CLOSE_TIMEOUT_S)

    def _finish(self, timeout: float) -> str | None:
        if self.fd < 0:
            return None  # finished already (a failed write finishes at once)
        if self._proc.stdin and not self._proc.stdin.closed:
            try:
                self._proc.stdin.close()  # end of input: ffmpeg writes the last fragment and exits
            except OSError:
                pass
        try:
            rc = self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            rc = self._proc.wait()
        self._stderr.seek(0)
        stderr = self._stderr.read().decode("utf-8", "replace")
        self._stderr.close()
        problem = None if rc == 0 else self._explain(rc, stderr)
        fd, self.fd = self.fd, -1
        try:
            if problem:
                end = complete_fragments_end(fd)
                if end < os.fstat(fd).st_size:
                    os.ftruncate(fd, end)  # also frees the space the cut-off fragment took
            os.fsync(fd)
        except OSError as exc:
            log.warning("Could not tidy the end of %s (%s); it plays up to where it was cut.", self.path, exc)
        finally:
            os.close(fd)
        return problem

    def _explain(self, rc: int, stderr: str) -> str:
        if "No space left on device" in stderr:
            return "full"
        if "Disk quota exceeded" in stderr:
            return "quota"
        if "File too large" in stderr or rc == -getattr(signal, "SIGXFSZ", -1000):
            return "too large"
        lines = [line.strip() for line in stderr.splitlines() if line.strip()]
        return "ffmpeg: " + (lines[-1] if lines else f"exit status {rc}")


class _OpenCvRecorder:
    """OpenCV's mp4v writer, when ffmpeg is missing: playable only once it is closed normally.

    It cannot report write errors, so it stops itself while some space is still free
    (``DISK_RESERVE_BYTES``) to be able to write the index that makes the file playable.
    """

    kind: RecorderKind = "opencv"

    def __init__(self, path: Path, width: int, height: int, fps: float) -> None:
        self.path, self._fps = path, fps
        self._frames = 0
        self._writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
        if not self._writer.isOpened():
            self._writer.release()
            raise OutputError(f"OpenCV cannot write {path}; install ffmpeg, or choose another path ending in .mp4.")

    def write(self, image: np.ndarray) -> str | None:
        if self._frames % max(1, round(self._fps)) == 0:
            if shutil.disk_usage(self.path.parent).free < DISK_RESERVE_BYTES:
                self._writer.release()
                return "full"
        self._writer.write(image)
        self._frames += 1
        return None

    def close(self) -> str | None:
        self._writer.release()
        return None


class FileOutput(Output):
    """A recording: fragmented MP4 through ffmpeg when it is installed, else OpenCV's mp4v.

    The file is created 0600 and never replaces an existing one unless ``overwrite``; only the
    video suffixes in :data:`livecam.media.RECORDING_SUFFIXES` are accepted. When the recording
    cannot go on (disk full, file too large for the disk), ``send`` raises OutputFailed with one
    sentence, ``error`` keeps it, and the file keeps what was recorded until then.
    """

    def __init__(
        self, path: str | Path, width: int, height: int, fps: float = 30, overwrite: bool = False
    ) -> None:
        super().__init__(width, height, fps)
        self.path = Path(path).expanduser()
        self.frames_written = 0
        self.error: str | None = None
        self._closed = False
        if self.path.suffix.lower() not in RECORDING_SUFFIXES:
            raise OutputError(
                f"Cannot record to {self.path.name}: a recording must end in "
                f"{', '.join(RECORDING_SUFFIXES[:-1])} or {RECORDING_SUFFIXES[-1]}; choose a name like "
                f"{self.path.stem or 'recording'}.mp4."
            )
        if not self.path.parent.is_dir():
            raise OutputError(
                f"Cannot write {self.path}: the folder {self.path.parent} does not exist; choose another path."
            )
        existed = self.path.exists()
        fd = _create_private(self.path, overwrite)
        exe = find_ffmpeg()
        try:
            if exe:
                self._recorder: _FfmpegRecorder | _OpenCvRecorder = _FfmpegRecorder(
                    exe, fd, self.path, self.width, self.height, self.fps
                )
            else:
                os.close(fd)
                fd = -1
                self._recorder = _OpenCvRecorder(self.path, self.width, self.height, self.fps)
                log.warning(
                    "ffmpeg is not installed, so %s is written with OpenCV and becomes playable only when "
                    "LiveCam stops normally (a crash or power cut loses it); install ffmpeg for a recording "
                    "that survives both.", self.path,
                )
        except BaseException:
            if fd >= 0:
                os.close(fd)
            if not existed:
                self.path.unlink(missing_ok=True)
            raise
        self.recorder: RecorderKind = self._recorder.kind
        self.description = f"file {self.path}"

    def _send(self, image: np.ndarray) -> None:
        if self.error is not None:
            raise OutputFailed(self.error)
        problem = self._recorder.write(image)
        if problem is not None:
            self._closed = True
            self.error = self._sentence(problem)  # the front end says it (sender.status), once
            raise OutputFailed(self.error)
        self.frames_written += 1

    def _sentence(self, problem: str) -> str:
        took = f"after {_duration(self.frames_written, self.fps)} ({self.frames_written} frames)"
        # ffmpeg's last fragment may be cut off and is trimmed; OpenCV stops while it can finish
        kept = ("the file keeps what was recorded up to its last whole second" if self.recorder == "ffmpeg"
                else "the file keeps what was recorded")
        if problem == "full":
            return (f"The disk is full: recording to {self.path} stopped {took}; {kept}. "
                    "Free some space or record to another disk.")
        if problem == "quota":
            return f"Your disk quota is used up: recording to {self.path} stopped {took}; {kept}."
        if problem == "too large":
            return (f"{self.path} reached the largest file this disk allows: recording stopped {took}; {kept}. "
                    "Record to a disk formatted with exFAT, NTFS, APFS or ext4.")
        return f"Recording to {self.path} stopped {took} ({problem}); {kept}."

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        problem = self._recorder.close()
        if problem is not None and self.error is None:
            self.error = self._sentence(problem)  # read by the front end after close


class NullOutput(Output):
    """Drops frames but counts them and keeps the last one (headless runs and tests)."""

    description = "no output"

    def __init__(self, width: int, height: int, fps: float = 30) -> None:
        super().__init__(width, height, fps)
        self.frames_sent = 0
        self.last: np.ndarray | None = None

    def _send(self, image: np.ndarray) -> None:
        self.frames_sent += 1
        self.last = image


class PreviewOutput(Output):
    """A PySide6 window showing the output.

    Build it on the main thread; ``send`` may be called from any thread (the picture is handed to
    the GUI thread through a queued signal). The main thread must run Qt's event loop: the GUI does
    that anyway; a CLI calls :meth:`exec`, which returns when the window is closed, or calls
    :meth:`pump` from its own wait loop.
    """

    def __init__(self, width: int, height: int, fps: float = 30, title: str = "LiveCam preview") -> None:
        super().__init__(width, height, fps)
        import os

        needs_display = platform.system() == "Linux" and not (
            os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or os.environ.get("QT_QPA_PLATFORM")
        )
        if needs_display:
            # Without this check Qt aborts the whole process when it finds no display.
            raise OutputError("The preview window needs PySide6 and a display, and there is no display here.")
        if threading.current_thread() is not threading.main_thread():
            raise OutputError("The preview window must be opened from the main thread.")
        try:
            from PySide6 import QtCore, QtGui, QtWidgets
        except ImportError as exc:
            raise OutputError(
                "The preview window needs PySide6 and a display; install it with pip install livecam[gui]."
            ) from exc

        class _Window(QtWidgets.QLabel):
            frame = QtCore.Signal(object)

            def __init__(self) -> None:
                super().__init__()
                self.frame.connect(self._show, QtCore.Qt.ConnectionType.QueuedConnection)

            def _show(self, image: np.ndarray) -> None:
                image = np.ascontiguousarray(image)
                h, w = image.shape[:2]
                qimage = QtGui.QImage(image.data, w, h, 3 * w, QtGui.QImage.Format.Format_BGR888)
                self.setPixmap(QtGui.QPixmap.fromImage(qimage))  # fromImage copies, so `image` may go

        self._app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
        self.window = _Window()
        self.window.setWindowTitle(title)
        self.window.resize(self.width, self.height)
        self.window.show()
        self.description = "preview window"

    def _send(self, image: np.ndarray) -> None:
        self.window.frame.emit(image)

    def exec(self) -> None:
        """Run Qt's event loop until the window is closed (for front ends without their own loop)."""
        self._app.exec()

    def pump(self) -> bool:
        """Show what was sent so far (run pending Qt events); False once the user closed the window.

        For a main thread that runs its own wait loop instead of :meth:`exec`; call it every few ms.
        """
        self._app.processEvents()
        return self.window.isVisible()

    def close(self) -> None:
        self.window.close()


OUTPUTS: dict[str, type[Output]] = {
    "virtualcam": VirtualCamOutput,
    "file": FileOutput,
    "null": NullOutput,
    "preview": PreviewOutput,
}


def _build(kind: str, settings: OutputSettings, width: int, height: int) -> Output:
    if kind not in OUTPUTS:
        raise OutputError(f"Unknown output {kind!r}; choose one of {', '.join(OUTPUTS)}.")
    cls = OUTPUTS[kind]
    if kind == "virtualcam":
        return cls(width, height, settings.fps, device=settings.device)
    if kind == "file":
        return cls(settings.path, width, height, settings.fps, overwrite=settings.overwrite)
    return cls(width, height, settings.fps)


def open_output(settings: OutputSettings, width: int, height: int) -> Output:
    """Open the output ``settings.kind`` names; a virtual camera that cannot be opened is replaced
    by a preview window, else the null output, with ``output.fallback_reason`` saying why.

    Nothing is recorded unless asked for: without a display the fallback sends frames nowhere and
    says how to record them instead.
    """
    try:
        return _build(settings.kind, settings, width, height)
    except OutputError as exc:
        if settings.kind != "virtualcam":
            raise
        reason = str(exc)
    log.warning("%s", reason)
    try:
        output = _build("preview", settings, width, height)
        log.warning("Showing the video in a preview window instead.")
    except OutputError as exc:
        log.info("No preview window either: %s", exc)
        output = _build("null", settings, width, height)
        log.warning(
            "Running without any video output (there is no display for a preview window either); "
            "to see the result, record it with --output file --output-file result.mp4."
        )
    output.fallback_reason = reason
    return output


SenderState = Literal["starting", "sending", "reopening", "paused", "failed"]
REOPEN_BACKOFF_START_S = 0.5
REOPEN_BACKOFF_MAX_S = 8.0


class PacedSender:
    """Sends the newest submitted frame to ``output`` at a fixed fps on its own thread.

    ``submit`` never blocks and keeps only the newest frame. Each tick sends it; if nothing new
    came since the last tick the previous frame is sent again (a repeat), so call apps see a
    steady rate. Pacing is a fixed-period monotonic clock waited on an Event, so the time ``send``
    itself takes is absorbed. (pyvirtualcam's ``sleep_until_next_frame`` is not used: after a
    pause or a lost device its fps estimate makes it send hundreds of frames back to back.)
    ``stop()`` sends a frame still pending, then ends the thread; closing the output is left to
    its owner.

    Trouble with the output is visible in ``state`` and, in words, in ``status`` (None while all is
    well; ``error`` is the same sentence, for front ends that show problems):

    - "reopening": a recoverable output (the virtual camera) failed; its handle is closed at once
      (never written again) and reopened with back-off, 0.5 s doubling to 8 s, until it is back.
    - "failed": any other output failed (a recording on a full disk); the thread ends and
      ``failed`` is set, so the front end can stop with the sentence and a non-zero exit.
    - "paused": :meth:`pause` was called because nobody watches; nothing is sent until
      :meth:`resume` and a newly submitted frame.
    """

    def __init__(self, output: Output, fps: float) -> None:
        if not fps > 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.output = output
        self.fps = float(fps)
        self.state: SenderState = "starting"
        self.status: str | None = None
        self.failed = threading.Event()
        self.reopen_attempts = 0  # attempts in the current outage
        self.resume_latency_s: float | None = None  # app opened the camera -> first frame out, last resume
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._pending: tuple[np.ndarray, float] | None = None
        self._current: np.ndarray | None = None
        self._paused = False
        self._resume_since: float | None = None
        self._next_reopen = 0.0
        self._reopen_delay = REOPEN_BACKOFF_START_S
        self._sent = 0
        self._repeats = 0
        self._dropped = 0
        self._send_times: collections.deque[float] = collections.deque(maxlen=max(2, int(2 * fps)))
        self._latencies: collections.deque[float] = collections.deque(maxlen=120)
        self._thread: threading.Thread | None = None

    @property
    def error(self) -> str | None:
        """The sentence about a lost or failed output, or None (paused is not a problem)."""
        return self.status if self.state in ("reopening", "failed") else None

    def start(self) -> PacedSender:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="paced sender", daemon=True)
            self._thread.start()
        return self

    def submit(self, image: np.ndarray, capture_t: float) -> None:
        """Hand over a processed frame and its capture time (``time.monotonic()``); never blocks."""
        self.output.check(image)  # wrong frames fail here, in the caller's thread, with a clear message
        with self._lock:
            if self._paused:
                return  # a frame finished while pausing: nobody is watching it
            if self._pending is not None:
                self._dropped += 1
            self._pending = (image, capture_t)
        self._wake.set()

    def pause(self, last: np.ndarray | None = None) -> None:
        """Stop sending (nobody watches); the output stays open. Frames submitted meanwhile are dropped.

        ``last`` (e.g. a "starting the camera" card) is sent once before the pause and repeated
        after :meth:`resume` until a new frame comes: a virtual camera hands its last frame to the
        next app that opens it, which must not be a picture of the room from before the pause.
        """
        if last is not None:
            self.output.check(last)
        with self._lock:
            self._paused = True
            self._current = None  # on resume, no stale frame goes out
            self._pending = None if last is None else (last, time.monotonic())
            if self.state not in ("failed", "reopening"):
                self.state, self.status = "paused", None
        self._wake.set()

    def resume(self, since: float | None = None) -> None:
        """Send again from the next submitted frame. ``since``: when the app opened the camera
        (``time.monotonic()``), to measure ``resume_latency_s``."""
        with self._lock:
            self._paused = False
            self._resume_since = since if since is not None else time.monotonic()
            self._send_times.clear()  # fps_out is measured afresh, not across the pause
            if self.state == "paused":
                self.state = "starting"
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)

    def __enter__(self) -> PacedSender:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def stats(self) -> dict[str, Any]:
        """fps_out (over the last ~2 s), frames_sent, repeats, dropped, latency_ms_median (or None),
        state and status."""
        with self._lock:
            times = list(self._send_times)
            latencies = list(self._latencies)
            sent, repeats, dropped = self._sent, self._repeats, self._dropped
            state, status = self.state, self.status
        fps_out = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else 0.0
        if state in ("paused", "reopening", "failed"):
            fps_out = 0.0
        return {
            "fps_out": fps_out,
            "frames_sent": sent,
            "repeats": repeats,
            "dropped": dropped,
            "latency_ms_median": 1000 * statistics.median(latencies) if latencies else None,
            "state": state,
            "status": status,
        }

    def _run(self) -> None:
        clock = FrameClock(self.fps, self._stop)
        while not self._stop.is_set():
            self._wake.clear()
            with self._lock:
                idle = self._pending is None and (self._paused or self._current is None)
            if idle:  # nothing to send yet (start, or paused): wait without ticking
                self._wake.wait()
                clock = FrameClock(self.fps, self._stop)
                continue
            if self.state == "reopening":
                self._try_reopen()
                if not clock.wait():
                    break
                continue
            self._tick()
            if self.state == "failed":
                return
            if not clock.wait():
                break
        if self._pending is not None and self.state not in ("reopening", "failed"):
            self._tick()  # the last frame handed over still goes out (an N-frame file run gets all N)

    def _tick(self) -> bool:
        """Send the newest frame, or repeat the previous one; True when the output took it."""
        with self._lock:
            pending, self._pending = self._pending, None
            if pending is not None:
                self._current = pending[0]
            current = self._current
        if current is None:
            return False
        try:
            self.output.send(current)
        except Exception as exc:
            self._output_broke(exc)
            return False
        now = time.monotonic()
        with self._lock:
            self._sent += 1
            self._send_times.append(now)
            if pending is None:
                self._repeats += 1
            else:
                self._latencies.append(now - pending[1])
            # After a resume, "sending" starts with the first new frame: until then the repeats
            # are the card shown while the source reopens. After a reopen, repeats count.
            fresh = pending is not None or self._resume_since is None
            if self.state != "sending" and not self._paused and fresh:
                self.state, self.status = "sending", None
                if self._resume_since is not None:
                    self.resume_latency_s = now - self._resume_since
                    self._resume_since = None
                    log.info("An app is watching: the first frame went out %.0f ms after it opened the camera.",
                             1000 * self.resume_latency_s)
        return True

    def _output_broke(self, exc: Exception) -> None:
        if not self.output.recoverable:
            sentence = str(exc) if isinstance(exc, OutputFailed) else (
                f"Sending to the {self.output.description} failed ({exc}); it was stopped.")
            with self._lock:
                self.state, self.status = "failed", sentence
            self.failed.set()
            return
        # Close the dead handle now: writing to it again could block or crash in the driver.
        log.warning("The %s stopped taking frames (%s); LiveCam reopens it.", self.output.description, exc)
        try:
            self.output.close()
        except Exception as close_exc:
            log.debug("closing the lost output failed: %s", close_exc)
        with self._lock:
            self.reopen_attempts = 0
            self._reopen_delay = REOPEN_BACKOFF_START_S
            self._next_reopen = time.monotonic() + self._reopen_delay
            self.state = "reopening"
            self.status = f"The {self.output.description} was lost; reopening it in {self._reopen_delay:g} s."

    def _try_reopen(self) -> None:
        now = time.monotonic()
        if now < self._next_reopen:
            return
        self.reopen_attempts += 1
        try:
            self.output.reopen()
        except Exception as exc:
            self._reopen_delay = min(self._reopen_delay * 2, REOPEN_BACKOFF_MAX_S)
            self._next_reopen = time.monotonic() + self._reopen_delay
            log.debug("reopening the output failed: %s", exc)
            with self._lock:
                self.status = (
                    f"The {self.output.description} was lost; reopening it "
                    f"(attempt {self.reopen_attempts} failed, next in {self._reopen_delay:g} s)."
                )
            return
        log.warning("The %s is back after %d attempt%s.", self.output.description, self.reopen_attempts,
                    "" if self.reopen_attempts == 1 else "s")
        with self._lock:
            self.state, self.status = "starting", None  # "sending" once the next frame goes out
