"""Round 40: Qt's thread rules in the tray app.

Widgets, pixmaps, icons and the tray icon belong to the GUI thread; a QObject is used, and freed, on the
thread it lives in (its timers stopped there, its children made there); worker threads reach GUI objects
only through queued signals. Broken, each rule is a crash or a freeze that shows only sometimes (a
QObject with a running timer freed on the control thread by the cycle collector segfaulted the process).

The session test drives the real ``LiveCamApp`` headless through what a user does: start, every effect
on and off, the settings window and its preview opened and closed, a background picture and an avatar
photo picked, the camera unplugged and back (a fake ``cv2.VideoCapture``, the OpenCV boundary), quit.
Throughout, a Qt message handler catches Qt's own thread warnings, every Qt object the app made is
watched (alive: it lives on the GUI thread; freed: on the GUI thread), and a worker thread forces
``gc.collect()`` at seeded random moments, so that an object left in a reference cycle is freed there,
where the tray app used to free it before its collector ran on the GUI thread only.
"""
from __future__ import annotations

import gc
import random
import re
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")
from PySide6 import QtCore, QtWidgets  # noqa: E402

from livecam import settings as S  # noqa: E402
from livecam.effects import toggles  # noqa: E402
from livecam.gui import pyside_problem  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
SIZE = 256
STEP_MS = 45_000  # generous: an effect's first build loads its models on a loaded 2-core machine
# Qt's own words when one of its thread rules is broken (qobject.cpp, qbasictimer.cpp, qpixmap.cpp,
# qsocketnotifier.cpp, qwidget.cpp).
THREAD_WARNINGS = re.compile(
    r"another thread|different thread|outside the GUI thread|Timers cannot be (started|stopped)|"
    r"QSocketNotifier|QBasicTimer|Cannot create children|Widgets must be created in the GUI thread",
    re.IGNORECASE)


# ------------------------------------------------------------------ the watch


class QtWatch:
    """Qt's thread warnings, and on which thread each watched Qt object was freed."""

    def __init__(self) -> None:
        self.warnings: list[str] = []
        self.freed_off_gui: list[str] = []
        self.wrong_thread: list[str] = []
        self._watched: set[int] = set()
        self._keep: list = []  # the destroyed-slots, alive as long as the watch
        self._previous = None

    def __enter__(self) -> "QtWatch":
        def handler(mode, context, message) -> None:
            if THREAD_WARNINGS.search(message):
                self.warnings.append(f"{message} (on {threading.current_thread().name})")
            if self._previous is not None:
                self._previous(mode, context, message)

        self._handler = handler
        self._previous = QtCore.qInstallMessageHandler(handler)
        return self

    def __exit__(self, *exc) -> None:
        QtCore.qInstallMessageHandler(self._previous)

    def watch(self, *roots: QtCore.QObject) -> None:
        """Watch ``roots``, everything under them and every widget there is now (each once)."""
        objects: list[QtCore.QObject] = []
        for root in roots:
            objects.append(root)
            objects.extend(root.findChildren(QtCore.QObject))
        objects.extend(QtWidgets.QApplication.allWidgets())
        gui = QtWidgets.QApplication.instance().thread()
        for obj in objects:
            key = id(obj)
            name = f"{type(obj).__name__} {obj.objectName()!r}"
            if obj.thread() is not gui:
                self.wrong_thread.append(name)
            if key in self._watched:
                continue
            self._watched.add(key)

            def freed(_=None, name=name) -> None:
                if threading.current_thread() is not threading.main_thread():
                    self.freed_off_gui.append(f"{name} on {threading.current_thread().name}")

            self._keep.append(freed)
            obj.destroyed.connect(freed, QtCore.Qt.ConnectionType.DirectConnection)

    def assert_clean(self) -> None:
        assert not self.warnings, self.warnings
        assert not self.freed_off_gui, self.freed_off_gui
        assert not self.wrong_thread, self.wrong_thread


