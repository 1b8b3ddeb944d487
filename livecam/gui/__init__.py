"""The tray app (``livecam gui``). PySide6 is optional: without it this says how to get it."""
from __future__ import annotations

import os
import signal
import sys

from livecam.settings import Settings

INSTALL_HINT = "The tray app needs PySide6; install it with: pip install 'livecam[gui]' (or pip install PySide6-Essentials)."


def _no_display() -> bool:
    if sys.platform in ("win32", "darwin"):
        return False
    return not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or os.environ.get("QT_QPA_PLATFORM"))


def run_gui(settings: Settings) -> int:
    """Run the tray app until Quit; returns the process exit code."""
    try:
        from PySide6 import QtCore, QtWidgets
    except ImportError as exc:
        print(f"livecam: {INSTALL_HINT} ({exc})", file=sys.stderr)
        return 1
    if _no_display():
        # Qt would abort the whole process here; say what to do instead.
        print("livecam: there is no desktop session (DISPLAY and WAYLAND_DISPLAY are not set); "
              "use livecam run, or start the tray app from your desktop.", file=sys.stderr)
        return 1
    from livecam.gui.app import LiveCamApp
    from livecam.gui.icons import state_icon

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    app.setApplicationName("LiveCam")
    app.setQuitOnLastWindowClosed(False)  # closing the settings window keeps LiveCam in the tray
    app.setWindowIcon(state_icon("off"))
    live = LiveCamApp(settings)
    # Ctrl+C in the terminal: Python only sees the signal when Qt lets the interpreter run now and then.
    signal.signal(signal.SIGINT, lambda *_: live.quit())
    heartbeat = QtCore.QTimer(interval=200)
    heartbeat.timeout.connect(lambda: None)
    heartbeat.start()
    live.start()
    code = app.exec()
    live.shutdown()
    return code
