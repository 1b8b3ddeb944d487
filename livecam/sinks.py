"""Where processed frames go, apart from files: the "LiveCam" virtual camera, a preview window, or nowhere.

Every output is an :class:`Output`: ``send(image_bgr, t)``, ``close()``, ``description``. Recordings
live in :mod:`livecam.recording`, pacing in :mod:`livecam.pacing`, the choice between them in
:mod:`livecam.output`.
"""

from __future__ import annotations

import functools
import logging
import os
import platform
import threading
import weakref
from typing import Any

import cv2
import numpy as np

from livecam import devices

log = logging.getLogger("livecam.output")

OPEN_LIMIT_S = 5.0  # a virtual camera not open after this long hangs in its driver (an open takes milliseconds)
CLOSE_LIMIT_S = 0.5  # ... and one not closed after this long (a close takes microseconds)

class OutputError(RuntimeError):
    """An output cannot be opened; the message is one sentence saying what to do."""


class OutputFailed(OutputError):
    """An open output stopped for good (e.g. the disk filled up); the message says what happened."""


def already_sending(holder: str | None = None, device: str | None = None) -> str:
    """The one sentence for a second LiveCam on a virtual camera another LiveCam already sends to:
    two would take turns on it frame by frame (v4l2loopback lets any number of programs write one
    device), and a call would see the other one's picture between this one's."""
    who = f"process {holder}, " if holder else ""
    on = f" {device}" if device else ""
    return (f"LiveCam is already running ({who}the tray app or livecam run) and sends to the virtual camera{on}; two "
            "would take turns on it, so this one does not start: quit the other first, or use --output preview or "
            "--output file.")