class WorkerCollector:
    """``gc.collect()`` on a worker thread at seeded random moments, as a pipeline, control or check
    thread allocating past the collector's threshold runs it."""

    def __init__(self, seed: int, most_s: float = 0.4) -> None:
        self._random = random.Random(seed)
        self._most_s = most_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="worker-gc", daemon=True)
        self.runs = 0

    def _run(self) -> None:
        while not self._stop.wait(self._random.uniform(0.01, self._most_s)):
            gc.collect()
            self.runs += 1

    def __enter__(self) -> "WorkerCollector":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(10)

    @staticmethod
    def once() -> None:
        worker = threading.Thread(target=gc.collect, name="worker-gc-once")
        worker.start()
        worker.join()


# ------------------------------------------------------------------ the camera


class FakeCamera:
    """``cv2.VideoCapture`` for camera indexes: the astronaut, until ``unplugged`` (reads fail, and it
    does not open again) until plugged back. Anything else goes to the real OpenCV."""

    unplugged = threading.Event()
    opened = 0  # cameras opened (the first open, and each reopen after a loss)

    def __init__(self, image: np.ndarray) -> None:
        self._image = image
        self._real = cv2.VideoCapture

    def __call__(self, device, *args):
        if not isinstance(device, int):
            return self._real(device, *args)
        FakeCamera.opened += 1
        return _Capture(self._image)


class _Capture:
    def __init__(self, image: np.ndarray) -> None:
        self._image = image
        self._open = not FakeCamera.unplugged.is_set()

    def isOpened(self) -> bool:
        return self._open

    def set(self, prop, value) -> bool:
        return True

    def read(self):
        time.sleep(1 / 30)
        if FakeCamera.unplugged.is_set() or not self._open:
            return False, None
        return True, self._image.copy()

    def release(self) -> None:
        self._open = False


@pytest.fixture
def camera(monkeypatch, astronaut):
    FakeCamera.unplugged.clear()
    monkeypatch.setattr(cv2, "VideoCapture", FakeCamera(cv2.resize(astronaut, (SIZE, SIZE))))
    yield FakeCamera
    FakeCamera.unplugged.clear()


# ------------------------------------------------------------------ the session


def _settings() -> S.Settings:
    return S.update(S.Settings(), capture={"source": "0", "width": SIZE, "height": SIZE, "fps": 15},
                    output={"kind": "null", "fps": 15}, background={"mode": "off"},
                    runtime={"provider": "cpu", "threads": 1})


def _session(qtbot, watch: QtWatch, app) -> None:
    """What a user does in a session, watched after each step."""
    picture = str(sorted((ROOT / "assets" / "backgrounds").glob("*.jpg"))[0])
    photo = str(FIXTURES / "mpl_grace_hopper.jpg")
    picks: list[str] = []
    app.actions.ask_file = lambda *_: picks.pop(0) if picks else ""

    def settled(what: str) -> None:
        qtbot.waitUntil(lambda: not app.store.checking, timeout=STEP_MS)
        if app.bridge.running:
            qtbot.waitUntil(lambda: app.bridge.state in ("on", "error"), timeout=STEP_MS)
            before = app.bridge.last_frame
            qtbot.waitUntil(lambda: app.bridge.last_frame is not before, timeout=STEP_MS)
        roots = [app, app.front, app.actions.background_menu, app.actions.presets_menu, app.actions.menu]
        watch.watch(*roots, *([app._window] if app._window is not None else []))
        assert not watch.warnings, (what, watch.warnings)

    app.start()
    settled("start")
    for _, toggle in toggles():
        picks[:] = [photo]  # asked for only by an effect that needs a photo
        app.actions.toggles[toggle.key].trigger()
        settled(f"{toggle.key} on")
        app.actions.toggles[toggle.key].trigger()
        settled(f"{toggle.key} off")
    app.show_settings()  # the preview starts
    settled("window open")
    picks[:] = [picture]
    app.actions.choose_background_file()
    settled("background picked")
    picks[:] = [photo]
    app.settings_window.controls._choose_file("avatar.photo")
    settled("photo picked")
    app.actions._fill_background_menu()  # as when the tray's menu opens: thumbnails on their thread
    app.settings_window.close()
    settled("window closed")
    opened = FakeCamera.opened
    FakeCamera.unplugged.set()
    qtbot.waitUntil(lambda: app.bridge.last_frame is not None and app.bridge.last_frame.placeholder,
                    timeout=STEP_MS)
    settled("camera lost")
    FakeCamera.unplugged.clear()
    qtbot.waitUntil(lambda: app.bridge.last_frame is not None and not app.bridge.last_frame.placeholder,
                    timeout=STEP_MS)
    settled("camera back")
    assert FakeCamera.opened > opened  # the camera was opened again, not a frame left over
    app.show_settings()
    settled("window open again")
    app.actions.running.trigger()
    qtbot.waitUntil(lambda: app.bridge.state == "off", timeout=STEP_MS)
    settled("off")
    app.actions.running.trigger()
    settled("on again")
    app.settings_window.checks_requested.emit()  # "Look again": the device checks run while LiveCam quits
    app.quit()


