"""Where processed frames go: the "LiveCam" virtual camera, an MP4 file, a preview window, or nowhere.

Outputs are registered by name in ``OUTPUTS``; ``open_output`` builds the one the settings ask
for and, when the virtual camera cannot be opened, says how to fix that in one sentence and falls
back to a preview window, then to the null output, so LiveCam still runs.

:class:`PacedSender` owns the output frame clock: call apps get a steady fps whatever the
processing speed (the last frame is repeated when processing is late, stale frames are dropped
when it is early). Nothing in LiveCam calls ``time.sleep``: this sender paces with pyvirtualcam's
``sleep_until_next_frame`` or with :class:`livecam.capture.FrameClock`, which waits on an Event.
"""

from __future__ import annotations

import collections
import logging
import platform
import statistics
import threading
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from livecam import devices
from livecam.capture import FrameClock
from livecam.settings import OutputSettings

log = logging.getLogger(__name__)


class OutputError(RuntimeError):
    """An output cannot be opened; the message is one sentence saying what to do."""


class Output:
    """Base of all outputs: ``send(image_bgr)``, ``close()``, ``description``; a context manager.

    The frame check is built once in the constructor so ``send`` stays a couple of comparisons.
    """

    description = "output"
    fallback_reason: str | None = None  # set by open_output when this output replaced the requested one

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
    (tests register a recording one).
    """

    def __init__(self, width: int, height: int, fps: float = 30, device: str = "", backend: str | None = None) -> None:
        super().__init__(width, height, fps)
        try:
            import pyvirtualcam
            from pyvirtualcam.camera import BACKENDS
        except ImportError as exc:  # the native module can fail to load even when the package is there
            raise OutputError(
                f"pyvirtualcam cannot be loaded ({exc}); reinstall it with pip install pyvirtualcam."
            ) from exc
        backend = backend or _default_backend()
        if backend not in BACKENDS:
            raise OutputError(
                f"pyvirtualcam has no {backend!r} backend on this system; use --output preview or file instead."
            )
        linux = platform.system() == "Linux"
        chosen = device or None
        if chosen is None and linux:
            chosen = devices.find_livecam_device()
            if chosen is None and devices.list_virtual_cameras():
                log.warning('No v4l2loopback device is labelled "LiveCam"; using the first one pyvirtualcam finds.')
        try:
            self.camera = pyvirtualcam.Camera(
                self.width, self.height, self.fps, fmt=pyvirtualcam.PixelFormat.BGR, device=chosen, backend=backend
            )
        except RuntimeError as exc:
            raise OutputError(_virtualcam_fix(str(exc), chosen)) from exc
        label = devices.virtual_camera_label(self.camera.device) if linux else None
        self.description = f"virtual camera {self.camera.device}" + (f" ({label})" if label else "")

    def _send(self, image: np.ndarray) -> None:
        self.camera.send(image)

    def sleep_until_next_frame(self) -> None:
        self.camera.sleep_until_next_frame()

    def close(self) -> None:
        self.camera.close()


class FileOutput(Output):
    """An MP4 file (OpenCV's mp4v encoder, which every opencv-python wheel has)."""

    def __init__(self, path: str | Path, width: int, height: int, fps: float = 30, max_frames: int = 0) -> None:
        super().__init__(width, height, fps)
        self.path = Path(path).expanduser()
        self.max_frames = max_frames  # 0 = no limit; the headless fallback keeps only a short sample
        if not self.path.parent.is_dir():
            raise OutputError(
                f"Cannot write {self.path}: the folder {self.path.parent} does not exist; choose another path."
            )
        self._writer = cv2.VideoWriter(
            str(self.path), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (self.width, self.height)
        )
        if not self._writer.isOpened():
            self._writer.release()
            raise OutputError(
                f"Cannot write {self.path} (not writable, or not an .mp4 name); choose another path ending in .mp4."
            )
        self.frames_written = 0
        self.description = f"file {self.path}"

    def _send(self, image: np.ndarray) -> None:
        if self.max_frames and self.frames_written >= self.max_frames:
            return
        self._writer.write(image)
        self.frames_written += 1
        if self.frames_written == self.max_frames:
            self._writer.release()
            log.info("Wrote a %d-frame sample to %s; processing goes on without output.", self.max_frames, self.path)

    def close(self) -> None:
        self._writer.release()


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
        return cls(settings.path, width, height, settings.fps)
    return cls(width, height, settings.fps)


SAMPLE_FRAMES = 300  # 10 s at 30 fps


def _sample_path() -> Path:
    from livecam.settings import config_dir

    folder = config_dir()
    folder.mkdir(parents=True, exist_ok=True)
    return folder / "livecam-sample.mp4"


def open_output(settings: OutputSettings, width: int, height: int) -> Output:
    """Open the output ``settings.kind`` names; a virtual camera that cannot be opened is replaced
    by a preview window, else the null output, with ``output.fallback_reason`` saying why."""
    try:
        return _build(settings.kind, settings, width, height)
    except OutputError as exc:
        if settings.kind != "virtualcam":
            raise
        reason = str(exc)
    log.warning("%s", reason)
    for kind in ("preview", "sample", "null"):
        try:
            if kind == "sample":
                output = FileOutput(_sample_path(), width, height, settings.fps, max_frames=SAMPLE_FRAMES)
            else:
                output = _build(kind, settings, width, height)
        except (OutputError, OSError) as exc:
            log.info("No %s output either: %s", kind, exc)
            continue
        output.fallback_reason = reason
        if kind == "preview":
            log.warning("Showing the video in a preview window instead.")
        elif kind == "sample":
            log.warning("There is no display for a preview window either; writing the first %d frames to %s "
                        "so you can see the result.", SAMPLE_FRAMES, output.path)
        else:
            log.warning("Running without any video output (there is no display for a preview window either).")
        return output
    raise AssertionError("the null output cannot fail")


class PacedSender:
    """Sends the newest submitted frame to ``output`` at a fixed fps on its own thread.

    ``submit`` never blocks and keeps only the newest frame. Each tick sends it; if nothing new
    came since the last tick the previous frame is sent again (a repeat), so call apps see a
    steady rate. Pacing uses pyvirtualcam's ``sleep_until_next_frame`` for a virtual camera (it
    adapts to the time ``send`` itself takes), else a monotonic clock waited on an Event.
    ``stop()`` sends a frame still pending, then ends the thread; closing the output is left to
    its owner.
    """

    def __init__(self, output: Output, fps: float) -> None:
        if not fps > 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.output = output
        self.fps = float(fps)
        self.error: str | None = None
        self._lock = threading.Lock()
        self._have_frame = threading.Event()
        self._stop = threading.Event()
        self._pending: tuple[np.ndarray, float] | None = None
        self._current: np.ndarray | None = None
        self._sent = 0
        self._repeats = 0
        self._dropped = 0
        self._send_times: collections.deque[float] = collections.deque(maxlen=max(2, int(2 * fps)))
        self._latencies: collections.deque[float] = collections.deque(maxlen=120)
        self._thread: threading.Thread | None = None

    def start(self) -> PacedSender:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="paced sender", daemon=True)
            self._thread.start()
        return self

    def submit(self, image: np.ndarray, capture_t: float) -> None:
        """Hand over a processed frame and its capture time (``time.monotonic()``); never blocks."""
        self.output.check(image)  # wrong frames fail here, in the caller's thread, with a clear message
        with self._lock:
            if self._pending is not None:
                self._dropped += 1
            self._pending = (image, capture_t)
        self._have_frame.set()

    def stop(self) -> None:
        self._stop.set()
        self._have_frame.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)

    def __enter__(self) -> PacedSender:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def stats(self) -> dict[str, Any]:
        """fps_out (over the last ~2 s), frames_sent, repeats, dropped, latency_ms_median (or None)."""
        with self._lock:
            times = list(self._send_times)
            latencies = list(self._latencies)
            sent, repeats, dropped = self._sent, self._repeats, self._dropped
        fps_out = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else 0.0
        return {
            "fps_out": fps_out,
            "frames_sent": sent,
            "repeats": repeats,
            "dropped": dropped,
            "latency_ms_median": 1000 * statistics.median(latencies) if latencies else None,
        }

    def _run(self) -> None:
        self._have_frame.wait()  # nothing goes out before the first real frame
        uses_camera_clock = isinstance(self.output, VirtualCamOutput)
        clock = FrameClock(self.fps, self._stop)
        while not self._stop.is_set():
            sent = self._tick()
            if uses_camera_clock and sent:
                self.output.sleep_until_next_frame()
            elif not clock.wait():
                break
        if self._pending is not None:
            self._tick()  # the last frame handed over still goes out (an N-frame file run gets all N)

    def _tick(self) -> bool:
        """Send the newest frame, or repeat the previous one; True when the output took it."""
        with self._lock:
            pending, self._pending = self._pending, None
        if pending is not None:
            self._current, capture_t = pending
        try:
            self.output.send(self._current)
        except Exception as exc:  # a device that vanished mid-call; keep the clock, report once
            if self.error is None:
                self.error = f"Sending to the {self.output.description} failed ({exc}); LiveCam keeps trying."
                log.warning("%s", self.error)
            return False
        now = time.monotonic()
        with self._lock:
            self._sent += 1
            self._send_times.append(now)
            if pending is None:
                self._repeats += 1
            else:
                self._latencies.append(now - capture_t)
        return True