def _hold_device(device: Any) -> int | None:
    """A descriptor of the device node ``device`` holding its exclusive flock (released when it is closed), or
    None where the node cannot be locked (no flock, no file we can open, OBS's camera): then nothing is
    refused. Raises OutputError when another process holds it: the lock is on the node itself, so two
    LiveCams are kept apart whatever they called it (``--device /dev/video10`` and the one labelled LiveCam)."""
    from livecam.private_files import try_flock

    if not isinstance(device, str) or not os.path.isabs(device):
        return None  # no device node (OBS's camera)
    try:
        # Non-blocking: a FIFO (or a driver) must not hold the open; read-only: nothing is written through it.
        fd = os.open(device, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    held = try_flock(fd)
    if held:
        return fd
    os.close(fd)
    if held is False:
        raise OutputError(already_sending(device=device))
    return None  # ENOLCK and the like: no lock to go by


def _release(fd: int | None) -> None:
    if fd is not None:
        try:
            os.close(fd)  # the kernel drops the flock with it (and with a crashed process)
        except OSError:
            pass


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

    def send(self, image: np.ndarray, t: float | None = None) -> None:
        """Send one frame; ``t`` is when it is due (``time.monotonic()``), which only recordings use."""
        self.check(image)
        self._send(image)

    def _send(self, image: np.ndarray) -> None:
        raise NotImplementedError

    def reopen(self) -> None:
        raise OutputError(f"The {self.description} cannot be reopened.")

    def close(self) -> None:
        pass

    def abort(self) -> None:
        """Called from another thread when ``send`` has hung past its deadline: unblock it if possible
        (a recording kills its encoder). The default can do nothing: the hung thread is abandoned."""

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
        return devices.no_loopback_sentence()  # the steps still needed here, as livecam doctor gives them
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
    # First opens given up on (past OPEN_LIMIT_S) whose driver call has not returned yet. While one is still blocked, a
    # new first open fails at once: an awaited camera (AwaitedOutput) is tried again every few seconds, and each try
    # left one more thread blocked in the driver for good.
    _given_up: list[Any] = []

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
        # The device's picture is I420 (BGR is converted in pyvirtualcam), one colour sample per 2x2 pixels;
        # pyvirtualcam sizes its chroma rows width // 2, so an odd size left every colour row a sample off
        # from the one above (the picture sheared in colour) and v4l2loopback an odd format. The camera is
        # opened one pixel larger where a side is odd, and each frame gets its last row/column repeated.
        self._pad = (self.height % 2, self.width % 2)
        self.camera: Any = None
        self._held: int | None = None  # the device node's flock, held while the camera is ours
        self._opening = threading.Lock()
        self._abandoned = False  # the first open did not return in time: what it opens later is closed
        self._open_in_time()

    def _open_in_time(self) -> None:
        """The first open, on a thread of its own for at most OPEN_LIMIT_S. A driver that blocked in it
        (a loopback device another program holds in a bad state) held ``livecam run`` and the tray's
        start for as long as it blocked, with no sentence; now the start goes on without the camera
        (open_output's fallback says why). A reopen is already off the sender's thread (pacing)."""
        from livecam.oneshot import STOP_ASKED, OneShot

        hung = (f"The virtual camera did not open within {OPEN_LIMIT_S:g} s (its driver does not answer); close other "
                f"programs that feed it, or reload the module with: {devices.RELOAD_FIX}")
        VirtualCamOutput._given_up[:] = [a for a in VirtualCamOutput._given_up if not a.done.is_set()]
        if VirtualCamOutput._given_up:
            raise OutputError(hung)
        attempt = OneShot(self._open_camera, name="livecam-virtualcam-open")
        if not attempt.finished_within(OPEN_LIMIT_S, give_up=STOP_ASKED):
            with self._opening:
                if not attempt.done.is_set():
                    self._abandoned = True
                    VirtualCamOutput._given_up.append(attempt)
                    if STOP_ASKED.is_set():
                        raise OutputError("LiveCam was stopped while the virtual camera was still opening.")
                    raise OutputError(hung)
        if attempt.error is not None:
            raise attempt.error

    def _open_camera(self) -> None:
        linux = platform.system() == "Linux"
        chosen = self._requested
        if chosen is None and linux:
            chosen = devices.find_livecam_device()  # looked up again on a reopen: a reloaded module may renumber
            if chosen is None and devices.list_virtual_cameras():
                log.warning('No v4l2loopback device is labelled "LiveCam"; using the first one pyvirtualcam finds.')
        try:
            camera = self._pyvirtualcam.Camera(
                self.width + self._pad[1], self.height + self._pad[0], self.fps,
                fmt=self._pyvirtualcam.PixelFormat.BGR, device=chosen, backend=self._backend,
            )
        except RuntimeError as exc:
            raise OutputError(_virtualcam_fix(str(exc), chosen)) from exc
        # Locked once open: only then is the node known (pyvirtualcam picks it when none is named).
        try:
            held = _hold_device(getattr(camera, "device", None))
        except OutputError:
            _let_go(camera, "a virtual camera another LiveCam sends to")
            raise
        with self._opening:
            if self._abandoned:  # opened after the start gave up on it: nobody sends to it, so it is let go
                _let_go(camera, "a virtual camera that opened too late")
                _release(held)
                return
            self.camera, self._held = camera, held
        label = devices.virtual_camera_label(camera.device) if linux else None
        self.description = f"virtual camera {camera.device}" + (f" ({label})" if label else "")

    @property
    def device_path(self) -> str | None:
        """The file apps open to read the camera (Linux's device node), for watching who reads it;
        None where the camera is no file (OBS) or while it is lost."""
        device = getattr(self.camera, "device", None)
        return device if isinstance(device, str) and os.path.isabs(device) and os.path.exists(device) else None

    def _send(self, image: np.ndarray) -> None:
        camera = self.camera  # once: a close or an abort on another thread may clear it meanwhile
        if camera is None:
            raise OutputError(f"the {self.description} is closed")
        if any(self._pad):
            image = cv2.copyMakeBorder(image, 0, self._pad[0], 0, self._pad[1], cv2.BORDER_REPLICATE)
        camera.send(image)

    def reopen(self) -> None:
        self._close_camera()
        self._open_camera()

    def abort(self) -> None:
        # A handle stuck in the driver could block in close() too: it is dropped, never closed.
        self.camera = None

    def _close_camera(self) -> None:
        camera, self.camera = self.camera, None
        held, self._held = self._held, None
        if camera is not None:
            _let_go(camera, f"the {self.description}")
        _release(held)  # after the camera: another LiveCam may take the device only once it is let go

    def close(self) -> None:
        """Close the camera, waiting CLOSE_LIMIT_S at most: a driver that blocked in close held a stop until
        `livecam run`'s 2 s watchdog ended the process ("Stopping took longer than 2 s", exit 1), and the
        tray's control thread for good (off never came, a later on or Quit queued behind it)."""
        from livecam.oneshot import OneShot

        closing = OneShot(self._close_camera, name="livecam-virtualcam-close")
        if not closing.finished_within(CLOSE_LIMIT_S):
            log.warning("The %s did not close within %g s (its driver does not answer); LiveCam lets go of it.",
                        self.description, CLOSE_LIMIT_S)


class AwaitedOutput(Output):
    """The virtual camera the user chose, not there yet (v4l2loopback not loaded, OBS's camera not started): frames
    go to ``stand_in`` (a preview window, or nowhere) while the sender's reopen machinery calls :meth:`reopen`
    with back-off, which tries ``open_camera`` again; once it opens, frames go to it and the stand-in closes.

    Before, a first open that failed put the stand-in in its place for the whole run, though the device came up a
    second later. ``awaiting`` is True until then."""

    recoverable = True

    def __init__(self, stand_in: Output, open_camera: Any) -> None:
        super().__init__(stand_in.width, stand_in.height, stand_in.fps)
        self.stand_in = stand_in
        self._open_camera = open_camera
        self.camera: Output | None = None
        self._lock = threading.Lock()
        self._closed = False
        self._on_open: list[Any] = []
        if hasattr(stand_in, "pump"):
            self.pump = self._pump  # a preview's events are run by the caller's loop (see PreviewOutput.pump)

    @property
    def awaiting(self) -> bool:
        return self.camera is None

    @property
    def description(self) -> str:  # type: ignore[override]
        return (self.camera or self.stand_in).description

    def _send(self, image: np.ndarray) -> None:
        (self.camera or self.stand_in).send(image)

    def reopen(self) -> None:
        """Open the awaited camera (OutputError while it is still not there), or reopen it once it was lost."""
        if self.camera is not None:
            self.camera.reopen()
            return
        try:
            camera = self._open_camera()
        except OutputError as exc:
            if self.fallback_reason is None:  # its first open (open_output's wait=False): why is said once, here
                self.fallback_reason = str(exc)
                log.warning("%s", exc)
            raise
        with self._lock:
            if self._closed:  # the run ended while it opened: nobody sends to it
                camera.close()
                return
            self.camera = camera
        instead = "" if isinstance(self.stand_in, NullOutput) else f" instead of the {self.stand_in.description}"
        log.warning("The virtual camera is there now: LiveCam sends to the %s%s.", camera.description, instead)
        self.stand_in.close()
        with self._lock:
            callbacks, self._on_open = self._on_open, []
        for callback in callbacks:
            _call_quietly(callback)

    def when_open(self, callback: Any) -> None:
        """Call ``callback()`` once the awaited camera has opened (on the thread that opened it), or now if it has.

        What starts with the camera starts then: the idle watch on its device node (idle.watch_output), the tray's
        sentence about where frames go. Not called once this output is closed."""
        with self._lock:
            if self._closed:
                return
            if self.camera is None:
                self._on_open.append(callback)
                return
        _call_quietly(callback)

    @property
    def meanwhile(self) -> str:
        """Where the video goes until the camera is there, in words."""
        if isinstance(self.stand_in, NullOutput):
            return "nothing is sent meanwhile"
        return f"the video shows in the {self.stand_in.description} meanwhile"

    def abort(self) -> None:
        (self.camera or self.stand_in).abort()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._on_open = []
            camera = self.camera
        if camera is not None:
            camera.close()
        self.stand_in.close()

    def _pump(self) -> bool:
        """The preview's events; its window closed by the user ends the run (False) only while it stands in."""
        shown = self.stand_in.pump()  # type: ignore[attr-defined]
        return shown or self.camera is not None

    @property
    def device_path(self) -> str | None:
        return getattr(self.camera, "device_path", None)


def _call_quietly(callback: Any) -> None:
    """A follower of the camera's open that fails is said in the log; the camera stays open and gets the frames."""
    try:
        callback()
    except Exception:  # noqa: BLE001
        log.exception("A step after the virtual camera opened failed")


def _let_go(camera: Any, what: str) -> None:
    """Close a pyvirtualcam camera. A vanished device may fail to close: the handle is dropped either way,
    and its finalizer is told it is closed, or it closed it again when collected and printed "Exception
    ignored in Camera.__del__" with a traceback on the console."""
    try:
        camera.close()
    except Exception as exc:  # noqa: BLE001
        log.debug("closing %s failed: %s", what, exc)
        if getattr(camera, "_backend", None) is not None:
            camera._backend = None  # pyvirtualcam's own mark of a closed camera


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
    the GUI thread through :mod:`livecam.gui.relay`). The main thread must run Qt's event loop: the GUI does
    that anyway; a CLI calls :meth:`exec`, which returns when the window is closed, or calls
    :meth:`pump` from its own wait loop.

    The window is the relay's to keep and free, on the GUI thread: this output holds it weakly. The sender
    thread holds this output and often lets go of it last; the window, freed with it there, was a widget
    deleted off the GUI thread while the GUI thread delivered it a queued frame (a bus error, 1 in ~20
    closes). Frames go to the relay, never to a signal of the window, for the same reason.
    """

    def __init__(self, width: int, height: int, fps: float = 30, title: str = "LiveCam preview") -> None:
        super().__init__(width, height, fps)
        needs_display = platform.system() == "Linux" and not (
            os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or os.environ.get("QT_QPA_PLATFORM")
        )
        if needs_display:
            # Without this check Qt aborts the whole process when it finds no display.
            raise OutputError("The preview window needs PySide6 and a display, and there is no display here; to see "
                              "the result, run LiveCam from a desktop or record it with --output file "
                              "--output-file result.mp4.")
        if threading.current_thread() is not threading.main_thread():
            raise OutputError("The preview window must be opened from the main thread.")
        try:
            window_type = _preview_window_type()
        except ImportError as exc:
            raise OutputError(
                "The preview window needs PySide6 and a display; install it with pip install livecam[gui]."
            ) from exc
        from livecam.gui import relay
        from livecam.qt_app import NoWindows, application

        try:
            self._app = application()
        except NoWindows as exc:
            raise OutputError(f"The preview window cannot open here: {exc}; to see the result, record it with "
                              "--output file --output-file result.mp4.") from None
        self._relay = relay
        window = window_type()
        window.setWindowTitle(title)
        window.resize(self.width, self.height)
        window.show()
        self._window = relay.hold(window)
        # One frame waits at a time, the newest: while the main thread does not pump (the up to 5 s close at
        # the end of a run) every frame sent was queued, 2.7 MB each at 720p, 30 a second.
        self._mailbox = window.mailbox
        self._show = weakref.WeakMethod(window.show_newest)  # made here: no strong reference off the GUI thread
        self._release = weakref.finalize(self, relay.release, self._window)
        self.description = "preview window"

    @property
    def window(self) -> Any:
        """The window (on the GUI thread only), or None once this output is closed."""
        return self._window()

    def _send(self, image: np.ndarray) -> None:
        if self._mailbox.put(image):
            self._relay.answer(self._show)

    def exec(self) -> None:
        """Run Qt's event loop until the window is closed (for front ends without their own loop)."""
        self._app.exec()

    def pump(self) -> bool:
        """Show what was sent so far (run pending Qt events); False once the user closed the window.

        For a main thread that runs its own wait loop instead of :meth:`exec`; call it every few ms.
        """
        self._app.processEvents()
        window = self.window
        return window is not None and window.isVisible()

    def close(self) -> None:
        """Close and free the window: at once on the GUI thread, from another thread when the GUI's events run."""
        self._release()