@pytest.mark.parametrize("seed", [40, 41])
@pytest.mark.parametrize("tray", [False, True], ids=["control window", "tray icon"])
def test_a_session_keeps_qt_objects_on_the_gui_thread(qtbot, camera, monkeypatch, tray, seed):
    """The tray app through a user's session with the tray icon or the control window, a worker thread
    collecting at seeded random moments: no thread warning from Qt, every Qt object on the GUI thread,
    and freed there. Before round 40 the app let go of after Quit was freed on the device-check thread."""
    problem = pyside_problem()
    if problem:
        pytest.skip(problem)
    from livecam.gui.app import LiveCamApp

    monkeypatch.setattr(QtWidgets.QSystemTrayIcon, "isSystemTrayAvailable", staticmethod(lambda: tray))
    monkeypatch.setattr(QtWidgets.QApplication, "quit", staticmethod(lambda: None))  # no loop to leave here
    with QtWatch() as watch, WorkerCollector(seed=seed) as collector:
        app = LiveCamApp(_settings(), persist=False, prefer_tray=tray)
        _session(qtbot, watch, app)
        assert collector.runs > 0
        assert len(watch._watched) > 200  # the windows' widgets, the actions, menus, timers
        # The app let go of after Quit is freed where its last reference goes: here, not on a thread that
        # is still checking, nor by the next collection, which may run on any thread.
        threads = list(app._checks)
        del app
        for thread in threads:
            thread.join(60)
        WorkerCollector.once()
        qtbot.wait(100)
    watch.assert_clean()


def test_the_watch_sees_a_qt_object_freed_or_made_off_the_gui_thread(qtbot):
    """self-check: the watch catches each of the three faults it is there for."""
    with QtWatch() as watch:
        freed_there = QtCore.QObject()
        watch.watch(freed_there)
        worker = threading.Thread(target=lambda held=[freed_there]: held.clear(), name="worker")
        del freed_there
        worker.start()
        worker.join()
        made_there: list = []
        worker = threading.Thread(target=lambda: made_there.append(QtCore.QObject()), name="worker")
        worker.start()
        worker.join()
        watch.watch(made_there[0])
        worker = threading.Thread(target=lambda: QtCore.qWarning("QObject::killTimer: Timers cannot be stopped "
                                                                 "from another thread"), name="worker")
        worker.start()
        worker.join()
    assert watch.freed_off_gui == ["QObject '' on worker"]
    assert watch.wrong_thread == ["QObject ''"]
    assert len(watch.warnings) == 1 and "(on worker)" in watch.warnings[0]


# ------------------------------------------------------------------ what the audit found, one at a time


def _picture_settings() -> S.Settings:
    return S.update(S.Settings(), capture={"source": str(FIXTURES / "sk_astronaut.png"), "width": SIZE,
                                           "height": SIZE, "fps": 15}, output={"kind": "null", "fps": 15})


