"""Wires the tray app together: settings store → bridge (live loop) ← tray/control window, settings
window. Nothing here draws or processes; it only connects the parts and handles Quit."""
from __future__ import annotations

import logging
import threading
import time
import weakref

from PySide6 import QtCore, QtWidgets

from livecam.gui import relay
from livecam.gui.actions import LiveCamActions
from livecam.gui.bridge import LiveBridge
from livecam.gui.icons import state_icon
from livecam.gui.settings_window import SettingsWindow, run_checks
from livecam.gui.store import SettingsStore
from livecam.gui.tray import ControlWindow, make_front
from livecam.settings import Settings

log = logging.getLogger(__name__)

CHECKS_AT_EXIT_S = 5.0  # how long quitting waits for a file check still running


class LiveCamApp(QtCore.QObject):
    """The running tray app. ``bridge`` can be injected (tests pass one with a fake source)."""

    def __init__(self, settings: Settings, bridge: LiveBridge | None = None, persist: bool = True,
                 prefer_tray: bool = True, first_start: bool = False) -> None:
        super().__init__()
        self._first_start = first_start
        self.store = SettingsStore(settings, persist=persist, parent=self)
        self.bridge = bridge or LiveBridge(settings, parent=self)
        if self.bridge.parent() is None:
            # A bridge handed in is freed with the app, here: left to Python, its last reference was the
            # control thread's job, and it was freed there (a QObject with timers, off the GUI thread).
            self.bridge.setParent(self)
        self.actions = LiveCamActions(self.store, parent=self)
        self.front = make_front(self.actions, prefer_tray=prefer_tray)
        self._window: SettingsWindow | None = None
        self._quitting = False
        # Checks run on worker threads and answer through the relay; after shutdown their answers are
        # dropped.
        relay.on_gui_thread()
        self._checks_lock = threading.Lock()
        self._checks: list[threading.Thread] = []
        self._closed = threading.Event()

        self.store.changed.connect(self.bridge.apply_settings)
        self.bridge.state_changed.connect(self._state_changed)
        self.store.checking_changed.connect(self._checking)
        self.store.unsaved.connect(self._unsaved)
        self.actions.running.toggled.connect(self.bridge.set_running)
        self.actions.settings_requested.connect(self.show_settings)
        self.actions.quit_requested.connect(self.quit)
        self.actions.recapture_requested.connect(self.recapture_neutral)
        self.actions.said.connect(self._say)
        if isinstance(self.front, ControlWindow):
            self.actions.dialog_parent = self.front
        else:
            self.bridge.output_changed.connect(self.front.show_output)
        app = QtWidgets.QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)

    # ------------------------------------------------------------ life
    def start(self) -> None:
        self.front.show()
        self.actions.running.setChecked(True)  # toggled → bridge.start()
        if self._first_start and not isinstance(self.front, ControlWindow):
            # A tray icon alone is easy to miss (some panels fold it away): until LiveCam has been set up
            # (its settings saved once), it opens with the preview and the controls in view.
            self.show_settings()

    def shutdown(self) -> None:
        """Save the settings and release the camera and the virtual camera (idempotent)."""
        with self._checks_lock:
            first = not self._closed.is_set()
            self._closed.set()
        # The windows go first: whatever the release below waits for, the user sees Quit done.
        self.front.hide()
        if self._window is not None:
            self._window.hide()
        self.store.flush()
        self.bridge.shutdown()
        # A file check still running (a photo's private copy being written) may finish, and a choice it
        # passes is saved; one that hangs is left behind on its daemon thread rather than holding LiveCam
        # open (waited for once), its choice not kept, and the log says so.
        if first:
            self.store.settle(CHECKS_AT_EXIT_S)
            self.store.flush()
            # The windows are gone by now (Quit is not held for it): the log, on stderr, is where it is said.
            lost = self.store.lost_at_quit()
            if lost:
                log.error("%s", lost)

    def quit(self) -> None:
        if self._quitting:
            return
        self._quitting = True
        self.shutdown()
        QtWidgets.QApplication.quit()

    # ------------------------------------------------------------ windows
    @property
    def settings_window(self) -> SettingsWindow:
        if self._window is None:
            self._window = SettingsWindow(self.store, self.bridge, self.actions)
            self._window.checks_requested.connect(self.check_devices)
            self.check_devices()
        return self._window

    def recapture_neutral(self) -> None:
        pipeline = self.bridge.pipeline
        if pipeline is not None:
            pipeline.recapture_neutral()

    def show_settings(self) -> None:
        window = self.settings_window
        window.show()
        window.raise_()
        window.activateWindow()

    def check_devices(self) -> None:
        # Camera probing and the CUDA check can take seconds; the answer comes back through the relay.
        # The thread holds the app weakly: holding it, it was the app's last reference when the app was
        # let go of during a check, and the app, its windows and their timers were freed on that thread.
        show, closed = weakref.WeakMethod(self._show_checks), self._closed

        def work() -> None:
            try:
                cameras, lines = run_checks()
            except Exception as exc:  # noqa: BLE001 - a failed check is a line in the window, not a dead thread
                log.exception("The device checks failed")
                cameras, lines = [], [("error", f"The checks could not run ({exc}).")]
            if not closed.is_set():
                relay.answer(show, cameras, lines)

        thread = threading.Thread(target=work, name="livecam-checks", daemon=True)
        with self._checks_lock:
            if self._closed.is_set():
                return
            self._checks = [t for t in self._checks if t.is_alive()] + [thread]
        thread.start()

    def wait_for_checks(self, timeout: float) -> bool:
        """True when no check is still running after at most ``timeout`` seconds (tests, clean exit)."""
        deadline = time.monotonic() + timeout
        for thread in list(self._checks):
            thread.join(max(0.0, deadline - time.monotonic()))
        files_checked = self.store.wait_for_checks(max(0.0, deadline - time.monotonic()))
        return files_checked and not any(t.is_alive() for t in self._checks)

    def _show_checks(self, cameras, lines) -> None:
        if self._window is not None:
            self._window.show_checks(cameras, lines)

    def _checking(self, sentence: str) -> None:
        """The no-tray window's line and the tray icon's tooltip say what is being checked meanwhile."""
        message = sentence or self.bridge.message
        if isinstance(self.front, ControlWindow):
            self.front.set_state(self.front.state, message)
        else:
            self.front.tray.setToolTip(f"LiveCam: {message}")

    def _say(self, sentence: str) -> None:
        """A sentence that is not LiveCam's state (a preset only partly usable), where problems are said."""
        self.front.say(sentence)
        if self._window is not None:
            self._window.show_rejected(sentence)

    def _unsaved(self, sentence: str) -> None:
        """Said once where LiveCam's problems are said; saved again, the state's own line is back."""
        if sentence:
            self.front.say(sentence)
        else:
            self.front.set_state(self.bridge.state, self.bridge.message)

    def _state_changed(self, state: str, message: str) -> None:
        self.actions.set_state(state, message)
        self.front.set_state(state, message)
        if self.store.checking_sentence:
            # A file still being checked stays said (LiveCam switched off meanwhile read as if the pick
            # had been dropped); the state's own line comes back when the check returns.
            self._checking(self.store.checking_sentence)
        QtWidgets.QApplication.setWindowIcon(state_icon(state))
        running = self.bridge.running
        if self.actions.running.isChecked() != running:
            self.actions.running.blockSignals(True)
            self.actions.running.setChecked(running)
            self.actions.running.blockSignals(False)