@functools.cache
def _preview_window_type() -> type:
    """The preview's window class, made once (PySide6 is optional, so it is not imported with this module)."""
    from PySide6 import QtGui, QtWidgets

    class PreviewWindow(QtWidgets.QLabel):
        def __init__(self) -> None:
            super().__init__()
            self.mailbox = _Mailbox()

        def show_newest(self) -> None:
            image = self.mailbox.take()
            if image is not None:
                self.show_frame(image)

        def show_frame(self, image: np.ndarray) -> None:
            image = np.ascontiguousarray(image)
            h, w = image.shape[:2]
            qimage = QtGui.QImage(image.data, w, h, 3 * w, QtGui.QImage.Format.Format_BGR888)
            self.setPixmap(QtGui.QPixmap.fromImage(qimage))  # fromImage copies, so `image` may go

    return PreviewWindow


class _Mailbox:
    """The newest frame for the preview, handed from the sender's thread to the GUI thread; ``put`` says
    whether the GUI thread must be woken (it is not yet)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._image: np.ndarray | None = None
        self._woken = False

    def put(self, image: np.ndarray) -> bool:
        with self._lock:
            self._image = image
            wake, self._woken = not self._woken, True
        return wake

    def take(self) -> np.ndarray | None:
        with self._lock:
            image, self._image = self._image, None
            self._woken = False
        return image