def test_an_app_let_go_of_during_the_device_checks_is_freed_on_the_gui_thread(qtbot, monkeypatch):
    """The settings window's device checks (cameras, the doctor: seconds) ran on a thread that held the
    app; the app let go of meanwhile (quit, a test's end) was freed by that thread's last reference, with
    its windows and timers: "QObject::killTimer: Timers cannot be stopped from another thread"."""
    import livecam.gui.app as app_module

    release = threading.Event()
    monkeypatch.setattr(app_module, "run_checks", lambda: (release.wait(STEP_MS / 1000), ([], []))[1])
    with QtWatch() as watch:
        app = app_module.LiveCamApp(_picture_settings(), persist=False, prefer_tray=False)
        app.start()
        qtbot.waitUntil(lambda: app.bridge.state == "on", timeout=STEP_MS)
        app.show_settings()  # the checks start
        checks = list(app._checks)
        watch.watch(app, app._window)
        app.shutdown()
        del app
        gc.collect()  # any cycle, here
        release.set()
        for thread in checks:
            thread.join(10)
        qtbot.wait(50)
    watch.assert_clean()


@pytest.fixture
def slow_load(monkeypatch):
    """The first pipeline takes a while (the models load, numba compiles on a first start)."""
    import livecam.gui.bridge as bridge_module

    real = bridge_module.Pipeline

    def slow(*args, **kwargs):
        time.sleep(1.0)
        return real(*args, **kwargs)

    monkeypatch.setattr(bridge_module, "Pipeline", slow)


@pytest.mark.parametrize("injected", [False, True], ids=["own bridge", "bridge handed in"])
def test_quit_while_the_models_load_touches_no_deleted_bridge(qtbot, slow_load, injected):
    """Quit while the first pipeline loads returns at once, and the load and the release run on after on
    the control thread. A bridge handed to the app had its last reference there and was freed there; the
    app's own bridge, deleted with the app here, was then sent the release's "off" by a signal of its own
    (a RuntimeError on the control thread at best; the same race as the relay's, at worst)."""
    from livecam.gui.app import LiveCamApp
    from livecam.gui.bridge import LiveBridge

    futures: list = []
    with QtWatch() as watch:
        bridge = LiveBridge(_picture_settings()) if injected else None
        app = LiveCamApp(_picture_settings(), bridge=bridge, persist=False, prefer_tray=False)
        control = app.bridge._control
        submit = control.submit
        control.submit = lambda *a, **k: futures.append(submit(*a, **k)) or futures[-1]
        watch.watch(app, app.bridge)
        app.start()
        qtbot.wait(50)
        app.shutdown()
        del app, bridge
        gc.collect()
        control.shutdown(wait=True)  # the load, then the release
        qtbot.wait(50)
    watch.assert_clean()
    assert futures and all(f.exception() is None for f in futures), [f.exception() for f in futures]


# The app replaced by one that is sent SIGTERM in the middle of one of its slots, and says where Quit ran.
_SIGNAL_IN_A_SLOT_APP = """
import os, signal

class App(StubApp):
    inside = False

    def start(self):
        QtCore.QTimer.singleShot(50, self.busy)

    def busy(self):
        self.inside = True
        os.kill(os.getpid(), signal.SIGTERM)
        sum(range(100_000))  # Python runs the handler between two of these lines
        self.inside = False

    def quit(self):
        print("inside the slot" if self.inside else "from the event loop")
        QtWidgets.QApplication.quit()
"""


def test_a_stop_signal_quits_from_the_event_loop_not_inside_a_slot(tmp_path):
    """SIGTERM (the session ending) or Ctrl+C ran Quit inside whatever slot the GUI thread was running:
    the windows hidden and the camera's release waited for (up to 10 s) in the middle of showing a frame
    or taking a file check's answer."""
    import os

    import livecam
    from processes import run_gui_child

    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "LIVECAM_CONFIG_DIR": str(tmp_path / "config"),
           "PYTHONPATH": str(Path(livecam.__file__).resolve().parents[1])}
    assert run_gui_child(_SIGNAL_IN_A_SLOT_APP, env=env).split("\n")[-2] == "from the event loop"
