"""The tray app (``livecam gui``). PySide6 is optional: without it this says how to get it."""
from __future__ import annotations

import contextlib
import os
import sys

from livecam.qt_platform import no_display
from livecam.settings import Settings, settings_path

INSTALL_HINT = (
    "The tray app needs PySide6; install it with: pip install 'livecam[gui]' (or pip install PySide6-Essentials)."
)


UNSEEN_PLATFORMS = ("offscreen", "minimal", "minimalegl")


def pyside_drops_none() -> bool:
    """True for the PySide6 build that frees Python's None a little on every Qt call returning nothing
    (6.12.0 on Python 3.11 and older): such an app aborts with "deallocating None" after a while."""
    if sys.version_info >= (3, 12):
        return False  # None is immortal there, so the bug is harmless
    from PySide6 import QtCore

    probe = QtCore.QObject()
    before = sys.getrefcount(None)
    for _ in range(40):
        probe.setObjectName("probe")
    return sys.getrefcount(None) < before - 20


def pyside_problem() -> str | None:
    """A sentence saying why this PySide6 cannot run the tray app, or None when it can."""
    try:
        import PySide6
    except ImportError as exc:
        return f"{INSTALL_HINT} ({exc})"
    if pyside_drops_none():
        return (f"PySide6 {PySide6.__version__} has a bug on Python {sys.version_info.major}.{sys.version_info.minor} "
                "that makes the tray app crash after a few minutes; install another version with: "
                f"pip install 'PySide6-Essentials!={PySide6.__version__}'")
    return None


def tell_on_desktop(sentence: str) -> bool:
    """Show a sentence that stops the tray app from starting in a message box when nobody reads
    stderr (started from a desktop menu or autostart, no terminal); True when it was shown."""
    try:
        if sys.stderr is not None and sys.stderr.isatty():
            return False
    except (ValueError, OSError):
        pass  # a closed stream: nobody reads it either
    # Offscreen and minimal platforms draw for nobody: a modal box there would wait for ever.
    if no_display() or os.environ.get("QT_QPA_PLATFORM", "").split(":")[0] in UNSEEN_PLATFORMS or pyside_problem():
        return False
    from PySide6 import QtWidgets

    from livecam.qt_app import application

    application(sys.argv[:1])
    QtWidgets.QMessageBox.critical(None, "LiveCam", sentence)
    return True


def run_gui(settings: Settings, frames: int = 0, one_sender=contextlib.nullcontext) -> int:
    """Run the tray app until Quit, then end the process with its exit code; returns the exit code only
    where the tray app cannot start (or runs as ``livecam run`` instead).

    ``one_sender()`` is held for the rest of the process: a context yielding None while this is the only
    LiveCam sending to its virtual camera, else the exit code once it has said why not (cli.cmd_gui). It is
    entered after the tray socket is claimed: two trays started at the same moment on the virtual camera
    were parted by it first, and the one that came second exited 2 with "already running" instead of
    showing the first one's window, as it does for every other output."""
    problem = pyside_problem()
    if problem:
        print(f"livecam: {problem}", file=sys.stderr)
        return 1
    from PySide6 import QtCore

    if no_display():
        # Qt would abort the whole process here; say what to do instead.
        print("livecam: there is no desktop session (DISPLAY and WAYLAND_DISPLAY are not set); "
              "use livecam run, or start the tray app from your desktop.", file=sys.stderr)
        return 1
    from livecam.qt_app import NoWindows, application

    try:
        app = application(sys.argv[:1])
    except NoWindows as exc:
        # Qt would abort (exit 134) with a misleading hint; say what is wrong and keep LiveCam useful.
        with one_sender() as refused:
            if refused is not None:
                return refused
            print("livecam: the tray app cannot start here, so LiveCam is running without the tray "
                  f"(as `livecam run`; Ctrl+C stops it): {exc}", file=sys.stderr)
            from livecam.app import run_live

            return run_live(settings, frames=frames)
    from livecam.gui.app import LiveCamApp
    from livecam.gui.icons import state_icon

    app.setApplicationName("LiveCam")
    app.setQuitOnLastWindowClosed(False)  # closing the settings window keeps LiveCam in the tray
    app.setWindowIcon(state_icon("off"))
    from livecam.gui.single_instance import ALREADY_SHOWN, STARTING_MS, ShowRequests, show_running_tray

    # A second `livecam gui` brings up this window (see cli.cmd_gui); its requests wait for the event loop.
    requests = ShowRequests(lambda: live.show_settings())
    if requests.other_tray:
        # Another tray got here first, started at the same moment (both found no tray to ask): that one runs.
        if show_running_tray(STARTING_MS):
            print(ALREADY_SHOWN)
            return 0
        with one_sender() as refused:  # it does not answer: where it holds the virtual camera, its lock names it
            if refused is not None:
                return refused
        print("livecam: LiveCam is already running (its tray app started at the same moment and does not answer "
              "yet); use its tray icon, or quit it before starting LiveCam again.", file=sys.stderr)
        return 2
    held = contextlib.ExitStack()  # left to the process's end: the kernel drops the lock with it
    refused = held.enter_context(one_sender())
    if refused is not None:  # `livecam run` (or a tray with no socket to claim) sends to that camera
        requests.close()
        held.close()
        return refused
    # No settings file yet: nothing has been set up here (one is written once anything is changed).
    live = LiveCamApp(settings, first_start=not os.path.lexists(settings_path()))
    # Ctrl+C in the terminal, the terminal closing (SIGHUP) or the session ending: quit cleanly,
    # releasing the camera and finishing a recording, as `run` does (an ignored signal, as under
    # nohup, stays ignored). Python only sees a signal when Qt lets the interpreter run now and
    # then, hence the heartbeat timer. Python runs the handler between two lines of whatever slot
    # the GUI thread is in (a frame being shown, a file check's answer, a save): Quit, run there,
    # hid the windows and waited for the camera's release inside it; it waits for the event loop.
    from livecam.stop_signals import catch_stop_signals

    catch_stop_signals(lambda *_: QtCore.QTimer.singleShot(0, live.quit))
    heartbeat = QtCore.QTimer(interval=200)
    heartbeat.timeout.connect(lambda: None)
    heartbeat.start()
    from livecam.gui.gc_thread import GuiThreadCollector

    collector = GuiThreadCollector()
    collector.start()
    live.start()
    code = app.exec()
    requests.close()
    live.shutdown()
    collector.stop()
    # All Quit must do is done: the settings saved, the camera, the virtual camera and a recording
    # closed. What may still run is work nobody waits for, on a thread the interpreter's exit joins:
    # the first start's numba compile (~20 s) held the process that long after Quit. As `run` does
    # once asked to stop, the process ends here.
    from livecam.app import _flush_logs

    _flush_logs()
    os._exit(code)
